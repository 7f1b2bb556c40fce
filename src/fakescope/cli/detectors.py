"""`fakescope list` and `fakescope card`."""

from __future__ import annotations

import fnmatch

import typer

from .common import fail


def list_command(pattern: str = typer.Argument("*", help="Shell-style filter, e.g. 'univfd*'.")):
    """List the registered detector families and the trained detectors shipped with fakescope."""
    from ..models import shipped
    from ..registry import entry, list_detectors

    names = list_detectors(pattern)
    width = max(map(len, names), default=8)
    for name in names:
        e = entry(name)
        needs = f"  (needs {', '.join(e.needs)})" if e.needs else ""
        typer.echo(f"{name:<{width}}  {e.summary}{needs}")
    typer.echo("trained, shipped: " + (", ".join(shipped()) or "none"))
    from ..localize import list_localizers, summary_of
    from ..models import shipped_localizers

    locs = [n for n in list_localizers() if fnmatch.fnmatch(n, pattern)]
    if locs:
        typer.echo("")
        typer.echo("localizers (maps of manipulated regions; train with --set setup=A|B|C; need torch):")
        width = max(map(len, locs))
        for name in locs:
            typer.echo(f"{name:<{width}}  {summary_of(name)}")
        typer.echo("trained localizers, shipped: " + (", ".join(shipped_localizers()) or "none"))


def card_command(
    detector: str = typer.Argument("default", help="Shipped name or folder of a trained detector or localizer."),
    localizer: bool = typer.Option(False, "--localizer", help="Look the name up among the shipped localizers."),
):
    """Print a trained detector's (or localizer's) card: training data, preprocessing, metrics, licence."""
    import json
    from pathlib import Path

    from ..models import load_detector, load_localizer_model

    card_file = Path(detector) / "card.json"
    is_loc = localizer or (card_file.is_file() and "localizer" in json.loads(card_file.read_text()))
    try:
        if is_loc:
            typer.echo(json.dumps(load_localizer_model(detector).card, indent=2, default=str))
            return
        det = load_detector(detector)
    except (KeyError, FileNotFoundError, ValueError) as exc:
        raise fail(str(exc).strip('"')) from None
    typer.echo(det.card.to_json())
