"""The case report's slice images: the CT in a soft-tissue window with the habitats and the peritumoral shell drawn
over it as fill + outline in the project's palette: three key planes through the tumour centre, an axial montage
(the printed stand-in for the scroller) and the scroller's slices."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...core.palette import PERITUMORAL_COLOUR, habitat_colour, rgb
from ..kit import new_figure, png_data_uri
from .content import WINDOW, legend
from .folder import CaseFolder

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Opacity of the region fill; outlines are opaque.
FILL_ALPHA = 0.35
#: At most this many slices in the HTML scroller (a larger tumour is shown every 2nd, 3rd … slice).
MAX_SCROLLER_SLICES = 150
_ORIENTATION_LETTERS = {
    "axial": ("R", "L", "A", "P"),
    "coronal": ("R", "L", "S", "I"),
    "sagittal": ("A", "P", "S", "I"),
}


def region_palette(folder: CaseFolder) -> dict[int, tuple[float, float, float]]:
    """Label value → RGB (0..1), the shell first so that habitat outlines are drawn over it where they meet."""
    palette = {folder.peri_label: rgb(PERITUMORAL_COLOUR)}
    palette.update({label: rgb(habitat_colour(number)) for number, label in folder.habitat_labels})
    return palette


def overlay_rgb(
    hu: np.ndarray | None,
    labels: np.ndarray,
    palette: Mapping[int, tuple[float, float, float]],
    window: tuple[float, float] = WINDOW,
    alpha: float = FILL_ALPHA,
) -> np.ndarray:
    """A 2-D slice as uint8 RGB: the CT in the window (W, L), each region of ``palette`` (in its order) filled with
    its colour at ``alpha`` and outlined (its border pixels, 4-neighbourhood) in the opaque colour."""
    import numpy as np

    width, level = window
    if hu is None:
        grey = np.full(labels.shape, 0.15, dtype=np.float32)
    else:
        grey = np.clip((hu.astype(np.float32) - (level - width / 2.0)) / width, 0.0, 1.0)
    image = np.repeat(grey[..., None], 3, axis=2)
    for label, colour in palette.items():
        inside = labels == label
        if not inside.any():
            continue
        image[inside] = (1.0 - alpha) * image[inside] + alpha * np.asarray(colour, dtype=np.float32)
        image[inside & ~_erode(inside)] = colour
    return np.round(image * 255.0).astype(np.uint8)


def _erode(mask: np.ndarray) -> np.ndarray:
    """4-neighbourhood erosion of a 2-D mask; pixels on the image border count as border."""
    import numpy as np

    padded = np.pad(mask, 1, constant_values=False)
    return padded[1:-1, 1:-1] & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]


@dataclass
class Plane:
    """One key image: the 2-D arrays as drawn (rows top to bottom), the extent in mm and its axes."""

    name: str
    index: int
    labels: np.ndarray
    rgb: np.ndarray
    extent: tuple[float, float, float, float]  # left, right, bottom, top (imshow, origin="upper")
    count: int = 0  # slices of the box along this plane's normal
    axes: Axes | None = None


@dataclass
class KeyImages:
    figure: Figure
    planes: dict[str, Plane]

    @property
    def indices(self) -> dict[str, int]:
        return {name: plane.index for name, plane in self.planes.items()}


def tumour_mask(folder: CaseFolder) -> np.ndarray:
    """The habitats' voxels (any region but the shell when the result names no habitat)."""
    import numpy as np

    labels = [label for _, label in folder.habitat_labels]
    if labels:
        return np.isin(folder.labels, labels)
    return (folder.labels > 0) & (folder.labels != folder.peri_label)


def tumour_centre(folder: CaseFolder) -> tuple[int, int, int]:
    """(z, y, x) voxel of the tumour's centre of mass (habitats only), moved onto the tumour if it falls outside."""
    import numpy as np

    tumour = tumour_mask(folder)
    if not tumour.any():
        tumour = folder.labels > 0
    if not tumour.any():
        return tuple(s // 2 for s in folder.labels.shape)
    points = np.argwhere(tumour)
    centre = np.round(points.mean(axis=0)).astype(int)
    if not tumour[tuple(centre)]:
        centre = points[np.argmin(((points - centre) ** 2).sum(axis=1))]
    return tuple(int(c) for c in centre)


def key_planes(folder: CaseFolder, centre: tuple[int, int, int] | None = None) -> dict[str, Plane]:
    """Axial, coronal and sagittal slices through the tumour centre, oriented as radiologists read them: axial seen
    from the feet (patient right on the left, anterior up), coronal from the front (right on the left, superior
    up), sagittal from the patient's left (anterior on the left, superior up)."""
    import numpy as np

    z, y, x = centre or tumour_centre(folder)
    sx, sy, sz = folder.spacing
    nz, ny, nx = folder.labels.shape
    palette = region_palette(folder)
    cuts = {  # (index expression into (z, y, x), extent, slice index, slice count)
        "axial": ((z, slice(None), slice(None)), (0.0, nx * sx, ny * sy, 0.0), z, nz),
        "coronal": ((slice(None, None, -1), y, slice(None)), (0.0, nx * sx, 0.0, nz * sz), y, ny),
        "sagittal": ((slice(None, None, -1), slice(None), x), (0.0, ny * sy, 0.0, nz * sz), x, nx),
    }
    planes = {}
    for name, (cut, extent, index, count) in cuts.items():
        labels = np.ascontiguousarray(folder.labels[cut])
        hu = None if folder.ct is None else folder.ct[cut]
        planes[name] = Plane(name, int(index), labels, overlay_rgb(hu, labels, palette), extent, int(count))
    return planes


def key_images_figure(folder: CaseFolder) -> KeyImages:
    """The three key images side by side at physical aspect ratio, with orientation letters, a 10 mm scale bar and
    a legend of the regions."""
    from matplotlib.patches import Patch

    planes = key_planes(folder)
    aspects = [(p.extent[1] - p.extent[0]) / max(abs(p.extent[3] - p.extent[2]), 1e-6) for p in planes.values()]
    panel_height = 2.45
    scale = min(1.0, 7.3 / sum(panel_height * a for a in aspects))
    panel_height *= scale
    panel_widths = [panel_height * a for a in aspects]
    legend_height = 0.55
    figure = new_figure(sum(panel_widths) + 0.1 * (len(planes) + 1), panel_height + 0.35 + legend_height, False)
    fig_w, fig_h = figure.get_size_inches()
    left = 0.1
    for plane, width in zip(planes.values(), panel_widths):
        axes = figure.add_axes([left / fig_w, (legend_height + 0.05) / fig_h, width / fig_w, panel_height / fig_h])
        left += width + 0.1
        _draw_plane(axes, plane)
    handles = [Patch(color=colour, label=name) for colour, name in legend(folder.result)]
    figure.legend(handles=handles, loc="lower center", ncol=min(len(handles), 3), fontsize=7.5, frameon=False,
                  bbox_to_anchor=(0.5, 0.0), handlelength=1.2, columnspacing=1.2)
    return KeyImages(figure, planes)


def _draw_plane(axes: Axes, plane: Plane) -> None:
    axes.imshow(plane.rgb, extent=plane.extent, origin="upper", interpolation="nearest", aspect="equal")
    axes.set_xticks([])
    axes.set_yticks([])
    axes.set_title(f"{plane.name.capitalize()} (box slice {plane.index + 1} of {plane.count})", fontsize=8.5, pad=3)
    _orientation(axes, plane)
    _scale_bar(axes, plane)
    plane.axes = axes


def _orientation(axes: Axes, plane: Plane) -> None:
    left, right, top, bottom = _ORIENTATION_LETTERS[plane.name]
    style = dict(transform=axes.transAxes, color="white", fontsize=7, fontweight="bold", alpha=0.85)
    axes.text(0.02, 0.5, left, ha="left", va="center", **style)
    axes.text(0.98, 0.5, right, ha="right", va="center", **style)
    axes.text(0.5, 0.98, top, ha="center", va="top", **style)
    axes.text(0.5, 0.02, bottom, ha="center", va="bottom", **style)


def _scale_bar(axes: Axes, plane: Plane) -> None:
    """A 10 mm bar near the lower left corner (y runs downward in the axial extent, upward in the others)."""
    left, right, bottom, top = plane.extent
    x = left + 0.06 * (right - left)
    y = bottom + 0.06 * (top - bottom)
    axes.plot([x, x + 10.0], [y, y], color="white", linewidth=1.5, solid_capstyle="butt")
    axes.text(x + 5.0, y, "10 mm", color="white", fontsize=6, ha="center", va="bottom")
    axes.set_xlim(left, right)
    axes.set_ylim(bottom, top)


def _axial_rgb(folder: CaseFolder, z: int, palette: Mapping[int, tuple[float, float, float]]) -> np.ndarray:
    return overlay_rgb(None if folder.ct is None else folder.ct[z], folder.labels[z], palette)


def axial_montage_figure(folder: CaseFolder, count: int = 8, columns: int = 4) -> Figure | None:
    """``count`` axial slices evenly spread over the tumour's extent (the printed stand-in for the scroller), each
    labelled with its distance from the key slice."""
    import numpy as np

    tumour = tumour_mask(folder)
    occupied = np.flatnonzero(tumour.reshape(tumour.shape[0], -1).any(axis=1))
    if occupied.size == 0:
        return None
    centre = tumour_centre(folder)[0]
    chosen = sorted(set(np.round(np.linspace(occupied[0], occupied[-1], min(count, occupied.size))).astype(int).tolist()))
    palette = region_palette(folder)
    sx, sy, sz = folder.spacing
    ny, nx = folder.labels.shape[1:]
    panel = 7.3 / columns
    panel_height = panel * (ny * sy) / (nx * sx)
    figure = new_figure(7.3, math.ceil(len(chosen) / columns) * (panel_height + 0.22), False)
    fig_w, fig_h = figure.get_size_inches()
    for i, z in enumerate(chosen):
        row, column = divmod(i, columns)
        axes = figure.add_axes([
            (column * panel + 0.04) / fig_w, 1 - ((row + 1) * (panel_height + 0.22) - 0.02) / fig_h,
            (panel - 0.08) / fig_w, panel_height / fig_h,
        ])
        axes.imshow(_axial_rgb(folder, z, palette), extent=(0.0, nx * sx, ny * sy, 0.0), interpolation="nearest",
                    aspect="equal")
        axes.set_xticks([])
        axes.set_yticks([])
        axes.set_title(f"box slice {z + 1}  ({(z - centre) * sz:+.0f} mm)", fontsize=7, pad=2)
    return figure


def scroller_slices(folder: CaseFolder, key_index: int) -> dict[str, Any] | None:
    """Axial slices through every slice that holds a region (every n-th beyond ``MAX_SCROLLER_SLICES``), as small
    PNG data URIs for the HTML scroller, with their box slice index and distance from the key slice (mm, + = head)."""
    import numpy as np

    occupied = np.flatnonzero(folder.labels.reshape(folder.labels.shape[0], -1).any(axis=1))
    if occupied.size == 0:
        return None
    palette = region_palette(folder)
    first, last = int(occupied[0]), int(occupied[-1])
    indices = list(range(first, last + 1, math.ceil((last - first + 1) / MAX_SCROLLER_SLICES)))
    sx, sy, sz = folder.spacing
    ny, nx = folder.labels.shape[1:]
    return {
        "slices": [png_data_uri(array_png(_axial_rgb(folder, z, palette), colours=128)) for z in indices],
        "index": indices,
        "offset_mm": [round((z - key_index) * sz, 1) for z in indices],
        "count": int(folder.labels.shape[0]),
        "start": int(np.argmin([abs(z - key_index) for z in indices])),
        "width_mm": nx * sx,
        "height_mm": ny * sy,
    }


def array_png(image: np.ndarray, colours: int | None = None) -> bytes:
    """PNG of a uint8 RGB array; ``colours``: reduce to a palette of that many colours (no dithering), which halves
    the size of the scroller's slices."""
    import numpy as np
    from PIL import Image

    picture = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8))
    if colours:
        picture = picture.quantize(colours, dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
