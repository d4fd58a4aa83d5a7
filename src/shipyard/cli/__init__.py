"""The ``shipyard`` command line (typer + rich). Commands are thin: parse, call a service, render."""
