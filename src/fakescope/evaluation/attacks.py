"""Adversarial attacks on images in [0, 1], and the measures of how much they change an image.

The gradient attacks take a *surrogate*: a differentiable function from a batch of images
``(B, 3, H, W)`` in [0, 1] to one score per image, higher meaning "generated". They push that
score down (towards "real"):

- :func:`fgsm`: one step of size ``eps`` along the sign of the gradient (L-inf);
- :func:`pgd`: projected gradient descent, ``steps`` steps of ``2.5 * eps / steps`` (Madry et al.
  2018), under an L-inf (signed gradient) or L2 (normalised gradient) budget, every iterate projected
  back into the ball around the original and into [0, 1]; it can return every iterate, for a
  perceptual budget (:func:`best_within_ssim`);
- :func:`to_uint8`: the attacked image as 8-bit pixels, rounded so that the budget still holds
  (what gets written to a PNG file is what was measured).

Measures: :func:`ssim` (Wang et al. 2004: 11 x 11 Gaussian window, sigma 1.5, per channel, averaged),
:func:`psnr`, and the L-inf and L2 norms of the change.

The gradient-free attacks work on 8-bit RGB pixels: :func:`noise_jpeg` (Gaussian noise, then a
JPEG re-encode) and :func:`reencode` (a round trip through an autoencoder).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

Surrogate = Callable[[torch.Tensor], torch.Tensor]

NORMS = ("linf", "l2")


def _grad(model: Surrogate, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(gradient of the summed scores at ``x``, the scores)."""
    with torch.enable_grad():  # also inside a caller's no_grad block
        x = x.detach().requires_grad_(True)
        scores = model(x)
        (g,) = torch.autograd.grad(scores.sum(), x)
    return g, scores.detach()


def fgsm(model: Surrogate, x: torch.Tensor, eps: float | list[float]) -> list[torch.Tensor]:
    """Fast gradient sign method: ``x - eps * sign(grad)``, clipped to [0, 1]; one gradient for every ``eps``."""
    eps_list = [eps] if isinstance(eps, (int, float)) else list(eps)
    g, _ = _grad(model, x)
    return [(x - e * g.sign()).clamp(0, 1).detach() for e in eps_list]


def _project(delta: torch.Tensor, norm: str, eps: float) -> torch.Tensor:
    if norm == "linf":
        return delta.clamp(-eps, eps)
    n = delta.flatten(1).norm(dim=1).clamp_min(1e-12)
    return delta * (eps / n).clamp(max=1.0).view(-1, *([1] * (delta.dim() - 1)))


def pgd(model: Surrogate, x: torch.Tensor, norm: str, eps: float, steps: int, step: float | None = None,
        keep_iterates: bool = False) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:  # fmt: skip
    """Projected gradient descent on the surrogate's score within ``eps`` of ``x`` (``norm`` "linf" or "l2").

    Returns:
        ``(final image, iterates, scores)``: with ``keep_iterates``, the iterates after each step
        (``steps`` of them, the final one last) and the surrogate's scores of the original and of each
        iterate but the last, as the steps computed them (score ``i`` belongs to the image before step
        ``i``); else two empty lists.
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, not {norm!r}")
    if steps < 1:
        raise ValueError("steps must be at least 1")
    alpha = step if step is not None else 2.5 * eps / steps
    x = x.detach()
    adv = x.clone()
    iterates, scores = [], []
    for _ in range(steps):
        g, s = _grad(model, adv)
        if keep_iterates:
            scores.append(s.cpu())
        if norm == "linf":
            move = g.sign()
        else:
            move = g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
        adv = (x + _project(adv - alpha * move - x, norm, eps)).clamp(0, 1).detach()
        if keep_iterates:
            iterates.append(adv)
    return adv, iterates, scores


def to_uint8(x0: np.ndarray, adv: torch.Tensor | np.ndarray, norm: str | None = None,
             eps: float | None = None) -> np.ndarray:  # fmt: skip
    """The attacked images as 8-bit pixels (B, H, W, 3), the change from ``x0`` (uint8, same shape) rounded
    so that its norm stays within ``eps``.

    L-inf: the rounded change is clipped to the whole grey levels under ``eps``. L2: rounding can add to
    the norm, so an image whose rounded change exceeds ``eps`` has its change scaled down (in steps of
    2%) until it does not (rounded towards zero at the end, which never adds to the norm).
    """
    if isinstance(adv, torch.Tensor):
        adv = adv.detach().cpu().permute(0, 2, 3, 1).numpy()
    base = x0.astype(np.float64)
    delta = np.asarray(adv, dtype=np.float64) * 255.0 - base
    q = np.round(delta)
    if norm == "linf" and eps is not None:
        cap = np.floor(eps * 255.0 + 1e-6)
        q = np.clip(q, -cap, cap)
    elif norm == "l2" and eps is not None:
        limit = eps * 255.0
        for i in range(len(q)):
            scale = 1.0
            while np.sqrt((q[i] ** 2).sum()) > limit + 1e-9 and scale > 0.05:
                scale *= 0.98
                q[i] = np.round(delta[i] * scale)
            if np.sqrt((q[i] ** 2).sum()) > limit + 1e-9:
                q[i] = np.trunc(delta[i] * scale)
    elif norm is not None and norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, not {norm!r}")
    return np.clip(base + q, 0, 255).astype(np.uint8)


def to_tensor(images: np.ndarray, device=None) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> float (B, 3, H, W) in [0, 1]."""
    return torch.from_numpy(np.array(images, dtype=np.uint8)).permute(0, 3, 1, 2).float().div(255.0).to(device)


# ----------------------------------------------------------------------------- measures


def _gaussian_1d(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    ax = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(ax**2) / (2 * sigma**2))
    return (g / g.sum()).float()


def ssim(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Structural similarity (Wang et al. 2004) of uint8 images (B, H, W, 3), per image: the mean over
    valid 11 x 11 Gaussian windows (sigma 1.5, applied as two separable passes) of each channel, averaged
    over channels; data range 255."""
    x = torch.as_tensor(np.asarray(a, dtype=np.float32)).permute(0, 3, 1, 2)
    y = torch.as_tensor(np.asarray(b, dtype=np.float32)).permute(0, 3, 1, 2)
    c = x.shape[1]
    g = _gaussian_1d()
    gx, gy = g.view(1, 1, 1, -1).repeat(c, 1, 1, 1), g.view(1, 1, -1, 1).repeat(c, 1, 1, 1)

    def blur(t):
        return F.conv2d(F.conv2d(t, gx, groups=c), gy, groups=c)

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    out = []
    for i in range(len(x)):  # an image at a time: bounded memory
        xi, yi = x[i : i + 1], y[i : i + 1]
        mx, my = blur(xi), blur(yi)
        vx, vy, cov = blur(xi * xi) - mx * mx, blur(yi * yi) - my * my, blur(xi * yi) - mx * my
        s = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
        out.append(float(s.double().mean()))
    return np.array(out)


def psnr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Peak signal-to-noise ratio in dB of uint8 images (B, H, W, 3), per image (inf where identical)."""
    mse = ((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2).reshape(len(a), -1).mean(axis=1)
    with np.errstate(divide="ignore"):
        return 10 * np.log10(255.0**2 / mse)


def norms(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(L-inf, L2) of ``b - a`` per image, on the [0, 1] scale (uint8 inputs)."""
    d = (np.asarray(b, np.float64) - np.asarray(a, np.float64)).reshape(len(a), -1) / 255.0
    return np.abs(d).max(axis=1), np.sqrt((d**2).sum(axis=1))


def best_within_ssim(x0: np.ndarray, iterates: list[np.ndarray], scores: list[np.ndarray],
                     min_ssim: float) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Per image, the candidate with the lowest surrogate score among those whose SSIM to ``x0`` is at least
    ``min_ssim`` (the original itself always qualifies).

    Args:
        x0: uint8 originals (B, H, W, 3).
        iterates: uint8 candidates, each (B, H, W, 3).
        scores: the surrogate's score of the original, then of each candidate, each (B,)
            (``len(iterates) + 1`` arrays).

    Returns:
        ``(chosen images, index of the choice per image: 0 the original, i the i-th iterate)``.
    """
    if len(scores) != len(iterates) + 1:
        raise ValueError("scores: one array for the original and one per iterate")
    cands = [x0, *iterates]
    ok = np.stack([ssim(x0, c) >= min_ssim for c in cands])  # (K+1, B)
    ok[0] = True
    s = np.where(ok, np.stack([np.asarray(v, np.float64) for v in scores]), np.inf)
    pick = s.argmin(axis=0)
    return np.stack([cands[k][i] for i, k in enumerate(pick)]), pick


# ----------------------------------------------------------------------------- without gradients


def noise_jpeg(images: np.ndarray, sigma: float, quality: int, seed: int = 0) -> np.ndarray:
    """Gaussian noise of ``sigma`` (on the [0, 1] scale) added to uint8 images (B, H, W, 3), rounded, then
    re-encoded as JPEG at ``quality`` and decoded; the noise is seeded by ``seed`` and the image's index."""
    from PIL import Image

    from ..data.perturb import jpeg

    out = []
    for i, img in enumerate(images):
        rng = np.random.default_rng([seed, i])
        noisy = np.clip(np.round(img.astype(np.float64) + rng.normal(0, sigma * 255.0, img.shape)), 0, 255)
        out.append(np.asarray(jpeg(Image.fromarray(noisy.astype(np.uint8)), quality), dtype=np.uint8))
    return np.stack(out)


def reencode(images: np.ndarray, autoencoder) -> np.ndarray:
    """uint8 images (B, H, W, 3) sent through ``autoencoder`` and back, at their own size."""
    from PIL import Image

    from ..data.synthesis.autoencoders import round_trip

    return np.stack([np.asarray(round_trip(autoencoder, Image.fromarray(img)), dtype=np.uint8) for img in images])


__all__ = ["NORMS", "best_within_ssim", "fgsm", "noise_jpeg", "norms", "pgd", "psnr", "reencode", "ssim", "to_tensor",
           "to_uint8"]  # fmt: skip
