"""Trained detectors: the ones shipped in the package and the ones users save."""

from __future__ import annotations

from pathlib import Path

TRAINED_DIR = Path(__file__).parent / "trained"
DEFAULT = "default"


def shipped() -> list[str]:
    """Names of the trained detectors that ship inside the package."""
    return sorted(p.name for p in TRAINED_DIR.iterdir() if (p / "card.json").is_file()) if TRAINED_DIR.is_dir() else []


def load_detector(name_or_path: str | Path = DEFAULT):
    """Load a trained detector: a shipped name (``"default"``) or a folder written by ``save``.

    Raises:
        KeyError: unknown name; the message lists what exists.
    """
    from .detectors.base import load
    from .registry import list_detectors

    path = Path(name_or_path)
    if (path / "card.json").is_file():
        return load(path)
    if (TRAINED_DIR / str(name_or_path) / "card.json").is_file():
        return load(TRAINED_DIR / str(name_or_path))
    if str(name_or_path) in list_detectors():
        raise KeyError(
            f"{name_or_path!r} is a detector family without shipped weights; train it with "
            f"`fakescope train {name_or_path} --manifest M.csv --out DIR` and load DIR"
        )
    raise KeyError(f"no trained detector {str(name_or_path)!r}; shipped: {', '.join(shipped()) or 'none'}")


TRAINED_LOCALIZERS = Path(__file__).parent / "trained_localizers"


def shipped_localizers() -> list[str]:
    d = TRAINED_LOCALIZERS
    return sorted(p.name for p in d.iterdir() if (p / "card.json").is_file()) if d.is_dir() else []


def load_localizer_model(name_or_path: str | Path = DEFAULT):
    """Load a trained localizer: a shipped name (``"default"``) or a folder written by its ``save``."""
    from .localize import list_localizers, load_localizer

    path = Path(name_or_path)
    if (path / "card.json").is_file():
        return load_localizer(path)
    if (TRAINED_LOCALIZERS / str(name_or_path) / "card.json").is_file():
        return load_localizer(TRAINED_LOCALIZERS / str(name_or_path))
    if str(name_or_path) in list_localizers():
        raise KeyError(
            f"{name_or_path!r} is a localizer without shipped weights; train it with "
            f"`fakescope train {name_or_path} --manifest M.csv --set setup=C --out DIR` and use DIR"
        )
    raise KeyError(f"no trained localizer {str(name_or_path)!r}; shipped: {', '.join(shipped_localizers()) or 'none'}")
