"""The data side of the training recipe: which sources a model trains on, how much each counts, and how
the members of a linked pair (a real image and its aligned counterparts) are kept together."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import numpy as np

from ..data.manifest import Manifest


def paired_sources(manifest: Manifest) -> set[str]:
    """Sources that hold both real and fake (or partial) images."""
    classes: dict[str, set[bool]] = {}
    for s in manifest:
        classes.setdefault(s.source, set()).add(s.is_fake)
    return {src for src, c in classes.items() if len(c) == 2}


def linked_units(manifest: Manifest, keys: list[str] | None = None) -> set[str]:
    """Pair keys (:meth:`Manifest.pair_keys`) held by both a real image and a fake (or partial) one."""
    keys = manifest.pair_keys() if keys is None else keys
    classes: dict[str, set[bool]] = {}
    for s, k in zip(manifest, keys):
        classes.setdefault(k, set()).add(s.is_fake)
    return {k for k, c in classes.items() if len(c) == 2}


def paired_mask(manifest: Manifest) -> np.ndarray:
    """What the "paired" recipe trains on: images of sources holding both classes, and both members of
    every linked pair (a real image and its counterpart differ only in how the pixels were made, so
    neither content nor source can stand in for the label; the counterparts' own source has no reals)."""
    paired = paired_sources(manifest)
    keys = manifest.pair_keys()
    linked = linked_units(manifest, keys)
    return np.array([s.source in paired or k in linked for s, k in zip(manifest, keys)], dtype=bool)


def source_groups(manifest: Manifest, keys: list[str] | None = None) -> list[str]:
    """Each image's source for held-out folds; a counterpart counts under its real image's source, so a
    fold that holds out a source holds out the counterparts made from it too."""
    keys = manifest.pair_keys() if keys is None else keys
    own = [s.source or "(none)" for s in manifest]
    if not any(s.pair for s in manifest):
        return own
    real_source = {k: g for s, k, g in zip(manifest, keys, own) if not s.is_fake and k == s.key}
    return [real_source.get(k, g) if s.pair else g for s, k, g in zip(manifest, keys, own)]


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


def paired_batches(units: np.ndarray, batch: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Row indices of one epoch's batches, every unit (a pair: the rows of a real image and its
    counterparts under one view) whole inside one batch.

    Units are shuffled and packed in order; a batch is closed when the next unit would overflow it, so a
    batch holds at most ``batch`` rows unless a single unit is larger. Rows of unlinked images are units
    of one.
    """
    units = np.asarray(units)
    _, code = np.unique(units, return_inverse=True)
    order = np.argsort(code, kind="stable")
    members = np.split(order, np.cumsum(np.bincount(code))[:-1]) if len(code) else []
    current: list[np.ndarray] = []
    size = 0
    for u in rng.permutation(len(members)):
        rows = members[u]
        if size and size + len(rows) > batch:
            yield np.concatenate(current)
            current, size = [], 0
        current.append(rows)
        size += len(rows)
    if current:
        yield np.concatenate(current)
