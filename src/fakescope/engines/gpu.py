"""The default detector on a GPU: decode, views, CLIP and heads, batched.

The CPU path (:func:`fakescope.scanning.scan_iter`) decodes with Pillow and runs
the INT8 CLIP graph one image per call. Here, for a batch of files:

1. the CPU reads each file's header and provenance (:func:`~fakescope.engines.probe.probe`);
2. plain JPEGs are decoded on the GPU (``torchvision.io.decode_jpeg(device="cuda")``, nvJPEG)
   and turned upright by their EXIF orientation there; every other file, and any JPEG the GPU
   decoder refuses, is decoded by Pillow exactly as the CPU path does (the CPU fallback);
3. the views are taken on the device, the whole batch at once, with Pillow's arithmetic
   (:mod:`fakescope.features.views_torch`): the CLIP square and the 128 px luma crop's log-DCT;
4. CLIP ViT-B/16 runs batched, in float16 on CUDA (float32 on a CPU), with the shipped ONNX
   file's weights dequantised (:mod:`fakescope.features.clip_torch`);
5. the detector's own heads, calibration and verdict sets score the features
   (:meth:`~fakescope.detectors.base.FeatureDetector.assess_features`), unchanged.

So a row differs from the CPU path's only through the decoder (nvJPEG's inverse DCT and chroma
upsampling are not libjpeg's) and the encoder (float activations instead of INT8 ones); the
p_fake agreement is measured in ``tests/test_gpu_path.py`` and reported in docs/BENCHMARKS.md.

Without CUDA the same code runs on the CPU (Pillow decoding, float32): that is how it is tested.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from ..features import views_torch
from ..io import ImageLoadError, _read_file, open_image
from ..types import Verdict
from .probe import Probed, probe

#: the extractors this path computes on the device (the default detector's)
DEVICE_EXTRACTORS = ("clip", "dct")


class UnsupportedDetector(ValueError):
    """The detector reads a view the device path does not compute."""


class DeviceUnavailable(ValueError):
    """The device asked for is not there."""


def check_detector(detector) -> None:
    """Raise :class:`UnsupportedDetector` unless ``detector`` is a feature detector reading only
    :data:`DEVICE_EXTRACTORS`."""
    names = tuple(getattr(detector, "extractors", ()) or ())
    if not names or not hasattr(detector, "assess_features") or any(n not in DEVICE_EXTRACTORS for n in names):
        raise UnsupportedDetector(f"the GPU path computes the views {', '.join(DEVICE_EXTRACTORS)}; detector "
                                  f"{getattr(detector, 'name', detector)!r} reads {', '.join(names) or 'whole images'}"
                                  " (scan it on the CPU path)")  # fmt: skip


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def orient(x: torch.Tensor, orientation: int | None) -> torch.Tensor:
    """(3, H, W) pixels turned upright by an EXIF orientation, as ``PIL.ImageOps.exif_transpose`` does."""
    if orientation in (None, 1):
        return x
    h, w = -2, -1
    return {
        2: lambda t: t.flip(w),  # FLIP_LEFT_RIGHT
        3: lambda t: t.flip(h, w),  # ROTATE_180
        4: lambda t: t.flip(h),  # FLIP_TOP_BOTTOM
        5: lambda t: t.transpose(h, w),  # TRANSPOSE
        6: lambda t: torch.rot90(t, -1, dims=(h, w)),  # ROTATE_270 (a quarter turn clockwise)
        7: lambda t: t.transpose(h, w).flip(h, w),  # TRANSVERSE
        8: lambda t: torch.rot90(t, 1, dims=(h, w)),  # ROTATE_90
    }.get(orientation, lambda t: t)(x)


class DeviceScorer:
    """Scores files with a feature detector on one torch device (one per process or Ray actor).

    Args:
        detector: a fitted detector reading only :data:`DEVICE_EXTRACTORS`.
        device: ``"cuda"``, ``"cuda:1"``, ``"cpu"``; default: CUDA when there is one.
        encoder: a :class:`~fakescope.features.clip_torch.ClipVision`; default: the shipped
            weights, dequantised (benchmarks pass ``random_encoder()`` where the file is absent).
        encoder_batch: images per encoder call.
        threads: CPU threads for reading files and Pillow decoding.
    """

    def __init__(self, detector, device: str | torch.device | None = None, encoder=None, encoder_batch: int = 256,
                 threads: int | None = None):  # fmt: skip
        check_detector(detector)
        self.detector = detector
        self.device = torch.device(device) if device is not None else default_device()
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise DeviceUnavailable("--device cuda: PyTorch sees no CUDA device on this machine")
        self.dtype = torch.float16 if self.device.type == "cuda" else torch.float32
        self.extractors = tuple(detector.extractors)
        if encoder is None and "clip" in self.extractors:
            from ..features.clip_torch import onnx_encoder

            encoder = onnx_encoder()
        self.encoder = None if encoder is None else encoder.to(self.device, self.dtype).eval()
        self.encoder_batch = encoder_batch
        self.pool = ThreadPoolExecutor(max_workers=threads or max(2, min(16, os.cpu_count() or 2)))
        #: route plain JPEGs to torchvision's decoder (nvJPEG on CUDA); tests set it on a CPU to run that route
        self.decode_jpegs_here = self.device.type == "cuda"
        self.decoded_on_device = 0  # counters for benchmarks and tests
        self.decoded_by_pillow = 0
        #: seconds spent per stage of :meth:`finish` (and waiting for the CPU's share), when ``profile`` is set;
        #: profiling synchronises the device after each stage
        self.profile = False
        self.seconds: Counter = Counter()

    # --- decoding ------------------------------------------------------------------------------------
    def prepare(self, probed: Sequence[Probed], data: Sequence[bytes | None]) -> list[tuple]:
        """The CPU's share of a batch, which can run while the device works on the previous one.

        Per entry: ``("error", reason)``; ``("device", bytes)`` for a JPEG the device will decode; or
        ``("pixels", (3, H, W) uint8 CPU tensor, ImageInfo)`` decoded by Pillow (every other file, and
        every file when the device is a CPU), exactly as the CPU path decodes it.
        """
        out: list = [None] * len(probed)
        pillow = []
        for i, (pr, raw) in enumerate(zip(probed, data)):
            if pr.error is not None:
                out[i] = ("error", pr.error)
            elif raw is None:
                out[i] = ("error", "file could not be read again after its header was (removed or changed during "
                                   "the scan)")  # fmt: skip
            elif pr.device_jpeg and self.decode_jpegs_here:
                out[i] = ("device", raw)
            else:
                pillow.append(i)
        for i, res in zip(pillow, self.pool.map(lambda i: self._pillow(probed[i], data[i]), pillow)):
            out[i] = res
        return out

    def _pillow(self, pr: Probed, data: bytes) -> tuple:
        try:
            img, info = open_image(data, name=pr.path)
        except ImageLoadError as exc:
            return "error", exc.reason
        return "pixels", torch.from_numpy(np.array(img)).permute(2, 0, 1), info  # (3, H, W) uint8

    def decode(self, probed: Sequence[Probed], prepared: list[tuple]) -> list[tuple]:
        """Pixels on the device per entry: ``(pixels (3, H, W) uint8, ImageInfo)`` or ``(None, error reason)``.

        The JPEGs marked for the device are decoded there in one call, and turned upright; if nvJPEG
        refuses the batch (one file it cannot take fails them all), those files go to Pillow.
        """
        out: list = [None] * len(prepared)
        on_device = [i for i, p in enumerate(prepared) if p[0] == "device"]
        if on_device:
            from torchvision.io import ImageReadMode, decode_jpeg

            raw = [torch.from_numpy(np.frombuffer(prepared[i][1], dtype=np.uint8).copy()) for i in on_device]
            try:
                pixels = decode_jpeg(raw, mode=ImageReadMode.RGB, device=self.device)
            except RuntimeError:
                pixels = None
            for k, i in enumerate(on_device):
                if pixels is None:
                    prepared[i] = self._pillow(probed[i], prepared[i][1])
                else:
                    out[i] = (orient(pixels[k], probed[i].orientation), probed[i].info)
                    self.decoded_on_device += 1
        for i, p in enumerate(prepared):
            if out[i] is None:
                if p[0] == "error":
                    out[i] = (None, p[1])
                else:
                    out[i] = (p[1].to(self.device, non_blocking=True), p[2])
                    self.decoded_by_pillow += 1
        return out

    # --- features ------------------------------------------------------------------------------------
    @torch.no_grad()
    def features(self, images: Sequence[torch.Tensor]) -> dict[str, np.ndarray]:
        """``{"clip": (N, 512), "dct": (N, 128, 128)}`` float32 of (3, H, W) uint8 images on the device
        (the extractors the detector reads).

        The views of the whole batch are taken together (:func:`~fakescope.features.views_torch.batch_views`:
        images of one size share their resampling matrices and go through them as one batch).
        """
        n = len(images)
        t0 = self._tick()
        views = views_torch.batch_views(images, clip="clip" in self.extractors, dct="dct" in self.extractors)
        out = {"dct": views["dct"].cpu().numpy()} if "dct" in self.extractors else {}
        t1 = self._tick("views", t0)
        if "clip" in self.extractors:
            pixels = views["clip"]
            emb = torch.cat([self.encoder(pixels[s : s + self.encoder_batch].to(self.dtype))
                             for s in range(0, n, self.encoder_batch)]) if n else torch.zeros((0, 512))  # fmt: skip
            out["clip"] = emb.float().cpu().numpy()
        self._tick("encoder", t1)
        return out

    # --- rows ------------------------------------------------------------------------------------------
    def score(self, probed: Sequence[Probed], data: Sequence[bytes | None]) -> list[Verdict]:
        """Verdicts (rows) of probed entries and their bytes, in order; errors become error rows."""
        return self.finish(probed, self.prepare(probed, data))

    def finish(self, probed: Sequence[Probed], prepared: list[tuple]) -> list[Verdict]:
        """The device's share of a batch (see :meth:`prepare`): decode, views, encoder, heads, rows."""
        det = self.detector
        rows: list[Verdict | None] = [None] * len(probed)
        good = []
        t0 = self._tick()
        decoded = self.decode(probed, prepared)
        self._tick("decode", t0)
        for i, (x, info) in enumerate(decoded):
            if x is None:
                rows[i] = Verdict.failed(det, probed[i].path, info)
            else:
                good.append((i, x, info))
        if good:
            feats = self.features([x for _, x, _ in good])  # times its views and encoder itself
            t2 = self._tick()
            p, reliability = det.assess_features(feats)
            for (i, _, info), pi, rel in zip(good, p, reliability):
                rows[i] = Verdict.scored(det, probed[i].path, float(pi), info, reliability=rel)
                rows[i].provenance = probed[i].provenance
            self._tick("heads + rows", t2)
        return rows

    def _tick(self, stage: str | None = None, since: float = 0.0) -> float:
        if not self.profile:
            return 0.0
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        now = time.perf_counter()
        if stage:
            self.seconds[stage] += now - since
        return now

    def read(self, paths: Sequence[str]) -> list[bytes | None]:
        """The files' bytes, read on the thread pool (``None`` where reading fails: the probe says why)."""

        def one(path):
            try:
                return _read_file(path, path)
            except ImageLoadError:
                return None

        return list(self.pool.map(one, paths))


def device_scan_iter(detector, paths: list[str], batch_size: int = 256, device: str | None = None,
                     probe_processes: int = 0, scorer: DeviceScorer | None = None) -> Iterator[list[Verdict]]:
    """The GPU path's :func:`fakescope.scanning.scan_iter`: verdicts batch by batch, in input order.

    Headers and provenance are read up to two batches ahead of the device, on ``probe_processes``
    processes (the metadata readers are Python and hold the GIL: on a GPU machine they need several
    cores to keep up) or, with 0, on the scorer's threads.

    Raises:
        UnsupportedDetector: at once (not on the first batch) for a detector this path cannot run.
    """
    scorer = scorer or DeviceScorer(detector, device)
    return _device_batches(scorer, paths, batch_size, probe_processes)


def _device_batches(scorer: DeviceScorer, paths: list[str], batch_size: int, processes: int):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # forkserver: the workers import only fakescope.engines.probe (no torch, no CUDA state)
    pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("forkserver")) if processes else None
    probe_map = (lambda b: pool.map(probe, b, chunksize=8)) if pool else (lambda b: scorer.pool.map(probe, b))
    # One thread runs the CPU's share of the next batch (bytes, Pillow decoding) while the device
    # works on this one; headers and provenance run two batches ahead.
    ahead = ThreadPoolExecutor(max_workers=1)

    def cpu_share(probes):
        probed = list(probes)
        return probed, scorer.prepare(probed, scorer.read([p.path for p in probed]))

    try:
        batches = [paths[i : i + batch_size] for i in range(0, len(paths), batch_size)]
        probes = [probe_map(b) for b in batches[:2]]
        ready = ahead.submit(cpu_share, probes.pop(0)) if batches else None
        for k in range(len(batches)):
            t0 = time.perf_counter()
            probed, prepared = ready.result()
            scorer.seconds["waiting for the CPU share"] += time.perf_counter() - t0
            if k + 2 < len(batches):
                probes.append(probe_map(batches[k + 2]))
            if k + 1 < len(batches):
                ready = ahead.submit(cpu_share, probes.pop(0))
            yield scorer.finish(probed, prepared)
    finally:
        ahead.shutdown(cancel_futures=True)
        if pool:
            pool.shutdown(cancel_futures=True)
