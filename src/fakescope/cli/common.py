"""Helpers shared by the commands."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape

err = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print an error (to stderr) and return the Exit to raise."""
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code)


@contextmanager
def one_line_errors(*also: type[Exception], about: object = None) -> Iterator[None]:
    """At a command's boundary, turn the errors bad input causes into one error line and exit status 2.

    Always: a malformed manifest, an impossible scan request (missing input,
    unwritable output), missing weights; their messages name the file.

    Args:
        also: more exception types this command's input can cause (e.g. ``ValueError`` from training on
            data that cannot train).
        about: the input those name, put before their message.
    """
    from ..data.manifest import ManifestError
    from ..scan import UsageError
    from ..weights import MissingWeightsError

    try:
        yield
    except (ManifestError, UsageError, MissingWeightsError) as exc:
        raise fail(str(exc)) from None
    except also as exc:
        raise fail(f"{about}: {exc}" if about is not None else str(exc)) from None


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
