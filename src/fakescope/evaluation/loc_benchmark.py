"""The localization benchmark: every localizer under setups A, B and C, scored on synthetic partial edits
and, apart, on the real partial edits with masks.

Data, all derived from the benchmark manifest, deterministically:

- real images of sources without partial edits are split in two halves by content hash; fully
  generated images likewise;
- ``fakescope synth`` edits (inpainting, copy-move, splicing from any image, self-blended faces) are
  made from the first half for training and from the second half for testing;
- training: first-half reals, first-half generated images (setup A) and synthetic edits (B, C);
- test "synthetic": the synthetic test edits plus second-half reals (authentic images, whose correct
  map is empty); test "real edits": the manifest's partial images that have masks.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np

from ..data.manifest import Manifest, Sample
from ..io import ImageLoadError, open_image
from ..localize import create_localizer, list_localizers
from ..localize.base import SETUPS, load_mask
from ..metrics import localization_report

FULL = {"epochs": 8, "crops_per_image": 3, "width": 16}
REDUCED = {"epochs": 3, "crops_per_image": 2, "width": 8}


def _half(s: Sample) -> int:
    key = s.sha256 or hashlib.sha256(str(s.file).encode()).hexdigest()
    return int(key[:8], 16) % 2


def build_sets(manifest: Manifest, work: Path, n_train: int, n_test: int, n_authentic: int, log=print) -> dict:
    import importlib.util

    from ..data.synthesis.make import ALL_KINDS, synthesize

    # self-blended faces need the face models (the `faces` extra); the other edits need OpenCV (`synth`)
    kinds = tuple(k for k in ALL_KINDS if k != "sbi" or importlib.util.find_spec("ai_edge_litert"))
    partial_sources = {s.source for s in manifest if s.label == "partial"}
    reals = [s for s in manifest if s.label == "real" and s.source not in partial_sources]
    fakes = [s for s in manifest if s.label == "fake"]
    sets = {}
    for half, n, seed in ((0, n_train, 1), (1, n_test, 2)):
        base = Manifest([s for s in reals if _half(s) == half])
        target = work / f"synth-{half}-{n}-{seed}"
        if not (target / "manifest.csv").is_file():
            log(f"localization: synthesizing {n} edits from {len(base)} real images into {target}")
            synthesize(base, target, n, kinds=kinds, donors=manifest, seed=seed, log=lambda m: None)
        sets[half] = Manifest.read(target / "manifest.csv")
    rng = np.random.default_rng(0)
    test_reals = [s for s in reals if _half(s) == 1]
    test_reals = [test_reals[i] for i in sorted(rng.choice(len(test_reals), min(n_authentic, len(test_reals)),
                                                           replace=False))]  # fmt: skip
    return {
        "train": Manifest([*[s for s in reals if _half(s) == 0], *[s for s in fakes if _half(s) == 0],
                           *sets[0].samples]),  # fmt: skip
        "synthetic": Manifest([*sets[1].samples, *test_reals]),
        "real edits": Manifest([s for s in manifest if s.label == "partial" and s.mask]),
    }


def images_and_masks(test: Manifest):
    """Each readable image of ``test`` with its ground-truth mask (authentic images: an empty mask)."""
    for s in test:
        try:
            img, _ = open_image(s.file)
        except ImageLoadError:
            continue
        mask = load_mask(s, img.size) if s.label == "partial" else None
        yield img, mask if mask is not None else np.zeros((img.size[1], img.size[0]), np.float32)


def baselines(test: Manifest) -> dict:
    """Trivial maps on the same images: flag everything, flag nothing. A localizer must beat both."""
    masks = [mask for _, mask in images_and_masks(test)]
    return {"flag everything": localization_report([np.ones_like(m) for m in masks], masks),
            "flag nothing": localization_report([np.zeros_like(m) for m in masks], masks)}  # fmt: skip


def evaluate_localizer(loc, test: Manifest) -> dict:
    maps, masks, seconds = [], [], time.time()
    for img, mask in images_and_masks(test):
        masks.append(mask)
        maps.append(loc.localize(img)["map"])
    report = localization_report(maps, masks)
    report["seconds"] = round(time.time() - seconds, 1)
    return report


def run_localization(manifest: Manifest, work: Path, localizers: list[str] | None = None,
                     setups: str = "ABC", quick: bool = False, log=print, done: list[dict] | None = None,
                     on_row=None) -> dict:  # fmt: skip
    """Train and score every localizer under every setup. Rows in ``done`` made with the same settings are
    kept, not redone (the benchmark resumes); ``on_row`` gets the results after each new row."""
    from ..train.loop import device

    dev = str(device())
    cuda = dev.startswith("cuda")
    size = "full" if cuda and not quick else "reduced"
    config = FULL if size == "full" else REDUCED
    n_train, n_test, n_auth = (60, 20, 20) if quick else (400, 150, 100)
    sets = build_sets(manifest, work, n_train, n_test, n_auth, log)
    if quick:
        sets["train"] = sets["train"].sample(120, seed=0, stratify="label")
        sets["real edits"] = sets["real edits"].sample(12, seed=0)
    rows = [r for r in done or [] if r.get("settings") == size]
    have = {(r["localizer"], r["setup"]) for r in rows}
    for name in localizers or list_localizers(training_free=False):
        for setup in setups:
            if (name, setup) in have:
                continue
            t0 = time.time()
            loc = create_localizer(name, setup=setup, **config).fit(sets["train"])
            row = {"localizer": name, "setup": setup, "settings": size, "device": dev,
                   "train_seconds": round(time.time() - t0, 1), "trained_on": loc.trained_on_}  # fmt: skip
            for key in ("synthetic", "real edits"):
                row[key] = evaluate_localizer(loc, sets[key])
            rows.append(row)
            if on_row:
                on_row(_result(rows, sets, config, size, setups))
            r = row["real edits"]["per_image"]
            log(f"localization {name} setup {setup}: real edits pixel F1 {r['f1_manipulated']:.3f}, IoU "
                f"{r['iou_manipulated']:.3f}; synthetic F1 {row['synthetic']['per_image']['f1_manipulated']:.3f}")
    result = _result(rows, sets, config, size, setups)
    result["baselines"] = {key: baselines(sets[key]) for key in ("synthetic", "real edits")}
    return result


def _result(rows, sets, config, size, setups) -> dict:
    return {
        "rows": list(rows),
        "sets": {k: {"n": len(v), "labels": dict(v.counts("label"))} for k, v in sets.items()},
        "config": config,
        "settings": size,
        "setups": {k: SETUPS[k] for k in setups},
    }


def render_localization(loc: dict) -> list[str]:
    from .report import fmt

    if not loc or not loc.get("rows"):
        return []
    sets = loc["sets"]
    lines = [
        "## Localization of partial manipulations",
        "",
        "Every localizer trained under the three supervision setups of DOLOS: "
        + "; ".join(f"**{k}** {v}" for k, v in loc["setups"].items())
        + f". Training set: {sets['train']['n']} images ({', '.join(f'{k} {v}' for k, v in sets['train']['labels'].items())}; "
        "the partial ones are `fakescope synth` edits of real images). Maps thresholded at 0.5.",
        "",
        f"- *synthetic*: {sets['synthetic']['n']} images, synthetic edits of real images none of the training "
        "edits came from, plus authentic real images (their correct map is empty).",
        f"- *real edits*: the {sets['real edits']['n']} partially manipulated images of the data set that have "
        "masks (inpainting, splicing, copy-move from CASIA, Coverage, IMD2020, Columbia, Inpaint-Anything, ...); "
        "never used for training.",
        f"- Settings: {loc['settings']} ({', '.join(f'{k} {v}' for k, v in loc['config'].items())}).",
        "",
        "Pixel F1 / IoU / AUC are per manipulated image, averaged; *pooled F1* counts all pixels of all "
        "manipulated and authentic images together; *FP area* is the share of an authentic image flagged; "
        "*image AUC* scores image-level detection by the map's maximum.",
        "",
        "| localizer | setup | real edits F1 | IoU | pixel AUC | pooled F1 | image AUC | synthetic F1 | IoU | "
        "pixel AUC | FP area | image AUC |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rows = [{"localizer": f"*baseline: {name}*", "setup": "–", "real edits": loc["baselines"]["real edits"][name],
             "synthetic": loc["baselines"]["synthetic"][name]} for name in ("flag everything", "flag nothing")
            if loc.get("baselines")]  # fmt: skip
    for r in [*loc["rows"], *rows]:
        re, sy = r["real edits"], r["synthetic"]
        lines.append(
            f"| {r['localizer']} | {r['setup']} | {fmt(re['per_image']['f1_manipulated'])} | "
            f"{fmt(re['per_image']['iou_manipulated'])} | {fmt(re['per_image']['auc'])} | {fmt(re['pooled']['f1'])} | "
            f"{fmt(re['image_level'].get('auc'))} | {fmt(sy['per_image']['f1_manipulated'])} | "
            f"{fmt(sy['per_image']['iou_manipulated'])} | {fmt(sy['per_image']['auc'])} | "
            f"{fmt(sy['per_image']['false_positive_area_authentic'])} | {fmt(sy['image_level'].get('auc'))} |"
        )
    lines += ["", "The real edits hold no authentic images, so their image AUC is not defined. Rows at the *flag "
              "everything* baseline (FP area near 1) have learned nothing about where: they mark whole images.", ""]
    return lines
