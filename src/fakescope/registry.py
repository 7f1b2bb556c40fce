"""One small, strict registry of detector, localizer and attributor families.

A duplicate name is an error, an unknown name suggests close matches, and
``list_detectors("univfd*")`` filters with shell-style patterns. Each family
module registers its own names when imported; the modules are imported on the
first lookup, so that ``import fakescope`` stays cheap.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field

KINDS = ("detector", "localizer", "attributor")


@dataclass(frozen=True)
class Entry:
    name: str
    builder: Callable
    summary: str
    kind: str = "detector"
    needs: tuple[str, ...] = ()  # optional packages, e.g. ("torch",)
    #: settings for a CPU run of the benchmarks ("reduced size"): fewer epochs, narrower networks
    reduced: dict = field(default_factory=dict)
    training_free: bool = False  # computed from the image alone (classical forensic maps)
    module: str = ""  # the family module that registered it
    #: another project's detector, scored beside ours on the same protocol; never chosen as the shipped
    #: default (e.g. weights under non-commercial terms)
    peer: bool = False
    #: revision of the method: raised whenever a change to its code changes its output, so that results
    #: kept from an earlier revision (benchmark rows, cached maps) are recognised as stale
    version: int = 1


_REGISTRY: dict[str, Entry] = {}

# Family modules: what each needs beyond the base install and the names it registers. A module is
# imported only when one of its names is asked for (or a listing needs them all), so scanning with the
# default detector never imports PyTorch. tests/test_registry.py checks the names against the modules.
_FAMILIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "fakescope.detectors.univfd": ((), ("univfd", "univfd-nn", "univfd-crops")),
    "fakescope.detectors.dinov2": ((), ("dinov2-probe",)),
    "fakescope.detectors.peer": ((), ("peer-sdxl",)),
    "fakescope.detectors.dct": ((), ("dct-linear", "dct-cnn")),
    "fakescope.detectors.fusion": ((), ("fusion",)),
    "fakescope.detectors.noise": ((), ("noise-sensitivity",)),
    "fakescope.detectors.defake_hybrid": ((), ("defake-hybrid",)),
    "fakescope.detectors.ensemble": ((), ("ensemble",)),
    "fakescope.detectors.meso": (("torch",), ("meso4", "mesoinception4")),
    "fakescope.detectors.defake": (("torch",), ("defake",)),
    "fakescope.detectors.cnnf": (("torch",), ("cnnf", "cnnf-effnet")),
    "fakescope.detectors.patch_forensics": (("torch",), ("patch-forensics",)),
    "fakescope.detectors.gramnet": (("torch",), ("gramnet",)),
    "fakescope.detectors.resynthesis": (("torch",), ("resynthesis",)),
    "fakescope.detectors.fsbi": (("torch",), ("fsbi",)),
    "fakescope.detectors.zed": (("torch",), ("zed",)),
    "fakescope.detectors.npr": (("torch",), ("npr",)),
    "fakescope.localize.gradcam": (("torch",), ("gradcam",)),
    "fakescope.localize.patches": (("torch",), ("patches",)),
    "fakescope.localize.attention": (("torch",), ("attention",)),
    "fakescope.localize.mau_net": (("torch",), ("mau-net",)),
    "fakescope.localize.sida": (("torch",), ("sida",)),
    "fakescope.localize.dadf": (("torch",), ("dadf",)),
    "fakescope.localize.noise_level": ((), ("noise-level",)),
    "fakescope.localize.splicebuster": ((), ("splicebuster",)),
    "fakescope.localize.copy_move": ((), ("copy-move",)),
    "fakescope.localize.jpeg": ((), ("jpeg-dq", "jpeg-grid", "ela")),
    "fakescope.localize.similarity": (("torch",), ("forensic-similarity",)),
    "fakescope.localize.clip_tiles": ((), ("clip-tiles",)),
    "fakescope.localize.fusion": (("torch",), ("fusion-map",)),
    "fakescope.attributors.hierarchical": ((), ("hierarchical",)),
}
#: family modules that could not be imported, with the missing packages
unavailable: dict[str, tuple[str, ...]] = {}
_imported: set[str] = set()


def register(name: str, summary: str, kind: str = "detector", needs: tuple[str, ...] = (),
             reduced: dict | None = None, training_free: bool = False, module: str | None = None,
             peer: bool = False, version: int = 1):  # fmt: skip
    """Decorator: register ``builder`` under ``name``; a second registration of a name raises.

    ``module`` names the family module when the builder is made by shared code (default: the builder's);
    ``version`` is the method's revision (:attr:`Entry.version`)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")

    def wrap(builder: Callable) -> Callable:
        if name in _REGISTRY:
            raise ValueError(f"{name!r} is already registered (by {_REGISTRY[name].builder.__module__})")
        _REGISTRY[name] = Entry(name, builder, summary, kind, tuple(needs), dict(reduced or {}), training_free,
                                module or builder.__module__, peer, version)  # fmt: skip
        return builder

    return wrap


def _import(module: str) -> None:
    import importlib.util

    if module in _imported or module in unavailable:
        return
    needs = _FAMILIES[module][0]
    missing = tuple(pkg for pkg in needs if importlib.util.find_spec(pkg) is None)
    if missing:
        unavailable[module] = missing
        return
    _imported.add(module)
    importlib.import_module(module)


def _ensure_loaded(name: str | None = None) -> None:
    """Import the family module that registers ``name``, or every family module when no name is given."""
    for module, (_, names) in _FAMILIES.items():
        if name is None or name in names:
            _import(module)


def _names(kind: str | None, pattern: str) -> list[str]:
    _ensure_loaded()
    return sorted(n for n, e in _REGISTRY.items() if (kind is None or e.kind == kind) and fnmatch.fnmatch(n, pattern))


def list_detectors(pattern: str = "*") -> list[str]:
    """Registered detector families, filtered by a shell-style pattern."""
    return _names("detector", pattern)


def list_localizers(pattern: str = "*", training_free: bool | None = None) -> list[str]:
    """Registered localizer families, filtered by a shell-style pattern and, if given, by whether they are
    training-free (classical maps) or learned."""
    names = _names("localizer", pattern)
    return names if training_free is None else [n for n in names if _REGISTRY[n].training_free == training_free]


def list_attributors(pattern: str = "*") -> list[str]:
    """Registered attributor families (which generator made an image), filtered by a shell-style pattern."""
    return _names("attributor", pattern)


def entry(name: str, kind: str | None = None) -> Entry:
    """The registry entry of ``name`` (of the given kind, if one is given)."""
    _ensure_loaded(name)
    e = _REGISTRY.get(name)
    if e is None:
        _ensure_loaded()  # an unknown name: load everything, to suggest close matches
        e = _REGISTRY.get(name)
    if e is None or (kind is not None and e.kind != kind):
        what = kind or "detector, localizer or attributor"
        pool = [n for n, x in _REGISTRY.items() if kind is None or x.kind == kind]
        close = difflib.get_close_matches(name, pool, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        if unavailable:
            mods = ", ".join(m.rsplit(".", 1)[1] for m in unavailable)
            pkgs = ", ".join(sorted({p for v in unavailable.values() for p in v}))
            hint += f" Not available without {pkgs}: the families in {mods} (pip install 'fakescope[torch]')."
        raise KeyError(f"unknown {what} {name!r}.{hint} `fakescope list` shows them all.")
    return e


def create(name: str, **config):
    """A new, unfitted detector, localizer or attributor; ``config`` overrides fields of its config."""
    return entry(name).builder(**config)
