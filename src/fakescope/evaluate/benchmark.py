"""The benchmark behind docs/BENCHMARKS.md: every detector, the same folds, the same audits.

For every registered detector (whose optional packages are installed):

- leave-one-source-out under matched processing (the default-selection criterion),
  with the "paired" training recipe and, for comparison, the "all sources" one;
- leave-one-source-out on the files as they are;
- leave-generators-out (grouped folds; real images grouped by source);
- the shortcut audit under each of those protocols.

Then the scan throughput and memory of the shipped default detector.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ..data.manifest import Manifest
from ..data.perturb import Matched
from ..registry import entry, list_detectors
from .protocols import cross_validate, shortcut_cv, summarize
from .report import fmt, metrics_table

MATCHED = Matched(256, 90)
HEADLINE = ["auc", "ap", "accuracy", "f1", "recall", "specificity", "eer", "tpr@1%fpr", "ece"]


def available(name: str) -> bool:
    return all(importlib.util.find_spec(pkg) is not None for pkg in entry(name).needs)


def rerender(out: Path) -> None:
    """Rewrite the Markdown from the results saved beside it (after a change to the layout)."""
    out.write_text(render(json.loads(out.with_suffix(".json").read_text())))


def refresh_throughput(manifest_path: Path, out: Path, throughput_images: int = 1000, log=print) -> dict:
    """Re-measure only the scan throughput (e.g. after shipping a new default) and re-render."""
    results = json.loads(out.with_suffix(".json").read_text())
    new = measure_throughput(Manifest.read(manifest_path), throughput_images, log)
    if new:
        kept = [t for t in results.get("throughput") or [] if t["images"] != new["images"] and t["detector"] == new["detector"]]
        results["throughput"] = sorted([*kept, new], key=lambda t: t["images"])
    out.with_suffix(".json").write_text(json.dumps(results, indent=2, default=str))
    out.write_text(render(results))
    return results


def run_benchmark(manifest_path: Path, detectors: str, out: Path, quick: bool = False,
                  throughput_images: int = 1000, log=print) -> dict:  # fmt: skip
    t_start = time.time()
    manifest = Manifest.read(manifest_path)
    names = list_detectors() if detectors == "all" else [d.strip() for d in detectors.split(",")]
    skipped = [n for n in names if not available(n)]
    names = [n for n in names if available(n)]
    config: dict = {}
    max_folds = None
    gen_folds = 10
    if quick:
        manifest = manifest.sample(240, seed=0, stratify="source")
        config = {"n_aug": 0, "calib_folds": 3}
        max_folds, gen_folds = 3, 3
    # CNN heads train per fold on a 2-core CPU: fewer cross-fitting folds and epochs keep
    # the whole benchmark within about an hour; the cards say so.
    heavy = {"dct-cnn": {"calib_folds": 2, "head_params": {"epochs": 4, "width": 8}}}

    runs = []  # (detector, recipe, protocol key, summary)
    protocols = [
        ("loso-matched", dict(by="source", matched=MATCHED, max_folds=max_folds)),
        ("loso", dict(by="source", matched=None, max_folds=max_folds)),
        ("logo", dict(by="generator", matched=None, max_folds=gen_folds)),
    ]
    audits = {}
    for key, kw in protocols:
        for recipe in ("paired", "all") if key == "loso-matched" else ("paired",):
            a = audits[key if recipe == "paired" else f"{key}-all"] = summarize(shortcut_cv(manifest, sources=recipe, **kw))
            log(f"shortcut audit [{recipe}] {a['protocol']}: AUC {fmt(a['overall'].get('auc'))}")
    for name in names:
        cfg = {**config, **heavy.get(name, {})}
        recipes = ["paired"] if name in heavy else ["paired", "all"]
        for key, kw in protocols:
            if name in heavy and key == "logo":
                continue  # leave-generators-out is skipped for CNN heads (CPU time); see the note on the page
            for recipe in recipes if key == "loso-matched" else ["paired"]:
                pred = cross_validate(name, manifest, log=log, sources=recipe, **kw, **cfg)
                s = summarize(pred)
                runs.append({"detector": name, "recipe": recipe, "protocol_key": key, "summary": s})
                log(f"{name} [{recipe}] {s['protocol']}: AUC {fmt(s['overall'].get('auc'))} ({pred.seconds:.0f}s)")

    # The default must scan on the base install, so candidates need no optional package.
    selection = [r for r in runs if r["protocol_key"] == "loso-matched" and not entry(r["detector"]).needs]
    selection.sort(key=lambda r: -(r["summary"]["overall"].get("auc") or 0))
    chosen = selection[0] if selection else None
    measured = measure_throughput(manifest, throughput_images, log) if throughput_images else None
    results = {
        "generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "manifest": str(manifest_path),
        "n_images": len(manifest),
        "quick": quick,
        "skipped_detectors": skipped,
        "audits": audits,
        "runs": runs,
        "chosen": chosen and {"detector": chosen["detector"], "recipe": chosen["recipe"]},
        "throughput": [measured] if measured else [],
        "seconds": round(time.time() - t_start),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=2, default=str))
    out.write_text(render(results))
    return results


def _row(summary: dict) -> dict:
    return {"n": summary["overall"].get("n"), **{k: summary["overall"].get(k) for k in HEADLINE}}


def render(res: dict) -> str:
    runs, audits = res["runs"], res["audits"]
    lines = [
        "# fakescope benchmarks",
        "",
        f"Generated by `fakescope benchmark{' --quick' if res['quick'] else ''}` on {res['generated']} "
        f"from `{res['manifest']}` ({res['n_images']} images), in {res['seconds'] / 60:.0f} min on "
        f"{platform.machine()} with {os.cpu_count()} CPU cores. Every number below was computed by that "
        "command; rerun it to refresh this page.",
        "",
        "How to read it:",
        "",
        "- Every score comes from a model that never saw the image's group: *leave-one-source-out* (LOSO) "
        "trains one model per held-out source; *leave-generators-out* holds out whole generators (real images "
        "grouped by source).",
        f"- *Matched processing* re-encodes every image, real or fake, identically ({MATCHED.size} px shortest "
        f"side, centre crop, JPEG q{MATCHED.quality}) before training and scoring, so that no score can come "
        "from format or size.",
        "- The *shortcut audit* is a gradient-boosted model on file properties alone (width, height, format, "
        "file size, JPEG quality), under the same folds. A detector is only interesting where it beats it.",
        "- Threshold 0.5 on the calibrated probability, fixed before evaluation; calibration and head settings "
        "are fitted on held-out folds of each training set, never on the data scored.",
        "- Recipes: *paired* trains only on sources that hold both real and fake images (so a source's content "
        "cannot stand in for its label); *all* trains on every source.",
        "- Pooled metrics over LOSO folds mix models; sources with a single class have no per-source AUC, "
        "only accuracy (true-negative rate for real sources, recall for generated ones).",
        "",
    ]
    lines += ["CNN heads (dct-cnn) are trained with 2 cross-fitting folds, 4 epochs and width 8 here, and are "
              "not run leave-generators-out, to keep the benchmark within about an hour on 2 CPU cores.", ""]
    if res["skipped_detectors"]:
        lines += [f"Skipped (optional packages missing): {', '.join(res['skipped_detectors'])}.", ""]

    lines += ["## Default detector selection: leave-one-source-out under matched processing", ""]
    sel = {f"{r['detector']} [{r['recipe']}]": _row(r["summary"]) for r in runs if r["protocol_key"] == "loso-matched"}
    sel["shortcut audit [paired]"] = _row(audits["loso-matched"])
    sel["shortcut audit [all]"] = _row(audits["loso-matched-all"])
    lines += [metrics_table(sel, "detector [recipe]", HEADLINE)]
    if res["chosen"]:
        c = res["chosen"]
        lines += [
            f"**Chosen: `{c['detector']}` with the `{c['recipe']}` recipe**: the highest pooled AUC above among "
            "detectors that need no optional package (the default must scan on the base install). The shipped "
            "default is trained with `fakescope train " + c["detector"] + " --manifest ../shared/data/manifest.csv "
            f"--set sources={c['recipe']} --evidence docs/BENCHMARKS.json --out src/fakescope/trained/default`.",
            "",
        ]
    for key, title in (("loso", "Leave-one-source-out, files as they are"),
                       ("logo", "Leave-generators-out, files as they are")):  # fmt: skip
        rows = {f"{r['detector']} [{r['recipe']}]": _row(r["summary"]) for r in runs if r["protocol_key"] == key}
        if rows:
            rows["shortcut audit [paired]"] = _row(audits[key])
            proto = next(r["summary"]["protocol"] for r in runs if r["protocol_key"] == key)
            lines += [f"## {title}", "", f"Protocol: {proto}.", "", metrics_table(rows, "detector [recipe]", HEADLINE)]

    lines += ["## Per source (LOSO, matched processing)", "",
              "Paired recipe for every detector, plus the chosen default's own recipe. "
              "Accuracy per held-out source; AUC where the source holds both classes.", ""]  # fmt: skip
    per = [r for r in runs if r["protocol_key"] == "loso-matched" and r["recipe"] == "paired"]
    chosen = res.get("chosen") or {}
    per += [r for r in runs if r["protocol_key"] == "loso-matched" and r["recipe"] != "paired"
            and r["detector"] == chosen.get("detector") and r["recipe"] == chosen.get("recipe")]  # fmt: skip
    if per:
        sources = sorted({s for r in per for s in r["summary"]["by_source"]})
        head = "| source | n | " + " | ".join(f"{r['detector']} [{r['recipe']}] acc / AUC" for r in per) + " |"
        lines += [head, "|---|---:|" + "---|" * len(per)]
        for src in sources:
            cells, n = [], ""
            for r in per:
                m = r["summary"]["by_source"].get(src, {})
                n = m.get("n", n)
                cells.append(f"{fmt(m.get('accuracy'), 2)} / {fmt(m.get('auc'), 2)}")
            lines.append(f"| {src} | {n} | " + " | ".join(cells) + " |")
        lines.append("")
        lines += ["## Per generator family (LOSO, matched processing)", "",
                  "Each family's fakes scored against all real images: recall on that family, AUC and AP.", ""]  # fmt: skip
        fams = sorted({f for r in per for f in r["summary"]["by_family"]})
        head = "| family | " + " | ".join(f"{r['detector']} [{r['recipe']}] recall / AUC / AP" for r in per) + " |"
        lines += [head, "|---|" + "---|" * len(per)]
        for fam in fams:
            cells = []
            for r in per:
                m = r["summary"]["by_family"].get(fam, {})
                cells.append(f"{fmt(m.get('recall'), 2)} / {fmt(m.get('auc'), 2)} / {fmt(m.get('ap'), 2)}")
            lines.append(f"| {fam} | " + " | ".join(cells) + " |")
        lines.append("")
        lines += ["Partial edits (not used for training; scored apart): share flagged as fake — "
                  + ", ".join(f"{r['detector']} [{r['recipe']}] {fmt(r['summary']['partial_edits']['flagged'], 2)}" for r in per), ""]  # fmt: skip

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
