"""A trained detector's evidence for its card: its own results, read from the benchmark's JSON."""

from __future__ import annotations

import json
from pathlib import Path


def card_evidence(path: str | Path, detector: str, recipe: str, members=None) -> dict:
    """This detector's benchmark results (every protocol run with its recipe) for its card; for an ensemble,
    the fusion of its members.

    Args:
        path: a ``BENCHMARKS.json`` written by ``fakescope benchmark``.
        detector: the detector family.
        recipe: its training recipe (``paired`` or ``all``).
        members: an ensemble's fitted members (their names and recipes pick the fusion).

    Raises:
        ValueError: the file holds no result for this detector and recipe.
    """
    res = json.loads(Path(path).read_text())
    if members:
        want = [[m.name, m.train_config.sources] for m in members]
        found = {
            f["summary"]["protocol"] + " (score fusion)": {"overall": f["summary"]["overall"],
                                                           "by_source": f["summary"]["by_source"]}
            for f in res.get("fusions", []) if sorted(f["members"]) == sorted(want)
        }  # fmt: skip
    else:
        found = {
            r["summary"]["protocol"]: {"overall": r["summary"]["overall"], "by_source": r["summary"]["by_source"]}
            for r in res["runs"]
            if r["detector"] == detector and r["recipe"] == recipe
        }
    if not found:
        raise ValueError(f"{path} has no results for {detector} with the {recipe!r} recipe")
    return {"source": f"{path} ({res['generated']})", "results": found}
