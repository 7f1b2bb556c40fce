"""Splits that tell you how a detector generalises.

Random per-image splits leak source and generator identity between train and
test; these split by group (source, generator) so that a test group is never
seen in training.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np
from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold

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
    """Assign whole groups to ``k`` folds, balancing fold sizes; returns test indices per fold.

    scikit-learn's :class:`~sklearn.model_selection.GroupKFold` (largest group first into the
    lightest fold). ``seed`` breaks ties between groups of equal size: the groups are coded in a
    seeded random order, so the folds are deterministic for a seed. ``k`` is capped at the number
    of groups; with a single group the one fold holds everything.
    """
    names = sorted(set(groups))
    k = min(k, len(names))
    if k < 2:
        return [np.arange(len(groups))]
    code = dict(zip(names, np.random.default_rng(seed).permutation(len(names))))
    coded = np.array([code[g] for g in groups])
    return [test for _, test in GroupKFold(n_splits=k).split(coded, groups=coded)]


def stratified_folds(strata: list[str], k: int, seed: int = 0) -> list[np.ndarray]:
    """Random folds with each stratum spread evenly over them; returns test indices per fold.

    scikit-learn's :class:`~sklearn.model_selection.StratifiedKFold` (shuffled with ``seed``).
    A stratum smaller than ``k`` cannot be in every fold, which scikit-learn allows with a warning
    (silenced here: small strata are expected, e.g. one source's few fakes); when every stratum is
    that small, plain shuffled :class:`~sklearn.model_selection.KFold` is used. ``k`` is capped at
    the number of items.
    """
    y = np.asarray(strata)
    k = min(k, len(y))
    if k < 2:
        return [np.arange(len(y))]
    _, counts = np.unique(y, return_counts=True)
    splitter = (StratifiedKFold if counts.max() >= k else KFold)(n_splits=k, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        return [test for _, test in splitter.split(np.zeros(len(y)), y)]


def stratified_unit_folds(strata: list[str], units: list[str], k: int, seed: int = 0) -> list[np.ndarray]:
    """:func:`stratified_folds` over units (e.g. the pairs of a real image and its counterparts), each unit
    whole in one fold and stratified by the stratum of its first item; returns item indices per fold."""
    _, first, code = np.unique(np.asarray(units), return_index=True, return_inverse=True)
    folds = stratified_folds([strata[i] for i in first], k, seed=seed)
    return [np.flatnonzero(np.isin(code, f)) for f in folds]
