"""fakescope: tell real photos from AI-generated and manipulated images.

Public API (imported lazily, so ``import fakescope`` is cheap)::

    import fakescope
    det = fakescope.load_detector()            # the shipped default
    det(["a.jpg", "b.png"])                    # -> [Verdict, ...]
    fakescope.list_detectors("univfd*")
    m = fakescope.Manifest.read("data/manifest.csv")
    fakescope.scan(det, ["photos/"], out="results.jsonl")
    report = fakescope.evaluate(det, m)        # held out; a family name ("univfd") cross-validates
    print(report.headline()); report.write("my-report/")
    loc = fakescope.load_localizer()           # where was it edited? (the torch extra)
    fakescope.list_localizers()

Names:
    load_detector: a trained detector, shipped name or saved folder (``fakescope.models``).
    create_detector: an untrained detector of a registered family (``fakescope.registry``).
    list_detectors: registered detector families, optionally filtered by a glob.
    load_localizer: a trained localizer, shipped name or saved folder.
    list_localizers: registered localizer families, optionally filtered by a glob.
    scan: verdicts for files, folders, globs or manifests, written as JSONL, CSV or Parquet.
    evaluate: a detector's metrics on a manifest with the shortcut audit beside them
        (``fakescope.evaluation.protocols.evaluate``), as an :class:`EvaluationReport`.
    Manifest, Sample: data sets (``fakescope.data.manifest``).
    Verdict, Card: a detector's answer and its documentation (``fakescope.types``).
    open_image, ImageLoadError: the one image loader (``fakescope.io``).
"""

from __future__ import annotations

__version__ = "0.1.0"

# No public name may share a name with a subpackage: importing fakescope.<sub> sets the
# package attribute <sub> to the module, which would shadow the lazy name.
_LAZY = {
    "load_detector": ("fakescope.models", "load_detector"),
    "create_detector": ("fakescope.registry", "create"),
    "list_detectors": ("fakescope.registry", "list_detectors"),
    "load_localizer": ("fakescope.models", "load_localizer"),
    "list_localizers": ("fakescope.registry", "list_localizers"),
    "scan": ("fakescope.scanning", "scan"),
    "evaluate": ("fakescope.evaluation.protocols", "evaluate"),
    "EvaluationReport": ("fakescope.evaluation.report", "EvaluationReport"),
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
