"""Write a synthetic partial-manipulation data set: images, masks and a manifest."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from ...io import ImageLoadError, load_image
from ..manifest import Manifest, Sample
from .local import copy_move, inpaint, splice
from .sbi import self_blend_faces

ALL_KINDS = ("sbi", "inpaint", "copy-move", "splice")
#: Every synthetic row carries this source, so reports keep it apart from real edits.
SYNTH_SOURCE = "fakescope-synth"


def synthesize(manifest: Manifest, out: str | Path, n: int, kinds: tuple[str, ...] = ALL_KINDS,
               donors: Manifest | None = None, seed: int = 0,
               log: Callable[[str], None] = lambda m: None) -> Manifest:  # fmt: skip
    """Make ``n`` partial fakes from the real images of ``manifest``.

    Outputs are lossless PNG (the edit is the only change), masks are PNG with
    255 = manipulated, and ``out/manifest.csv`` lists them with label
    ``partial``, generator ``fakescope-<kind>`` and source ``fakescope-synth``.
    """
    unknown = set(kinds) - set(ALL_KINDS)
    if unknown:
        raise ValueError(f"unknown kind(s) {sorted(unknown)}; choose from {ALL_KINDS}")
    reals = [s for s in manifest if s.label == "real"]
    if not reals:
        raise ValueError("the manifest has no real images to edit")
    donor_pool = list(donors or manifest)
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows, skipped = [], Counter()
    attempts = 0
    while len(rows) < n and attempts < 20 * n:
        attempts += 1
        base = reals[int(rng.integers(len(reals)))]
        kind = kinds[int(rng.integers(len(kinds)))]
        try:
            img = load_image(base.file)
            if kind == "sbi":
                edit = self_blend_faces(img, rng)
            elif kind == "inpaint":
                edit = inpaint(img, rng)
            elif kind == "copy-move":
                edit = copy_move(img, rng)
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
        stem = f"{len(rows):05d}-{kind}"
        img_path, mask_path = out / "images" / f"{stem}.png", out / "masks" / f"{stem}.png"
        edit.image.save(img_path)
        Image.fromarray(mask * 255).save(mask_path)
        rows.append(Sample(
            path=f"images/{stem}.png", label="partial", generator=f"fakescope-{kind}", family="synthetic",
            source=SYNTH_SOURCE, license=base.license, mask=f"masks/{stem}.png", width=img.width,
            height=img.height, orig_width=img.width, orig_height=img.height, orig_format="PNG",
            sha256=hashlib.sha256(img_path.read_bytes()).hexdigest(),
        ))  # fmt: skip
        log(f"{stem}: {kind} of {base.path} ({mask.mean():.1%} of the image)")
    for reason, count in skipped.items():
        log(f"skipped {count}: {reason}")
    result = Manifest(rows, root=out, name="synthetic")
    result.write(out / "manifest.csv")
    return result
