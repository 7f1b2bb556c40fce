"""ZED, a reals-only detector (Cozzolino, Poggi, Niessner, Verdoliva, "Zero-Shot Detection of
AI-Generated Images", ECCV 2024).

A small lossless predictive coder learns how real photographs continue from coarse to fine. For each
level ``l`` of an image pyramid (``x(l+1)`` is the 2 x 2 mean of ``x(l)``, rounded to 8 bits), it
predicts a distribution over the 256 values of every sub-pixel of ``x(l)`` given ``x(l+1)`` and, within
a pixel, the colour channels coded before it (red, then green, then blue). The distribution is a
mixture of discretised logistics, as in lossless coders such as SReC, which ZED builds on. The coder
is trained on real images only, to minimise their coding cost; it never sees a generated image.

An image's score is how far its actual coding cost is from the cost the coder itself expects, per
level (bits per sub-pixel, averaged over the sub-pixels of the scored crops)::

    NLL(l) = mean of -log2 p(actual value)        the actual coding cost
    H(l)   = mean of the entropy of p              the cost the coder expects
    D(l)   = NLL(l) - H(l)                         the coding-cost gap
    R(l)   = NLL(l) / H(l)                         the same as a ratio
    Delta01 = D(0) - D(1)                          how the gap changes from level 1 to the finest level

On images like those it learned from, the coder knows its own uncertainty, and the gaps are small and
alike at every level. The pixels of a generated image surprise it, most at the finest level, which is
where generators differ most from cameras. The decision statistic is chosen in advance (``statistic``,
default ZED's ``|Delta01|``), so the calibration that maps it to a probability may not reverse its
direction (``monotone_calibration``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..features.extract import REGION_SIZE
from ..features.views import grid_boxes as crop_boxes  # re-exported: ZED's crop layout
from ..features.views import region_size
from ..registry import register
from ..types import field_types, strict_config
from .base import FeatureDetector
from .heads import Head

PAPER = ("Cozzolino, Poggi, Niessner, Verdoliva. Zero-Shot Detection of AI-Generated Images. ECCV 2024 "
         "(coder after Cao et al., Lossless Image Compression through Super-Resolution (SReC), 2020)")  # fmt: skip

#: what each decision statistic computes from the per-level costs (higher = more likely generated)
STATISTICS = {
    "abs-delta01": "|D(0) - D(1)|, ZED's decision statistic: the gap changes between levels either way",
    "delta01": "D(0) - D(1): the finest level surprises the coder more than the coarser one",
    "d0": "D(0) = NLL(0) - H(0): the coding-cost gap at full resolution",
    "ratio0": "R(0) = NLL(0) / H(0): the actual over the expected coding cost at full resolution",
}
#: a sub-pixel costs at most this many bits, so that one value the coder held impossible cannot
#: outweigh a whole crop
MAX_BITS = 32.0
N_VALUES = 256


@dataclass
class ZedConfig:
    """The coder's architecture, training and scoring (``--set`` keys). Unknown keys are errors."""

    levels: int = 3  # pyramid levels the coder predicts (0 = full resolution); the coarsest is not scored
    width: int = 48  # channels of each level's predictor
    depth: int = 4  # 3 x 3 convolutions per level's predictor (at the coarse level's resolution)
    mixtures: int = 4  # discretised logistics per sub-pixel
    epochs: int = 16
    patches: int = 16  # random training patches per real image and epoch
    patch: int = 64  # side of a training patch; real images smaller than this do not train the coder
    batch: int = 32
    lr: float = 2e-3
    side: int = 256  # side of a scored crop (smaller for an image with a shorter side)
    crops: int = 4  # crops scored per image, in a grid over the native region; their costs are averaged
    statistic: str = "abs-delta01"  # see STATISTICS
    seed: int = 0

    def __post_init__(self):
        if self.statistic not in STATISTICS:
            raise ValueError(f"statistic must be one of {sorted(STATISTICS)}, not {self.statistic!r}")
        if self.levels < 2 and self.statistic in ("abs-delta01", "delta01"):
            raise ValueError(f"statistic {self.statistic!r} needs levels >= 2")
        if min(self.levels, self.width, self.depth, self.mixtures, self.epochs, self.patches, self.batch,
               self.crops) < 1:  # fmt: skip
            raise ValueError("levels, width, depth, mixtures, epochs, patches, batch and crops must be >= 1")
        if self.patch % 2**self.levels or self.side % 2**self.levels:
            raise ValueError(f"patch and side must be multiples of 2**levels = {2**self.levels}")


# --- the coding statistics (plain arrays) -------------------------------------------------------------


def entropy_bits(pmf):
    """Entropy in bits of each row of ``pmf`` (N, V), the probabilities of V values: ``-sum p log2 p``."""
    import torch

    pmf = torch.as_tensor(pmf)
    return -torch.special.xlogy(pmf, pmf).sum(-1) / math.log(2.0)


def statistic_of(costs: np.ndarray, statistic: str) -> np.ndarray:
    """The decision statistic from per-level costs ``(N, 2 * levels)``: NLL(0), H(0), NLL(1), H(1), ..."""
    costs = np.asarray(costs, dtype=np.float64)
    nll, ent = costs[:, 0::2], costs[:, 1::2]
    gap = nll - ent  # D(l)
    if statistic == "d0":
        return gap[:, 0]
    if statistic == "ratio0":
        return nll[:, 0] / np.maximum(ent[:, 0], 1e-9)
    if statistic == "delta01":
        return gap[:, 0] - gap[:, 1]
    if statistic == "abs-delta01":
        return np.abs(gap[:, 0] - gap[:, 1])
    raise ValueError(f"statistic must be one of {sorted(STATISTICS)}, not {statistic!r}")


def cut_crops(region: np.ndarray, side: int, crops: int, multiple: int) -> list[np.ndarray]:
    """The RGB crops (h, w, 3) scored of one region; an image under ``multiple`` px is edge-padded to it."""
    h, w = region_size(region)
    rgb = region[: max(h, 1), : max(w, 1), :3]
    if h < multiple or w < multiple:
        rgb = np.pad(rgb, ((0, max(0, multiple - h)), (0, max(0, multiple - w)), (0, 0)), mode="edge")
        h, w = rgb.shape[:2]
    return [rgb[t : t + ch, x : x + cw] for t, x, ch, cw in crop_boxes(h, w, side, crops, multiple)]


# --- the coder (PyTorch) ----------------------------------------------------------------------------------


def _torch_parts():
    """The coder's modules, defined on first use so that importing this family stays cheap."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    def normalise(x):  # uint8 values -> [-1, 1]
        return x.float() / 127.5 - 1.0

    def pyramid(x, levels: int) -> list:
        """``[x(0), ..., x(levels)]`` of an integer batch (B, 3, H, W): each level the rounded 2 x 2 mean."""
        out = [x.long()]
        for _ in range(levels):
            s = F.avg_pool2d(out[-1].float(), 2) * 4.0  # exact sums of four 8-bit values
            out.append(torch.div(s.long() + 2, 4, rounding_mode="floor"))
        return out

    class LevelPredictor(nn.Module):
        """p(x(l) | x(l+1)): convolutions at the coarse resolution; each coarse pixel predicts its 2 x 2 block."""

        def __init__(self, width: int, depth: int, mixtures: int):
            super().__init__()
            layers: list = [nn.Conv2d(3, width, 3, padding=1, padding_mode="replicate"), nn.ReLU()]
            for _ in range(depth - 1):
                layers += [nn.Conv2d(width, width, 3, padding=1, padding_mode="replicate"), nn.ReLU()]
            # per sub-pixel: K mixture logits, K mean offsets, K log-scales, K channel coefficients
            head = nn.Conv2d(width, 4 * 4 * 3 * mixtures, 1)  # channel = (parameter, colour, component) x 4 positions
            with torch.no_grad():  # start near "each value is its coarse pixel's, give or take 6 grey levels"
                head.weight.mul_(0.1)
                head.bias.zero_()
                head.bias.view(4, 3 * mixtures, 4)[2].fill_(math.log(6 / 127.5))
            self.body = nn.Sequential(*layers, head)
            self.mixtures = mixtures

        def forward(self, coarse, fine):
            """Mixture parameters for every sub-pixel of ``fine`` (B, 3, H, W), each (B, 3, K, H, W); the
            values of ``fine`` are read only for the channels coded before each one."""
            b, _, h, w = fine.shape
            raw = F.pixel_shuffle(self.body(normalise(coarse)), 2)  # (B, 4 * 3 * K, H, W)
            logit, offset, log_scale, coef = raw.float().view(b, 4, 3, self.mixtures, h, w).unbind(1)
            base = normalise(F.interpolate(coarse.float(), scale_factor=2, mode="nearest"))  # (B, 3, H, W)
            # How far the channels coded before (red; red and green) lie from their coarse pixel: the
            # colours of a pixel deviate together, so green and blue move with them.
            dev = (normalise(fine) - base)[:, :, None]
            coef = torch.tanh(coef)
            mean = base[:, :, None] + offset
            mean = torch.stack([mean[:, 0],
                                mean[:, 1] + coef[:, 0] * dev[:, 0],
                                mean[:, 2] + coef[:, 1] * dev[:, 0] + coef[:, 2] * dev[:, 1]], 1)  # fmt: skip
            return logit, mean, log_scale.clamp(-7.0, 3.0)

    def log_prob(x, logit, mean, log_scale):
        """log p(x) in nats of the discretised logistic mixture (PixelCNN++); x: values in [-1, 1]."""
        x = x[:, :, None]
        inv = torch.exp(-log_scale)
        centred = x - mean
        plus, minus = inv * (centred + 1 / 255), inv * (centred - 1 / 255)
        log_cdf_plus = plus - F.softplus(plus)  # value 0: everything below its upper edge
        log_sf_minus = -F.softplus(minus)  # value 255: everything above its lower edge
        delta = torch.sigmoid(plus) - torch.sigmoid(minus)
        mid = inv * centred
        log_pdf_mid = mid - log_scale - 2.0 * F.softplus(mid) - math.log(127.5)  # a bin too thin for float32
        inner = torch.where(delta > 1e-5, torch.log(delta.clamp_min(1e-12)), log_pdf_mid)
        lp = torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_sf_minus, inner))
        return torch.logsumexp(lp + torch.log_softmax(logit, 2), 2)  # (B, 3, H, W)

    edges = (torch.arange(N_VALUES - 1, dtype=torch.float32) + 0.5) / 127.5 - 1.0  # upper edges of 0..254

    def mixture_pmf(logit, mean, log_scale):
        """(N, 256) probabilities of the 256 values under (N, K) mixture parameters: differences of the
        mixture's CDF at the bin edges (float32: a bin's mass is exact to about 1e-7, which is what the
        entropy needs; the actual cost comes from :func:`log_prob`, exact in the tails too)."""
        inv = torch.exp(-log_scale)
        z = torch.addcmul(-(mean * inv)[..., None], inv[..., None], edges.to(mean.device))  # (N, K, 255)
        cdf = torch.bmm(torch.softmax(logit, -1)[:, None, :], torch.sigmoid_(z))[:, 0]  # (N, 255)
        zeros, ones = torch.zeros_like(cdf[:, :1]), torch.ones_like(cdf[:, :1])
        return torch.diff(cdf, dim=1, prepend=zeros, append=ones).clamp_min_(0.0)

    class Coder(nn.Module):
        """One :class:`LevelPredictor` per level; the coarsest level is not modelled (8 bits a sub-pixel)."""

        def __init__(self, levels: int, width: int, depth: int, mixtures: int):
            super().__init__()
            self.levels = levels
            self.predictors = nn.ModuleList(LevelPredictor(width, depth, mixtures) for _ in range(levels))

        def bits(self, x):
            """Training loss: mean coding cost in bits per sub-pixel over the levels of a uint8 batch (B, 3, H, W)."""
            pyr = pyramid(x, self.levels)
            total = 0.0
            for level, predictor in enumerate(self.predictors):
                params = predictor(pyr[level + 1], pyr[level])
                with torch.autocast(x.device.type, enabled=False):
                    lp = log_prob(normalise(pyr[level]), *(p.float() for p in params))
                total = total - lp.mean() / math.log(2.0)
            return total / self.levels

        @torch.no_grad()
        def costs(self, x, chunk: int = 512):
            """Summed actual and expected costs (bits) per level of a uint8 batch (B, 3, H, W): (B, 2 * levels)
            as NLL(0), H(0), NLL(1), H(1), ..., and the number of sub-pixels of each level."""
            pyr = pyramid(x, self.levels)
            b = x.shape[0]
            sums, counts = [], []
            for level, predictor in enumerate(self.predictors):
                logit, mean, log_scale = predictor(pyr[level + 1], pyr[level])
                nll = (-log_prob(normalise(pyr[level]), logit, mean, log_scale) / math.log(2.0)).clamp_(max=MAX_BITS)
                k = logit.shape[2]
                flat = [t.permute(0, 1, 3, 4, 2).reshape(-1, k) for t in (logit, mean, log_scale)]  # (B*3*H*W, K)
                ent = torch.cat([entropy_bits(mixture_pmf(*(t[s : s + chunk] for t in flat)))
                                 for s in range(0, len(flat[0]), chunk)])  # fmt: skip
                sums += [nll.reshape(b, -1).sum(1), ent.view(b, -1).sum(1)]
                counts.append(nll[0].numel())
            return torch.stack(sums, 1).double(), counts

    return Coder, pyramid, log_prob, mixture_pmf


class ZedHead(Head):
    """The coder, trained on the real images of what it is given, and the decision statistic it yields."""

    kind = "zed"

    def __init__(self, **params):
        self.config = strict_config(ZedConfig, "zed coder", **params)

    @property
    def multiple(self) -> int:
        return 2**self.config.levels

    def build(self):
        import torch

        coder_cls = _torch_parts()[0]
        torch.manual_seed(self.config.seed)
        c = self.config
        return coder_cls(c.levels, c.width, c.depth, c.mixtures)

    # -- training --------------------------------------------------------------------
    def fit(self, X, y, w=None):
        """Train the coder on the rows with ``y == 0`` (real images) only; the others are never read."""
        import torch

        from ..train.loop import describe_device, device, fit

        cfg, dev = self.config, device()
        reals = np.flatnonzero(np.asarray(y) == 0)
        sizes = np.array([region_size(X[i]) for i in reals]).reshape(-1, 2)
        usable = sizes.min(axis=1) >= cfg.patch
        if not usable.any():
            raise ValueError(f"no real training image has both sides of at least {cfg.patch} px (the coder's "
                             "patch size); give more or larger real images, or a smaller patch")  # fmt: skip
        reals, sizes = reals[usable], sizes[usable]
        weight = np.ones(len(reals)) if w is None else np.asarray(w, dtype=np.float64)[reals]
        weight = weight / weight.sum()  # balance sources among the reals, as the other families do
        rng = np.random.default_rng(cfg.seed)
        steps = max(1, math.ceil(len(reals) * cfg.patches / cfg.batch))
        self.device_ = describe_device(dev)
        net = self.build().to(dev)

        def patch_of(i: int) -> np.ndarray:
            h, w_ = sizes[i]
            t, x = rng.integers(0, h - cfg.patch + 1), rng.integers(0, w_ - cfg.patch + 1)
            p = X[reals[i], t : t + cfg.patch, x : x + cfg.patch, :3]
            return p[:, ::-1] if rng.random() < 0.5 else p

        def batches(epoch):
            for _ in range(steps):
                pick = rng.choice(len(reals), size=cfg.batch, p=weight)
                xb = np.stack([patch_of(i) for i in pick])  # (B, P, P, 3) uint8, real images only
                yield torch.as_tensor(xb).to(dev).permute(0, 3, 1, 2)

        last = fit(net, batches, lambda n, xb: n.bits(xb), epochs=cfg.epochs, steps_per_epoch=steps, lr=cfg.lr,
                   weight_decay=0.0, name="zed coder")  # fmt: skip
        self.params_ = {k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()}
        self._net = net.eval()
        self.trained_on_ = {"real_images": int(len(reals)), "generated_images": 0,
                            "real_images_too_small": int((~usable).sum()),
                            "patches": int(steps * cfg.batch * cfg.epochs),
                            "final_bits_per_subpixel": round(float(last), 4)}  # fmt: skip
        return self

    # -- inference -------------------------------------------------------------------
    def network(self):
        import torch

        from ..train.loop import device

        self._check("params_")
        if getattr(self, "_net", None) is None:
            net = self.build()
            net.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in self.params_.items()})
            self._net = net.to(device()).eval()
        return self._net

    def costs(self, X) -> np.ndarray:
        """Per image (N, 2 * levels): NLL(0), H(0), NLL(1), H(1), ... in bits per sub-pixel, averaged over
        the sub-pixels of its crops."""
        import torch

        net = self.network()
        dev = next(net.parameters()).device
        cfg = self.config
        sums = np.zeros((len(X), 2 * cfg.levels))
        counts = np.zeros((len(X), cfg.levels))
        by_shape: dict[tuple, list] = {}
        for i, region in enumerate(X):
            for crop in cut_crops(region, cfg.side, cfg.crops, self.multiple):
                by_shape.setdefault(crop.shape, []).append((i, crop))
        per_batch = max(1, (4 * 256 * 256) // (cfg.side * cfg.side))
        for items in by_shape.values():
            for s in range(0, len(items), per_batch):
                part = items[s : s + per_batch]
                xb = torch.as_tensor(np.stack([c for _, c in part])).to(dev).permute(0, 3, 1, 2)
                total, n = net.costs(xb)
                for (i, _), row in zip(part, total.cpu().numpy()):
                    sums[i] += row
                    counts[i] += n
        return sums / np.repeat(counts, 2, axis=1)

    def decision(self, X):
        return statistic_of(self.costs(X), self.config.statistic)

    def state(self):
        return {f"coder.{k}": v for k, v in self.params_.items()}

    def load_state(self, s):
        self.params_ = {k[6:]: v for k, v in s.items() if k.startswith("coder.")}
        self._net = None
        return self


class Zed(FeatureDetector):
    """ZED: a lossless coder of real photographs; the score is how much an image's pixels surprise it."""

    family = "reals-only"
    extractors = ("region384",)
    summary = ("ZED: a lossless coder trained on real photos only; the score is the gap between an image's "
               "actual and expected coding cost across pyramid levels")  # fmt: skip
    paper = PAPER
    monotone_calibration = True  # the statistic's direction is fixed in advance: more surprise = generated
    score_needs_fit = True  # the surprise is measured by the coder trained on the real training images

    def __init__(self, name: str = "zed", head_params: dict | None = None, **train):
        train.setdefault("n_aug", 0)  # the coder models clean camera pixels; augmented copies would blur that
        # One coder per fit: the held-out fifth (unseen by the coder, both classes) fits the calibration.
        train.setdefault("calibration", "holdout")
        # The coder never sees a label, so a source of real images alone cannot teach it to tell sources
        # apart; every real image makes a better model of real images.
        train.setdefault("sources", "all")
        super().__init__(name, dict(head_params or {}), **train)
        cfg = strict_config(ZedConfig, "zed coder", **self._first_head_params())
        self.preprocessing = (
            f"decode to 8-bit RGB; the centre {REGION_SIZE}x{REGION_SIZE} px at native resolution (a smaller image "
            f"whole; nothing is resized or re-encoded); up to {cfg.crops} crop(s) of {cfg.side}x{cfg.side} px in a "
            f"grid over it (shorter for a smaller image), cut to a multiple of {2**cfg.levels} px; pyramid of "
            f"{cfg.levels + 1} levels by rounded 2x2 means; coding costs averaged over the crops' sub-pixels; "
            f"statistic {cfg.statistic}: {STATISTICS[cfg.statistic]}; training: random {cfg.patch} px patches of "
            "the real training images (horizontal flips), never of a generated one"
        )

    def fit(self, manifest, matched=None, log=lambda m: None, **extract_kw):
        """Train the coder on the real training images and the calibration on held-out ones; returns self."""
        super().fit(manifest, matched=matched, log=log, **extract_kw)
        self.not_trained_on_ = ("generated images, by design: the coder learned the real training images only; "
                                "the generated ones entered only the calibration of its score; "
                                + self.not_trained_on_)  # fmt: skip
        return self

    def _first_head_params(self) -> dict:
        """The head settings with the first value of each grid (for the card's preprocessing line)."""
        return {k: (v[0] if isinstance(v, list) else v) for k, v in self.head_params.items()}

    def design(self, feats):
        return feats["region384"]

    def make_head(self, params):
        return ZedHead(**params)

    def head_settings(self) -> dict[str, type]:
        return field_types(ZedConfig)

    @property
    def card(self):
        card = super().card
        head = getattr(self, "head_", None)
        card.config["coder"] = asdict(head.config) if head is not None else {}
        saved = getattr(self, "saved_coder_card_", {})  # a loaded detector keeps what its card said
        card.config["coder_trained_on"] = getattr(head, "trained_on_", None) or saved.get("coder_trained_on")
        card.config["trained_on_device"] = getattr(head, "device_", None) or saved.get("trained_on_device")
        return card

    def restore(self, saved):
        super().restore(saved)
        self.saved_coder_card_ = {k: saved.card.config.get(k) for k in ("coder_trained_on", "trained_on_device")}
        return self


#: the benchmark's CPU size: a narrower, shorter-trained coder (3 to 5 minutes on one CPU thread for 240
#: real images) that scores two 128 px crops per image (under a second per image) instead of four of 256 px
REDUCED = {"width": 24, "depth": 3, "epochs": 6, "patches": 8, "side": 128, "crops": 2}


@register("zed", "ZED: coding-cost surprise of a lossless coder trained on real images only (Cozzolino 2024)",
          needs=("torch",), reduced=REDUCED)  # fmt: skip
def zed(head_params: dict | None = None, **train) -> Zed:
    return Zed("zed", head_params, **train)


__all__ = ["STATISTICS", "Zed", "ZedConfig", "ZedHead", "crop_boxes", "entropy_bits", "statistic_of"]
