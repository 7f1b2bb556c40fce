"""`fakescope manifest import|validate`."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import err, fail

app = typer.Typer(help="Create and check dataset manifests.", no_args_is_help=True)


@app.command("import")
def import_command(
    folder: Path = typer.Argument(..., help="A 0_real/ 1_fake/ folder tree."),
    out: Path = typer.Option(..., "--out", "-o", help="Manifest to write (.csv or .jsonl)."),
    source: str = typer.Option("", help="Value of the source column (default: the folder name)."),
):
    """Import a `0_real/` / `1_fake/` folder tree into a manifest."""
    from ..data.manifest import ManifestError, import_folder_tree

    try:
        m = import_folder_tree(folder, source=source)
    except ManifestError as exc:
        raise fail(str(exc)) from None
    m.write(out)
    err.print(f"wrote {len(m)} rows to {out} ({dict(m.counts('label'))})", highlight=False)


@app.command("validate")
def validate_command(manifest: Path = typer.Argument(..., help="Manifest (.csv or .jsonl).")):
    """Check a manifest: columns, labels, files present, masks the size of their images."""
    from ..data.manifest import Manifest, ManifestError

    try:
        m = Manifest.read(manifest)
    except ManifestError as exc:
        raise fail(str(exc), 1) from None
    problems = m.validate()
    for p in problems[:50]:
        err.print(f"{manifest}: {p}", highlight=False)
    if len(problems) > 50:
        err.print(f"... and {len(problems) - 50} more", highlight=False)
    if problems:
        raise typer.Exit(1)
    err.print(f"{manifest}: {len(m)} rows, no problems ({dict(m.counts('label'))})", highlight=False)
