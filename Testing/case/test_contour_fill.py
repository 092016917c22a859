"""The even-odd polygon fill: pixel centres inside an odd number of contours, holes and islands, edges of the grid."""

from __future__ import annotations

import numpy as np
import pytest

from CCRCCStagingLib.case.contour_fill import fill_even_odd, row_crossings
from CCRCCStagingLib.core.errors import MaskError


def _rectangle(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float)


def _expected(shape: tuple[int, int], *boxes: tuple[float, float, float, float]) -> np.ndarray:
    """Pixel centres (i, j) with x0 ≤ i < x1 and y0 ≤ j < y1, XOR over the boxes (the half-open rule)."""
    j, i = np.indices(shape)
    out = np.zeros(shape, bool)
    for x0, y0, x1, y1 in boxes:
        out ^= (i >= x0) & (i < x1) & (j >= y0) & (j < y1)
    return out


def test_a_rectangle_covers_the_pixel_centres_inside_it() -> None:
    filled = fill_even_odd([_rectangle(2.5, 1.5, 7.5, 4.5)], (8, 10), 10_000)
    assert filled.sum() == 5 * 3
    assert np.array_equal(filled, _expected((8, 10), (2.5, 1.5, 7.5, 4.5)))


def test_an_inner_contour_is_a_hole_and_a_contour_inside_the_hole_an_island() -> None:
    outer, hole, island = (0.5, 0.5, 15.5, 15.5), (3.5, 3.5, 12.5, 12.5), (6.5, 6.5, 9.5, 9.5)
    filled = fill_even_odd([_rectangle(*outer), _rectangle(*hole), _rectangle(*island)], (16, 16), 10_000)
    assert np.array_equal(filled, _expected((16, 16), outer, hole, island))
    assert filled[8, 8] and not filled[5, 5] and filled[1, 1]


def test_direction_of_travel_and_vertices_on_pixel_centres_do_not_matter() -> None:
    # A diamond whose vertices sit exactly on pixel centres: the half-open rule counts each vertex once.
    diamond = np.array([[5.0, 1.0], [9.0, 5.0], [5.0, 9.0], [1.0, 5.0]])
    forward = fill_even_odd([diamond], (11, 11), 10_000)
    backward = fill_even_odd([diamond[::-1]], (11, 11), 10_000)
    assert np.array_equal(forward, backward)
    j, i = np.indices((11, 11))
    inside = np.abs(i - 5) + np.abs(j - 5) < 4
    assert np.array_equal(forward & ~_boundary(i, j), inside & ~_boundary(i, j))


def _boundary(i: np.ndarray, j: np.ndarray) -> np.ndarray:
    return np.abs(i - 5) + np.abs(j - 5) == 4


def test_a_polygon_reaching_past_the_grid_is_clipped_and_degenerate_ones_cover_nothing() -> None:
    filled = fill_even_odd([_rectangle(-20.5, -3.5, 2.5, 2.5)], (6, 6), 10_000)
    assert np.array_equal(filled, _expected((6, 6), (-20.5, -3.5, 2.5, 2.5)))
    assert not fill_even_odd([np.array([[1.0, 1.0], [4.0, 4.0]])], (6, 6), 10_000).any()
    assert not fill_even_odd([_rectangle(1.2, 1.2, 1.8, 1.8)], (6, 6), 10_000).any()  # between pixel centres


def test_a_contour_crossing_the_rows_too_often_is_refused_before_the_fill() -> None:
    zigzag = np.array([[x, 0.0 if x % 2 else 500.0] for x in range(2000)], dtype=float)
    assert row_crossings(zigzag, 512) > 500_000
    with pytest.raises(MaskError, match="crosses the pixel rows more than"):
        fill_even_odd([zigzag], (512, 512), 100_000)
