"""`fakescope robustness`: the benchmark's protocols with their test images perturbed."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .common import err, fail, log


def robustness_command(
    manifest: Path = typer.Option(Path("../shared/data/manifest.csv"), "--manifest", "-m", help="Benchmark data."),
    detectors: str = typer.Option("default,univfd,univfd-nn,fusion,dct-linear", help="Comma-separated registered "
                                  "detectors; 'default' is the shipped default's training recipe (from its card)."),  # fmt: skip
    protocol: str = typer.Option("loso-matched-aligned", help="A benchmark protocol with held-out folds (see "
                                 "`fakescope benchmark --help`)."),  # fmt: skip
    perturbations: str = typer.Option("", help="Comma-separated perturbations (default: the whole suite): "
                                      "jpeg<q>, webp<q>, avif<q>, resize<factor>, crop<fraction>, blur<sigma>, "
                                      "noise<sigma>, gamma<g>, screenshot, social<side>q<q>[x<times>]."),  # fmt: skip
    per_source: int = typer.Option(None, min=0, show_default=False, help="Score at most this many test images per "
                                   "source and label (seeded; 0: all; default 30). Training data is never sampled. "
                                   "Another sample size gets its own table."),  # fmt: skip
    seed: int = typer.Option(0, help="Seed of the test sample."),
    max_folds: int = typer.Option(None, min=2, help="Merge the held-out groups into at most this many folds (each "
                                  "model trains on less data; such runs get their own table)."),  # fmt: skip
    out: Path = typer.Option(Path("docs/BENCHMARKS.md"), "--out", "-o", help="Page whose robustness section is "
                             "written (the results go to ROBUSTNESS.json beside it; runs of other detectors "
                             "and protocols already there are kept)."),  # fmt: skip
    render_only: bool = typer.Option(False, help="Only rewrite the section from ROBUSTNESS.json."),
    card: Path = typer.Option(None, help="Also record the 'default' run's numbers in this trained detector's "
                              "card (e.g. src/fakescope/trained/default)."),  # fmt: skip
    autoencoder_weights: Path = typer.Option(Path("../shared/weights/taef2"), help="Folder of the TAEF2 weights, "
                                             "for protocols with aligned pairs."),  # fmt: skip
):
    """AUC, recall, ECE and verdict-set coverage of each detector with its held-out images JPEG- and
    WebP-compressed, resized, cropped, blurred, noised, screenshotted or passed through social-media chains."""
    from ..data.perturb import DEFAULT_SUITE, perturbation
    from ..evaluation import robustness as rb

    results_path = out.with_name("ROBUSTNESS.json")
    old = json.loads(results_path.read_text()) if results_path.is_file() else None
    if render_only:
        if not old:
            raise fail(f"{results_path}: no results to render")
        rb.write_section(old, out)
    else:
        from ..data.manifest import Manifest

        names = tuple(p.strip() for p in perturbations.split(",") if p.strip()) or DEFAULT_SUITE
        try:
            for n in names:
                perturbation(n)
        except ValueError as exc:
            raise fail(str(exc)) from None
        from ..evaluation.benchmark.plan import device_name

        cuda = device_name().startswith("cuda")
        try:
            specs = [rb.detector_spec(d.strip(), protocol, cuda) for d in detectors.split(",") if d.strip()]
            per_group = rb.DEFAULT_PER_GROUP if per_source is None else per_source or None
            new = rb.run_robustness(Manifest.read(manifest), specs, protocol, names, per_group, seed,
                                    autoencoder_weights if autoencoder_weights.is_dir() else None, log,
                                    max_folds)  # fmt: skip
        except (ValueError, KeyError) as exc:
            raise fail(str(exc.args[0] if exc.args else exc)) from None
        old = _merge_into(results_path, new, out, rb)
    if card is not None:
        path = card / "card.json"
        meta = json.loads(path.read_text())
        summary = rb.card_summary(old)
        if not summary:
            raise fail(f"{results_path}: no run labelled 'default' to record in {path}")
        meta["card"].setdefault("metrics", {})["robustness"] = summary
        path.write_text(json.dumps(meta, indent=2))
        err.print(f"recorded the robustness of 'default' in {path}", highlight=False)
    err.print(f"wrote {out} and {results_path}", highlight=False)


def _merge_into(results_path: Path, new: dict, page: Path, rb) -> dict:
    """Merge ``new`` into the results file and rewrite the page's section, holding a lock: runs in parallel
    (one per detector) each read the file as it is when they finish, never half-written, and keep each
    other's rows."""
    import hashlib
    import os
    import tempfile
    from contextlib import nullcontext

    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, the write is still atomic
        fcntl = None
    digest = hashlib.sha256(str(results_path.resolve()).encode()).hexdigest()[:16]
    lock = Path(tempfile.gettempdir()) / f"fakescope-robustness-{digest}.lock"
    with open(lock, "w") if fcntl else nullcontext() as fh:
        if fcntl:
            fcntl.flock(fh, fcntl.LOCK_EX)
        old = json.loads(results_path.read_text()) if results_path.is_file() else None
        merged = rb.merge_results(old, new)
        tmp = results_path.with_name(f".{results_path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(merged, indent=1, default=str))
        os.replace(tmp, results_path)
        rb.write_section(merged, page)
    return merged
