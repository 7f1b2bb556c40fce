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
def validate_command(
    manifest: Path = typer.Argument(..., help="Manifest (.csv or .jsonl)."),
    allow_outside: bool = typer.Option(False, "--allow-outside", help="Accept image and mask paths outside the "
                                       "manifest's folder (absolute, or through ..)."),  # fmt: skip
):
    """Check a manifest: columns, labels, paths inside its folder, files present, masks the size of their images."""
    from ..data.manifest import Manifest, ManifestError

    try:
        m = Manifest.read(manifest)
    except ManifestError as exc:
        raise fail(str(exc), 1) from None
    problems = m.validate(allow_outside=allow_outside)
    for p in problems[:50]:
        err.print(f"{manifest}: {p}", highlight=False)
    if len(problems) > 50:
        err.print(f"... and {len(problems) - 50} more", highlight=False)
    if problems:
        raise typer.Exit(1)
    err.print(f"{manifest}: {len(m)} rows, no problems ({dict(m.counts('label'))})", highlight=False)


features_app = typer.Typer(help="Move cached features between machines (e.g. pixel crops to a GPU machine).",
                           no_args_is_help=True)  # fmt: skip


@features_app.command("export")
def features_export(
    manifest: Path = typer.Argument(..., help="Manifest whose images' features to export."),
    out: Path = typer.Option(..., "--out", "-o", help="The .npz file to write."),
    extractor: str = typer.Option("crop128", help="Extractor name (crop128, clip, dct, ...)."),
    view: str = typer.Option("matched256q90", help="View: clean, aug<i> or matched<size>q<quality>."),
):
    """Write cached features to one file (uint8 crops as lossless WebP)."""
    from ..data.manifest import Manifest
    from ..extraction import export_features, extract

    m = Manifest.read(manifest)
    extract(m, [extractor], view=view)  # fills whatever is not cached yet
    n = export_features(m, extractor, view, out)
    err.print(f"wrote {n} items to {out} ({out.stat().st_size / 2**20:.1f} MB)", highlight=False)


@features_app.command("import")
def features_import(path: Path = typer.Argument(..., help="A file written by `fakescope features export`.")):
    """Load exported features into this machine's feature cache."""
    from ..extraction import import_features

    err.print(f"imported {import_features(path)} items from {path}", highlight=False)
