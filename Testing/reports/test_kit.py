"""The one report kit: one number format, one figure resolution shown at the figure's size, one page frame that
loads nothing, one atomic write."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest

from CCRCCStagingLib.core.errors import OutputError
from CCRCCStagingLib.reports import kit


def test_the_number_format() -> None:
    assert [kit.fmt(v) for v in (None, math.nan, math.inf, True, "x")] == [kit.MISSING] * 5
    assert kit.fmt(40027) == "40 027"
    assert kit.fmt(0.12345) == "0.123" and kit.fmt(-2.5, 2) == "-2.50" and kit.fmt(0.0) == "0.000"
    assert kit.fmt(0.00042) == "0.00042"  # fixed decimals would show 0.000
    assert kit.fmt(123456.7) == "1.23e+05"
    assert (kit.fmt_p(0.0004), kit.fmt_p(0.0412), kit.fmt_p(None)) == ("p < 0.001", "p = 0.041", "p not available")


def test_a_figure_is_a_png_at_the_kits_resolution_shown_at_its_size() -> None:
    from PIL import Image

    figure = kit.new_figure(2.0, 1.0)
    figure.subplots().plot([0, 1], [0, 1])
    png = kit.figure_png(figure)
    assert Image.open(io.BytesIO(png)).size == (2 * kit.DPI, 1 * kit.DPI)
    html = kit.figure_html(figure, "a <line>", "caption & more")
    assert 'width="192" height="96"' in html and "a &lt;line&gt;" in html and "caption &amp; more" in html


def test_the_page_frame_loads_nothing_and_lists_its_sections() -> None:
    html = kit.page("T", "<header></header>", [("a", "Part A", "<p>A</p>")], '<footer id="provenance"></footer>')
    assert "default-src 'none'" in html and "script-src" not in html
    assert '<a href="#a">Part A</a>' in html and '<a href="#provenance">' in html
    scripted = kit.page("T", "", [], "", contents=False, script="var x = 1;")
    assert "script-src 'unsafe-inline'" in scripted and "<nav>" not in scripted and "<script>var x = 1;</script>" in scripted


def test_a_page_is_written_whole_or_not_at_all(tmp_path: Path) -> None:
    kit.write_page("<html>new</html>", tmp_path / "sub" / "page.html")
    assert (tmp_path / "sub" / "page.html").read_text() == "<html>new</html>"
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["page.html"]
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match="Cannot write"):
        kit.write_page("x", tmp_path / "file" / "page.html")
