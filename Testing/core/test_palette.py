"""The one palette: a distinct colour for every habitat the settings allow and for the shell, the same for the report,
the DICOM SEG and the Slicer segments, and R's WGCNA module colours."""

from __future__ import annotations

import pytest

from CCRCCStagingLib.core import palette
from CCRCCStagingLib.core.settings import MAX_HABITATS


def test_every_habitat_and_the_shell_have_their_own_colour() -> None:
    colours = [palette.habitat_colour(number) for number in range(1, MAX_HABITATS + 1)]
    assert len(set(colours + [palette.PERITUMORAL_COLOUR])) == MAX_HABITATS + 1
    assert [palette.region_colour(f"sub{n}") for n in range(1, MAX_HABITATS + 1)] == colours
    assert palette.region_colour("peri") == palette.PERITUMORAL_COLOUR


def test_no_region_colour_looks_like_a_grey_ct_value() -> None:
    for colour in (*palette.HABITAT_COLOURS, palette.PERITUMORAL_COLOUR):
        red, green, blue = palette.rgb(colour)
        assert max(red, green, blue) - min(red, green, blue) > 0.3, colour


def test_colours_convert_to_rgb_and_unknown_regions_have_none() -> None:
    assert palette.rgb("#ff8000") == (1.0, 128 / 255, 0.0)
    with pytest.raises(ValueError):
        palette.region_colour("whole")
    with pytest.raises(ValueError):
        palette.habitat_colour(0)


def test_module_colours_are_rs() -> None:
    assert [palette.module_colour(label) for label in (0, 1, 2, 34, 35)] == [
        "grey", "turquoise", "blue", "darkmagenta", "module35"
    ]
