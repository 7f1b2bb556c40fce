"""Evaluation protocols: every score reported comes from a model that never saw the image's group.

- :func:`cross_validate` leaves whole groups out (sources or generators):
  each fold's detector is trained from scratch on the other groups, with
  calibration fitted inside that training data, and scores the held-out
  group. The pooled out-of-group predictions are what gets reported.
- ``matched``: both training and test images are first re-encoded
  identically (same resize, same JPEG quality), so no score can come from
  format or size.
- a *test slice* (:class:`EvalSlice`, e.g. :data:`MODERN`) scores only some
  images of each held-out group (the modern generators' fakes and the real
  images); each fold's model still trains on everything outside its group.
- :func:`shortcut_cv` runs the trivial file-property model under the very
  same folds, to be shown beside each detector.
- :mod:`.aligned_only` trains on real images and their aligned counterparts
  only, and tests on every collected generator.
- :func:`evaluate` (``fakescope.evaluate``) picks the protocol from what it is
  given, a family to cross-validate or a trained model to score as is, and
  returns the result with the shortcut audit beside it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.manifest import Manifest
from ..data.perturb import Matched
from ..data.splits import group_kfold, group_of
from ..metrics import binary_metrics, calibration_summary
from ..registry import create
from ..train.recipe import paired_mask, source_weights
from .report import EvaluationReport
from .shortcut import ShortcutModel, metadata

#: what ``by`` may group on
GROUPINGS = ("source", "generator", "family")

#: Generators of the development data (manifest column ``generator``) whose model was released in 2023 or
#: later and is not a fine-tune, adapter or distillation of an earlier model, i.e. the photoreal
#: generators users meet now. Year of the model's first public release in brackets; sources per
#: ../shared/data/README.md. Left out, as older or unknown: the 2022 renders of dcsan/imagen (SD 1.x,
#: Midjourney 2022, DALL-E 2, ...), CNNDetection's GANs, ComfyUI's SD1.x-based examples (SD1.x,
#: hypernetwork, ControlNet, LCM-LoRA on SD1.5, SD 2.1 unCLIP), the unknown Synthbuster generators,
#: ML72's unnamed ones and DeepSafe's GAN / face-swap examples.
MODERN_GENERATORS = frozenset({
    # bytedance/InfiniteYou: FLUX.1-dev identity portraits [2025]
    "InfiniteYou (FLUX.1-dev based)",
    # XLabs-AI/x-flux: FLUX.1-dev with LoRAs [2024]
    "FLUX.1-dev + XLabs LoRA", "FLUX.1-dev + realism_lora",
    # comfyanonymous/ComfyUI_examples
    "FLUX.1", "FLUX.1 Kontext",  # [2024], [2025]
    "AuraFlow", "HunyuanDiT 1.2", "Stable Cascade", "SD3/SD3.5",  # [2024]
    "SDXL", "SDXL-Turbo", "SDXL edit (CosXL)",  # [2023], [2023], [2024]
    # lllyasviel/Fooocus: SDXL style previews, 128 px [2023]
    "SDXL (Fooocus style preview)",
    # mever-team/spai: named generators of its examples
    "DALL-E 3", "Adobe Firefly", "Midjourney v5",  # [2023]
    "Midjourney v6.1", "Midjourney v6.1 (inferred from filename pattern)", "FLUX.1 (ComfyUI)",  # [2024]
    "Stable Diffusion 3", "Stable Diffusion 3 (inferred from filename pattern)",  # [2024]
})  # fmt: skip


@dataclass(frozen=True)
class EvalSlice:
    """The images a protocol scores; the others of a held-out group are neither trained on nor scored."""

    name: str
    keep: Callable  # keep(sample) -> bool


#: Real images and the fully generated images of :data:`MODERN_GENERATORS`.
MODERN = EvalSlice("test: real images and fakes of generators released 2023 or later",
                   lambda s: s.label == "real" or (s.label == "fake" and s.generator in MODERN_GENERATORS))  # fmt: skip


@dataclass
class Predictions:
    """Out-of-group probabilities for every image of a manifest (NaN: unreadable)."""

    manifest: Manifest
    p: np.ndarray
    detector: str
    protocol: str
    folds: int = 0
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    def restrict(self, keep: np.ndarray) -> Predictions:
        """These predictions on the images where ``keep`` (a boolean array) is true."""
        idx = np.flatnonzero(keep)
        extra = {k: ([v[i] for i in idx] if isinstance(v, list) and len(v) == len(self.p) else v)
                 for k, v in self.extra.items()}  # fmt: skip
        return Predictions(self.manifest.subset(idx), self.p[idx], self.detector, self.protocol, self.folds,
                           self.seconds, extra)  # fmt: skip


def folds_for(manifest: Manifest, by: str, max_folds: int | None) -> list[np.ndarray]:
    groups = [group_of(s, by) for s in manifest]
    k = len(set(groups)) if not max_folds else min(max_folds, len(set(groups)))
    return group_kfold(groups, k, seed=0)


def _protocol_name(by: str, folds: int, matched: Matched | None, test: EvalSlice | None = None) -> str:
    name = f"leave-{by}-out, {folds} folds"
    name += f", matched processing ({matched.size} px, JPEG q{matched.quality})" if matched else ""
    return name + (f"; {test.name}" if test else "")


def cross_validate(
    detector: str,
    manifest: Manifest,
    by: str = "source",
    matched: Matched | None = None,
    max_folds: int | None = None,
    log: Callable[[str], None] = lambda m: None,
    test: EvalSlice | None = None,
    extra_train: Manifest | None = None,
    **config,
) -> Predictions:
    """Group-held-out predictions of a registered detector on ``manifest``.

    With ``test``, only the images of the slice are scored and returned (a fold without any is skipped);
    each fold's model trains on every image outside its held-out group, in the slice or not.
    ``extra_train`` (e.g. real images and their aligned counterparts) joins every fold's training data,
    except the pairs whose real image belongs to a held-out group; it is never scored.
    """
    return cross_validate_perturbed(detector, manifest, (), by, matched, max_folds, log, test, extra_train,
                                    **config)[""]  # fmt: skip


def cross_validate_perturbed(
    detector: str,
    manifest: Manifest,
    perturbations: Sequence[str],
    by: str = "source",
    matched: Matched | None = None,
    max_folds: int | None = None,
    log: Callable[[str], None] = lambda m: None,
    test: EvalSlice | None = None,
    extra_train: Manifest | None = None,
    **config,
) -> dict[str, Predictions]:
    """:func:`cross_validate`, with each fold's model also scoring its test images under every perturbation.

    The test image is the protocol's own (after matched processing, if any), then perturbed
    (:func:`fakescope.data.perturb.perturbation`); training is unchanged. Returns the predictions per
    perturbation name, ``""`` for the unperturbed test images.
    """
    t0 = time.time()
    folds = folds_for(manifest, by, max_folds)
    extra_groups = pair_groups(extra_train, by) if extra_train is not None else []
    view = matched.tag if matched else "clean"
    names = ["", *perturbations]
    scored_set = np.array([test.keep(s) for s in manifest], dtype=bool) if test else np.ones(len(manifest), bool)
    p = {n: np.full(len(manifest), np.nan) for n in names}
    sets: dict[str, list] = {n: [None] * len(manifest) for n in names}  # verdict sets (out-of-source calibration)
    far: dict[str, list] = {n: [None] * len(manifest) for n in names}
    seconds = dict.fromkeys(perturbations, 0.0)  # scoring time of each perturbation (the rest is the protocol's)
    for f, held_idx in enumerate(folds):
        test_idx = held_idx[scored_set[held_idx]]
        if not len(test_idx):
            log(f"{detector}: fold {f + 1}/{len(folds)} has nothing to score ({test.name}); skipped")
            continue
        train_idx = np.setdiff1d(np.arange(len(manifest)), held_idx)
        train, test_m = manifest.subset(train_idx), manifest.subset(test_idx)
        if extra_train is not None:
            held_groups = {group_of(s, by) for s in manifest.subset(held_idx)}
            train = Manifest([*train, *(x for x, g in zip(extra_train, extra_groups) if g not in held_groups)],
                             name=f"{manifest.name}+pairs")  # fmt: skip
        det = create(detector, **config).fit(train, matched=view if matched else None)
        for n in names:
            t_score = time.time()
            X, ok = det.features_of(test_m, f"{view}+{n}" if n else view)
            scored = test_idx[ok]
            p[n][scored] = det.proba_from_features(X[ok])
            if hasattr(det, "conformal_"):
                for i, rel in zip(scored, det.reliability(X[ok], p[n][scored])):
                    sets[n][i], far[n][i] = list(rel["verdict_set"]), rel["far"]
            if n:
                seconds[n] += time.time() - t_score
        held = sorted({group_of(s, by) for s in test_m})
        log(f"{detector}: fold {f + 1}/{len(folds)} (held out {', '.join(held)[:80]}) done")
    name = _protocol_name(by, len(folds), matched, test) + (_pairs_name(extra_train) if extra_train is not None else "")
    out = {}
    for n in names:
        extra = {"verdict_sets": sets[n], "far": far[n]} if any(s is not None for s in sets[n]) else {}
        took = seconds[n] if n else time.time() - t0 - sum(seconds.values())
        pred = Predictions(manifest, p[n], detector, name + (f"; test images perturbed: {n}" if n else ""),
                           len(folds), took, extra)  # fmt: skip
        out[n] = pred.restrict(scored_set) if test else pred
    return out


def pair_groups(extra: Manifest, by: str) -> list[str]:
    """The group of each row of ``extra`` for leaving groups out: a counterpart (a row with ``pair``) takes
    its real image's, so a pair leaves a fold whole."""
    real_group = {s.sha256: group_of(s, by) for s in extra if not s.pair}
    return [real_group.get(s.pair, group_of(s, by)) if s.pair else group_of(s, by) for s in extra]


def _pairs_name(extra: Manifest) -> str:
    gens = sorted({s.generator.removeprefix("fakescope-aligned-") for s in extra if s.is_fake})
    reals = sum(not s.is_fake for s in extra)
    return (f"; training adds {reals} real crops and their {len(extra) - reals} aligned counterparts "
            f"({', '.join(gens)}), those of the held-out group left out")


def shortcut_cv(manifest: Manifest, by: str = "source", matched: Matched | None = None, max_folds: int | None = None,
                sources: str = "paired", test: EvalSlice | None = None,
                extra_train: Manifest | None = None) -> Predictions:  # fmt: skip
    """The shortcut audit under the same folds, training recipe, added pairs and test slice as
    :func:`cross_validate`."""
    t0 = time.time()
    X = metadata(manifest, matched.tag if matched else "clean")
    if extra_train is not None:
        Xe = metadata(extra_train, matched.tag if matched else "clean")
        ye = np.array([s.is_fake for s in extra_train], dtype=int)
        ge = np.array(pair_groups(extra_train, by))
        ok_e = ~np.isnan(Xe).any(axis=1)
    y = np.array([s.is_fake for s in manifest], dtype=int)
    train_ok = np.array([s.label != "partial" for s in manifest]) & ~np.isnan(X).any(axis=1)
    if sources == "paired":
        whole = np.flatnonzero([s.label != "partial" for s in manifest])
        paired = np.zeros(len(manifest), dtype=bool)
        paired[whole] = paired_mask(manifest.subset(whole))
        train_ok &= paired
    p = np.full(len(manifest), np.nan)
    folds = folds_for(manifest, by, max_folds)
    w = source_weights(manifest)
    for test_idx in folds:
        tr = np.setdiff1d(np.arange(len(manifest)), test_idx)
        tr = tr[train_ok[tr]]
        if extra_train is None:
            model = ShortcutModel().fit(X[tr], y[tr], w[tr])
        else:  # the pairs weigh as the median training image (they carry no source weight of their own)
            held = {group_of(s, by) for s in manifest.subset(test_idx)}
            e = np.flatnonzero(ok_e & ~np.isin(ge, sorted(held)))
            model = ShortcutModel().fit(np.vstack([X[tr], Xe[e]]), np.concatenate([y[tr], ye[e]]),
                                        np.concatenate([w[tr], np.full(len(e), np.median(w[tr]))]))  # fmt: skip
        te = test_idx[~np.isnan(X[test_idx]).any(axis=1)]
        p[te] = model.predict_proba(X[te])
    name = _protocol_name(by, len(folds), matched, test) + (_pairs_name(extra_train) if extra_train is not None else "")
    pred = Predictions(manifest, p, f"shortcut-audit [{sources}]", name, len(folds), time.time() - t0)
    return pred.restrict(np.array([test.keep(s) for s in manifest], dtype=bool)) if test else pred


def holdout(detector, manifest: Manifest, matched: Matched | None = None) -> Predictions:
    """Predictions of an already-trained detector on a test manifest."""
    t0 = time.time()
    X, ok = detector.features_of(manifest, matched.tag if matched else "clean")
    p = np.full(len(manifest), np.nan)
    p[ok] = detector.proba_from_features(X[ok])
    name = "held-out test set" + (f", matched {matched.size}px JPEG q{matched.quality}" if matched else "")
    return Predictions(manifest, p, detector.name, name, 1, time.time() - t0)


def summarize(pred: Predictions, threshold: float = 0.5, min_group: int = 5) -> dict:
    """Metrics overall, per source, per generator and per family, plus partial-edit recall.

    Per generator (and family) rows score that generator's fakes against all
    real images of the evaluation, so that precision and AUC are defined.
    Partial edits are reported apart: the whole-image detectors are trained
    on real vs. fully generated images.
    """
    m = pred.manifest
    scored = ~np.isnan(pred.p)
    labels = np.array([s.label for s in m])
    y = (labels != "real").astype(int)
    full = scored & (labels != "partial")
    real = full & (labels == "real")

    def rows(by: str, fakes_only: bool) -> dict:
        out = {}
        for g in sorted({getattr(s, by) or "(none)" for s in m}):
            members = np.array([(getattr(s, by) or "(none)") == g for s in m])
            if fakes_only:
                sel = full & members & (labels == "fake")
                if sel.sum() < min_group:
                    continue
                sel = sel | real
            else:
                sel = full & members
                if sel.sum() < min_group:
                    continue
            out[g] = binary_metrics(y[sel], pred.p[sel], threshold)
        return out

    partial = scored & (labels == "partial")
    reliability = {"calibration": calibration_summary(y[full], pred.p[full])}
    if pred.extra.get("verdict_sets"):
        reliability["verdict_sets"] = verdict_set_summary(pred.extra["verdict_sets"], pred.extra["far"], y, full)
    return {
        "detector": pred.detector,
        "protocol": pred.protocol,
        "threshold": threshold,
        "n_scored": int(scored.sum()),
        "n_unreadable": int((~scored).sum()),
        "seconds": round(pred.seconds, 1),
        "overall": binary_metrics(y[full], pred.p[full], threshold),
        "by_source": rows("source", fakes_only=False),
        "by_family": rows("family", fakes_only=True),
        "by_generator": rows("generator", fakes_only=True),
        "partial_edits": {
            "n": int(partial.sum()),
            "flagged": float((pred.p[partial] >= threshold).mean()) if partial.any() else None,
        },
        **reliability,
        # what a protocol with training data of its own trained on (e.g. aligned-only: autoencoders, pairs)
        **({"setup": pred.extra["setup"]} if "setup" in pred.extra else {}),
    }


def verdict_set_summary(sets: list, far: list, y: np.ndarray, keep: np.ndarray) -> dict:
    """How the verdict sets did on the images of held-out groups: coverage per class, share answered
    with one class and the accuracy of those answers, before and after the distance abstention."""
    from ..train.conformal import coverage

    idx = [i for i in np.flatnonzero(keep) if sets[i] is not None]
    if not idx:
        return {}
    plain = [tuple(sets[i]) for i in idx]
    abstained = [("real", "fake") if far[i] else tuple(sets[i]) for i in idx]
    return {"n": len(idx), "conformal": coverage(plain, y[idx]), "with_abstention": coverage(abstained, y[idx]),
            "far_share": float(np.mean([bool(far[i]) for i in idx]))}  # fmt: skip


def evaluate(
    model,
    manifest: Manifest | str | Path,
    by: str = "source",
    matched: Matched | str | None = None,
    max_folds: int | None = None,
    log: Callable[[str], None] = lambda m: None,
    **config,
) -> EvaluationReport:
    """Evaluate a detector on a manifest, with the shortcut audit under the same folds beside it.

    - ``model`` a registered family name (``"univfd"``, see ``fakescope.list_detectors()``):
      group-held-out cross-validation, one model trained from scratch per fold on the other
      groups (:func:`cross_validate`); ``config`` goes to each fold's detector
      (e.g. ``n_aug=0``, ``sources="all"``).
    - ``model`` a fitted detector, a folder written by its ``save`` or a shipped name
      (``"default"``): scored as is on every image of ``manifest`` (:func:`holdout`), which
      should hold images it was not trained on.

    In both cases the shortcut audit is cross-validated on ``manifest`` by ``by``, trained with
    ``config["sources"]`` (default ``"paired"``).

    Args:
        model: a family name, a fitted detector, a trained-detector folder or a shipped name.
        manifest: a :class:`~fakescope.data.manifest.Manifest` or the path of one (.csv, .jsonl).
        by: the groups held out: ``source``, ``generator`` or ``family``.
        matched: matched processing applied to every image, a ``Matched`` or ``"SIZE:QUALITY"``
            (e.g. ``"256:90"``).
        max_folds: merge the groups into at most this many folds.
        log: where progress lines go.
        **config: the detector's settings for cross-validated training; with a trained model
            only ``sources`` (the audit's recipe) is accepted.

    Returns:
        The report: ``.result`` and ``.shortcut_audit`` (summaries), ``.write(dir)``,
        ``.markdown()``, ``.headline()``.

    Raises:
        ValueError: an unknown ``by``, a malformed ``matched``, or training settings given with a
            trained model.
        KeyError: ``model`` is neither a family, a shipped name nor a trained folder.
    """
    from ..models import load_detector
    from ..registry import list_detectors

    if by not in GROUPINGS:
        raise ValueError(f"by must be one of {', '.join(GROUPINGS)}, not {by!r}")
    if isinstance(matched, str):
        try:
            matched = Matched.parse(matched)
        except ValueError:
            raise ValueError(f"matched expects SIZE:QUALITY such as 256:90, got {matched!r}") from None
    if not isinstance(manifest, Manifest):
        manifest = Manifest.read(manifest)
    if isinstance(model, str) and model in list_detectors():
        pred = cross_validate(model, manifest, by=by, matched=matched, max_folds=max_folds, log=log, **config)
    else:
        extra = sorted(set(config) - {"sources"})
        if extra:
            raise ValueError(f"settings {', '.join(extra)} apply to cross-validated training of a detector family; "
                             "a trained model is scored as is")  # fmt: skip
        det = model if hasattr(model, "proba_from_features") else load_detector(model)
        pred = holdout(det, manifest, matched=matched)
    audit = shortcut_cv(manifest, by=by, matched=matched, max_folds=max_folds, sources=config.get("sources", "paired"))
    return EvaluationReport(summarize(pred), summarize(audit))
