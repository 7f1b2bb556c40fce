"""fakescope: tell real photos from AI-generated and manipulated images.

Public API (imported lazily, so ``import fakescope`` is cheap)::

    import fakescope
    det = fakescope.load_detector()            # the shipped default
    det(["a.jpg", "b.png"])                    # -> [Verdict, ...]
    fakescope.list_detectors("univfd*")
    m = fakescope.Manifest.read("data/manifest.csv")
    fakescope.scan(det, ["photos/"], out="results.jsonl")
"""

from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "load_detector": ("fakescope.models", "load_detector"),
    "create_detector": ("fakescope.registry", "create"),
    "list_detectors": ("fakescope.registry", "list_detectors"),
    "scan": ("fakescope.scan", "scan"),
    "evaluate": ("fakescope.evaluation.protocols", "cross_validate"),
    "Manifest": ("fakescope.data.manifest", "Manifest"),
    "Sample": ("fakescope.data.manifest", "Sample"),
    "Verdict": ("fakescope.types", "Verdict"),
    "Card": ("fakescope.types", "Card"),
    "open_image": ("fakescope.io", "open_image"),
    "ImageLoadError": ("fakescope.io", "ImageLoadError"),
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fakescope' has no attribute {name!r}")
