"""Choosing the default detector from the benchmark runs: single detectors and score fusions of pairs."""

from __future__ import annotations

import itertools

import numpy as np

from ...data.manifest import Manifest
from ...registry import entry
from ..protocols import MODERN, Predictions, summarize
from .plan import MATCHED


FUSE_TOP = 6  # score-level fusions are formed among the best this many single detectors
#: the protocols whose runs compete for the default (the same LOSO-matched folds and test images): without
#: and with aligned pairs added to the training data
SELECTION = ("loso-matched", "loso-matched-aligned")
PAIRS_TAG = {"loso-matched-aligned": " + aligned pairs"}


def own_pairs(run: dict) -> bool:
    """False for an ablation: a run trained on the aligned pairs of other autoencoders than its protocol's own
    (``--autoencoders``); such runs are shown, labelled, but compete neither for the default nor in fusions."""
    from ..aligned_only import DEFAULT_AUTOENCODERS, PAIRS_AUTOENCODERS

    aes = (run["summary"].get("setup") or {}).get("setup", {}).get("autoencoders")
    return not aes or tuple(aes) == (PAIRS_AUTOENCODERS if run["protocol_key"] in PAIRS_TAG else DEFAULT_AUTOENCODERS)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def backfill_calibration(results: dict, manifest: Manifest) -> None:
    """Calibration summaries (ECE, Brier, reliability, risk-coverage) for runs saved before they were part
    of the summary, from their stored probabilities."""
    from ...metrics import calibration_summary

    labels = np.array([s.label for s in manifest])
    for r in results["runs"]:
        if r["summary"].get("calibration") or not r.get("p") or len(r["p"]) != len(manifest):
            continue
        p = np.array([np.nan if v is None else v for v in r["p"]], dtype=float)
        keep = ~np.isnan(p) & (labels != "partial")
        r["summary"]["calibration"] = calibration_summary((labels[keep] != "real").astype(int), p[keep])


def select(results: dict, manifest: Manifest) -> None:
    """Choose the default: the best pooled AUC under leave-one-source-out with matched processing, among
    single detectors and equal-weight score fusions (mean log-odds of the calibrated probabilities) of
    pairs of the best ``FUSE_TOP``; the shipped default must need no optional package and contain no peer
    detector (another project's model, e.g. under non-commercial terms: scored, never shipped)."""
    backfill_calibration(results, manifest)
    # Runs with settings of their own (``--set``), ablations of the aligned pairs and runs on fewer folds
    # (``--max-folds``) are shown but compete only in their own tables. Runs
    # trained with aligned pairs added (LOSO-matched folds too) compete; fusions pair runs of one protocol.
    single = [r for r in results["runs"]
              if r["protocol_key"] in SELECTION and r.get("p") and not r.get("set") and own_pairs(r)
              and not r.get("max_folds")]
    single.sort(key=lambda r: -(r["summary"]["overall"].get("auc") or 0))
    for r in single:  # the modern slice of the same predictions, for the tie-break (and the page)
        if "modern" not in r["summary"]:
            r["summary"]["modern"] = {"auc": modern_auc(_probs(r), manifest)}
    fusions = []
    for key in SELECTION:
        best_per_det: dict[str, dict] = {}
        for r in single:
            if r["protocol_key"] == key:
                best_per_det.setdefault(r["detector"], r)
        for a, b in itertools.combinations(list(best_per_det.values())[:FUSE_TOP], 2):
            pa, pb = (_probs(r) for r in (a, b))
            p = 1 / (1 + np.exp(-(_logit(pa) + _logit(pb)) / 2))
            name = f"{a['detector']} [{a['recipe']}] + {b['detector']} [{b['recipe']}]" + PAIRS_TAG.get(key, "")
            pred = Predictions(manifest, p, name, a["summary"]["protocol"])
            fusions.append({"members": [[a["detector"], a["recipe"]], [b["detector"], b["recipe"]]], "name": name,
                            "protocol_key": key, "summary": summarize(pred),
                            "modern": modern_auc(p, manifest)})  # fmt: skip
    results["fusions"] = fusions
    results["training_free"] = training_free_scores(results, manifest, results.get("training_free") or {})

    def needs(members):
        return sorted({pkg for d, _ in members for pkg in entry(d).needs})

    candidates = [{"name": f"{r['detector']} [{r['recipe']}]" + PAIRS_TAG.get(r["protocol_key"], ""),
                   "members": [[r["detector"], r["recipe"]]], "auc": r["summary"]["overall"].get("auc") or 0,
                   "modern": r["summary"]["modern"].get("auc"), "pairs": r["protocol_key"] in PAIRS_TAG}
                  for r in single]  # fmt: skip
    candidates += [{"name": f["name"], "members": f["members"], "auc": f["summary"]["overall"].get("auc") or 0,
                    "modern": f["modern"], "pairs": f["protocol_key"] in PAIRS_TAG} for f in fusions]  # fmt: skip
    # pooled AUC to two decimals, then the modern slice (the same folds' real images and post-2023 fakes)
    candidates.sort(key=lambda c: (-round(c["auc"], 2), -(c["modern"] or 0)))
    for c in candidates:
        c["needs"] = needs(c["members"])
        c["peer"] = any(entry(d).peer for d, _ in c["members"])
    results["best_overall"] = candidates[0] if candidates else None
    base = [c for c in candidates if not c["needs"] and not c["peer"]]
    results["chosen"] = base[0] if base else None


def _probs(run: dict) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in run["p"]], dtype=float)


def modern_auc(p: np.ndarray, manifest: Manifest) -> float | None:
    """The AUC of ``p`` on the modern slice: real images against the fakes of generators of 2023 on."""
    from ...metrics import safe_auc

    keep = np.array([MODERN.keep(s) and s.label != "partial" for s in manifest]) & ~np.isnan(p)
    y = np.array([s.is_fake for s in manifest])[keep]
    return safe_auc(y, p[keep]) if len(set(y)) == 2 else None


def training_free_scores(results: dict, manifest: Manifest, known: dict | None = None) -> dict:
    """For training-free detectors: the AUC of the raw score over all images, with no folds and no
    calibration (pooled fold results hide a score's own ranking behind per-fold base rates). Scores in
    ``known`` (from an earlier run on the same data) are kept, not recomputed."""
    from ...metrics import safe_auc
    from ...registry import create

    out = {}
    full = manifest.subset(lambda s: s.label != "partial")
    y = np.array([s.is_fake for s in full])
    for name in sorted({r["detector"] for r in results["runs"]}):
        if name in (known or {}):
            out[name] = known[name]
            continue
        det = create(name)
        if not det.monotone_calibration or det.score_needs_fit:
            continue
        out[name] = {}
        for view, label in (("clean", "files as they are"), (MATCHED.tag, "matched processing")):
            X, ok = det.features_of(full, view)
            score = det.make_head({}).decision(X)
            per = {}
            for src in sorted({s.source for s in full}):
                idx = np.array([s.source == src for s in full]) & ok
                if len(set(y[idx])) == 2:
                    per[src] = {"auc": safe_auc(y[idx], score[idx]), "n": int(idx.sum())}
            out[name][label] = {"auc": safe_auc(y[ok], score[ok]), "n": int(ok.sum()), "by_paired_source": per}
    return out
