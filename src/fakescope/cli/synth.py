"""`fakescope synth`: partial fakes with exact masks from real images."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import err, fail, log


def synth_command(
    manifest: Path = typer.Argument(..., help="Manifest whose real images are edited."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for images/, masks/ and manifest.csv."),
    n: int = typer.Option(100, "-n", min=1, help="How many edited images to make."),
    kinds: str = typer.Option("sbi,inpaint,copy-move,splice", help="Comma-separated: sbi, inpaint, copy-move, "
                              "splice, aligned, aligned-local."),
    donors: Path = typer.Option(None, help="Manifest of images to splice from (default: the input manifest)."),
    seed: int = typer.Option(0, help="Random seed; the same seed gives the same data set."),
    autoencoder: str = typer.Option(None, help="For the kinds aligned and aligned-local: taef2, or one of our own "
                                    "autoencoders, ae-transposed, ae-nearest, ae-pixelshuffle or ae-bilinear "
                                    "(optionally -l<latent channels>), trained first on the manifest's real images."),
    autoencoder_weights: Path = typer.Option(None, help="Folder of the TAEF2 weights (taef2_encoder.pth, "
                                             "taef2_decoder.pth), e.g. ../shared/weights/taef2."),
):
    """Make self-blended faces, inpainted, copy-moved and spliced images, and aligned counterparts (the whole
    image or a region re-made by an autoencoder), each with its mask."""
    from ..data.manifest import Manifest, ManifestError
    from ..data.synthesis.make import synthesize

    kind_list = tuple(k.strip() for k in kinds.split(","))
    try:
        m = Manifest.read(manifest)
        d = Manifest.read(donors) if donors else None
        ae = _autoencoder(autoencoder, autoencoder_weights, m) if autoencoder else None
        result = synthesize(m, out, n, kind_list, donors=d, seed=seed, autoencoder=ae, log=log)
    except (ManifestError, ValueError, FileNotFoundError, ImportError) as exc:
        raise fail(str(exc)) from None
    err.print(f"wrote {len(result)} images with masks and {out / 'manifest.csv'} ({dict(result.counts('generator'))})",
              highlight=False, markup=False)  # fmt: skip


def _autoencoder(spec: str, weights: Path | None, manifest):
    """The autoencoder named on the command line, built when a counterpart is first made (a rerun that
    reuses every counterpart builds none); our own are trained on (up to 200 of) the real images."""
    try:
        from ..data.synthesis.autoencoders import autoencoder_from_spec, spec_name
    except ImportError:
        raise ImportError("the aligned kinds need PyTorch: pip install 'fakescope[torch]'") from None
    from ..data.synthesis.aligned import Deferred
    from ..io import ImageLoadError, load_image

    def build():
        reals = []
        if spec != "taef2":
            for s in [s for s in manifest if s.label == "real"][:200]:
                try:
                    reals.append(load_image(s.file))
                except ImageLoadError:
                    continue
        return autoencoder_from_spec(spec, weights, reals, log=log)

    return Deferred(spec_name(spec), build)
