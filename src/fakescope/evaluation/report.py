"""Evaluation reports as JSON and Markdown."""

from __future__ import annotations

import json
from dataclasses import dataclass
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
    """Write one evaluation as ``<stem>.json`` and ``<stem>.md`` (see :meth:`EvaluationReport.write`)."""
    return EvaluationReport(summary, shortcut).write(directory, stem)


@dataclass
class EvaluationReport:
    """What :func:`fakescope.evaluate` returns: a detector's metrics and the shortcut audit beside them.

    Attributes:
        result: the :func:`~fakescope.evaluation.protocols.summarize` dict of the detector
            (``detector``, ``protocol``, ``overall``, ``by_source``, ``by_family``,
            ``by_generator``, ``partial_edits``, ...).
        shortcut_audit: the same summary for the file-property model under the same folds (None: not run).
    """

    result: dict
    shortcut_audit: dict | None

    @property
    def detector(self) -> str:
        return self.result["detector"]

    @property
    def protocol(self) -> str:
        return self.result["protocol"]

    @property
    def overall(self) -> dict:
        """Metrics over every scored real and fully generated image."""
        return self.result["overall"]

    def to_dict(self) -> dict:
        """The content of ``report.json``."""
        return {"result": self.result, "shortcut_audit": self.shortcut_audit}

    def markdown(self) -> str:
        """The content of ``report.md``."""
        return f"# fakescope evaluation: {self.detector}\n\n" + summary_markdown(self.result, self.shortcut_audit)

    def headline(self) -> str:
        """One line: the detector, its protocol, AUC, AP, accuracy, ECE and the shortcut audit's AUC."""
        o, s = self.overall, (self.shortcut_audit or {}).get("overall", {})
        return (f"{self.detector} [{self.protocol}]: AUC {fmt(o.get('auc'))}, AP {fmt(o.get('ap'))}, "
                f"accuracy {fmt(o.get('accuracy'))}, ECE {fmt(o.get('ece'))}; shortcut audit AUC {fmt(s.get('auc'))}")  # fmt: skip

    def write(self, directory: str | Path, stem: str = "report") -> list[Path]:
        """Write ``<stem>.json`` and ``<stem>.md`` into ``directory``; returns their paths."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        js, md = directory / f"{stem}.json", directory / f"{stem}.md"
        js.write_text(json.dumps(self.to_dict(), indent=2, default=str))
        md.write_text(self.markdown())
        return [js, md]
