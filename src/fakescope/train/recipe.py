"""The data side of the training recipe: which sources a model trains on and how much each counts."""

from __future__ import annotations

from collections import Counter

import numpy as np

from ..data.manifest import Manifest


def paired_sources(manifest: Manifest) -> set[str]:
    """Sources that hold both real and fake (or partial) images."""
    classes: dict[str, set[bool]] = {}
    for s in manifest:
        classes.setdefault(s.source, set()).add(s.is_fake)
    return {src for src, c in classes.items() if len(c) == 2}


def source_weights(manifest: Manifest) -> np.ndarray:
    """Per-sample weights: each (source, class) pair gets weight proportional to sqrt(its size),
    and both classes get equal total weight."""
    key = [(s.source, s.is_fake) for s in manifest]
    n = Counter(key)
    w = np.array([1.0 / np.sqrt(n[k]) for k in key])
    y = np.array([s.is_fake for s in manifest])
    for cls in (False, True):
        if (y == cls).any():
            w[y == cls] *= 0.5 * len(w) / w[y == cls].sum()
    return w
