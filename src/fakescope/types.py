"""The objects that cross module boundaries: verdicts, cards and the detector protocol."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from PIL import Image

VERDICTS = ("real", "fake", "unsure")


@dataclass
class Verdict:
    """One image's result. ``error`` is set (and the rest empty) when the image could not be read."""

    path: str
    p_fake: float | None
    verdict: str | None
    detector: str
    error: str | None = None
    width: int | None = None
    height: int | None = None
    format: str | None = None
    notes: list[str] = field(default_factory=list)
    #: the verdicts consistent with the image at the detector's error level (``["real"]``, ``["fake"]``, both
    #: or none); ``None`` for a detector without out-of-source calibration
    verdict_set: list[str] | None = None
    #: one line saying how far to trust this verdict and why (conformal level, distance to the training data)
    reliability: str | None = None
    #: what the file's metadata says about its origin (:func:`fakescope.provenance.evidence`), apart from
    #: ``p_fake``; ``None`` for an entry that could not be read
    provenance: dict[str, Any] | None = None
    #: filled only when an attributor ran (``scan --attributor``): the family of generator, the generator (or
    #: ``"unknown"``) and the probability of that answer (of the family when the generator is unknown);
    #: ``None`` otherwise (see :mod:`fakescope.attributors.hierarchical`)
    family: str | None = None
    generator: str | None = None
    attribution_p: float | None = None
    #: filled only when a localizer ran (``scan --heatmaps``): heatmap, overlay, flagged_share, localizer,
    #: localizer_p_fake, explanation
    localization: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        extra = d.pop("localization")
        return {**d, **extra} if extra else d

    @classmethod
    def scored(cls, detector, path: str, p_fake: float, info=None, size: tuple[int, int] | None = None,
               reliability: dict | None = None) -> Verdict:  # fmt: skip
        """The verdict of a readable image.

        Args:
            detector: the detector that scored it (its ``name`` and ``verdict_of``).
            path: how the image is named in the result.
            p_fake: the detector's calibrated probability.
            info: the loader's :class:`~fakescope.io.ImageInfo`: the file's size, format and every
                conversion made to its pixels (the ``notes``, followed by what the detector's views
                did to an image of that size: ``features.views.size_notes``; an image too small to
                judge gets the verdict ``unsure`` whatever its score).
            size: (width, height) when there is no file (an in-memory image).
            reliability: the detector's verdict set and distance to its training data for this image
                (``FeatureDetector.reliability``); the verdict then follows the set (one class: that
                class; else ``unsure``), and an image far from the training data is ``unsure``.
        """
        p = float(p_fake)
        width, height = (info.width, info.height) if info is not None else (size or (None, None))
        notes = list(info.conversions) if info is not None else []
        if hasattr(detector, "judge"):
            verdict, verdict_set, trust = detector.judge(p, reliability)
        else:
            verdict, verdict_set, trust = detector.verdict_of(p), None, None
        if width and height:
            # What the detector's views did to an image of this size; too few pixels: unsure.
            from .features.extract import view_sides
            from .features.views import size_notes, too_small_to_judge

            notes += size_notes(width, height, view_sides(getattr(detector, "extractors", ())))
            if too_small_to_judge(width, height):
                verdict, trust = "unsure", "unsure: too few pixels to judge (see notes)"
        return cls(path=path, p_fake=round(p, 6), verdict=verdict, detector=detector.name,
                   width=width, height=height, format=info.format if info is not None else None,
                   notes=notes, verdict_set=verdict_set, reliability=trust)  # fmt: skip

    @classmethod
    def failed(cls, detector, path: str, reason: str) -> Verdict:
        """The verdict of an entry that could not be read: ``error`` says why, the rest is empty."""
        return cls(path=path, p_fake=None, verdict=None, detector=detector.name, error=reason)


@dataclass
class Card:
    """What a trained detector or localizer is: everything a user needs to trust or distrust it.

    Preprocessing travels with the weights: ``preprocessing`` says exactly
    what is done to pixels before the model sees them.
    """

    name: str
    family: str
    summary: str
    preprocessing: str
    config: dict[str, Any] = field(default_factory=dict)
    training_data: dict[str, Any] = field(default_factory=dict)
    not_trained_on: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)
    unsure_band: tuple[float, float] = (0.3, 0.7)
    licence: str = ""
    upstream_weights: list[str] = field(default_factory=list)
    weights_sha256: str = ""
    paper: str = ""
    kind: str = "detector"  # or "localizer"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=False, default=_jsonable)

    @classmethod
    def from_json(cls, text: str) -> Card:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, data: dict) -> Card:
        data = dict(data)
        data["unsure_band"] = tuple(data.get("unsure_band", (0.3, 0.7)))
        return strict_config(cls, "card", **data)


def _jsonable(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


ImageInput = str | Path | Image.Image


@runtime_checkable
class Detector(Protocol):
    """Real-vs-generated image detector.

    ``fit`` returns self; learned state ends in ``_``; predicting before
    fitting raises :class:`NotFittedError`.
    """

    name: str

    def fit(self, manifest, **kwargs) -> Detector: ...

    def predict_proba(self, images: list[Image.Image]) -> np.ndarray: ...

    def __call__(self, inputs) -> list[Verdict]: ...

    def save(self, directory: str | Path) -> Path: ...


class NotFittedError(RuntimeError):
    """A detector was asked to predict before it was fitted or loaded."""


def strict_config(cls, what: str, **kw):
    """``cls(**kw)`` for a config dataclass, with unknown keys an error that lists the known ones."""
    from dataclasses import fields

    names = {f.name for f in fields(cls)}
    unknown = set(kw) - names
    if unknown:
        raise TypeError(f"unknown {what} option(s) {sorted(unknown)}; known: {sorted(names)}")
    return cls(**kw)


def field_types(cls) -> dict[str, type]:
    """``{field: type}`` of a config dataclass (annotations resolved), e.g. to type ``--set`` values."""
    import typing
    from dataclasses import fields

    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in fields(cls)}
