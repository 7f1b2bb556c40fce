"""The benchmark page: docs/BENCHMARKS.md, its JSON results and the per-generator SVG plot."""

from __future__ import annotations

import json
import os
import platform
import re
from pathlib import Path
from xml.sax.saxutils import escape

from ..report import fmt, metrics_table
from .choose import FUSE_TOP, PAIRS_TAG, SELECTION, own_pairs
from .plan import MATCHED


#: everything below this line of the page comes from the scripts under benchmarks/ and survives re-rendering
HAND_RUN = "<!-- measured by the scripts under benchmarks/ (each section names its command); kept when the page is re-rendered -->"

HEADLINE = ["auc", "ap", "accuracy", "f1", "recall", "specificity", "eer", "tpr@1%fpr", "ece"]


def _row(summary: dict) -> dict:
    return {"n": summary["overall"].get("n"), **{k: summary["overall"].get(k) for k in HEADLINE}}


def _label(r: dict) -> str:
    tag = "" if r.get("settings", "full") == "full" else ", reduced"
    tag += "".join(f", {k}={v}" for k, v in (r.get("set") or {}).items())
    if r.get("max_folds"):  # fewer folds than the protocol's own (``--max-folds``): its protocol says how many
        tag += ", " + re.search(r"\d+ folds", r["summary"]["protocol"]).group(0)
    if not own_pairs(r):  # an ablation: fewer (or other) autoencoders than the protocol's own
        tag += f", pairs of {'+'.join(r['summary']['setup']['setup']['autoencoders'])}"
    return f"{r['detector']} [{r['recipe']}{tag}]" + PAIRS_TAG.get(r["protocol_key"], "")


def write_page(results: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str))
    plot = out.with_name(out.stem.lower() + "-per-generator.svg")
    plot.write_text(per_generator_svg(results))
    trust = out.with_name(out.stem.lower() + "-reliability.svg")
    trust.write_text(reliability_svg(_trust_runs(results)))
    kept = ""
    if out.is_file():  # sections measured by the scripts under benchmarks/ stay below the marker
        old = out.read_text()
        kept = old[old.index(HAND_RUN):] if HAND_RUN in old else ""
    out.write_text(render(results, plot.name, trust.name) + ("\n" + kept if kept else ""))


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


def _trust_runs(res: dict) -> list[dict]:
    """The runs the reliability plot shows: under LOSO with matched processing, the chosen default's members
    and every run with settings of its own (e.g. calibrated out of source), at most six."""
    members = {tuple(m) for m in (res.get("chosen") or {}).get("members", [])}
    runs = [r for r in res["runs"] if r["protocol_key"] == "loso-matched" and r["summary"].get("calibration")
            and ((r["detector"], r["recipe"]) in members and not r.get("set") or r.get("set"))]  # fmt: skip
    return runs[:6]


COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def reliability_svg(runs: list[dict]) -> str:
    """Two panels: the reliability diagram (mean p against the share generated, per bin of p) and the
    risk-coverage curve (accuracy of the most confident share of images against that share)."""
    size, pad, gap = 260, 40, 70
    w, h = 2 * size + 2 * pad + gap + 10, size + 2 * pad + 18 * max(1, len(runs)) + 20
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" '
             'font-size="11">', '<rect width="100%" height="100%" fill="white"/>']  # fmt: skip
    panels = (("reliability diagram: p_fake (x) vs share generated (y)", pad, "reliability", "mean_p", "fake_share",
               (0, 1)),
              ("risk-coverage: share answered (x) vs accuracy (y)", pad + size + gap, "risk_coverage", "answered",
               "accuracy", (0.4, 1)))  # fmt: skip
    for title, x0, key, fx, fy, (ylo, yhi) in panels:
        def X(v):
            return x0 + v * size

        def Y(v):
            return pad + size - (v - ylo) / (yhi - ylo) * size

        parts += [f'<text x="{x0}" y="{pad - 12}">{escape(title)}</text>',
                  f'<rect x="{x0}" y="{pad}" width="{size}" height="{size}" fill="none" stroke="#888"/>']  # fmt: skip
        for t in (0, 0.5, 1):
            parts.append(f'<text x="{X(t)}" y="{pad + size + 14}" text-anchor="middle">{t:g}</text>')
            yv = ylo + t * (yhi - ylo)
            parts.append(f'<text x="{x0 - 4}" y="{Y(yv) + 4}" text-anchor="end">{yv:g}</text>')
        if key == "reliability":
            parts.append(f'<line x1="{X(0)}" y1="{Y(0)}" x2="{X(1)}" y2="{Y(1)}" stroke="#bbb" stroke-dasharray="4"/>')
        else:
            parts.append(f'<line x1="{X(0)}" y1="{Y(0.9)}" x2="{X(1)}" y2="{Y(0.9)}" stroke="#bbb" '
                         'stroke-dasharray="4"/>')  # fmt: skip
        for i, r in enumerate(runs):
            pts = [(X(b[fx]), Y(min(yhi, max(ylo, b[fy])))) for b in r["summary"]["calibration"][key]]
            colour = COLOURS[i % len(COLOURS)]
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="'
                         + " ".join(f"{a:.1f},{b:.1f}" for a, b in pts) + '"/>')  # fmt: skip
            parts += [f'<circle cx="{a:.1f}" cy="{b:.1f}" r="2.5" fill="{colour}"/>' for a, b in pts]
    for i, r in enumerate(runs):
        y = pad + size + 34 + 18 * i
        parts += [f'<rect x="{pad}" y="{y - 9}" width="12" height="10" fill="{COLOURS[i % len(COLOURS)]}"/>',
                  f'<text x="{pad + 18}" y="{y}">{escape(_label(r))}</text>']  # fmt: skip
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _trust_table(runs: list[dict], plot_name: str) -> list[str]:
    """How far the probabilities and verdicts can be trusted on sources never seen (LOSO, matched)."""
    order = {"loso-matched": 0, "loso": 1, "logo-matched": 2, "logo": 3, "loso-matched-modern": 4,
             "aligned-only": 5, "aligned-only-matched": 6}  # fmt: skip
    per = [r for r in runs if r["summary"].get("calibration") and r["protocol_key"] in order]
    if not per:
        return []
    per.sort(key=lambda r: (order[r["protocol_key"]], r["summary"]["calibration"]["ece"]))
    lines = ["## How far to trust it: calibration and verdicts on unseen sources", "",
             "Every probability below was given by a model that never saw the image's source (LOSO) or generator "
             "(LOGO); *-matched*: matched processing. *ECE*: expected calibration error (10 bins); *Brier*: mean "
             "squared error of p_fake. *Band*: verdicts outside the unsure band 0.3-0.7, the share of images they "
             "answer and how often they are right. *Top 50%*: accuracy on the half of the images the model is most "
             "sure of. *Verdict sets*: for detectors calibrated out of source (`calibration=loso`), the conformal "
             "sets, with the error level chosen inside each fold's training data (confident verdicts at least "
             "90% right on its held-out sources, answering as many images as that allows): coverage of real / "
             "generated images, the share answered with one verdict and how often right, then the same once "
             "images far from the training data abstain. The plot shows the LOSO-matched rows of the chosen "
             "default's members and of runs with settings of their own.", "",
             f"![Reliability diagram and risk-coverage curve]({plot_name})", "",
             "| protocol | detector [recipe] | AUC | ECE | Brier | band: answered / right | top 50% right | verdict "
             "sets: coverage real / fake | answered / right | + distance abstention: answered / right |",
             "|---|---|---:|---:|---:|---|---:|---|---|---|"]  # fmt: skip
    for r in per:
        c, vs = r["summary"]["calibration"], r["summary"].get("verdict_sets") or {}
        half = next((x["accuracy"] for x in c["risk_coverage"] if abs(x["answered"] - 0.5) < 1e-9), None)
        cells = [fmt(r["summary"]["overall"].get("auc")), fmt(c["ece"]), fmt(c["brier"]),
                 f"{fmt(c['band']['answered'], 2)} / {fmt(c['band']['confident_accuracy'], 2)}", fmt(half, 2)]  # fmt: skip
        if vs:
            cf, ab = vs["conformal"], vs["with_abstention"]
            cells += [f"{fmt(cf['coverage_real'], 2)} / {fmt(cf['coverage_fake'], 2)}",
                      f"{fmt(cf['answered'], 2)} / {fmt(cf['confident_accuracy'], 2)}",
                      f"{fmt(ab['answered'], 2)} / {fmt(ab['confident_accuracy'], 2)}"]  # fmt: skip
        else:
            cells += ["-", "-", "-"]
        lines.append(f"| {r['protocol_key']} | {_label(r)} | " + " | ".join(cells) + " |")
    return lines + [""]


def render(res: dict, plot_name: str = "benchmarks-per-generator.svg",
           trust_plot: str = "benchmarks-reliability.svg") -> str:  # fmt: skip
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
        "trained at the reduced CPU size (fewer epochs, narrower networks; each family's `reduced` settings in the registry); "
        "other rows used the full settings of each detector's card.",
        "- Pooled metrics over LOSO folds mix models; sources with a single class have no per-source AUC, "
        "only accuracy (true-negative rate for real sources, recall for generated ones).",
        "",
    ]
    if res.get("skipped_detectors"):
        lines += [f"Skipped (optional packages missing): {', '.join(res['skipped_detectors'])}.", ""]

    lines += ["## Default detector selection: leave-one-source-out under matched processing", ""]
    sel = {_label(r): _row(r["summary"]) for r in runs if r["protocol_key"] in SELECTION}
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
        caveats = ([f"needs {', '.join(best['needs'])}"] if best["needs"] else []) + (
            ["a peer detector, never shipped"] if best.get("peer") else [])
        lines += [f"Best overall: **{best['name']}** (pooled AUC {fmt(best['auc'])}"
                  + (f"; {'; '.join(caveats)})." if caveats else ").")]  # fmt: skip
    if chosen:
        (det, recipe), *rest = chosen["members"]
        settings = (f"--set members={'+'.join(f'{d}:{r}' for d, r in chosen['members'])}" if rest
                    else f"--set sources={recipe}")  # fmt: skip
        train_cmd = (f"`fakescope train {'ensemble' if rest else det} --manifest ../shared/data/manifest.csv "
                     f"{settings} --set calibration=loso{' --aligned-pairs' if chosen.get('pairs') else ''} "
                     "--evidence docs/BENCHMARKS.json --out src/fakescope/trained/default`")  # fmt: skip
        lines += [
            "",
            f"**Chosen default: {chosen['name']}** (pooled AUC {fmt(chosen['auc'])}"
            + (f"; {fmt(chosen['modern'])} on the modern slice" if chosen.get("modern") is not None else "")
            + "): the highest above (pooled AUC to two decimals, then the AUC of the same predictions on the "
            "modern slice: real images against the fakes of generators of 2023 on) among "
            "single detectors and fusions that need no optional package, since the default must scan on the "
            "base install, and contain no peer detector (another project's model, scored for comparison). "
            f"The shipped default is trained with {train_cmd}: calibrated out of source, with verdict sets and "
            "distance abstention (its own results, trained that way in every fold, are the rows marked "
            "`calibration=loso`).",
            "",
        ]
    for name, views in (res.get("training_free") or {}).items():
        lines += [f"Training-free `{name}`, raw score over all images (no folds, no calibration): AUC "
                  + ", ".join(f"{fmt(v['auc'])} ({k})" for k, v in views.items())
                  + "; within the sources that hold both classes (matched): "
                  + ", ".join(f"{src} {fmt(m['auc'], 2)}" for src, m in views["matched processing"]["by_paired_source"].items())
                  + ". Its pooled fold results above mix per-fold base rates.", ""]  # fmt: skip
    lines += _trust_table(runs, trust_plot)
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
    lines += _modern_section(runs, audits)
    for key in ("aligned-only", "aligned-only-matched"):
        lines += _aligned_section(runs, audits, key)
    lines += _pairs_section(runs, audits, res.get("fusions") or [])
    lines += _per_source(runs, chosen)
    from ..loc_benchmark import render_localization

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


def _ranked(runs: list[dict], by: str, protocol: str, recipe: str | None = None) -> tuple[list[dict], list[str]]:
    """The runs of one protocol (and recipe), best pooled AUC first, and the groups their ``by`` table covers."""
    per = [r for r in runs if r["protocol_key"] == protocol and recipe in (None, r["recipe"])]
    per.sort(key=lambda r: -(r["summary"]["overall"].get("auc") or 0))
    return per, sorted({g for r in per for g in r["summary"][by]})


def _review_table(runs: list[dict]) -> list[str]:
    """The review's comparison: precision / recall / F1 per generator family, plus AUC / AP (LOSO, matched)."""
    per, fams = _ranked(runs, "by_family", "loso-matched", "paired")
    if not per:
        return []
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
    per, gens = _ranked(runs, "by_generator", "logo-matched")
    if not per:
        return []
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


def _group_cells(summary: dict, by: str, groups: list[str]) -> list[str]:
    return [f"{fmt(summary[by].get(g, {}).get('auc'), 2)} / {fmt(summary[by].get(g, {}).get('recall'), 2)}"
            for g in groups]  # fmt: skip


def _modern_section(runs: list[dict], audits: dict) -> list[str]:
    """LOSO under matched processing, scored on real images and the fakes of generators of 2023 on."""
    from ..protocols import MODERN_GENERATORS

    per, gens = _ranked(runs, "by_generator", "loso-matched-modern")
    if not per:
        return []
    rows = {_label(r): _row(r["summary"]) for r in per}
    if "loso-matched-modern" in audits:
        rows["shortcut audit [paired]"] = _row(audits["loso-matched-modern"])
    n_fake = per[0]["summary"]["overall"].get("n_fake")
    lines = ["## Modern generators: leave-one-source-out, matched processing, test restricted to 2023 on", "",
             f"Protocol: {per[0]['summary']['protocol']}. The folds and training are those of LOSO-matched (each "
             "model trained on every other source, older generators' fakes included); only the real images and "
             f"the {n_fake} fakes of generators released in 2023 or later ({len(MODERN_GENERATORS)} generator "
             "names in `MODERN_GENERATORS`, `evaluation/protocols.py`: FLUX.1 and its LoRAs and InfiniteYou portraits, "
             "FLUX.1 Kontext, SD3/3.5, SDXL and SDXL-Turbo, Fooocus' 128 px SDXL previews, Stable Cascade, "
             "AuraFlow, HunyuanDiT, DALL-E 3, Firefly, Midjourney v5 and v6.1) are scored; the fakes of older "
             "generators are not.", "", metrics_table(rows, "detector [recipe]", HEADLINE),
             "Per modern generator with at least 5 fakes: its fakes against all real images, AUC / recall at 0.5.",
             "", "| detector | " + " | ".join(gens) + " |", "|---|" + "---|" * len(gens)]  # fmt: skip
    lines += [f"| {_label(r)} | " + " | ".join(_group_cells(r["summary"], "by_generator", gens)) + " |" for r in per]
    return lines + [""]


def _aligned_section(runs: list[dict], audits: dict, key: str) -> list[str]:
    """Trained on real images and their autoencoder counterparts only, tested on every collected generator."""
    per, fams = _ranked(runs, "by_family", key)
    if not per:
        return []
    # the protocol's own setup (ablations with other autoencoders say theirs in their labels)
    own = next((r for r in per if own_pairs(r)), per[0])
    setup = own["summary"].get("setup") or {}
    rows = {_label(r): _row(r["summary"]) for r in per}
    if key in audits:
        rows["shortcut audit (trained on the same pairs)"] = _row(audits[key])
    psnr = setup.get("psnr_db") or {}
    aes = ", ".join(a.removeprefix("fakescope-aligned-") + (f" (PSNR {psnr[a]} dB)" if a in psnr else "")
                    for a in setup.get("autoencoders", []))  # fmt: skip
    title = "files as they are" if key == "aligned-only" else "matched processing"
    lines = [f"## Aligned-only training ({title}): no collected fake in training", "",
             f"Protocol: {own['summary']['protocol']}. Training data: {setup.get('reals')} real images "
             f"({', '.join(f'{s} {n}' for s, n in (setup.get('real_sources') or {}).items())}), centre-cropped "
             f"to {setup.get('side')} px at native resolution, and {setup.get('pairs')} counterparts made from "
             f"them by the autoencoders {aes} (one per real image and autoencoder; our own are the "
             "full-size ones shipped with fakescope, trained on the 256 px crops of every real image of the data, "
             "test images' included: an autoencoder never sees a label; PSNR: mean agreement of a counterpart "
             "with its real crop). Each real image and its counterparts are a linked pair: the same "
             "augmentation draw, the same cross-fitting fold. Test: every collected fake of the data (partial "
             "edits apart) against the real images no counterpart was made from.", "",
             metrics_table(rows, "detector [recipe]", HEADLINE),
             "Per generator family: its fakes against all held-out real images, AUC / recall at 0.5.", "",
             "| detector | " + " | ".join(fams) + " |", "|---|" + "---|" * len(fams)]  # fmt: skip
    lines += [f"| {_label(r)} | " + " | ".join(_group_cells(r["summary"], "by_family", fams)) + " |" for r in per]
    return lines + [""]


def _pairs_section(runs: list[dict], audits: dict, fusions: list[dict]) -> list[str]:
    """LOSO-matched with aligned pairs added to the training data, beside the same detectors without them."""
    key = "loso-matched-aligned"
    per, fams = _ranked(runs, "by_family", key)
    if not per:
        return []
    own = next((r for r in per if own_pairs(r)), per[0])  # the protocol's own pairs (ablations say theirs)
    setup = own["summary"].get("setup") or {}
    psnr = setup.get("psnr_db") or {}
    aes = ", ".join(a.removeprefix("fakescope-aligned-") + (f" ({psnr[a]} dB)" if a in psnr else "")
                    for a in setup.get("autoencoders", []))  # fmt: skip
    plain = {(r["detector"], r["recipe"]): r for r in runs if r["protocol_key"] == "loso-matched" and not r.get("set")}
    lines = ["## Aligned pairs and collected fakes: leave-one-source-out, matched processing", "",
             f"Protocol: {own['summary']['protocol']}. The folds, test images and matched processing are "
             f"LOSO-matched's; every fold's training data also holds {setup.get('reals')} real {setup.get('side')} px "
             f"crops (every real image with both sides at least that, at native resolution) and their "
             f"{setup.get('pairs')} counterparts made by {aes} (PSNR of a counterpart against its crop), linked as "
             "pairs; the pairs made from the held-out source's real images are left out of its fold. *modern*: the "
             "same predictions on the real images and the fakes of generators of 2023 on. *without pairs*: the same "
             "detector and recipe under LOSO-matched.", "",
             "| detector [recipe] | AUC | AP | accuracy | ECE | modern AUC | without pairs: AUC | modern AUC |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in per:
        o, base = r["summary"]["overall"], plain.get((r["detector"], r["recipe"]))
        cal = r["summary"].get("calibration") or {}
        modern = (r["summary"].get("modern") or {}).get("auc")
        cells = [fmt(o.get("auc")), fmt(o.get("ap")), fmt(o.get("accuracy")), fmt(cal.get("ece")), fmt(modern)]
        cells += ([fmt(base["summary"]["overall"].get("auc")), fmt((base["summary"].get("modern") or {}).get("auc"))]
                  if base else ["-", "-"])  # fmt: skip
        lines.append(f"| {_label(r)} | " + " | ".join(cells) + " |")
    if key in audits:
        a = audits[key]["overall"]
        lines.append(f"| shortcut audit (trained on the same data) | {fmt(a.get('auc'))} | {fmt(a.get('ap'))} | "
                     f"{fmt(a.get('accuracy'))} | - | - | - | - |")  # fmt: skip
    for f in sorted((f for f in fusions if f.get("protocol_key") == key),
                    key=lambda f: -(f["summary"]["overall"].get("auc") or 0))[:3]:  # fmt: skip
        o = f["summary"]["overall"]
        lines.append(f"| fusion: {f['name']} | {fmt(o.get('auc'))} | {fmt(o.get('ap'))} | {fmt(o.get('accuracy'))} | "
                     f"{fmt((f['summary'].get('calibration') or {}).get('ece'))} | {fmt(f.get('modern'))} | - | - |")
    lines += ["", "Per generator family: its fakes against all real images, AUC / recall at 0.5.", "",
              "| detector | " + " | ".join(fams) + " |", "|---|" + "---|" * len(fams)]  # fmt: skip
    lines += [f"| {_label(r)} | " + " | ".join(_group_cells(r["summary"], "by_family", fams)) + " |" for r in per]
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
