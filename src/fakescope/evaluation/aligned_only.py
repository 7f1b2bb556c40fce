"""The aligned-only protocol: a detector trained without any collected generated image, on real images and
their aligned counterparts alone, then tested on every generator of the data.

A fixed set of real images is chosen from the manifest (spread over the real sources in proportion to
their size, in a seeded hash order); each is centre-cropped to ``side`` px at native resolution (no
resampling) and sent through each autoencoder (TAEF2 and/or our own, trained on those crops only), which
makes its counterpart: same content and framing, pixels re-made by a decoder. Training sees the crops and
their counterparts, linked as pairs (same augmentation draw, same fold). The test set is every other
image of the manifest: all collected fakes (and, reported apart, the partial edits) against the real
images that no counterpart was made from.

The crops and counterparts are made once and cached (``$FAKESCOPE_HOME/benchmark-synth/aligned-...``,
one folder per autoencoder); a rerun reuses them, building no autoencoder.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..data.manifest import Manifest, Sample, file_sha256
from ..data.perturb import Matched
from ..io import ImageLoadError, load_image
from ..registry import create
from .protocols import Predictions
from .shortcut import ShortcutModel, metadata


#: TAEF2 and our own autoencoders with the four decoder upsamplers
DEFAULT_AUTOENCODERS = ("taef2", "ae-transposed", "ae-nearest", "ae-pixelshuffle", "ae-bilinear")
#: the autoencoders of the pairs added to collected fakes (a pair of every real image: each autoencoder costs
#: a round trip of about 1,000 images, 10-30 min on 2 CPU cores, and their features): TAEF2 and nearest + conv,
#: the upsampler of latent-diffusion decoders
PAIRS_AUTOENCODERS = ("taef2", "ae-nearest")


@dataclass(frozen=True)
class AlignedSetup:
    """What the aligned-only training data is made of."""

    n_reals: int | None = 240  # real images counterparts are made from (and left out of the test set); None: all
    side: int = 256  # crop side: a TAEF2 round trip of a 256 px image takes about 1 s on 2 CPU cores
    # one counterpart of each real per autoencoder; our own are the full-size ones shipped in
    # ``fakescope/trained/autoencoders`` (trained on real crops only; see its README)
    autoencoders: tuple[str, ...] = DEFAULT_AUTOENCODERS
    seed: int = 0


def choose_reals(manifest: Manifest, n: int, side: int, seed: int = 0) -> list[Sample]:
    """``n`` real images with both sides at least ``side`` px, each real source contributing in proportion
    to its size (at least one), in an order fixed by ``seed`` and the images' keys."""
    pool: dict[str, list[Sample]] = {}
    for s in manifest:
        if s.label == "real" and _size_ok(s, side):
            pool.setdefault(s.source, []).append(s)
    total = sum(len(v) for v in pool.values())
    if not total:
        raise ValueError(f"no real image has both sides of at least {side} px")

    def order(s: Sample) -> str:
        return hashlib.sha256(f"{seed}/{s.key}".encode()).hexdigest()

    chosen: list[Sample] = []
    for src in sorted(pool):
        members = sorted(pool[src], key=order)
        chosen += members[: max(1, round(n * len(members) / total))]
    return sorted(chosen, key=order)[:n]


def _size_ok(s: Sample, side: int) -> bool:
    if s.width and s.height:
        return min(s.width, s.height) >= side
    try:
        return min(load_image(s.file).size) >= side
    except ImageLoadError:
        return False


def build_training_set(manifest: Manifest, work: Path, setup: AlignedSetup, taef2: Path | None = None,
                       log: Callable[[str], None] = print) -> tuple[Manifest, list[Sample]]:  # fmt: skip
    """The crops of the chosen real images and their counterparts (linked by ``pair``), made or reused
    under ``work``; returns ``(training manifest, the chosen real images of manifest)``."""
    from ..data.synthesis.aligned import Deferred
    from ..data.synthesis.autoencoders import SHIPPED, autoencoder_from_spec, spec_name
    from ..data.synthesis.make import synthesize

    # Counterparts are made for every real image large enough (one pool per data set, side and seed), and
    # the setup's share of them is used: setups with more or fewer reals share the work.
    pool = choose_reals(manifest, len(manifest), setup.side, setup.seed)
    digest = hashlib.sha256("\n".join(sorted(s.key for s in pool)).encode()).hexdigest()[:10]
    folder = work / f"aligned-pool-s{setup.side}-seed{setup.seed}-{digest}"
    crops = _crops(pool, folder / "reals", setup.side, log)
    chosen = choose_reals(manifest, setup.n_reals, setup.side, setup.seed) if setup.n_reals else pool
    chosen_keys = {s.key for s in chosen}
    # one row per distinct crop (two files of the data set can share their centre crop)
    distinct = {c.sha256: c for s, c in zip(pool, crops) if s.key in chosen_keys}
    crops = Manifest(list(distinct.values()), root=crops.root, name=crops.name)
    keep = set(distinct)
    parts = [crops]
    for spec in setup.autoencoders:
        name = spec_name(spec)
        shipped = SHIPPED / f"{name}.pt"
        # counterparts of our own autoencoders are kept per weights file (a retrained one makes new ones)
        out = folder / (f"{name}-{file_sha256(shipped)[:8]}" if spec != "taef2" and shipped.is_file() else name)
        if (out / "manifest.csv").is_file():  # made before, perhaps for more crops: the chosen ones' rows
            made = Manifest.read(out / "manifest.csv").subset(lambda s: s.pair in keep)
            if {s.pair for s in made} == keep:
                parts.append(made)
                continue

        def build(spec=spec):
            if spec == "taef2":
                folder_ = taef2 or os.environ.get("FAKESCOPE_TAEF2")
                if not folder_ or not Path(folder_).is_dir():
                    raise FileNotFoundError("the aligned-only protocol needs the TAEF2 weights folder "
                                            f"(--autoencoder-weights, or FAKESCOPE_TAEF2); not found: {folder_}")
                return autoencoder_from_spec(spec, folder_)
            if shipped.is_file():
                return autoencoder_from_spec(spec)
            return autoencoder_from_spec(spec, reals=[load_image(s.file) for s in crops], log=log)

        t0 = time.time()
        log(f"aligned-only: {name} counterparts of {len(crops)} real crops into {out}")
        before = list(Manifest.read(out / "manifest.csv")) if (out / "manifest.csv").is_file() else []
        made = synthesize(crops, out, len(crops), kinds=("aligned",), seed=setup.seed,
                          autoencoder=Deferred(name, build))  # fmt: skip
        # the folder's list keeps the counterparts made for other setups too (synthesize lists only these)
        rows = {s.path: s for s in [*before, *made]}
        Manifest(list(rows.values()), root=out).write(out / "manifest.csv")
        log(f"aligned-only: {len(made)} {name} counterparts ready ({time.time() - t0:.0f}s)")
        parts.append(made)
    train = Manifest([s for m in parts for s in m], root=folder, name="aligned-only-train")
    return train, chosen


def _crops(chosen: list[Sample], out: Path, side: int, log) -> Manifest:
    """Centre ``side`` x ``side`` crops of ``chosen`` at native resolution, lossless PNG, as real images of
    their sources (``crop`` says where; ``orig_*`` is the file they came from)."""
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for s in chosen:
        path = out / f"{(s.sha256 or file_sha256(s.file))[:16]}.png"
        img = None if path.is_file() and s.width and s.height else load_image(s.file)
        w, h = img.size if img is not None else (s.width, s.height)
        left, top = (w - side) // 2, (h - side) // 2
        if not path.is_file():
            img.crop((left, top, left + side, top + side)).save(path)
        rows.append(Sample(path=f"reals/{path.name}", label="real", source=s.source, license=s.license,
                           width=side, height=side, orig_width=w, orig_height=h,
                           orig_format=s.orig_format or "", crop=f"{side}x{side}+{left}+{top}",
                           sha256=file_sha256(path)))  # fmt: skip
    return Manifest(rows, root=out.parent, name="aligned-reals")


def held_out_set(manifest: Manifest, chosen: list[Sample]) -> Manifest:
    """Every image of ``manifest`` except the real images counterparts were made from."""
    used = {s.key for s in chosen}
    return manifest.subset(lambda s: s.key not in used, name=f"{manifest.name}-aligned-test")


def fidelity(train: Manifest) -> dict[str, float]:
    """Mean PSNR (dB) of each autoencoder's counterparts against their real crops: how much of the content a
    round trip keeps (an autoencoder that blurs or shifts colours makes pairs that differ by more than
    generation traces)."""
    reals = {s.sha256: s for s in train if s.label == "real"}
    psnr: dict[str, list[float]] = {}
    for s in train:
        if s.is_fake and s.pair in reals:
            a = np.asarray(load_image(s.file), dtype=np.float64)
            b = np.asarray(load_image(reals[s.pair].file), dtype=np.float64)
            mse = max(((a - b) ** 2).mean(), 1e-10)
            psnr.setdefault(s.generator, []).append(10 * np.log10(255.0**2 / mse))
    return {g: round(float(np.mean(v)), 1) for g, v in sorted(psnr.items())}


def describe(train: Manifest, setup: AlignedSetup) -> dict:
    """The training data in a few numbers, for the benchmark's table."""
    fakes = [s for s in train if s.label == "fake"]
    return {"autoencoders": sorted(Counter(s.generator for s in fakes)), "pairs": len(fakes),
            "reals": sum(s.label == "real" for s in train), "side": setup.side,
            "real_sources": dict(sorted(Counter(s.source for s in train if s.label == "real").items())),
            "psnr_db": fidelity(train), "setup": asdict(setup)}  # fmt: skip


def aligned_only(detector: str, manifest: Manifest, work: Path, setup: AlignedSetup = AlignedSetup(),
                 matched: Matched | None = None, taef2: Path | None = None,
                 log: Callable[[str], None] = lambda m: None, **config) -> Predictions:  # fmt: skip
    """Train ``detector`` once on the aligned pairs, score every other image of ``manifest``."""
    t0 = time.time()
    train, chosen = build_training_set(manifest, work, setup, taef2, log)
    test = held_out_set(manifest, chosen)
    view = matched.tag if matched else "clean"
    det = create(detector, **config).fit(train, matched=view if matched else None, log=log)
    X, ok = det.features_of(test, view)
    p = np.full(len(test), np.nan)
    p[ok] = det.proba_from_features(X[ok])
    setup_info = describe(train, setup)
    extra: dict = {"setup": setup_info}
    if hasattr(det, "conformal_"):
        rel = det.reliability(X[ok], p[ok])
        sets, far = [None] * len(test), [None] * len(test)
        for i, r in zip(np.flatnonzero(ok), rel):
            sets[i], far[i] = list(r["verdict_set"]), r["far"]
        extra |= {"verdict_sets": sets, "far": far}
    log(f"{detector}: aligned-only trained on {len(train)} images, scored {int(ok.sum())}")
    return Predictions(test, p, detector, protocol_name(setup_info, matched), 1, time.time() - t0, extra)


def aligned_only_audit(manifest: Manifest, work: Path, setup: AlignedSetup = AlignedSetup(),
                       matched: Matched | None = None, taef2: Path | None = None) -> Predictions:  # fmt: skip
    """The shortcut audit (file properties only) trained on the same aligned pairs, scored on the same test set."""
    t0 = time.time()
    train, chosen = build_training_set(manifest, work, setup, taef2, log=lambda m: None)
    test = held_out_set(manifest, chosen)
    view = matched.tag if matched else "clean"
    Xtr, Xte = metadata(train, view), metadata(test, view)
    ytr = np.array([s.is_fake for s in train], dtype=int)
    keep = ~np.isnan(Xtr).any(axis=1)
    model = ShortcutModel().fit(Xtr[keep], ytr[keep])
    p = np.full(len(test), np.nan)
    ok = ~np.isnan(Xte).any(axis=1)
    p[ok] = model.predict_proba(Xte[ok])
    setup_info = describe(train, setup)
    return Predictions(test, p, "shortcut-audit [aligned]", protocol_name(setup_info, matched), 1,
                       time.time() - t0, {"setup": setup_info})  # fmt: skip


def protocol_name(d: dict, matched: Matched | None) -> str:
    """The protocol's line for reports, from :func:`describe`'s numbers."""
    name = (f"aligned-only: trained on {d['reals']} real {d['side']} px crops and {d['pairs']} aligned "
            f"counterparts ({', '.join(d['autoencoders'])}), no collected fake; tested on every other image")
    return name + (f", matched processing ({matched.size} px, JPEG q{matched.quality})" if matched else "")
