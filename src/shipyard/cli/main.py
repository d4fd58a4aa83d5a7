"""Entry point: the typer app, global options and the error-to-exit-code boundary."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import typer

from shipyard.cli import data as data_cmd
from shipyard.cli import models as models_cmd
from shipyard.cli import users as users_cmd
from shipyard.cli import workspace as workspace_cmd
from shipyard.cli.context import CliState

app = typer.Typer(
    name="shipyard",
    help="Continuous delivery for machine-learning models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def main(
    ctx: typer.Context,
    workspace: Path = typer.Option(Path("."), "--workspace", "-C", help="Workspace folder (default: here)."),
    server: str | None = typer.Option(None, "--server", envvar="SHIPYARD_SERVER",
                                      help="Control-plane URL; commands then act through its API."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks."),
) -> None:
    ctx.obj = CliState(workspace=workspace, debug=debug, server=server)


workspace_cmd.register(app)
app.add_typer(data_cmd.app, name="data")
app.add_typer(models_cmd.app, name="models")
app.add_typer(users_cmd.app, name="users")

for _extra in ("shipyard.cli.audit", "shipyard.cli.approvals", "shipyard.cli.pipeline", "shipyard.cli.serving",
               "shipyard.cli.server", "shipyard.cli.rollout", "shipyard.cli.monitor", "shipyard.cli.export",
               "shipyard.cli.ci", "shipyard.cli.demo", "shipyard.cli.batch"):
    # Command groups owned by other contexts register themselves when present.
    try:
        __import__(_extra)
    except ModuleNotFoundError as _exc:
        if _exc.name != _extra:
            raise
    else:
        sys.modules[_extra].register(app)


def _click_exception_types() -> tuple[type[BaseException], type[BaseException], type[BaseException]]:
    """Typer vendors its own click; find its Exit/Abort/ClickException through public names."""
    click_exc = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
    return typer.Exit, typer.Abort, click_exc


def run(argv: list[str] | None = None) -> None:
    """Console-script entry point; never lets a user mistake end in a traceback."""
    from shipyard.cli.errors import EXIT_INTERNAL, EXIT_USAGE, exit_code_for
    from shipyard.errors import ShipyardError

    exit_exc, abort_exc, click_exc = _click_exception_types()
    debug = "--debug" in (argv if argv is not None else sys.argv)
    args = sys.argv[1:] if argv is None else argv
    discard_early: Callable[[], None] = lambda: None  # noqa: E731
    if "serve" in args:  # `shipyard serve`: its model process starts now, before typer parses (serving/child_spawn.py)
        from shipyard.serving import child_spawn

        child_spawn.speculate_for_cli(args)
        discard_early = child_spawn.discard_speculated
    try:
        rv = app(args=argv, prog_name="shipyard", standalone_mode=False)
        sys.stdout.flush()  # here, so a reader that went away (`| head`) is seen below, not at exit
    except BrokenPipeError:
        # `shipyard ... | head`: the reader closed the pipe. Die quietly as SIGPIPE would (128 + 13), as
        # other command-line tools do, rather than report an internal error; stdout goes to /dev/null so
        # the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
    except exit_exc as exc:
        sys.exit(getattr(exc, "exit_code", 0))
    except abort_exc:
        sys.exit(130)
    except click_exc as exc:
        exc.show()  # type: ignore[attr-defined]
        sys.exit(EXIT_USAGE)
    except ShipyardError as exc:
        if debug:
            raise
        from shipyard.cli.output import err

        err(f"error: {exc}")
        sys.exit(exit_code_for(exc))
    except SystemExit as exc:
        if type(sys.stdout).__name__ == "PacifyFlushWrapper":  # click's answer to EPIPE: the reader went away
            sys.exit(141)
        # With standalone_mode=False click returns its exit codes instead of raising SystemExit, so this one
        # came from code a command ran (a train function, a model's predict, a plugin): a user mistake.
        if debug:
            raise
        from shipyard.cli.output import err

        err(f"error: code run by this command called sys.exit({exc.code!r}); expected it to return or raise "
            "(rerun with --debug for the traceback)")
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if debug:
            raise
        from shipyard.cli.output import err

        err(f"internal error: {type(exc).__name__}: {exc} (a bug in shipyard; rerun with --debug for the traceback)")
        sys.exit(EXIT_INTERNAL)
    finally:
        discard_early()  # a model process `serve` did not take (it failed first)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    run()
