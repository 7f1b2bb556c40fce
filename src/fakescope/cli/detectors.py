"""`fakescope list` and `fakescope card`."""

from __future__ import annotations

import typer

from .common import fail


def list_command(pattern: str = typer.Argument("*", help="Shell-style filter, e.g. 'univfd*'.")):
    """List the registered detector families and the trained detectors shipped with fakescope."""
    from rich.console import Console
    from rich.table import Table

    from ..models import shipped
    from ..registry import entry, list_detectors

    table = Table("detector", "what it is", "needs")
    for name in list_detectors(pattern):
        e = entry(name)
        table.add_row(name, e.summary, ", ".join(e.needs))
    console = Console()
    console.print(table)
    console.print("trained (shipped): " + (", ".join(shipped()) or "none"), highlight=False)


def card_command(detector: str = typer.Argument("default", help="Shipped name or folder of a trained detector.")):
    """Print a trained detector's card (training data, preprocessing, metrics, licence)."""
    from ..models import load_detector

    try:
        det = load_detector(detector)
    except (KeyError, FileNotFoundError, ValueError) as exc:
        raise fail(str(exc).strip('"')) from None
    typer.echo(det.card.to_json())
