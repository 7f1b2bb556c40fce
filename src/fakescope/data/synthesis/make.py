"""Write a synthetic partial-manipulation data set: images, masks and a manifest."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from ...io import ImageLoadError, load_image
from ..manifest import Manifest, Sample, file_sha256
from .aligned import KINDS as ALIGNED_KINDS
from .aligned import aligned, aligned_local
from .local import copy_move, inpaint, realistic, splice
from .sbi import self_blend_faces

#: kinds that need no autoencoder (the default set)
ALL_KINDS = ("sbi", "inpaint", "copy-move", "splice")
#: forgeries shaped like hand-made ones (large regions, content from another source, JPEG after the edit):
#: only when asked for
REALISTIC = "realistic"
KNOWN_KINDS = ALL_KINDS + (REALISTIC,) + ALIGNED_KINDS
#: Every synthetic row carries this source, so reports keep it apart from real edits.
SYNTH_SOURCE = "fakescope-synth"


def synthesize(manifest: Manifest, out: str | Path, n: int, kinds: tuple[str, ...] = ALL_KINDS,
               donors: Manifest | None = None, seed: int = 0, autoencoder=None,
               log: Callable[[str], None] = lambda m: None) -> Manifest:  # fmt: skip
    """Make ``n`` fakes from the real images of ``manifest``.

    Outputs are lossless PNG (the edit is the only change) but for ``realistic`` edits that ask to be
    shared as JPEG (written as JPEG at their quality, see :func:`.local.realistic`); masks are PNG with
    255 = manipulated, and ``out/manifest.csv`` lists them with source
    ``fakescope-synth``: label ``partial`` and generator ``fakescope-<kind>`` for
    local edits; for the aligned kinds (which need ``autoencoder``) generator
    ``fakescope-<kind>-<autoencoder>``, label ``fake`` for a whole re-made image.
    An ``aligned`` counterpart is named after its real image's sha256 and reused
    when it is already in ``out`` (a real image has one counterpart per autoencoder);
    ``autoencoder`` may be a :class:`~.aligned.Deferred` one, built only when a
    counterpart has to be made. Every row links to the real image it was made
    from: column ``pair``, that image's sha256 (training keeps the two together).
    """
    unknown = set(kinds) - set(KNOWN_KINDS)
    if unknown:
        raise ValueError(f"unknown kind(s) {sorted(unknown)}; choose from {KNOWN_KINDS}")
    if set(kinds) & set(ALIGNED_KINDS) and autoencoder is None:
        raise ValueError(f"kinds {sorted(set(kinds) & set(ALIGNED_KINDS))} need an autoencoder (--autoencoder)")
    reals = [s for s in manifest if s.label == "real"]
    if not reals:
        raise ValueError("the manifest has no real images to edit")
    donor_pool = list(donors or manifest)
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows, skipped = [], Counter()
    made_aligned: set[str] = set()
    attempts = 0
    while len(rows) < n and attempts < 20 * n:
        attempts += 1
        base = reals[int(rng.integers(len(reals)))]
        kind = kinds[int(rng.integers(len(kinds)))]
        if kind == "aligned" and base.key in made_aligned:
            skipped["aligned counterpart already made"] += 1
            continue
        try:
            img = load_image(base.file)
            if kind in ALIGNED_KINDS:
                stem = _aligned_stem(base, img, kind, autoencoder, len(rows))
                cached = out / "images" / f"{stem}.png"
                if kind == "aligned" and cached.is_file():
                    made_aligned.add(base.key)
                    rows.append(_row(cached, out, stem, kind, base, img, autoencoder))
                    log(f"{stem}: reused")
                    continue
                edit = aligned(img, autoencoder) if kind == "aligned" else aligned_local(img, autoencoder, rng)
            elif kind == "sbi":
                edit = self_blend_faces(img, rng)
            elif kind == "inpaint":
                edit = inpaint(img, rng)
            elif kind == "copy-move":
                edit = copy_move(img, rng)
            elif kind == REALISTIC:
                donor = _other_camera(donor_pool, base, rng)
                edit = realistic(img, rng, load_image(donor.file) if donor is not None else None)
            else:
                donor = donor_pool[int(rng.integers(len(donor_pool)))]
                edit = splice(img, load_image(donor.file), rng)
        except ImageLoadError as exc:
            skipped[f"unreadable: {exc}"] += 1
            continue
        if edit is None:
            skipped["no face for sbi"] += 1
            continue
        mask = edit.binary_mask
        if kind not in ALIGNED_KINDS:
            stem = f"{len(rows):05d}-{kind}"
        quality = getattr(edit, "params", {}).get("jpeg")
        img_path = out / "images" / f"{stem}.{'jpg' if quality else 'png'}"
        edit.image.save(img_path, **({"quality": quality} if quality else {}))
        Image.fromarray(mask * 255).save(out / "masks" / f"{stem}.png")
        if kind == "aligned":
            made_aligned.add(base.key)
        rows.append(_row(img_path, out, stem, kind, base, img, autoencoder))
        log(f"{stem}: {kind} of {base.path} ({mask.mean():.1%} of the image)")
    for reason, count in skipped.items():
        log(f"skipped {count}: {reason}")
    result = Manifest(rows, root=out, name="synthetic")
    result.write(out / "manifest.csv")
    return result


def _other_camera(pool: list[Sample], base: Sample, rng: np.random.Generator) -> Sample | None:
    """A real image of another source than ``base`` (another camera or collection, as a spliced-in part comes
    from); else any other real image, else any other image; None when ``pool`` holds no other image."""
    for keep in (lambda s: s.label == "real" and s.source != base.source, lambda s: s.label == "real",
                 lambda s: True):  # fmt: skip
        others = [s for s in pool if keep(s) and s.file != base.file]
        if others:
            return others[int(rng.integers(len(others)))]
    return None


def _aligned_stem(base: Sample, img, kind: str, ae, index: int) -> str:
    """``aligned``: named after the real image's content, so it is found again; ``aligned-local``: numbered."""
    name = getattr(ae, "name", "ae")
    if kind == "aligned":
        digest = base.sha256 or file_sha256(base.file)
        return f"{digest[:16]}-aligned-{name}"
    return f"{index:05d}-aligned-local-{name}"


def _row(img_path: Path, out: Path, stem: str, kind: str, base: Sample, img, ae) -> Sample:
    whole = kind == "aligned"
    generator = f"fakescope-{kind}" + (f"-{ae.name}" if kind in ALIGNED_KINDS else "")
    return Sample(
        path=f"images/{img_path.name}", label="fake" if whole else "partial", generator=generator,
        family="autoencoder" if whole else "synthetic", source=SYNTH_SOURCE, license=base.license,
        mask=f"masks/{stem}.png", width=img.width, height=img.height, orig_width=img.width,
        orig_height=img.height, orig_format="JPEG" if img_path.suffix == ".jpg" else "PNG",
        sha256=file_sha256(img_path),
        pair=base.sha256 or file_sha256(base.file),
    )  # fmt: skip
