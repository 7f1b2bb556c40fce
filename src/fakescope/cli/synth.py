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
                              "splice, realistic (large regions, content from another source's photo, JPEG after the edit), "
                              "aligned, aligned-local."),
    donors: Path = typer.Option(None, help="Manifest of images to splice from (default: the input manifest)."),
    seed: int = typer.Option(0, help="Random seed; the same seed gives the same data set."),
    autoencoder: str = typer.Option(None, help="For the kinds aligned and aligned-local: taef2, or one of our own "
                                    "autoencoders, ae-transposed, ae-nearest, ae-pixelshuffle or ae-bilinear "
                                    "(optionally -l<latent channels>): the full-size ones shipped with fakescope "
                                    "(l8; also ae-nearest-l4, ae-bilinear-l16), others trained first on the "
                                    "manifest's real images."),
    autoencoder_weights: Path = typer.Option(None, help="Folder of the TAEF2 weights (taef2_encoder.pth, "
                                             "taef2_decoder.pth), e.g. ../shared/weights/taef2; for our own "
                                             "autoencoders, the file `fakescope autoencoder train` wrote (or its "
                                             "folder) instead of training one here."),
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
    reuses every counterpart builds none); our own are the shipped full-size ones, or (for settings with no
    shipped file) trained on (up to 200 of) the real images."""
    try:
        from ..data.synthesis.autoencoders import SHIPPED, autoencoder_from_spec, spec_name
    except ImportError:
        raise ImportError("the aligned kinds need PyTorch: pip install 'fakescope[torch]'") from None
    from ..data.synthesis.aligned import Deferred
    from ..io import ImageLoadError, load_image

    def build():
        reals = []
        if spec != "taef2" and not weights and not (SHIPPED / f"{spec_name(spec)}.pt").is_file():
            for s in [s for s in manifest if s.label == "real"][:200]:
                try:
                    reals.append(load_image(s.file))
                except ImageLoadError:
                    continue
        return autoencoder_from_spec(spec, weights, reals, log=log)

    return Deferred(spec_name(spec), build)


autoencoder_app = typer.Typer(help="Our own autoencoders, trained on real images only (aligned counterparts).",
                              no_args_is_help=True)  # fmt: skip


@autoencoder_app.command("train")
def autoencoder_train_command(
    manifest: Path = typer.Argument(..., help="Manifest whose real images the autoencoder learns from."),
    spec: str = typer.Option(..., "--spec", help="ae-<transposed|nearest|pixelshuffle|bilinear>[-l<latent>]."),
    out: Path = typer.Option(..., "--out", "-o", help="The .pt file to write (or a folder: <name>.pt in it)."),
    full: bool = typer.Option(False, help="The full size (wider, larger crops, longer; for a GPU) instead of the "
                              "reduced size that trains in a few CPU minutes."),  # fmt: skip
    set_: list[str] = typer.Option(None, "--set", help="KEY=VALUE of the autoencoder's settings (width, latent, "
                                   "crop, batch, epochs, lr, seed), over the chosen size."),  # fmt: skip
    check: int = typer.Option(16, help="Real images kept out of training to report the round trip's PSNR."),
):
    """Train one of our own autoencoders on a manifest's real images and save it; `fakescope synth
    --autoencoder SPEC --autoencoder-weights FILE` then makes counterparts with it."""
    import dataclasses
    import time

    from ..data.manifest import Manifest, ManifestError
    from ..io import ImageLoadError, load_image

    try:
        from ..data.synthesis.autoencoders import (FULL_SIZE, _own_config, psnr, save_own_autoencoder,
                                                   spec_name, train_own_autoencoder)  # fmt: skip
        from ..train.loop import describe_device, device
    except ImportError:
        raise fail("training an autoencoder needs PyTorch: pip install 'fakescope[torch]'") from None
    try:
        cfg = _own_config(spec)
        fields = {f.name: f.type for f in dataclasses.fields(cfg)}
        given = dict(FULL_SIZE) if full else {}
        for item in set_ or []:
            key, _, value = item.partition("=")
            if key not in fields or key == "upsampler":
                raise ValueError(f"unknown autoencoder setting {key!r}; known: "
                                 f"{', '.join(k for k in fields if k != 'upsampler')}")  # fmt: skip
            given[key] = float(value) if key == "lr" else int(value)
        cfg = dataclasses.replace(cfg, **given)
        m = Manifest.read(manifest)
    except (ManifestError, ValueError) as exc:
        raise fail(str(exc)) from None
    images, skipped = [], 0
    for s in (s for s in m if s.label == "real"):
        try:
            images.append(load_image(s.file))
        except ImageLoadError as exc:
            skipped += 1
            err.print(f"skipped: {exc}", highlight=False, markup=False)
    if len(images) <= check:
        raise fail(f"{manifest}: {len(images)} readable real images; need more than --check {check}")
    held, train = images[:check], images[check:]
    t0 = time.time()
    ae = train_own_autoencoder(train, cfg, log=log)
    seconds = time.time() - t0
    ae = ae.cpu()
    quality = psnr(ae, held)
    target = out / f"{spec_name(spec)}.pt" if out.is_dir() or not out.suffix else out
    save_own_autoencoder(ae, cfg, target, {"manifest": str(manifest), "reals": len(train), "skipped": skipped,
                                           "psnr_db_held_out": round(quality, 2), "seconds": round(seconds),
                                           "device": describe_device(device())})  # fmt: skip
    err.print(f"wrote {target}: {ae.name}, trained on {len(train)} real images in {seconds:.0f}s; round trip "
              f"PSNR {quality:.1f} dB on {len(held)} held-out images", highlight=False, markup=False)  # fmt: skip
