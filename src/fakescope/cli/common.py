"""Helpers shared by the commands."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

err = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print an error (to stderr) and return the Exit to raise."""
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code)


def log(message: str) -> None:
    """A progress line on stderr, printed as is (no markup: names contain brackets)."""
    err.print(message, markup=False, highlight=False)


def parse_settings(items: list[str]) -> dict:
    """``["n_aug=3", "sources=all", "C=0.1,1"]`` -> typed values (ints, floats, lists, strings)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set expects key=value, got {item!r}")
        parts = [_typed(v) for v in value.split(",")]
        out[key.strip()] = parts if len(parts) > 1 else parts[0]
    return out


def _typed(v: str):
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(v.lower(), v)


def is_tty() -> bool:
    return sys.stderr.isatty()
