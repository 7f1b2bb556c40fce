"""`fakescope synth`: partial fakes with exact masks from real images."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import err, fail, log


def synth_command(
    manifest: Path = typer.Argument(..., help="Manifest whose real images are edited."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for images/, masks/ and manifest.csv."),
    n: int = typer.Option(100, "-n", min=1, help="How many edited images to make."),
    kinds: str = typer.Option("sbi,inpaint,copy-move,splice", help="Comma-separated: sbi, inpaint, copy-move, splice."),
    donors: Path = typer.Option(None, help="Manifest of images to splice from (default: the input manifest)."),
    seed: int = typer.Option(0, help="Random seed; the same seed gives the same data set."),
):
    """Make self-blended faces, inpainted, copy-moved and spliced images, each with its mask."""
    from ..data.manifest import Manifest, ManifestError
    from ..data.synthesis.make import synthesize

    try:
        m = Manifest.read(manifest)
        d = Manifest.read(donors) if donors else None
        result = synthesize(m, out, n, tuple(k.strip() for k in kinds.split(",")), donors=d, seed=seed, log=log)
    except (ManifestError, ValueError) as exc:
        raise fail(str(exc)) from None
    err.print(f"wrote {len(result)} images with masks and {out / 'manifest.csv'} ({dict(result.counts('generator'))})",
              highlight=False, markup=False)  # fmt: skip
