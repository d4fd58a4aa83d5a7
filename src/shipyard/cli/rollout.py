"""`shipyard rollout status | list | pause | resume | promote | abort` and the hidden `rollout controller`."""

from __future__ import annotations

from typing import Any

import typer

JSON = typer.Option(False, "--json", help="Print JSON.")
REASON = typer.Option("", "--reason", help="Why (kept in the rollout and its audit event).")
rollout_app = typer.Typer(help="Progressive rollouts: status and operator commands.", no_args_is_help=True)


def _num(v: Any) -> str:
    if v is None:
        return "-"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def print_rollout(r: Any, analyses: int = 3) -> None:
    from shipyard.cli.output import out, table

    colour = {"progressing": "cyan", "paused": "yellow", "promoted": "green", "rolled_back": "red",
              "aborted": "red"}.get(r.state, "white")
    weights = ", ".join(f"v{v} {p}%" for v, p in r.weights.items())
    shadow = f"  shadow v{', v'.join(map(str, r.shadow))}" if r.shadow else ""
    out(f"[bold]{r.endpoint}[/] rollout {r.id}: [{colour}]{r.state}[/] {r.strategy} {r.model}:{r.stable} -> "
        f"{r.model}:{r.candidate}  step {r.step}  {weights}{shadow}")
    if r.reason:
        out(f"  reason: {r.reason}")
    for a in r.analyses[-analyses:]:
        rows = [[c["check"], c["role"], c["version"], _num(c["value"]), _num(c.get("threshold")),
                 c["verdict"] + (" (dry run)" if c.get("dry_run") and c["verdict"] != "info" else "")]
                for c in a["checks"]]
        out(table(f"analysis {a['at'][:19]} step {a['step']}: {a['verdict']}",
                  ["check", "role", "version", "value", "threshold", "verdict"], rows))


def register(app: typer.Typer) -> None:
    app.add_typer(rollout_app, name="rollout")

    @rollout_app.command("status")
    def status(ctx: typer.Context, endpoint: str = typer.Argument(..., help="Endpoint."),
               limit: int = typer.Option(20, "--analyses", min=0, max=1000, help="Newest analyses to include."),
               as_json: bool = JSON) -> None:
        """The endpoint's newest rollout: state, weights, step and its analyses (each check per version)."""
        from shipyard.cli.context import open_workspace
        from shipyard.cli.output import print_json

        r = open_workspace(ctx).rollouts.status(endpoint, limit)
        if as_json:
            print_json(r.to_dict())
            return
        print_rollout(r)

    @rollout_app.command("list")
    def list_(ctx: typer.Context, as_json: bool = JSON) -> None:
        """Every rollout, newest first."""
        from shipyard.cli.context import open_workspace
        from shipyard.cli.output import out, print_json, table

        items = open_workspace(ctx).rollouts.list()
        if as_json:
            print_json([r.to_dict() for r in items])
            return
        out(table(None, ["id", "endpoint", "strategy", "state", "stable", "candidate", "step", "weights", "updated"],
                  [[r.id, r.endpoint, r.strategy, r.state, r.stable, r.candidate, r.step,
                    ", ".join(f"v{v} {p}%" for v, p in r.weights.items()), r.updated_at[:19]] for r in items]))

    def _command(ctx: typer.Context, endpoint: str, action: str, reason: str, as_json: bool, full: bool = False
                 ) -> None:
        from shipyard.cli.context import open_workspace
        from shipyard.cli.output import print_json

        r = open_workspace(ctx).rollouts.command(endpoint, action, reason, full)
        if as_json:
            print_json(r.to_dict())
            return
        print_rollout(r, analyses=0)

    @rollout_app.command("pause")
    def pause(ctx: typer.Context, endpoint: str = typer.Argument(...), reason: str = REASON,
              as_json: bool = JSON) -> None:
        """Hold the rollout at its step (analysis still runs; failures still roll back)."""
        _command(ctx, endpoint, "pause", reason, as_json)

    @rollout_app.command("resume")
    def resume(ctx: typer.Context, endpoint: str = typer.Argument(...), reason: str = REASON,
               as_json: bool = JSON) -> None:
        """Let a paused rollout advance on its analyses again."""
        _command(ctx, endpoint, "resume", reason, as_json)

    @rollout_app.command("promote")
    def promote(ctx: typer.Context, endpoint: str = typer.Argument(...), reason: str = REASON,
                full: bool = typer.Option(False, "--full", help="Canary: straight to 100% (default: next step)."),
                as_json: bool = JSON) -> None:
        """Canary: the next step (past a pause_at step); --full, shadow, A/B, blue-green: 100% to the candidate."""
        _command(ctx, endpoint, "promote", reason, as_json, full)

    @rollout_app.command("abort")
    def abort(ctx: typer.Context, endpoint: str = typer.Argument(...), reason: str = REASON,
              as_json: bool = JSON) -> None:
        """End the rollout: all traffic back to the stable version."""
        _command(ctx, endpoint, "abort", reason, as_json)

    @rollout_app.command("controller", hidden=True)
    def controller(ctx: typer.Context,
                   gateway: str | None = typer.Option(None, "--gateway", help="Gateway URL for smoke tests."),
                   tick: float = typer.Option(0.5, "--tick", min=0.05, max=60, help="Seconds between passes."),
                   lag: float | None = typer.Option(None, "--lag", min=0, max=3600,
                                                    help="Seconds metric windows lag behind now (default 2 x "
                                                         "serving.metrics_interval + 0.5, at least 1.5 + "
                                                         "the interval)."),
                   lease_ttl: float = typer.Option(10.0, "--lease-ttl", min=0.5, max=3600,
                                                   help="SQLite: seconds a dead leader's lease outlives it.")
                   ) -> None:
        """Run the rollout controller in the foreground (one leader among all that run)."""
        import signal
        import threading

        from shipyard.cli.context import open_workspace
        from shipyard.core.permissions import Permission, authorize
        from shipyard.rollout.controller import for_workspace

        ws = open_workspace(ctx, local_only="drives rollouts in this workspace's store")
        authorize(ws.actor, Permission.DEPLOY)
        from shipyard.rollout.lease import Lease

        c = for_workspace(ws, gateway_url=gateway, tick_s=tick, notifier=ws.notifier)
        c.lease = Lease(ws.db, ws.clock, ttl_s=lease_ttl)
        if lag is not None:
            c.lag_s = lag
        done = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        c.start()
        try:
            while not done.wait(0.2):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            c.stop()
            ws.close()
