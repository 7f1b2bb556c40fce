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

    return _load_named(name_or_path, TRAINED_DIR, load, list_detectors(), "detector", "", shipped())


def _load_named(name_or_path, trained_dir: Path, loader, families: list[str], kind: str, train_hint: str,
                available: list[str]):  # fmt: skip
    path = Path(name_or_path)
    if (path / "card.json").is_file():
        return loader(path)
    if (trained_dir / str(name_or_path) / "card.json").is_file():
        return loader(trained_dir / str(name_or_path))
    if str(name_or_path) in families:
        raise KeyError(
            f"{name_or_path!r} is a {kind} without shipped weights; train it with "
            f"`fakescope train {name_or_path} --manifest M.csv{train_hint} --out DIR` and use DIR"
        )
    raise KeyError(f"no trained {kind} {str(name_or_path)!r}; shipped: {', '.join(available) or 'none'}")


TRAINED_LOCALIZERS = Path(__file__).parent / "trained_localizers"


def shipped_localizers() -> list[str]:
    d = TRAINED_LOCALIZERS
    return sorted(p.name for p in d.iterdir() if (p / "card.json").is_file()) if d.is_dir() else []


def load_localizer_model(name_or_path: str | Path = DEFAULT):
    """Load a trained localizer: a shipped name (``"default"``) or a folder written by its ``save``
    (public as ``fakescope.load_localizer``). Its ``localize(image)`` returns the map, the image-level
    probability, the share flagged and an explanation.

    Raises:
        ImportError: PyTorch is not installed (the ``torch`` extra).
        KeyError: unknown name, or a family without shipped weights; the message says what exists.
    """
    import importlib.util

    from .localize import list_localizers, load_localizer

    if importlib.util.find_spec("torch") is None:
        raise ImportError("localizers (--heatmaps, fakescope localize) need PyTorch: pip install 'fakescope[torch]'")
    return _load_named(name_or_path, TRAINED_LOCALIZERS, load_localizer, list_localizers(), "localizer",
                       " --set setup=C", shipped_localizers())  # fmt: skip
