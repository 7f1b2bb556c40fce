"""Evaluation reports as JSON and Markdown."""

from __future__ import annotations

import json
from pathlib import Path

METRIC_COLUMNS = ["auc", "ap", "accuracy", "precision", "recall", "specificity", "f1", "eer", "tpr@1%fpr", "ece"]


def fmt(v, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def metrics_table(rows: dict[str, dict], first: str = "group", columns: list[str] | None = None) -> str:
    """A Markdown table with one row per entry of ``rows`` (name -> metrics dict)."""
    cols = columns or METRIC_COLUMNS
    head = f"| {first} | n | " + " | ".join(cols) + " |\n|---|---:|" + "---:|" * len(cols) + "\n"
    body = "".join(
        f"| {name} | {m.get('n', '')} | " + " | ".join(fmt(m.get(c)) for c in cols) + " |\n" for name, m in rows.items()
    )
    return head + body


def summary_markdown(summary: dict, shortcut: dict | None = None, title: str | None = None) -> str:
    """One evaluation (a :func:`protocols.summarize` result) as Markdown."""
    out = [f"## {title or summary['detector']}\n", f"Protocol: {summary['protocol']}. Threshold {summary['threshold']} "
           "on the calibrated probability (fixed before evaluation).\n"]  # fmt: skip
    overall = {summary["detector"]: summary["overall"]}
    if shortcut:
        overall["shortcut audit (file properties only)"] = shortcut["overall"]
    out.append("### Overall (real vs fully generated)\n\n" + metrics_table(overall, "model") + "\n")
    if summary["partial_edits"]["n"]:
        p = summary["partial_edits"]
        out.append(f"Partial edits (scored apart): {p['n']} images, {fmt(p['flagged'])} flagged as fake.\n")
    for key, label in (("by_source", "source"), ("by_family", "family"), ("by_generator", "generator")):
        if summary[key]:
            note = "" if key == "by_source" else " (its fakes against all real images)"
            out.append(f"### Per {label}{note}\n\n" + metrics_table(summary[key], label) + "\n")
    return "\n".join(out)


def write_report(summary: dict, directory: str | Path, shortcut: dict | None = None, stem: str = "report") -> list[Path]:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    js = directory / f"{stem}.json"
    js.write_text(json.dumps({"result": summary, "shortcut_audit": shortcut}, indent=2, default=str))
    md = directory / f"{stem}.md"
    md.write_text(f"# fakescope evaluation: {summary['detector']}\n\n" + summary_markdown(summary, shortcut))
    return [js, md]
