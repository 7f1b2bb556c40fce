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
    allow_outside: bool = ALLOW_OUTSIDE,
):
    """Train a detector or a localizer on a manifest and save it with its card."""
    from ..registry import create, list_localizers

    try:
        model = create(detector, **model_settings(create(detector).settings(), settings))
    except (KeyError, TypeError, ValueError) as exc:
        raise fail(str(exc).strip('"')) from None
    if detector in list_localizers():
        loc = model
        try:
            loc.fit(_manifest(manifest), log=log)
        except ValueError as exc:
            raise fail(str(exc)) from None
        loc.save(out)
        err.print(f"saved localizer {loc.name} (setup {loc.config.setup}) to {out}; trained on "
                  f"{loc.trained_on_['images']} images", highlight=False)  # fmt: skip
        return
    det = model
    m = _manifest(manifest, allow_outside)
    mt = _matched(matched)
    with one_line_errors(ValueError, about=manifest):  # e.g. no source holds both classes
        det.fit(m, matched=mt.tag if mt else None, log=log)
    if evidence:
        det.metrics_ = _evidence(evidence, det.name, det.train_config.sources, getattr(det, "members", None))
    det.save(out)
    err.print(f"saved {det.name} to {out}; trained on {det.trained_on_['images']} images", highlight=False)


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
    from ..evaluate.protocols import cross_validate, holdout, shortcut_cv, summarize
    from ..evaluate.report import fmt as _f
    from ..evaluate.report import write_report
    from ..models import load_detector
    from ..registry import list_detectors

    if by not in ("source", "generator", "family"):
        raise fail(f"--by must be source, generator or family, not {by!r}")
    m = _manifest(manifest, allow_outside)
    mt = _matched(matched)
    try:
        config = parse_settings(settings)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if detector not in list_detectors():
        try:
            det = load_detector(detector)
        except (KeyError, FileNotFoundError, ValueError) as exc:
            raise fail(str(exc).strip('"')) from None
    with one_line_errors(ValueError, about=manifest):  # e.g. too few readable images in a fold
        if detector in list_detectors():
            pred = cross_validate(detector, m, by=by, matched=mt, max_folds=max_folds, log=log, **config)
        else:
            pred = holdout(det, m, matched=mt)
        summary = summarize(pred)
        shortcut = summarize(shortcut_cv(m, by=by, matched=mt, max_folds=max_folds,
                                         sources=config.get("sources", "paired")))  # fmt: skip
    paths = write_report(summary, report, shortcut)
    o, s = summary["overall"], shortcut["overall"]
    typer.echo(
        f"{summary['detector']} [{summary['protocol']}]: AUC {_f(o.get('auc'))}, AP {_f(o.get('ap'))}, "
        f"accuracy {_f(o.get('accuracy'))}, ECE {_f(o.get('ece'))}; shortcut audit AUC {_f(s.get('auc'))}"
    )
    err.print("report: " + ", ".join(map(str, paths)), highlight=False)


def _evidence(path: Path, detector: str, recipe: str, members=None) -> dict:
    """This detector's benchmark results (every protocol run with its recipe) for its card; for an ensemble,
    the fusion of its members."""
    import json

    res = json.loads(Path(path).read_text())
    if members:
        want = [[m.name, m.train_config.sources] for m in members]
        found = {
            f["summary"]["protocol"] + " (score fusion)": {"overall": f["summary"]["overall"],
                                                           "by_source": f["summary"]["by_source"]}
            for f in res.get("fusions", []) if sorted(f["members"]) == sorted(want)
        }  # fmt: skip
    else:
        found = {
            r["summary"]["protocol"]: {"overall": r["summary"]["overall"], "by_source": r["summary"]["by_source"]}
            for r in res["runs"]
            if r["detector"] == detector and r["recipe"] == recipe
        }
    if not found:
        raise fail(f"{path} has no results for {detector} with the {recipe!r} recipe")
    return {"source": f"{path} ({res['generated']})", "results": found}
