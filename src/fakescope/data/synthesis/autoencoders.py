"""Autoencoders that turn a real image into its generated counterpart, aligned pixel for pixel.

A latent-diffusion model draws every image through its autoencoder's decoder, so a real photo
sent through such an autoencoder comes back with the decoder's traces and its own content: a fake
that differs from its real twin only in how it was made. Two kinds live here:

- **TAEF2**, the tiny autoencoder of the FLUX.2 latent space (MIT; weights from
  ``../shared/weights/taef2``, architecture written from the key names and shapes of its state
  dicts, loaded strictly; see that folder's README);
- **our own autoencoders**, trained on real images only, with one of several decoder upsamplers
  (transposed convolution, nearest + conv, pixel shuffle, bilinear + conv) and latent sizes, so a
  detector sees more than one decoder's fingerprint. They are small enough to train at reduced
  size on a CPU.

Every autoencoder maps RGB in [0, 1], (N, 3, H, W) with H and W multiples of 8, to the same.
:func:`round_trip` handles any image size (reflect padding, tiles with overlap).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

#: sha256 of the TAEF2 files (upstream madebyollin/taesd @ 5cccb12d)
TAEF2_SHA256 = {
    "taef2_encoder.pth": "10a4e1021e89d7551eaf161352da8dbd0b1aa83872ae28b150c1df1ce2f147b6",
    "taef2_decoder.pth": "0a44a31e1ae59eb9dbf9359d24942fd3ef5928162c1800d97a28c61d51be0ab5",
}
UPSAMPLERS = ("transposed", "nearest", "pixelshuffle", "bilinear")
#: our own autoencoders at full size, shipped with fakescope (see the README there)
SHIPPED = Path(__file__).resolve().parents[2] / "trained" / "autoencoders"


# ----------------------------------------------------------------------------- TAEF2


def _conv(cin: int, cout: int, **kw) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1, **kw)


class _Block(nn.Module):
    """conv-ReLU-conv-ReLU-conv plus an identity skip, ReLU on the sum; the innermost blocks first add a
    1x1 bottleneck branch (``pool``) to their input."""

    def __init__(self, c: int = 64, pooled: bool = False):
        super().__init__()
        self.conv = nn.Sequential(_conv(c, c), nn.ReLU(), _conv(c, c), nn.ReLU(), _conv(c, c))
        self.pool = nn.Sequential(nn.Conv2d(c, 4 * c, 1, bias=False), nn.GroupNorm(4, 4 * c), nn.ReLU(),
                                  nn.Conv2d(4 * c, c, 1, bias=False)) if pooled else None  # fmt: skip

    def forward(self, x):
        if self.pool is not None:
            x = x + self.pool(x)
        return F.relu(self.conv(x) + x)


class _Clamp(nn.Module):
    def forward(self, z):
        return torch.tanh(z / 3) * 3


def taef2_encoder() -> nn.Sequential:
    """RGB [0, 1] (N, 3, H, W) -> latent (N, 32, H/8, W/8)."""
    layers: list[nn.Module] = [_conv(3, 64), _Block()]
    for stage in range(3):
        inner = stage == 2
        layers += [_conv(64, 64, stride=2, bias=False), _Block(pooled=inner), _Block(pooled=inner),
                   _Block(pooled=inner)]  # fmt: skip
    layers.append(_conv(64, 32))
    return nn.Sequential(*layers)


def taef2_decoder() -> nn.Sequential:
    """Latent (N, 32, h, w) -> RGB (N, 3, 8h, 8w), to be clamped to [0, 1]."""
    layers: list[nn.Module] = [_Clamp(), _conv(32, 64), nn.ReLU(), _Block(pooled=True), _Block(pooled=True),
                               _Block(pooled=True)]  # fmt: skip
    for blocks in (3, 3, 1):
        layers += [nn.Upsample(scale_factor=2), _conv(64, 64, bias=False), *[_Block() for _ in range(blocks)]]
    layers.append(_conv(64, 3))
    return nn.Sequential(*layers)


class Autoencoder(nn.Module):
    """An encoder and a decoder; ``forward`` is the round trip, clamped to [0, 1]."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module, name: str):
        super().__init__()
        self.encoder, self.decoder, self.name = encoder, decoder, name

    def forward(self, x):
        return self.decoder(self.encoder(x)).clamp(0, 1)


def load_taef2(directory: str | Path) -> Autoencoder:
    """TAEF2 from a folder holding ``taef2_encoder.pth`` and ``taef2_decoder.pth`` (checked against their
    sha256, loaded strictly as float32).

    Raises:
        FileNotFoundError: a file is missing; ValueError: a file is not the published one.
    """
    directory = Path(directory)
    parts = {}
    for fname, want in TAEF2_SHA256.items():
        path = directory / fname
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing (TAEF2 weights; see ../shared/weights/README.md)")
        got = hashlib.sha256(path.read_bytes()).hexdigest()
        if got != want:
            raise ValueError(f"{path}: sha256 {got[:12]}... is not the published TAEF2 file ({want[:12]}...)")
        parts[fname] = {k: v.float() for k, v in torch.load(path, map_location="cpu", weights_only=True).items()}
    enc, dec = taef2_encoder(), taef2_decoder()
    enc.load_state_dict(parts["taef2_encoder.pth"], strict=True)
    dec.load_state_dict(parts["taef2_decoder.pth"], strict=True)
    return Autoencoder(enc, dec, "taef2").eval()


# ----------------------------------------------------------------------------- our own autoencoders


@dataclass
class OwnAEConfig:
    """A small convolutional autoencoder trained on real images only (``--set`` keys)."""

    upsampler: str = "transposed"  # how the decoder doubles resolution: one of UPSAMPLERS
    latent: int = 8  # latent channels at 1/8 resolution: fewer keep less detail, so the decoder invents more
    width: int = 48
    epochs: int = 6
    crop: int = 64
    batch: int = 16
    lr: float = 2e-3
    seed: int = 0


def _up(kind: str, c: int) -> nn.Module:
    """A x2 upsampling step of the given kind: the part of a decoder that leaves its fingerprint."""
    if kind == "transposed":
        return nn.ConvTranspose2d(c, c, 4, stride=2, padding=1)
    if kind == "nearest":
        return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), _conv(c, c))
    if kind == "pixelshuffle":
        return nn.Sequential(nn.Conv2d(c, 4 * c, 3, padding=1), nn.PixelShuffle(2))
    if kind == "bilinear":
        return nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), _conv(c, c))
    raise ValueError(f"unknown upsampler {kind!r}; choose from {UPSAMPLERS}")


def own_autoencoder(cfg: OwnAEConfig) -> Autoencoder:
    """Encoder: three stride-2 convolutions to ``latent`` channels at 1/8 size; decoder: three upsampling
    steps of ``cfg.upsampler``, each followed by a conv + ReLU, and a final conv to RGB."""
    w = cfg.width
    enc = nn.Sequential(_conv(3, w), nn.ReLU(),
                        _conv(w, w, stride=2), nn.ReLU(), _conv(w, w, stride=2), nn.ReLU(),
                        _conv(w, w, stride=2), nn.ReLU(), _conv(w, cfg.latent))  # fmt: skip
    dec_layers: list[nn.Module] = [_conv(cfg.latent, w), nn.ReLU()]
    for _ in range(3):
        dec_layers += [_up(cfg.upsampler, w), nn.ReLU(), _conv(w, w), nn.ReLU()]
    dec_layers.append(_conv(w, 3))
    return Autoencoder(enc, nn.Sequential(*dec_layers), f"ae-{cfg.upsampler}-l{cfg.latent}")


#: the settings of our own autoencoders at full size (trained on a GPU; :class:`OwnAEConfig`'s defaults are
#: the reduced size that trains in a few CPU minutes)
FULL_SIZE = {"width": 64, "crop": 128, "batch": 32, "epochs": 60}


def train_own_autoencoder(images: list[Image.Image], cfg: OwnAEConfig, log=None) -> Autoencoder:
    """Train :func:`own_autoencoder` on random crops of real images (L1 loss); returns it in eval mode."""
    from ...train.loop import device, fit

    torch.manual_seed(cfg.seed)
    dev = device()
    ae = own_autoencoder(cfg).to(dev)
    rng = np.random.default_rng(cfg.seed)
    arrays = [np.asarray(im.convert("RGB")) for im in images if min(im.size) >= cfg.crop]
    if not arrays:
        raise ValueError(f"no training image has both sides of at least {cfg.crop} px")
    per_epoch = max(1, 4 * len(arrays) // cfg.batch)

    def batches(epoch):
        for _ in range(per_epoch):
            crops = []
            for i in rng.integers(0, len(arrays), cfg.batch):
                a = arrays[i]
                top, left = rng.integers(0, a.shape[0] - cfg.crop + 1), rng.integers(0, a.shape[1] - cfg.crop + 1)
                crops.append(a[top : top + cfg.crop, left : left + cfg.crop])
            yield torch.as_tensor(np.stack(crops)).to(dev).permute(0, 3, 1, 2).float() / 255.0

    def loss(net, x):
        return (net(x) - x).abs().mean()

    fit(ae, batches, loss, epochs=cfg.epochs, steps_per_epoch=per_epoch, lr=cfg.lr, log=log, name=ae.name)
    return ae.eval()


def save_own_autoencoder(ae: Autoencoder, cfg: OwnAEConfig, path: str | Path, trained_on: dict | None = None) -> Path:
    """Write an autoencoder of our own with its config (and what it was trained on) to one ``.pt`` file."""
    from dataclasses import asdict

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # half precision: the file is committed beside the code (a few MB); loading turns it back to float32
    state = {k: v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu() for k, v in ae.state_dict().items()}
    torch.save({"name": ae.name, "config": asdict(cfg), "trained_on": trained_on or {}, "state_dict": state}, path)
    return path


def load_own_autoencoder(path: str | Path, expect: str | None = None) -> Autoencoder:
    """An autoencoder of our own from :func:`save_own_autoencoder`'s file, loaded strictly; ``expect`` (a
    name such as ``ae-nearest-l8``) must match the file's.

    Raises:
        FileNotFoundError: no such file; ValueError: not such a file, or another autoencoder."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such autoencoder file")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        cfg = OwnAEConfig(**blob["config"])
    except Exception as exc:  # noqa: BLE001 - a file that is not ours, whatever the reason
        raise ValueError(f"{path}: not an autoencoder file of fakescope ({exc})") from None
    ae = own_autoencoder(cfg)
    if expect and ae.name != expect:
        raise ValueError(f"{path} holds {ae.name}, not {expect}")
    ae.load_state_dict({k: v.float() for k, v in blob["state_dict"].items()}, strict=True)
    return ae.eval()


def psnr(ae: nn.Module, images: list[Image.Image]) -> float:
    """Mean PSNR (dB) of ``ae``'s round trips against ``images``: how much of an image a round trip keeps."""
    out = []
    for img in images:
        a = np.asarray(img.convert("RGB"), dtype=np.float64)
        b = np.asarray(round_trip(ae, img), dtype=np.float64)
        out.append(10 * np.log10(255.0**2 / max(((a - b) ** 2).mean(), 1e-10)))
    return float(np.mean(out)) if out else float("nan")


# ----------------------------------------------------------------------------- any image through any of them


def round_trip(ae: nn.Module, img: Image.Image, tile: int = 1024, overlap: int = 64) -> Image.Image:
    """``img`` encoded and decoded, at its own size. The image is reflect-padded to a multiple of 8;
    images larger than ``tile`` px go through in tiles that overlap by ``overlap`` px on each side, of
    which only the centres are kept. TAEF2's group norms see a whole tile, so a tiled round trip differs
    slightly from a whole one (about 1 grey level on average): tiles are large, for memory only."""
    arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    h, w = arr.shape[:2]
    ph, pw = (-h) % 8, (-w) % 8
    padded = np.pad(arr, ((0, ph), (0, pw), (0, 0)), mode="reflect" if min(h, w) > 8 else "edge")
    H, W = padded.shape[:2]
    out = np.zeros_like(padded)
    dev = next(ae.parameters()).device
    step = tile - 2 * overlap
    with torch.no_grad():
        for top in range(0, H, step):
            for left in range(0, W, step):
                t0, l0 = max(0, top - overlap), max(0, left - overlap)
                t1, l1 = min(H, top + step + overlap), min(W, left + step + overlap)
                x = torch.as_tensor(padded[t0:t1, l0:l1]).permute(2, 0, 1)[None].to(dev)
                y = ae(x)[0].permute(1, 2, 0).cpu().numpy()
                bt, bl = min(H, top + step), min(W, left + step)
                out[top:bt, left:bl] = y[top - t0 : bt - t0, left - l0 : bl - l0]
    return Image.fromarray(np.clip(np.round(out[:h, :w] * 255), 0, 255).astype(np.uint8))


def _own_config(spec: str) -> OwnAEConfig:
    """The config of ``ae-<upsampler>[-l<latent>]``."""
    parts = spec.split("-")
    if parts[0] != "ae" or len(parts) not in (2, 3) or parts[1] not in UPSAMPLERS:
        raise ValueError(f"unknown autoencoder {spec!r}: use taef2 or ae-<{'|'.join(UPSAMPLERS)}>[-l<latent>]")
    cfg = OwnAEConfig(upsampler=parts[1])
    if len(parts) == 3:
        if not (parts[2].startswith("l") and parts[2][1:].isdigit()):
            raise ValueError(f"{spec!r}: the latent size is written l<channels>, e.g. ae-nearest-l4")
        cfg.latent = int(parts[2][1:])
    return cfg


def spec_name(spec: str) -> str:
    """The name the autoencoder of ``spec`` will have (``taef2``, ``ae-nearest-l8``), without building it."""
    if spec == "taef2":
        return spec
    cfg = _own_config(spec)
    return f"ae-{cfg.upsampler}-l{cfg.latent}"


def autoencoder_from_spec(spec: str, weights: str | Path | None = None, reals: list[Image.Image] | None = None,
                          log=None) -> Autoencoder:  # fmt: skip
    """``taef2`` (from ``weights``, or the folder in ``$FAKESCOPE_TAEF2``) or ``ae-<upsampler>[-l<latent>]``,
    one of our own: loaded from ``weights`` when given (its file, or a folder holding ``<name>.pt``, as
    ``fakescope autoencoder train`` writes), else the full-size one shipped in :data:`SHIPPED` if there is
    one, else trained here on ``reals`` at the size of :class:`OwnAEConfig`."""
    import os

    if spec == "taef2":
        folder = weights or os.environ.get("FAKESCOPE_TAEF2")
        if not folder:
            raise ValueError("taef2 needs its weights folder: --autoencoder-weights DIR (or FAKESCOPE_TAEF2)")
        return load_taef2(folder)
    cfg = _own_config(spec)
    name = spec_name(spec)
    if weights:
        path = Path(weights)
        return load_own_autoencoder(path / f"{name}.pt" if path.is_dir() else path, expect=name)
    if (SHIPPED / f"{name}.pt").is_file():
        return load_own_autoencoder(SHIPPED / f"{name}.pt", expect=name)
    if not reals:
        raise ValueError(f"{spec} is trained on real images, and none were given")
    return train_own_autoencoder(reals, cfg, log=log)
