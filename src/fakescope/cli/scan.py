"""`fakescope scan`: verdicts for files, folders, globs and manifests."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from .common import err, fail, is_tty, log, one_line_errors


def scan_command(
    inputs: list[str] = typer.Argument(..., help="Image files, folders (recursive), glob patterns or manifests."),
    out: Path = typer.Option(None, "--out", "-o", help="Write rows here (.jsonl, .csv, or a .parquet folder; else "
                             "give --format); a rerun resumes."),  # fmt: skip
    fmt: str = typer.Option(None, "--format", "-f", help="jsonl, csv, parquet (a folder of row-group files) or "
                            "table (default: from --out, else table on a terminal and jsonl in a pipe)."),  # fmt: skip
    detector: str = typer.Option("default", "--detector", "-d", help="Shipped name or trained-detector folder."),
    unsure: str = typer.Option(None, help="Verdicts from this unsure band instead of the detector's verdict sets, "
                               "e.g. '0.2,0.8' (calibrated p_fake)."),  # fmt: skip
    error: float = typer.Option(None, help="Error level of the verdict sets, e.g. 0.05: each class is covered with "
                                "probability at least 1 - error on unseen sources (smaller: more unsure). Default: the "
                                "level on the detector's card."),  # fmt: skip
    batch_size: int = typer.Option(None, min=1, help="Images per model call (default 16; 256 with --device cuda)."),
    engine: str = typer.Option("local", help="local (this process) or ray (a Ray cluster, Ray Data: decoding in "
                               "tasks, scoring in an actor pool; pip install 'fakescope[ray]')."),  # fmt: skip
    address: str = typer.Option(None, help="With --engine ray: the cluster to join ('auto', or host:port of "
                                "`ray start --head`); default: RAY_ADDRESS, else a Ray started on this "
                                "machine."),  # fmt: skip
    device: str = typer.Option(None, help="cuda (or cuda:N) runs the GPU path: JPEGs decoded on the GPU, CLIP "
                               "in float16, the detector's heads unchanged; default: the CPU path (INT8 "
                               "CLIP)."),  # fmt: skip
    progress: bool = typer.Option(None, "--progress/--no-progress", help="Progress bar (default: on a terminal)."),
    heatmaps: Path = typer.Option(None, help="Also localize: write each image's manipulation map (PNG, 255 = "
                                  "certain) and an overlay here; rows gain heatmap, overlay, flagged_share, "
                                  "explanation."),  # fmt: skip
    localizer: str = typer.Option("default", help="Localizer for --heatmaps: shipped name or trained folder."),
    attributor: str = typer.Option(None, "--attributor", "-a", help="Also attribute: shipped name ('default') or "
                                   "trained-attributor folder; rows gain family, generator (or 'unknown') and "
                                   "attribution_p."),  # fmt: skip
    report: Path = typer.Option(None, help="Also write one self-contained HTML report here: counts, a histogram of "
                                "p_fake, per-folder counts and a sortable table with thumbnails, provenance and "
                                "(with --heatmaps) overlays."),  # fmt: skip
):
    """Scan images and give each a calibrated p_fake and a verdict: real, fake or unsure."""
    from ..models import load_detector
    from ..scanning import printable, scan

    if fmt and fmt not in ("jsonl", "csv", "parquet", "table"):
        raise fail(f"--format must be jsonl, csv, parquet or table, not {fmt!r}")
    if engine not in ("local", "ray"):
        raise fail(f"--engine must be local or ray, not {engine!r}")
    if address is not None and engine != "ray":
        raise fail("--address names a Ray cluster: use it with --engine ray")
    if device is not None and device != "cpu" and not device.startswith("cuda"):
        raise fail(f"--device must be cpu or cuda (cuda:N), not {device!r}")
    device = None if device == "cpu" else device
    if (engine == "ray" or device) and heatmaps is not None:
        raise fail("--heatmaps runs on the local CPU path only; drop --engine ray / --device")
    batch_size = batch_size or (256 if device else 16)
    if out is not None and fmt == "table":
        raise fail("--format table prints to the terminal; use jsonl or csv with --out")
    if unsure and error is not None:
        raise fail("--error sets the verdict sets' level and --unsure replaces them by a band: give one")
    try:
        det = load_detector(detector)
    except (KeyError, FileNotFoundError, ValueError) as exc:
        raise fail(str(exc).strip('"')) from None
    if unsure:
        try:
            lo, hi = (float(x) for x in unsure.split(","))
            assert 0 <= lo <= hi <= 1
        except (ValueError, AssertionError):
            raise fail(f"--unsure expects 'low,high' with 0 <= low <= high <= 1, got {unsure!r}") from None
        det.train_config.unsure_band = (lo, hi)
        for attr in ("conformal_", "conformal_scores_"):  # the band decides, as asked
            if hasattr(det, attr):
                delattr(det, attr)
    if error is not None:
        if not 0 < error < 1:
            raise fail(f"--error must be between 0 and 1, got {error}")
        try:
            det.set_error(error)
        except (ValueError, AttributeError) as exc:
            raise fail(str(exc) if isinstance(exc, ValueError) else f"detector {detector!r} has no verdict sets") from None
    loc = None
    if heatmaps is not None:
        from ..models import load_localizer

        try:
            loc = load_localizer(localizer)
        except (KeyError, FileNotFoundError, ValueError, ImportError) as exc:
            raise fail(str(exc).strip('"')) from None
    att = None
    if attributor is not None:
        from ..models import load_attributor

        try:
            att = load_attributor(attributor)
        except (KeyError, FileNotFoundError, ValueError) as exc:
            raise fail(str(exc).strip('"')) from None
    if fmt is None and out is None:
        fmt = "table" if sys.stdout.isatty() else "jsonl"
    show_progress = is_tty() if progress is None else progress

    seen: list[dict] | None = None
    if report is not None:
        from ..scan_report import check_report_path

        with one_line_errors():
            check_report_path(report, out)
        seen = [] if out is None else None

    def on_rows(rows: list[dict]) -> None:
        if seen is not None:
            seen.extend(rows)
        if fmt == "table":
            _print_table(rows)

    engine_kw = {}
    if engine == "ray":
        from ..engines import ray_data

        with one_line_errors(ConnectionError, about=f"Ray cluster {address or 'RAY_ADDRESS / local'}"):
            ray_data.connect(address)
        engine_kw = {"rows_iter": ray_data.ray_rows(det, batch_size=batch_size, device=device),
                     "finder": ray_data.find_inputs_any}  # fmt: skip
    elif device:
        engine_kw = {"device": device}
    with _Progress(show_progress) as bar, one_line_errors():
        summary = scan(det, inputs, out=out, fmt=None if fmt == "table" else fmt, batch_size=batch_size,
                       progress=bar.update, on_rows=on_rows if fmt == "table" or seen is not None else None,
                       localizer=loc, heatmaps=heatmaps, attributor=att, **engine_kw)  # fmt: skip
    if report is not None:
        from ..scan_report import write_scan_report
        from ..scanning import read_rows

        # With --out, every input's row in it (a resumed run's earlier rows too); else this run's rows.
        rows = seen if out is None else read_rows(out, fmt, inputs)
        write_scan_report(rows, report, detector=det, localized=loc is not None)
    v = summary.verdicts
    err.print(
        f"{summary.scanned} scanned ({v['fake']} fake, {v['real']} real, {v['unsure']} unsure), "
        f"{summary.errors} unreadable, {summary.skipped_done} already done"
        f" in {summary.seconds:.1f}s ({summary.rate:.1f} images/s) with {det.name}",
        highlight=False,
    )
    for line in summary.error_examples:
        log(f"  unreadable: {printable(line)}")
    if out is not None:
        log(f"results: {printable(str(out))}")
    if heatmaps is not None:
        log(f"maps and overlays: {printable(str(heatmaps))}")
    if report is not None:
        log(f"report: {printable(str(report))}")
    if summary.scanned == 0 and summary.errors > 0:
        raise typer.Exit(1)


def _print_table(rows: list[dict]) -> None:
    from ..scanning import printable

    # Plain print: the live progress bar redirects sys.stdout and keeps these lines above itself.
    # printable(): one line per image even when a name holds a newline.
    for r in rows:
        if r["error"]:
            print(f"{'ERROR':7} {'':>6}  {printable(r['path'])}  ({printable(r['error'])})", flush=True)
        else:
            flagged = f"  flagged {r['flagged_share']:.1%}" if "flagged_share" in r else ""
            source = f"  [{r['family']}: {r['generator']} {r['attribution_p']:.2f}]" if r.get("family") else ""
            print(f"{r['verdict']:7} {r['p_fake']:6.3f}  {printable(r['path'])}{flagged}{source}", flush=True)


class _Progress:
    """A rich progress bar on stderr, or nothing."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar = None

    def __enter__(self):
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            self.bar = Progress("scanning", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err)
            self.bar.__enter__()
            self.task = self.bar.add_task("scan", total=None)
        return self

    def update(self, done: int, total: int) -> None:
        if self.bar:
            self.bar.update(self.task, completed=done, total=total)

    def __exit__(self, *exc):
        if self.bar:
            self.bar.__exit__(*exc)


def localize_command(
    inputs: list[str] = typer.Argument(..., help="Image files, folders (recursive), glob patterns or manifests."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the maps, overlays and localize.jsonl; a rerun "
                             "resumes."),
    localizer: str = typer.Option("default", "--localizer", "-l", help="Shipped name or trained-localizer folder."),
):
    """Run a localizer: where was each image manipulated? Writes a map, an overlay and a JSONL row per image."""
    import json

    from ..io import ImageLoadError, open_image
    from ..models import load_localizer
    from ..scanning import find_inputs, localization_fields, open_output, output_row, printable, resume_key

    try:
        loc = load_localizer(localizer)
    except (KeyError, FileNotFoundError, ValueError, ImportError) as exc:
        raise fail(str(exc).strip('"')) from None
    with one_line_errors():
        found = find_inputs(inputs)
    if not found.paths:
        raise fail("no images found in the given inputs")
    if out.exists() and not out.is_dir():
        raise fail(f"{out}: is a file; --out takes the folder for the maps, overlays and localize.jsonl")
    ok = bad = 0
    with one_line_errors():  # a rerun resumes, after dropping a row a killed run cut
        fh, _, done = open_output(out / "localize.jsonl", "jsonl", [])
    with fh:
        for path in found.paths:
            if resume_key(path) in done:
                continue
            try:
                if path in found.refused:
                    raise ImageLoadError(path, found.refused[path])
                img, _ = open_image(path)
            except ImageLoadError as exc:
                row = {"path": path, "error": exc.reason}
                bad += 1
            else:
                row = {"path": path, "error": None, **localization_fields(loc, img, path, out)}
                ok += 1
            fh.write(json.dumps(output_row(row), ensure_ascii=False) + "\n")
            fh.flush()
    setup = getattr(loc.config, "setup", None)  # learned localizers say how they were supervised
    how = f" (setup {setup})" if setup else " (training-free)" if getattr(loc, "training_free", False) else ""
    log(f"{ok} localized, {bad} unreadable, {len(found.paths) - ok - bad} already done, with {loc.name}{how}; "
        f"results: {printable(str(out / 'localize.jsonl'))}")  # fmt: skip
    if ok == 0 and bad:
        raise typer.Exit(1)
