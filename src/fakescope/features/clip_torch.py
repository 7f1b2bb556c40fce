"""The CLIP ViT-B/16 image encoder in PyTorch, with the weights of the shipped INT8 ONNX export.

The ONNX graph (:mod:`fakescope.features.clip`) runs one image per call on a
CPU. On a GPU the same network runs batched in half precision: this module
rebuilds it as a PyTorch module (Hugging Face's ``CLIPVisionModelWithProjection``
layout: patch embedding, 12 pre-norm transformer blocks with quick-GELU, the
CLS token's final norm and the 768 -> 512 projection) and fills it from the
ONNX file. The file stores each matrix of the transformer as INT8 with one
scale and zero point per output channel; here they are dequantised once,
``(q - zero_point) * scale``, and the activations stay in floating point
instead of being quantised per call. The embeddings therefore differ slightly
from the ONNX ones; ``tests/test_gpu_path.py`` measures the cosine agreement
(docs/BENCHMARKS.md reports it).

Speed does not depend on the weights' values: :func:`random_encoder` builds
the same network with random weights, for benchmarks on machines without the file.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .clip import CLIP_DIM, CLIP_SIZE, CLIP_WEIGHTS

WIDTH, LAYERS, HEADS, PATCH, MLP = 768, 12, 12, 16, 3072
#: Hugging Face CLIP's layer-norm epsilon
LN_EPS = 1e-5


class Block(nn.Module):
    """One pre-norm transformer block: x + attn(ln1(x)), then x + mlp(ln2(x))."""

    def __init__(self):
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(WIDTH, eps=LN_EPS)
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(WIDTH, WIDTH) for _ in range(4))
        self.layer_norm2 = nn.LayerNorm(WIDTH, eps=LN_EPS)
        self.fc1, self.fc2 = nn.Linear(WIDTH, MLP), nn.Linear(MLP, WIDTH)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, D)
        b, t, _ = x.shape
        h = self.layer_norm1(x)

        def heads(y):  # (B, T, D) -> (B, H, T, D / H)
            return y.view(b, t, HEADS, WIDTH // HEADS).transpose(1, 2)

        a = F.scaled_dot_product_attention(heads(self.q_proj(h)), heads(self.k_proj(h)), heads(self.v_proj(h)))
        x = x + self.out_proj(a.transpose(1, 2).reshape(b, t, WIDTH))
        h = self.fc1(self.layer_norm2(x))
        return x + self.fc2(h * torch.sigmoid(1.702 * h))  # quick-GELU, as CLIP was trained


class ClipVision(nn.Module):
    """CLIP ViT-B/16 image tower and projection: (B, 3, 224, 224) normalised pixels -> (B, 512) unit embeddings."""

    def __init__(self):
        super().__init__()
        self.patch_embedding = nn.Conv2d(3, WIDTH, PATCH, PATCH, bias=False)
        self.class_embedding = nn.Parameter(torch.zeros(WIDTH))
        self.position_embedding = nn.Parameter(torch.zeros((CLIP_SIZE // PATCH) ** 2 + 1, WIDTH))
        self.pre_layrnorm = nn.LayerNorm(WIDTH, eps=LN_EPS)
        self.layers = nn.ModuleList(Block() for _ in range(LAYERS))
        self.post_layernorm = nn.LayerNorm(WIDTH, eps=LN_EPS)
        self.visual_projection = nn.Linear(WIDTH, CLIP_DIM, bias=False)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:  # (B, 3, 224, 224)
        x = self.patch_embedding(pixels).flatten(2).transpose(1, 2)  # (B, 196, D)
        cls = self.class_embedding.to(x.dtype).expand(len(x), 1, WIDTH)
        x = torch.cat([cls, x], dim=1) + self.position_embedding.to(x.dtype)  # (B, 197, D)
        x = self.pre_layrnorm(x)
        for layer in self.layers:
            x = layer(x)
        emb = self.visual_projection(self.post_layernorm(x[:, 0])).float()  # (B, 512)
        return emb / emb.norm(dim=1, keepdim=True).clamp_min(1e-12)


def dequantised_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The :class:`ClipVision` state dict from the INT8 ONNX export at ``path``.

    Float initializers keep their names (``vision_model.`` dropped). Each INT8 matrix is
    found through the ``MatMulInteger`` node that reads it (its name says which layer and
    projection), and dequantised per output channel.
    """
    from .onnx_reader import read_graph

    tensors, nodes = read_graph(path)
    state: dict[str, torch.Tensor] = {}
    for name, arr in tensors.items():
        if name.startswith("vision_model.") and arr.dtype == np.float32:
            key = name.removeprefix("vision_model.").replace("embeddings.", "").replace("encoder.", "")
            key = key.replace("self_attn.", "").replace("mlp.", "").replace("position_embedding.weight",
                                                                             "position_embedding")  # fmt: skip
            state[key] = torch.from_numpy(arr.copy())
    for node in nodes:
        if node.op_type != "MatMulInteger":
            continue
        m = re.search(r"(layers\.\d+)/(?:self_attn|mlp)/(\w+)/MatMul_quant$", node.name)
        target = f"{m[1]}.{m[2]}" if m else "visual_projection" if "visual_projection" in node.name else None
        if target is None:
            raise ValueError(f"{path}: unexpected quantised product {node.name!r}")
        base = node.inputs[1].removesuffix("_quantized")
        q = tensors[node.inputs[1]].astype(np.float32)  # (in, out)
        weight = (q - tensors[base + "_zero_point"].astype(np.float32)) * tensors[base + "_scale"]
        state[f"{target}.weight"] = torch.from_numpy(np.ascontiguousarray(weight.T))  # Linear: (out, in)
    return state


def onnx_encoder(path: str | Path | None = None) -> ClipVision:
    """The encoder with the shipped ONNX file's weights, dequantised (float32, CPU, eval mode).

    Raises:
        FileNotFoundError: the weights are not in the cache (``fakescope weights pull``).
    """
    from .. import weights

    model = ClipVision()
    model.load_state_dict(dequantised_state(path or weights.path_of(CLIP_WEIGHTS)), strict=True)
    return model.eval()


def random_encoder(seed: int = 0) -> ClipVision:
    """The same network with random weights: for measuring speed where the weights file is absent."""
    torch.manual_seed(seed)
    model = ClipVision()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() < 2:
                p.normal_(0, 0.02)
    return model.eval()
