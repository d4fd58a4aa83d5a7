"""`shipyard monitor status ENDPOINT` and `shipyard monitor alerts`: stored monitor results, trends and alerts
(local store, or the control plane's API with --server)."""

from __future__ import annotations

from typing import Any

import typer


def _read(ctx: typer.Context, path: str, params: dict[str, Any], local: Any) -> Any:
    from shipyard.cli.context import open_workspace

    ws = open_workspace(ctx)
    transport = getattr(ws, "transport", None)
    if transport is not None:  # --server: the same answer through GET /api/v1/...
        return transport.json("GET", path, params=params)
    from shipyard.monitoring.service import MonitorService

    return local(MonitorService(ws.db, ws.actor, ws.clock))


def _fmt(v: Any) -> str:
    return "" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)


def attach(app: typer.Typer) -> None:
    if any(c.name == "status" for c in app.registered_commands):
        return  # already attached (the CLI is built once per process; tests build it again)
    @app.command("status")
    def status(ctx: typer.Context, endpoint: str = typer.Argument(..., help="Endpoint."),
               limit: int = typer.Option(10, "--limit", help="Results per check in the trend (1..1000)."),
               as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Each check's latest result and its trend on ENDPOINT, and the endpoint's alerts."""
        from urllib.parse import quote

        from rich.markup import escape

        from shipyard.cli.output import out, print_json, table

        d = _read(ctx, f"/endpoints/{quote(endpoint, safe='')}/monitors", {"limit": limit},
                  lambda s: s.status(endpoint, limit))
        if as_json:
            print_json(d)
            return
        if not d["checks"]:
            out(f"{endpoint}: no monitor results yet (monitor: in shipyard.yaml; they run with the rollout "
                "controller in `shipyard server` / `shipyard serve`)")
        for check, c in d["checks"].items():
            latest = c["latest"]
            trend = " ".join(_fmt(h["value"]) or "-" for h in reversed(c["history"]))
            out(f"{check}: {latest['status']} (v{latest['version']}, {latest['rows']} rows, {latest['at']}); "
                f"trend {trend}")
            m = latest["metrics"]
            if check == "performance":
                out(f"  accuracy {_fmt(m.get('accuracy')) or '-'} ({_fmt(m.get('labelled'))} labelled), "
                    f"estimated accuracy {_fmt(m.get('estimated_accuracy')) or '-'}, "
                    f"ROC AUC {_fmt(m.get('roc_auc')) or '-'}, "
                    f"estimated ROC AUC {_fmt(m.get('estimated_roc_auc')) or '-'}, mae {_fmt(m.get('mae')) or '-'}")
            elif check == "drift" and latest["detail"].get("columns"):
                cols = latest["detail"]["columns"]
                out(table(None, ["column", "method", "score", "p-value", "drifted"],
                          [[n, x["method"], _fmt(x["score"]), _fmt(x["p_value"]), x["severity"] if x["drifted"]
                            else ""] for n, x in cols.items()]))
            elif check == "quality" and latest["detail"].get("columns"):
                cols = latest["detail"]["columns"]
                out(table(None, ["column", "null rate", "training", "unseen", "out of range"],
                          [[n, _fmt(x["null_rate"]), _fmt(x["reference_null_rate"]), _fmt(x["unseen_rate"]),
                            _fmt(x["out_of_range_rate"])] for n, x in cols.items()]))
        for a in d["firing"]:
            out(f"FIRING ({a['severity']}) {a['rule']} since {a['fired_at']}: {escape(a['message'])}"
                + "".join(f"; {x['action']} {x['status']}" for x in a["actions"]))

    @app.command("alerts")
    def alerts(ctx: typer.Context, endpoint: str | None = typer.Option(None, "--endpoint", help="Only this one."),
               state: str | None = typer.Option(None, "--state", help="firing | resolved"),
               limit: int = typer.Option(50, "--limit", help="Newest N (1..1000)."),
               as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Alerts, newest first."""
        from shipyard.cli.output import out, print_json, table

        params = {k: v for k, v in {"endpoint": endpoint, "state": state, "limit": limit}.items() if v is not None}
        items = _read(ctx, "/alerts", params, lambda s: s.alerts(endpoint, state, limit))
        if as_json:
            print_json(items)
            return
        out(table(None, ["id", "endpoint", "rule", "severity", "state", "fired", "message", "actions"],
                  [[a["id"], a["endpoint"], a["rule"], a["severity"], a["state"], a["fired_at"], a["message"],
                    ", ".join(f"{x['action']} {x['status']}" for x in a["actions"])] for a in items]))
