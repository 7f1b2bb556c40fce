"""One self-contained HTML page for an analysis: text, tables and the PNG plots inlined as base64.

The page is rendered by the Jinja2 templates in ``templates/analysis/`` with autoescaping on, so
generator names and prompts are shown as text. Nothing on the page is fetched.
"""

from __future__ import annotations

import base64
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

_TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "analysis"


@dataclass
class Figure:
    """A PNG file and what it shows."""

    path: Path
    caption: str = ""


@dataclass
class Table:
    """Rows of cells under ``headers``; ``align`` has one letter per column, ``l`` or ``r``."""

    headers: list[str]
    rows: list[list]
    caption: str = ""
    align: str = ""


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def write_page(out: str | os.PathLike, title: str, sections: list[Section], intro: list[str] | None = None,
               command: str = "") -> Path:  # fmt: skip
    """Write the page to ``out`` (replaced whole) and return its path."""
    import jinja2

    out = Path(out)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(_TEMPLATES), autoescape=True, trim_blocks=True,
                             lstrip_blocks=True, undefined=jinja2.StrictUndefined)  # fmt: skip
    css = (_TEMPLATES / "page.css").read_text(encoding="utf-8")
    shown = [{"title": s.title, "paragraphs": s.paragraphs,
              "figures": [{"src": _data_uri(f.path), "caption": f.caption, "name": Path(f.path).name}
                          for f in s.figures],
              "tables": [{"headers": t.headers, "rows": t.rows, "caption": t.caption,
                          "align": t.align or "l" * len(t.headers)} for t in s.tables]}
             for s in sections]  # fmt: skip
    html = env.get_template("page.html.j2").render(title=title, intro=intro or [], sections=shown, css=css,
                                                   command=command, created=time.strftime("%Y-%m-%d %H:%M %Z"))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, out)
    return out
