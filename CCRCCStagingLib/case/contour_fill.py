"""Closed polygons filled on a pixel grid by the even-odd rule: what an RTSTRUCT's contours cover on a CT slice.

A pixel belongs to the region when its centre lies inside an odd number of the slice's polygons: an inner contour
cuts a hole, a contour inside that hole is an island again (the XOR of the contours, as DICOM's ``CLOSEDPLANAR_XOR``
says and as most planning systems mean ``CLOSED_PLANAR``). It is computed by casting a ray from each pixel centre
towards −x and counting the polygon edges it crosses, with the half-open rule ``y0 ≤ j < y1`` so that a ray through
a vertex counts once. No per-pixel loop: each edge yields its crossings of the pixel rows it spans, each crossing
flips every pixel from its column on, and the parity of the running count is the region.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import MaskError


def row_crossings(polygon: np.ndarray, rows: int) -> int:
    """How many pixel rows the polygon's edges cross in total (clipped to the grid): the work and memory the fill
    needs, known before anything is allocated for it."""
    spans = _row_spans(polygon, rows)
    return int((spans[1] - spans[0]).sum())


def fill_even_odd(polygons: list[np.ndarray], shape: tuple[int, int], max_crossings: int) -> np.ndarray:
    """A boolean ``(rows, columns)`` image of the pixels whose centres lie inside an odd number of ``polygons``.

    Each polygon is an ``(N, 2)`` array of vertices in continuous pixel indices ``(column, row)`` (the last vertex
    joins the first). ``max_crossings`` bounds the edge–row crossings of one polygon (see :func:`row_crossings`)."""
    rows, columns = shape
    # One extra column collects the crossings right of the grid: they flip nothing on it.
    flips = np.zeros(rows * (columns + 1), dtype=np.int64)
    for polygon in polygons:
        if len(polygon) < 3:
            continue  # a point or a segment covers no area
        if row_crossings(polygon, rows) > max_crossings:
            raise MaskError(
                f"A contour of {len(polygon):,} points crosses the pixel rows more than {max_crossings:,} times: it is "
                "not a tumour outline (damaged or hostile file). Export the contours again."
            )
        row, column = _crossings(polygon, rows, columns)
        flips += np.bincount(row * (columns + 1) + column, minlength=flips.size)
    parity = np.cumsum(flips.reshape(rows, columns + 1), axis=1)[:, :columns] % 2
    return parity.astype(bool)


def _row_spans(polygon: np.ndarray, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """For each edge, the first pixel row it crosses and one past the last (half-open in y, clipped to the grid)."""
    y0 = polygon[:, 1]
    y1 = np.roll(y0, -1)
    first = np.clip(np.ceil(np.minimum(y0, y1)), 0, rows).astype(np.int64)
    stop = np.clip(np.ceil(np.maximum(y0, y1)), 0, rows).astype(np.int64)
    return first, np.maximum(stop, first)


def _crossings(polygon: np.ndarray, rows: int, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (row, first flipped column) where an edge crosses a pixel row."""
    x0, y0 = polygon[:, 0], polygon[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    first, stop = _row_spans(polygon, rows)
    counts = stop - first
    edge = np.repeat(np.arange(len(polygon)), counts)
    row = first[edge] + np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    # Horizontal edges span no row (counts 0), so the division never sees y1 == y0.
    x = x0[edge] + (row - y0[edge]) * (x1[edge] - x0[edge]) / (y1[edge] - y0[edge])
    # The pixel centre at column c is right of the crossing when c ≥ x: from ceil(x) on, the count flips.
    column = np.clip(np.ceil(x), 0, columns).astype(np.int64)
    return row, column
