"""Forensic similarity: which patches of an image look as if they came from another picture.

A small network embeds 64 px patches of an image's high-pass residual (the trace the camera's sensor,
demosaicing, denoising, resampling and compression leave, more than the scene) and a head says whether
two patches come from the same image. It learns from unedited images alone: pairs of patches of one
photo against pairs from two different images (real photos and, with ``generated``, fully generated
images, whose patches then count as another source too). No edit and no mask is ever seen, so it does
not learn the look of our synthetic edits, only what sets one picture's processing apart from another's.
With ``jpeg_copies`` every training picture also joins re-encoded as JPEG (quality 65 to 95), a picture of
its own that is never paired with its original: JPEG over a whole picture leaves its patches alike, as
images shared after an edit are, and the network learns to tell pictures apart through it.

On a new image every patch (on a grid of ``stride`` px, wider for large images so that at most
``max_patches`` are scored) is compared with a fixed set of reference patches spread over the image;
its map value is the mean probability that it comes from another image than they do. A region pasted
from another photo, or re-made by a generator, stands out against the rest; the map is painted back
as the mean over the patches that cover each pixel. Its 0.5 is fitted on real photos held out of training
(``held``): the value above which ``authentic_area`` of their area lies, on average; the map is rescaled
monotonically so that it reads 0.5 (no edit is needed to fit it, and the ranking is unchanged). Like
every self-consistency trace it marks the part least like the majority of the image: when an edit
covers most of the image, the untouched rest stands out instead.

After Mayer & Stamm, "Forensic similarity for digital images", IEEE TIFS 2020, and Huh et al.,
"Fighting fake news: image splice detection via learned self-consistency", ECCV 2018 (pairs of patches
judged consistent or not, the map from one patch's agreement with the rest). The network here is far
smaller and trains in minutes on a CPU.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..registry import register
from ..types import Card, NotFittedError, field_types, strict_config
from .base import threshold_at_half, tile_grid

NAME = "forensic-similarity"
VERSION = 2  # 2: JPEG copies of the training pictures; the map's threshold fitted on held-out photos
PAPER = ("Mayer, Stamm. Forensic similarity for digital images. IEEE TIFS 2020; Huh, Liu, Owens, Efros. Fighting "
         "fake news: image splice detection via learned self-consistency. ECCV 2018")  # fmt: skip
SUMMARY = ("patch-pair network trained on unedited images only (same picture or not); map: how unlike the rest "
           "of the image each patch's residual is")  # fmt: skip


@dataclass
class SimilarityConfig:
    """How the network is built and trained (``--set`` keys). Unknown keys are errors."""

    patch: int = 64  # px side of the compared patches (never resized)
    stride: int = 32  # px between patches at inference (widened for large images, see max_patches)
    max_patches: int = 3000  # at most this many patches scored per image
    references: int = 256  # patches each one is compared with
    width: int = 16  # channels of the first layer
    steps: int = 4000  # training steps (at 2000 it flags an edit's pixels less precisely)
    batch: int = 64  # pairs per step (half from one image, half from two)
    lr: float = 2e-3
    generated: bool = True  # fully generated training images join the pool of "other pictures"
    crop: int = 768  # px: training images are centre-cropped to at most this side (never resized)
    jpeg_copies: bool = True  # each training picture also joins as a JPEG re-encoded copy (quality 65-95)
    held: float = 0.2  # share of the unedited real photos kept out of training to fit the map's threshold
    authentic_area: float = 0.06  # mean share of a held-out photo's area at or above the fitted threshold
    seed: int = 0

    @classmethod
    def from_kwargs(cls, **kw) -> SimilarityConfig:
        cfg = strict_config(cls, f"{NAME} localizer", **kw)
        if cfg.patch < 16 or cfg.patch % 8:
            raise ValueError(f"patch must be a multiple of 8 of at least 16 px, not {cfg.patch}")
        if cfg.stride < 1 or cfg.max_patches < 2 or cfg.references < 1:
            raise ValueError("stride, max_patches and references must be positive (max_patches at least 2)")
        if not 0 <= cfg.held < 1 or not 0 < cfg.authentic_area < 1:
            raise ValueError("held must be in [0, 1) and authentic_area in (0, 1)")
        return cfg


def _network(width: int):
    """Patch embedding (residual CNN features, mean and spread over the patch) and the pair head."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class PairNet(nn.Module):
        def __init__(self, w: int):
            super().__init__()

            def down(i, o):
                return [nn.Conv2d(i, o, 3, stride=2, padding=1), nn.BatchNorm2d(o), nn.ReLU()]

            self.features = nn.Sequential(
                nn.Conv2d(3, w, 3, padding=1), nn.ReLU(), nn.Conv2d(w, w, 3, padding=1), nn.ReLU(),
                *down(w, 2 * w), *down(2 * w, 2 * w), *down(2 * w, 4 * w))  # fmt: skip
            self.head = nn.Sequential(nn.Linear(8 * w + 1, 64), nn.ReLU(), nn.Linear(64, 1))

        def embed(self, x):
            """(B, 3, P, P) pixels in [0, 255] -> (B, 8w): the residual's features, mean and spread."""
            x = x / 255.0
            residual = x - F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), 3, 1)
            e = self.features(residual * 10)
            return torch.cat([e.mean((2, 3)), e.std((2, 3))], 1)

        def pair(self, a, b):
            """Logit that embeddings ``a`` and ``b`` come from the same image."""
            d = a - b
            return self.head(torch.cat([d.abs(), d.pow(2).sum(1, keepdim=True).sqrt()], 1)).squeeze(1)

    return PairNet(width)


class SimilarityLocalizer:
    """A learned self-consistency localizer trained on unedited images (see the module's description)."""

    name, summary, paper, version = NAME, SUMMARY, PAPER, VERSION
    training_free = False

    def __init__(self, **config):
        self.config = SimilarityConfig.from_kwargs(**config)

    # -- training ------------------------------------------------------------------------
    def _split(self, manifest) -> tuple[list, list]:
        """(training samples, held-out real photos): the unedited images of ``manifest`` (real, and fully
        generated with ``generated``), a ``held`` share of the real ones (at least 4 of them) kept apart."""
        cfg = self.config
        labels = ("real", "fake") if cfg.generated else ("real",)
        unedited = [s for s in manifest if s.label in labels]
        reals = [i for i, s in enumerate(unedited) if s.label == "real"]
        n = int(round(cfg.held * len(reals)))
        n = n if n >= 4 and len(reals) - n >= 2 else 0
        held = set(np.random.default_rng(cfg.seed + 2).permutation(reals)[:n].tolist())
        return [s for i, s in enumerate(unedited) if i not in held], [unedited[i] for i in sorted(held)]

    def _training_pixels(self, samples, log) -> tuple[list[np.ndarray], list[int], Counter]:
        """The pictures pairs are drawn from, the number of the picture each comes from, and the labels used."""
        from ..data.perturb import jpeg
        from ..io import ImageLoadError, open_image

        cfg = self.config
        out, groups, used = [], [], Counter()
        rng = np.random.default_rng(cfg.seed + 1)
        for s in samples:
            try:
                img, _ = open_image(s.file)
            except ImageLoadError as exc:
                log(f"{NAME}: skipped {exc}")
                continue
            a = np.asarray(img.convert("RGB"))
            h, w = a.shape[:2]
            if min(h, w) < 2 * cfg.patch:
                continue  # too small for two patches of its own
            y0, x0 = max(0, (h - cfg.crop) // 2), max(0, (w - cfg.crop) // 2)
            a = np.ascontiguousarray(a[y0 : y0 + cfg.crop, x0 : x0 + cfg.crop])
            out.append(a)
            groups.append(sum(used.values()))  # the picture's number: its copies share it
            if cfg.jpeg_copies:  # the picture shared once more: one of its own, never paired with its original
                out.append(np.asarray(jpeg(Image.fromarray(a), int(rng.integers(65, 96)))))
                groups.append(groups[-1])
            used[s.label] += 1
        return out, groups, used

    def fit(self, manifest, log=lambda m: None) -> SimilarityLocalizer:
        """Train on the manifest's unedited images (real, and fully generated with ``generated``); partial
        images and masks are never read."""
        import torch
        import torch.nn.functional as F

        from ..train.loop import device

        cfg, t0 = self.config, time.time()
        samples, held = self._split(manifest)
        images, groups, used = self._training_pixels(samples, log)
        groups = np.asarray(groups)
        if len(set(groups.tolist())) < 2:
            raise ValueError(f"{NAME} trains on pairs of unedited images; got {len(images)} usable ones")
        torch.manual_seed(cfg.seed)
        dev = device()
        net = _network(cfg.width).to(dev).train()
        opt = torch.optim.AdamW(net.parameters(), cfg.lr, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.steps)
        rng = np.random.default_rng(cfg.seed)
        p = cfg.patch

        def patch(a):
            y, x = rng.integers(0, a.shape[0] - p + 1), rng.integers(0, a.shape[1] - p + 1)
            return a[y : y + p, x : x + p]

        losses = []
        for step in range(cfg.steps):
            first, second, same = [], [], []
            for _ in range(cfg.batch):
                i = int(rng.integers(len(images)))
                j = i
                if rng.random() >= 0.5:  # half the pairs from two different images
                    while groups[j] == groups[i]:
                        j = int(rng.integers(len(images)))
                first.append(patch(images[i]))
                second.append(patch(images[j]))
                same.append(float(i == j))
            a, b = (torch.from_numpy(np.stack(x)).to(dev).permute(0, 3, 1, 2).float() for x in (first, second))
            loss = F.binary_cross_entropy_with_logits(net.pair(net.embed(a), net.embed(b)),
                                                      torch.tensor(same, device=dev))  # fmt: skip
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
            if (step + 1) % 500 == 0:
                log(f"{NAME}: step {step + 1}/{cfg.steps}, loss {np.mean(losses[-500:]):.3f}")
        self.net_ = net.cpu().eval()
        self.map_threshold_, fitted_on = self._fit_threshold(held, log)
        self.trained_on_ = {"images": sum(used.values()), "labels": dict(used), "pairs": cfg.steps * cfg.batch,
                            "jpeg_copies": cfg.jpeg_copies, "threshold_fitted_on": fitted_on,
                            "sources": dict(sorted(Counter(s.source for s in samples).items())),
                            "final_loss": round(float(np.mean(losses[-200:])), 4), "device": str(dev),
                            "seconds": round(time.time() - t0, 1)}  # fmt: skip
        return self

    def _fit_threshold(self, held, log) -> tuple[float, int]:
        """The raw-map value above which, on average, ``authentic_area`` of a held-out real photo lies (0.5
        when no photo was held out), and how many photos it was fitted on."""
        from ..io import ImageLoadError, open_image

        maps = []
        for s in held:
            try:
                maps.append(self._raw_map(open_image(s.file)[0]))
            except ImageLoadError as exc:
                log(f"{NAME}: skipped {exc}")
        if not maps:
            return 0.5, 0
        lo, hi = 0.0, 1.0  # the flagged share falls as the threshold rises: bisect
        for _ in range(30):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if np.mean([(m >= mid).mean() for m in maps]) > self.config.authentic_area else (lo, mid)
        log(f"{NAME}: map threshold {hi:.3f} flags {self.config.authentic_area:.0%} of {len(maps)} held-out photos")
        return float(np.clip(hi, 1e-3, 1 - 1e-3)), len(maps)

    # -- inference -----------------------------------------------------------------------
    def _net(self):
        if not hasattr(self, "net_"):
            raise NotFittedError(f"{NAME} is not fitted; train it or load trained weights")
        return self.net_

    def map(self, img: Image.Image) -> np.ndarray:
        """(H, W) float32 in [0, 1]: :meth:`_raw_map` rescaled (monotonically) so that the threshold fitted on
        held-out photos reads 0.5."""
        return threshold_at_half(self._raw_map(img), getattr(self, "map_threshold_", 0.5))

    def _raw_map(self, img: Image.Image) -> np.ndarray:
        """(H, W) float32 in [0, 1]: each pixel's mean, over the patches covering it, of the probability that
        the patch comes from another image than the reference patches. Zero (no evidence) for an image
        smaller than two patches."""
        import torch

        net, cfg = self._net(), self.config
        a = np.asarray(img.convert("RGB"))
        h, w = a.shape[:2]
        p = cfg.patch
        if h < p or w < p or (h < 2 * p and w < 2 * p):
            return np.zeros((h, w), np.float32)
        ys, xs = tile_grid(h, w, p, cfg.stride, cfg.stride // 2 or 1, cfg.max_patches)
        pos = [(y, x) for y in ys for x in xs]
        with torch.inference_mode():
            emb = []
            for i in range(0, len(pos), 256):
                t = torch.from_numpy(np.stack([a[y : y + p, x : x + p] for y, x in pos[i : i + 256]]))
                emb.append(net.embed(t.permute(0, 3, 1, 2).float()))
            e = torch.cat(emb)
            refs = e[np.linspace(0, len(e) - 1, min(cfg.references, len(e))).round().astype(int)]
            other = torch.empty(len(e))
            for i in range(0, len(e), 64):
                block = e[i : i + 64]
                logits = net.pair(block[:, None].expand(-1, len(refs), -1).reshape(-1, e.shape[1]),
                                  refs[None].expand(len(block), -1, -1).reshape(-1, e.shape[1]))  # fmt: skip
                other[i : i + 64] = 1 - torch.sigmoid(logits).reshape(len(block), len(refs)).mean(1)
        acc, cover = np.zeros((h, w), np.float32), np.zeros((h, w), np.float32)
        for (y, x), v in zip(pos, other.numpy()):
            acc[y : y + p, x : x + p] += v
            cover[y : y + p, x : x + p] += 1
        return acc / np.maximum(cover, 1)

    @staticmethod
    def score(m: np.ndarray) -> float:
        """Image-level evidence: the 99th percentile of the map (a ranking, not a probability)."""
        return float(np.quantile(m, 0.99))

    def localize(self, img: Image.Image) -> dict:
        """Map, share flagged and an explanation; no image probability (nothing edited was seen in training)."""
        from .base import explain

        m = self.map(img)
        return {"map": m, "p_fake": None, "flagged_share": float((m >= 0.5).mean()), "classes": None,
                "explanation": explain(m, None, None, self)}  # fmt: skip

    # -- persistence ---------------------------------------------------------------------------
    @property
    def card(self) -> Card:
        cfg = self.config
        return Card(name=NAME, family=NAME, kind="localizer", summary=SUMMARY, paper=PAPER,
                    preprocessing=f"decode to 8-bit RGB at native resolution; {cfg.patch} px patches every "
                    f"{cfg.stride} px (the step widened in halves of it until at most {cfg.max_patches} patches), never resized; "
                    "high-pass residual (pixel minus its 3x3 mean); training images centre-cropped to at most "
                    f"{cfg.crop} px", config={**asdict(cfg), "revision": VERSION},
                    training_data=getattr(self, "trained_on_", {}),
                    not_trained_on="any edited image or mask: trained on pairs of patches of unedited images only",
                    metrics=getattr(self, "metrics_", {}),
                    calibration={"map_threshold": getattr(self, "map_threshold_", 0.5),
                                 "map_threshold_note": f"raw-map value above which {cfg.authentic_area:.0%} of the "
                                 "area of held-out unedited real photos lies, on average; maps are rescaled so that "
                                 "it reads 0.5"},
                    licence="fakescope weights: Apache-2.0; the training images keep their own terms")  # fmt: skip

    def save(self, directory: str | Path) -> Path:
        from ..saved import write

        state = {k: v.detach().cpu().numpy() for k, v in self._net().state_dict().items()}
        return write(directory, "localizer", NAME, asdict(self.config), self.card, state)

    def restore(self, saved) -> SimilarityLocalizer:
        import torch

        from ..saved import arrays

        net = _network(self.config.width)
        net.load_state_dict({k: torch.from_numpy(v) for k, v in arrays(saved).items()})
        self.net_ = net.eval()
        self.trained_on_ = saved.card.training_data
        self.metrics_ = saved.card.metrics
        self.map_threshold_ = float(saved.card.calibration.get("map_threshold", 0.5))
        return self

    def settings(self) -> dict[str, dict[str, type]]:
        return {"train": field_types(SimilarityConfig)}


@register(NAME, SUMMARY, kind="localizer", needs=("torch",), version=VERSION)
def forensic_similarity(**config) -> SimilarityLocalizer:
    return SimilarityLocalizer(**config)
