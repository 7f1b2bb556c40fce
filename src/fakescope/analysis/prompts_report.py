"""Plots, tables, the HTML page and the ``## Prompt analysis`` section of what :mod:`.prompts` found."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

from . import markdown, plotting
from .page import Figure, Section, Table, write_page
from .prompts import DIMENSIONS, MIN_IMAGES, MIN_PROMPTS, GroupStats, PromptResult

HEADING = "Prompt analysis"


def _pct(v: float) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{100 * v:.0f} %"


def _interval(iv: tuple[float, float]) -> str:
    lo, hi = iv
    return "–" if not (math.isfinite(lo) and math.isfinite(hi)) else f"{100 * lo:.0f}-{100 * hi:.0f} %"


def stratum_title(stratum: str) -> str:
    return "All generated images with prompts" if stratum == "all" else f"Only {stratum}"


def group_label(r: PromptResult, stratum: str, g: GroupStats) -> str:
    """A group's name, with a cluster's keywords."""
    c = r.clusters.get(stratum, {}).get(g.name) if g.dimension == "prompt cluster" else None
    return f"{g.name}: {', '.join(c.keywords)}" if c else g.name


def _main_source(g: GroupStats) -> str:
    if not g.sources:
        return "–"
    src, n = g.sources.most_common(1)[0]
    return f"{src.rsplit('/', 1)[-1]} {100 * n / g.n:.0f} %"


def dimension_table(r: PromptResult, stratum: str, dim: str) -> Table:
    overall = r.overall[stratum]
    rows = [[group_label(r, stratum, g), g.n, g.prompts, g.missed, _pct(g.rate), _interval(g.wilson),
             _interval(g.bootstrap), _pct(g.expected), _main_source(g), "too small" if g.small else ""]
            for g in [*r.tables[stratum][dim], overall]]  # fmt: skip
    rows[-1][0] = "all (this table's images)"
    rows[-1][-1] = ""
    headers = ["group", "images", "prompts", "missed", "miss rate", "Wilson 95 %", "prompt bootstrap 95 %",
               "expected from generators", "main source", "read?"]  # fmt: skip
    note = " A prompt can be in several topics." if dim == "topic" else ""
    return Table(headers, rows, f"{stratum_title(stratum)}, by {dim}.{note}", "lrrrrrrrll")


def cluster_table(r: PromptResult, stratum: str) -> Table | None:
    clusters = r.clusters.get(stratum) or {}
    if not clusters:
        return None
    rows = [[c.name, c.size, ", ".join(c.keywords), c.example[:160] + ("…" if len(c.example) > 160 else "")]
            for c in clusters.values()]  # fmt: skip
    return Table(["cluster", "prompts", "frequent words", "most central prompt"], rows,
                 f"{stratum_title(stratum)}: the prompt clusters.", "lrll")  # fmt: skip


def findings(r: PromptResult, stratum: str) -> list[str]:
    """Groups whose both intervals lie wholly above or below the rate of the whole table, and the 25-75 bucket."""
    overall = r.overall[stratum]
    harder, easier = [], []
    for dim in DIMENSIONS:
        for g in r.tables[stratum][dim]:
            if g.small or not all(math.isfinite(v) for v in (*g.wilson, *g.bootstrap)):
                continue
            text = (f"{group_label(r, stratum, g)} ({dim}, {_pct(g.rate)}, n={g.n}, {g.prompts} prompts; "
                    f"{_pct(g.expected)} expected from its generators)")  # fmt: skip
            if min(g.wilson[0], g.bootstrap[0]) > overall.rate:
                harder.append(text)
            elif max(g.wilson[1], g.bootstrap[1]) < overall.rate:
                easier.append(text)
    out = [f"{overall.n} images from {overall.prompts} distinct prompts; {overall.missed} missed "
           f"({_pct(overall.rate)}, Wilson {_interval(overall.wilson)}, prompt bootstrap "
           f"{_interval(overall.bootstrap)})."]  # fmt: skip
    out.append("Missed more often than the whole table, by both intervals: " + ("; ".join(harder) or "no group")
               + ".")  # fmt: skip
    out.append("Missed less often, by both intervals: " + ("; ".join(easier) or "no group") + ".")
    mid = next((g for g in r.tables[stratum]["prompt length"] if g.name == "25-75 words"), None)
    if mid is not None:
        out.append(f"DE-FAKE's most realistic length, 25-75 words: {_pct(mid.rate)} missed "
                   f"(Wilson {_interval(mid.wilson)}, n={mid.n}, {mid.prompts} prompts"
                   f"{', too small to read' if mid.small else ''}).")  # fmt: skip
    return out


def plot_stratum(r: PromptResult, stratum: str, path: Path) -> Path:
    """One forest plot per dimension: miss rate and Wilson interval per group; groups too small to read hollow."""
    dims = [d for d in DIMENSIONS if r.tables[stratum][d]]
    overall = r.overall[stratum]
    with plotting.style():
        height = sum(0.35 + 0.24 * len(r.tables[stratum][d]) for d in dims) + 0.6
        fig, ax = plotting.figure(len(dims), 1, height=height, sharex=True, height_ratios=[
            0.35 + 0.24 * len(r.tables[stratum][d]) for d in dims])
        for a, dim in zip(ax[:, 0], dims):
            groups = r.tables[stratum][dim]
            labels = [f"{group_label(r, stratum, g)[:40]} (n={g.n})" for g in groups]
            plotting.intervals(a, labels, [g.rate for g in groups], [g.wilson[0] for g in groups],
                               [g.wilson[1] for g in groups], dim=[g.small for g in groups],
                               reference=overall.rate)  # fmt: skip
            a.set_title(f"by {dim}", loc="left")
            a.set_xlim(0, 1)
        ax[-1, 0].set_xlabel(f"miss rate (p_fake < {r.scores.threshold:g}), Wilson 95 %; dashed: all "
                             f"({_pct(overall.rate)}); hollow: too small to read")  # fmt: skip
        fig.suptitle(stratum_title(stratum), fontsize=10)
        return plotting.save(fig, path)


def _method(r: PromptResult) -> list[str]:
    held = ("These are held-out predictions: each image was scored by a model that never saw its source "
            "in training, so a miss rate here is what a new source would get." if r.scores.held_out else
            "These scores are not known to be held out: for images the detector trained on, miss rates are "
            "optimistic.")  # fmt: skip
    skipped = ", ".join(f"{n} {why}" for why, n in r.skipped.items())
    return [
        f"Scores: {r.scores.description}. A generated image is missed when its p_fake is under "
        f"{r.scores.threshold:g}. {held}",
        f"Images: the fully generated images of the manifest that have a prompt ({len(r.items)}"
        + (f"; left out: {skipped}" if skipped else "") + "). Prompts are read without a negative prompt "
        "(after ||) and with attention weights such as (word:1.2) reduced to the word.",
        "Length: words of the prompt. Topic: keyword groups (fakescope.analysis.prompts.TOPICS), a prompt in "
        "each group one of its words names; a prompt of the form 'style: NAME' is 'style name only'. Noun "
        "proportion: nouns among the words by a stated heuristic (no part-of-speech tagger is installed): "
        "function words, numbers, listed adjectives and verbs, and words ending in -ly, -ed, -ing or an "
        "adjective suffix are not nouns, every other word is. Clusters: all-MiniLM-L6-v2 sentence embeddings "
        f"of the distinct prompts of each table, clustered by {r.clusterer.upper()}.",
        "Expected from generators: the miss rate the group would have if only its mix of generators "
        "mattered (each image counted at its generator's miss rate over the whole table); a group far from it "
        "differs by more than which generators drew it.",
        "Intervals: Wilson 95 % over images, and a 95 % percentile bootstrap over distinct prompts (2000 "
        "resamples), since the images of one prompt (often rendered by several generators) are not independent. "
        f"A group is too small to read under {MIN_IMAGES} images or {MIN_PROMPTS} distinct prompts. Sources "
        "differ in generators and in how their prompts are written, so each table is also given for the "
        "largest source alone.",
    ]


def _as_json(r: PromptResult) -> dict:
    def g(x: GroupStats) -> dict:
        return {"dimension": x.dimension, "group": x.name, "n": x.n, "prompts": x.prompts, "missed": x.missed,
                "rate": x.rate, "wilson": list(x.wilson), "prompt_bootstrap": list(x.bootstrap),
                "small": x.small, "sources": dict(x.sources)}  # fmt: skip

    return {"scores": r.scores.description, "threshold": r.scores.threshold, "held_out": r.scores.held_out,
            "clusterer": r.clusterer, "skipped": dict(r.skipped),
            "clusters": {st: {k: vars(c) for k, c in cs.items()} for st, cs in r.clusters.items()},
            "strata": {st: {"overall": g(r.overall[st]), **{d: [g(x) for x in r.tables[st][d]] for d in DIMENSIONS}}
                       for st in r.strata},
            "images": [{"path": it.path, "generator": it.generator, "source": it.source, "p_fake": it.p,
                        "missed": it.missed, "words": it.n_words, "topics": it.topics,
                        "noun_share": it.noun_share, "clusters": it.clusters} for it in r.items]}  # fmt: skip


def write_report(r: PromptResult, out_dir: str | os.PathLike, command: str = "", doc: str | os.PathLike | None = None,
                 manifest_name: str = "") -> dict:  # fmt: skip
    """Write ``prompts-<stratum>.png`` plots, ``prompts.json`` and ``prompts.html`` under ``out_dir``, and the
    ``## Prompt analysis`` section of ``doc`` when given.

    Returns:
        ``{"page": path, "json": path, "plots": [paths], "doc": path or None}``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    method = _method(r)
    sections, plots, md = [Section("Method", method)], [], []
    for i, stratum in enumerate(r.strata):
        png = None
        if r.overall[stratum].n:
            png = plot_stratum(r, stratum, out_dir / f"prompts-{'all' if stratum == 'all' else f'source{i}'}.png")
            plots.append(png)
        tables = [dimension_table(r, stratum, d) for d in DIMENSIONS if r.tables[stratum][d]]
        ct = cluster_table(r, stratum)
        tables += [ct] if ct else []
        notes = findings(r, stratum) if r.overall[stratum].n else ["No generated image with a prompt and a score."]
        sections.append(Section(stratum_title(stratum), notes, [Figure(png, "Miss rate per group.")] if png else [],
                                tables))  # fmt: skip
        md += [f"### {stratum_title(stratum)}", ""] + [f"- {n}" for n in notes] + [""]
        if png is not None and doc is not None:
            md += [f"![Miss rate per group, {stratum_title(stratum)}]({markdown.relative_link(png, doc)})", ""]
        for t in tables:
            md += [f"*{t.caption}*", "", markdown.table(t.headers, t.rows, t.align), ""]
    page = write_page(out_dir / "prompts.html", "fakescope: prompt analysis", sections, command=command)
    js = out_dir / "prompts.json"
    js.write_text(json.dumps({"command": command, "manifest": manifest_name, **_as_json(r)}, indent=1) + "\n",
                  encoding="utf-8")  # fmt: skip
    written = None
    if doc is not None:
        body = [f"Written by `{command}` on {time.strftime('%Y-%m-%d')}"
                + (f" from `{manifest_name}`" if manifest_name else "")
                + f". Every image's score and traits: [{js.name}]({markdown.relative_link(js, doc)}); the "
                f"command also writes a self-contained page with the plots and tables, {page.name}, beside it.",
                ""]  # fmt: skip
        for paragraph in method:
            body += [paragraph, ""]
        written = markdown.update_section(doc, HEADING, "\n".join(body + md))
    return {"page": page, "json": js, "plots": plots, "doc": written}

