"""Markdown for ``docs/ANALYSIS.md``: tables, and rewriting one ``## `` section while keeping the others.

Each analysis command owns one section (``## Spectral analysis``, ``## Prompt analysis``,
``## Attribution``, ...) and rewrites only that one, so the commands can run in any order.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

#: What a new ``docs/ANALYSIS.md`` starts with, before its first section.
PREAMBLE = """# Analysis

What fakescope's analysis commands found on the development data. Each section names the command
that wrote it; rerunning that command rewrites its own section and leaves the others as they are.
"""

_FENCE = re.compile(r"^(```|~~~)")


def cell(value) -> str:
    """A value as table text: ``|`` escaped, newlines flattened, None as an en dash."""
    if value is None:
        return "–"
    return str(value).replace("|", "\\|").replace("\n", " ")


def table(headers: Sequence[str], rows: Sequence[Sequence], align: str | None = None) -> str:
    """A GitHub-flavoured Markdown table.

    Args:
        align: one letter per column, ``l`` or ``r`` (default: left).
    """
    align = align or "l" * len(headers)
    if len(align) != len(headers):
        raise ValueError(f"align has {len(align)} letters for {len(headers)} columns")
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def split_sections(text: str) -> tuple[str, list[tuple[str, str]]]:
    """``(preamble, [(heading, body), ...])`` of a Markdown text, cut at ``## `` headings outside code fences.

    ``heading`` is the title without ``## ``; ``body`` is everything up to the next such heading.
    """
    preamble: list[str] = []
    sections: list[tuple[str, list[str]]] = []
    fenced = False
    for line in text.splitlines(keepends=True):
        if _FENCE.match(line):
            fenced = not fenced
        if not fenced and line.startswith("## "):
            sections.append((line[3:].strip(), []))
        elif sections:
            sections[-1][1].append(line)
        else:
            preamble.append(line)
    return "".join(preamble), [(h, "".join(b)) for h, b in sections]


def update_section(path: str | os.PathLike, heading: str, body: str) -> Path:
    """Replace the ``## heading`` section of the Markdown file ``path`` by ``body``; keep every other section.

    A section not there yet is added at the end; a file not there yet starts with :data:`PREAMBLE`.
    The file is replaced whole, never left half written.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.is_file() else PREAMBLE
    preamble, sections = split_sections(text)
    new_body = "\n" + body.strip("\n") + "\n\n"
    for i, (h, _) in enumerate(sections):
        if h == heading:
            sections[i] = (h, new_body)
            break
    else:
        sections.append((heading, new_body))
    out = preamble.rstrip("\n") + "\n\n" + "".join(f"## {h}\n{b}" for h, b in sections)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(out.rstrip("\n") + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def relative_link(target: str | os.PathLike, document: str | os.PathLike) -> str:
    """``target`` as a link from ``document``'s folder (POSIX separators)."""
    return Path(os.path.relpath(Path(target).resolve(), Path(document).resolve().parent)).as_posix()
