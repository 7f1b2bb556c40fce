"""One look for every analysis plot: colours, sizes, fonts and file format.

Every plot fakescope draws goes through this module, so all of them read the same way:

- categorical colours are the Okabe-Ito palette (distinguishable under the common colour-vision
  deficiencies and in greyscale by lightness); past eight series the line style changes too, so
  no two series share colour *and* style;
- the classes keep one colour everywhere (:data:`CLASS_COLORS`);
- sequential maps are ``cividis`` (made for colour-vision deficiencies, monotone in lightness),
  diverging ones ``PuOr_r`` (ColorBrewer, purple-orange: safe for red-green deficiency), centred on zero;
- PNG at a fixed dpi, without timestamps in the file, so a rerun on the same data gives the same bytes.

matplotlib is an optional extra (``pip install 'fakescope[plots]'``). This module imports it only
inside its functions; :func:`require` raises :class:`PlotsUnavailable` with that hint.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import contextmanager
from itertools import cycle, islice
from pathlib import Path

import numpy as np

#: Okabe & Ito (2008), in the order series take them (black last: it reads as an axis).
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
#: Line styles cycled after every colour has been used once.
LINESTYLES = ("-", "--", ":", "-.")
#: Fixed colour of each class and outcome, the same in every plot.
CLASS_COLORS = {"real": "#0072B2", "fake": "#D55E00", "partial": "#CC79A7", "unknown": "#7F7F7F"}
#: Neutral grey for reference lines, "all" rows and groups too small to read.
GREY = "#7F7F7F"
SEQUENTIAL = "cividis"
DIVERGING = "PuOr_r"
DPI = 110
#: Width of a full-page figure in inches (about 1000 px at :data:`DPI`).
PAGE_WIDTH = 9.0

_RC = {
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#DDDDDD",
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.4,
    "image.cmap": SEQUENTIAL,
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "savefig.bbox": "tight",
}


class PlotsUnavailable(ImportError):
    """matplotlib is not installed; the message says how to install it."""


def require():
    """matplotlib's ``pyplot`` on the non-interactive Agg backend.

    Raises:
        PlotsUnavailable: matplotlib is not installed.
    """
    try:
        import matplotlib
    except ImportError:
        raise PlotsUnavailable("plots need matplotlib: pip install 'fakescope[plots]'") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def available() -> bool:
    """True when matplotlib can be imported."""
    try:
        require()
    except PlotsUnavailable:
        return False
    return True


def series_styles(n: int) -> list[tuple[str, str]]:
    """``(colour, line style)`` for ``n`` series: Okabe-Ito colours, the style changing each round."""
    return [(OKABE_ITO[i % len(OKABE_ITO)], LINESTYLES[(i // len(OKABE_ITO)) % len(LINESTYLES)]) for i in range(n)]


def colors(n: int) -> list[str]:
    """``n`` categorical colours (Okabe-Ito, repeated past eight: pair them with :func:`series_styles`)."""
    return list(islice(cycle(OKABE_ITO), n))


@contextmanager
def style():
    """Matplotlib's settings for fakescope plots, inside the block only."""
    plt = require()
    from cycler import cycler

    n = len(OKABE_ITO) * len(LINESTYLES)
    col, ls = zip(*series_styles(n))
    with plt.rc_context({**_RC, "axes.prop_cycle": cycler(color=list(col), linestyle=list(ls))}):
        yield plt


def figure(nrows: int = 1, ncols: int = 1, width: float = PAGE_WIDTH, height: float | None = None, **kw):
    """A figure and its axes in the fakescope style (``squeeze=False``: axes is always 2-D; constrained
    layout, so titles, labels and colour bars do not overlap).

    Call inside :func:`style` so the settings also apply when the figure is drawn and saved.
    """
    plt = require()
    height = height if height is not None else 3.0 * nrows
    kw.setdefault("layout", "constrained")
    return plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False, **kw)


def save(fig, path: str | os.PathLike, dpi: int | None = None) -> Path:
    """Write ``fig`` as PNG (no timestamp, so the bytes depend on the contents only) and close it.

    Args:
        dpi: default :data:`DPI`; less for figures of many noisy image panels, whose PNGs grow with their pixels.
    """
    plt = require()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", metadata={"Software": None}, dpi=dpi or DPI)
    plt.close(fig)
    return path


def symmetric_limits(values: np.ndarray, quantile: float = 0.995) -> tuple[float, float]:
    """``(-m, m)`` around zero for a diverging map, ``m`` a high quantile of ``|values|`` (outliers clip)."""
    finite = np.abs(np.asarray(values, dtype=float))
    finite = finite[np.isfinite(finite)]
    m = float(np.quantile(finite, quantile)) if finite.size else 1.0
    return -max(m, 1e-9), max(m, 1e-9)


def matrix(ax, values: np.ndarray, row_labels: Sequence[str], col_labels: Sequence[str] | None = None,
           cmap: str = SEQUENTIAL, vmin: float | None = None, vmax: float | None = None,
           annotate: bool | str = False, colorbar: str | None = None):  # fmt: skip
    """A labelled matrix (confusion matrix, distance matrix) on ``ax``.

    Args:
        values: (rows, cols) array; NaN cells are left blank.
        annotate: False, True (``{:.2g}``) or a format string such as ``"{:.0f}"``: the value in each cell,
            in black or white by the cell's lightness.
        colorbar: label of a colour bar, or None for none.

    Returns:
        The image artist.
    """
    plt = require()
    values = np.asarray(values, dtype=float)
    col_labels = row_labels if col_labels is None else col_labels
    im = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest", aspect="auto")
    ax.grid(False)
    ax.set_xticks(range(len(col_labels)), labels=col_labels, rotation=90)
    ax.set_yticks(range(len(row_labels)), labels=row_labels)
    if annotate:
        fmt = annotate if isinstance(annotate, str) else "{:.2g}"
        norm, cm = im.norm, plt.get_cmap(cmap)
        for (i, j), v in np.ndenumerate(values):
            if np.isfinite(v):
                r, g, b, _ = cm(norm(v))
                ink = "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"
                ax.text(j, i, fmt.format(v), ha="center", va="center", color=ink, fontsize=6)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, shrink=0.8, label=colorbar)
    return im


def intervals(ax, labels: Sequence[str], estimates: Sequence[float], lows: Sequence[float], highs: Sequence[float],
              dim: Sequence[bool] | None = None, reference: float | None = None, xlabel: str = ""):  # fmt: skip
    """Estimates with their confidence intervals, one row per group (a forest plot), top to bottom.

    Args:
        dim: per row, True to draw it grey and hollow (a group too small to read).
        reference: a vertical dashed line, e.g. the rate over all groups.
    """
    n = len(labels)
    y = np.arange(n)[::-1]
    dim = list(dim) if dim is not None else [False] * n
    for yi, est, lo, hi, faint in zip(y, estimates, lows, highs, dim):
        color = GREY if faint else OKABE_ITO[0]
        ax.plot([lo, hi], [yi, yi], color=color, linestyle="-", linewidth=1.6)
        ax.plot([est], [yi], marker="o", color=color, markerfacecolor="white" if faint else color, linestyle="")
    if reference is not None:
        ax.axvline(reference, color=GREY, linestyle="--", linewidth=1)
    ax.set_yticks(y, labels=labels)
    ax.set_ylim(-0.7, n - 0.3)
    ax.grid(axis="y", visible=False)
    ax.set_xlabel(xlabel)


__all__ = [
    "CLASS_COLORS", "DIVERGING", "GREY", "OKABE_ITO", "PlotsUnavailable", "SEQUENTIAL", "available", "colors",
    "figure", "intervals", "matrix", "require", "save", "series_styles", "style", "symmetric_limits",
]  # fmt: skip
