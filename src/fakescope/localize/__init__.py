"""Localizers of partial manipulations: registered like detectors (``kind="localizer"``), trained under
setups A, B or C. One module per family (gradcam, patches, attention, mau_net, sida, dadf); ``base``
holds what they share."""

from __future__ import annotations

from ..registry import entry, list_localizers
from .base import SETUPS, Localizer, LocalizerConfig, load_localizer


def create_localizer(name: str, **config) -> Localizer:
    """A new, unfitted localizer; ``config`` overrides fields of :class:`LocalizerConfig`."""
    return entry(name, kind="localizer").builder(**config)


def summary_of(name: str) -> str:
    return entry(name, kind="localizer").summary


__all__ = ["SETUPS", "Localizer", "LocalizerConfig", "create_localizer", "list_localizers", "load_localizer"]
