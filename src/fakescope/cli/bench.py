"""`fakescope benchmark`: regenerate docs/BENCHMARKS.md."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import err, log


def benchmark_command(
    manifest: Path = typer.Option(Path("../shared/data/manifest.csv"), "--manifest", "-m", help="Benchmark data."),
    detectors: str = typer.Option("all", help="'all' or a comma-separated list of registered detectors."),
    out: Path = typer.Option(Path("docs/BENCHMARKS.md"), "--out", "-o", help="Markdown file to write."),
    quick: bool = typer.Option(False, help="A reduced run (a sample of the data, fewer folds) for smoke tests."),
    throughput_images: int = typer.Option(1000, help="Images for the scan throughput and memory measurement "
                                          "(0 skips it)."),  # fmt: skip
    throughput_only: bool = typer.Option(False, help="Only re-measure scan throughput of the shipped default "
                                         "and re-render from the existing results (.json beside --out)."),  # fmt: skip
    render_only: bool = typer.Option(False, help="Only rewrite the Markdown from the saved results (.json)."),
):
    """Train and evaluate every detector under the same protocols and write the tables."""
    from ..evaluate.benchmark import refresh_throughput, rerender, run_benchmark

    if render_only:
        rerender(out)
        err.print(f"wrote {out}", highlight=False)
        return

    if throughput_only:
        refresh_throughput(manifest, out, throughput_images, log=log)
        err.print(f"wrote {out}", highlight=False)
        return
    run_benchmark(manifest, detectors, out, quick=quick, throughput_images=throughput_images,
                  log=log)  # fmt: skip
    err.print(f"wrote {out}", highlight=False)
