"""`shipyard serve`, `shipyard deploy` and `shipyard endpoints list | show | route`."""

from __future__ import annotations

from typing import Any

import typer

JSON = typer.Option(False, "--json", help="Print JSON.")
endpoints_app = typer.Typer(help="Endpoints and their routing tables.", no_args_is_help=True)


def _print_endpoint(ep: Any) -> None:
    from shipyard.cli.output import out, table

    r = ep.routing
    out(f"[bold]{ep.name}[/]  model {ep.model}  generation {ep.generation}"
        + (f"  sticky header {r.get('sticky_header')}" if r.get("sticky_header") else ""))
    rows = [[f"{ep.model}:{x['version']}", f"{x['weight']}%", "answers"] for x in r.get("routes", [])]
    rows += [[f"{ep.model}:{v}", "-", "shadow (mirrored, never returned)"] for v in r.get("shadow", [])]
    out(table(None, ["version", "weight", "role"], rows))


def _parse_set(items: list[str]) -> list[dict[str, int]]:
    from shipyard.errors import InvalidInputError

    routes = []
    for s in items:
        v, sep, w = s.partition("=")
        if not sep or not v.strip().isdigit() or not w.strip().lstrip("-").isdigit():
            raise InvalidInputError(field="--set", value=s, expected="VERSION=WEIGHT, e.g. --set 3=90")
        routes.append({"version": int(v), "weight": int(w)})
    return routes


def register(app: typer.Typer) -> None:
    app.add_typer(endpoints_app, name="endpoints")

    @app.command("deploy")
    def deploy(
        ctx: typer.Context,
        ref: str = typer.Argument(..., help="Model version: NAME:VERSION, NAME@ALIAS or NAME (latest)."),
        endpoint: str | None = typer.Option(None, "--endpoint", help="Endpoint name (default: the model's name)."),
        weight: int | None = typer.Option(None, "--weight", help="Route this percent by hand (the rest stays on "
                                                                 "the current version); no rollout."),
        strategy: str | None = typer.Option(None, "--strategy", metavar="canary|bluegreen|shadow|ab",
                                            help="Rollout strategy (default: deploy.strategy in shipyard.yaml)."),
        as_json: bool = JSON,
    ) -> None:
        """Deploy a version: a new endpoint serves it at 100%; on an endpoint that serves another version it
        starts a rollout (`shipyard rollout status`). Audited; needs the deploy permission."""
        from shipyard.cli.context import open_workspace
        from shipyard.cli.output import out, print_json

        res = open_workspace(ctx).rollouts.deploy(ref, endpoint, weight, strategy)
        if as_json:
            print_json(res.to_dict())
            return
        ep = res.endpoint
        if res.rollout is not None:
            from shipyard.cli.rollout import print_rollout

            out(f"[green]rollout started[/] {ref} on endpoint {ep.name} (generation {ep.generation})")
            print_rollout(res.rollout, analyses=0)
            return
        out(f"[green]deployed[/] {ref} to endpoint {ep.name} (generation {ep.generation})"
            + (f": {res.note}" if res.note else ""))
        _print_endpoint(ep)

    @app.command("serve")
    def serve(
        ctx: typer.Context,
        host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
        port: int = typer.Option(8080, "--port", min=1, max=65535),
        workers: int = typer.Option(1, "--workers", min=1, max=64, help="Worker processes (share routing "
                                                                         "through the store)."),
        predict_threads: int | None = typer.Option(None, "--predict-threads", min=0, max=64,
                                                   help="Prediction threads per worker (default min(2, CPUs); "
                                                        "0 predicts on the event loop)."),
        predict_in: str | None = typer.Option(None, "--predict-in", metavar="process|thread",
                                              help="Where models predict: a child process per worker (default; "
                                                   "no GIL shared with HTTP) or a thread pool."),
        log_level: str = typer.Option("info", "--log-level", help="debug | info | warning | error"),
        grpc_port: int | None = typer.Option(None, "--grpc-port", min=1, max=65535,
                                             help="Also serve OIP v2 over gRPC (KServe's GRPCInferenceService) "
                                                  "on this port; needs the `grpc` extra."),
        controller: bool = typer.Option(True, "--controller/--no-controller",
                                        help="Also drive rollouts here (one leader among all that run), so a "
                                             "laptop needs one process."),
    ) -> None:
        """Run the inference gateway (OIP v2 + /v1 predict) for every endpoint of the workspace, and the rollout
        controller unless --no-controller."""
        from shipyard.cli.context import open_workspace
        from shipyard.core.permissions import Permission, authorize
        from shipyard.errors import InvalidInputError

        if predict_in not in (None, "process", "thread"):
            raise InvalidInputError(field="--predict-in", value=predict_in, expected="process | thread")
        if grpc_port is not None:
            _check_grpc(grpc_port, port)
        # The model process first: it imports its flavor's libraries while this process opens the workspace and
        # imports the gateway (serving/child_spawn.py, issue 19); the CLI's entry point may have started it
        # already. Each of --workers N starts its own.
        from shipyard.serving import child_spawn

        early = child_spawn.take_speculated()
        if early is None and workers <= 1:
            early = child_spawn.speculate(predict_threads, predict_in)
        loop = None
        try:
            ws = open_workspace(ctx, local_only="serves the endpoints of this workspace's store")
            authorize(ws.actor, Permission.READ)
            if workers <= 1:
                early = child_spawn.settle(early, ws, predict_threads, predict_in)
            if controller:
                from shipyard.rollout.controller import for_workspace

                url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
                loop = for_workspace(ws, gateway_url=url, notifier=ws.notifier)
                loop.start()
            from shipyard.serving.server import serve as run

            run(ws, host, port, workers=workers, predict_threads=predict_threads, log_level=log_level,
                predict_in=predict_in, grpc_port=grpc_port, prestarted=early)
        finally:
            if loop is not None:
                loop.stop()
            if early is not None:
                early.close()  # unless the gateway adopted it (and stopped it): start-up failed before

    @endpoints_app.command("list")
    def list_(ctx: typer.Context, as_json: bool = JSON) -> None:
        """List endpoints with their routing."""
        from shipyard.cli.context import open_workspace
        from shipyard.cli.output import out, print_json, table

        items = open_workspace(ctx).endpoints.list()
        if as_json:
            print_json([e.to_dict() for e in items])
            return
        out(table(None, ["endpoint", "model", "routes", "shadow", "generation", "updated"],
                  [[e.name, e.model, ", ".join(f"{r['version']}={r['weight']}%" for r in e.routing["routes"]),
                    ", ".join(map(str, e.routing.get("shadow") or [])), e.generation, e.updated_at] for e in items]))

    @endpoints_app.command("show")
    def show(ctx: typer.Context, name: str = typer.Argument(...), as_json: bool = JSON) -> None:
        """Show one endpoint's routing table."""
        from shipyard.cli.context import open_workspace
        from shipyard.cli.output import print_json

        ep = open_workspace(ctx).endpoints.get(name)
        if as_json:
            print_json(ep.to_dict())
            return
        _print_endpoint(ep)

    @endpoints_app.command("log")
    def log_(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="Endpoint."),
        since: str = typer.Option("24h", "--since", help="ISO date/time, or 30m, 24h, 7d ago; 'all' for the whole "
                                                        "log (default 24h)."),
        limit: int = typer.Option(10, "--limit", min=0, max=1000, help="Newest rows to list."),
        as_json: bool = JSON,
    ) -> None:
        """What the gateways logged (flushed every few seconds), per version, joined with feedback: requests,
        latency, labelled rows, accuracy (labels) or MAE (values); then the newest rows."""
        from shipyard.cli.context import open_workspace
        from shipyard.cli.output import out, print_json, table

        view = open_workspace(ctx).endpoints.prediction_log(name, None if since == "all" else since, limit)
        if as_json:
            print_json(view.to_dict())
            return
        for path in view.skipped_files:
            out(f"[yellow]skipped[/] {path}: not a readable prediction-log Parquet file")
        if view.feedback_unmatched:
            out(f"[yellow]feedback[/]: {view.feedback_unmatched} of {view.feedback} label(s) match no logged row "
                f"{'since ' + view.since if view.since else 'in the log'} (the request was not sampled, is older, "
                "or its id was never served)")
        if not view.rows:
            out(f"{name}: nothing logged{' since ' + view.since if view.since else ''} yet "
                "(gateways flush the log every few seconds; serving.log_sample_rate sets the share logged)")
            return

        def num(v: Any, spec: str) -> str:
            return "-" if v is None else format(v, spec)

        out(f"[bold]{name}[/]: {view.rows} row(s) from {view.requests} request(s)"
            + (f" since {view.since}" if view.since else ""))
        out(table("per version", ["version", "requests", "rows", "p50 ms", "p99 ms", "labelled", "accuracy", "MAE",
                                  "first", "last"],
                  [[v["version"], v["requests"], v["rows"], num(v["latency_p50_ms"], ".2f"),
                    num(v["latency_p99_ms"], ".2f"), v["labelled"], num(v["accuracy"], ".1%"), num(v["mae"], ".4g"),
                    v["first"][:19], v["last"][:19]] for v in view.versions]))
        if view.recent:
            out(table(f"newest {len(view.recent)}", ["time", "request", "version", "row", "prediction", "label",
                                                     "ms"],
                      [[r["time"][:23], r["request_id"], r["version"], r["row"], r["prediction"],
                        "-" if r["label"] is None else r["label"], f"{r['latency_ms']:.2f}"] for r in view.recent]))

    @endpoints_app.command("route")
    def route(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="Endpoint."),
        set_: list[str] = typer.Option([], "--set", help="VERSION=WEIGHT (repeatable; weights sum to 100)."),
        shadow: list[int] = typer.Option([], "--shadow", help="Version receiving a mirrored copy (repeatable)."),
        sticky_header: str | None = typer.Option(None, "--sticky-header", help="Header whose value pins a "
                                                                               "client to a version."),
        as_json: bool = JSON,
    ) -> None:
        """Replace an endpoint's routing table, e.g. --set 3=90 --set 4=10 --shadow 5 --sticky-header x-user."""
        from shipyard.cli.context import open_workspace
        from shipyard.cli.output import out, print_json
        from shipyard.errors import InvalidInputError

        if not set_:
            raise InvalidInputError(field="--set", value=None, expected="at least one VERSION=WEIGHT")
        raw = {"routes": _parse_set(set_), "shadow": list(shadow), "sticky_header": sticky_header}
        ep = open_workspace(ctx).endpoints.set_routing(name, raw)
        if as_json:
            print_json(ep.to_dict())
            return
        out(f"[green]routing updated[/] {ep.name} (generation {ep.generation})")
        _print_endpoint(ep)


def _check_grpc(grpc_port: int, port: int) -> None:
    """--grpc-port needs its own port and the `grpc` extra (grpcio, protobuf)."""
    import importlib.util

    from shipyard.errors import InvalidInputError

    if grpc_port == port:
        raise InvalidInputError(field="--grpc-port", value=grpc_port, expected=f"a port other than --port {port}")
    try:
        missing = importlib.util.find_spec("grpc") is None or importlib.util.find_spec("google.protobuf") is None
    except ModuleNotFoundError:
        missing = True
    if missing:
        raise InvalidInputError("--grpc-port: grpcio is not installed; expected `pip install 'shipyard[grpc]'`",
                                field="--grpc-port", value=grpc_port, expected="the grpc extra installed")
