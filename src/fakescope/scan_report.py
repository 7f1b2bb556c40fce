"""The HTML report of a scan: one self-contained file to read or share.

Summary counts, a histogram of ``p_fake`` with the unsure band, counts per
folder, and a sortable table with a small thumbnail of each image (and of its
overlay when the scan localized), its verdict, verdict set, provenance and
error. Everything is inside the file: thumbnails as base64 data, inline CSS
and JavaScript, nothing fetched. The page is rendered by Jinja2 templates
shipped in the package, with autoescaping on, so a file name such as
``<b>&.jpg`` is shown as text.

This module prepares what the page shows; the templates
(``templates/scan_report/``) decide how it looks.
"""

from __future__ import annotations

import base64
import io
import os
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from .scanning import UsageError, row_path

VERDICTS = ("real", "unsure", "fake")
#: histogram bins over [0, 1]
BINS = 20
#: longest side of a thumbnail, in pixels: about 3 kB of JPEG each, so ten thousand rows make a 30 MB page
THUMB_SIDE = 96
_TEMPLATES = Path(__file__).parent / "templates" / "scan_report"


def check_report_path(report: str | os.PathLike, out: str | os.PathLike | None = None) -> None:
    """Refuse, before a scan starts, a report path that cannot be written.

    Raises:
        UsageError: the path is a folder, is the results file ``out``, or its folder cannot be written.
    """
    report = Path(report)
    if report.is_dir():
        raise UsageError(f"{report}: is a folder; the report is a file such as {report / 'report.html'}")
    if out is not None and os.path.abspath(report) == os.path.abspath(out):
        raise UsageError(f"{report}: is also the results file; give the report another name")
    try:
        report.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{report}: cannot write the report there ({exc.strerror or exc})") from None
    if not os.access(report.parent, os.W_OK):
        raise UsageError(f"{report}: cannot write the report there (its folder is not writable)")


def unsure_band(detector) -> tuple[float, float, str] | None:
    """``(low, high, how)``: the range of ``p_fake`` whose verdict is ``unsure``, and where it comes from.

    A detector with verdict sets decides by them: the band then runs from the highest
    probability whose set is ``{real}`` to the lowest whose set is ``{fake}``. Otherwise it is
    the detector's configured band. ``None`` when the detector has neither.
    """
    conformal = getattr(detector, "conformal_", None)
    if conformal is not None and hasattr(conformal, "sets"):
        grid = np.linspace(0.0, 1.0, 2001)
        sets = conformal.sets(grid)
        real = [p for p, s in zip(grid, sets) if tuple(s) == ("real",)]
        fake = [p for p, s in zip(grid, sets) if tuple(s) == ("fake",)]
        lo = float(max(real)) if real else 0.0
        hi = float(min(fake)) if fake else 1.0
        return lo, hi, f"verdict sets at error level {conformal.alpha:g}"
    band = getattr(getattr(detector, "train_config", None), "unsure_band", None)
    if band is not None:
        return float(band[0]), float(band[1]), "the detector's unsure band"
    return None


def histogram(rows: list[dict], band: tuple[float, float, str] | None, width: int = 640, height: int = 220) -> dict:
    """Geometry of the inline SVG histogram: bars stacked by verdict, the unsure band, the axis."""
    left, right, top, bottom = 44, 12, 14, 38
    plot_w, plot_h = width - left - right, height - top - bottom
    counts = np.zeros((BINS, len(VERDICTS)), int)
    for r in rows:
        if r.get("error") or r.get("p_fake") is None:
            continue
        b = min(int(float(r["p_fake"]) * BINS), BINS - 1)
        counts[b, VERDICTS.index(r["verdict"]) if r.get("verdict") in VERDICTS else 1] += 1
    y_max = max(int(counts.sum(1).max()), 1)
    bar_w = plot_w / BINS
    bars = []
    for b in range(BINS):
        y, segments = top + plot_h, []
        for v, n in zip(VERDICTS, counts[b]):
            if n:
                h = plot_h * n / y_max
                y -= h
                segments.append({"verdict": v, "n": int(n), "y": round(y, 1), "h": round(h, 1)})
        bars.append({"x": round(left + b * bar_w + 1, 1), "w": round(bar_w - 2, 1), "lo": b / BINS,
                     "hi": (b + 1) / BINS, "n": int(counts[b].sum()), "segments": segments})  # fmt: skip
    out = {"width": width, "height": height, "left": left, "top": top, "plot_w": plot_w, "plot_h": plot_h,
           "base": top + plot_h, "y_max": y_max, "bars": bars, "band": None,
           "x_ticks": [{"x": round(left + t * plot_w, 1), "label": f"{t:g}"} for t in (0, 0.25, 0.5, 0.75, 1)],
           "y_ticks": sorted({0, y_max // 2, y_max}),
           "scored": int(counts.sum())}  # fmt: skip
    out["y_ticks"] = [{"y": round(top + plot_h * (1 - t / y_max), 1), "label": t} for t in out["y_ticks"]]
    if band is not None:
        lo, hi, how = band
        out["band"] = {"x": round(left + lo * plot_w, 1), "w": round(max(hi - lo, 0.0) * plot_w, 1),
                       "lo": lo, "hi": hi, "how": how}  # fmt: skip
    return out


def verdict_of(row: dict) -> str:
    """``real``, ``fake``, ``unsure``, or ``error`` for an entry that could not be read."""
    return "error" if row.get("error") else row.get("verdict") or "unsure"


def folder_counts(rows: list[dict]) -> list[dict]:
    """One entry per folder (as the paths name it), with its count of each verdict and of errors."""
    by_folder: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        by_folder[os.path.dirname(r["path"]) or "."][verdict_of(r)] += 1
    return [{"folder": f, "total": sum(c.values()), **{k: c[k] for k in (*VERDICTS, "error")}}
            for f, c in sorted(by_folder.items())]  # fmt: skip


def thumbnail(path: str | os.PathLike, side: int = THUMB_SIDE) -> str | None:
    """A ``data:`` URI of a small JPEG of the image (display only: the scan judged the file itself), or
    ``None`` when it cannot be read."""
    from .io import ImageLoadError, open_image

    try:
        img, _ = open_image(path, min_side=side)  # a large JPEG is decoded at reduced scale
    except (ImageLoadError, OSError):
        return None
    img.thumbnail((side, side))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _entries(rows: list[dict], localized: bool, side: int) -> Iterator[dict]:
    """The table's rows, thumbnails made one at a time while the page is written."""
    for i, r in enumerate(rows):
        prov = r.get("provenance") or {}
        vs = r.get("verdict_set")
        yield {
            "index": i,
            "path": r["path"],
            "verdict": verdict_of(r),
            "p_fake": r.get("p_fake"),
            "verdict_set": "–" if vs is None else "+".join(vs) or "none",
            "provenance": prov.get("summary") or "",
            "provenance_claim": prov.get("claim"),
            "provenance_detail": _detail(prov),
            "error": r.get("error") or "",
            "thumb": None if r.get("error") else thumbnail(row_path(r), side),
            "overlay": thumbnail(r["overlay"], side) if localized and r.get("overlay") else None,
            "flagged_share": r.get("flagged_share"),
            "explanation": r.get("explanation") or "",
        }


def _detail(prov: dict) -> list[tuple[str, str]]:
    """A few lines of provenance detail for the table's disclosure (empty when there is nothing to show)."""
    out = []
    c = prov.get("c2pa") or {}
    if c.get("present"):
        out.append(("C2PA", f"{c.get('validation_state')}; signer {c.get('signer') or 'unknown'}; "
                            f"claim generator {c.get('claim_generator') or 'unknown'}"))  # fmt: skip
        for a in c.get("actions") or []:
            out.append(("action", ", ".join(str(v) for v in a.values() if v)))
        for e in c.get("errors") or []:
            out.append(("C2PA error", f"{e.get('code')}: {e.get('explanation')}"))
    g = prov.get("generator_text") or {}
    for key in ("tool", "model", "prompt"):
        if g.get(key):
            out.append((f"generator {key}", str(g[key])))
    for key, value in (prov.get("exif") or {}).items():
        out.append((f"EXIF {key}", str(value)))
    for comment in prov.get("comments") or []:
        out.append(("comment", comment))
    return out


def write_scan_report(
    rows: Iterable[dict],
    out: str | os.PathLike,
    detector=None,
    localized: bool = False,
    title: str = "fakescope scan report",
    thumb_side: int = THUMB_SIDE,
) -> Path:
    """Write the HTML report of a scan's rows (as :func:`fakescope.scanning.scan` writes them).

    Args:
        rows: the scan's rows, in the order to show them.
        out: the ``.html`` file to write (replaced whole: a report is never left half written).
        detector: the detector that scored them (its name and unsure band), if known.
        localized: the rows have ``overlay`` and ``flagged_share`` (``scan --heatmaps``).
        thumb_side: longest side of the thumbnails, in pixels.

    Returns:
        The path written.
    """
    import jinja2

    rows = list(rows)
    out = Path(out)
    band = unsure_band(detector) if detector is not None else None
    counts = Counter(verdict_of(r) for r in rows)
    claims = Counter(r["provenance"]["claim"] for r in rows if (r.get("provenance") or {}).get("claim"))
    c2pa = Counter((r.get("provenance") or {}).get("c2pa", {}).get("validation_state") for r in rows
                   if ((r.get("provenance") or {}).get("c2pa") or {}).get("present"))  # fmt: skip
    not_checked = sum(1 for r in rows if (r.get("provenance") or {}).get("c2pa", {}).get("checked") is False)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(_TEMPLATES), autoescape=True, trim_blocks=True,
                             lstrip_blocks=True, undefined=jinja2.StrictUndefined)  # fmt: skip
    page = env.get_template("report.html.j2").stream(
        title=title,
        created=time.strftime("%Y-%m-%d %H:%M %Z"),
        detector=getattr(detector, "name", None) or next((r.get("detector") for r in rows if r.get("detector")), None),
        total=len(rows),
        counts={k: counts[k] for k in (*VERDICTS, "error")},
        claims=dict(claims.most_common()),
        c2pa=dict(c2pa.most_common()),
        c2pa_not_checked=not_checked,
        hist=histogram(rows, band),
        folders=folder_counts(rows),
        localized=localized,
        entries=_entries(rows, localized, thumb_side),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            page.dump(fh)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return out
