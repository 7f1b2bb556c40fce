"""`fakescope train` and `fakescope evaluate`."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import err, fail, log, model_settings, one_line_errors, parse_settings


def _manifest(path: Path, allow_outside: bool | None = None):
    """Read a manifest; with ``allow_outside`` given, also check it can be trained or evaluated on."""
    from ..data.manifest import Manifest

    with one_line_errors():
        m = Manifest.read(path)
        return m if allow_outside is None else m.check_usable(path, allow_outside)


ALLOW_OUTSIDE = typer.Option(False, "--allow-outside", help="Accept manifest paths outside its folder "
                             "(absolute, or through ..).")  # fmt: skip


def _matched(text: str | None):
    from ..data.perturb import Matched

    if not text:
        return None
    try:
        return Matched.parse(text)
    except ValueError:
        raise fail(f"--matched expects SIZE:QUALITY such as 256:90, got {text!r}") from None


def train_command(
    detector: str = typer.Argument(..., help="Detector family (see `fakescope list`)."),
    manifest: Path = typer.Option(..., "--manifest", "-m", help="Training manifest (.csv or .jsonl)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write the trained detector (card.json, weights.npz)."),
    matched: str = typer.Option(None, help="Train on matched-processed pixels, SIZE:QUALITY (e.g. 256:90)."),
    settings: list[str] = typer.Option([], "--set", help="Config override key=value (repeatable), e.g. n_aug=3, "
                                       "sources=all, C=0.01,0.1 (a list is a grid chosen on held-out folds)."),  # fmt: skip
    evidence: Path = typer.Option(None, help="A BENCHMARKS.json whose results for this detector and recipe go "
                                  "into the card's metrics."),  # fmt: skip
    aligned_pairs: bool = typer.Option(False, help="Also train on aligned pairs: a 256 px crop of every real image "
                                       "of the manifest large enough and its counterparts through TAEF2 and our own "
                                       "ae-nearest (made once and cached, as the benchmark's "
                                       "loso-matched-aligned protocol makes them)."),  # fmt: skip
    autoencoder_weights: Path = typer.Option(Path("../shared/weights/taef2"), help="With --aligned-pairs: the "
                                             "folder of the TAEF2 weights."),  # fmt: skip
    allow_outside: bool = ALLOW_OUTSIDE,
):
    """Train a detector or a localizer on a manifest and save it with its card."""
    from ..registry import create, list_localizers

    try:
        settings_given = model_settings(create(detector).settings(), settings)
        model = create(detector, **settings_given)
    except (KeyError, TypeError, ValueError) as exc:
        raise fail(str(exc).strip('"')) from None
    if detector in list_localizers():
        loc = model
        try:
            loc.fit(_manifest(manifest), log=log)
        except ValueError as exc:
            raise fail(str(exc)) from None
        loc.save(out)
        setup = f" (setup {loc.config.setup})" if hasattr(loc.config, "setup") else ""
        done = loc.trained_on_  # learned maps count images; classical ones their calibration; the fusion its own
        n = done.get("images") or done.get("calibration_images") or done.get("fusion_images")
        err.print(f"saved localizer {loc.name}{setup} to {out}" + (f"; trained on {n} images" if n else ""),
                  highlight=False)  # fmt: skip
        return
    det = model
    m = _manifest(manifest, allow_outside)
    mt = _matched(matched)
    if aligned_pairs:
        m = _with_pairs(m, autoencoder_weights)
    with one_line_errors(ValueError, about=manifest):  # e.g. no source holds both classes
        det.fit(m, matched=mt.tag if mt else None, log=log)
    if evidence:
        from ..evaluation.benchmark import card_evidence

        try:
            given = {k: v for k, v in settings_given.items() if k in ("members", "calibration")}
            det.metrics_ = card_evidence(evidence, det.name, det.train_config.sources, getattr(det, "members", None),
                                         given or None, pairs=aligned_pairs)  # fmt: skip
        except ValueError as exc:
            raise fail(str(exc)) from None
    det.save(out)
    err.print(f"saved {det.name} to {out}; trained on {det.trained_on_['images']} images", highlight=False)


def _with_pairs(m, taef2: Path):
    """``m`` and the aligned pairs of its real images (the benchmark's pool, made or reused)."""
    from .. import weights
    from ..data.manifest import Manifest
    from ..evaluation.aligned_only import PAIRS_AUTOENCODERS, AlignedSetup, build_training_set

    setup = AlignedSetup(n_reals=None, autoencoders=PAIRS_AUTOENCODERS)
    try:
        pairs, _ = build_training_set(m, weights.home() / "benchmark-synth", setup, taef2, log)
    except (FileNotFoundError, ValueError, ImportError) as exc:
        raise fail(f"--aligned-pairs: {exc}") from None
    err.print(f"training adds {len(pairs)} aligned-pair images ({sum(s.is_fake for s in pairs)} counterparts)",
              highlight=False)  # fmt: skip
    return Manifest([*m, *pairs], name=f"{m.name}+pairs")


def evaluate_command(
    detector: str = typer.Argument(..., help="A detector family (cross-validated: one model per fold) or a "
                                   "trained detector (shipped name or folder; scored on --manifest as is)."),  # fmt: skip
    manifest: Path = typer.Option(..., "--manifest", "-m", help="Evaluation manifest."),
    by: str = typer.Option("source", help="Cross-validation groups: source, generator or family."),
    max_folds: int = typer.Option(None, help="Merge groups into at most this many folds."),
    matched: str = typer.Option(None, help="Matched processing SIZE:QUALITY applied to every image (e.g. 256:90)."),
    report: Path = typer.Option(Path("fakescope-report"), help="Folder for report.json and report.md."),
    settings: list[str] = typer.Option([], "--set", help="Config override key=value for cross-validated training."),
    allow_outside: bool = ALLOW_OUTSIDE,
):
    """Evaluate with group-held-out protocols, the shortcut audit beside every result."""
    from ..evaluation.protocols import GROUPINGS, evaluate
    from ..models import load_detector
    from ..registry import list_detectors

    if by not in GROUPINGS:
        raise fail(f"--by must be source, generator or family, not {by!r}")
    m = _manifest(manifest, allow_outside)
    mt = _matched(matched)
    try:
        config = parse_settings(settings)
    except ValueError as exc:
        raise fail(str(exc)) from None
    model = detector
    if detector not in list_detectors():
        try:
            model = load_detector(detector)
        except (KeyError, FileNotFoundError, ValueError) as exc:
            raise fail(str(exc).strip('"')) from None
        if set(config) - {"sources"}:
            raise fail(f"--set {', '.join(sorted(set(config) - {'sources'}))}: settings for cross-validated training "
                       f"of a detector family; {detector} is a trained model, scored as is")  # fmt: skip
    with one_line_errors(ValueError, about=manifest):  # e.g. too few readable images in a fold
        result = evaluate(model, m, by=by, matched=mt, max_folds=max_folds, log=log, **config)
    paths = result.write(report)
    typer.echo(result.headline())
    err.print("report: " + ", ".join(map(str, paths)), highlight=False)
