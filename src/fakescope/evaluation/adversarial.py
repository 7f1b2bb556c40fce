"""Adversarial evaluation: how far deliberate changes to a generated image push detectors to "real".

The protocol (``fakescope adversarial``; results in ``docs/BENCHMARKS.md``, "Adversarial evaluation"):

1. **Split by source.** A seeded third of the sources is held out (a draw that would take more than half
   of the images of the sources holding both classes is drawn again); the victims train on the other
   sources, every image matched-processed (centre 256 px, JPEG q90, :class:`~fakescope.data.perturb.Matched`),
   so every attacked image is 256 x 256.
2. **Victims**, trained on the training side as the benchmark trains them under matched processing
   (registered detectors; a network with its CPU ``reduced`` settings when no GPU is present) and
   ``default``: the shipped default's recipe (its card's settings, aligned pairs of the training
   side's real images added, as the default was trained).
3. **Surrogates** are victims we can differentiate: a CLIP linear probe (the default's linear member
   ``univfd``, or ``univfd`` itself), through the CLIP ViT-B/16 rebuilt in PyTorch from the shipped
   INT8 ONNX file (:func:`~fakescope.features.clip_torch.onnx_encoder`) and a differentiable copy of its
   preprocessing (:func:`clip_input`); ``dct-linear``, its luma, DCT and pooled log spectrum rewritten in
   PyTorch; and pixel networks (``meso4``) directly. The attacks push the surrogate's calibrated log-odds
   down.
4. **Sample**: a seeded sample of the held-out *generated* images that the first surrogate calls fake
   (p >= 0.5 on its matched view, with the shipped encoder), spread over the held-out sources in turn.
5. **Attacks** on the 256 px images in [0, 1] (:mod:`.attacks`): FGSM and PGD under L-inf budgets, PGD
   under L2 budgets, and a perceptual budget: per image, the PGD iterate (of any L-inf run) with the
   lowest surrogate score whose SSIM to the original is at least ``min_ssim``. Without gradients: a
   round trip through aligned autoencoders and Gaussian noise followed by JPEG.
6. **Scoring**: every attacked image is written as 8-bit PNG, and every victim scores the file through its
   normal feature pipeline (the CLIP victims with the shipped ONNX encoder, not the PyTorch copy the
   attack differentiated). Per victim and attack: recall (p >= 0.5) on the attacked fakes and delta-R,
   the drop from the same fakes unattacked; per attack: mean SSIM and PSNR, and the surrogate's own
   recall on the written files.
7. **Defence**: adversarial training. PGD-attacked *training* fakes (attacked against the undefended
   target's surrogate, L-inf budgets in turn) join the target's training data as fakes, entering as they
   were written (their features are those of the PNG files, not re-encoded); the defended detector is
   attacked afresh (white box on its own surrogate) and scores every other attack too.

Sizes: ``full`` when a CUDA device is present, ``reduced`` (fewer images and steps) on a CPU; the
result says which.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from ..data.manifest import Manifest, Sample, file_sha256
from ..data.perturb import Matched

MATCHED = Matched(256, 90)
#: the victims of the benchmark run; ``default`` is the shipped default's recipe
VICTIMS = ("univfd", "univfd-nn", "fusion", "dct-linear", "default")


def all_victims() -> tuple[str, ...]:
    """``--victims all``: :data:`VICTIMS` (the shipped default's recipe among them), then every other registered
    detector (``ensemble`` aside: the default is one)."""
    from ..registry import list_detectors

    return (*VICTIMS, *(n for n in list_detectors() if n not in VICTIMS and n != "ensemble"))


def main_victims(results: dict) -> list[str]:
    """The victims of the wide table and the plot: those of :data:`VICTIMS`, the surrogates and the defended
    model (every victim has a row in the transfer summary)."""
    keep = {*VICTIMS, *results["surrogates"], *([results["defence"]["name"]] if results.get("defence") else [])}
    return [v for v in results["victims"] if v in keep]
SECTION = "## Adversarial evaluation"
#: the line of docs/BENCHMARKS.md below which the sections written by other commands are kept
MARKER = "<!-- measured by the scripts under benchmarks/"
COMMAND = "fakescope adversarial --manifest ../shared/data/manifest.csv"


@dataclass(frozen=True)
class AdversarialConfig:
    """What one run attacks, and how hard. ``size`` names the preset it came from."""

    size: str = "reduced"
    n_fakes: int = 8  # held-out generated images attacked
    steps: int = 2  # PGD steps
    linf: tuple[float, ...] = (2 / 255, 4 / 255, 8 / 255)
    l2: tuple[float, ...] = (1.0, 3.0)  # on the [0, 1] scale of a 256 x 256 x 3 image
    min_ssim: float = 0.95
    free: tuple[str, ...] = ("ae-nearest", "taef2", "noise2-jpeg90", "noise8-jpeg75")
    adv_train: int = 24  # training fakes attacked for adversarial training (0: no defence)
    adv_steps: int = 2
    held_share: float = 1 / 3
    seed: int = 0
    batch: int = 4

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]


PRESETS = {
    "reduced": AdversarialConfig(),
    "full": AdversarialConfig(size="full", n_fakes=256, steps=10, adv_train=768, adv_steps=5, batch=32),
}

#: gradient-free attacks: name -> (kind, settings)
FREE = {
    "ae-nearest": ("reencode", "ae-nearest"),
    "taef2": ("reencode", "taef2"),
    "noise2-jpeg90": ("noise-jpeg", (2 / 255, 90)),
    "noise8-jpeg75": ("noise-jpeg", (8 / 255, 75)),
}


FREE_TEXT = {
    "ae-nearest": ("a round trip through our shipped ae-nearest autoencoder (one of the two the default's aligned "
                   "pairs are made with)"),
    "taef2": "a round trip through TAEF2, the tiny autoencoder of FLUX.2's latent space (the other)",
    "noise2-jpeg90": "Gaussian noise (sigma 2/255) then JPEG q90",
    "noise8-jpeg75": "Gaussian noise (sigma 8/255) then JPEG q75",
}


def config_for(size: str, cuda: bool, **overrides) -> AdversarialConfig:
    """The preset for ``size`` ("full", "reduced", or "auto": full on a CUDA device, else reduced), with
    ``overrides`` (fields left ``None`` keep the preset's value)."""
    if size == "auto":
        size = "full" if cuda else "reduced"
    if size not in PRESETS:
        raise ValueError(f"size must be auto, {', '.join(PRESETS)}; got {size!r}")
    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = set(FREE).union(given.get("free", ())) - set(FREE)
    if unknown:
        raise ValueError(f"unknown gradient-free attack(s) {sorted(unknown)}; known: {', '.join(FREE)}")
    return replace(PRESETS[size], **given)


# ----------------------------------------------------------------------------- differentiable views


def clip_input(x):
    """CLIP's view of images ``(B, 3, H, W)`` in [0, 1], differentiably: the shorter side to 224 px with
    Pillow's bicubic filter (its fixed-point coefficients, without the rounding to 8 bits between and after
    its passes), the centre square, CLIP's mean and standard deviation. Images with a side under 1344 px
    (the shipped view box-reduces larger ones first)."""
    import torch

    from ..features.views import CLIP_MEAN, CLIP_STD, cover_size
    from ..features.views_torch import PRECISION_BITS, _coeffs

    size = 224
    _, _, h, w = x.shape
    cw, ch = cover_size(w, h, size)
    if (cw, ch) != (w, h):
        kx = torch.as_tensor(_coeffs(w, cw, 0.0, float(w)) / (1 << PRECISION_BITS), dtype=x.dtype, device=x.device)
        ky = torch.as_tensor(_coeffs(h, ch, 0.0, float(h)) / (1 << PRECISION_BITS), dtype=x.dtype, device=x.device)
        x = torch.einsum("oh,bchw,pw->bcop", ky, x, kx)
    left, top = (cw - size) // 2, (ch - size) // 2
    x = x[..., top : top + size, left : left + size]
    mean = torch.as_tensor(CLIP_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.as_tensor(CLIP_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


class _Lazy:
    """The CLIP encoder in PyTorch, built once and shared by every CLIP surrogate."""

    encoder = None

    @classmethod
    def clip(cls, device):
        if cls.encoder is None:
            from ..features.clip_torch import onnx_encoder

            enc = onnx_encoder().to(device)
            for p in enc.parameters():
                p.requires_grad_(False)
            cls.encoder = enc
        return cls.encoder


def attacked_model(detector):
    """The part of a victim its surrogate differentiates: the detector itself, or an ensemble's first CLIP
    linear-probe member."""
    from ..detectors.ensemble import Ensemble
    from ..detectors.heads import LinearHead

    if not isinstance(detector, Ensemble):
        return detector
    member = next((m for m in detector.members if m.extractors == ("clip",) and isinstance(m.head_, LinearHead)),
                  None)  # fmt: skip
    if member is None:
        raise ValueError(f"{detector.name}: no CLIP linear-probe member to attack")
    return member


def surrogate_of(detector, device):
    """The differentiable surrogate of a fitted victim: a callable from images ``(B, 3, H, W)`` in [0, 1] to
    the calibrated log-odds of "generated", and what it is (a line for the report).

    A CLIP linear probe (``univfd``, or the first such member of an ensemble) runs through the PyTorch copy
    of the CLIP encoder; a pixel network (``meso4`` and its kin) through its own network on the centre crop.

    Raises:
        ValueError: the victim has no differentiable part we can attack.
    """
    import torch

    from ..detectors.heads import LinearHead

    target = attacked_model(detector)
    cal = target.calibrator_
    a, b = float(cal.a_), float(cal.b_)
    if target.extractors == ("clip",) and isinstance(target.head_, LinearHead):
        head = target.head_
        enc = _Lazy.clip(device)
        mu, sd, coef = (torch.as_tensor(np.asarray(v, np.float32), device=device) for v in (head.mu_, head.sd_,
                                                                                            head.coef_))  # fmt: skip
        intercept = float(head.intercept_)

        def clip_model(x):
            e = enc(clip_input(x))
            return a * ((((e - mu) / sd) @ coef) + intercept) + b

        what = (f"{target.name}'s linear probe" + (f" (member of {detector.name})" if target is not detector else "")
                + " on the PyTorch CLIP ViT-B/16 dequantised from the shipped INT8 ONNX")  # fmt: skip
        clip_model.expensive = True  # a ViT forward per image: scores of FGSM images are not re-measured
        return clip_model, what
    if target.extractors == ("dct",) and isinstance(target.head_, LinearHead) and hasattr(target, "cells"):
        from ..features.dct import DCT_SIZE

        head = target.head_
        mu, sd, coef = (torch.as_tensor(np.asarray(v, np.float32), device=device) for v in (head.mu_, head.sd_,
                                                                                            head.coef_))  # fmt: skip
        intercept, cells = float(head.intercept_), int(target.cells)
        n = DCT_SIZE
        k = np.arange(n)
        basis = np.sqrt(2.0 / n) * np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * n))
        basis[0] /= np.sqrt(2.0)
        dct = torch.as_tensor(basis, dtype=torch.float32, device=device)  # orthonormal DCT-II, (n, n)
        luma = torch.as_tensor([0.299, 0.587, 0.114], dtype=torch.float32, device=device).view(1, 3, 1, 1)

        def dct_model(x):
            _, _, h, w = x.shape
            if min(h, w) < n:
                raise ValueError(f"images under {n} px: the spectrum's view would upscale them")
            top, left = (h - n) // 2, (w - n) // 2
            y = (x[..., top : top + n, left : left + n] * luma).sum(dim=1) * 255.0  # (B, n, n) luma, 0..255
            spec = torch.log((dct @ y @ dct.T).abs() + 1e-6)
            blk = n // cells
            pooled = spec.reshape(len(x), cells, blk, cells, blk).mean(dim=(2, 4)).reshape(len(x), -1)
            return a * ((((pooled - mu) / sd) @ coef) + intercept) + b

        return dct_model, (f"{target.name}'s linear head on the log-DCT spectrum of the centre {n} px luma crop "
                           "(luma and spectrum in PyTorch, without Pillow's rounding to 8 bits)")  # fmt: skip
    if target.extractors == ("crop128",) and hasattr(target.head_, "network"):
        from ..detectors.backbones import IMAGENET_MEAN, IMAGENET_STD
        from ..features.extract import PIXEL_SIZE

        head = target.head_
        net = head.network()
        dev = next(net.parameters()).device
        for p in net.parameters():
            p.requires_grad_(False)
        imagenet = head.family.normalise == "imagenet"
        mean = torch.as_tensor(IMAGENET_MEAN, dtype=torch.float32, device=dev).view(1, 3, 1, 1)
        std = torch.as_tensor(IMAGENET_STD, dtype=torch.float32, device=dev).view(1, 3, 1, 1)

        def net_model(x):
            _, _, h, w = x.shape
            if min(h, w) < PIXEL_SIZE:
                raise ValueError(f"images under {PIXEL_SIZE} px: the network's view would upscale them")
            top, left = (h - PIXEL_SIZE) // 2, (w - PIXEL_SIZE) // 2
            crop = x[..., top : top + PIXEL_SIZE, left : left + PIXEL_SIZE].to(dev)
            if imagenet:
                crop = (crop - mean) / std
            return (a * net(crop).float() + b).to(x.device)

        return net_model, f"{target.name}'s network on the centre {PIXEL_SIZE} px crop (attacks change only that crop)"
    raise ValueError(f"{detector.name}: no differentiable surrogate for extractors {target.extractors}")


def batched(model, images: np.ndarray, batch: int, device, fn):
    """``fn(model, x)`` over uint8 images (B, H, W, 3) in batches; the per-batch results concatenated."""
    from .attacks import to_tensor

    out = []
    for start in range(0, len(images), batch):
        out.append(fn(model, to_tensor(images[start : start + batch], device)))
    return out


def scores_of(model, images: np.ndarray, batch: int, device) -> np.ndarray:
    """The surrogate's log-odds of uint8 images (no gradients)."""
    import torch

    def run(m, x):
        with torch.no_grad():
            return m(x).detach().cpu().numpy().astype(np.float64)

    parts = batched(model, images, batch, device, run)
    return np.concatenate(parts) if parts else np.zeros(0)


# ----------------------------------------------------------------------------- data


def source_split(manifest: Manifest, share: float, seed: int) -> tuple[Manifest, Manifest, list[str]]:
    """``(training side, held-out side, held-out sources)``: a seeded ``share`` of the sources held out.

    Draws are repeated (with the same generator) until the held-out side holds generated images and the
    training side keeps at least half of the images of the paired sources (those with both real and generated
    images): the paired recipe, which most victims and the default train with, learns from those only, and a
    split that takes the largest of them away leaves it almost nothing to learn from.
    """
    from ..train.recipe import paired_sources

    whole = manifest.subset(lambda s: s.label != "partial")
    paired = paired_sources(whole)
    n_paired = sum(s.source in paired for s in whole)
    sources = sorted({s.source or "(none)" for s in manifest})
    k = min(len(sources) - 1, max(1, round(len(sources) * share)))
    rng = np.random.default_rng(seed)
    for _ in range(1000):
        held = sorted(str(s) for s in rng.permutation(sources)[:k])
        train = manifest.subset(lambda s: (s.source or "(none)") not in held)
        test = manifest.subset(lambda s: (s.source or "(none)") in held)
        kept = sum(s.source in paired and s.source not in held for s in whole)
        if any(s.label == "fake" for s in test) and paired_sources(whole.subset(
                lambda s: (s.source or "(none)") not in held)) and 2 * kept >= n_paired:  # fmt: skip
            return train, test, held
    raise ValueError("no split of the sources leaves generated images out and a paired source in")


def spread_sample(samples: list[Sample], n: int, seed: int) -> list[int]:
    """Indices of up to ``n`` of ``samples``: each source's in a seeded order, the sources taken in turn."""
    by_source: dict[str, list[int]] = {}
    for i, s in enumerate(samples):
        by_source.setdefault(s.source or "(none)", []).append(i)
    for idx in by_source.values():
        idx.sort(key=lambda i: hashlib.sha256(f"{seed}/{samples[i].key}".encode()).hexdigest())
    chosen, round_ = [], 0
    while len(chosen) < n and any(round_ < len(v) for v in by_source.values()):
        for src in sorted(by_source):
            if round_ < len(by_source[src]) and len(chosen) < n:
                chosen.append(by_source[src][round_])
        round_ += 1
    return chosen


def matched_pixels(samples: list[Sample]) -> np.ndarray:
    """uint8 (N, 256, 256, 3): each image's matched-processing view (what the victims train on)."""
    from ..io import load_image

    return np.stack([np.asarray(MATCHED(load_image(s.file)), dtype=np.uint8) for s in samples])


class AsWritten:
    """A feature cache through which the listed images are read as written, whatever the view asked for:
    the adversarial training images enter training as the PNG files the attack wrote (as the attacked test
    images are scored), not re-encoded by matched processing. Their ``clean`` features must be in the cache
    first; storing one under another view is refused."""

    def __init__(self, base, keys: set[str]):
        self.base, self.keys = base, set(keys)

    def _map(self, key: str) -> str:
        sample, _, rest = key.partition("|")
        view, sep, tail = rest.partition("|")
        return f"{sample}|clean{sep}{tail}" if sample in self.keys and view != "clean" else key

    def get_many(self, extractor: str, keys: list[str]) -> dict:
        mapped = [self._map(k) for k in keys]
        found = self.base.get_many(extractor, mapped)
        return {k: found[m] for k, m in zip(keys, mapped) if m in found}

    def put_many(self, extractor: str, items: dict) -> None:
        if any(self._map(k) != k for k in items):
            raise RuntimeError("features of an image read as written were asked for under another view; "
                               "extract its clean features first")  # fmt: skip
        self.base.put_many(extractor, items)


def write_set(folder: Path, images: np.ndarray, like: list[Sample], note: str) -> Manifest:
    """The images as lossless PNG files in ``folder``, with a manifest (label, source and generator of
    the image each was made from; ``note`` appended to the generator)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (img, s) in enumerate(zip(images, like)):
        path = folder / f"{i:04d}.png"
        Image.fromarray(img).save(path, format="PNG")
        rows.append(Sample(path=path.name, label=s.label, generator=f"{s.generator} {note}".strip(), family=s.family,
                           source=s.source, width=img.shape[1], height=img.shape[0], orig_format="PNG",
                           sha256=file_sha256(path)))  # fmt: skip
    m = Manifest(rows, root=folder, name=folder.name)
    m.write(folder / "manifest.csv")
    return m


def read_set(folder: Path) -> tuple[Manifest, np.ndarray] | None:
    """A set written by :func:`write_set` (and its meta.json, written last), or None."""
    from ..io import load_image

    if not (folder / "meta.json").is_file():
        return None
    m = Manifest.read(folder / "manifest.csv")
    return m, np.stack([np.asarray(load_image(s.file), dtype=np.uint8) for s in m])


# ----------------------------------------------------------------------------- victims


def default_recipe() -> dict:
    """The shipped default detector's settings (its card's ``init``) and family."""
    from ..models import TRAINED_DIR
    from ..saved import read

    saved = read(TRAINED_DIR / "default", kind="detector")
    return {"family": saved.name, "init": dict(saved.init)}


def fit_victim(name: str, train: Manifest, pairs: Manifest | None, cuda: bool, cache, log,
               extra: Manifest | None = None):  # fmt: skip
    """A victim trained on ``train`` under matched processing. ``default``: the shipped default's recipe, with
    ``pairs`` added; a network family takes its CPU ``reduced`` settings when there is no CUDA device.
    ``extra``: more training images (the adversarial training fakes)."""
    from ..registry import create, entry

    if name == "default":
        recipe = default_recipe()
        det = create(recipe["family"], **recipe["init"])
        data = [*train, *(pairs or [])]
    else:
        reduced = {} if cuda else entry(name).reduced  # a network's CPU settings, as the benchmark's
        det = create(name, **({"head_params": reduced} if reduced else {}))
        data = list(train)
    data += list(extra or [])
    det.fit(Manifest(data, root=train.root, name=train.name), matched=MATCHED.tag, log=log, cache=cache)
    return det


def kept_victim(folder: Path, fit: Callable, log, reused: list | None = None):
    """The victim saved in ``folder`` by an earlier run of the same split (its name then added to
    ``reused``), else ``fit()`` saved there."""
    from ..detectors.base import load

    if (folder / "card.json").is_file():
        log(f"adversarial: reusing the victim trained in {folder}")
        if reused is not None:
            reused.append(folder.name.removeprefix("victim-"))
        return load(folder)
    det = fit()
    det.save(folder)
    return det


def aligned_pairs(manifest: Manifest, held: list[str], taef2: Path | None, log) -> Manifest:
    """The default's aligned pairs (a 256 px crop of every real image large enough and its counterparts
    through TAEF2 and ae-nearest, made once and cached as the benchmark makes them), less those whose real
    image belongs to a held-out source."""
    from .. import weights
    from .benchmark.run import aligned_setup
    from .aligned_only import build_training_set
    from .protocols import pair_groups

    pairs, _ = build_training_set(manifest, weights.home() / "benchmark-synth", aligned_setup(False, all_reals=True),
                                  taef2, log)  # fmt: skip
    groups = pair_groups(pairs, "source")
    return Manifest([s for s, g in zip(pairs, groups) if g not in set(held)], root=pairs.root, name="pairs")


def probabilities(det, m: Manifest, view: str, cache) -> np.ndarray:
    """The victim's p_fake of every image of ``m`` under ``view`` (NaN where unreadable)."""
    X, ok = det.features_of(m, view, cache=cache)
    p = np.full(len(m), np.nan)
    if ok.any():
        p[ok] = det.proba_from_features(X[ok])
    return p


# ----------------------------------------------------------------------------- the run


@dataclass
class AttackSet:
    """One attacked version of the sample."""

    name: str
    attack: str  # fgsm, pgd, ssim, reencode, noise-jpeg, none
    surrogate: str | None
    norm: str | None
    budget: str
    images: np.ndarray = field(repr=False)
    surrogate_scores: np.ndarray | None = field(default=None, repr=False)
    seconds: float = 0.0
    path: Path | None = None  # the folder its files were written to


def _budget(norm: str, eps: float) -> str:
    return f"{eps * 255:g}/255" if norm == "linf" else f"{eps:g}"


def gradient_sets(tag: str, model, x0: np.ndarray, cfg: AdversarialConfig, device, log) -> list[AttackSet]:
    """FGSM and PGD (L-inf and L2) of the sample against one surrogate, and the SSIM-budget choice among the
    iterates of its L-inf PGD runs; each set's images as 8-bit pixels, with the surrogate's scores of
    them (not for FGSM on an ``expensive`` surrogate, the CLIP ones: a forward pass per image and budget that a
    CPU run cannot spare)."""
    from .attacks import best_within_ssim, fgsm, pgd, to_tensor, to_uint8

    out = []
    t0 = time.time()
    fg = [[] for _ in cfg.linf]
    for start in range(0, len(x0), cfg.batch):
        xb = x0[start : start + cfg.batch]
        for k, adv in enumerate(fgsm(model, to_tensor(xb, device), list(cfg.linf))):
            fg[k].append(to_uint8(xb, adv, "linf", cfg.linf[k]))
    per = (time.time() - t0) / len(cfg.linf)
    expensive = getattr(model, "expensive", False)
    for eps, imgs in zip(cfg.linf, fg):
        imgs = np.concatenate(imgs)
        out.append(AttackSet(f"{tag}/fgsm-linf-{eps * 255:g}", "fgsm", tag, "linf", _budget("linf", eps), imgs,
                             None if expensive else scores_of(model, imgs, cfg.batch, device), per))  # fmt: skip
    log(f"adversarial: {tag} FGSM done ({time.time() - t0:.0f}s)")
    # every L-inf iterate (8-bit, with the surrogate's score) is a candidate for the SSIM budget
    cand_images: list[np.ndarray] = []
    cand_scores: list[np.ndarray] = []
    x0_scores = None
    for norm, budgets in (("linf", cfg.linf), ("l2", cfg.l2)):
        for eps in budgets:
            t0 = time.time()
            track = norm == "linf"
            finals, iters, scores = [], [], []
            for start in range(0, len(x0), cfg.batch):
                xb = x0[start : start + cfg.batch]
                adv, its, sc = pgd(model, to_tensor(xb, device), norm, eps, cfg.steps, keep_iterates=track)
                finals.append(to_uint8(xb, adv, norm, eps))
                if track:
                    iters.append([to_uint8(xb, it, norm, eps) for it in its[:-1]])
                    scores.append([s.numpy().astype(np.float64) for s in sc])
            imgs = np.concatenate(finals)
            final_scores = scores_of(model, imgs, cfg.batch, device)
            out.append(AttackSet(f"{tag}/pgd-{norm}-{_budget(norm, eps).replace('/255', '')}", "pgd", tag, norm,
                                 _budget(norm, eps), imgs, final_scores, time.time() - t0))  # fmt: skip
            log(f"adversarial: {tag} PGD {norm} {_budget(norm, eps)} done ({time.time() - t0:.0f}s)")
            if track:
                sc_all = [np.concatenate([b[i] for b in scores]) for i in range(cfg.steps)]
                x0_scores = sc_all[0] if x0_scores is None else x0_scores
                cand_images += [np.concatenate([b[i] for b in iters]) for i in range(cfg.steps - 1)] + [imgs]
                cand_scores += sc_all[1:] + [final_scores]
    if cand_images:
        t1 = time.time()
        chosen, _ = best_within_ssim(x0, cand_images, [x0_scores, *cand_scores], cfg.min_ssim)
        out.append(AttackSet(f"{tag}/ssim-{cfg.min_ssim:g}", "ssim", tag, "ssim", f"SSIM >= {cfg.min_ssim:g}", chosen,
                             scores_of(model, chosen, cfg.batch, device), time.time() - t1))  # fmt: skip
    return out


def free_sets(x0: np.ndarray, cfg: AdversarialConfig, taef2: Path | None, device, log) -> list[AttackSet]:
    """The gradient-free attacks of the sample."""
    from ..data.synthesis.autoencoders import autoencoder_from_spec
    from .attacks import noise_jpeg, reencode

    out = []
    for name in cfg.free:
        t0 = time.time()
        kind, arg = FREE[name]
        if kind == "reencode":
            ae = autoencoder_from_spec(arg, str(taef2) if arg == "taef2" and taef2 else None).eval().to(device)
            imgs = reencode(x0, ae)
            budget = f"round trip through {arg}"
        else:
            sigma, quality = arg
            imgs = noise_jpeg(x0, sigma, quality, seed=cfg.seed)
            budget = f"noise sigma {sigma * 255:g}/255, JPEG q{quality}"
        out.append(AttackSet(f"free/{name}", kind, None, None, budget, imgs, None, time.time() - t0))
        log(f"adversarial: {name} done ({time.time() - t0:.0f}s)")
    return out


def _cached_sets(folder: Path, make: Callable[[], list[AttackSet]], like: list[Sample], log) -> list[AttackSet]:
    """The sets under ``folder`` if a previous run of the same configuration wrote them all, else made and
    written (PNG files, manifest, and meta.json last)."""
    index = folder / "sets.json"
    if index.is_file():
        sets = []
        for meta in json.loads(index.read_text()):
            got = read_set(folder / meta["dir"])
            if got is None:
                break
            sc = meta.pop("surrogate_scores")
            d = meta.pop("dir")
            sets.append(AttackSet(images=got[1], surrogate_scores=None if sc is None else np.asarray(sc),
                                  path=folder / d, **meta))  # fmt: skip
        else:
            log(f"adversarial: reusing {len(sets)} attacked sets from {folder}")
            return sets
    sets = make()
    metas = []
    for s in sets:
        d = s.name.replace("/", "__")
        write_set(folder / d, s.images, like, f"[{s.name}]")
        s.path = folder / d
        meta = {"name": s.name, "attack": s.attack, "surrogate": s.surrogate, "norm": s.norm, "budget": s.budget,
                "seconds": s.seconds,
                "surrogate_scores": None if s.surrogate_scores is None else s.surrogate_scores.tolist()}  # fmt: skip
        (folder / d / "meta.json").write_text(json.dumps(meta))
        metas.append({**meta, "dir": d})
    index.parent.mkdir(parents=True, exist_ok=True)
    index.write_text(json.dumps(metas))
    return sets


def _recall(p: np.ndarray) -> float | None:
    ok = ~np.isnan(p)
    return float((p[ok] >= 0.5).mean()) if ok.any() else None


def run_adversarial(manifest: Manifest, cfg: AdversarialConfig, work: Path, victims: tuple[str, ...] = VICTIMS,
                    surrogates: tuple[str, ...] = ("default", "dct-linear"), defend: str | None = "default",
                    taef2: Path | None = None, pairs: bool = True, cache=None,
                    log: Callable[[str], None] = lambda m: None) -> dict:  # fmt: skip
    """Run the protocol (module docstring) and return the results (JSON-ready)."""
    import torch

    from ..extraction import extract
    from ..extraction.cache import FeatureCache
    from ..metrics import safe_auc
    from ..train.recipe import paired_sources

    t_start = time.time()
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    cache = cache or FeatureCache()
    bad = [s for s in (*surrogates, *([defend] if defend else [])) if s not in victims]
    if bad:
        raise ValueError(f"surrogates and the defended detector must be victims too: {bad} are not in {victims}")
    if not surrogates:
        raise ValueError("at least one surrogate is needed")
    timing: dict[str, float] = {}

    train, test, held = source_split(manifest, cfg.held_share, cfg.seed)
    log(f"adversarial: held out {', '.join(held)} ({len(test)} images); training on {len(train)}")
    pair_rows = aligned_pairs(manifest, held, taef2, log) if pairs and "default" in victims else None

    t0 = time.time()
    fitted = {}
    reused: list[str] = []
    # trained victims are kept per split (a rerun with other attack settings reuses them)
    split_key = hashlib.sha256("|".join([*sorted(s.key for s in train), str(pairs), str(cuda)]).encode())
    split_key = split_key.hexdigest()[:12]
    victims_dir = Path(work) / f"victims-{split_key}"
    for name in victims:
        t1 = time.time()
        fitted[name] = kept_victim(victims_dir / name, lambda name=name: fit_victim(name, train, pair_rows, cuda, cache,
                                                                                    log), log, reused)  # fmt: skip
        log(f"adversarial: victim {name} ready ({time.time() - t1:.0f}s)")
    timing["train victims"] = time.time() - t0

    # the sample: held-out generated images the first surrogate calls fake on their matched view
    fakes = test.subset(lambda s: s.label == "fake")
    first = attacked_model(fitted[surrogates[0]])
    p_first = probabilities(first, fakes, MATCHED.tag, cache)
    flagged = [i for i in range(len(fakes)) if p_first[i] >= 0.5]
    pick = [flagged[i] for i in spread_sample([fakes[i] for i in flagged], cfg.n_fakes, cfg.seed)]
    sample = [fakes[i] for i in pick]
    if not sample:
        raise ValueError(f"{surrogates[0]} calls none of the held-out generated images fake: nothing to attack")
    x0 = matched_pixels(sample)
    log(f"adversarial: {len(sample)} of {len(fakes)} held-out fakes sampled ({len(flagged)} called fake by "
        f"{surrogates[0]})")  # fmt: skip

    # the attacked images depend on the settings, the sample and the surrogates, not on who else scores them:
    # a rerun with more victims reuses them
    digest = hashlib.sha256((cfg.digest() + "|" + "|".join(s.key for s in sample) + "|" + ",".join(surrogates)
                             + f"|{defend}|{pairs}").encode()).hexdigest()[:12]  # fmt: skip
    run_dir = Path(work) / f"run-{digest}"
    log(f"adversarial: attacked images under {run_dir}")

    described = {}
    sets: list[AttackSet] = []

    def attack_with(name: str, det, folder: str) -> None:
        model, what = surrogate_of(det, device)
        described[name] = what
        t1 = time.time()
        sets.extend(_cached_sets(run_dir / folder, lambda: [
            AttackSet(f"{name}/none", "none", name, None, "unattacked", x0,
                      scores_of(model, x0, cfg.batch, device)),
            *gradient_sets(name, model, x0, cfg, device, log)], sample, log))  # fmt: skip
        timing[f"attacks on {name}"] = time.time() - t1

    for name in surrogates:
        attack_with(name, fitted[name], f"surrogate-{name}")
    t1 = time.time()
    sets.extend(_cached_sets(run_dir / "free", lambda: free_sets(x0, cfg, taef2, device, log), sample, log))
    timing["gradient-free attacks"] = time.time() - t1

    defence = None
    if defend and cfg.adv_train > 0:
        t1 = time.time()
        target = fitted[defend]
        model, _ = surrogate_of(target, device)
        whole = train.subset(lambda s: s.label != "partial")
        paired = paired_sources(whole)
        pool = [s for s in whole if s.label == "fake" and s.source in paired]
        chosen = [pool[i] for i in spread_sample(pool, cfg.adv_train, cfg.seed)]
        adv_dir = run_dir / f"adv-train-{defend}"
        got = read_set(adv_dir)
        if got is None:
            from .attacks import pgd, to_tensor, to_uint8

            xt = matched_pixels(chosen)
            eps_of = [cfg.linf[i % len(cfg.linf)] for i in range(len(chosen))]
            made = np.zeros_like(xt)
            for eps in cfg.linf:  # the images of each budget in batches
                idx = [i for i in range(len(chosen)) if eps_of[i] == eps]
                for start in range(0, len(idx), cfg.batch):
                    part = idx[start : start + cfg.batch]
                    adv, _, _ = pgd(model, to_tensor(xt[part], device), "linf", eps, cfg.adv_steps)
                    made[part] = to_uint8(xt[part], adv, "linf", eps)
                log(f"adversarial: {len(idx)} training fakes attacked at {_budget('linf', eps)}")
            adv_m = write_set(adv_dir, made, chosen, "[PGD adversarial training]")
            (adv_dir / "meta.json").write_text(json.dumps({"eps": eps_of}))
        else:
            adv_m = got[0]
        # their features as written, then the defended detector with them as extra training fakes
        extract(adv_m, list(target.extractors), view="clean", cache=cache)
        defended_name = f"{defend}+adv"
        defended = kept_victim(run_dir / f"victim-{defended_name}", lambda: fit_victim(
            defend, train, pair_rows, cuda, AsWritten(cache, {s.key for s in adv_m}), log, extra=adv_m), log,
            reused)  # fmt: skip
        fitted[defended_name] = defended
        timing["adversarial training"] = time.time() - t1
        log(f"adversarial: {defended_name} trained with {len(adv_m)} attacked training fakes "
            f"({time.time() - t1:.0f}s)")  # fmt: skip
        attack_with(defended_name, defended, f"surrogate-{defended_name}")
        defence = {"target": defend, "name": defended_name, "attacked_training_fakes": len(adv_m),
                   "attacked_against": described.get(defend), "steps": cfg.adv_steps,
                   "budgets": [_budget("linf", e) for e in cfg.linf],
                   "by_source": dict(sorted(adv_m.counts("source").items()))}  # fmt: skip

    # every victim scores every set, from the written files
    t1 = time.time()
    from .attacks import norms, psnr, ssim

    rows = []
    clean_p = None
    clean_name = f"{surrogates[0]}/none"
    ordered = sorted(sets, key=lambda s: s.name != clean_name)  # the unattacked set first
    for s in ordered:
        if s.attack == "none" and s.name != clean_name:
            continue  # the same images as the first surrogate's unattacked set
        m = Manifest.read(s.path / "manifest.csv")
        p = {v: probabilities(det, m, "clean", cache) for v, det in fitted.items()}
        if s.name == clean_name:
            clean_p = p
        recall = {v: _recall(pv) for v, pv in p.items()}
        linf, l2 = norms(x0, s.images)
        ps = psnr(x0, s.images)
        rows.append({
            "set": s.name, "attack": s.attack, "surrogate": s.surrogate, "norm": s.norm, "budget": s.budget,
            "n": len(s.images), "ssim_mean": float(ssim(x0, s.images).mean()),
            "psnr_mean": float(ps[np.isfinite(ps)].mean()) if np.isfinite(ps).any() else None,
            "linf_max": float(linf.max()), "l2_mean": float(l2.mean()),
            "surrogate_recall": None if s.surrogate_scores is None else float((s.surrogate_scores >= 0).mean()),
            "recall": recall,
            "delta_r": {v: (None if recall[v] is None or clean_p[v] is None else _recall(clean_p[v]) - recall[v])
                        for v in fitted},
            "p_mean": {v: float(np.nanmean(pv)) for v, pv in p.items()},
            "seconds": round(s.seconds, 1),
        })  # fmt: skip
    timing["scoring"] = time.time() - t1
    # unattacked baselines of the other surrogates, for their own recall
    own_clean = {s.surrogate: float((s.surrogate_scores >= 0).mean()) for s in sets if s.attack == "none"}

    # how good each victim is on the held-out side without attacks (matched view), for context
    t1 = time.time()
    held_side = test.subset(lambda s: s.label != "partial")
    y = np.array([s.is_fake for s in held_side], dtype=int)
    quality = {}
    for v, det in fitted.items():
        p = probabilities(det, held_side, MATCHED.tag, cache)
        ok = ~np.isnan(p)
        quality[v] = {"auc": float(safe_auc(y[ok], p[ok])), "recall": _recall(p[ok & (y == 1)]),
                      "real_kept": _recall(1 - p[ok & (y == 0)])}  # fmt: skip
    timing["held-out quality"] = time.time() - t1
    timing["total"] = time.time() - t_start

    return {
        "command": COMMAND,
        "size": cfg.size,
        "device": str(device) if not cuda else f"cuda ({torch.cuda.get_device_name(0)})",
        "config": {**asdict(cfg), "linf": [_budget("linf", e) for e in cfg.linf]},
        "split": {"held_out_sources": held, "training_images": len(train), "held_out_images": len(test),
                  "training_pairs": 0 if pair_rows is None else len(pair_rows), "seed": cfg.seed},
        "sample": {"n": len(sample), "held_out_fakes": len(fakes), "called_fake_by_first_surrogate": len(flagged),
                   "by_source": dict(sorted(Manifest(sample).counts("source").items())),
                   "chosen_by": surrogates[0]},
        "victims": list(fitted),
        "surrogates": {k: {"what": v, "clean_recall": own_clean.get(k)} for k, v in described.items()},
        "defence": defence,
        "held_out_quality": quality,
        "rows": rows,
        "timing_s": {k: round(v, 1) for k, v in timing.items()},
        "reused_victims": reused,
    }


# ----------------------------------------------------------------------------- reporting


def _fmt(v, digits=2):
    return "–" if v is None else f"{v:.{digits}f}"


def _attack_label(row: dict) -> str:
    kind = {"fgsm": "FGSM", "pgd": "PGD", "ssim": "PGD, SSIM budget", "reencode": "re-encode",
            "noise-jpeg": "noise + JPEG", "none": "none"}[row["attack"]]  # fmt: skip
    if row["attack"] in ("fgsm", "pgd"):
        return f"{kind} {'L∞' if row['norm'] == 'linf' else 'L2'} {row['budget']}"
    if row["attack"] == "ssim":
        return f"PGD L∞ iterate, {row['budget']}"
    if row["attack"] == "none":
        return "unattacked"
    return f"{kind}: {row['budget']}"


def markdown(results: dict) -> str:
    """The "Adversarial evaluation" section of docs/BENCHMARKS.md."""
    cfg = results["config"]
    victims = results["victims"]
    split = results["split"]
    sample = results["sample"]
    d = results.get("defence")
    lines = [SECTION, ""]
    lines += ["This section is written by `fakescope adversarial` (results in `docs/adversarial.json`, plot "
              "`docs/adversarial.png`); rerun it to refresh:", "", "```bash", results["command"], "```", ""]  # fmt: skip
    size = ("**reduced size** (no GPU: a CPU run with fewer images and PGD steps; `--size full` on a CUDA "
            "device attacks more)") if results["size"] == "reduced" else "full size"  # fmt: skip
    lines.append(
        f"Run on {results['device']}, {size}: {sample['n']} attacked images, PGD with {cfg['steps']} steps "
        f"(step 2.5·ε/steps, no random start), L∞ budgets {', '.join(cfg['linf'])}, L2 budgets "
        f"{', '.join(f'{e:g}' for e in cfg['l2'])} (on the [0, 1] scale of a 256×256×3 image), seed {cfg['seed']}.")  # fmt: skip
    lines.append("")
    lines.append(
        "**Protocol.** Sources split by a seeded draw (drawn again while it would take more than half of the "
        "images of the sources that hold both classes, which the paired recipe trains on): "
        f"{len(split['held_out_sources'])} held out "
        f"({', '.join(split['held_out_sources'])}; {split['held_out_images']} images), the victims trained on the "
        f"other {split['training_images']} images, every image matched-processed (centre 256 px, JPEG q90) as in "
        "the benchmark's LOSO-matched protocol. "
        + ("`default` is the shipped default's recipe (its card's settings, LOSO calibration, "
           f"{split['training_pairs']} aligned-pair images of the training side's real images added). "
           if "default" in victims else "")
        + "Networks use their CPU (reduced) settings when no GPU is present. The attacked images are "
        f"{sample['n']} of the {sample['called_fake_by_first_surrogate']} held-out generated images (of "
        f"{sample['held_out_fakes']}) that `{sample['chosen_by']}` calls fake, the held-out sources taken in turn "
        f"({', '.join(f'{k}: {v}' for k, v in sample['by_source'].items())}). Every attack changes the 256 px image "
        "in [0, 1]; the result is written as 8-bit PNG (rounded so that the budget still holds) and every victim "
        "scores the file through its normal pipeline: the CLIP victims with the shipped INT8 ONNX encoder, not "
        "the PyTorch copy the gradients came from.")  # fmt: skip
    lines.append("")
    lines.append("**Surrogates** (white box on these; every other victim is a transfer target):")
    lines.append("")
    for k, v in results["surrogates"].items():
        lines.append(f"- `{k}`: {v['what']}; its own recall on the unattacked images {_fmt(v['clean_recall'])}.")
    lines.append("")
    lines.append(
        "The SSIM budget takes, per image, among the iterates of the L∞ PGD runs (every step of every budget), "
        f"the one with the lowest surrogate score whose SSIM to the original is at least {cfg['min_ssim']:g} "
        "(the original if none is)." + (" Gradient-free attacks: " + "; ".join(FREE_TEXT[f] for f in cfg["free"]) + "."
                                        if cfg["free"] else ""))  # fmt: skip
    if d:
        lines.append("")
        lines.append(
            f"**Defence: adversarial training of `{d['target']}`.** {d['attacked_training_fakes']} generated images "
            "of the training side (paired sources, taken in turn) were attacked with PGD L∞ "
            f"({d['steps']} steps, budgets {', '.join(d['budgets'])} in turn) against {d['attacked_against']}, and "
            f"added as fakes, as written, to `{d['target']}`'s training data: `{d['name']}` (one round, the "
            "attacks made against the undefended model). It is then attacked afresh, white box on its own "
            f"surrogate (the `{d['name']}` rows), and scores every other attack too (its column).")  # fmt: skip
    lines.append("")
    lines.append("Each cell: recall (p_fake ≥ 0.5) on the attacked images, and in brackets ΔR, the drop from the "
                 "same images unattacked (negative: the attack raised recall). **Bold**: the surrogate's own "
                 "victim (white box). *Surrogate (PyTorch)*: the recall of the surrogate itself, the differentiable "
                 "copy the attack used, on the written files (not re-measured for FGSM on a CLIP surrogate: a "
                 "ViT forward pass per image and budget). SSIM and PSNR: means over the attacked images.")  # fmt: skip
    lines.append("")
    wide = main_victims(results)
    head = ["Surrogate", "Attack", "SSIM", "PSNR (dB)", "Surrogate (PyTorch)", *[f"`{v}`" for v in wide]]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 2)) + "|")
    for row in results["rows"]:
        cells = [f"`{row['surrogate']}`" if row["surrogate"] and row["attack"] != "none" else "–",
                 _attack_label(row), _fmt(row["ssim_mean"], 3), _fmt(row["psnr_mean"], 1),
                 _fmt(row["surrogate_recall"]) if row["attack"] != "none" else "–"]  # fmt: skip
        for v in wide:
            r, dr = row["recall"][v], row["delta_r"][v]
            cell = _fmt(r) if row["attack"] == "none" else f"{_fmt(r)} ({_fmt(dr)})"
            white = row["attack"] != "none" and row["surrogate"] == v
            cells.append(f"**{cell}**" if white else cell)
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    if len(wide) < len(victims):
        lines += transfer_summary(results)
    lines.append("Unattacked quality of the victims on the whole held-out side (matched view, threshold 0.5), for "
                 "context:")  # fmt: skip
    lines.append("")
    lines.append("| Victim | AUC | Recall (fakes) | Reals kept |")
    lines.append("|---|---:|---:|---:|")
    for v, q in results["held_out_quality"].items():
        lines.append(f"| `{v}` | {_fmt(q['auc'], 3)} | {_fmt(q['recall'])} | {_fmt(q['real_kept'])} |")
    lines.append("")
    lines.append("![Recall on attacked generated images per victim](adversarial.png)")
    lines.append("")
    t = results["timing_s"]
    reused = results.get("reused_victims") or []
    lines.append(f"Wall time of the run {t['total'] / 60:.0f} min (" + ", ".join(
        f"{k} {v / 60:.1f} min" for k, v in t.items() if k != "total") + ")"
        + (f"; the victims {', '.join(f'`{v}`' for v in reused)} were trained by an earlier run of the same split "
           "and loaded" if reused else "") + ".")  # fmt: skip
    lines.append("")
    return "\n".join(lines)


def transfer_summary(results: dict) -> list[str]:
    """Markdown lines: one row per victim, how much recall each surrogate's gradient attacks take from it
    (mean and worst over its FGSM, PGD and SSIM-budget sets) and each gradient-free attack's ΔR."""
    rows, surrogates = results["rows"], list(results["surrogates"])
    clean = next(r for r in rows if r["attack"] == "none")
    free = [r for r in rows if r["surrogate"] is None and r["attack"] != "none"]
    head = ["Victim", "Unattacked recall", *[f"`{s}`: mean / worst ΔR" for s in surrogates],
            *[_attack_label(r) for r in free]]  # fmt: skip
    out = ["**Transfer to every victim.** Per victim, the recall the attacks take away (ΔR): for each surrogate, "
           "the mean and the largest over its gradient attacks (FGSM, PGD, SSIM budget; every budget); then each "
           "gradient-free attack. Bold: white box. `[reduced]` networks trained at their CPU size. Every cell of "
           "every attack is in `docs/adversarial.json`.", "",
           "| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]  # fmt: skip
    for v in results["victims"]:
        cells = [f"`{v}`", _fmt(clean["recall"][v])]
        for sur in surrogates:
            drs = [r["delta_r"][v] for r in rows if r["surrogate"] == sur and r["attack"] != "none"
                   and r["delta_r"][v] is not None]  # fmt: skip
            cell = f"{np.mean(drs):.2f} / {max(drs):.2f}" if drs else "–"
            cells.append(f"**{cell}**" if sur == v else cell)
        cells += [_fmt(r["delta_r"][v]) for r in free]
        out.append("| " + " | ".join(cells) + " |")
    return out + [""]


def write_section(page: Path, section: str) -> None:
    """Put ``section`` into ``page`` below the marker line: replacing an earlier "Adversarial evaluation"
    section (up to the next ``## `` heading), else at the end."""
    text = page.read_text() if page.is_file() else ""
    if MARKER not in text:
        text = text.rstrip("\n") + ("\n\n" if text else "") + MARKER + " (each section names its command); kept when " \
               "the page is re-rendered -->\n"
    head, marker_line, tail = text.partition(MARKER)
    line_end = tail.index("\n") + 1 if "\n" in tail else len(tail)
    marker_line, tail = marker_line + tail[:line_end], tail[line_end:]
    block = section.rstrip("\n") + "\n"
    if SECTION in tail:
        before, _, after = tail.partition(SECTION)
        nxt = after.find("\n## ")
        rest = after[nxt + 1 :] if nxt >= 0 else ""
        tail = before + block + ("\n" + rest if rest else "")
    else:
        tail = tail.rstrip("\n") + "\n\n" + block
    page.write_text(head + marker_line + tail)


def plot(results: dict, path: Path) -> Path | None:
    """Recall against the L∞ budget per victim, one panel per surrogate, and the gradient-free attacks."""
    from ..analysis import plotting

    if not plotting.available():
        return None
    victims = main_victims(results)
    rows = results["rows"]
    clean = next(r for r in rows if r["attack"] == "none")
    surrogates = list(results["surrogates"])
    free = [r for r in rows if r["surrogate"] is None and r["attack"] != "none"]
    styles = plotting.series_styles(len(victims))
    with plotting.style():
        fig, axes = plotting.figure(1, len(surrogates) + (1 if free else 0), height=3.8)
        for ax, sur in zip(axes[0], surrogates):
            pgd = sorted((r for r in rows if r["surrogate"] == sur and r["attack"] == "pgd" and r["norm"] == "linf"),
                         key=lambda r: float(r["budget"].split("/")[0]))  # fmt: skip
            xs = [0.0] + [float(r["budget"].split("/")[0]) for r in pgd]
            for v, (color, ls) in zip(victims, styles):
                ys = [clean["recall"][v]] + [r["recall"][v] for r in pgd]
                ax.plot(xs, ys, color=color, linestyle=ls, marker="o" if v == sur else ".",
                        linewidth=2.4 if v == sur else 1.4, label=v)  # fmt: skip
            ax.set_title(f"PGD L∞ against {sur}")
            ax.set_xlabel("budget ε (×1/255)")
            ax.set_ylabel("recall on attacked fakes")
            ax.set_ylim(-0.03, 1.03)
            ax.set_xticks(xs)
        if free:
            ax = axes[0][-1]
            width = 0.8 / len(victims)
            labels = ["unattacked"] + [r["set"].removeprefix("free/") for r in free]
            for k, (v, (color, _)) in enumerate(zip(victims, styles)):
                ys = [clean["recall"][v]] + [r["recall"][v] for r in free]
                ax.bar(np.arange(len(labels)) + (k - (len(victims) - 1) / 2) * width, ys, width, color=color, label=v)
            ax.set_xticks(np.arange(len(labels)), labels=labels, rotation=30, ha="right")
            ax.set_ylim(0, 1.03)
            ax.set_title("without gradients")
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=len(victims), fontsize=8)
        return plotting.save(fig, path)


__all__ = ["AdversarialConfig", "AsWritten", "PRESETS", "VICTIMS", "clip_input", "config_for", "markdown", "plot",
           "run_adversarial", "source_split", "spread_sample", "surrogate_of", "write_section"]  # fmt: skip
