"""`fakescope benchmark`: regenerate docs/BENCHMARKS.md."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import err, fail, log, model_settings


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
    protocols: str = typer.Option("", help="Comma-separated protocols: loso-matched, loso, logo, logo-matched "
                                  "(the default: those that apply to each detector), loso-matched-modern (the "
                                  "test restricted to generators of 2023 on and real images), aligned-only, "
                                  "aligned-only-matched (trained on real images and their autoencoder "
                                  "counterparts only), loso-matched-aligned (LOSO-matched with aligned pairs of "
                                  "every real image added to the training data), loso-aligned (the same, files as they are)."),  # fmt: skip
    part: Path = typer.Option(None, help="Write only these detectors' runs to this JSON file (e.g. the "
                              "networks trained on a GPU machine), for --merge."),  # fmt: skip
    localization: bool = typer.Option(False, help="Run the localization benchmark (every localizer under setups "
                                      "A, B, C) and add its table to the page."),  # fmt: skip
    localizers: str = typer.Option("", help="With --localization: only these rows (comma-separated: a learned "
                                   "localizer's A/B/C rows by name, its aligned-local row as NAME+aligned, its "
                                   "realistic-edits row as NAME+realistic, a classical localizer, fusion-map, "
                                   "fusion-map+realistic); rows already on the page are kept unless a localizer "
                                   "they come from has a newer revision (marked stale on the page)."),  # fmt: skip
    keep_localizers: Path = typer.Option(None, help="With --localization: save every localizer trained for a new "
                                         "row in this folder (DIR/NAME-SETUP for the A/B/C rows, else DIR/NAME "
                                         "as --localizers names the row), its card carrying the row's numbers; "
                                         "the shipped default localizer is one of them."),  # fmt: skip
    merge: list[Path] = typer.Option(None, help="Merge runs written with --part into the results beside "
                                     "--out, choose the default again and re-render."),  # fmt: skip
    recipes: str = typer.Option("", help="Comma-separated training recipes to run (paired, all; default: each "
                                "protocol's own)."),  # fmt: skip
    set_: list[str] = typer.Option(None, "--set", help="KEY=VALUE setting for every detector run (e.g. "
                                   "calibration=loso, members=a:paired+b:paired for the ensemble); such runs "
                                   "are shown with their settings and do not compete for the default."),  # fmt: skip
    autoencoder_weights: Path = typer.Option(Path("../shared/weights/taef2"), help="Folder of the TAEF2 weights, "
                                             "for the aligned protocols."),  # fmt: skip
    autoencoders: str = typer.Option("", help="Comma-separated autoencoders whose counterparts the aligned "
                                     "protocols train on (default: aligned-only taef2, ae-transposed, ae-nearest, "
                                     "ae-pixelshuffle, ae-bilinear; loso-matched-aligned taef2, ae-nearest; our "
                                     "own are the full-size ones shipped with fakescope)."),  # fmt: skip
    max_folds: int = typer.Option(None, help="Merge the groups of the leave-source-out and leave-generators-out "
                                  "protocols into at most this many folds (fewer models to train; the rows "
                                  "say how many folds)."),  # fmt: skip
    audits: bool = typer.Option(True, help="With --part: also run the shortcut audits of the named protocols "
                                "(--no-audits keeps the page's own when merging)."),  # fmt: skip
):
    """Train and evaluate every detector under the same protocols and write the tables."""
    from ..evaluation.benchmark import PROTOCOLS, merge_parts, refresh_throughput, rerender, run_benchmark

    if localization:
        from ..evaluation.benchmark import localization_benchmark

        names = [n.strip() for n in localizers.split(",") if n.strip()]
        localization_benchmark(manifest, out, quick=quick, localizers=names or None, log=log, keep=keep_localizers)
        err.print(f"wrote {out}", highlight=False)
        return
    if merge:
        merge_parts(out, list(merge), log=log)
        err.print(f"wrote {out}", highlight=False)
        return

    if render_only:
        rerender(out)
        err.print(f"wrote {out}", highlight=False)
        return

    if throughput_only:
        refresh_throughput(manifest, out, throughput_images, log=log)
        err.print(f"wrote {out}", highlight=False)
        return
    chosen = [p.strip() for p in protocols.split(",") if p.strip()]
    unknown = sorted(set(chosen) - set(PROTOCOLS))
    if unknown:
        raise fail(f"unknown protocol(s) {', '.join(unknown)}; known: {', '.join(PROTOCOLS)}")
    given = {}
    if set_:
        from ..registry import create, list_detectors

        names = list_detectors() if detectors == "all" else [d.strip() for d in detectors.split(",")]
        try:
            given = {name: model_settings(create(name).settings(), list(set_)) for name in names}
        except (ValueError, KeyError) as exc:
            raise fail(str(exc)) from None
    try:
        run_benchmark(manifest, detectors, out, quick=quick, throughput_images=throughput_images,
                      protocols=chosen or None, part=part, settings=given, autoencoder_weights=autoencoder_weights,
                      only_recipes=[r.strip() for r in recipes.split(",") if r.strip()] or None,
                      autoencoders=[a.strip() for a in autoencoders.split(",") if a.strip()] or None,
                      max_folds=max_folds, audits_wanted=audits, log=log)  # fmt: skip
    except FileNotFoundError as exc:
        raise fail(str(exc)) from None
    if part:
        err.print(f"wrote {part}", highlight=False)
        return
    err.print(f"wrote {out}", highlight=False)
