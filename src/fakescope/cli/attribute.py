"""`fakescope attribute`: which generator made an image. Train, evaluate and report an attributor; attribute images."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import typer

from .common import err, fail, log, model_settings, one_line_errors
from .train import ALLOW_OUTSIDE, _manifest

app = typer.Typer(help="Which generator made an image: train, evaluate and report an attributor, and attribute "
                  "images (family, then generator, or unknown).", no_args_is_help=True)  # fmt: skip

MANIFESTS = typer.Argument(..., help="Manifests (.csv or .jsonl), joined: e.g. the data set and the aligned "
                           "counterparts `fakescope synth --kinds aligned` made (an autoencoder family).")  # fmt: skip
SETTINGS = typer.Option([], "--set", help="Attributor setting key=value (repeatable), e.g. min_images=20, n_aug=0, "
                        "known_rate=0.9.")  # fmt: skip


def _joined(paths: list[Path], allow_outside: bool):
    from ..data.manifest import Manifest

    parts = [_manifest(p) for p in paths]
    joined = Manifest([s for m in parts for s in m], root=parts[0].root, name="+".join(m.name for m in parts))
    with one_line_errors():  # checked joined: one part may hold only fakes (e.g. aligned counterparts)
        return joined.check_usable(" + ".join(map(str, paths)), allow_outside)


def _settings(items: list[str]) -> dict:
    from ..attributors.hierarchical import AttributionConfig
    from ..types import field_types

    try:
        return model_settings({"attribution": field_types(AttributionConfig)}, items)
    except ValueError as exc:
        raise fail(str(exc)) from None


def _word(value) -> str:
    """One shell word of a recorded command; a path under the fakescope data folder is written from
    ``$FAKESCOPE_HOME``, so the command reads the same on every machine."""
    from .. import weights

    if isinstance(value, Path):
        try:
            return "$FAKESCOPE_HOME/" + shlex.quote(value.expanduser().resolve().relative_to(weights.home().resolve())
                                                    .as_posix())  # fmt: skip
        except ValueError:
            pass
    return shlex.quote(str(value))


def _command(name: str, args: list, options: dict) -> str:
    """The command line, as the section of ANALYSIS.md records it."""
    words = ["fakescope", "attribute", name, *map(_word, args)]
    for key, value in options.items():
        if value is None or value is False or value == []:
            continue
        for v in value if isinstance(value, list) else [value]:
            words += [key] if v is True else [key, _word(v)]
    return " ".join(words)


@app.command("train")
def train_command(
    manifests: list[Path] = MANIFESTS,
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write the attributor (card.json, weights.npz)."),
    settings: list[str] = SETTINGS,
    evidence: Path = typer.Option(None, help="A results.json of `fakescope attribute evaluate` on the same data: "
                                  "its headline numbers go into the card's metrics."),  # fmt: skip
    allow_outside: bool = ALLOW_OUTSIDE,
):
    """Train an attributor on every image of the manifests and save it with its card."""
    from ..registry import create

    m = _joined(manifests, allow_outside)
    att = create("hierarchical", **_settings(settings))
    with one_line_errors(ValueError, about=manifests[0]):  # e.g. fewer than two classes
        att.fit(m, log=log)
    if evidence:
        from ..evaluation.attribution import headline

        try:
            att.metrics_ = headline(json.loads(evidence.read_text()))
        except (OSError, ValueError, KeyError) as exc:
            raise fail(f"{evidence}: not a results.json of `fakescope attribute evaluate` ({exc})") from None
    att.save(out)
    t = att.open_set_.get("threshold")
    unknown = f"unknown below {t}" if t is not None else f"no unknown threshold ({att.open_set_.get('why', '')})"
    err.print(f"saved attributor {att.name} to {out}: {len(att.classes_)} classes in {len(att.hierarchy_.families)} "
              f"families, trained on {att.trained_on_['images']} images; {unknown}", highlight=False)  # fmt: skip


@app.command("evaluate")
def evaluate_command(
    manifests: list[Path] = MANIFESTS,
    out: Path = typer.Option(..., "--out", "-o", help="Folder for results.json, attribution.md, attribution.html "
                             "and the PNG plots."),  # fmt: skip
    folds: int = typer.Option(5, min=2, help="Folds of each protocol (closed set, open set, DE-FAKE)."),
    analysis: Path = typer.Option(None, help="Also rewrite the '## Attribution' section of this Markdown file "
                                  "(docs/ANALYSIS.md), other sections kept."),  # fmt: skip
    matched: bool = typer.Option(True, "--matched/--no-matched", help="Also test after matched processing (256 px, "
                                 "JPEG q90)."),  # fmt: skip
    defake: bool = typer.Option(True, "--defake/--no-defake", help="DE-FAKE's image-only vs hybrid table (needs "
                                "prompts in the manifest)."),  # fmt: skip
    settings: list[str] = SETTINGS,
    allow_outside: bool = ALLOW_OUTSIDE,
):
    """Closed-set top-1 per family and generator, open-set AUROC under leave-generators-out folds, DE-FAKE's
    attribution table: results.json, Markdown tables, an HTML page and confusion-matrix plots."""
    from ..analysis.attribution_report import write_report
    from ..evaluation.attribution import MATCHED, evaluate_attribution

    m = _joined(manifests, allow_outside)
    config = _settings(settings)
    command = _command("evaluate", manifests, {"--out": out, "--folds": folds, "--analysis": analysis,
                                               "--no-matched": not matched, "--no-defake": not defake,
                                               "--set": settings, "--allow-outside": allow_outside})  # fmt: skip
    with one_line_errors(ValueError, about=manifests[0]):
        result = evaluate_attribution(m, config, folds, MATCHED if matched else None, defake, log=log)
    written = write_report(result, out, command, analysis, log=log)
    c, o = result["closed_set"]["views"]["clean"], result["open_set"]["views"]["clean"]
    typer.echo(f"closed set (clean): family top-1 {c['family_top1']:.1%}, generator top-1 {c['generator_top1']:.1%}; "
               f"open set (clean): AUROC {o['auroc']}")  # fmt: skip
    err.print("written: " + ", ".join(str(p) for p in written.values()), highlight=False)


@app.command("report")
def report_command(
    results: Path = typer.Argument(..., help="A results.json of `fakescope attribute evaluate`."),
    analysis: Path = typer.Option(Path("docs/ANALYSIS.md"), help="The Markdown file whose '## Attribution' section "
                                  "is rewritten."),  # fmt: skip
):
    """Rewrite the '## Attribution' section, the plots and the page from a saved evaluation, without recomputing."""
    from ..analysis.attribution_report import write_report

    try:
        result = json.loads(results.read_text())
        command = result["command"]
    except (OSError, ValueError, KeyError) as exc:
        raise fail(f"{results}: not a results.json of `fakescope attribute evaluate` ({exc})") from None
    written = write_report(result, results.parent, command, analysis, log=log)
    err.print("written: " + ", ".join(str(p) for p in written.values()), highlight=False)


@app.command("predict")
def predict_command(
    inputs: list[str] = typer.Argument(..., help="Image files, folders (recursive), glob patterns or manifests."),
    attributor: str = typer.Option("default", "--attributor", "-a", help="Shipped name or trained-attributor folder."),
    out: Path = typer.Option(None, "--out", "-o", help="Write JSONL rows here (default: stdout)."),
    batch_size: int = typer.Option(16, min=1, help="Images per model call."),
):
    """Attribute images: per image its family, generator (or 'unknown'), attribution_p and the three most
    probable generators, one JSON row each."""
    from ..models import load_attributor
    from ..scanning import find_inputs, output_row

    try:
        att = load_attributor(attributor)
    except (KeyError, FileNotFoundError, ValueError) as exc:
        raise fail(str(exc).strip('"')) from None
    with one_line_errors():
        paths = find_inputs(inputs).paths
    if not paths:
        raise fail("no images found in the given inputs")
    fh = open(out, "w", encoding="utf-8") if out is not None else sys.stdout
    counts: dict[str, int] = {}
    try:
        for start in range(0, len(paths), batch_size):
            for row in att(paths[start : start + batch_size]):
                fh.write(json.dumps(output_row(row), ensure_ascii=False) + "\n")
                if row["error"]:
                    key = "unreadable"
                else:
                    key = "unknown generator" if row["generator"] == "unknown" else "attributed"
                counts[key] = counts.get(key, 0) + 1
            fh.flush()
    finally:
        if out is not None:
            fh.close()
    err.print(", ".join(f"{n} {k}" for k, n in sorted(counts.items())) + f" with {att.name}", highlight=False)
    if counts.get("unreadable") == len(paths):
        raise typer.Exit(1)
