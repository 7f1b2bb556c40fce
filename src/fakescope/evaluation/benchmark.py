"""The benchmark behind docs/BENCHMARKS.md: every detector, the same folds, the same audits.

For every registered detector (whose optional packages are installed):

- leave-one-source-out under matched processing (the default-selection criterion),
  with the "paired" training recipe and, for comparison, the "all sources" one;
- leave-one-source-out on the files as they are;
- leave-generators-out (grouped folds; real images grouped by source), on the
  files as they are and under matched processing;
- the shortcut audit under each of those protocols.

Networks trained end to end run the matched-processing protocols only, at full
size on a GPU and at reduced size on a CPU. ``--part`` writes some detectors'
runs on one machine (a GPU) to be merged into the page made on another. The
default is then chosen among single detectors and score fusions of pairs, and
the scan throughput and memory of the shipped default detector are measured.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from ..data.manifest import Manifest
from ..data.perturb import Matched
from ..registry import entry, list_detectors
from .protocols import Predictions, cross_validate, shortcut_cv, summarize
from .report import fmt, metrics_table

MATCHED = Matched(256, 90)
HEADLINE = ["auc", "ap", "accuracy", "f1", "recall", "specificity", "eer", "tpr@1%fpr", "ece"]

#: protocol key -> (group by, matched processing)
PROTOCOLS: dict[str, dict] = {
    "loso-matched": dict(by="source", matched=MATCHED),
    "loso": dict(by="source", matched=None),
    "logo": dict(by="generator", matched=None),
    "logo-matched": dict(by="generator", matched=MATCHED),
}
#: detectors trained end to end per fold: only the matched-processing protocols (CPU time), and at
#: reduced size when no GPU is visible
SPEC_CNN = {"dct-cnn": {"calib_folds": 2, "head_params": {"epochs": 4, "width": 8}}}
FUSE_TOP = 6  # score-level fusions are formed among the best this many single detectors


def available(name: str) -> bool:
    return all(importlib.util.find_spec(pkg) is not None for pkg in entry(name).needs)


def _device() -> str:
    if importlib.util.find_spec("torch") is None:
        return "cpu"
    import torch

    return f"cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "cpu"


def rerender(out: Path) -> None:
    """Rewrite the Markdown (and the plot) from the results saved beside it."""
    results = json.loads(out.with_suffix(".json").read_text())
    _write(results, out)


def refresh_throughput(manifest_path: Path, out: Path, throughput_images: int = 1000, log=print) -> dict:
    """Re-measure only the scan throughput (e.g. after shipping a new default) and re-render."""
    results = json.loads(out.with_suffix(".json").read_text())
    new = measure_throughput(Manifest.read(manifest_path), throughput_images, log)
    if new:
        kept = [t for t in results.get("throughput") or [] if t["images"] != new["images"] and t["detector"] == new["detector"]]
        results["throughput"] = sorted([*kept, new], key=lambda t: t["images"])
    _write(results, out)
    return results


def plan(name: str, protocols: list[str] | None, cuda: bool) -> list[tuple[str, str, dict, str]]:
    """(protocol key, recipe, config, settings) for one detector."""
    from ..detectors.cnn import REDUCED

    if name in REDUCED:  # end-to-end networks
        keys = ["loso-matched", "logo-matched"]
        cfg, settings = ({}, "full") if cuda else ({"head_params": REDUCED[name]}, "reduced")
        recipes = {k: ["paired"] for k in keys}
    elif name in SPEC_CNN:
        keys = ["loso-matched", "loso", "logo-matched"]
        cfg, settings = (({}, "full") if cuda else (SPEC_CNN[name], "reduced"))
        recipes = {k: ["paired"] for k in keys}
    else:
        keys = list(PROTOCOLS)
        cfg, settings = {}, "full"
        recipes = {k: ["paired", "all"] if k == "loso-matched" else ["paired"] for k in keys}
    return [(k, r, cfg, settings) for k in keys if not protocols or k in protocols for r in recipes[k]]


def run_benchmark(manifest_path: Path, detectors: str, out: Path, quick: bool = False,
                  throughput_images: int = 1000, protocols: list[str] | None = None, part: Path | None = None,
                  log=print) -> dict:  # fmt: skip
    """Run the protocols for the chosen detectors.

    With ``part``, only the detectors' runs are written there (for another machine's share, e.g. the
    networks trained on a GPU), to be merged with :func:`merge_parts`; else the whole page is written.
    """
    t_start = time.time()
    manifest = Manifest.read(manifest_path)
    names = list_detectors() if detectors == "all" else [d.strip() for d in detectors.split(",")]
    skipped = [n for n in names if not available(n)]
    names = [n for n in names if available(n)]
    config: dict = {}
    max_folds = None
    if quick:
        manifest = manifest.sample(240, seed=0, stratify="source")
        config = {"n_aug": 0, "calib_folds": 3}
        max_folds = 3
    device = _device()
    cuda = device.startswith("cuda")

    audits = {}
    if part is None:
        for key, kw in PROTOCOLS.items():
            if protocols and key not in protocols:
                continue
            for recipe in ("paired", "all") if key == "loso-matched" else ("paired",):
                pred = shortcut_cv(manifest, sources=recipe, max_folds=_max_folds(key, max_folds), **kw)
                a = audits[key if recipe == "paired" else f"{key}-all"] = summarize(pred)
                log(f"shortcut audit [{recipe}] {a['protocol']}: AUC {fmt(a['overall'].get('auc'))}")
    runs = []
    for name in names:
        for key, recipe, cfg, settings in plan(name, protocols, cuda):
            kw = PROTOCOLS[key]
            merged = {**config, **cfg}
            if quick and "head_params" in cfg:
                merged["calib_folds"] = max(2, merged.get("calib_folds", 3))
            pred = cross_validate(name, manifest, log=log, sources=recipe, max_folds=_max_folds(key, max_folds),
                                  **kw, **merged)  # fmt: skip
            s = summarize(pred)
            runs.append({"detector": name, "recipe": recipe, "protocol_key": key, "summary": s, "settings": settings,
                         "device": device, "seconds": round(pred.seconds, 1),
                         "p": [None if np.isnan(v) else round(float(v), 5) for v in pred.p]})  # fmt: skip
            log(f"{name} [{recipe}] {s['protocol']}: AUC {fmt(s['overall'].get('auc'))} ({pred.seconds:.0f}s, "
                f"{settings}, {device})")  # fmt: skip
    meta = {
        "generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "manifest": str(manifest_path),
        "n_images": len(manifest),
        "quick": quick,
        "command": f"fakescope benchmark --detectors {detectors}" + (" --quick" if quick else "")
        + (f" --protocols {','.join(protocols)}" if protocols else ""),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {device}",
        "seconds": round(time.time() - t_start),
    }
    if part is not None:
        part.parent.mkdir(parents=True, exist_ok=True)
        part.write_text(json.dumps({**meta, "runs": runs, "skipped_detectors": skipped}, default=str))
        return {**meta, "runs": runs}
    measured = measure_throughput(manifest, throughput_images, log) if throughput_images else None
    results = {**meta, "skipped_detectors": skipped, "audits": audits, "runs": runs,
               "throughput": [measured] if measured else [], "parts": []}  # fmt: skip
    previous = out.with_suffix(".json")
    if previous.is_file():  # the localization table has its own command; keep it
        kept = json.loads(previous.read_text()).get("localization")
        if kept:
            results["localization"] = kept
    select(results, manifest)
    _write(results, out)
    return results


def _max_folds(key: str, max_folds: int | None) -> int | None:
    if max_folds:
        return max_folds
    return 10 if key.startswith("logo") else None


def merge_parts(out: Path, parts: list[Path], log=print) -> dict:
    """Add the runs of ``parts`` (from ``--part``) to the results beside ``out``, replacing runs of the
    same detector, recipe and protocol; then choose the default again and re-render."""
    results = json.loads(out.with_suffix(".json").read_text())
    for path in parts:
        part = json.loads(Path(path).read_text())
        if part["n_images"] != results["n_images"] or part["quick"] != results["quick"]:
            raise ValueError(f"{path}: made on {part['n_images']} images (quick={part['quick']}), the page on "
                             f"{results['n_images']} (quick={results['quick']}); they cannot be merged")  # fmt: skip
        new = {(r["detector"], r["recipe"], r["protocol_key"]) for r in part["runs"]}
        results["runs"] = [r for r in results["runs"] if (r["detector"], r["recipe"], r["protocol_key"]) not in new]
        results["runs"] += part["runs"]
        results["skipped_detectors"] = sorted(set(results.get("skipped_detectors", []))
                                              - {r["detector"] for r in part["runs"]})  # fmt: skip
        results.setdefault("parts", []).append({k: part[k] for k in ("generated", "machine", "seconds")}
                                               | {"detectors": sorted({r["detector"] for r in part["runs"]})})  # fmt: skip
        log(f"merged {len(part['runs'])} runs from {path}")
    manifest = Manifest.read(Path(results["manifest"]))
    if results["quick"]:
        manifest = manifest.sample(240, seed=0, stratify="source")
    select(results, manifest)
    _write(results, out)
    return results


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def select(results: dict, manifest: Manifest) -> None:
    """Choose the default: the best pooled AUC under leave-one-source-out with matched processing, among
    single detectors and equal-weight score fusions (mean log-odds of the calibrated probabilities) of
    pairs of the best ``FUSE_TOP``; the shipped default must need no optional package."""
    single = [r for r in results["runs"] if r["protocol_key"] == "loso-matched" and r.get("p")]
    single.sort(key=lambda r: -(r["summary"]["overall"].get("auc") or 0))
    best_per_det: dict[str, dict] = {}
    for r in single:
        best_per_det.setdefault(r["detector"], r)
    top = list(best_per_det.values())[:FUSE_TOP]
    fusions = []
    for a, b in itertools.combinations(top, 2):
        pa, pb = (np.array([np.nan if v is None else v for v in r["p"]], dtype=float) for r in (a, b))
        p = 1 / (1 + np.exp(-(_logit(pa) + _logit(pb)) / 2))
        name = f"{a['detector']} [{a['recipe']}] + {b['detector']} [{b['recipe']}]"
        pred = Predictions(manifest, p, name, a["summary"]["protocol"])
        fusions.append({"members": [[a["detector"], a["recipe"]], [b["detector"], b["recipe"]]], "name": name,
                        "summary": summarize(pred)})  # fmt: skip
    results["fusions"] = fusions
    results["training_free"] = training_free_scores(results, manifest)

    def needs(members):
        return sorted({pkg for d, _ in members for pkg in entry(d).needs})

    candidates = [{"name": f"{r['detector']} [{r['recipe']}]", "members": [[r["detector"], r["recipe"]]],
                   "auc": r["summary"]["overall"].get("auc") or 0} for r in single]  # fmt: skip
    candidates += [{"name": f["name"], "members": f["members"], "auc": f["summary"]["overall"].get("auc") or 0}
                   for f in fusions]  # fmt: skip
    candidates.sort(key=lambda c: -c["auc"])
    for c in candidates:
        c["needs"] = needs(c["members"])
    results["best_overall"] = candidates[0] if candidates else None
    base = [c for c in candidates if not c["needs"]]
    results["chosen"] = base[0] if base else None


def training_free_scores(results: dict, manifest: Manifest) -> dict:
    """For training-free detectors: the AUC of the raw score over all images, with no folds and no
    calibration (pooled fold results hide a score's own ranking behind per-fold base rates)."""
    from ..metrics import safe_auc
    from ..registry import create

    out = {}
    full = manifest.subset(lambda s: s.label != "partial")
    y = np.array([s.is_fake for s in full])
    for name in sorted({r["detector"] for r in results["runs"]}):
        det = create(name)
        if not det.monotone_calibration:
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


def _row(summary: dict) -> dict:
    return {"n": summary["overall"].get("n"), **{k: summary["overall"].get(k) for k in HEADLINE}}


def _label(r: dict) -> str:
    tag = "" if r.get("settings", "full") == "full" else ", reduced"
    return f"{r['detector']} [{r['recipe']}{tag}]"


def _write(results: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str))
    plot = out.with_name(out.stem.lower() + "-per-generator.svg")
    plot.write_text(per_generator_svg(results))
    out.write_text(render(results, plot.name))


def per_generator_svg(res: dict) -> str:
    """A heat map: detectors (rows) x held-out generators (columns), colour = AUC (fakes of that
    generator against the real images), leave-generators-out under matched processing."""
    runs = [r for r in res["runs"] if r["protocol_key"] == "logo-matched"]
    gens = sorted({g for r in runs for g in r["summary"]["by_generator"]})
    if not runs or not gens:
        return '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>\n'
    cw, ch, left, top = 46, 20, 250, 150
    w, h = left + cw * len(gens) + 20, top + ch * len(runs) + 40
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" '
             'font-size="11">', '<rect width="100%" height="100%" fill="white"/>',
             '<text x="10" y="18" font-size="13">AUC per held-out generator (leave-generators-out, matched '
             'processing); grey: not scored</text>']  # fmt: skip
    for j, g in enumerate(gens):
        x = left + j * cw + cw / 2
        parts.append(f'<text transform="translate({x},{top - 6}) rotate(-60)">{escape(g)}</text>')
    for i, r in enumerate(runs):
        y = top + i * ch
        parts.append(f'<text x="{left - 6}" y="{y + 14}" text-anchor="end">{escape(_label(r))}</text>')
        for j, g in enumerate(gens):
            auc = r["summary"]["by_generator"].get(g, {}).get("auc")
            if auc is None:
                fill = "#dddddd"
            else:  # red (0) - white (0.5) - blue (1)
                t = max(0.0, min(1.0, auc))
                a = abs(t - 0.5) * 2
                rgb = (255, int(255 * (1 - a)), int(255 * (1 - a))) if t < 0.5 else (int(255 * (1 - a)), int(255 * (1 - a)), 255)
                fill = "#%02x%02x%02x" % rgb
            parts.append(f'<rect x="{left + j * cw}" y="{y}" width="{cw - 1}" height="{ch - 1}" fill="{fill}"/>')
            if auc is not None:
                parts.append(f'<text x="{left + j * cw + cw / 2}" y="{y + 14}" text-anchor="middle">{auc:.2f}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def render(res: dict, plot_name: str = "benchmarks-per-generator.svg") -> str:
    runs, audits = res["runs"], res["audits"]
    lines = [
        "# fakescope benchmarks",
        "",
        f"Generated by `{res.get('command') or 'fakescope benchmark --detectors all'}` on "
        f"{res['generated']} from `{res['manifest']}` ({res['n_images']} images), in {res['seconds'] / 60:.0f} min "
        f"on {res.get('machine', platform.machine())}. Every number below was computed by that command; rerun it "
        "to refresh this page.",
        "",
    ]
    for p in res.get("parts") or []:
        lines += [f"- Runs of {', '.join(p['detectors'])} were produced by `fakescope benchmark --detectors ... "
                  f"--part FILE` on {p['machine']} ({p['generated']}, {p['seconds'] / 60:.0f} min) and merged with "
                  "`fakescope benchmark --merge FILE`."]  # fmt: skip
    lines += [
        "",
        "How to read it:",
        "",
        "- Every score comes from a model that never saw the image's group: *leave-one-source-out* (LOSO) "
        "trains one model per held-out source; *leave-generators-out* (LOGO) holds out whole generators (10 "
        "grouped folds; real images grouped by source).",
        f"- *Matched processing* re-encodes every image, real or fake, identically ({MATCHED.size} px shortest "
        f"side, centre crop, JPEG q{MATCHED.quality}) before training and scoring, so that no score can come "
        "from format or size.",
        "- The *shortcut audit* is a gradient-boosted model on file properties alone (width, height, format, "
        "file size, JPEG quality), under the same folds. A detector is only interesting where it beats it.",
        "- Threshold 0.5 on the calibrated probability, fixed before evaluation; calibration and head settings "
        "are fitted on held-out parts of each training set, never on the data scored.",
        "- Recipes: *paired* trains only on sources that hold both real and fake images (so a source's content "
        "cannot stand in for its label); *all* trains on every source.",
        "- Networks trained end to end (MesoNet, DE-FAKE, CNN-F, Patch-Forensics, GramNet, Resynthesis, FSBI, "
        "dct-cnn) run under the matched-processing protocols only, with the paired recipe. *reduced* marks rows "
        "trained at the reduced CPU size (fewer epochs, narrower networks; `fakescope.detectors.cnn.REDUCED`); "
        "other rows used the full settings of each detector's card.",
        "- Pooled metrics over LOSO folds mix models; sources with a single class have no per-source AUC, "
        "only accuracy (true-negative rate for real sources, recall for generated ones).",
        "",
    ]
    if res.get("skipped_detectors"):
        lines += [f"Skipped (optional packages missing): {', '.join(res['skipped_detectors'])}.", ""]

    lines += ["## Default detector selection: leave-one-source-out under matched processing", ""]
    sel = {_label(r): _row(r["summary"]) for r in runs if r["protocol_key"] == "loso-matched"}
    sel = dict(sorted(sel.items(), key=lambda kv: -(kv[1].get("auc") or 0)))
    if "loso-matched" in audits:
        sel["shortcut audit [paired]"] = _row(audits["loso-matched"])
        sel["shortcut audit [all]"] = _row(audits["loso-matched-all"])
    lines += [metrics_table(sel, "detector [recipe]", HEADLINE)]
    fusions = sorted(res.get("fusions") or [], key=lambda f: -(f["summary"]["overall"].get("auc") or 0))
    if fusions:
        lines += [f"Score-level fusions (mean log-odds of the two calibrated probabilities, no weights fitted) of "
                  f"pairs among the {FUSE_TOP} best detectors above, same folds:", ""]  # fmt: skip
        lines += [metrics_table({f["name"]: _row(f["summary"]) for f in fusions[:10]}, "fusion", HEADLINE)]
        lines += ["The registered `ensemble` detector is this fusion (`--set members=a:recipe+b:recipe`): each "
                  "member trained with its own recipe, probabilities combined by the same rule, so its results "
                  "are the rows above.", ""]  # fmt: skip
    best, chosen = res.get("best_overall"), res.get("chosen")
    if best:
        lines += [f"Best overall: **{best['name']}** (pooled AUC {fmt(best['auc'])}"
                  + (f"; needs {', '.join(best['needs'])})." if best["needs"] else ").")]  # fmt: skip
    if chosen:
        (det, recipe), *rest = chosen["members"]
        settings = (f"--set members={'+'.join(f'{d}:{r}' for d, r in chosen['members'])}" if rest
                    else f"--set sources={recipe}")  # fmt: skip
        train_cmd = (f"`fakescope train {'ensemble' if rest else det} --manifest ../shared/data/manifest.csv "
                     f"{settings} --evidence docs/BENCHMARKS.json --out src/fakescope/trained/default`")  # fmt: skip
        lines += [
            "",
            f"**Chosen default: {chosen['name']}** (pooled AUC {fmt(chosen['auc'])}): the highest above among "
            "single detectors and fusions that need no optional package, since the default must scan on the "
            f"base install. The shipped default is trained with {train_cmd}.",
            "",
        ]
    for name, views in (res.get("training_free") or {}).items():
        lines += [f"Training-free `{name}`, raw score over all images (no folds, no calibration): AUC "
                  + ", ".join(f"{fmt(v['auc'])} ({k})" for k, v in views.items())
                  + "; within the sources that hold both classes (matched): "
                  + ", ".join(f"{src} {fmt(m['auc'], 2)}" for src, m in views["matched processing"]["by_paired_source"].items())
                  + ". Its pooled fold results above mix per-fold base rates.", ""]  # fmt: skip
    lines += _review_table(runs)
    for key, title in (("loso", "Leave-one-source-out, files as they are"),
                       ("logo", "Leave-generators-out, files as they are"),
                       ("logo-matched", "Leave-generators-out, matched processing")):  # fmt: skip
        rows = {_label(r): _row(r["summary"]) for r in runs if r["protocol_key"] == key}
        if rows:
            rows = dict(sorted(rows.items(), key=lambda kv: -(kv[1].get("auc") or 0)))
            if key in audits:
                rows["shortcut audit [paired]"] = _row(audits[key])
            proto = next(r["summary"]["protocol"] for r in runs if r["protocol_key"] == key)
            lines += [f"## {title}", "", f"Protocol: {proto}.", "", metrics_table(rows, "detector [recipe]", HEADLINE)]
    lines += _logo_matrix(runs, plot_name)
    lines += _per_source(runs, chosen)
    from .loc_benchmark import render_localization

    lines += render_localization(res.get("localization") or {})

    tps = res.get("throughput") or []
    if tps:
        lines += [
            "## Scan throughput and memory (shipped default detector)",
            "",
            "`fakescope scan` over N images of the benchmark data (repeated when N exceeds it), end to end "
            "(decoding, preprocessing, model, writing JSONL), as a fresh process on this machine "
            f"({os.cpu_count()} cores). Resident memory is sampled every 0.5 s. Rows come from "
            "`fakescope benchmark` (1,000 images) or `fakescope benchmark --throughput-only --throughput-images N`.",
            "",
            "| detector | images | wall s | images/s | peak RSS MB | RSS at 10% / 50% / 100% (MB) |",
            "|---|---:|---:|---:|---:|---|",
        ]
        for tp in tps:
            lines.append(
                f"| {tp['detector']} | {tp['images']} | {tp['seconds']:.1f} | {tp['images_per_s']:.1f} | "
                f"{tp['peak_rss_mb']:.0f} | {' / '.join(f'{x:.0f}' for x in tp['rss_profile_mb'])} |"
            )
        lines.append("")
    return "\n".join(lines) + "\n"


def _review_table(runs: list[dict]) -> list[str]:
    """The review's comparison: precision / recall / F1 per generator family, plus AUC / AP (LOSO, matched)."""
    per = [r for r in runs if r["protocol_key"] == "loso-matched" and r["recipe"] == "paired"]
    if not per:
        return []
    fams = sorted({f for r in per for f in r["summary"]["by_family"]})
    per.sort(key=lambda r: -(r["summary"]["overall"].get("auc") or 0))
    lines = ["## The review's table: precision / recall / F1 per generator family (LOSO, matched processing)", "",
             "Each family's fakes scored against all real images, pooled over the leave-one-source-out folds, "
             "threshold 0.5, paired recipe. Last columns: AUC and AP over all images.", "",
             "| detector | " + " | ".join(f"{f} P / R / F1" for f in fams) + " | AUC | AP |",
             "|---|" + "---|" * len(fams) + "---:|---:|"]  # fmt: skip
    for r in per:
        cells = []
        for f in fams:
            m = r["summary"]["by_family"].get(f, {})
            cells.append(f"{fmt(m.get('precision'), 2)} / {fmt(m.get('recall'), 2)} / {fmt(m.get('f1'), 2)}")
        o = r["summary"]["overall"]
        lines.append(f"| {_label(r)} | " + " | ".join(cells) + f" | {fmt(o.get('auc'))} | {fmt(o.get('ap'))} |")
    return lines + [""]


def _logo_matrix(runs: list[dict], plot_name: str) -> list[str]:
    per = [r for r in runs if r["protocol_key"] == "logo-matched"]
    if not per:
        return []
    gens = sorted({g for r in per for g in r["summary"]["by_generator"]})
    per.sort(key=lambda r: -(r["summary"]["overall"].get("auc") or 0))
    lines = ["## Leave-generators-out matrix (matched processing)", "",
             "Rows: detectors; columns: the generator held out (its fakes against all real images, scored by "
             "models that never saw that generator); cells: AUC / recall at 0.5.", "",
             f"![AUC per held-out generator]({plot_name})", "",
             "| detector | " + " | ".join(gens) + " |", "|---|" + "---|" * len(gens)]  # fmt: skip
    for r in per:
        cells = [f"{fmt(r['summary']['by_generator'].get(g, {}).get('auc'), 2)} / "
                 f"{fmt(r['summary']['by_generator'].get(g, {}).get('recall'), 2)}" for g in gens]  # fmt: skip
        lines.append(f"| {_label(r)} | " + " | ".join(cells) + " |")
    return lines + [""]


def _per_source(runs: list[dict], chosen: dict | None) -> list[str]:
    per = [r for r in runs if r["protocol_key"] == "loso-matched" and r["recipe"] == "paired"]
    members = {tuple(m) for m in (chosen or {}).get("members", [])}
    per += [r for r in runs if r["protocol_key"] == "loso-matched" and r["recipe"] != "paired"
            and (r["detector"], r["recipe"]) in members]  # fmt: skip
    if not per:
        return []
    lines = ["## Per source (LOSO, matched processing)", "",
             "Paired recipe for every detector, plus the chosen default's own recipe. "
             "Accuracy per held-out source; AUC where the source holds both classes.", ""]  # fmt: skip
    sources = sorted({s for r in per for s in r["summary"]["by_source"]})
    lines += ["| detector | " + " | ".join(sources) + " | partial edits flagged |",
              "|---|" + "---|" * (len(sources) + 1)]  # fmt: skip
    for r in per:
        cells = []
        for src in sources:
            m = r["summary"]["by_source"].get(src, {})
            cells.append(f"{fmt(m.get('accuracy'), 2)} / {fmt(m.get('auc'), 2)}")
        lines.append(f"| {_label(r)} | " + " | ".join(cells) + f" | {fmt(r['summary']['partial_edits']['flagged'], 2)} |")
    n = {src: next((r["summary"]["by_source"][src]["n"] for r in per if src in r["summary"]["by_source"]), "")
         for src in sources}  # fmt: skip
    lines += ["", "Images per source: " + ", ".join(f"{s} {n[s]}" for s in sources) + ".", ""]
    return lines


def measure_throughput(manifest: Manifest, n: int, log=print) -> dict | None:
    """Run `fakescope scan` on ``n`` images in a child process; time it and sample its memory."""
    from ..models import DEFAULT, shipped

    if DEFAULT not in shipped():
        log("throughput: no shipped default detector; skipped")
        return None
    unique = [str(s.file.resolve()) for s in manifest]
    with tempfile.TemporaryDirectory() as tmp:
        files = unique[:n]
        while len(files) < n:  # beyond the data set: the same files again under new names (symlinks),
            rep = Path(tmp) / f"rep{len(files) // len(unique)}"  # since a scan skips a path it has seen
            rep.mkdir()
            for i, f in enumerate(unique[: n - len(files)]):
                link = rep / f"{i}{Path(f).suffix}"
                link.symlink_to(f)
                files.append(str(link))
        listing = Path(tmp) / "inputs.csv"
        listing.write_text("path,label\n" + "".join(f"{f},real\n" for f in files))
        cmd = [sys.executable, "-m", "fakescope.cli.main", "scan", str(listing), "--out", str(Path(tmp) / "r.jsonl"),
               "--no-progress"]  # fmt: skip
        t0 = time.time()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        samples: list[tuple[float, float]] = []
        out_file = Path(tmp) / "r.jsonl"

        def sample():
            while proc.poll() is None:
                try:
                    rss = int(Path(f"/proc/{proc.pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
                    done = sum(1 for _ in open(out_file)) if out_file.exists() else 0
                    samples.append((done / n, rss / 2**20))
                except (OSError, ValueError):
                    pass
                time.sleep(0.5)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        _, stderr = proc.communicate()
        seconds = time.time() - t0
        th.join()
        rows = sum(1 for _ in open(out_file)) if out_file.exists() else 0
    if proc.returncode != 0 or rows != n:
        log(f"throughput: scan failed or incomplete ({rows} of {n} rows): {stderr[-500:]}")
        return None
    peak = max((r for _, r in samples), default=0.0)

    def at(frac: float) -> float:
        later = [r for f, r in samples if f >= frac]
        return later[0] if later else (samples[-1][1] if samples else 0.0)

    from ..models import load_detector

    result = {
        "detector": load_detector(DEFAULT).name,
        "images": n,
        "seconds": seconds,
        "images_per_s": n / seconds,
        "peak_rss_mb": peak,
        "rss_profile_mb": [at(0.1), at(0.5), at(0.99)],
    }
    log(f"throughput: {result['images_per_s']:.1f} images/s, peak RSS {peak:.0f} MB")
    return result


def localization_benchmark(manifest_path: Path, out: Path, quick: bool = False, localizers: list[str] | None = None,
                           log=print) -> dict:  # fmt: skip
    """Run the localization benchmark and put its table into the page beside ``out``, row by row (an
    interrupted run resumes: rows already on the page with the same settings are kept)."""
    from .. import weights
    from .loc_benchmark import run_localization

    manifest = Manifest.read(manifest_path)
    path = out.with_suffix(".json")
    t0 = time.time()

    def load() -> dict:
        if path.is_file():
            return json.loads(path.read_text())
        return {"generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "manifest": str(manifest_path), "n_images": len(manifest), "quick": quick, "seconds": 0,
                "runs": [], "audits": {}, "skipped_detectors": []}  # fmt: skip

    def save(loc: dict) -> None:
        loc.update(generated=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                   seconds=round(time.time() - t0), manifest=str(manifest_path))  # fmt: skip
        results = load()
        results["localization"] = loc
        _write(results, out)

    previous = (load().get("localization") or {}).get("rows", [])
    loc = run_localization(manifest, weights.home() / "benchmark-synth", localizers, quick=quick, log=log,
                           done=previous, on_row=save)  # fmt: skip
    save(loc)
    return load()
