"""Plots, tables, the HTML page and the ``## Attribution`` section of what :mod:`fakescope.evaluation.attribution`
measured.

Plots (the one look of :mod:`.plotting`): ``confusion_family.png`` (rows: true family, share of its images;
clean pixels beside matched processing), ``confusion_generator.png`` (clean pixels) and
``open_set_scores.png`` (the open-set score of known images and of held-out generators' images, with the
thresholds the folds fitted inside their training data). The same sections, tables and figures make the
Markdown section and the HTML page.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from . import markdown, plotting
from .page import Figure, Section, Table, write_page
from .stats import wilson

HEADING = "Attribution"
CLEAN, MATCHED = "clean", "matched256q90"
#: how the test views are named in plot titles and column headers
VIEW_TITLES = {CLEAN: "clean pixels", MATCHED: "matched processing (256 px, JPEG q90)"}
VIEW_SHORT = {CLEAN: "clean", MATCHED: "matched"}


# --- cells ------------------------------------------------------------------------------------------------------
def _pct(x) -> str:
    return "–" if x is None else f"{x:.1%}"


def _with_ci(share, n) -> str:
    """``87.0% (82–91%)``: a share and its 95% Wilson interval, so small groups are not over-read."""
    if share is None or not n:
        return "–"
    lo, hi = wilson(round(share * n), n)
    return f"{share:.1%} ({lo:.0%}–{hi:.0%})"


# --- plots ------------------------------------------------------------------------------------------------------
def _shares(counts: list[list[int]]) -> np.ndarray:
    """Row-normalised confusion matrix; empty cells NaN (left blank)."""
    m = np.asarray(counts, dtype=float)
    shares = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    return np.where(m > 0, shares, np.nan)


def plot_confusion_family(closed: dict, path: Path) -> Path:
    views, labels = list(closed["views"]), closed["families"]
    side = 1.0 + 0.45 * len(labels)
    with plotting.style():
        fig, axes = plotting.figure(1, len(views), width=side * len(views) + 1.5, height=side, layout="constrained")
        for ax, view in zip(axes[0], views):
            v = closed["views"][view]
            plotting.matrix(ax, _shares(v["confusion_family"]), labels, vmin=0, vmax=1, annotate="{:.0%}")
            ax.set_title(f"{VIEW_TITLES.get(view, view)}: family top-1 {v['family_top1']:.1%}")
            ax.set_xlabel("answered family")
            ax.set_ylabel("true family")
        return plotting.save(fig, path)


def plot_confusion_generator(closed: dict, path: Path, view: str = CLEAN) -> Path:
    labels, v = closed["classes"], closed["views"][view]
    side = 2.5 + 0.26 * len(labels)
    with plotting.style():
        fig, axes = plotting.figure(1, 1, width=side + 1.5, height=side, layout="constrained")
        ax = axes[0, 0]
        plotting.matrix(ax, _shares(v["confusion_generator"]), labels, vmin=0, vmax=1,
                        annotate="{:.0%}", colorbar="share of the true generator's images")  # fmt: skip
        ax.set_title(f"generator (family/generator), {VIEW_TITLES.get(view, view)}: top-1 {v['generator_top1']:.1%}")
        ax.set_xlabel("answered generator")
        ax.set_ylabel("true generator")
        return plotting.save(fig, path)


def plot_open_set_scores(opened: dict, path: Path) -> Path:
    views = list(opened["views"])
    thresholds = [f["threshold"] for f in opened["folds"] if f["threshold"] is not None]
    bins = np.linspace(0, 1, 26)
    with plotting.style():
        fig, axes = plotting.figure(1, len(views), width=4.2 * len(views), height=3.0, layout="constrained")
        for ax, view in zip(axes[0], views):
            v = opened["views"][view]
            for scores, label, color in ((v["known_scores"], "known generators", plotting.OKABE_ITO[0]),
                                         (v["unknown_scores"], "held-out generators",
                                          plotting.CLASS_COLORS["unknown"])):  # fmt: skip
                ax.hist(scores, bins=bins, density=True, alpha=0.55, color=color, label=f"{label} ({len(scores)})")
            for i, t in enumerate(thresholds):  # below its fold's threshold, an answer is "unknown"
                ax.axvline(t, color="black", linestyle=":", linewidth=0.8,
                           label="the folds' unknown thresholds" if i == 0 else None)  # fmt: skip
            ax.set_title(f"{VIEW_TITLES.get(view, view)}: AUROC {v['auroc']:.3f}")
            ax.set_xlabel("probability of the answer")
            ax.set_ylabel("density")
            ax.legend(loc="upper left")
        return plotting.save(fig, path)


def write_plots(result: dict, folder: Path) -> dict[str, Path]:
    """Every attribution plot of an evaluation result into ``folder``; returns ``{name: path}``.

    Raises:
        plotting.PlotsUnavailable: matplotlib is not installed.
    """
    folder = Path(folder)
    return {
        "confusion_family": plot_confusion_family(result["closed_set"], folder / "confusion_family.png"),
        "confusion_generator": plot_confusion_generator(result["closed_set"], folder / "confusion_generator.png"),
        "open_set_scores": plot_open_set_scores(result["open_set"], folder / "open_set_scores.png"),
    }


# --- sections ---------------------------------------------------------------------------------------------------
def sections(result: dict, plots: dict[str, Path] | None = None) -> tuple[list[str], list[Section]]:
    """``(intro paragraphs, sections)`` of an evaluation result, for both the Markdown and the page."""
    closed, opened, cfg = result["closed_set"], result["open_set"], result["config"]
    views = list(closed["views"])
    vn = [VIEW_SHORT.get(v, v) for v in views]
    plots = plots or {}
    rare = {g: n for g, n in result["targets"].items() if g not in closed["classes"]}
    intro = [
        f"Which generator made an image: the family first ({', '.join(closed['families'])}), then the generator "
        f"within it, or `unknown`. {result['images']} images; {len(closed['classes'])} classes (generators with at "
        f"least {cfg['min_images']} images, and `real`) in {len(closed['families'])} families; {sum(rare.values())} "
        f"images of {len(rare)} smaller generators are never a class and serve as unknowns. Features: CLIP "
        f"ViT-B/16 embedding and the log-DCT spectrum ({cfg['dct_cells']}x{cfg['dct_cells']} blocks); linear heads "
        f"trained on the clean image and {cfg['n_aug']} augmented views (crop, down-scale, blur, JPEG). Test views: "
        "clean pixels, and matched processing (every image resized to 256 px and re-encoded as JPEG q90), which "
        "leaves no answer in size or format. Generators here coincide with sources (each came from one "
        "repository), so part of a clean-pixel score can be a source's content or format: read the matched "
        "columns as the harder numbers.",
    ]

    rows = []
    for fam in closed["families"]:
        per = [closed["views"][v]["per_family"][fam] for v in views]
        n = per[0]["images"]
        rows.append([fam, n, *[_with_ci(p["family_top1"], n) for p in per], *[_pct(p["generator_top1"]) for p in per]])
    rows.append(["all", closed["images"], *[_pct(closed["views"][v]["family_top1"]) for v in views],
                 *[_pct(closed["views"][v]["generator_top1"]) for v in views]])  # fmt: skip
    rows.append(["balanced (mean over classes)", "", *[_pct(closed["views"][v]["family_balanced"]) for v in views],
                 *[_pct(closed["views"][v]["generator_balanced"]) for v in views]])  # fmt: skip
    families = Table(["family", "images", *[f"family top-1, {n}" for n in vn], *[f"generator top-1, {n}" for n in vn]],
                     rows, align="lr" + "r" * (2 * len(views)))  # fmt: skip
    rows = []
    for c in closed["classes"]:
        per = [closed["views"][v]["per_generator"][c] for v in views]
        rows.append([c, per[0]["images"], *[_pct(p["generator_top1"]) for p in per], _pct(per[0]["family_top1"]),
                     per[0]["confused_with"] or "–"])  # fmt: skip
    generators = Table(["generator", "images", *[f"top-1, {n}" for n in vn], "family right, clean",
                        "most often taken for"], rows, align="lr" + "r" * len(views) + "rl")  # fmt: skip
    closed_section = Section(
        f"Closed set: top-1 under {closed['folds']} stratified folds",
        [f"{closed['images']} images of the classes, each scored by a model that did not train on it (a real image "
         "and its aligned counterparts stay in one fold). Family top-1 with its 95% Wilson interval."],
        [Figure(plots[k], c) for k, c in (("confusion_family", "Family confusion (share of each true family)"),
                                          ("confusion_generator", "Generator confusion, clean pixels")) if k in plots],
        [families, generators])  # fmt: skip

    rows = []
    for v in opened["views"]:
        o = opened["views"][v]
        rows.append([VIEW_SHORT.get(v, v), o["auroc"], o["auroc_held_out_classes"], o["auroc_rare"],
                     _pct(o["known_called_unknown"]), _pct(o["unknown_called_unknown"]),
                     f"{_pct(o['unknown_family_right'])} of {o['unknown_family_images']}"])  # fmt: skip
    open_tables = [Table(["view", "AUROC, all held out", "AUROC, held-out classes", "AUROC, small generators",
                          "known called unknown", "held-out called unknown", "held-out family named right"], rows,
                         align="lrrrrrr")]  # fmt: skip
    per = opened["views"].get(CLEAN, {}).get("per_held_out_generator", {})
    big = {g: p for g, p in per.items() if g in closed["classes"]}
    if big:
        open_tables.append(Table(["held-out generator", "images", "called unknown", "family named right"],
                                 [[g, p["images"], _pct(p["called_unknown"]), _pct(p["family_right"])]
                                  for g, p in big.items()], "Per held-out generator that is a class when trained on "
                                 "(clean pixels)", "lrrr"))  # fmt: skip
    thresholds = [f["threshold"] for f in opened["folds"] if f["threshold"] is not None]
    open_section = Section(
        f"Open set: known vs held-out generators, {len(opened['folds'])} leave-generators-out folds",
        [f"Each fold holds out the generated images of some generators whole (over all folds {opened['unknown_images']} "
         f"images of {opened['unknown_generators']} generators, each held out once) and a stratified share of the "
         f"classes' images ({opened['known_images']} known images). The attributor trains on the rest; its `unknown` "
         "threshold is fitted inside that training data, on generators it holds out there, never on a test "
         "generator. AUROC: how well the score (the probability of the answer) ranks known images above held-out "
         "ones; the rates are at each fold's own threshold"
         + (f" ({min(thresholds):.3f} to {max(thresholds):.3f})" if thresholds else "") + ". The family rate counts "
         "the held-out images whose family another trained generator shares."],
        [Figure(plots["open_set_scores"], "Open-set score of known and held-out images")] if "open_set_scores" in plots
        else [], open_tables)  # fmt: skip

    d = result.get("defake")
    if not d:
        defake_section = Section("DE-FAKE: image-only vs hybrid attribution",
                                 ["Fewer than two generators have enough images with prompts: no table."])
    else:
        models = list(d["models"])
        rows = [[g, *[_pct(d["models"][m]["per_generator"][g]) for m in models]] for g in d["generators"]]
        rows.append(["top-1, all", *[_pct(d["models"][m]["accuracy"]) for m in models]])
        rows.append(["balanced (mean over generators)", *[_pct(d["models"][m]["balanced"]) for m in models]])
        defake_section = Section("DE-FAKE: image-only vs hybrid attribution", [
            "Sha et al. (CCS 2023) attribute a generated image from the image alone and from the image with its "
            f"prompt (hybrid). Here: the {d['images']} generated images whose source records the prompt "
            f"({len(d['generators'])} generators with at least {cfg['min_images']} such images; {d['prompts']} distinct "
            f"prompts, {d['shared_prompts']} of them rendered by more than one generator), {d['folds']} folds that "
            "hold out whole prompts (a test prompt is never trained on). Image: CLIP ViT-B/16 embedding; prompt: "
            "all-MiniLM-L6-v2 embedding; each into DE-FAKE's 2-layer MLP (128 hidden units), as `defake-hybrid` "
            "builds it. The paper's image-only model is a ResNet-18; this row uses the hybrid's own image side "
            "instead, so the difference between the rows is the prompt's alone. Real photos have no prompts here, "
            "so unlike the paper the classes are generators only."],
            tables=[Table(["generator", *models], rows, align="l" + "r" * len(models))])  # fmt: skip
    return intro, [closed_section, open_section, defake_section]


def markdown_body(result: dict, command: str, plots: dict[str, Path] | None, document: Path) -> str:
    """The Markdown of the section (without its ``## `` heading); links relative to ``document``."""
    intro, secs = sections(result, plots)
    lines = [f"Written by `{command}` ({result['seconds'] / 60:.0f} min).", "", *intro, ""]
    for s in secs:
        lines += [f"### {s.title}", "", *[p + "\n" for p in s.paragraphs]]
        for t in s.tables:
            lines += ([f"{t.caption}:", ""] if t.caption else []) + [markdown.table(t.headers, t.rows, t.align), ""]
        lines += [f"![{f.caption}]({markdown.relative_link(f.path, document)})\n" for f in s.figures]
    return "\n".join(lines).rstrip("\n") + "\n"


def write_report(result: dict, out_dir: str | os.PathLike, command: str, analysis: Path | None = None,
                 log=lambda m: None) -> dict[str, Path]:  # fmt: skip
    """``results.json``, the plots (when matplotlib is there), ``attribution.md`` and ``attribution.html`` into
    ``out_dir``; with ``analysis``, also its ``## Attribution`` section. Returns ``{name: path}`` written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = {**result, "command": command}
    written = {"results": out / "results.json"}
    written["results"].write_text(json.dumps(result, indent=1, default=str))
    try:
        plots = write_plots(result, out)
    except plotting.PlotsUnavailable as exc:
        log(f"no plots: {exc}")
        plots = {}
    written.update(plots)
    md = out / "attribution.md"
    md.write_text(f"## {HEADING}\n\n" + markdown_body(result, command, plots, md), encoding="utf-8")
    written["markdown"] = md
    intro, secs = sections(result, plots)
    written["page"] = write_page(out / "attribution.html", "fakescope: attribution", secs, intro, command)
    if analysis is not None:
        written["analysis"] = markdown.update_section(analysis, HEADING, markdown_body(result, command, plots, analysis))
    return written
