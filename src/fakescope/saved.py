"""One on-disk format for every trained model, detector or localizer.

A saved model is a folder::

    card.json     {"format_version": 2, "kind": "detector" | "localizer", "name": <registry name>,
                   "init": {keyword arguments that rebuild the unfitted model}, "card": {the Card}}
    weights.npz   plain arrays (loaded with allow_pickle=False); their sha256 is in the card
    members/      an ensemble's members, each a saved model of its own

Loading checks the format version, the kind, and the weights' checksum, then
asks the registry for a new model of that name and hands it its arrays. Nothing
pickled is ever read. Folders written by fakescope 0.1 (format 1: ``head.npz``
for detectors) still load.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .types import Card

FORMAT_VERSION = 2
READABLE = (1, 2)
WEIGHTS = "weights.npz"


@dataclass
class Saved:
    """What ``card.json`` says about a saved model."""

    directory: Path
    kind: str
    name: str
    init: dict[str, Any]
    card: Card
    weights: Path


def write(directory: str | Path, kind: str, name: str, init: dict, card: Card, arrays: dict[str, np.ndarray]) -> Path:
    """Write ``weights.npz`` and ``card.json`` (with the weights' sha256) into ``directory``."""
    from .weights import sha256_of

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(directory / WEIGHTS, **{k: np.asarray(v) for k, v in arrays.items()})
    card.weights_sha256 = sha256_of(directory / WEIGHTS)
    card.kind = kind
    meta = {"format_version": FORMAT_VERSION, "kind": kind, "name": name, "init": init,
            "card": json.loads(card.to_json())}  # fmt: skip
    (directory / "card.json").write_text(json.dumps(meta, indent=2, default=str))
    return directory


def read(directory: str | Path, kind: str | None = None) -> Saved:
    """Read and check ``card.json``; ``kind`` (if given) must match what was saved."""
    directory = Path(directory)
    meta_path = directory / "card.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{directory}: no card.json; not a saved fakescope model")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{meta_path}: not valid JSON ({exc})") from None
    version = meta.get("format_version")
    if version not in READABLE:
        raise ValueError(f"{directory}: format version {version!r}; this fakescope reads versions "
                         f"{', '.join(map(str, READABLE))}")  # fmt: skip
    saved = _from_v1(directory, meta) if version == 1 else Saved(
        directory, meta["kind"], meta["name"], meta["init"], Card.from_dict(meta["card"]), directory / WEIGHTS)
    if kind is not None and saved.kind != kind:
        raise ValueError(f"{directory}: a saved {saved.kind}, not a {kind}")
    return saved


def arrays(saved: Saved) -> dict[str, np.ndarray]:
    """The saved arrays, after checking them against the card's sha256."""
    from .weights import sha256_of

    if not saved.weights.is_file():
        raise FileNotFoundError(f"{saved.weights}: missing; the saved model is incomplete")
    if saved.card.weights_sha256 and sha256_of(saved.weights) != saved.card.weights_sha256:
        raise ValueError(f"{saved.weights}: sha256 does not match the card; the file is damaged")
    with np.load(saved.weights, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def load(directory: str | Path, kind: str | None = None):
    """A fitted detector or localizer from a folder written by its ``save``."""
    from .registry import create

    saved = read(directory, kind)
    model = create(saved.name, **saved.init)
    return model.restore(saved)


def _from_v1(directory: Path, meta: dict) -> Saved:
    """Format 1 (fakescope 0.1): detectors in ``head.npz`` with their init in the card's config;
    localizers with a plain-dict card."""
    c = meta["card"]
    if "localizer" in meta:
        config = {**c["config"], "localization_loss": c["localization_loss"]}
        card = Card(name=c["name"], family=c["architecture"], summary=c["summary"], kind="localizer",
                    preprocessing=c["preprocessing"], config=config,
                    training_data=c["training_data"], calibration=c["calibration"], metrics=c.get("metrics", {}),
                    licence=c["licence"], paper=c["paper"], weights_sha256=c["weights_sha256"])  # fmt: skip
        return Saved(directory, "localizer", meta["localizer"], dict(c["config"]), card, directory / "weights.npz")
    card = Card.from_dict(c)
    train = dict(card.config.get("train", {}))
    train["unsure_band"] = tuple(train.get("unsure_band", card.unsure_band))
    init = {"head_params": card.config.get("head", {}), **card.config.get("builder", {}), **train}
    return Saved(directory, "detector", meta["detector"], init, card, directory / "head.npz")
