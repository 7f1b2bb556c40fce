"""`fakescope spectrum` and `fakescope prompts`: analyses written as plots, an HTML page and a section of
docs/ANALYSIS.md."""

from __future__ import annotations

import shlex
from pathlib import Path

import typer

from .common import fail, log, one_line_errors


def _command(name: str, args: list[str], options: list[tuple[str, object, object]]) -> str:
    """The command line that reproduces a run: arguments, then each option that differs from its default."""
    parts = ["fakescope", name, *args]
    for flag, value, default in options:
        values = value if isinstance(value, list) else [value]
        if value == default or value is None:
            continue
        for v in values:
            parts += [flag] if v is True else [flag, str(v)]
    return " ".join(shlex.quote(p) for p in parts)


def _manifest(path: Path, sample: int):
    from ..data.manifest import Manifest

    m = Manifest.read(path)
    return m.sample(sample, seed=0) if sample else m


def _progress(every: int):
    def report(done: int, total: int) -> None:
        if done % every == 0 or done == total:
            log(f"  {done}/{total} images")

    return report


def spectrum_command(
    manifest: Path = typer.Argument(..., help="Manifest (.csv, .tsv or .jsonl) of the images."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the PNG plots, spectrum.html and spectrum.json."),
    view: list[str] = typer.Option(["matched256q90"], help="View of each image, repeatable: matched<size>q<quality> "
                                   "(the benchmark's matched processing) or native<size> (centre crop, not "
                                   "resampled)."),  # fmt: skip
    doc: Path = typer.Option(None, help="Also rewrite the '## Spectral analysis' section of this Markdown file "
                             "(e.g. docs/ANALYSIS.md); its other sections are kept."),  # fmt: skip
    min_images: int = typer.Option(5, min=1, help="Groups with fewer images get no row, plot or distance."),
    sample: int = typer.Option(0, min=0, help="Analyse a reproducible sample of about this many images, each "
                               "label keeping its share (0: all)."),  # fmt: skip
):
    """Mean DCT and Fourier spectra per class, generator and real source; azimuthal averages, periodic peaks
    (up-sampling grids) and distances between generators (Frank et al. 2020, Durall et al. 2020)."""
    from ..analysis import spectrum, spectrum_report
    from ..analysis.plotting import PlotsUnavailable, require

    try:
        require()
    except PlotsUnavailable as exc:
        raise fail(str(exc)) from None
    command = _command("spectrum", [str(manifest)], [("--out", str(out), None), ("--view", view, ["matched256q90"]),
                       ("--doc", str(doc) if doc else None, None), ("--min-images", min_images, 5),
                       ("--sample", sample, 0)])  # fmt: skip
    with one_line_errors(ValueError, about=manifest):
        m = _manifest(manifest, sample)
        results = []
        for v in view:
            log(f"{v}: {len(m)} images")
            results.append(spectrum.analyse(m, v, min_images=min_images, progress=_progress(250)))
        written = spectrum_report.write_report(results, out, command=command, doc=doc, manifest_name=str(manifest))
    log(f"wrote {written['page']} ({len(written['plots'])} plots)" + (f" and {written['doc']}" if doc else ""))


def prompts_command(
    manifest: Path = typer.Argument(..., help="Manifest whose generated images have prompts (column 'prompt')."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the plots, prompts.html and prompts.json."),
    benchmarks: Path = typer.Option(Path("docs/BENCHMARKS.json"), help="Benchmark results whose stored held-out "
                                    "predictions score the images."),  # fmt: skip
    protocol: str = typer.Option("loso-matched", help="Protocol of the benchmark run to read."),
    detector: str = typer.Option("ensemble", help="Detector of the benchmark run to read (ensemble: the shipped "
                                 "default)."),  # fmt: skip
    set_: list[str] = typer.Option(None, "--set", help="KEY=VALUE the run's settings must have, when several runs "
                                   "match (e.g. calibration=loso)."),  # fmt: skip
    scores: Path = typer.Option(None, help="Instead of --benchmarks: p_fake from the rows of `fakescope scan --out` "
                                "(.jsonl or .csv). Not held out for images the detector trained on."),  # fmt: skip
    threshold: float = typer.Option(None, help="A fake is missed when p_fake is under this (default: the "
                                    "benchmark run's threshold; 0.5 for --scores)."),  # fmt: skip
    source: list[str] = typer.Option(None, help="Source to analyse on its own as well, repeatable (default: the "
                                     "source with the most prompted fakes)."),  # fmt: skip
    cluster: str = typer.Option("hdbscan", help="Clustering of prompt embeddings: hdbscan, dbscan or none."),
    min_cluster_size: int = typer.Option(3, min=2, help="Smallest cluster, in distinct prompts (DBSCAN: "
                                         "min_samples)."),  # fmt: skip
    eps: float = typer.Option(0.8, help="DBSCAN's radius on unit MiniLM embeddings (Euclidean)."),
    doc: Path = typer.Option(None, help="Also rewrite the '## Prompt analysis' section of this Markdown file "
                             "(e.g. docs/ANALYSIS.md); its other sections are kept."),  # fmt: skip
    sample: int = typer.Option(0, min=0, help="Analyse a reproducible sample of about this many images (0: all)."),
):
    """Which prompts make generated images hard to catch (DE-FAKE): miss rate by prompt length, topic, noun
    proportion and cluster of prompt embeddings, with Wilson and prompt-bootstrap intervals."""
    from ..analysis import prompts, prompts_report
    from ..analysis.plotting import PlotsUnavailable, require

    if cluster not in ("hdbscan", "dbscan", "none"):
        raise fail(f"--cluster must be hdbscan, dbscan or none, not {cluster!r}")
    try:
        require()
    except PlotsUnavailable as exc:
        raise fail(str(exc)) from None
    settings = {}
    for item in set_ or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise fail(f"--set expects KEY=VALUE, got {item!r}")
        settings[key.strip()] = value.strip()
    command = _command("prompts", [str(manifest)], [
        ("--out", str(out), None), ("--benchmarks", str(benchmarks), "docs/BENCHMARKS.json"),
        ("--protocol", protocol, "loso-matched"), ("--detector", detector, "ensemble"), ("--set", list(set_ or []), []),
        ("--scores", str(scores) if scores else None, None), ("--threshold", threshold, None),
        ("--source", list(source or []), []), ("--cluster", cluster, "hdbscan"),
        ("--min-cluster-size", min_cluster_size, 3), ("--eps", eps, 0.8),
        ("--doc", str(doc) if doc else None, None), ("--sample", sample, 0)])  # fmt: skip
    with one_line_errors(ValueError, about=manifest):
        m = _manifest(manifest, sample)
        if scores is not None:
            sc = prompts.scan_scores(scores, 0.5 if threshold is None else threshold)
        else:
            sc = prompts.benchmark_scores(benchmarks, protocol, detector, settings)
            if threshold is not None:
                sc.threshold = threshold
        log(f"scores: {sc.description}")
        result = prompts.analyse(m, sc, strata=list(source) if source else None, cluster=cluster,
                                 min_cluster_size=min_cluster_size, eps=eps)  # fmt: skip
        if not result.items:
            raise fail(f"{manifest}: no generated image with a prompt has a score ({dict(result.skipped)})")
        written = prompts_report.write_report(result, out, command=command, doc=doc, manifest_name=str(manifest))
    log(f"{len(result.items)} images; wrote {written['page']}" + (f" and {written['doc']}" if doc else ""))
