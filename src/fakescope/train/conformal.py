"""Verdict sets with a coverage guarantee that holds across sources, and abstention far from the training data.

**Conformal verdicts.** From calibrated probabilities of images whose *source* the model never saw
(cross-fitted, leave-one-source-out), a user-chosen error level ``alpha`` gives each class ``y`` a
threshold on the nonconformity ``1 - p_y``; the verdict set of an image is every class whose
nonconformity stays under its threshold: ``{real}``, ``{fake}``, or both (unsure). Thresholds are
label-conditional (Mondrian by class: each class is covered at ``1 - alpha``, not only on average) and
group-aware: each held-out source gives its own ``1 - alpha`` quantile, and the threshold is the
``1 - alpha`` quantile of those per-source quantiles, so a new source is covered as typical sources
are, not as the pooled images are (Vovk's Mondrian conformal prediction; a source-level variant of
the split method of Lei et al. 2018).

**Out-of-distribution abstention.** An image whose embedding lies farther from every training image
than held-out sources lay from the rest (mean cosine distance to its ``k`` nearest training embeddings
above the ``1 - beta`` quantile of such distances, measured leave-one-source-out) gets no confident
verdict, whatever its score: the model has never seen anything like it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bank import EmbeddingBank

CLASSES = ("real", "fake")


def _finite_quantile(x: np.ndarray, level: float) -> float:
    """The conformal quantile: the ceil((n + 1) level)-th smallest value (inf when n is too small)."""
    x = np.sort(np.asarray(x, dtype=np.float64))
    rank = int(np.ceil((len(x) + 1) * level))
    return float(x[rank - 1]) if 1 <= rank <= len(x) else float("inf")


def _balanced_quantile(x: np.ndarray, groups: np.ndarray, level: float) -> float:
    """The weighted conformal quantile with every group weighing the same (each image ``1 / size of its
    group``), plus the mass of one more image, of average weight, at infinity (Tibshirani et al. 2019)."""
    x, groups = np.asarray(x, np.float64), np.asarray(groups)
    _, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    w = 1.0 / sizes[inverse]
    order = np.argsort(x)
    x, w = x[order], w[order]
    total = w.sum() + w.mean()
    reached = np.flatnonzero(np.cumsum(w) >= level * total)
    return float(x[reached[0]]) if len(reached) else float("inf")


#: how the held-out sources make one threshold per class
METHODS = {
    "balanced": "label-conditional split conformal, each held-out source weighing the same",
    "per-source": "label-conditional split conformal, quantile of the per-source quantiles",
}


@dataclass
class ConformalVerdicts:
    """Label-conditional, source-aware split conformal prediction for real / fake.

    Fit it on held-out probabilities (images of sources the scorer did not train on). ``thresholds_``
    holds, per class, the largest nonconformity ``1 - p_class`` still admitted into a verdict set.

    ``method``: ``"balanced"`` pools the held-out images with every source weighing the same (a large
    source cannot set the threshold alone); ``"per-source"`` takes each source's own quantile and then
    the quantile of those, which promises coverage for a typical *source* but with fewer than about
    ``1 / alpha`` sources admits everything.
    """

    alpha: float = 0.1  # the error level a user accepts: each class is covered with probability >= 1 - alpha
    method: str = "balanced"

    def fit(self, p_fake: np.ndarray, y: np.ndarray, groups: list[str] | np.ndarray) -> ConformalVerdicts:
        """Args:
        p_fake: (N,) calibrated probabilities of held-out images.
        y: (N,) 1 = fake (generated or manipulated), 0 = real.
        groups: (N,) the source of each image.
        """
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), not {self.alpha}")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, not {self.method!r}")
        p_fake, y, groups = np.asarray(p_fake, float), np.asarray(y, int), np.asarray(groups)
        self.thresholds_, self.sources_per_class_ = {}, {}
        for label, name in enumerate(CLASSES):
            mine = y == label
            if not mine.any():
                raise ValueError(f"no held-out {name} images to calibrate the {name} verdict on")
            score = 1 - (p_fake[mine] if label else 1 - p_fake[mine])  # nonconformity of the true class
            self.sources_per_class_[name] = len(np.unique(groups[mine]))
            if self.method == "balanced":
                self.thresholds_[name] = min(1.0, _balanced_quantile(score, groups[mine], 1 - self.alpha))
                continue
            per_source = [_finite_quantile(score[groups[mine] == g], 1 - self.alpha) for g in np.unique(groups[mine])]
            finite = [q for q in per_source if np.isfinite(q)]
            # Sources too small for their own quantile count as admitting everything (conservative).
            levels = np.array(finite + [1.0] * (len(per_source) - len(finite)))
            self.thresholds_[name] = min(1.0, _finite_quantile(levels, 1 - self.alpha))
        return self

    def sets(self, p_fake: np.ndarray) -> list[tuple[str, ...]]:
        """The verdict set of each image: a tuple of class names (empty when neither class conforms)."""
        p_fake = np.asarray(p_fake, float)
        real_ok = (p_fake <= self.thresholds_["real"])  # nonconformity of "real" is p_fake
        fake_ok = (1 - p_fake <= self.thresholds_["fake"])
        return [tuple(c for c, ok in zip(CLASSES, pair) if ok) for pair in zip(real_ok, fake_ok)]

    @staticmethod
    def verdict(verdict_set: tuple[str, ...]) -> str:
        """``real`` or ``fake`` for a single-class set, else ``unsure``."""
        return verdict_set[0] if len(verdict_set) == 1 else "unsure"

    def to_dict(self) -> dict:
        return {"method": self.method, "description": METHODS[self.method], "alpha": self.alpha,
                "thresholds": self.thresholds_, "held_out_sources": self.sources_per_class_}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict) -> ConformalVerdicts:
        method = d.get("method", "per-source")
        c = cls(alpha=float(d["alpha"]), method=method if method in METHODS else "per-source")
        c.thresholds_ = {k: float(v) for k, v in d["thresholds"].items()}
        c.sources_per_class_ = dict(d.get("held_out_sources", {}))
        return c


#: error levels the automatic choice tries (with each method)
LEVELS = (0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4)


def choose_level(p_fake: np.ndarray, y: np.ndarray, groups, target: float = 0.9,
                 levels=LEVELS, methods=tuple(METHODS)) -> tuple[ConformalVerdicts, dict]:  # fmt: skip
    """The verdict sets that answer the most images while their confident verdicts stay at least
    ``target`` right on sources they were not fitted on.

    Each error level and method is judged by cross-conformal prediction over the held-out sources: the
    thresholds are fitted without one source and that source's images get their sets from them (a
    source that holds one class only is judged too). Among the settings whose confident verdicts reach
    ``target`` this way, the one answering the largest share wins (ties: the smaller error level); if
    none reaches it, the most accurate one that still answers at least 1% of the images is kept, and
    the record says the target was missed. The winner is then fitted on all held-out images. The
    choice uses the training data's held-out scores only; an evaluation must still judge it on sources
    the whole fit never saw.

    Returns:
        ``(fitted ConformalVerdicts, record)``, the record listing every candidate.
    """
    p_fake, y, groups = np.asarray(p_fake, float), np.asarray(y, int), np.asarray(groups)
    names = np.unique(groups)
    tried = []
    for method in methods:
        for level in levels:
            sets: list = [()] * len(y)
            for g in names:
                rest = groups != g
                if len(np.unique(y[rest])) < 2:
                    continue
                cv = ConformalVerdicts(alpha=level, method=method).fit(p_fake[rest], y[rest], groups[rest])
                for i, st in zip(np.flatnonzero(~rest), cv.sets(p_fake[~rest])):
                    sets[i] = st
            res = coverage(sets, y)
            tried.append({"method": method, "alpha": level, "answered": res["answered"],
                          "confident_accuracy": res["confident_accuracy"]})  # fmt: skip
    reach = [t for t in tried if t["answered"] > 0 and (t["confident_accuracy"] or 0) >= target]
    if reach:
        best = max(reach, key=lambda t: (t["answered"], -t["alpha"]))
    else:
        some = [t for t in tried if t["answered"] >= 0.01] or tried
        best = max(some, key=lambda t: ((t["confident_accuracy"] or 0), t["answered"]))
    record = {"target_confident_accuracy": target, "reached": bool(reach), "chosen": best,
              "judged_by": f"cross-conformal over {len(names)} held-out sources", "candidates": tried}  # fmt: skip
    fitted = ConformalVerdicts(alpha=best["alpha"], method=best["method"]).fit(p_fake, y, groups)
    return fitted, record


def coverage(sets: list[tuple[str, ...]], y: np.ndarray) -> dict:
    """How verdict sets did on labelled images: coverage per class, share answered with one class, and the
    accuracy of those confident answers."""
    y = np.asarray(y, int)
    truth = [CLASSES[v] for v in y]
    covered = np.array([t in s for s, t in zip(sets, truth)])
    single = np.array([len(s) == 1 for s in sets])
    right = np.array([len(s) == 1 and s[0] == t for s, t in zip(sets, truth)])
    out = {f"coverage_{c}": float(covered[y == i].mean()) if (y == i).any() else None for i, c in enumerate(CLASSES)}
    out["answered"] = float(single.mean())
    out["confident_accuracy"] = float(right[single].mean()) if single.any() else None
    return out


@dataclass
class DistanceAbstention:
    """Abstain where an embedding is farther from the training data than held-out sources were."""

    k: int = 5
    beta: float = 0.05  # share of held-out-source images that would be flagged as far

    @staticmethod
    def _unit(X):
        X = np.asarray(X, np.float32)
        return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)

    def distance(self, X: np.ndarray, bank: np.ndarray | None = None) -> np.ndarray:
        """Mean cosine distance of each row of ``X`` to its ``k`` nearest rows of ``bank`` (unit rows; default:
        the training bank)."""
        bank = self.bank_.values if bank is None else np.asarray(bank, np.float32)
        Xn, out = self._unit(X), np.empty(len(X))
        k = min(self.k, len(bank))
        for start in range(0, len(Xn), 512):
            d = 1 - Xn[start : start + 512] @ bank.T
            out[start : start + 512] = np.partition(d, k - 1, axis=1)[:, :k].mean(1)
        return out

    def fit(self, X: np.ndarray, groups: list[str] | np.ndarray, elsewhere: np.ndarray | None = None) -> DistanceAbstention:
        """Keep the training embeddings (int8 rows, :class:`~fakescope.train.bank.EmbeddingBank`) and set the
        threshold from leave-one-source-out distances: each source's images against the other sources' rows
        of the bank, and ``elsewhere`` (embeddings of sources the model does not train on) against all of
        them. The distances are to the quantised rows, as they will be when the bank is used."""
        X, groups = self._unit(X), np.asarray(groups)
        bank = EmbeddingBank.quantise(X)
        held = [] if elsewhere is None or not len(elsewhere) else [self.distance(elsewhere, bank.values)]
        for g in np.unique(groups):
            inside = groups == g
            if inside.all():
                continue
            held.append(self.distance(X[inside], bank.values[~inside]))
        if not held:
            raise ValueError("out-of-distribution abstention needs at least two sources to calibrate on")
        self.held_out_images_ = int(sum(len(h) for h in held))
        held = np.concatenate(held)
        self.threshold_ = _finite_quantile(held, 1 - self.beta)
        self.bank_ = bank
        return self

    def far(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(is far, distance) for each row of ``X``."""
        d = self.distance(X)
        return d > self.threshold_, d
