"""Plots, tables, the HTML page and the ``## Spectral analysis`` section of what :mod:`.spectrum` measured."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np

from . import markdown, plotting
from .page import Figure, Section, Table, write_page
from .spectrum import HIGH_BAND, MIN_REFERENCE, Group, SpectrumResult, axis_excess, leaf_order

HEADING = "Spectral analysis"
#: Peaks listed per group in a table cell; the JSON has them all.
PEAKS_SHOWN = 4


# --- names and cells -----------------------------------------------------------------------------------------
def short_name(group: Group, width: int = 30) -> str:
    """A label that fits a plot: real sources by repository name (``real: imagenet-sample-images``)."""
    name = f"real: {group.name.rsplit('/', 1)[-1]}" if group.kind == "real source" else group.name
    return name if len(name) <= width else name[: width - 1] + "…"


def _db(v: float | None) -> str | None:
    return None if v is None or not math.isfinite(v) else f"{v:+.1f}"


def own_peaks_cell(group: Group, limit: int = PEAKS_SHOWN) -> str:
    """The group's own peaks (absent from its reference real images) as ``(fy, fx) +dB``, strongest first."""
    own = [p for p in group.peaks if p.own]
    if not own:
        return "none"
    cells = [f"{p.label} {p.excess_db:+.1f}" for p in own[:limit]]
    return ", ".join(cells) + (f" (+{len(own) - limit} more)" if len(own) > limit else "")


def _reference_cell(r: SpectrumResult, g: Group) -> str:
    ref = r.reference(g)
    return "all real" if ref is None or ref is r.real else short_name(ref)


def _nearest_cell(r: SpectrumResult, g: Group, kind: str | None = None) -> str | None:
    near = r.nearest(g.key, kind)
    if near is None:
        return None
    return f"{short_name(r.groups[near[0]])} ({near[1]:.2f})"


# --- tables --------------------------------------------------------------------------------------------------
def class_table(r: SpectrumResult) -> Table:
    rows = [[g.name if g.kind == "class" else f"fake: {g.name}", g.n, _db(r.high_band_excess(g)),
             _db(_axis(g)), own_peaks_cell(g)]
            for g in r.shown("class") + r.shown("family")]  # fmt: skip
    return Table(["group", "images", "HF vs all real (dB)", "axis excess (dB)", "own peaks (fy, fx) dB"], rows,
                 "Classes, and fake images by family.", "lrrrl")  # fmt: skip


def generator_table(r: SpectrumResult) -> Table:
    rows = []
    for g in r.shown("generator"):
        ref = r.reference(g)
        rows.append([g.name, g.family or None, g.n, g.sources.most_common(1)[0][0].rsplit("/", 1)[-1],
                     _db(r.high_band_excess(g)), _reference_cell(r, g), _db(r.high_band_excess(g, ref)),
                     _db(_axis(g)), own_peaks_cell(g), _nearest_cell(r, g, "real source"),
                     _nearest_cell(r, g, "generator")])  # fmt: skip
    headers = ["generator", "family", "images", "main source", "HF vs all real (dB)", "reference real",
               "HF vs reference (dB)", "axis excess (dB)", "own peaks (fy, fx) dB", "nearest real source",
               "nearest generator"]  # fmt: skip
    return Table(headers, rows, "Fake images by generator (groups of at least the minimum size).", "llrlrlrrlll")


def source_table(r: SpectrumResult) -> Table:
    rows = [[g.name, g.n, _db(r.high_band_excess(g)), _db(_axis(g)),
             ", ".join(f"{p.label} {p.excess_db:+.1f}" for p in g.peaks[:PEAKS_SHOWN]) or "none"]
            for g in r.shown("real source")]  # fmt: skip
    return Table(["real source", "images", "HF vs all real (dB)", "axis excess (dB)", "peaks (fy, fx) dB"], rows,
                 "Real images by source: the references.", "lrrrl")  # fmt: skip


def _axis(g: Group) -> float:
    return axis_excess(g.mean_fft)


def findings(r: SpectrumResult) -> list[str]:
    """Plain statements of what the numbers show, each computed from them."""
    out = []
    gens = r.shown("generator")
    if not gens:
        return out
    with_peaks = [g for g in gens if any(p.own for p in g.peaks)]
    if with_peaks:
        listed = "; ".join(f"{g.name} {', '.join(p.label for p in g.peaks if p.own)}" for g in with_peaks)
        out.append(f"{len(with_peaks)} of {len(gens)} generators show periodic peaks that their reference real "
                   f"images do not have: {listed}.")  # fmt: skip
    else:
        out.append(f"None of the {len(gens)} generators shows a periodic peak that its reference real images lack.")
    deltas = sorted((r.high_band_excess(g, r.reference(g)), g.name) for g in gens)
    if deltas and deltas[0][0] is not None:
        low, high = deltas[0], deltas[-1]
        below = sum(d < 0 for d, _ in deltas)
        out.append(f"High frequencies ({HIGH_BAND[0]:g}-{HIGH_BAND[1]:g} cycles/px): {below} of {len(deltas)} "
                   f"generators have less energy than their reference real images; from {low[1]} "
                   f"({low[0]:+.1f} dB) to {high[1]} ({high[0]:+.1f} dB).")  # fmt: skip
    sources = {g.name for g in r.shown("real source")}
    comparable = [g for g in gens if g.sources.most_common(1)[0][0] in sources]
    if comparable and r.distances is not None:
        own = [g for g in comparable if (r.nearest(g.key, "real source") or ("", 0))[0]
               == f"real source:{g.sources.most_common(1)[0][0]}"]  # fmt: skip
        sign = (": the source's processing, not only the generator, shapes these spectra"
                if 2 * len(own) > len(comparable) else "")  # fmt: skip
        out.append(f"Of the {len(comparable)} generators whose source also has real images, {len(own)} have "
                   f"their own source's real images as the nearest real source in mean log DCT spectrum{sign}.")
    reals = r.shown("real source")
    if reals and gens:
        real_ax = [_axis(g) for g in reals]
        gen_ax = [_axis(g) for g in gens]
        out.append(f"Axis excess (isotropy; 0 is isotropic): real sources {min(real_ax):+.1f} to "
                   f"{max(real_ax):+.1f} dB, generators {min(gen_ax):+.1f} to {max(gen_ax):+.1f} dB.")  # fmt: skip
    return out


# --- plots ---------------------------------------------------------------------------------------------------
def _fft_extent(size: int) -> list[float]:
    half = 0.5 / size
    return [-0.5 - half, 0.5 - half, -0.5 - half, 0.5 - half]


def plot_classes(r: SpectrumResult, path: Path) -> Path:
    """Mean log DCT and log power spectra per class, and fake minus real."""
    classes = r.shown("class")
    real, fake = r.groups.get("class:real"), r.groups.get("class:fake")
    diff = real is not None and fake is not None and min(real.n, fake.n) >= r.min_images
    ncols = len(classes) + int(diff)
    with plotting.style():
        fig, ax = plotting.figure(2, ncols, width=2.3 * ncols + 1.2, height=4.8)
        for row, (attr, unit, extent) in enumerate((("mean_dct", "log |DCT|", [0, r.size, r.size, 0]),
                                                    ("mean_fft", "dB", _fft_extent(r.size)))):  # fmt: skip
            means = [_binned(getattr(g, attr)) for g in classes]
            lo, hi = np.percentile(np.stack(means), [1, 99.5])
            for col, (g, m) in enumerate(zip(classes, means)):
                im = ax[row, col].imshow(m, cmap=plotting.SEQUENTIAL, vmin=lo, vmax=hi, extent=extent,
                                         origin="upper" if row == 0 else "lower")  # fmt: skip
                ax[row, col].set_title(f"{g.name} (n={g.n}) · {'DCT' if row == 0 else 'power'}")
            fig.colorbar(im, ax=ax[row, : len(classes)].tolist(), shrink=0.8, label=unit)
            if diff:
                d = _binned(getattr(fake, attr) - getattr(real, attr))
                vmin, vmax = plotting.symmetric_limits(d)
                im = ax[row, -1].imshow(d, cmap=plotting.DIVERGING, vmin=vmin, vmax=vmax, extent=extent,
                                        origin="upper" if row == 0 else "lower")  # fmt: skip
                ax[row, -1].set_title("fake − real")
                fig.colorbar(im, ax=ax[row, -1], shrink=0.8, label=f"Δ {unit}")
        for a in ax.ravel():
            a.grid(False)
        for a in ax[0]:
            a.set_xlabel("horizontal DCT index")
        for a in ax[1]:
            a.set_xlabel("fx (cycles/px)")
        ax[0, 0].set_ylabel("vertical DCT index")
        ax[1, 0].set_ylabel("fy (cycles/px)")
        return plotting.save(fig, path)


def _binned(spec: np.ndarray, side: int = 128) -> np.ndarray:
    """``spec`` averaged over k x k bins down to at most ``side`` bins a side: a panel is about 180 px wide, so
    finer bins would only show noise (and make the file several times larger)."""
    k = max(1, spec.shape[-1] // side)
    if k == 1:
        return spec
    s = spec.shape[-1] // k * k
    return spec[:s, :s].reshape(s // k, k, s // k, k).mean(axis=(1, 3))


def plot_generator_grid(r: SpectrumResult, path: Path, which: str = "fft", ncols: int = 5) -> Path | None:
    """Per generator, its mean spectrum minus all real images' (``which``: ``fft`` or ``dct``), in bins of at most
    128 a side (:func:`_binned`); own peaks circled."""
    gens = r.shown("generator")
    if not gens or r.real is None:
        return None
    attr = "mean_fft" if which == "fft" else "mean_dct"
    diffs = [_binned(getattr(g, attr) - getattr(r.real, attr)) for g in gens]
    vmin, vmax = plotting.symmetric_limits(np.stack(diffs), 0.98)  # a few extreme groups saturate
    nrows = math.ceil(len(gens) / ncols)
    extent = _fft_extent(r.size) if which == "fft" else None
    with plotting.style():
        fig, ax = plotting.figure(nrows, ncols, width=plotting.PAGE_WIDTH, height=2.0 * nrows + 0.3)
        for a in ax.ravel():
            a.set_axis_off()
        for a, g, d in zip(ax.ravel(), gens, diffs):
            im = a.imshow(d, cmap=plotting.DIVERGING, vmin=vmin, vmax=vmax, extent=extent,
                          origin="upper" if extent is None else "lower")  # fmt: skip
            a.set_title(f"{short_name(g, 26)}\n{g.family or '?'}, n={g.n}", fontsize=7)
            if which == "fft":
                own = [p for p in g.peaks if p.own]
                xs = [sx * p.fx for p in own for sx in (-1, 1) for _ in (-1, 1)]
                ys = [sy * p.fy for p in own for _ in (-1, 1) for sy in (-1, 1)]
                a.plot(xs, ys, linestyle="", marker="o", markersize=7, markerfacecolor="none",
                       markeredgecolor="black", markeredgewidth=0.8)  # fmt: skip
                a.set_xlim(extent[0], extent[1])
                a.set_ylim(extent[2], extent[3])
        unit = "dB" if which == "fft" else "log |DCT|"
        fig.colorbar(im, ax=ax.ravel().tolist(), shrink=0.5, label=f"Δ {unit} vs all real images")
        return plotting.save(fig, path, dpi=80)


def plot_radial(r: SpectrumResult, path: Path) -> Path:
    """Azimuthal averages per class (with 95 % bands), and per family of fakes minus the real images."""
    with plotting.style():
        fig, ax = plotting.figure(1, 2, height=3.4)
        left, right = ax[0, 0], ax[0, 1]
        for g in r.shown("class"):
            color = plotting.CLASS_COLORS.get(g.name, plotting.GREY)
            left.plot(r.freqs, g.radial, color=color, linestyle="-", label=f"{g.name} (n={g.n})")
            left.fill_between(r.freqs, g.radial - g.radial_ci, g.radial + g.radial_ci, color=color, alpha=0.2,
                              linewidth=0)  # fmt: skip
        left.set_xlabel("radial frequency (cycles/px)")
        left.set_ylabel("mean log power (dB)")
        left.set_title("Azimuthal average per class (95 % band)")
        left.legend()
        families = r.shown("family")
        for (color, ls), g in zip(plotting.series_styles(len(families)), families):
            if r.real is not None:
                right.plot(r.freqs, g.radial - r.real.radial, color=color, linestyle=ls, label=f"{g.name} (n={g.n})")
        right.axhline(0, color=plotting.GREY, linewidth=0.8)
        right.axvspan(*HIGH_BAND, color=plotting.GREY, alpha=0.08, linewidth=0)
        right.set_xlabel("radial frequency (cycles/px)")
        right.set_ylabel("Δ dB vs all real images")
        right.set_title("Fake images by family, minus real (shaded: HF band)")
        right.legend(ncol=2)
        return plotting.save(fig, path)


def plot_radial_generators(r: SpectrumResult, path: Path, ncols: int = 3) -> Path | None:
    """One panel per family: each generator's azimuthal average minus all real images'."""
    gens = r.shown("generator")
    if not gens or r.real is None:
        return None
    families = sorted({g.family or "?" for g in gens})
    nrows = math.ceil(len(families) / ncols)
    with plotting.style():
        fig, ax = plotting.figure(nrows, ncols, height=2.6 * nrows, sharex=True, sharey=True)
        for a in ax.ravel()[len(families):]:
            a.set_axis_off()
        for a, fam in zip(ax.ravel(), families):
            members = [g for g in gens if (g.family or "?") == fam]
            for (color, ls), g in zip(plotting.series_styles(len(members)), members):
                a.plot(r.freqs, g.radial - r.real.radial, color=color, linestyle=ls, label=short_name(g, 22))
            a.axhline(0, color=plotting.GREY, linewidth=0.8)
            a.set_title(fam)
            a.legend(fontsize=6, ncol=1 if len(members) < 6 else 2)
        for a in ax[-1]:
            a.set_xlabel("radial frequency (cycles/px)")
        for a in ax[:, 0]:
            a.set_ylabel("Δ dB vs all real")
        return plotting.save(fig, path)


def plot_distances(r: SpectrumResult, path: Path) -> Path | None:
    """The distance matrix, rows ordered so that similar groups sit together."""
    if r.distances is None:
        return None
    order = leaf_order(r.distances)
    labels = [short_name(r.groups[r.distance_keys[i]]) for i in order]
    side = min(3.0 + 0.2 * len(labels), 12.0)
    with plotting.style():
        fig, ax = plotting.figure(width=side + 1.5, height=side)
        d = r.distances[np.ix_(order, order)]
        vmax = float(np.quantile(d[~np.eye(len(d), dtype=bool)], 0.95))  # a few distant groups saturate
        plotting.matrix(ax[0, 0], d, labels, vmin=0.0, vmax=vmax, colorbar="RMS Δ mean log |DCT| (nats)")
        ax[0, 0].set_title("Distance between mean spectra (real images: all, and per source)")
        return plotting.save(fig, path)


# --- the whole report ----------------------------------------------------------------------------------------
def _as_json(r: SpectrumResult) -> dict:
    def group(g: Group) -> dict:
        ref = r.reference(g)
        return {"kind": g.kind, "name": g.name, "family": g.family, "n": g.n, "sources": dict(g.sources),
                "hf_vs_real_db": r.high_band_excess(g), "reference": ref.key if ref else None,
                "hf_vs_reference_db": r.high_band_excess(g, ref), "axis_excess_db": _axis(g),
                "peaks": [p.to_dict() for p in g.peaks],
                "radial_db": [round(float(v), 3) for v in g.radial]}  # fmt: skip

    return {"view": r.view, "size": r.size, "n_images": r.n_images, "min_images": r.min_images,
            "unreadable": r.unreadable, "peak_rule": vars(r.rule), "high_band": HIGH_BAND,
            "freqs": [float(f) for f in r.freqs],
            "groups": {g.key: group(g) for g in r.groups.values() if g.n >= r.min_images},
            "too_few": {g.key: g.n for g in r.too_few()},
            "distances": {"keys": r.distance_keys,
                          "nats": None if r.distances is None else np.round(r.distances, 4).tolist()}}  # fmt: skip


def _method_text(results: list[SpectrumResult]) -> list[str]:
    rule = results[0].rule
    return [
        "Each image is taken under the view named (matched<size>q<quality>: shortest side to size, centre crop, "
        "JPEG at that quality, as the matched benchmark protocol does; native<size>: the centre crop without "
        "resampling). Spectra of the luma: log |DCT-II| (Frank et al. 2020) and the log power spectrum in dB "
        "(Hann window, mean removed), averaged per class, per generator, per family of fakes and per source of "
        "real images; azimuthal averages over rings one frequency bin wide (Durall et al. 2020).",
        f"Periodic peaks: bins of a group's mean log power spectrum at radial frequency ≥ {rule.min_freq:g} "
        f"cycles/px that exceed their local background by ≥ {rule.min_db:g} dB and by ≥ {rule.z:g} robust "
        f"standard deviations, and are the largest in their 3x3 neighbourhood; the background is the largest of "
        f"the medians of the {rule.window}x{rule.window} square, the row and the column around the bin, so "
        "ridges (lines through the spectrum) are not peaks. A generator's *own* peaks are those its reference "
        f"real images (its own source's when that source has at least {MIN_REFERENCE} real images, else all) "
        "do not have within one bin. Frequencies are written k/N (period N px) when such a fraction with "
        "N ≤ 16 is within half a bin.",
        f"HF: mean difference of azimuthal averages over {HIGH_BAND[0]:g}-{HIGH_BAND[1]:g} cycles/px. Axis excess: "
        "mean log power within 5° of the axes minus elsewhere, 0.125-0.5 cycles/px (0 = isotropic). Distances: "
        "root-mean-square difference of two groups' mean log |DCT| spectra (nats). Groups with fewer than "
        f"{results[0].min_images} images are left out of tables, plots and distances.",
    ]


def write_report(results: list[SpectrumResult], out_dir: str | os.PathLike, command: str = "",
                 doc: str | os.PathLike | None = None, manifest_name: str = "") -> dict:  # fmt: skip
    """Write the PNG plots, ``spectrum.json`` and ``spectrum.html`` under ``out_dir``, and the
    ``## Spectral analysis`` section of ``doc`` when given.

    Returns:
        ``{"page": path, "json": path, "plots": [paths], "doc": path or None}``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sections, plots, md = [], [], []
    method = _method_text(results)
    for r in results:
        figs = {
            "classes": plot_classes(r, out_dir / f"{r.view}-classes.png"),
            "radial": plot_radial(r, out_dir / f"{r.view}-radial.png"),
            "radial-generators": plot_radial_generators(r, out_dir / f"{r.view}-radial-generators.png"),
            "generators-fft": plot_generator_grid(r, out_dir / f"{r.view}-generators-fft.png", "fft"),
            "generators-dct": plot_generator_grid(r, out_dir / f"{r.view}-generators-dct.png", "dct"),
            "distances": plot_distances(r, out_dir / f"{r.view}-distances.png"),
        }
        captions = {
            "classes": "Mean log |DCT| (top) and mean log power spectrum (bottom, DC in the centre) per class, "
                       "and fake minus real.",
            "radial": "Azimuthal averages of the log power spectrum.",
            "radial-generators": "Each generator's azimuthal average minus all real images', one panel per family.",
            "generators-fft": "Each generator's mean log power spectrum minus all real images'; circles: its own "
                              "periodic peaks.",
            "generators-dct": "Each generator's mean log |DCT| minus all real images' (low frequencies top left).",
            "distances": "RMS difference of mean log |DCT| spectra between groups.",
        }  # fmt: skip
        plots += [p for p in figs.values() if p]
        tables = [class_table(r), generator_table(r), source_table(r)]
        few = ", ".join(f"{short_name(g, 60)} ({g.n})" for g in r.too_few() if g.kind != "family")
        notes = findings(r)
        counts = {g.name: g.n for g in r.shown("class")}
        head = (f"{r.n_images} images ({', '.join(f'{n} {c}' for c, n in counts.items())}), view {r.view} "
                f"({r.size}x{r.size} px)" + (f"; {len(r.unreadable)} unreadable, left out" if r.unreadable else ""))
        few_note = [f"Too few images for a row (under {r.min_images}): {few}."] if few else []
        paragraphs = [head + ".", *notes, *few_note]
        sections.append(Section(f"View {r.view}", paragraphs,
                                [Figure(p, captions[k]) for k, p in figs.items() if p], tables))  # fmt: skip
        md += [f"### View {r.view}", "", head + ".", ""]
        md += [f"- {n}" for n in notes] + [""]
        if doc is not None:
            for key in ("classes", "radial", "generators-fft"):
                if figs[key]:
                    md += [f"![{captions[key]}]({markdown.relative_link(figs[key], doc)})", ""]
            others = [f"[{k}]({markdown.relative_link(p, doc)})" for k, p in figs.items()
                      if p and k not in ("classes", "radial", "generators-fft")]  # fmt: skip
            if others:
                md += ["More plots: " + ", ".join(others) + ".", ""]
        for t in tables:
            md += [f"*{t.caption}*", "", markdown.table(t.headers, t.rows, t.align), ""]
        if few:
            md += [f"Too few images for a row (under {r.min_images}): {few}.", ""]
    page = write_page(out_dir / "spectrum.html", "fakescope: spectral analysis",
                      [Section("Method", method), *sections], command=command)  # fmt: skip
    data = {"command": command, "manifest": manifest_name, "views": [_as_json(r) for r in results]}
    js = out_dir / "spectrum.json"
    js.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    written_doc = None
    if doc is not None:
        body = [f"Written by `{command}` on {time.strftime('%Y-%m-%d')}"
                + (f" from `{manifest_name}`" if manifest_name else "") + f". The numbers: "
                f"[{js.name}]({markdown.relative_link(js, doc)}); the command also writes a self-contained page "
                f"with every plot and table, {page.name}, beside them.", ""]  # fmt: skip
        for paragraph in method:
            body += [paragraph, ""]
        body += md
        written_doc = markdown.update_section(doc, HEADING, "\n".join(body))
    return {"page": page, "json": js, "plots": plots, "doc": written_doc}
