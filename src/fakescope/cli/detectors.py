"""`fakescope list` and `fakescope card`."""

from __future__ import annotations

import typer

from .common import fail


def list_command(pattern: str = typer.Argument("*", help="Shell-style filter, e.g. 'univfd*'.")):
    """List the registered detector, localizer and attributor families and the trained models shipped with
    fakescope."""
    from ..models import shipped, shipped_attributors, shipped_localizers
    from ..registry import entry, list_attributors, list_detectors, list_localizers, unavailable

    for kind, names, trained in (("detectors", list_detectors(pattern), shipped()),
                                 ("localizers", list_localizers(pattern), shipped_localizers()),
                                 ("attributors", list_attributors(pattern), shipped_attributors())):  # fmt: skip
        if not names:
            continue
        if kind == "localizers":
            typer.echo("")
            typer.echo("localizers (maps of manipulated regions; learned ones train with --set setup=A|B|C):")
        if kind == "attributors":
            typer.echo("")
            typer.echo("attributors (which generator made an image; `fakescope attribute`, `scan --attributor`):")
        width = max(map(len, names))
        for name in names:
            e = entry(name)
            needs = f"  (needs {', '.join(e.needs)})" if e.needs else "  (training-free)" if e.training_free else ""
            typer.echo(f"{name:<{width}}  {e.summary}{needs}")
        typer.echo(f"trained {kind}, shipped: " + (", ".join(trained) or "none"))
    if unavailable:
        pkgs = ", ".join(sorted({p for v in unavailable.values() for p in v}))
        mods = ", ".join(m.rsplit(".", 1)[1] for m in unavailable)
        typer.echo(f"\nnot available without {pkgs} (pip install 'fakescope[torch]'): {mods}")


def card_command(
    detector: str = typer.Argument("default", help="Shipped name or folder of a trained detector or localizer."),
    localizer: bool = typer.Option(False, "--localizer", help="Look the name up among the shipped localizers."),
):
    """Print a trained detector's (or localizer's) card: training data, preprocessing, metrics, licence."""
    from pathlib import Path

    from ..models import TRAINED_DIR, TRAINED_LOCALIZERS
    from ..saved import read

    folder = Path(detector)
    if not (folder / "card.json").is_file():
        folder = (TRAINED_LOCALIZERS if localizer else TRAINED_DIR) / detector
    try:
        saved = read(folder, "localizer" if localizer else None)
    except FileNotFoundError:
        shipped = "shipped localizers" if localizer else "shipped detectors (add --localizer for localizers)"
        raise fail(f"no trained model {detector!r}: not a folder with a card.json, nor one of the {shipped}") from None
    except ValueError as exc:
        raise fail(str(exc)) from None
    typer.echo(saved.card.to_json())
