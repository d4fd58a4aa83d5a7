"""`shipyard demo`: the whole loop on the bundled credit example (src/shipyard/demo/)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        directory: Path = typer.Option(Path(".demo"), "--dir", help="Throwaway workspace (replaced)."),
        wait: bool = typer.Option(True, "--wait/--no-wait", help="Keep the servers running until Ctrl-C."),
    ) -> None:
        """Tell the whole story: v1 deployed, v2 promoted by canary, v3 rejected by its gates, v4 rolled back
        live, drift -> alert -> retrain. Exit 1 if a beat did not happen."""
        from shipyard.demo.beats import tell

        raise typer.Exit(tell(directory.resolve(), wait))
