"""The pieces every analysis shares: Wilson intervals, ANALYSIS.md sections, the plot style, the HTML page."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fakescope.analysis import markdown, plotting
from fakescope.analysis.stats import wilson


@pytest.mark.parametrize(
    "k, n, low, high",
    [  # Newcombe (1998), Stat. Med. 17:857, Table I, method 3 (Wilson score, no continuity correction)
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
        (29, 29, 0.8830, 1.0),
    ],
)
def test_wilson_matches_published_values(k, n, low, high):
    lo, hi = wilson(k, n)
    assert lo == pytest.approx(low, abs=5e-5)
    assert hi == pytest.approx(high, abs=5e-5)


def test_wilson_edges():
    assert all(math.isnan(v) for v in wilson(0, 0))
    lo, hi = wilson(3, 3)
    assert hi == 1.0 and 0 < lo < 1
    with pytest.raises(ValueError):
        wilson(4, 3)
    # symmetric: the interval of k/n mirrors that of (n-k)/n
    a, b = wilson(7, 40)
    c, d = wilson(33, 40)
    assert a == pytest.approx(1 - d) and b == pytest.approx(1 - c)


def test_update_section_keeps_other_sections(tmp_path):
    doc = tmp_path / "ANALYSIS.md"
    markdown.update_section(doc, "Attribution", "attribution v1")
    markdown.update_section(doc, "Spectral analysis", "spectra v1\n\n```\n## not a heading\n```")
    markdown.update_section(doc, "Prompt analysis", "prompts v1")
    markdown.update_section(doc, "Spectral analysis", "spectra v2")
    text = doc.read_text()
    assert text.startswith("# Analysis")
    _, sections = markdown.split_sections(text)
    assert [h for h, _ in sections] == ["Attribution", "Spectral analysis", "Prompt analysis"]
    bodies = dict(sections)
    assert bodies["Attribution"].strip() == "attribution v1"
    assert bodies["Spectral analysis"].strip() == "spectra v2"
    assert "## not a heading" not in text


def test_fenced_heading_is_not_a_section():
    _, sections = markdown.split_sections("# T\n\n## A\n```\n## B\n```\ntext\n## C\nc\n")
    assert [h for h, _ in sections] == ["A", "C"]
    assert "## B" in dict(sections)["A"]


def test_table_escapes_pipes_and_aligns():
    out = markdown.table(["group", "n"], [["a|b", 3], [None, 10]], align="lr")
    lines = out.splitlines()
    assert lines[1] == "| --- | ---: |"
    assert "a\\|b" in lines[2] and lines[3].startswith("| – |")


def test_series_styles_never_repeat():
    styles = plotting.series_styles(len(plotting.OKABE_ITO) * len(plotting.LINESTYLES))
    assert len(set(styles)) == len(styles)
    assert styles[0][0] == plotting.OKABE_ITO[0] and styles[len(plotting.OKABE_ITO)][1] == plotting.LINESTYLES[1]


def test_plots_are_deterministic_png(tmp_path):
    pytest.importorskip("matplotlib")

    def draw(path):
        with plotting.style():
            fig, ax = plotting.figure(1, 2, height=3)
            plotting.matrix(ax[0, 0], np.arange(9.0).reshape(3, 3), ["a", "b", "c"], annotate="{:.0f}", colorbar="d")
            plotting.intervals(ax[0, 1], ["x", "y"], [0.2, 0.5], [0.1, 0.3], [0.3, 0.7], dim=[False, True],
                               reference=0.4)  # fmt: skip
            return plotting.save(fig, path)

    a, b = draw(tmp_path / "a.png"), draw(tmp_path / "b.png")
    assert a.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert a.read_bytes() == b.read_bytes()


def test_page_is_self_contained_and_escaped(tmp_path):
    pytest.importorskip("matplotlib")
    from fakescope.analysis.page import Figure, Section, Table, write_page

    with plotting.style():
        fig, ax = plotting.figure(height=2)
        ax[0, 0].plot([0, 1], [0, 1])
        png = plotting.save(fig, tmp_path / "p.png")
    section = Section("s", ["<b>gen</b>"], [Figure(png, "cap")], [Table(["g", "n"], [["<i>x</i>", 1]], align="lr")])
    out = write_page(tmp_path / "page.html", "t", [section])
    html = out.read_text()
    assert "data:image/png;base64," in html
    assert "<b>gen</b>" not in html and "&lt;b&gt;gen&lt;/b&gt;" in html
    assert "src=\"http" not in html and "<link" not in html
