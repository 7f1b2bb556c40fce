"""The models behind the service and the bounded pool that runs them.

The detector (and the localizer, when one is asked for) is loaded once, when
the engine is made, and run once on a small picture so that the first request
does not pay for loading the network. Requests are scored on ``workers``
threads; at most ``capacity`` requests are in the service at once (working
or waiting), and :meth:`Engine.admit` says no to the next one, which the
service answers 503 rather than letting it hang.

A row is built as ``fakescope scan`` builds it (the same decoding plan, the
same :func:`~fakescope.scanning.assess`, :meth:`Verdict.scored
<fakescope.types.Verdict.scored>` and :func:`~fakescope.scanning.output_row`),
so an uploaded file gets the ``p_fake``, verdict and notes a scan of that file
gets. ``path`` is the client's file name, a label only: no server path leaves the service.
"""

from __future__ import annotations

import base64
import importlib
import io
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

from ..io import ImageLoadError, ImageTooLargeError, open_image, sniff_format
from ..scanning import DecodePlan, assess, localize_one, output_row
from ..types import Verdict
from .config import ServiceConfig
from .errors import ApiError
from .uploads import Upload


def unsure_band(detector) -> dict:
    """Where on ``p_fake`` the verdict is ``unsure`` whatever else holds, and by which rule.

    For a detector with verdict sets, ``real`` is in an image's set when ``p_fake <= t_real`` and
    ``fake`` when ``p_fake >= 1 - t_fake``; between the two thresholds the set holds both classes or
    neither, which is ``unsure``. Otherwise the card's unsure band decides. Either way an image far from
    the training data, or too small, is ``unsure`` at any ``p_fake`` (its ``reliability`` says why).
    """
    conformal = getattr(detector, "conformal_", None)
    if conformal is not None:
        t = conformal.thresholds_
        low, high = sorted((float(t["real"]), 1.0 - float(t["fake"])))
        return {"low": round(low, 6), "high": round(high, 6),
                "rule": f"verdict sets at error level {conformal.alpha:g}: below the band only 'real' is "
                        "consistent, above it only 'fake'; an image far from the training data is unsure "
                        "at any p_fake"}  # fmt: skip
    cfg = getattr(detector, "train_config", None)
    card = getattr(detector, "card", None)
    low, high = getattr(cfg, "unsure_band", None) or getattr(card, "unsure_band", None) or (0.3, 0.7)
    return {"low": float(low), "high": float(high),
            "rule": "unsure band on the calibrated p_fake; no out-of-source guarantee"}  # fmt: skip


def card_summary(model) -> dict:
    """What a caller needs to weigh a verdict: name, family, summary, what it was not trained on, licence."""
    card = getattr(model, "card", None)
    keys = ("name", "family", "summary", "not_trained_on", "licence", "paper")
    out = {k: getattr(card, k, None) for k in keys}
    out["name"] = out["name"] or model.name
    conformal = getattr(model, "conformal_", None)
    out["error_level"] = None if conformal is None else float(conformal.alpha)
    return out


def png_base64(img: Image.Image) -> str:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def provenance_module():
    """``fakescope.provenance`` when it is installed, else ``None`` (looked up per request, cheaply)."""
    try:
        return importlib.import_module("fakescope.provenance")
    except ModuleNotFoundError as exc:
        if exc.name == "fakescope.provenance":
            return None
        raise


class Engine:
    """The loaded models, the worker pool and the admission count."""

    def __init__(self, config: ServiceConfig, detector=None, localizer=None, attributor=None):
        """Load the models (unless given, e.g. by tests) and warm them up.

        Raises:
            KeyError, FileNotFoundError, ValueError, ImportError: as ``load_detector`` / ``load_localizer``.
        """
        from ..models import load_attributor, load_detector, load_localizer

        self.config = config
        self.detector = detector if detector is not None else load_detector(config.detector)
        if localizer is None and config.localizer is not None:
            localizer = load_localizer(config.localizer)
        self.localizer = localizer
        if attributor is None and config.attributor is not None:
            attributor = load_attributor(config.attributor)
        self.attributor = attributor
        # A localizer needs the whole picture; without one, only what the detector's (and attributor's) views read
        self.plan = DecodePlan.for_detector(self.detector, whole_image=localizer is not None, attributor=attributor)
        self.band = unsure_band(self.detector)
        self.card = card_summary(self.detector)
        self.pool = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="fakescope-scan")
        self._lock = threading.Lock()
        self.in_flight = 0

    def warm_up(self) -> None:
        """Score (and localize) one small synthetic picture, so that the networks are loaded now."""
        rng = np.random.default_rng(0)
        img = Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8))
        views = img
        if self.plan.extractors:
            from ..features.extract import prepare

            views = prepare(img, self.plan.extractors)
        assess(self.detector, [views])
        if self.localizer is not None:
            self.localizer.localize(img)

    # --- admission ----------------------------------------------------------------------------------------
    def admit(self) -> bool:
        """Take a place for one request; ``False`` when ``capacity`` requests are already in."""
        with self._lock:
            if self.in_flight >= self.config.capacity:
                return False
            self.in_flight += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    # --- work -----------------------------------------------------------------------------------------------
    def scan(self, upload: Upload) -> dict:
        """The answer for one uploaded image (runs on a worker thread).

        Raises:
            ApiError: 415 the bytes are no format the service reads, 413 over the pixel guard, 422 the
                image cannot be decoded (empty, truncated, corrupt).
        """
        data = upload.path.read_bytes()
        if not data:
            raise ApiError(422, f"{upload.label!r} is an empty file (0 bytes)")
        fmt = sniff_format(data)
        if fmt is None:
            raise ApiError(415, f"the bytes of {upload.label!r} are not an image format the service reads (the "
                                f"file name and content type are not looked at); formats: {', '.join(formats())}")
        try:
            img, info = open_image(data, name=upload.label, min_side=self.plan.min_side, formats=(fmt,))
        except ImageTooLargeError as exc:
            raise ApiError(413, exc.reason) from None
        except ImageLoadError as exc:
            raise ApiError(422, exc.reason) from None
        del data
        views = img
        if self.plan.extractors:
            from ..features.extract import prepare

            views = prepare(img, self.plan.extractors)
        probs, reliability = assess(self.detector, [views])
        # The row names the temp file while it is built, so that anything reading the file by the row's path
        # (provenance) reads the upload; the client's file name replaces it, everywhere, before it leaves.
        temp = str(upload.path)
        verdict = Verdict.scored(self.detector, temp, float(probs[0]), info, reliability=reliability[0])
        if self.attributor is not None:
            a = self.attributor.attribute([views])[0].row()
            verdict.family, verdict.generator, verdict.attribution_p = a["family"], a["generator"], a["attribution_p"]
        if self.localizer is not None:
            from ..localize.heatmaps import map_image

            m, fields = localize_one(self.localizer, img)
            # The map at the decoded image's size (EXIF rotation applied), grey: 255 = certainly manipulated.
            verdict.localization = {**fields, "heatmap_png": png_base64(map_image(m))}
        row = output_row(verdict)
        if row.get("provenance") is None:  # the scan row has the field; the service fills it from the upload
            prov = provenance_module()
            if prov is not None:
                try:
                    row["provenance"] = prov.evidence(temp)
                except Exception as exc:  # noqa: BLE001 - a file's metadata must not cost its verdict
                    row["provenance"] = {"error": f"provenance could not be read ({type(exc).__name__})"}
        row = _renamed(row, temp, upload.label)
        row["path"], row["path_bytes"] = upload.label, None
        row.update(unsure_band=self.band, card=self.card, sha256=upload.sha256, bytes=upload.size)
        return row


def _renamed(value, temp: str, label: str):
    """``value`` with the temp file's path replaced by the client's label in every string: no server path
    leaves the service."""
    if isinstance(value, str):
        return value.replace(temp, label)
    if isinstance(value, dict):
        return {k: _renamed(v, temp, label) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_renamed(v, temp, label) for v in value]
    return value


def formats() -> list[str]:
    """The formats an upload may be in: those with a signature that this Pillow (and its plugins) decode."""
    from ..io import SIGNED_FORMATS

    Image.init()
    return [f for f in SIGNED_FORMATS if f in Image.OPEN]
