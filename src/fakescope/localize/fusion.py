"""Fusion of localization maps: learned and classical traces combined into one map and a per-pixel
reliability (after TruFor, Guillaro et al. CVPR 2023, which fuses a learned noise fingerprint with RGB
evidence and gives a confidence map beside the anomaly map).

Members are learned localizers (trained here under setup C), learned traces that never see an edit
(``unedited``: :mod:`.similarity`, trained on pairs of patches of unedited images), optionally a probe
on frozen CLIP embeddings of tiles (``tiles``: :mod:`.clip_tiles`, which tiles look made or brought in)
and classical, training-free traces (:mod:`.forensic`). On a grid of ``cell`` px, each member gives four
features: its map, the map's departure from the image's own median (a trace that is high everywhere says less than one
that stands out), its mean over a wider neighbourhood (``context`` cells), and how far the map's top
stands out of its median over the whole image (an image-level term: added to the logit, it holds a whole map down
where no trace stands out, as a gate would); the image adds one local statistic,
its brightness spread (flat areas leave most traces silent). A logistic regression over these features,
fitted on synthetic edits only, gives the fused map. Its threshold is chosen on the same images for the
best mean pixel F1 with at most ``max_fp_area`` of authentic images flagged, and the map is rescaled so
that the threshold reads 0.5.

``model="mlp"`` puts one hidden layer (``hidden`` ReLU units, L2 ``alpha``) in place of the regression,
which can learn that a trace counts only where another agrees. With the classical members alone it
helped on training-half data (fitted on three quarters of the benchmark's training edits and authentic
images: held-out pixel F1 0.285 -> 0.374, training-half realistic edits 0.128 -> 0.202, authentic area
flagged 4.8% -> 4.4%), but with the learned members at the benchmark's reduced size it did worse on the
localization table (synthetic F1 0.254 against 0.325, real edits 0.157 against 0.227), so the regression
stays the default.

The learned members train on four fifths of the training images; the fusion fits on the other fifth,
which they never saw, so it learns how far to trust their maps on new images, not on their own training
data.

Reliability, per pixel: how decided the fused probability is (``|2p - 1|``) times the share of members
whose own map (at 0.5) agrees with the fused decision: low where the traces disagree or the fusion
hesitates.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from ..registry import register
from ..train.calibration import PlattCalibrator
from ..types import Card, NotFittedError, field_types, strict_config
from .base import threshold_at_half

PAPER = ("Guillaro, Cozzolino, Sud, Dufour, Verdoliva. TruFor: Leveraging all-round clues for trustworthy "
         "image forgery detection and localization. CVPR 2023 (fusion of traces with a reliability map)")  # fmt: skip
SUMMARY = ("fusion of learned (sida, dadf, mau-net, forensic similarity) and classical (noise level, ELA, JPEG "
           "grid, copy-move, splicebuster) maps by a per-pixel logistic regression fitted on synthetic edits; "
           "reliability map; names the agreeing traces")  # fmt: skip
FEATURES = ("map", "vs image median", "neighbourhood mean", "image stand-out")


@dataclass
class FusionConfig:
    """How the fusion is built and fitted (``--set`` keys). Unknown keys are errors."""

    learned: str = "sida,dadf,mau-net"  # learned members (comma-separated registry names), trained under setup C
    # learned members that train on the unedited images alone (pairs of patches: one picture or two), never on
    # an edit: their maps carry no imprint of the synthetic edits the fusion is fitted on
    unedited: str = "forensic-similarity"
    similarity_steps: int = 4000  # training steps of forensic-similarity
    similarity_width: int = 16
    # learned members with a head of their own on frozen pretrained features (no setup, no epochs), e.g.
    # "clip-tiles" (which tiles look made or brought in). None by default: with clip-tiles the localization
    # table's fusion ranked the real edits' pixels better (pixel AUC 0.761 against 0.738) but its threshold,
    # fitted on the synthetic fusion images, flagged less (real-edit F1 0.375 against 0.404)
    tiles: str = ""
    # training-free members. jpeg-dq is left out by default: it reads the quantisation tables of JPEG files, and
    # the synthetic edits the fusion fits on are PNG files, so its map is silent on them and its weight would be
    # fitted on a handful of pixels
    classical: str = "noise-level,ela,jpeg-grid,copy-move,splicebuster"
    # settings of the learned members (the benchmark passes its reduced ones on a CPU)
    epochs: int = 8
    crops_per_image: int = 3
    width: int = 16
    fusion_share: float = 0.2  # share of the training images kept from the learned members for the fusion
    fusion_images: int = 160  # at most this many of them (half real, half edited when there are enough)
    cell: int = 4  # px of the grid the fusion works on; the fused map is enlarged back (bilinear)
    context: float = 4.0  # cells: Gaussian width of each member's neighbourhood mean
    samples_per_image: int = 1500  # grid cells per image given to the regression (half inside the mask)
    C: float = 1.0  # inverse L2 strength of the logistic regression
    # "logistic": the fused logit is linear in the features; "mlp": one hidden layer of ``hidden`` ReLU units
    # (it can learn that a trace counts only where another one agrees, or only in an image where some trace
    # stands out), L2 strength ``alpha``
    model: str = "logistic"
    hidden: int = 16
    alpha: float = 1.0
    # Largest mean share of an authentic image the chosen threshold may flag on the fusion images; below
    # the 10% the benchmark allows, since synthetic authentic images are easier than real ones.
    max_fp_area: float = 0.05
    seed: int = 0

    @classmethod
    def from_kwargs(cls, **kw) -> FusionConfig:
        cfg = strict_config(cls, "fusion-map localizer", **kw)
        if not 0 < cfg.fusion_share < 1:
            raise ValueError(f"fusion_share must be in (0, 1), not {cfg.fusion_share}")
        if cfg.model not in ("logistic", "mlp"):
            raise ValueError(f"model must be 'logistic' or 'mlp', not {cfg.model!r}")
        return cfg


def _names(csv: str) -> list[str]:
    return [n.strip() for n in csv.split(",") if n.strip()]


def _cells(a: np.ndarray, cell: int) -> np.ndarray:
    """Block means over ``cell`` x ``cell`` px (edge-padded to a multiple): (H, W) -> (ceil(H/c), ceil(W/c))."""
    h, w = a.shape
    ph, pw = (-h) % cell, (-w) % cell
    if ph or pw:
        a = np.pad(a, ((0, ph), (0, pw)), mode="edge")
    return a.reshape(a.shape[0] // cell, cell, a.shape[1] // cell, cell).mean(axis=(1, 3))


def _enlarge(a: np.ndarray, cell: int, size: tuple[int, int]) -> np.ndarray:
    """A cell-grid map back to the image's (W, H) ``size`` (bilinear), cropped where the grid was padded."""
    gh, gw = a.shape
    big = Image.fromarray(a.astype(np.float32), mode="F").resize((gw * cell, gh * cell), Image.Resampling.BILINEAR)
    return np.asarray(big, dtype=np.float32)[: size[1], : size[0]]


def _key(s) -> int:
    digest = s.sha256 or hashlib.sha256(str(s.file).encode()).hexdigest()
    return int(digest[:8], 16)


class FusionLocalizer:
    """One map from many traces, with a reliability map and an account of which traces agree."""

    training_free = False
    name = "fusion-map"
    #: revision of the fusion itself (its features, regression, threshold, default members); its members have
    #: their own. 2: copy-move in, jpeg-dq out of the default members; 3: splicebuster in, an image-level
    #: feature per member (the "mlp" model, an option, left the default logistic fusion as it was); 4:
    #: forensic-similarity (trained on unedited images only) in the default members
    version = 4
    summary = SUMMARY
    paper = PAPER
    #: where the classical members keep their maps (see :attr:`ForensicLocalizer.cache_dir`), or None
    cache_dir: Path | None = None

    def __init__(self, **config):
        self.config = FusionConfig.from_kwargs(**config)

    # -- members ---------------------------------------------------------------------------
    def _classical(self) -> dict:
        from . import create_localizer

        out = {}
        for name in _names(self.config.classical):
            loc = create_localizer(name)
            loc.cache_dir = self.cache_dir
            out[name] = loc
        return out

    def member_maps(self, img: Image.Image) -> dict[str, np.ndarray]:
        """Every member's (H, W) map of ``img``, in member order."""
        if not hasattr(self, "members_"):
            raise NotFittedError("fusion-map is not fitted; train it or load trained weights")
        rgb = img.convert("RGB")
        for m in self.members_.values():
            if hasattr(m, "cache_dir") and getattr(m, "training_free", False):
                m.cache_dir = self.cache_dir
        return {name: np.asarray(m.map(rgb), dtype=np.float32) for name, m in self.members_.items()}

    def features(self, img: Image.Image, maps: dict[str, np.ndarray]) -> np.ndarray:
        """(gh, gw, F) features on the cell grid: four per member (:data:`FEATURES`), then brightness spread.
        The fourth, how far the map's top stands out of its median (its 99th percentile minus its median), is
        the same in every cell of an image: an image-level term that lets the regression raise or lower the
        whole map (a trace that marks nothing special on an authentic image holds every pixel down)."""
        cfg = self.config
        feats = []
        for m in maps.values():
            c = _cells(m, cfg.cell)
            med = np.median(c)
            feats += [c, c - med, ndimage.gaussian_filter(c, cfg.context, mode="reflect"),
                      np.full_like(c, np.quantile(c, 0.99) - med)]  # fmt: skip
        y = np.asarray(img.convert("L"), dtype=np.float32)
        spread = np.sqrt(np.maximum(_cells(y**2, cfg.cell) - _cells(y, cfg.cell) ** 2, 0))
        feats.append(np.log1p(ndimage.uniform_filter(spread, 3)) / 4)
        return np.stack(feats, -1).astype(np.float32)

    def _logit(self, f: np.ndarray) -> np.ndarray:
        z = (f - self.mean_) / self.std_
        if hasattr(self, "hidden_"):
            w1, b1, w2, b2 = self.hidden_
            return np.maximum(z @ w1 + b1, 0) @ w2 + b2
        return z @ self.coef_ + self.intercept_

    def _contributions(self, f: np.ndarray) -> np.ndarray:
        """(M, gh, gw): each member's share of the logit: its features' terms; with a hidden layer, how much
        the logit falls when the member's features are set to their mean over the fusion images."""
        k = len(FEATURES)
        if hasattr(self, "hidden_"):
            full, out = self._logit(f), []
            for i in range(len(self.members_)):
                g = f.copy()
                g[..., i * k : (i + 1) * k] = self.mean_[i * k : (i + 1) * k]
                out.append(full - self._logit(g))
            return np.stack(out)
        z = (f - self.mean_) / self.std_ * self.coef_
        return np.stack([z[..., i * k : (i + 1) * k].sum(-1) for i in range(len(self.members_))])

    # -- training ------------------------------------------------------------------------
    def fit(self, manifest, log=lambda m: None, members: dict | None = None) -> FusionLocalizer:
        """Train the learned members on most of ``manifest``, then the fusion on the rest (synthetic edits
        and authentic images). ``members``: fitted or training-free localizers to fuse instead of the
        configured ones (every real and partial image then goes to the fusion)."""
        from sklearn.linear_model import LogisticRegression

        from ..data.manifest import Manifest
        from ..io import ImageLoadError, open_image
        from . import create_localizer
        from .base import load_mask

        cfg, t0 = self.config, time.time()
        usable = [s for s in manifest if s.label == "real" or (s.label == "partial" and s.mask)]
        trained = [*_names(cfg.learned), *_names(cfg.unedited), *_names(cfg.tiles)]
        trained_members = members is None and bool(trained)
        if members is None and not trained_members:  # nothing to train: every image goes to the fusion
            members, held = self._classical(), usable
        elif trained_members:
            cut = int(round(1 / cfg.fusion_share))
            held = [s for s in usable if _key(s) % cut == 0]
            held_ids = {id(s) for s in held}
            rest = Manifest([s for s in manifest if id(s) not in held_ids])
            members = {}
            for name in _names(cfg.learned):
                log(f"fusion-map: training member {name} (setup C) on {len(rest)} images")
                members[name] = create_localizer(name, setup="C", epochs=cfg.epochs, crops_per_image=cfg.crops_per_image,
                                                 width=cfg.width, seed=cfg.seed).fit(rest)  # fmt: skip
            for name in _names(cfg.unedited):
                log(f"fusion-map: training member {name} on the unedited images of {len(rest)}")
                members[name] = create_localizer(name, steps=cfg.similarity_steps, width=cfg.similarity_width,
                                                 seed=cfg.seed).fit(rest, log=log)  # fmt: skip
            for name in _names(cfg.tiles):
                log(f"fusion-map: training member {name} on tiles of {len(rest)} images")
                members[name] = create_localizer(name, seed=cfg.seed).fit(rest, log=log)
            members.update(self._classical())
        else:
            held = usable
        if not members:
            raise ValueError("fusion-map needs at least one member")
        rng = np.random.default_rng(cfg.seed)
        reals = [s for s in held if s.label == "real"]
        edits = [s for s in held if s.label == "partial"]
        if not reals or not edits:
            raise ValueError(f"fusion-map fits on real and edited images; got {len(reals)} real, {len(edits)} edited")
        n_edit = min(len(edits), max(cfg.fusion_images // 2, cfg.fusion_images - len(reals)))
        n_real = min(len(reals), cfg.fusion_images - n_edit)
        pick = [*(edits[i] for i in sorted(rng.choice(len(edits), n_edit, replace=False))),
                *(reals[i] for i in sorted(rng.choice(len(reals), n_real, replace=False)))]  # fmt: skip
        self.members_ = members
        X, Y, grids = [], [], []
        for i, s in enumerate(pick):
            try:
                img, _ = open_image(s.file)
            except ImageLoadError:
                continue
            mask = load_mask(s, img.size) if s.label == "partial" else None
            if mask is None:
                mask = np.zeros((img.height, img.width), np.float32)
            f = self.features(img, self.member_maps(img))
            gt = _cells(mask, cfg.cell) >= 0.5
            grids.append((f, gt))
            flat, lab = f.reshape(-1, f.shape[-1]), gt.ravel()
            take = []
            for cls in (True, False):
                idx = np.flatnonzero(lab == cls)
                if len(idx):
                    take.append(rng.choice(idx, min(len(idx), cfg.samples_per_image // 2), replace=False))
            take = np.concatenate(take)
            X.append(flat[take])
            Y.append(lab[take])
            if (i + 1) % 20 == 0:
                log(f"fusion-map: features of {i + 1}/{len(pick)} images")
        X, Y = np.concatenate(X), np.concatenate(Y)
        self.mean_, self.std_ = X.mean(0), X.std(0) + 1e-6
        for fitted in ("coef_", "intercept_", "hidden_"):  # a refit may change the model
            self.__dict__.pop(fitted, None)
        if cfg.model == "mlp":
            from sklearn.neural_network import MLPClassifier

            mlp = MLPClassifier((cfg.hidden,), alpha=cfg.alpha, max_iter=300, random_state=cfg.seed)
            mlp.fit((X - self.mean_) / self.std_, Y)
            w1, w2 = mlp.coefs_
            b1, b2 = mlp.intercepts_
            self.hidden_ = (w1, b1, w2[:, 0], float(b2[0]))
        else:
            lr = LogisticRegression(C=cfg.C, max_iter=2000).fit((X - self.mean_) / self.std_, Y)
            self.coef_, self.intercept_ = lr.coef_[0].astype(np.float64), float(lr.intercept_[0])
        self.map_threshold_ = self._choose_threshold(grids)
        scores = np.array([self.score(self._prob(f)) for f, _ in grids])
        labels = np.array([int(gt.any()) for _, gt in grids])
        self.calibrator_ = PlattCalibrator().fit(scores, labels, monotone=True)
        self.trained_on_ = {
            "members": list(members),
            "model": cfg.model,
            "fusion_images": len(grids),
            "fusion_labels": {"real": int((labels == 0).sum()), "partial": int(labels.sum())},
            "fusion_pixels": int(len(Y)),
            "fusion_kinds": dict(Counter(s.generator or s.label for s in pick)),
            "member_training_images": len(manifest) - len(held) if trained_members else 0,
            "sources": dict(sorted(Counter(s.source for s in manifest).items())),
            "seconds": round(time.time() - t0, 1),
        }
        log(f"fusion-map: fitted on {len(grids)} images; weights by member: "
            + ", ".join(f"{n} {w:+.2f}" for n, w in self.member_weights().items()))  # fmt: skip
        return self

    def _prob(self, f: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-np.clip(self._logit(f), -40, 40)))

    @staticmethod
    def score(p: np.ndarray) -> float:
        return float(np.quantile(p, 0.99))

    def _choose_threshold(self, grids) -> float:
        """The probability threshold with the best mean F1 on the edited fusion images among those that
        flag at most ``max_fp_area`` of the authentic ones (the strictest one if none does)."""
        from ..metrics import image_pixel_metrics

        probs = [(self._prob(f), gt) for f, gt in grids]
        grid = np.round(np.linspace(0.05, 0.95, 19), 2)
        best, best_f1, strictest = None, -1.0, None
        for t in grid:
            f1 = [image_pixel_metrics(p, gt, float(t))["f1"] for p, gt in probs if gt.any()]
            fp = [float((p >= t).mean()) for p, gt in probs if not gt.any()]
            fp_area = float(np.mean(fp)) if fp else 0.0
            if fp_area <= self.config.max_fp_area and np.mean(f1) > best_f1:
                best, best_f1 = float(t), float(np.mean(f1))
            strictest = float(t)
        return best if best is not None else strictest

    # -- inference -------------------------------------------------------------------------
    def _rescale(self, p: np.ndarray) -> np.ndarray:
        return threshold_at_half(p, self.map_threshold_)

    def fuse(self, img: Image.Image) -> dict:
        """The fused map, its reliability, every member's map and each member's share of the fused logit."""
        if not hasattr(self, "mean_"):
            raise NotFittedError("fusion-map is not fitted; train it or load trained weights")
        maps = self.member_maps(img)
        f = self.features(img, maps)
        p_cells = self._prob(f)
        p = self._rescale(_enlarge(p_cells, self.config.cell, img.size))
        decided = p >= 0.5
        agree = np.mean([(m >= 0.5) == decided for m in maps.values()], axis=0)
        reliability = (np.abs(2 * p - 1) * agree).astype(np.float32)
        return {"map": p, "reliability": reliability, "members": maps, "score": self.score(p_cells),
                "contributions": self._contributions(f)}  # fmt: skip

    def map(self, img: Image.Image) -> np.ndarray:
        return self.fuse(img)["map"]

    def localize(self, img: Image.Image) -> dict:
        """Map, reliability, calibrated image probability, share flagged and which traces agree."""
        r = self.fuse(img)
        p = float(self.calibrator_(np.array([r["score"]]))[0])
        return {"map": r["map"], "reliability": r["reliability"], "p_fake": p,
                "flagged_share": float((r["map"] >= 0.5).mean()), "classes": None,
                "explanation": self.explain(r, p)}  # fmt: skip

    def agreeing(self, fused: dict, margin: float = 0.25) -> tuple[list[tuple[str, float]], list[str]]:
        """Members whose evidence raises the fused logit on the flagged area more than elsewhere (by more
        than ``margin``), strongest first, with that difference; and the members that do not."""
        cell = self.config.cell
        flagged = _cells(fused["map"], cell) >= 0.5
        contrib = fused["contributions"]
        if not flagged.any():
            flagged = _cells(fused["map"], cell) >= np.quantile(_cells(fused["map"], cell), 0.99)
        outside = ~flagged if (~flagged).any() else np.ones_like(flagged)
        diff = {n: float(c[flagged].mean() - c[outside].mean()) for n, c in zip(self.members_, contrib)}
        agree = sorted(((n, d) for n, d in diff.items() if d > margin), key=lambda x: -x[1])
        return agree, [n for n in self.members_ if diff[n] <= margin]

    def explain(self, fused: dict, p: float | None) -> str:
        from .base import explain

        text = explain(fused["map"], p, None, self).rstrip(".")
        agree, rest = self.agreeing(fused)
        flagged = fused["map"] >= 0.5
        where = "on the flagged area" if flagged.any() else "on the highest-scoring area"
        named = ", ".join(f"{n} ({d:+.1f})" for n, d in agree) or "none"
        rel = float(fused["reliability"][flagged].mean()) if flagged.any() else float(fused["reliability"].mean())
        return (f"{text}; traces that agree {where} (logit difference): {named}; silent or against: "
                f"{', '.join(rest) or 'none'}; mean reliability there {rel:.2f}.")

    def member_weights(self) -> dict[str, float]:
        """How much each member counts: its summed absolute regression weight (standardized features), or with
        a hidden layer the size (L2 norm) of the first layer's weights on its features."""
        k = len(FEATURES)
        if hasattr(self, "hidden_"):
            w1 = self.hidden_[0]
            return {n: float(np.linalg.norm(w1[i * k : (i + 1) * k])) for i, n in enumerate(self.members_)}
        return {n: float(np.abs(self.coef_[i * k : (i + 1) * k]).sum()) for i, n in enumerate(self.members_)}

    # -- persistence ---------------------------------------------------------------------------
    @property
    def card(self) -> Card:
        calibration = {}
        if hasattr(self, "calibrator_"):
            calibration = {**self.calibrator_.to_dict(), "map_threshold": self.map_threshold_,
                           "fitted_on": "the fusion images (synthetic edits and authentic images the learned "
                           "members did not train on)",
                           "map_threshold_note": f"fused probability with the best mean pixel F1 on the fusion "
                           f"images flagging at most {self.config.max_fp_area:.0%} of authentic ones; maps are "
                           "rescaled so that it reads 0.5"}  # fmt: skip
        config = asdict(self.config)
        if hasattr(self, "members_"):
            config["members"] = list(self.members_)
            config["member_weights"] = {n: round(w, 4) for n, w in self.member_weights().items()}
            config["revisions"] = {self.name: self.version,
                                   **{n: getattr(m, "version", 1) for n, m in self.members_.items()}}  # fmt: skip
        return Card(name=self.name, family=self.name, kind="localizer", summary=self.summary, paper=self.paper,
                    config=config,
                    preprocessing=f"every member's own preprocessing (each sees the image at native resolution); "
                    f"features on a {self.config.cell} px grid of block means, fused map enlarged back (bilinear)",
                    training_data=getattr(self, "trained_on_", {}),
                    not_trained_on="no real (non-synthetic) partial edit: the fusion and its threshold are "
                    "fitted on synthetic edits and authentic images only",
                    calibration=calibration, metrics=getattr(self, "metrics_", {}),
                    licence="fakescope weights: Apache-2.0; the training images keep their own terms")  # fmt: skip

    def save(self, directory: str | Path) -> Path:
        """``card.json`` + ``weights.npz`` (the fitted model), and each learned member in ``members/<name>/``."""
        from ..saved import write

        if not hasattr(self, "mean_"):
            raise NotFittedError("fusion-map is not fitted; nothing to save")
        directory = Path(directory)
        learned = [n for n, m in self.members_.items() if not getattr(m, "training_free", False)]
        unedited = [n for n in learned if n in _names(self.config.unedited)]
        tiles = [n for n in learned if n in _names(self.config.tiles)]
        init = {**asdict(self.config), "learned": ",".join(n for n in learned if n not in unedited + tiles),
                "unedited": ",".join(unedited), "tiles": ",".join(tiles),
                "classical": ",".join(n for n in self.members_ if n not in learned)}  # fmt: skip
        order = np.array(list(self.members_))
        write(directory, "localizer", self.name, init, self.card,
              {"mean": self.mean_, "std": self.std_, "members": order, **self._model_arrays()})  # fmt: skip
        for n in learned:
            self.members_[n].save(directory / "members" / n)
        return directory

    def _model_arrays(self) -> dict:
        """The fitted model as arrays: the regression's (coef, intercept) or the hidden layer's (w1, b1, w2, b2)."""
        if hasattr(self, "hidden_"):
            w1, b1, w2, b2 = self.hidden_
            return {"w1": w1, "b1": b1, "w2": w2, "b2": np.array([b2])}
        return {"coef": self.coef_, "intercept": np.array([self.intercept_])}

    def restore(self, saved) -> FusionLocalizer:
        from ..saved import arrays
        from .base import load_localizer

        a = arrays(saved)
        classical = self._classical()
        self.members_ = {}
        for n in a["members"].tolist():
            self.members_[n] = classical[n] if n in classical else load_localizer(saved.directory / "members" / n)
        if "w1" in a:
            self.hidden_ = (a["w1"], a["b1"], a["w2"], float(a["b2"][0]))
        else:
            self.coef_, self.intercept_ = a["coef"], float(a["intercept"][0])
        self.mean_, self.std_ = a["mean"], a["std"]
        self.calibrator_ = PlattCalibrator.from_dict(saved.card.calibration)
        self.map_threshold_ = float(saved.card.calibration["map_threshold"])
        self.trained_on_ = saved.card.training_data
        self.metrics_ = saved.card.metrics
        return self

    def settings(self) -> dict[str, dict[str, type]]:
        return {"train": field_types(FusionConfig)}


@register("fusion-map", SUMMARY, kind="localizer", needs=("torch",), version=FusionLocalizer.version)
def fusion_map(**config) -> FusionLocalizer:
    return FusionLocalizer(**config)
