"""Spectral analysis: what generators leave in the frequency domain.

For every image of a manifest, under one *view* (by default the project's matched processing,
256 px JPEG q90, so that size and format are the same in every class):

- the log-scaled 2-D DCT-II of the luma, ``log(|DCT| + 1e-6)`` (Frank et al. 2020);
- the log power spectrum of the luma in dB, ``10 log10 |FFT(w * (x - mean))|^2 / sum(w^2)`` with a 2-D Hann
  window ``w`` (the window keeps the image's borders, which the FFT sees as edges, from drawing a cross
  through the spectrum);
- its azimuthal average over rings of equal radial frequency (Durall et al. 2020).

Means are taken per class (real, fake, partial), per generator (fake images) and per source of the real
images; each group's mean spectra then give:

- **periodic peaks** (:func:`find_peaks`): frequency bins of the mean log power spectrum that stand out
  from their neighbourhood. Up-sampling by transposed convolutions or nearest-neighbour repetition leaves
  a grid of period ``N`` pixels, i.e. peaks at ``k/N`` cycles per pixel;
- a **distance matrix**: the root-mean-square difference of two groups' mean log DCT spectra, in nats.

Matched processing itself can leave a grid in every image: JPEG's 8 x 8 blocks (peaks at ``k/8``, which
include the ``1/4`` and ``1/2`` of a 2x up-sampler), and a source can leave its own (a web thumbnail's
compression). Each generator is therefore compared with *reference* real images: those of its own source
when it has enough of them, else all real images (:meth:`SpectrumResult.reference`). A peak counts as the
generator's own only when the reference's mean spectrum has no peak within one bin of it (``in_real``);
``jpeg_grid`` only notes that a peak lies on the 8-pixel grid.

Resizing to 256 px moves an image's own grid (a 512 px image's period-4 grid becomes period 2; a 128 px
preview's is halved in frequency and mostly filtered away by the bicubic kernel); the ``native<size>``
view takes the centre crop without resampling, for a look at the traces before that.

Plots, tables and the page are drawn by :mod:`.spectrum_report`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from PIL import Image
from scipy.ndimage import maximum_filter, median_filter

from ..data.manifest import Manifest
from ..data.perturb import Matched
from ..features.dct import log_dct
from ..features.views import center_crop, gray

#: The view the analysis takes by default: the project's matched processing (``data.perturb.Matched``).
DEFAULT_VIEW = Matched().tag
#: Radial band (cycles per pixel) over which the high-frequency level of a group is compared to the real images.
HIGH_BAND = (0.25, 0.5)
#: Groups with fewer images get no row, plot or distance: a mean of a handful of spectra is mostly content.
MIN_IMAGES = 5
#: Real images of one source serve as a generator's reference only from this many on (else all real images):
#: the reference's peaks decide which of the generator's peaks are its own, so it must not be noise itself.
MIN_REFERENCE = 20


# --- one image -----------------------------------------------------------------------------------------------
def luma_view(img: Image.Image, view: str = DEFAULT_VIEW) -> np.ndarray:
    """The luma (float64, 0-255, square) of ``img`` under ``view``.

    Views: ``matched<size>q<quality>`` (shortest side to ``size``, centre crop, JPEG at ``quality``, decoded:
    :class:`~fakescope.data.perturb.Matched`) or ``native<size>`` (the centre ``size`` crop, not resampled;
    images with a side under ``size`` are enlarged, bicubic).
    """
    if view.startswith("matched"):
        return gray(Matched.parse_tag(view)(img))
    m = re.fullmatch(r"native(\d+)", view)
    if m:
        return gray(center_crop(img, int(m.group(1))))
    raise ValueError(f"unknown view {view!r}; expected matched<size>q<quality> or native<size>")


def log_power(x: np.ndarray, eps: float = 1e-10) -> np.ndarray:
    """Log power spectrum in dB of a (S, S) luma, DC in the centre (``fftshift``), Hann-windowed, mean removed."""
    s = x.shape[-1]
    w = np.hanning(s + 2)[1:-1]  # no zero end points: every pixel counts
    w2 = np.outer(w, w)
    f = np.fft.fft2((x - x.mean()) * w2)
    power = (f.real**2 + f.imag**2) / float((w2**2).sum())
    return np.fft.fftshift(10.0 * np.log10(power + eps))


def frequencies(size: int) -> np.ndarray:
    """Frequency of each row (or column) of a shifted spectrum, in cycles per pixel, from -0.5 up."""
    return np.fft.fftshift(np.fft.fftfreq(size))


def _radius(size: int) -> np.ndarray:
    f = frequencies(size)
    return np.sqrt(f[:, None] ** 2 + f[None, :] ** 2)


def radial_average(spec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Azimuthal average of a shifted (S, S) spectrum over rings one frequency bin wide (Durall et al. 2020).

    Returns:
        ``(freqs, values)``: ring centres in cycles per pixel (0 to 0.5) and the mean of ``spec`` on each ring.
        Corners beyond 0.5 are left out, so every ring is a full circle.
    """
    s = spec.shape[-1]
    ring = np.rint(_radius(s) * s).astype(int)
    keep = ring <= s // 2
    sums = np.bincount(ring[keep], weights=spec[keep], minlength=s // 2 + 1)
    counts = np.bincount(ring[keep], minlength=s // 2 + 1)
    return np.arange(s // 2 + 1) / s, sums / np.maximum(counts, 1)


def axis_excess(spec: np.ndarray, band: tuple[float, float] = (0.125, 0.5), degrees: float = 5.0) -> float:
    """How much stronger a shifted log spectrum (dB) is along the two axes than elsewhere, within ``band``.

    Mean over the bins within ``degrees`` of the horizontal or vertical axis minus the mean over the other
    bins of the band: about 0 for an isotropic spectrum (real photographs are near isotropic); block grids
    and horizontal/vertical structure raise it.
    """
    s = spec.shape[-1]
    f = frequencies(s)
    r = _radius(s)
    angle = np.degrees(np.arctan2(np.abs(f[:, None]), np.abs(f[None, :])))  # 0: horizontal axis, 90: vertical
    near = (angle <= degrees) | (angle >= 90 - degrees)
    inside = (r >= band[0]) & (r <= band[1])
    return float(spec[inside & near].mean() - spec[inside & ~near].mean())


# --- periodic peaks ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PeakRule:
    """When a bin of a shifted log power spectrum (dB) is a periodic peak.

    A bin is a peak when all of these hold:

    1. its excess over the local background is at least ``min_db``. The background is the largest of three
       medians around the bin (periodic at the borders): of the ``window`` x ``window`` square, of the
       ``window`` bins of its row and of the ``window`` bins of its column. A point peak stands out from
       all three; a bin on a ridge (a line through the spectrum, which straight edges, borders and
       interlacing draw) does not stand out from its own line, so ridges are not peaks;
    2. that excess is at least ``z`` robust standard deviations (1.4826 x MAD) of the excess over all bins
       considered, so a noisy spectrum (one image, a few images) needs a clearer peak;
    3. it is the largest excess in its 3 x 3 neighbourhood;
    4. its radial frequency is at least ``min_freq`` cycles per pixel: grids of period up to 16 px are
       looked for (near DC the spectrum falls too steeply for a local median to be a background).

    Peaks are reported once per mirror pair, as ``(|fy|, |fx|)``.
    """

    window: int = 9
    min_db: float = 3.0  # a doubling of power over the local background
    z: float = 6.0
    min_freq: float = 1 / 16


@dataclass(frozen=True)
class Peak:
    """A periodic peak at ``(fy, fx)`` cycles per pixel (both >= 0), ``excess_db`` above its background."""

    fy: float
    fx: float
    excess_db: float
    z: float
    size: int  # side of the spectrum it was found in, for the frequency resolution
    jpeg_grid: bool = False  # at multiples of 1/8 on both axes: JPEG's 8 x 8 blocks (matched processing has them)
    in_real: bool = False  # the reference real images' mean spectrum has a peak within one bin

    @property
    def label(self) -> str:
        return f"({frequency_label(self.fy, self.size)}, {frequency_label(self.fx, self.size)})"

    @property
    def periods(self) -> tuple[float, float]:
        """Period in pixels along y and x (``inf`` along an axis with zero frequency)."""
        return (1 / self.fy if self.fy else math.inf), (1 / self.fx if self.fx else math.inf)

    @property
    def own(self) -> bool:
        """Not in the real images' mean spectrum: a trace of how this group was made, not of the processing."""
        return not self.in_real

    def to_dict(self) -> dict:
        return {"fy": self.fy, "fx": self.fx, "label": self.label, "excess_db": round(self.excess_db, 2),
                "z": round(self.z, 1), "jpeg_grid": self.jpeg_grid, "in_real": self.in_real}  # fmt: skip


def frequency_label(f: float, size: int, max_period: int = 16) -> str:
    """``f`` cycles per pixel as ``k/N`` when a fraction with ``N <= max_period`` is within half a bin, else decimal."""
    if f == 0:
        return "0"
    frac = Fraction(f).limit_denominator(max_period)
    if abs(float(frac) - f) <= 0.5 / size:
        return f"{frac.numerator}/{frac.denominator}"
    return f"{f:.3f}"


def _on_grid(f: float, size: int, period: int = 8) -> bool:
    return abs(f * period - round(f * period)) * size / period <= 1.0  # within one bin of k/period


def find_peaks(spec: np.ndarray, rule: PeakRule = PeakRule()) -> list[Peak]:
    """Periodic peaks of a shifted (S, S) log power spectrum in dB, strongest first (see :class:`PeakRule`)."""
    s = spec.shape[-1]
    background = np.maximum.reduce([median_filter(spec, size=shape, mode="wrap")
                                    for shape in ((rule.window, rule.window), (rule.window, 1), (1, rule.window))])
    excess = spec - background
    considered = _radius(s) >= rule.min_freq
    vals = excess[considered]
    sigma = 1.4826 * float(np.median(np.abs(vals - np.median(vals)))) or 1e-9
    z = (excess - np.median(vals)) / sigma
    local_max = excess >= maximum_filter(excess, size=3, mode="wrap")
    hit = considered & local_max & (excess >= rule.min_db) & (z >= rule.z)
    f = frequencies(s)
    best: dict[tuple[int, int], Peak] = {}
    for iy, ix in zip(*np.nonzero(hit)):
        fy, fx = abs(float(f[iy])), abs(float(f[ix]))
        key = (round(fy * s), round(fx * s))
        peak = Peak(fy, fx, float(excess[iy, ix]), float(z[iy, ix]), s,
                    jpeg_grid=_on_grid(fy, s) and _on_grid(fx, s))  # fmt: skip
        if key not in best or peak.excess_db > best[key].excess_db:
            best[key] = peak
    return sorted(best.values(), key=lambda p: -p.excess_db)


def mark_shared(peaks: list[Peak], reference: list[Peak]) -> list[Peak]:
    """``peaks`` with ``in_real`` set where ``reference`` (the real images' peaks) has one within one bin."""
    out = []
    for p in peaks:
        shared = any(abs(p.fy - r.fy) * p.size <= 1.0 and abs(p.fx - r.fx) * p.size <= 1.0 for r in reference)
        out.append(Peak(p.fy, p.fx, p.excess_db, p.z, p.size, p.jpeg_grid, shared))
    return out


# --- groups of images ----------------------------------------------------------------------------------------
@dataclass
class Group:
    """Running sums of the spectra of one group of images."""

    name: str
    kind: str  # "class", "family" (of fake images), "generator" (of fake images) or "real source"
    family: str = ""
    n: int = 0
    sources: Counter = field(default_factory=Counter)  # images per manifest source
    dct_sum: np.ndarray | None = None
    fft_sum: np.ndarray | None = None
    radials: list[np.ndarray] = field(default_factory=list)
    peaks: list[Peak] = field(default_factory=list)

    def add(self, dct: np.ndarray, fft: np.ndarray, radial: np.ndarray, source: str = "") -> None:
        self.n += 1
        self.sources[source] += 1
        self.dct_sum = dct.copy() if self.dct_sum is None else self.dct_sum + dct
        self.fft_sum = fft.copy() if self.fft_sum is None else self.fft_sum + fft
        self.radials.append(radial)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}"

    @property
    def mean_dct(self) -> np.ndarray:
        return self.dct_sum / self.n

    @property
    def mean_fft(self) -> np.ndarray:
        return self.fft_sum / self.n

    @property
    def radial(self) -> np.ndarray:
        return np.mean(self.radials, axis=0)

    @property
    def radial_ci(self) -> np.ndarray:
        """Half width of the 95 % interval of the mean radial profile (normal approximation over images)."""
        if self.n < 2:
            return np.full_like(self.radial, np.nan)
        return 1.96 * np.std(self.radials, axis=0, ddof=1) / math.sqrt(self.n)


@dataclass
class SpectrumResult:
    """Everything one view of one manifest gave; see :func:`analyse`."""

    view: str
    size: int
    freqs: np.ndarray  # (S/2 + 1,) ring frequencies of the radial profiles, cycles per pixel
    groups: dict[str, Group]  # by Group.key, every group with at least one image
    min_images: int
    n_images: int
    unreadable: list[tuple[str, str]]  # (path, error)
    rule: PeakRule
    distance_keys: list[str] = field(default_factory=list)
    distances: np.ndarray | None = None  # (G, G) RMS difference of mean log DCT spectra, nats

    @property
    def real(self) -> Group | None:
        return self.groups.get("class:real")

    def shown(self, kind: str) -> list[Group]:
        """Groups of ``kind`` with at least :attr:`min_images` images, by family then size then name."""
        groups = [g for g in self.groups.values() if g.kind == kind and g.n >= self.min_images]
        order = {"real": 0, "fake": 1, "partial": 2}
        return sorted(groups, key=lambda g: (order.get(g.name, 9), g.family, -g.n, g.name))

    def too_few(self) -> list[Group]:
        return sorted((g for g in self.groups.values() if g.n < self.min_images), key=lambda g: (g.kind, g.name))

    def reference(self, group: Group) -> Group | None:
        """The real images ``group`` is compared with: those of its main source when that source has at least
        :data:`MIN_REFERENCE` real images (so what the source did to every image, such as a web thumbnail's JPEG,
        is not taken for a generator's trace), else all real images."""
        if group.kind in ("generator", "family") and group.sources:
            source = group.sources.most_common(1)[0][0]
            same = self.groups.get(f"real source:{source}")
            if same is not None and same.n >= MIN_REFERENCE:
                return same
        return self.real

    def high_band_excess(self, group: Group, reference: Group | None = None) -> float | None:
        """Mean of ``group``'s radial profile minus that of ``reference`` (default: all real images) over
        :data:`HIGH_BAND`, in dB."""
        reference = reference or self.real
        if reference is None:
            return None
        band = (self.freqs >= HIGH_BAND[0]) & (self.freqs <= HIGH_BAND[1])
        return float((group.radial - reference.radial)[band].mean())

    def nearest(self, key: str, kind: str | None = None) -> tuple[str, float] | None:
        """The closest other group in the distance matrix (of ``kind`` only, if given) and its distance."""
        if self.distances is None or key not in self.distance_keys:
            return None
        i = self.distance_keys.index(key)
        best = None
        for j, other in enumerate(self.distance_keys):
            if j == i or (kind and not other.startswith(kind + ":")):
                continue
            if best is None or self.distances[i, j] < best[1]:
                best = (other, float(self.distances[i, j]))
        return best


def _groups_of(sample) -> list[tuple[str, str, str]]:
    """``(kind, name, family)`` of each group an image belongs to."""
    out = [("class", sample.label, "")]
    if sample.label == "fake":
        out.append(("family", sample.family or "(no family)", sample.family))
        out.append(("generator", sample.generator or "(no generator)", sample.family))
    elif sample.label == "real":
        out.append(("real source", sample.source or "(no source)", ""))
    return out


def analyse(manifest: Manifest, view: str = DEFAULT_VIEW, min_images: int = MIN_IMAGES, rule: PeakRule = PeakRule(),
            progress: Callable[[int, int], None] | None = None) -> SpectrumResult:  # fmt: skip
    """Mean spectra, radial profiles, peaks and distances of every group of ``manifest`` under ``view``.

    Args:
        min_images: groups with fewer images are listed as too few, without peaks or distances.
        progress: called with ``(done, total)`` after each image.
    """
    from ..io import ImageLoadError, load_image

    groups: dict[str, Group] = {}
    unreadable: list[tuple[str, str]] = []
    size = freqs = None
    for i, sample in enumerate(manifest):
        try:
            x = luma_view(load_image(sample.file), view)
        except (ImageLoadError, OSError) as exc:
            unreadable.append((str(sample.path), str(exc)))
        else:
            dct, fft = log_dct(x), log_power(x)
            freqs, radial = radial_average(fft)
            size = x.shape[-1]
            for kind, name, family in _groups_of(sample):
                g = groups.setdefault(f"{kind}:{name}", Group(name, kind, family))
                g.add(dct, fft, radial, sample.source)
        if progress:
            progress(i + 1, len(manifest))
    if size is None:
        raise ValueError(f"{manifest.name}: none of its {len(manifest)} images could be read")
    result = SpectrumResult(view, size, freqs, groups, min_images, len(manifest) - len(unreadable), unreadable, rule)
    for g in groups.values():  # real groups first: their peaks are the others' references
        if g.n >= min_images:
            g.peaks = find_peaks(g.mean_fft, rule)
    for g in groups.values():
        ref = result.reference(g)
        if g.n >= min_images and ref is not None:
            g.peaks = mark_shared(g.peaks, ref.peaks if ref.n >= min_images else [])
    keys = [g.key for kind in ("real source", "generator") for g in result.shown(kind)]
    if result.real is not None and result.real.n >= min_images:
        keys.insert(0, result.real.key)
    if len(keys) >= 2:
        from scipy.spatial.distance import cdist

        means = np.stack([groups[k].mean_dct for k in keys]).reshape(len(keys), -1)  # (G, S*S)
        result.distance_keys, result.distances = keys, cdist(means, means) / math.sqrt(means.shape[1])
    return result


def leaf_order(distances: np.ndarray) -> list[int]:
    """An order of the rows that puts similar groups together (average-linkage clustering's leaves)."""
    if len(distances) < 3:
        return list(range(len(distances)))
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    d = (distances + distances.T) / 2
    np.fill_diagonal(d, 0.0)
    return list(leaves_list(linkage(squareform(d, checks=False), method="average")))
