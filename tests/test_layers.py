"""Layers point down: a low layer never imports a higher one, not even inside a function.

From the bottom: ``metrics`` (pure functions of labels and scores) and ``features``
(image -> array functions, views); ``data`` (manifests, perturbations, synthesis; may
use features); ``extraction`` (batch extraction over a manifest, the feature cache);
``train`` (what every family shares); ``detectors``, ``localize`` and ``attributors``; ``evaluation`` (protocols, reports, benchmarks);
``service`` (the REST service and page, beside evaluation: neither imports the other); ``engines``
(scans on a GPU or a Ray cluster, beside the service); ``analysis`` (spectral and prompt analyses, the
shared plot style; beside evaluation, which may use its plots); ``cli``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "fakescope"

#: layer -> the fakescope modules it must never import
FORBIDDEN = {
    "metrics": ["fakescope.data", "fakescope.features", "fakescope.extraction", "fakescope.detectors",
                "fakescope.localize", "fakescope.evaluation", "fakescope.cli", "fakescope.models", "fakescope.scanning"],
    "features": ["fakescope.data", "fakescope.extraction", "fakescope.detectors", "fakescope.localize",
                 "fakescope.evaluation", "fakescope.cli", "fakescope.models", "fakescope.scanning"],
    "data": ["fakescope.extraction", "fakescope.detectors", "fakescope.localize", "fakescope.evaluation",
             "fakescope.cli", "fakescope.models", "fakescope.scanning"],
    "extraction": ["fakescope.detectors", "fakescope.localize", "fakescope.evaluation", "fakescope.cli",
                   "fakescope.models", "fakescope.scanning"],
    "train": ["fakescope.detectors", "fakescope.localize", "fakescope.evaluation", "fakescope.cli",
              "fakescope.models", "fakescope.scanning"],
    "detectors": ["fakescope.evaluation", "fakescope.cli"],
    "attributors": ["fakescope.evaluation", "fakescope.analysis", "fakescope.cli", "fakescope.scanning"],
    "localize": ["fakescope.evaluation", "fakescope.cli"],
    "evaluation": ["fakescope.cli", "fakescope.service"],
    "service": ["fakescope.cli", "fakescope.evaluation"],
    "analysis": ["fakescope.cli", "fakescope.service"],
    "engines": ["fakescope.cli", "fakescope.evaluation"],
}  # fmt: skip
for _layer in ("metrics", "features", "data", "extraction", "train", "detectors", "localize", "service", "engines"):
    FORBIDDEN[_layer].append("fakescope.analysis")  # analyses read the layers below; nothing below reads them
for _layer, _banned in FORBIDDEN.items():
    if _layer not in ("evaluation", "service"):
        _banned.append("fakescope.service")  # only the command line starts the service
for _layer, _banned in FORBIDDEN.items():
    if "fakescope.evaluation" in _banned:
        _banned.append("fakescope.evaluate")  # the public evaluate() (and the package it replaced)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every fakescope module ``path`` imports, at module level or inside functions, relative imports resolved."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.add(target)
            # `from .. import data` imports the subpackage fakescope.data
            found.update(f"{target}.{a.name}" for a in node.names)
    return {m for m in found if m == "fakescope" or m.startswith("fakescope.")}


def violations(layer: str) -> list[str]:
    bad = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for target in sorted(imported_modules(path)):
            if any(target == f or target.startswith(f + ".") for f in FORBIDDEN[layer]):
                bad.append(f"{module_name(path)} imports {target}")
    return bad


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_never_imports_upward(layer):
    assert (PACKAGE / layer).is_dir(), f"no package {layer}/"
    assert violations(layer) == []


def test_import_resolution_sees_relative_and_local_imports(tmp_path, monkeypatch):
    # The checker itself must catch an upward import hidden in a function, or the tests above prove nothing.
    fake = tmp_path / "fakescope"
    (fake / "features").mkdir(parents=True)
    (fake / "features" / "x.py").write_text("def f():\n    from ..data.manifest import Manifest\n    from .. import cli\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    assert imported_modules(fake / "features" / "x.py") >= {"fakescope.data.manifest", "fakescope.cli"}
    bad = violations("features")
    assert "fakescope.features.x imports fakescope.cli" in bad
    assert "fakescope.features.x imports fakescope.data.manifest" in bad
