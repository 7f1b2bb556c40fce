"""Attribution under held-out protocols: every number comes from a model that never saw the image it scores.

- **closed set**: stratified folds over the images of the classes (a real image and its aligned
  counterparts stay in one fold): top-1 of the family and of the generator, per family and per generator,
  and confusion matrices, on clean pixels and after matched processing (256 px, JPEG q90: no answer can
  come from size or format).
- **open set**: leave-generators-out folds. Each fold holds out the generated images of some generators
  whole (the unknown side) and a stratified share of the other classes' images (the known side); the
  attributor is trained on the rest, its unknown threshold fitted inside that training data only. Reported:
  AUROC of the open-set score (known vs held out), and at the fitted threshold the share of each side
  called unknown and how often the held-out generators' family is still named right.
- **DE-FAKE** (Sha et al., CCS 2023): on the generated images that have prompts, folds that hold out whole
  prompts; the generator attributed from the image alone, from the prompt alone, and from both (CLIP
  ViT-B/16 image and MiniLM prompt embeddings into DE-FAKE's 2-layer MLP), as in the paper's image-only vs
  hybrid attribution table.

Class membership (a generator with at least ``min_images`` images) is decided once on the whole data from
the labels alone; the features of a test image never reach its model. The tables, plots and page are made
by :mod:`fakescope.analysis.attribution_report` (``fakescope attribute evaluate``).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..attributors.hierarchical import REAL, HierarchicalAttributor, class_name, target_of
from ..data.manifest import Manifest
from ..data.perturb import Matched
from ..data.splits import group_kfold, stratified_unit_folds
from ..metrics import safe_auc
from ..registry import create

#: the test views: clean pixels, and matched processing (no answer from size or format)
MATCHED = Matched(256, 90)


@dataclass
class AttributionData:
    """The images an attributor learns from and their features, computed once for every fold."""

    manifest: Manifest
    targets: list[tuple[str, str]]
    sources: list[str]
    units: list[str]
    #: (X, ok) per training view (clean first), rows are the manifest's images
    train_blocks: list[tuple[np.ndarray, np.ndarray]]
    #: (X, ok) per test view ("clean", "matched256q90")
    test_views: dict[str, tuple[np.ndarray, np.ndarray]]

    @property
    def names(self) -> np.ndarray:
        return np.array([class_name(t) for t in self.targets])

    @property
    def ok(self) -> np.ndarray:
        ok = self.train_blocks[0][1].copy()
        for _, v in self.test_views.values():
            ok &= v
        return ok

    def classes(self, min_images: int) -> list[tuple[str, str]]:
        """Targets with at least ``min_images`` readable images (labels only)."""
        counts = Counter(t for t, ok in zip(self.targets, self.ok) if ok)
        return sorted(t for t, n in counts.items() if n >= min_images)


def prepare(attributor: HierarchicalAttributor, manifest: Manifest, matched: Matched | None = MATCHED,
            log: Callable[[str], None] = lambda m: None) -> AttributionData:  # fmt: skip
    """Features of the attributor's training rows of ``manifest`` under its training views and the test views."""
    data = attributor.training_rows(manifest)
    blocks = {}
    for view in dict.fromkeys([*attributor.views(), "clean", *([matched.tag] if matched else [])]):
        log(f"attribution: features ({view}) of {len(data)} images")
        blocks[view] = attributor.features_of(data, view)
    tests = {"clean": blocks["clean"]} | ({matched.tag: blocks[matched.tag]} if matched else {})
    return AttributionData(data, [target_of(s) for s in data], [s.source or "(none)" for s in data], data.pair_keys(),
                           [blocks[v] for v in attributor.views()], tests)  # fmt: skip


def _fit(config: dict, data: AttributionData, rows: np.ndarray, classes, open_set: bool) -> HierarchicalAttributor:
    """An attributor trained on ``rows`` of ``data`` with the class set fixed in advance."""
    att = create("hierarchical", **config)
    att.fit_arrays([data.targets[i] for i in rows], [(X[rows], ok[rows]) for X, ok in data.train_blocks],
                   [data.sources[i] for i in rows], [data.units[i] for i in rows], open_set=open_set,
                   classes=classes)  # fmt: skip
    return att


def _known_folds(data: AttributionData, class_rows: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    """Stratified folds (rows of ``data``) over the classes' images, each pair whole in one fold."""
    folds = stratified_unit_folds(list(data.names[class_rows]), [data.units[i] for i in class_rows], k, seed=seed)
    return [class_rows[f] for f in folds]


def closed_set(config: dict, data: AttributionData, folds: int = 5, log: Callable[[str], None] = lambda m: None) -> dict:
    """Top-1 of family and generator under stratified folds, per test view (see the module docstring)."""
    cfg = create("hierarchical", **config).config
    classes = data.classes(cfg.min_images)
    class_rows = np.flatnonzero(np.isin(data.names, [class_name(c) for c in classes]) & data.ok)
    pred: dict[str, dict[str, np.ndarray]] = {v: {"family": np.empty(len(data.targets), object),
                                                  "class": np.empty(len(data.targets), object)}
                                              for v in data.test_views}  # fmt: skip
    for f, test in enumerate(_known_folds(data, class_rows, folds, cfg.seed)):
        t0 = time.time()
        train = np.setdiff1d(class_rows, test)
        present = {data.targets[i] for i in train}
        att = _fit(config, data, train, [c for c in classes if c in present], open_set=False)
        h = att.hierarchy_
        for view, (X, _) in data.test_views.items():
            a = att.answer(X[test])
            pred[view]["family"][test] = [h.families[i] for i in a["family"]]
            pred[view]["class"][test] = [class_name(h.classes[i]) for i in a["cls"]]
        log(f"attribution: closed-set fold {f + 1}/{folds} ({time.time() - t0:.0f}s)")
    true_family = np.array([data.targets[i][0] for i in class_rows], dtype=object)
    true_class = data.names[class_rows].astype(object)
    out = {"images": int(len(class_rows)), "folds": folds, "classes": [class_name(c) for c in classes],
           "families": sorted({c[0] for c in classes}), "views": {}}  # fmt: skip
    for view, p in pred.items():
        pf, pc = p["family"][class_rows], p["class"][class_rows]
        out["views"][view] = {
            "family_top1": _acc(true_family, pf), "family_balanced": _balanced(true_family, pf),
            "generator_top1": _acc(true_class, pc), "generator_balanced": _balanced(true_class, pc),
            "per_family": {fam: {"images": int((true_family == fam).sum()), "family_top1": _acc(true_family, pf, fam),
                                 "generator_top1": _acc(true_class, pc, mask=true_family == fam)}
                           for fam in out["families"]},
            "per_generator": {c: {"images": int((true_class == c).sum()), "generator_top1": _acc(true_class, pc, c),
                                  "family_top1": _acc(true_family, pf, mask=true_class == c),
                                  "confused_with": _most_confused(true_class, pc, c)}
                              for c in out["classes"]},
            "confusion_family": _confusion(true_family, pf, out["families"]),
            "confusion_generator": _confusion(true_class, pc, out["classes"]),
        }  # fmt: skip
    return out


def open_set(config: dict, data: AttributionData, folds: int = 5, log: Callable[[str], None] = lambda m: None) -> dict:
    """Known vs held-out generators under leave-generators-out folds (see the module docstring)."""
    cfg = create("hierarchical", **config).config
    classes = data.classes(cfg.min_images)
    names, ok = data.names, data.ok
    class_set = {class_name(c) for c in classes}
    class_rows = np.flatnonzero(np.isin(names, list(class_set)) & ok)
    fake_rows = np.flatnonzero(np.array([t[0] != REAL for t in data.targets]) & ok)
    gen_folds = group_kfold(list(names[fake_rows]), folds, seed=cfg.seed)
    known_folds = _known_folds(data, class_rows, len(gen_folds), cfg.seed + 1)
    views = list(data.test_views)
    true_family = np.array([t[0] for t in data.targets], dtype=object)
    # An image can be scored twice: on the known side in one fold and, its generator held out, on the unknown
    # side in another. Each side keeps its own rows (each row once per side: the folds partition them).
    sides = {side: {"rows": [], "trainable": [], **{v: {"score": [], "unknown": [], "family": []} for v in views}}
             for side in ("known", "unknown")}  # fmt: skip
    fold_info = []
    for f, held_idx in enumerate(gen_folds):
        t0 = time.time()
        held = set(names[fake_rows[held_idx]])
        unknown = fake_rows[held_idx]
        known = np.setdiff1d(known_folds[f], np.flatnonzero(np.isin(names, list(held))))
        # Training: every other image, the rare generators' too (inside, they serve as unknowns for the threshold).
        train = np.setdiff1d(np.flatnonzero(ok), np.r_[known, np.flatnonzero(np.isin(names, list(held)))])
        present = {data.targets[i] for i in train}
        train_classes = [c for c in classes if c in present]
        att = _fit(config, data, train, train_classes, open_set=True)
        trained_families = {c[0] for c in train_classes}
        for side, rows in (("known", known), ("unknown", unknown)):
            rec = sides[side]
            rec["rows"] += list(rows)
            # a held-out generator's family can be named only if another generator of it is trained on
            rec["trainable"] += [data.targets[i][0] in trained_families for i in rows]
            for view, (X, _) in data.test_views.items():
                a = att.answer(X[rows])
                rec[view]["score"] += list(a["score"])
                rec[view]["unknown"] += list(a["unknown"])
                rec[view]["family"] += [att.hierarchy_.families[i] for i in a["family"]]
        inner = att.open_set_.get("folds", [])
        fold_info.append({"held_out": sorted(held), "known_images": int(len(known)), "unknown_images": int(len(unknown)),
                          "threshold": att.open_set_.get("threshold"),
                          "threshold_fitted_holding_out": [g for fo in inner for g in fo["held_out"]],
                          "training_generators": sorted(set(names[train]))})  # fmt: skip
        log(f"attribution: open-set fold {f + 1}/{len(gen_folds)}: {len(held)} generators held out "
            f"({time.time() - t0:.0f}s)")  # fmt: skip
    k_rows, u_rows = np.array(sides["known"]["rows"], int), np.array(sides["unknown"]["rows"], int)
    u_names = names[u_rows]
    u_class = np.isin(u_names, list(class_set))  # held-out generators that are classes when trained on
    u_trainable = np.array(sides["unknown"]["trainable"], bool)
    u_true_family = true_family[u_rows]
    out = {"folds": fold_info, "known_images": int(len(k_rows)), "unknown_images": int(len(u_rows)),
           "unknown_generators": len(set(u_names)), "views": {}}  # fmt: skip
    for view in views:
        k, u = sides["known"][view], sides["unknown"][view]
        ks, us = np.array(k["score"], float), np.array(u["score"], float)
        u_called, u_family = np.array(u["unknown"], bool), np.array(u["family"], dtype=object)
        family_right = u_family == u_true_family

        def auc(mask, ks=ks, us=us):
            if not mask.any():
                return None
            return round(safe_auc(np.r_[np.ones(len(ks)), np.zeros(int(mask.sum()))], np.r_[ks, us[mask]]), 4)

        out["views"][view] = {
            "auroc": auc(np.ones(len(us), bool)), "auroc_held_out_classes": auc(u_class), "auroc_rare": auc(~u_class),
            "known_called_unknown": _share(k["unknown"]), "unknown_called_unknown": _share(u_called),
            "unknown_family_right": _share(family_right[u_trainable]), "unknown_family_images": int(u_trainable.sum()),
            "known_scores": [round(float(x), 5) for x in ks], "unknown_scores": [round(float(x), 5) for x in us],
            "per_held_out_generator": {
                g: {"images": int(m.sum()), "called_unknown": _share(u_called[m]),
                    "family_right": _share(family_right[m & u_trainable]) if (m & u_trainable).any() else None}
                for g in sorted(set(u_names)) for m in [u_names == g]},
        }  # fmt: skip
    return out


def defake_table(manifest: Manifest, min_images: int = 10, folds: int = 5, seed: int = 0,
                 log: Callable[[str], None] = lambda m: None) -> dict | None:  # fmt: skip
    """DE-FAKE's attribution table on the generated images with prompts: image-only, prompt-only and hybrid
    (see the module docstring); ``None`` when fewer than two generators have ``min_images`` prompted images."""
    from ..extraction import extract
    from ..features.text import SentenceEncoder

    rows = manifest.subset(lambda s: s.label == "fake" and bool(s.prompt.strip()))
    counts = Counter(class_name(target_of(s)) for s in rows)
    keep = {g for g, n in counts.items() if n >= min_images}
    rows = rows.subset(lambda s: class_name(target_of(s)) in keep)
    if len(keep) < 2:
        return None
    feats, ok = extract(rows, ["clip"], view="clean")
    rows = rows.subset(np.flatnonzero(ok))
    image = feats["clip"][ok]
    prompts = [s.prompt.strip() for s in rows]
    unique = sorted(set(prompts))
    log(f"attribution: DE-FAKE table, MiniLM embeddings of {len(unique)} prompts")
    emb = dict(zip(unique, SentenceEncoder.shared().embed(unique)))
    text = np.stack([emb[p] for p in prompts])
    y = np.array([class_name(target_of(s)) for s in rows])
    prompt_folds = group_kfold(prompts, folds, seed=seed)  # a prompt is never in training and test both
    inputs = {"image-only": image, "prompt-only": text, "hybrid": np.concatenate([image, text], axis=1)}
    out = {"images": int(len(y)), "generators": sorted(keep), "prompts": len(unique), "folds": len(prompt_folds),
           "shared_prompts": sum(1 for p in unique if len({g for g, q in zip(y, prompts) if q == p}) > 1),
           "models": {}}  # fmt: skip
    for name, X in inputs.items():
        pred = np.empty(len(y), dtype=object)
        for test in prompt_folds:
            train = np.setdiff1d(np.arange(len(y)), test)
            pred[test] = _mlp(X[train], y[train], seed).predict(_standardise(X[train], X[test]))
        out["models"][name] = {"accuracy": _acc(y, pred), "balanced": _balanced(y, pred),
                               "per_generator": {g: _acc(y, pred, g) for g in out["generators"]}}  # fmt: skip
        log(f"attribution: DE-FAKE {name}: top-1 {out['models'][name]['accuracy']:.3f}")
    return out


def _standardise(train: np.ndarray, X: np.ndarray) -> np.ndarray:
    return (X - train.mean(axis=0)) / (train.std(axis=0) + 1e-6)


def _mlp(X: np.ndarray, y: np.ndarray, seed: int):
    """DE-FAKE's head as in ``defake-hybrid`` (one hidden ReLU layer of 128, L2 1e-2), trained on standardised X."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier((128,), alpha=1e-2, max_iter=300, early_stopping=len(y) >= 200, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(_standardise(X, X), y)
    return clf


def evaluate_attribution(manifest: Manifest, config: dict | None = None, folds: int = 5,
                         matched: Matched | None = MATCHED, defake: bool = True,
                         log: Callable[[str], None] = lambda m: None) -> dict:  # fmt: skip
    """Closed set, open set and (where prompts exist) DE-FAKE's table, as one JSON-ready dict."""
    config = dict(config or {})
    t0 = time.time()
    att = create("hierarchical", **config)
    data = prepare(att, manifest, matched, log)
    result = {
        "manifest": manifest.name, "config": {**vars(att.config)}, "images": len(data.targets),
        "targets": dict(sorted(Counter(class_name(t) for t in data.targets).items())),
        "closed_set": closed_set(config, data, folds, log),
        "open_set": open_set(config, data, folds, log),
    }  # fmt: skip
    if defake:
        result["defake"] = defake_table(manifest, att.config.min_images, folds, att.config.seed, log)
    result["seconds"] = round(time.time() - t0, 1)
    return result


def headline(result: dict) -> dict:
    """The numbers a trained attributor's card carries from an evaluation on the same kind of data."""
    closed, opened = result["closed_set"], result["open_set"]
    return {
        "evaluated_by": result.get("command", ""),
        "closed_set": {"protocol": f"{closed['folds']} stratified folds, {closed['images']} images",
                       **{v: {k: x[k] for k in ("family_top1", "generator_top1", "family_balanced",
                                                "generator_balanced")} for v, x in closed["views"].items()}},
        "open_set": {"protocol": f"{len(opened['folds'])} leave-generators-out folds",
                     **{v: {k: x[k] for k in ("auroc", "known_called_unknown", "unknown_called_unknown",
                                              "unknown_family_right")} for v, x in opened["views"].items()}},
    }  # fmt: skip


# --- small metrics -----------------------------------------------------------------------------------------------


def _acc(y, pred, cls=None, mask=None) -> float | None:
    m = np.ones(len(y), bool) if mask is None else np.asarray(mask, bool)
    if cls is not None:
        m &= np.asarray(y) == cls
    return round(float((np.asarray(y)[m] == np.asarray(pred)[m]).mean()), 4) if m.any() else None


def _balanced(y, pred) -> float:
    return round(float(np.mean([_acc(y, pred, c) for c in sorted(set(y))])), 4)


def _share(flags) -> float | None:
    flags = np.asarray(flags, bool)
    return round(float(flags.mean()), 4) if len(flags) else None


def _most_confused(y, pred, cls) -> str | None:
    wrong = Counter(p for t, p in zip(y, pred) if t == cls and p != cls)
    return wrong.most_common(1)[0][0] if wrong else None


def _confusion(y, pred, labels: list[str]) -> list[list[int]]:
    """Counts, rows = true label, columns = answered label, in ``labels`` order."""
    index = {c: i for i, c in enumerate(labels)}
    m = np.zeros((len(labels), len(labels)), int)
    for t, p in zip(y, pred):
        if t in index and p in index:
            m[index[t], index[p]] += 1
    return m.tolist()
