"""Splits that tell you how a detector generalises.

Random per-image splits leak source and generator identity between train and
test; these split by group (source, generator) so that a test group is never
seen in training.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .manifest import Manifest


def group_of(sample, by: str) -> str:
    """A sample's group. Real images have no generator or family: with ``by`` set to either,
    they are grouped by source, so that real sources are held out too."""
    if by in ("generator", "family") and sample.label == "real":
        return f"real:{sample.source}"
    return getattr(sample, by) or "(none)"


def random_split(manifest: Manifest, test_fraction: float, seed: int = 0) -> tuple[Manifest, Manifest]:
    """Stratified by label; for development only (it leaks sources)."""
    rng = np.random.default_rng(seed)
    test = set()
    for label in sorted(manifest.counts("label")):
        idx = [i for i, s in enumerate(manifest) if s.label == label]
        rng.shuffle(idx)
        test.update(idx[: round(len(idx) * test_fraction)])
    train = manifest.subset([i for i in range(len(manifest)) if i not in test])
    return train, manifest.subset(sorted(test))


def group_split(manifest: Manifest, by: str, test_groups: list[str]) -> tuple[Manifest, Manifest]:
    """Everything in ``test_groups`` (by ``by``) is test, the rest is train."""
    held = set(test_groups)
    known = {group_of(s, by) for s in manifest}
    missing = held - known
    if missing:
        raise ValueError(f"no {by} named {sorted(missing)}; known: {sorted(known)}")
    return (
        manifest.subset(lambda s: group_of(s, by) not in held),
        manifest.subset(lambda s: group_of(s, by) in held),
    )


def leave_one_group_out(manifest: Manifest, by: str, min_size: int = 1) -> Iterator[tuple[str, Manifest, Manifest]]:
    """Yield (group, train, test) for each group with at least ``min_size`` images."""
    counts = {}
    for s in manifest:
        counts[group_of(s, by)] = counts.get(group_of(s, by), 0) + 1
    for group in sorted(g for g, n in counts.items() if n >= min_size):
        train, test = group_split(manifest, by, [group])
        yield group, train, test


def group_kfold(groups: list[str], k: int, seed: int = 0) -> list[np.ndarray]:
    """Assign whole groups to ``k`` folds, balancing fold sizes; returns test indices per fold."""
    rng = np.random.default_rng(seed)
    names = sorted(set(groups))
    rng.shuffle(names)
    sizes = {g: 0 for g in names}
    for g in groups:
        sizes[g] += 1
    k = min(k, len(names))
    fold_of, load = {}, [0] * k
    for g in sorted(names, key=lambda g: -sizes[g]):  # largest first into the lightest fold
        f = int(np.argmin(load))
        fold_of[g] = f
        load[f] += sizes[g]
    arr = np.array([fold_of[g] for g in groups])
    return [np.flatnonzero(arr == f) for f in range(k)]


def stratified_folds(strata: list[str], k: int, seed: int = 0) -> list[np.ndarray]:
    """Random folds with each stratum spread evenly over them; returns test indices per fold."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(strata), dtype=int)
    offset = 0
    for s in sorted(set(strata)):
        idx = np.flatnonzero(np.array(strata) == s)
        rng.shuffle(idx)
        fold[idx] = (np.arange(len(idx)) + offset) % k  # rotate so small strata do not all land in fold 0
        offset += len(idx)
    return [np.flatnonzero(fold == f) for f in range(k)]
