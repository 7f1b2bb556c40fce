"""A trained detector's evidence for its card: its own results, read from the benchmark's JSON."""

from __future__ import annotations

import json
from pathlib import Path

from .plan import PROTOCOLS


def _entry(summary: dict) -> dict:
    out = {"overall": summary["overall"], "by_source": summary["by_source"]}
    cal = summary.get("calibration")
    if cal:  # the reliability diagram and curve stay in the benchmark page
        out["calibration"] = {k: cal[k] for k in ("ece", "brier", "band")} | {
            "top_50%_accuracy": next((x["accuracy"] for x in cal["risk_coverage"] if x["answered"] == 0.5), None)}
    if summary.get("verdict_sets"):
        out["verdict_sets"] = summary["verdict_sets"]
    return out


def card_evidence(path: str | Path, detector: str, recipe: str, members=None, settings: dict | None = None,
                  pairs: bool = False) -> dict:  # fmt: skip
    """This detector's benchmark results (every protocol run with its recipe) for its card; for an ensemble,
    the fusion of its members.

    Args:
        path: a ``BENCHMARKS.json`` written by ``fakescope benchmark``.
        detector: the detector family.
        recipe: its training recipe (``paired`` or ``all``).
        members: an ensemble's fitted members (their names and recipes pick the fusion).
        settings: settings the detector was trained with that benchmark runs may have been given with
            ``--set`` (e.g. ``members``, ``calibration``): runs given exactly these are its own results.
        pairs: the detector trained with aligned pairs added: its results are the runs (and fusions) of
            the protocols that add them; else those of the others.

    Raises:
        ValueError: the file holds no result for this detector and recipe.
    """
    res = json.loads(Path(path).read_text())
    res["runs"] = [r for r in res["runs"] if bool(PROTOCOLS.get(r.get("protocol_key", ""), {}).get("pairs")) == pairs]
    res["fusions"] = [f for f in res.get("fusions", [])
                      if bool(PROTOCOLS.get(f.get("protocol_key", "loso-matched"), {}).get("pairs")) == pairs]  # fmt: skip
    found = {}
    if members:
        want = [[m.name, m.train_config.sources] for m in members]
        found = {f["summary"]["protocol"] + " (score fusion of the members' runs)": _entry(f["summary"])
                 for f in res.get("fusions", []) if sorted(f["members"]) == sorted(want)}  # fmt: skip
    elif not settings:
        found = {r["summary"]["protocol"]: _entry(r["summary"]) for r in res["runs"]
                 if r["detector"] == detector and r["recipe"] == recipe and not r.get("set")}  # fmt: skip
    if settings:
        given = ", ".join(f"{k}={v}" for k, v in settings.items())
        found |= {f"{r['summary']['protocol']} (this detector, trained per fold with {given})": _entry(r["summary"])
                  for r in res["runs"] if r["detector"] == detector and r["recipe"] == recipe
                  and (r.get("set") or {}) == settings}  # fmt: skip
    if not found:
        raise ValueError(f"{path} has no results for {detector} with the {recipe!r} recipe")
    return {"source": f"{path} ({res['generated']})", "results": found}
