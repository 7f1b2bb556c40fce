"""The shared machinery of detectors built as *frozen features -> head -> calibration*.

Training recipe (the same for every such detector, so comparisons are fair):

1. Features of each training image, clean and under ``n_aug`` random
   augmentations (crop, down-scale, blur, JPEG), so that every class is seen
   in every format and size.
2. Sample weights that balance sources within each class, so that one large
   source cannot define what "real" or "fake" looks like.
   Pairs linked by the manifest (a real image and its aligned counterparts,
   column ``pair``) get the same augmentation draw in every ``aug<i>`` view,
   stay in the same cross-fitting fold, and reach a network head as one unit
   (same batch, same flip and batch augmentation).
3. Cross-fitting: the head is refitted ``calib_folds`` times with a fold of
   the training data held out; the held-out scores choose among the head's
   candidate settings and fit a Platt calibrator. Nothing of the evaluation
   data is used.
4. The final head is fitted on all training data.
"""

from __future__ import annotations

import inspect
import itertools
import time
import typing
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..data.manifest import Manifest
from ..data.splits import group_kfold, group_of, stratified_folds, stratified_unit_folds
from ..extraction import extract
from ..features.extract import EXTRACTORS
from ..io import ImageLoadError, open_image
from ..metrics import safe_auc as _auc
from ..train.bank import SCALE, EmbeddingBank
from ..train.calibration import PlattCalibrator, balanced_weights
from ..train.recipe import paired_mask, source_groups, source_weights
from ..types import Card, NotFittedError, Verdict, field_types, strict_config
from .heads import Head


@dataclass
class TrainConfig:
    """How a frozen-feature detector is trained. Unknown keys are errors."""

    n_aug: int = 2  # augmented copies per image; 0 trains on clean pixels only (shortcut-prone)
    calib_folds: int = 5  # folds for cross-fitted calibration and head selection
    # "stratified": validation folds drawn across all training sources (the
    # usual held-out calibration). "source": whole sources held out, which
    # calibrates for unseen sources but needs several sizeable sources of each
    # class; with few, its out-of-source scores are too noisy to fit on.
    # "holdout": one stratified fold (1/calib_folds) is held out, and the head
    # trained on the rest is kept (no refit): one training per fit, for heads
    # that are expensive to train (end-to-end networks).
    # "loso": one fold per source (leave-one-source-out): the score-to-probability
    # map is learnt where the model is out of its depth, as on users' images.
    # "logo": one fold per generator (leave-generators-out; real images by source).
    # With "source", "loso" or "logo", the same held-out scores also fit the verdict sets
    # (conformal, at the level ``error``) and the out-of-distribution abstention.
    calibration: str = "stratified"
    # Conformal error level (each class covered with probability >= 1 - error) and how the held-out
    # sources make the thresholds ("balanced", "per-source"; see train.conformal). With error None
    # or conformal "auto", they are chosen on the held-out scores so that confident verdicts are at
    # least ``confident_accuracy`` right while answering as many images as that allows.
    error: float | None = None
    conformal: str = "auto"
    confident_accuracy: float = 0.9
    ood_share: float = 0.05  # share of held-out-source images the distance abstention would call far
    # "paired": train only on sources that hold both real and fake images. In a
    # source with one class, a model can learn the source (its content, camera,
    # pipeline) instead of generation traces; within a paired source it cannot.
    # In docs/BENCHMARKS.md (leave-one-source-out, matched processing) it is
    # far better for DCT features and on a par for CLIP features. Both members
    # of a linked pair (a real image and its counterpart, manifest column
    # "pair") are paired data too, whatever their sources. "all" uses every source.
    sources: str = "paired"
    balance_sources: bool = True
    include_partial: bool = False  # partial edits are a localisation problem, not a global one
    seed: int = 0
    unsure_band: tuple[float, float] = (0.3, 0.7)

    @classmethod
    def from_kwargs(cls, **kw) -> TrainConfig:
        return strict_config(cls, "training", **kw)


#: key of the out-of-distribution bank in a saved detector's weights file
ABSTENTION_BANK = "abstention.bank"
#: keys of the held-out probabilities, labels and sources the verdict sets were fitted on (kept, so that a
#: user can ask for another error level: :meth:`FeatureDetector.set_error`)
HELD_OUT = ("conformal.p", "conformal.y", "conformal.groups")


class FeatureDetector:
    """A detector made of named feature extractors, a head and a calibrator.

    Subclasses set ``family``, ``extractors``, ``preprocessing`` and ``head_type``
    (the :class:`~fakescope.detectors.heads.Head` they train) and implement
    :meth:`design` (extractor outputs -> head input).
    """

    family = "feature"
    extractors: tuple[str, ...] = ()
    preprocessing = ""
    summary = ""
    paper = ""
    monotone_calibration = False  # True: the score's direction is fixed a priori (training-free scores)
    # True: the fixed-direction score itself is learned (a model fitted on the training data), so it has no raw,
    # untrained value for the benchmark's training-free scores
    score_needs_fit = False
    head_type: type | None = None  # the Head class make_head builds; its __init__ arguments are the head settings
    pairs_in_batches = False  # True: the head trains in batches and takes the pair unit of each row (``pairs``)

    def __init__(self, name: str, head_params: dict | None = None, **train):
        self.name = name
        self.head_params = dict(head_params or {})
        self.train_config = TrainConfig.from_kwargs(**train)

    # --- to be provided by each family -----------------------------------------
    def design(self, feats: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def make_head(self, params: dict) -> Head:
        if self.head_type is None:
            raise NotImplementedError(f"{type(self).__name__} sets no head_type")
        return self.head_type(**params)

    def head_candidates(self) -> list[dict]:
        """Head settings to choose from: a list value in ``head_params`` is a grid."""
        keys = list(self.head_params)
        grids = [v if isinstance(v, list) else [v] for v in self.head_params.values()]
        return [dict(zip(keys, combo)) for combo in itertools.product(*grids)] or [{}]

    def builder_kw(self) -> dict:
        """Keyword arguments of the registered builder that are not head or training settings."""
        return {}

    # --- features ----------------------------------------------------------------
    def featurize(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Head input for in-memory images (no cache, no augmentation)."""
        return self.design_features({name: np.asarray(EXTRACTORS[name].apply(list(images)))
                                     for name in self.extractors})  # fmt: skip

    def design_features(self, feats: dict[str, np.ndarray]) -> np.ndarray:
        """Head input from the extractors' outputs (``{name: (N, ...)}``), however they were computed."""
        return self.design(feats)

    def features_of(self, manifest: Manifest, view: str = "clean", **kw) -> tuple[np.ndarray, np.ndarray]:
        feats, ok = extract(manifest, list(self.extractors), view=view, **kw)
        return self.design(feats), ok

    # --- training ----------------------------------------------------------------
    def fit(self, manifest: Manifest, matched: str | None = None, log: Callable[[str], None] = lambda m: None,
            **extract_kw) -> FeatureDetector:
        """Train on a manifest; returns self.

        Args:
            manifest: training images with labels.
            matched: train on matched-processed pixels (a ``Matched.tag``) instead
                of the clean+augmented recipe.
            log: receives progress lines.
        """
        cfg = self.train_config
        t0 = time.time()
        train = manifest.subset(lambda s: cfg.include_partial or s.label != "partial")
        if cfg.sources == "paired":
            train = train.subset(np.flatnonzero(paired_mask(train)))
        elif cfg.sources != "all":
            raise ValueError(f"sources must be 'paired' or 'all', not {cfg.sources!r}")
        if len(train.counts("is_fake")) < 2:
            raise ValueError(
                f"training data needs both real and fake images (sources={cfg.sources!r}); "
                f"got {dict(train.counts('label'))}"
            )
        views = [matched] if matched else ["clean"] + [f"aug{i}" for i in range(cfg.n_aug)]
        blocks = []
        for view in views:
            X, ok = self.features_of(train, view, **extract_kw)
            blocks.append((X, ok))
        y = np.array([s.is_fake for s in train], dtype=np.int64)
        w = source_weights(train) if cfg.balance_sources else np.ones(len(train))
        pair_keys = train.pair_keys()
        linked = any(s.pair for s in train)
        groups = source_groups(train, pair_keys)
        # One unit per pair and view: the rows a network head keeps in one batch with one augmentation.
        units = np.array([f"{v}|{k}" for v in range(len(blocks)) for k in pair_keys])

        def stack(idx):
            Xs = np.concatenate([X[idx][ok[idx]] for X, ok in blocks])
            ys = np.concatenate([y[idx][ok[idx]] for _, ok in blocks])
            ws = np.concatenate([w[idx][ok[idx]] for _, ok in blocks])
            us = np.concatenate([units[v * len(train) + idx][ok[idx]] for v, (_, ok) in enumerate(blocks)])
            return Xs, ys, ws, us

        def fit_head(params, stacked):
            Xs, ys, ws, us = stacked
            together = {"pairs": us} if linked and self.pairs_in_batches else {}
            return self.make_head(params).fit(Xs, ys, ws, **together)

        # Cross-fitting: every candidate head is scored on held-out folds of
        # the training data; the best candidate (by held-out AUC) is kept, and
        # its held-out scores fit the calibrator.
        X0, ok0 = blocks[0]
        out_of_source = cfg.calibration in ("source", "loso", "logo")
        # Out of source, the images of sources the head does not train on (single-class sources under the
        # paired recipe) are held out too: scored by heads trained on all the training sources, they show
        # how the score behaves on sources it never saw, as users' images are.
        trained_sources = {s.source for s in train}
        extra = manifest.subset(lambda s: s.label != "partial" and s.source not in trained_sources) if (
            out_of_source and len(train) < len(manifest)) else Manifest([], root=manifest.root)  # fmt: skip
        # Leave-generators-out: each generator's fakes held out in turn (real images by source).
        fold_groups = [group_of(s, "generator") for s in train] if cfg.calibration == "logo" else groups
        pool, groups_pool = train, list(fold_groups)  # the held-out groups, for the conformal sets too
        if len(extra):
            Xe, oke = self.features_of(extra, views[0], **extract_kw)
            X0, ok0 = np.concatenate([X0, Xe]), np.concatenate([ok0, oke])
            pool = Manifest([*train, *extra], root=manifest.root)
            groups_pool += [s.source or "(none)" for s in extra]
        y_pool = np.array([s.is_fake for s in pool], dtype=np.int64)
        candidates = self.head_candidates()
        oof = np.full((len(candidates), len(pool)), np.nan)
        folds = self._cross_fit_folds(fold_groups, y, pair_keys if linked else None)
        if len(extra):
            folds.append(np.arange(len(train), len(pool)))
        fold_heads: dict[int, Head] = {}
        for f, test_idx in enumerate(folds):
            train_idx = np.setdiff1d(np.arange(len(train)), test_idx)
            stacked = stack(train_idx)
            if len(set(stacked[1])) < 2:
                continue
            keep = test_idx[ok0[test_idx]]
            for c, params in enumerate(candidates):
                head = fit_head(params, stacked)
                oof[c, keep] = head.decision(X0[keep])
                if cfg.calibration == "holdout":
                    fold_heads[c] = head
            log(f"{self.name}: cross-fitting fold {f + 1}/{len(folds)} done")
        have = ~np.isnan(oof[0])
        scores = [_auc(y_pool[have], o[have]) for o in oof]
        best = int(np.argmax(scores))
        self.head_params_ = candidates[best]
        # Held out by source, the direction of the score is fixed in advance: a map that flips it on unseen
        # sources (seen with paired sources) would be confidently wrong, so the slope may not turn negative.
        g_pool = np.asarray(groups_pool)
        # Out of source: even odds, each held-out source weighing the same (see ``balanced_weights``).
        weights = balanced_weights(y_pool[have], g_pool[have]) if out_of_source else None
        self.calibrator_ = PlattCalibrator().fit(oof[best, have], y_pool[have], weights=weights,
                                                 monotone=self.monotone_calibration or out_of_source)  # fmt: skip
        # The held-out probabilities, for an ensemble that calibrates its fusion the same way (not saved).
        self.held_out_ = {"keys": [pool[i].key for i in np.flatnonzero(have)], "p": self.calibrator_(oof[best, have]),
                          "y": y_pool[have], "groups": g_pool[have], "view": views[0],
                          "trained_on": np.flatnonzero(have) < len(train)}  # fmt: skip
        if out_of_source:
            bank = np.flatnonzero(ok0[: len(train)])  # distances are to the images the head trains on
            others = len(train) + np.flatnonzero(ok0[len(train):])
            self._fit_reliability(self.held_out_["p"], y_pool[have], g_pool[have],
                                  self.abstention_features(X0[bank]), g_pool[bank],
                                  self.abstention_features(X0[others]) if len(others) else None)  # fmt: skip
        if cfg.calibration == "holdout":
            self.head_ = fold_heads[best]  # trained on all but the held-out fold
        else:
            self.head_ = fit_head(self.head_params_, stack(np.arange(len(train))))
        self.trained_on_ = {
            "images": int(ok0.sum()),
            "rows_with_augmentation": int(sum(ok.sum() for _, ok in blocks)),
            "views": views,
            "labels": dict(train.counts("label")),
            "sources": dict(sorted(Counter(s.source for s in train).items())),
            "families": dict(sorted(Counter(s.family or "real" for s in train).items())),
            # Weights trained on data inherit its terms; several research sets are non-commercial.
            "data_licences": dict(sorted(Counter(s.license or "not stated" for s in train).items())),
            "seconds": round(time.time() - t0, 1),
        }
        excluded = sorted({s.source for s in manifest} - {s.source for s in train})
        self.not_trained_on_ = "; ".join(
            part
            for part in (
                f"sources absent from the training data (recipe '{cfg.sources}'; partial-only sources drop out "
                f"with the partial images): {', '.join(excluded)}" if excluded else "",
                "partial (locally edited) images" if not cfg.include_partial else "",
                "any generator, camera, editing tool or post-processing not listed under training_data",
            )
            if part
        )
        self.calibration_ = {
            **self.calibrator_.to_dict(),
            "fitted_on": (
                f"held-out scores of 1/{cfg.calib_folds} of the training images (stratified); the head kept "
                "was trained on the other images"
                if cfg.calibration == "holdout"
                else f"held-out scores of the training images ({len(folds) - bool(len(extra))} {cfg.calibration} "
                "folds)" + (f", and of {len(extra)} images of {len(set(groups_pool[len(train):]))} sources left "
                            f"out of training (recipe '{cfg.sources}') scored by heads trained on every training "
                            "source" if len(extra) else "")
            ),
            "head_selection": [{"params": c, "held_out_auc": a} for c, a in zip(candidates, scores)],
        }
        if out_of_source:
            a = self.abstention_
            self.calibration_["conformal"] = self.conformal_.to_dict() | (
                {"level_choice": self.level_choice_} if self.level_choice_ else {})  # fmt: skip
            self.calibration_["abstention"] = {"k": a.k, "beta": a.beta, "threshold": a.threshold_,
                                               "fitted_on": "leave-one-source-out distances of the training "
                                               "images (clean view, the head's input)"}  # fmt: skip
        log(f"{self.name}: trained in {time.time() - t0:.0f}s")
        return self

    def _cross_fit_folds(self, groups: list[str], y: np.ndarray,
                         pair_keys: list[str] | None = None) -> list[np.ndarray]:  # fmt: skip
        """Held-out folds of the training images. With ``pair_keys`` (given when the manifest links pairs),
        the members of a pair stay in one stratified fold; they share a group (their real image's source)
        for the source folds anyway."""
        cfg = self.train_config
        if cfg.calibration == "source":
            return group_kfold(groups, cfg.calib_folds, seed=cfg.seed)
        if cfg.calibration in ("loso", "logo"):
            names = np.asarray(groups)
            return [np.flatnonzero(names == g) for g in sorted(set(groups))]
        if cfg.calibration in ("stratified", "holdout"):
            strata = [f"{g}|{label}" for g, label in zip(groups, y)]
            if pair_keys is not None:
                folds = stratified_unit_folds(strata, pair_keys, cfg.calib_folds, seed=cfg.seed)
            else:
                folds = stratified_folds(strata, cfg.calib_folds, seed=cfg.seed)
            return folds[:1] if cfg.calibration == "holdout" else folds
        raise ValueError(f"calibration must be 'stratified', 'holdout', 'source', 'loso' or 'logo', not "
                         f"{cfg.calibration!r}")  # fmt: skip

    def _fit_reliability(self, p_held, y_held, g_held, X, g, elsewhere=None) -> None:
        """Verdict sets and distance abstention from images of sources the scorer did not train on
        (``X``, ``g``: the training embeddings and their sources; ``elsewhere``: embeddings of sources left
        out of training)."""
        from ..train.conformal import LEVELS, METHODS, ConformalVerdicts, DistanceAbstention, choose_level

        cfg = self.train_config
        self.conformal_scores_ = (np.asarray(p_held, np.float64), np.asarray(y_held, np.int64),
                                  np.asarray(g_held, dtype=str))  # fmt: skip
        if cfg.error is not None and cfg.conformal != "auto":
            self.conformal_ = ConformalVerdicts(alpha=cfg.error, method=cfg.conformal).fit(p_held, y_held, g_held)
            self.level_choice_ = None
        else:
            self.conformal_, self.level_choice_ = choose_level(
                p_held, y_held, g_held, target=cfg.confident_accuracy,
                levels=LEVELS if cfg.error is None else (cfg.error,),
                methods=tuple(METHODS) if cfg.conformal == "auto" else (cfg.conformal,))  # fmt: skip
        self.abstention_ = DistanceAbstention(beta=cfg.ood_share).fit(X, g, elsewhere)

    def set_error(self, error: float, method: str | None = None) -> None:
        """Verdict sets at another error level (and method), refitted on the same held-out scores.

        Raises:
            ValueError: the detector was not calibrated out of source (it has no verdict sets), or the
                level is not in (0, 1).
        """
        if not hasattr(self, "conformal_scores_"):
            raise ValueError(f"detector {self.name!r} has no verdict sets to set an error level for: it was not "
                             "calibrated out of source (train it with --set calibration=loso)")  # fmt: skip
        from ..train.conformal import ConformalVerdicts

        method = method or self.conformal_.method
        self.conformal_ = ConformalVerdicts(alpha=float(error), method=method).fit(*self.conformal_scores_)
        self.level_choice_ = None

    def reliability_arrays(self) -> dict[str, np.ndarray]:
        """What the verdict sets and the abstention need saved beside the card."""
        out = {}
        if hasattr(self, "abstention_"):
            out.update(self.abstention_.bank_.arrays(ABSTENTION_BANK))
        if hasattr(self, "conformal_scores_"):
            out.update(zip(HELD_OUT, self.conformal_scores_))
        return out

    def abstention_features(self, X: np.ndarray) -> np.ndarray:
        """The embedding whose distance to the training images decides out-of-distribution abstention
        (the head's input, flattened)."""
        return X.reshape(len(X), -1)

    def reliability(self, X: np.ndarray, p: np.ndarray) -> list[dict]:
        """Per image: the conformal verdict set and whether the image lies far from the training data
        (``None`` entries when the detector was not calibrated out of source)."""
        sets = self.conformal_.sets(p) if hasattr(self, "conformal_") else [None] * len(p)
        if hasattr(self, "abstention_"):
            far, dist = self.abstention_.far(self.abstention_features(X))
        else:
            far, dist = [None] * len(p), [None] * len(p)
        return [{"verdict_set": s, "far": None if f is None else bool(f), "distance": None if d is None else float(d)}
                for s, f, d in zip(sets, far, dist)]  # fmt: skip

    # --- inference -----------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "head_"):
            raise NotFittedError(f"detector {self.name!r} is not fitted; train it or load trained weights")

    def decision(self, X: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return self.head_.decision(X)

    def proba_from_features(self, X: np.ndarray) -> np.ndarray:
        return self.calibrator_(self.decision(X))

    def predict_proba(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Calibrated P(generated or manipulated) per image, shape (N,)."""
        self._check_fitted()
        if not len(images):
            return np.zeros(0)
        return self.proba_from_features(self.featurize(images))

    def assess(self, images: Sequence[Image.Image]) -> tuple[np.ndarray, list[dict]]:
        """``(p_fake, reliability)`` per image: the calibrated probability and, from the same features,
        the verdict set and distance to the training data (see :meth:`reliability`)."""
        self._check_fitted()
        if not len(images):
            return np.zeros(0), []
        X = self.featurize(images)
        p = self.proba_from_features(X)
        return p, self.reliability(X, p)

    def assess_features(self, feats: dict[str, np.ndarray]) -> tuple[np.ndarray, list[dict]]:
        """:meth:`assess` from features computed elsewhere (e.g. on a GPU: ``fakescope.engines.gpu``):
        the same heads, calibration and reliability on ``{extractor name: (N, ...) array}``."""
        self._check_fitted()
        X = self.design_features(feats)
        p = self.proba_from_features(X)
        return p, self.reliability(X, p)

    def verdict_of(self, p: float) -> str:
        lo, hi = self.train_config.unsure_band
        return "fake" if p >= hi else "real" if p <= lo else "unsure"

    def judge(self, p: float, reliability: dict | None = None) -> tuple[str, list[str] | None, str]:
        """``(verdict, verdict set, reliability note)`` of one image from its probability and its
        :meth:`reliability` entry.

        Calibrated out of source, the verdict is the conformal set's (one class: that class; both or
        none: ``unsure``), and ``unsure`` for an image far from every training image whatever its score.
        Otherwise the verdict comes from the unsure band, and the note says that nothing more is promised.
        """
        verdict_set = (reliability or {}).get("verdict_set")
        if verdict_set is None:
            lo, hi = self.train_config.unsure_band
            return self.verdict_of(p), None, (f"unsure band {lo:g}-{hi:g} on a probability calibrated on the "
                                              "training sources; no out-of-source guarantee")  # fmt: skip
        level = self.conformal_.alpha
        verdict_set = list(verdict_set)
        if len(verdict_set) == 1:
            verdict = verdict_set[0]
            note = (f"confident: only '{verdict}' is consistent with images of unseen sources at error level "
                    f"{level:g}")  # fmt: skip
        elif verdict_set:
            verdict, note = "unsure", f"unsure: both verdicts are consistent at error level {level:g}"
        else:
            verdict, note = "unsure", f"unsure: neither verdict is consistent at error level {level:g}"
        if reliability.get("far"):
            verdict = "unsure"
            note = (f"unsure: far from every training image (distance {reliability['distance']:.3f} > "
                    f"{self.abstention_.threshold_:.3f}, which {1 - self.abstention_.beta:.0%} of images of "
                    "unseen sources stay under)")  # fmt: skip
        return verdict, verdict_set, note

    def __call__(self, inputs) -> list[Verdict]:
        """Pipeline call: a path, a PIL image, or a list of either -> verdicts."""
        items = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        out: list[Verdict | None] = [None] * len(items)
        images, where, infos = [], [], []
        for i, item in enumerate(items):
            if isinstance(item, Image.Image):
                images.append(item.convert("RGB"))
                infos.append((f"<image {i}>", None, item.size))
                where.append(i)
                continue
            try:
                img, info = open_image(item)
            except ImageLoadError as exc:
                out[i] = Verdict.failed(self, str(item), exc.reason)
                continue
            images.append(img)
            infos.append((str(item), info, None))
            where.append(i)
        probs, reliability = self.assess(images)
        for i, p, rel, (path, info, size) in zip(where, probs, reliability, infos):
            out[i] = Verdict.scored(self, path, p, info, size, reliability=rel)
        return out

    # --- persistence -----------------------------------------------------------------
    @property
    def card(self) -> Card:
        return Card(
            name=self.name,
            family=self.family,
            summary=self.summary,
            preprocessing=self.preprocessing,
            config={"head": getattr(self, "head_params_", self.head_params), "train": asdict(self.train_config),
                    "builder": self.builder_kw()},
            training_data=getattr(self, "trained_on_", {}),
            calibration=getattr(self, "calibration_", {}),
            unsure_band=self.train_config.unsure_band,
            metrics=getattr(self, "metrics_", {}),
            not_trained_on=getattr(self, "not_trained_on_", ""),
            upstream_weights=[f"{w.name} ({w.package}=={w.version})" for w in self.upstream()],
            paper=self.paper,
            licence=(
                "fakescope head: Apache-2.0; "
                + "".join(f"{lic}; " for lic in dict.fromkeys(w.licence for w in self.upstream()) if lic)
                + "the training images keep their own terms (training_data.data_licences), some of them "
                "non-commercial: check them before any commercial use"
            ),
        )

    def upstream(self) -> list:
        """The pretrained files the extractors read (:class:`~fakescope.weights.WeightFile`), in order."""
        from ..weights import WEIGHTS

        names = dict.fromkeys(w for name in self.extractors for w in EXTRACTORS[name].weights)
        return [WEIGHTS[w] for w in names]

    def init_kwargs(self) -> dict:
        """Keyword arguments that rebuild this detector, unfitted, through the registry."""
        return {"head_params": getattr(self, "head_params_", self.head_params), **self.builder_kw(),
                **asdict(self.train_config)}  # fmt: skip

    def save(self, directory: str | Path) -> Path:
        """Write ``card.json`` and ``weights.npz`` (plain arrays, no pickled code); see :mod:`fakescope.saved`."""
        from ..saved import write

        self._check_fitted()
        arrays = dict(self.head_.state()) | self.reliability_arrays()
        return write(directory, "detector", self.name, self.init_kwargs(), self.card, arrays)

    def restore(self, saved) -> FeatureDetector:
        """Take the fitted state of a saved detector (called by :func:`fakescope.saved.load`)."""
        from ..saved import arrays

        state = arrays(saved)
        kept = {k: state.pop(k) for k in (ABSTENTION_BANK, ABSTENTION_BANK + SCALE, *HELD_OUT) if k in state}
        self.head_params_ = saved.card.config.get("head", {})
        self.head_ = self.make_head(self.head_params_).load_state(state)
        cal = saved.card.calibration
        self.calibrator_ = PlattCalibrator.from_dict(cal)
        self._restore_reliability(cal, kept)
        self._restore_card(saved.card)
        return self

    def _restore_reliability(self, cal: dict, kept: dict[str, np.ndarray]) -> None:
        """Verdict sets and abstention from a saved card's calibration and the arrays saved for them."""
        from ..train.conformal import ConformalVerdicts, DistanceAbstention

        if all(k in kept for k in HELD_OUT):
            self.conformal_scores_ = tuple(kept[k] for k in HELD_OUT)
        if "conformal" in cal:
            self.conformal_ = ConformalVerdicts.from_dict(cal["conformal"])
        if ABSTENTION_BANK in kept and "abstention" in cal:
            self.abstention_ = DistanceAbstention(k=cal["abstention"]["k"], beta=cal["abstention"]["beta"])
            self.abstention_.bank_ = EmbeddingBank.from_arrays(kept, ABSTENTION_BANK)
            self.abstention_.threshold_ = float(cal["abstention"]["threshold"])

    def _restore_card(self, card: Card) -> None:
        self.calibration_ = card.calibration
        self.trained_on_ = card.training_data
        self.metrics_ = card.metrics
        self.not_trained_on_ = card.not_trained_on

    # --- settings ------------------------------------------------------------------------
    def head_settings(self) -> dict[str, type]:
        """The head's settings (``--set`` keys routed to ``head_params``) and their types."""
        hints = typing.get_type_hints(self.head_type.__init__) if self.head_type else {}
        params = inspect.signature(self.head_type).parameters if self.head_type else {}
        return {k: hints.get(k, str) for k in params if k not in ("self", "args", "kwargs")}

    def settings(self) -> dict[str, dict[str, type]]:
        """Every setting a user can give, by where it goes: ``train`` (:class:`TrainConfig`), ``head`` and
        ``builder`` (arguments of the registered builder, e.g. an ensemble's members)."""
        return {"train": field_types(TrainConfig), "head": self.head_settings(),
                "builder": {k: type(v) for k, v in self.builder_kw().items()}}  # fmt: skip


def load(directory: str | Path):
    """Load a detector saved by :meth:`FeatureDetector.save` (its family must be registered)."""
    from ..saved import load as load_saved

    return load_saved(directory, kind="detector")


__all__ = ["FeatureDetector", "TrainConfig", "load"]
