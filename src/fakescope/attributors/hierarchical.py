"""Hierarchical attribution: the family of generator that made an image, then the generator within it,
or ``unknown`` for a generator never trained on.

The two levels are the manifest's columns: the *family* (``real`` for photographs; gan, diffusion,
autoregressive, faceswap, face-edit, autoencoder, manual-edit, ... as the training data holds them) and
the *generator*. Labels come from the manifest alone (:func:`target_of`).

Model (frozen features -> linear heads):

- features: the CLIP ViT-B/16 image embedding (content and style, Ojha et al. 2023) beside the log-DCT
  spectrum of the centre 128 px, block-averaged to ``dct_cells`` x ``dct_cells`` (up-sampling traces,
  Frank et al. 2020); standardised.
- heads: a multinomial logistic regression over families, and one per family over its generators, so
  P(generator) = P(family) x P(generator | family). The answer follows the hierarchy: the most probable
  family, then its most probable generator; ``attribution_p`` is the probability of that answer.
- open set: the score is the probability of the answer (maximum softmax probability, Hendrycks & Gimpel
  2017; with a good closed-set classifier a strong open-set baseline, Vaze et al. 2022). Below a
  threshold the generator is ``unknown`` and ``attribution_p`` is the family's probability (the family is
  still named: a new diffusion model is usually still recognisably diffusion). The threshold is fitted
  inside the training data: in each of ``inner_folds`` folds some training generators are held out whole,
  a model is trained on the rest, and the held-out generators' images (unknown) are scored beside
  held-out images of the generators it knows. Nothing of the data the attributor is evaluated on is used.

Training recipe as the detectors' (:mod:`fakescope.detectors.base`): each image clean and under ``n_aug``
augmentations (crop, down-scale, blur, JPEG), so that a generator cannot be learnt as "a 256 px PNG";
every class gets the same total weight, and within a class each source weight in proportion to sqrt(its
size). A generator with fewer than ``min_images`` images is not a class; its images serve only as
unknowns when the threshold is fitted.
"""

from __future__ import annotations

import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from ..data.manifest import Manifest
from ..data.splits import group_kfold, stratified_unit_folds
from ..features.dct import pool_spectrum
from ..features.extract import EXTRACTORS
from ..metrics import safe_auc
from ..registry import register
from ..types import Card, NotFittedError, strict_config

REAL = "real"
UNKNOWN = "unknown"
PAPER = ("Hendrycks & Gimpel, A Baseline for Detecting Misclassified and Out-of-Distribution Examples, ICLR 2017; "
         "Vaze et al., Open-Set Recognition: a Good Closed-Set Classifier is All You Need, ICLR 2022; "
         "Frank et al., Leveraging Frequency Analysis for Deep Fake Image Recognition, ICML 2020")  # fmt: skip


def target_of(sample) -> tuple[str, str]:
    """``(family, generator)`` an image is attributed to, from the manifest: real photos are ``("real", "real")``."""
    if sample.label == "real":
        return REAL, REAL
    return sample.family or "(none)", sample.generator or "(none)"


def class_name(target: tuple[str, str]) -> str:
    """``"family/generator"`` (``"real"`` for real photos): one string per class, for tables and fold groups."""
    return REAL if target[0] == REAL else f"{target[0]}/{target[1]}"


@dataclass
class AttributionConfig:
    """How the attributor is trained. Unknown keys are errors."""

    # a generator with fewer images is not a class: too few to learn; its images serve as unknowns
    min_images: int = 10
    include_partial: bool = True  # partial edits are attributed to their family too (e.g. manual-edit)
    n_aug: int = 2  # augmented views per training image, beside the clean one
    # inverse L2 strength of the linear heads on standardised inputs; 0.05 and 0.5 were within a point of
    # top-1 on stratified folds of the development data
    C: float = 0.05
    # 16 x 16 blocks of the 128 px log-DCT spectrum (256 inputs): 32 x 32 gained about one point of top-1
    # for twice the training time
    dct_cells: int = 16
    inner_folds: int = 3  # leave-generators-out folds inside the training data that fit the unknown threshold
    known_share: float = 0.2  # share of the known classes' images held out in each inner fold (the known side)
    # None: the threshold maximises Youden's J (known images kept minus unknown ones kept); a number: the
    # threshold keeps that share of the held-out known images
    known_rate: float | None = None
    seed: int = 0

    @classmethod
    def from_kwargs(cls, **kw) -> AttributionConfig:
        return strict_config(cls, "attribution", **kw)


@dataclass
class Attribution:
    """One image's attribution. ``generator`` is ``"unknown"`` when the image's score is under the threshold;
    ``attribution_p`` is then the probability of the family, else that of the generator."""

    family: str
    generator: str
    attribution_p: float
    p_family: float
    score: float  # probability of the most probable generator of the answered family (the open-set score)
    top: list[tuple[str, str, float]] = field(default_factory=list)  # the three most probable classes

    def row(self) -> dict:
        return {"family": self.family, "generator": self.generator, "attribution_p": round(self.attribution_p, 6)}


# --- the closed-set model: standardiser, family head, generator heads ----------------------------------------


def _fit_softmax(Z: np.ndarray, y: np.ndarray, w: np.ndarray, n: int, C: float) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression of labels ``y`` in ``0..n-1`` (all present) -> ``(coef (n, D), bias (n,))``;
    one class: zero logits."""
    if n == 1:
        return np.zeros((1, Z.shape[1]), np.float32), np.zeros(1, np.float32)
    clf = LogisticRegression(C=C, max_iter=300, tol=1e-3)
    with warnings.catch_warnings():  # an unconverged fit is still a valid (regularised) fit
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(Z, y, sample_weight=w)
    coef, bias = clf.coef_, clf.intercept_
    if n == 2:  # scikit-learn's binary form: one logit; as two, the first class's fixed at 0
        coef, bias = np.vstack([np.zeros_like(coef), coef]), np.r_[0.0, bias]
    return coef.astype(np.float32), bias.astype(np.float32)


def class_weights(labels: Sequence[str], sources: Sequence[str]) -> np.ndarray:
    """Each class the same total weight; within a class each source in proportion to sqrt(its size), so one
    large source cannot define what a class looks like. Mean weight 1."""
    labels = np.asarray(labels)
    n = Counter(zip(labels, sources))
    w = np.array([1.0 / np.sqrt(n[k]) for k in zip(labels, sources)])
    names = np.unique(labels)
    for c in names:
        m = labels == c
        w[m] *= len(w) / (len(names) * w[m].sum())
    return w


def _softmax(L: np.ndarray) -> np.ndarray:
    L = L - L.max(axis=1, keepdims=True)
    e = np.exp(L)
    return e / e.sum(axis=1, keepdims=True)


class Hierarchy:
    """Family head and per-family generator heads over standardised features; its state is plain arrays.

    ``classes`` are ``(family, generator)`` pairs sorted by family; ``families`` the sorted families.
    """

    def __init__(self, classes: list[tuple[str, str]], C: float):
        self.classes = [tuple(c) for c in classes]
        self.families = sorted({f for f, _ in self.classes})
        self.class_family = np.array([self.families.index(f) for f, _ in self.classes])
        self.C = C

    def fit(self, X: np.ndarray, y: np.ndarray, sources: Sequence[str]) -> Hierarchy:
        """``X`` (N, D) features, ``y`` (N,) indices into ``classes``."""
        self.mu_ = X.mean(axis=0).astype(np.float32)
        self.sd_ = (X.std(axis=0) + 1e-6).astype(np.float32)
        Z = self._z(X)
        fam = self.class_family[y]
        self.family_coef_, self.family_bias_ = _fit_softmax(Z, fam, class_weights(fam.astype(str), sources),
                                                            len(self.families), self.C)  # fmt: skip
        self.gen_coef_ = np.zeros((len(self.classes), X.shape[1]), np.float32)
        self.gen_bias_ = np.zeros(len(self.classes), np.float32)
        src = np.asarray(sources)
        for f in range(len(self.families)):
            members = np.flatnonzero(self.class_family == f)  # (G_f,) class indices of this family
            rows = np.flatnonzero(fam == f)
            local = np.searchsorted(members, y[rows])
            coef, bias = _fit_softmax(Z[rows], local, class_weights(local.astype(str), src[rows]), len(members),
                                      self.C)  # fmt: skip
            self.gen_coef_[members], self.gen_bias_[members] = coef, bias
        return self

    def _z(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.mu_) / self.sd_).astype(np.float32)

    def proba(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(P(family) (N, F), P(generator | its family) (N, G))``."""
        if not hasattr(self, "mu_"):
            raise NotFittedError("the attributor is not fitted; train it or load a trained one")
        Z = self._z(X)
        p_family = _softmax(Z @ self.family_coef_.T + self.family_bias_)
        L = Z @ self.gen_coef_.T + self.gen_bias_  # (N, G) logits, a softmax within each family
        p_gen = np.empty_like(L)
        for f in range(len(self.families)):
            members = self.class_family == f
            p_gen[:, members] = _softmax(L[:, members])
        return p_family, p_gen

    def answer(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """The hierarchical answer per row: ``family`` (index), ``p_family``, ``cls`` (class index of the most
        probable generator of that family), ``score`` (its joint probability) and ``joint`` (N, G)."""
        p_family, p_gen = self.proba(X)
        joint = p_family[:, self.class_family] * p_gen  # (N, G)
        fam = p_family.argmax(axis=1)
        masked = np.where(self.class_family[None, :] == fam[:, None], joint, -1.0)
        cls = masked.argmax(axis=1)
        rows = np.arange(len(X))
        return {"family": fam, "p_family": p_family[rows, fam], "cls": cls, "score": joint[rows, cls], "joint": joint}

    def state(self) -> dict[str, np.ndarray]:
        return {"mu": self.mu_, "sd": self.sd_, "family.coef": self.family_coef_, "family.bias": self.family_bias_,
                "generator.coef": self.gen_coef_, "generator.bias": self.gen_bias_}  # fmt: skip

    def load_state(self, s: dict[str, np.ndarray]) -> Hierarchy:
        self.mu_, self.sd_ = s["mu"], s["sd"]
        self.family_coef_, self.family_bias_ = s["family.coef"], s["family.bias"]
        self.gen_coef_, self.gen_bias_ = s["generator.coef"], s["generator.bias"]
        return self


def choose_threshold(known: np.ndarray, unknown: np.ndarray, known_rate: float | None = None) -> float:
    """The score under which the answer is ``unknown``, from held-out scores of known and unknown generators:
    the one that maximises Youden's J (share of known kept minus share of unknown kept), or with
    ``known_rate`` the one that keeps that share of the known."""
    known, unknown = np.asarray(known, np.float64), np.asarray(unknown, np.float64)
    if known_rate is not None:
        return float(np.quantile(known, 1.0 - known_rate))
    cands = np.unique(np.r_[known, unknown])
    kept_known = (known[None, :] >= cands[:, None]).mean(axis=1)
    kept_unknown = (unknown[None, :] >= cands[:, None]).mean(axis=1) if len(unknown) else 0.0
    return float(cands[int(np.argmax(kept_known - kept_unknown))])


# --- the attributor --------------------------------------------------------------------------------------------


class HierarchicalAttributor:
    """Family, then generator, then ``unknown`` below an open-set threshold (see the module docstring).

    ``fit`` returns self; learned state ends in ``_``; attributing before fitting raises
    :class:`~fakescope.types.NotFittedError`.
    """

    family = "hierarchical"
    extractors = ("clip", "dct")
    summary = ("Hierarchical attribution: family, then generator, on CLIP ViT-B/16 + log-DCT features (linear "
               "heads), with 'unknown' below a threshold fitted on generators held out inside the training data")

    def __init__(self, name: str, **config):
        self.name = name
        self.config = AttributionConfig.from_kwargs(**config)

    @property
    def preprocessing(self) -> str:
        from ..detectors.dct import DCT_PREPROCESSING
        from ..detectors.univfd import CLIP_PREPROCESSING

        cells = self.config.dct_cells
        return (f"CLIP: {CLIP_PREPROCESSING}. DCT: {DCT_PREPROCESSING}; block average to {cells}x{cells}. "
                "Both concatenated and standardised with the training mean and deviation")  # fmt: skip

    # --- features ----------------------------------------------------------------------------------------------
    def design(self, feats: dict[str, np.ndarray]) -> np.ndarray:
        """Extractor outputs -> the (N, 512 + cells^2) feature matrix."""
        dct = np.asarray(feats["dct"], dtype=np.float32)  # (N, 128, 128) log spectra
        return np.concatenate([np.asarray(feats["clip"], np.float32), pool_spectrum(dct, self.config.dct_cells)], axis=1)

    def featurize(self, images: Sequence) -> np.ndarray:
        """Features of in-memory images (PIL, or :class:`~fakescope.features.extract.Prepared` views)."""
        return self.design({name: np.asarray(EXTRACTORS[name].apply(list(images))) for name in self.extractors})

    def features_of(self, manifest: Manifest, view: str = "clean", **kw) -> tuple[np.ndarray, np.ndarray]:
        """``(X, ok)`` of every image of ``manifest`` under ``view``, through the feature cache."""
        from ..extraction import extract

        feats, ok = extract(manifest, list(self.extractors), view=view, **kw)
        return self.design(feats), ok

    def training_rows(self, manifest: Manifest) -> Manifest:
        """The images an attributor learns from: real and generated ones, and partial edits if configured."""
        return manifest.subset(lambda s: s.label in ("real", "fake") or (self.config.include_partial and
                                                                         s.label == "partial"))  # fmt: skip

    def views(self) -> list[str]:
        return ["clean"] + [f"aug{i}" for i in range(self.config.n_aug)]

    # --- training -------------------------------------------------------------------------------------------------
    def fit(self, manifest: Manifest, log: Callable[[str], None] = lambda m: None, **extract_kw) -> HierarchicalAttributor:
        """Train on a manifest (its ``family`` and ``generator`` columns); returns self."""
        t0 = time.time()
        data = self.training_rows(manifest)
        blocks = []
        for view in self.views():
            log(f"{self.name}: features ({view}) of {len(data)} images")
            blocks.append(self.features_of(data, view, **extract_kw))
        self.fit_arrays([target_of(s) for s in data], blocks, [s.source or "(none)" for s in data],
                        data.pair_keys(), log=log)  # fmt: skip
        self.trained_on_.update({
            "sources": dict(sorted(Counter(s.source for s in data).items())),
            # Weights trained on data inherit its terms; several research sets are non-commercial.
            "data_licences": dict(sorted(Counter(s.license or "not stated" for s in data).items())),
            "seconds": round(time.time() - t0, 1),
        })  # fmt: skip
        return self

    def fit_arrays(self, targets: list[tuple[str, str]], blocks: list[tuple[np.ndarray, np.ndarray]],
                   sources: list[str], units: list[str], open_set: bool = True,
                   classes: list[tuple[str, str]] | None = None,
                   log: Callable[[str], None] = lambda m: None) -> HierarchicalAttributor:  # fmt: skip
        """Train on precomputed features; returns self.

        Args:
            targets: ``(family, generator)`` of each image (:func:`target_of`).
            blocks: ``(X (N, D), ok (N,))`` per view, the clean view first; rows are images.
            sources: each image's source (for the sample weights).
            units: each image's pair key (a real image and its aligned counterparts are held out together).
            open_set: fit the unknown threshold (else no image is ever called unknown).
            classes: the ``(family, generator)`` classes, when decided elsewhere (an evaluation decides them
                once on all its data); default: the targets with at least ``min_images`` readable images.
        """
        cfg = self.config
        ok0 = blocks[0][1]
        counts = Counter(t for t, ok in zip(targets, ok0) if ok)
        if classes is None:
            classes = sorted(t for t, n in counts.items() if n >= cfg.min_images)
        else:
            classes = sorted({tuple(c) for c in classes} & set(counts))
        if len(classes) < 2:
            raise ValueError(f"attribution needs at least two classes with {cfg.min_images} images or more "
                             f"(min_images); got {dict(counts)}")  # fmt: skip
        class_set = set(classes)
        rows = np.flatnonzero(np.array([t in class_set for t in targets]) & ok0)
        self.hierarchy_ = self._fit_hierarchy(classes, rows, targets, blocks, sources)
        log(f"{self.name}: {len(classes)} classes in {len(self.hierarchy_.families)} families fitted")
        self.threshold_, self.open_set_ = 0.0, {"threshold": None, "why": "not fitted (open_set=False)"}
        if open_set:
            self._fit_open_set(classes, targets, blocks, sources, units, log)
        rare = {t: n for t, n in counts.items() if t not in class_set}
        self.trained_on_ = {
            "images": int(len(rows)),
            "views": self.views()[: len(blocks)],
            "classes": {class_name(t): counts[t] for t in classes},
            "families": dict(sorted(Counter(t[0] for t, ok in zip(targets, ok0) if ok and t in class_set).items())),
        }
        rare_note = (f"{sum(rare.values())} images of {len(rare)} generators that are not classes (fewer than "
                     f"{cfg.min_images} images: {', '.join(sorted(map(class_name, rare)))}); " if rare else "")  # fmt: skip
        self.not_trained_on_ = rare_note + "any generator not among the classes: expect 'unknown' or a near family"
        return self

    def _fit_hierarchy(self, classes, rows, targets, blocks, sources) -> Hierarchy:
        index = {t: i for i, t in enumerate(classes)}
        X = np.concatenate([X[rows][ok[rows]] for X, ok in blocks])
        y = np.concatenate([np.array([index[targets[i]] for i in rows])[ok[rows]] for _, ok in blocks])
        src = np.concatenate([np.asarray(sources)[rows][ok[rows]] for _, ok in blocks])
        return Hierarchy(classes, self.config.C).fit(X, y, src)

    def _fit_open_set(self, classes, targets, blocks, sources, units, log) -> None:
        """The unknown threshold, from leave-generators-out folds inside the training data."""
        cfg = self.config
        X0, ok0 = blocks[0]
        names = np.array([class_name(t) for t in targets])
        class_set = set(classes)
        is_class = np.array([t in class_set for t in targets]) & ok0
        fake_rows = np.flatnonzero(np.array([t[0] != REAL for t in targets]) & ok0)
        fake_names = sorted(set(names[fake_rows]))
        if len(fake_names) < 2:
            self.open_set_ = {"threshold": None, "why": "fewer than two generators to hold out"}
            return
        gen_folds = group_kfold(list(names[fake_rows]), cfg.inner_folds, seed=cfg.seed)
        class_rows = np.flatnonzero(is_class)
        k_known = max(2, round(1 / cfg.known_share))
        known_folds = stratified_unit_folds(list(names[class_rows]), [units[i] for i in class_rows], k_known,
                                            seed=cfg.seed)  # fmt: skip
        known_scores, unknown_scores, folds = [], [], []
        for f, held_idx in enumerate(gen_folds):
            held = set(names[fake_rows[held_idx]])
            unknown = fake_rows[held_idx]
            known = np.setdiff1d(class_rows[known_folds[f % len(known_folds)]],
                                 np.flatnonzero(np.isin(names, list(held))))  # fmt: skip
            train = np.setdiff1d(class_rows, np.r_[known, unknown])
            train_classes = sorted({targets[i] for i in train})
            if len(train_classes) < 2 or not len(known):
                continue
            h = self._fit_hierarchy(train_classes, train, targets, blocks, sources)
            known_scores.append(h.answer(X0[known])["score"])
            unknown_scores.append(h.answer(X0[unknown])["score"])
            folds.append({"held_out": sorted(held), "known_images": int(len(known)), "unknown_images": int(len(unknown))})
            log(f"{self.name}: open-set fold {f + 1}/{len(gen_folds)}: {len(held)} generators held out")
        if not folds:
            self.open_set_ = {"threshold": None, "why": "no fold left two classes to train on"}
            return
        k, u = np.concatenate(known_scores), np.concatenate(unknown_scores)
        self.threshold_ = choose_threshold(k, u, cfg.known_rate)
        self.open_set_ = {
            "score": "probability of the answered generator (family first, then generator)",
            "threshold": round(self.threshold_, 6),
            "rule": "Youden's J" if cfg.known_rate is None else f"keeps {cfg.known_rate:.0%} of known images",
            "auroc_inner": round(safe_auc(np.r_[np.ones(len(k)), np.zeros(len(u))], np.r_[k, u]), 4),
            "known_kept_inner": round(float((k >= self.threshold_).mean()), 4),
            "unknown_caught_inner": round(float((u < self.threshold_).mean()), 4),
            "folds": folds,
            "fitted_on": "leave-generators-out folds of the training data only",
        }

    # --- inference -----------------------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "hierarchy_"):
            raise NotFittedError(f"attributor {self.name!r} is not fitted; train it or load a trained one")

    @property
    def classes_(self) -> list[tuple[str, str]]:
        self._check_fitted()
        return self.hierarchy_.classes

    def answer(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Vectorised answers for a feature matrix: :meth:`Hierarchy.answer` plus ``unknown`` (bool, N)."""
        self._check_fitted()
        out = self.hierarchy_.answer(X)
        out["unknown"] = out["score"] < self.threshold_
        return out

    def attribute_features(self, X: np.ndarray) -> list[Attribution]:
        a = self.answer(X)
        h = self.hierarchy_
        result = []
        for i in range(len(X)):
            family = h.families[a["family"][i]]
            unknown = bool(a["unknown"][i])
            top = np.argsort(-a["joint"][i])[:3]
            result.append(Attribution(
                family=family, generator=UNKNOWN if unknown else h.classes[a["cls"][i]][1],
                attribution_p=float(a["p_family"][i] if unknown else a["score"][i]), p_family=float(a["p_family"][i]),
                score=float(a["score"][i]),
                top=[(*h.classes[c], round(float(a["joint"][i, c]), 6)) for c in top]))  # fmt: skip
        return result

    def attribute(self, images: Sequence) -> list[Attribution]:
        """Attributions of decoded images (PIL, or the views a scan prepared)."""
        self._check_fitted()
        return self.attribute_features(self.featurize(images)) if len(images) else []

    def __call__(self, inputs) -> list[dict]:
        """Pipeline call: a path, a PIL image, or a list of either -> one row per input (``error`` set, the rest
        empty, for a file that cannot be read)."""
        from ..io import ImageLoadError, open_image

        items = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        rows: list[dict] = []
        images, where = [], []
        for i, item in enumerate(items):
            path = f"<image {i}>" if isinstance(item, Image.Image) else str(item)
            rows.append({"path": path, "family": None, "generator": None, "attribution_p": None, "error": None})
            try:
                img = item.convert("RGB") if isinstance(item, Image.Image) else open_image(item)[0]
            except ImageLoadError as exc:
                rows[-1]["error"] = exc.reason
                continue
            images.append(img)
            where.append(i)
        for i, a in zip(where, self.attribute(images)):
            rows[i].update(a.row(), p_family=round(a.p_family, 6), top=[list(t) for t in a.top])
        return rows

    # --- persistence -----------------------------------------------------------------------------------------------
    @property
    def card(self) -> Card:
        from ..weights import WEIGHTS

        upstream = [WEIGHTS[w] for name in self.extractors for w in EXTRACTORS[name].weights]
        classes = [list(c) for c in self.hierarchy_.classes] if hasattr(self, "hierarchy_") else []
        return Card(
            name=self.name, family=self.family, summary=self.summary, preprocessing=self.preprocessing,
            config={**asdict(self.config), "classes": classes}, training_data=getattr(self, "trained_on_", {}),
            not_trained_on=getattr(self, "not_trained_on_", ""), metrics=getattr(self, "metrics_", {}),
            calibration={"open_set": getattr(self, "open_set_", {})},
            licence=("fakescope heads: Apache-2.0; " + "".join(f"{w.licence}; " for w in upstream)
                     + "the training images keep their own terms (training_data.data_licences), some of them "
                     "non-commercial: check them before any commercial use"),
            upstream_weights=[f"{w.name} ({w.package}=={w.version})" for w in upstream], paper=PAPER,
        )  # fmt: skip

    def save(self, directory: str | Path) -> Path:
        """Write ``card.json`` and ``weights.npz`` (plain arrays); see :mod:`fakescope.saved`."""
        from ..saved import write

        self._check_fitted()
        arrays = self.hierarchy_.state() | {"open_set.threshold": np.array([self.threshold_], np.float64)}
        return write(directory, "attributor", self.name, asdict(self.config), self.card, arrays)

    def restore(self, saved) -> HierarchicalAttributor:
        """Take the fitted state of a saved attributor (called by :func:`fakescope.saved.load`)."""
        from ..saved import arrays

        state = arrays(saved)
        card = saved.card
        self.hierarchy_ = Hierarchy([tuple(c) for c in card.config["classes"]], self.config.C).load_state(state)
        self.threshold_ = float(state["open_set.threshold"][0])
        self.open_set_ = card.calibration.get("open_set", {})
        self.trained_on_, self.not_trained_on_, self.metrics_ = card.training_data, card.not_trained_on, card.metrics
        return self

    def settings(self) -> dict[str, type]:
        """Every setting ``--set`` can give, and its type."""
        from ..types import field_types

        return field_types(AttributionConfig)


@register("hierarchical", "family, then generator, with 'unknown' fitted on held-out generators (CLIP + DCT)",
          kind="attributor")  # fmt: skip
def hierarchical(**config) -> HierarchicalAttributor:
    return HierarchicalAttributor("hierarchical", **config)
