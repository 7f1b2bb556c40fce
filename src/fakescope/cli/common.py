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
    from ..scanning import UsageError
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
    """``["n_aug=3", "sources=all", "C=0.1,1"]`` -> values typed by their look (ints, floats, lists, strings).

    For settings of a known model, :func:`model_settings` types each value by the config field it sets."""
    out = {}
    for key, value in _pairs(items):
        parts = [_typed(v) for v in value.split(",")]
        out[key] = parts if len(parts) > 1 else parts[0]
    return out


def model_settings(settings: dict[str, dict[str, type]], items: list[str]) -> dict:
    """``--set key=value`` items -> keyword arguments for a registered model's builder.

    Args:
        settings: the model's ``settings()``: field name -> type, grouped by where the value goes
            (``train``, ``head``, ``builder``).
        items: the ``key=value`` strings.

    Each value is converted to its field's type; a head setting with commas is a list of values, a grid
    chosen on held-out folds. Unknown keys and values of the wrong type are errors that name the field.
    """
    out: dict = {}
    head: dict = {}
    for key, value in _pairs(items):
        group = next((g for g, fields in settings.items() if key in fields), None)
        if group is None:
            known = sorted(k for fields in settings.values() for k in fields)
            raise ValueError(f"unknown setting {key!r}; known: {', '.join(known)}")
        kind = settings[group][key]
        if group == "head" and "," in value:
            head[key] = [_convert(key, kind, v) for v in value.split(",")]
        elif group == "head":
            head[key] = _convert(key, kind, value)
        else:
            out[key] = _convert(key, kind, value)
    if head:
        out["head_params"] = head
    return out


def _pairs(items: list[str]):
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set expects key=value, got {item!r}")
        yield key.strip(), value.strip()


def _convert(key: str, kind, value: str):
    """``value`` as the type ``kind`` (int, float, bool, str, ``X | None``, ``tuple[X, ...]``)."""
    import types
    import typing

    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value.lower() == "none" and type(None) in args:
            return None
        kind = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is tuple:
        parts = value.split(",")
        if len(parts) != len(args):
            raise ValueError(f"{key} takes {len(args)} comma-separated values, got {value!r}")
        return tuple(_convert(key, a, v) for a, v in zip(args, parts))
    try:
        if kind is bool:
            return {"true": True, "false": False, "1": True, "0": False}[value.lower()]
        if kind in (int, float, str):
            return kind(value)
    except (KeyError, ValueError):
        name = getattr(kind, "__name__", str(kind))
        raise ValueError(f"{key} takes a {name} value, got {value!r}") from None
    return value


def _typed(v: str):
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(v.lower(), v)


def is_tty() -> bool:
    return sys.stderr.isatty()
