"""A small, strict registry of detector builders.

A duplicate name is an error, an unknown name suggests close matches, and
``list_detectors("univfd*")`` filters with shell-style patterns.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    name: str
    builder: Callable
    summary: str
    needs: tuple[str, ...] = ()  # optional packages, e.g. ("torch",)


_REGISTRY: dict[str, Entry] = {}

# Modules whose import registers their detectors; imported on first lookup so
# that `import fakescope` stays cheap.
_FAMILIES = (
    "fakescope.detectors.univfd",
    "fakescope.detectors.dct",
    "fakescope.detectors.fusion",
    "fakescope.detectors.cnn",
    "fakescope.detectors.noise",
    "fakescope.detectors.defake_hybrid",
    "fakescope.detectors.ensemble",
)
_loaded = False


def register(name: str, summary: str, needs: tuple[str, ...] = ()):
    """Decorator: register ``builder`` under ``name``; a second registration of a name raises."""

    def wrap(builder: Callable) -> Callable:
        if name in _REGISTRY:
            raise ValueError(f"detector {name!r} is already registered (by {_REGISTRY[name].builder.__module__})")
        _REGISTRY[name] = Entry(name, builder, summary, needs)
        return builder

    return wrap


def _ensure_loaded() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in _FAMILIES:
            importlib.import_module(module)


def list_detectors(pattern: str = "*") -> list[str]:
    _ensure_loaded()
    return sorted(n for n in _REGISTRY if fnmatch.fnmatch(n, pattern))


def entry(name: str) -> Entry:
    _ensure_loaded()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise KeyError(f"unknown detector {name!r}.{hint} `fakescope list` shows them all.")
    return _REGISTRY[name]


def create(name: str, **config):
    """A new, unfitted detector; ``config`` overrides fields of its config dataclass."""
    return entry(name).builder(**config)
