"""Trained models: the detectors, localizers and attributors shipped in the package, and the ones users save."""

from __future__ import annotations

from pathlib import Path

DEFAULT = "default"
TRAINED_DIR = Path(__file__).parent / "trained"
TRAINED_LOCALIZERS = Path(__file__).parent / "trained_localizers"
TRAINED_ATTRIBUTORS = Path(__file__).parent / "trained_attributors"


def _shipped(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if (p / "card.json").is_file()) if folder.is_dir() else []


def shipped() -> list[str]:
    """Names of the trained detectors that ship inside the package."""
    return _shipped(TRAINED_DIR)


def shipped_localizers() -> list[str]:
    """Names of the trained localizers that ship inside the package."""
    return _shipped(TRAINED_LOCALIZERS)


def shipped_attributors() -> list[str]:
    """Names of the trained attributors that ship inside the package."""
    return _shipped(TRAINED_ATTRIBUTORS)


def load_detector(name_or_path: str | Path = DEFAULT):
    """Load a trained detector: a shipped name (``"default"``) or a folder written by its ``save``.

    Raises:
        KeyError: unknown name; the message lists what exists.
    """
    return _load_named(name_or_path, "detector", TRAINED_DIR, "")


def load_localizer(name_or_path: str | Path = DEFAULT):
    """Load a localizer: a shipped name (``"default"``), a folder written by its ``save``, or the name of a
    training-free (classical) localizer such as ``"copy-move"``.

    Raises:
        ImportError: the localizer is a network and PyTorch is not installed.
        KeyError: unknown name; the message lists what exists.
    """
    import importlib.util

    try:
        return _load_named(name_or_path, "localizer", TRAINED_LOCALIZERS, " --set setup=C")
    except KeyError as exc:
        if importlib.util.find_spec("torch") is None:
            raise ImportError(f"{exc.args[0]} The learned localizers are networks and need PyTorch: "
                              "pip install 'fakescope[torch]'") from None  # fmt: skip
        raise


def load_attributor(name_or_path: str | Path = DEFAULT):
    """Load a trained attributor (which generator made an image): a shipped name (``"default"``) or a folder
    written by its ``save`` (``fakescope attribute train``).

    Raises:
        KeyError: unknown name; the message lists what exists.
    """
    return _load_named(name_or_path, "attributor", TRAINED_ATTRIBUTORS, "")


def _load_named(name_or_path, kind: str, trained_dir: Path, train_hint: str):
    from .registry import create, list_attributors, list_detectors, list_localizers
    from .saved import load

    path = Path(name_or_path)
    if (path / "card.json").is_file():
        return load(path, kind)
    if (trained_dir / str(name_or_path) / "card.json").is_file():
        return load(trained_dir / str(name_or_path), kind)
    families = {"detector": list_detectors, "localizer": list_localizers, "attributor": list_attributors}[kind]()
    if str(name_or_path) in families:
        model = create(str(name_or_path))
        if getattr(model, "training_free", False):
            return model  # a classical map: nothing to load
        train = ("fakescope attribute train M.csv --out DIR" if kind == "attributor" else
                 f"fakescope train {name_or_path} --manifest M.csv{train_hint} --out DIR")  # fmt: skip
        raise KeyError(f"{name_or_path!r} is a {kind} without shipped weights; train it with `{train}` and use DIR")
    raise KeyError(f"no trained {kind} {str(name_or_path)!r}; shipped: {', '.join(_shipped(trained_dir)) or 'none'}")
