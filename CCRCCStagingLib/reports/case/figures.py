"""Every picture of the case report drawn once, as PNG, for both the HTML page and the PDF."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..kit import figure_png
from .charts import fractions_figure, gauge_figure, radscore_figure
from .folder import CaseFolder
from .key_images import axial_montage_figure, key_images_figure, scroller_slices

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class Picture:
    """A drawn figure: its PNG and its size in inches."""

    png: bytes
    size: tuple[float, float]

    @classmethod
    def of(cls, figure: Figure) -> Picture:
        width, height = figure.get_size_inches()
        return cls(figure_png(figure), (float(width), float(height)))


@dataclass
class ReportFigures:
    """The pictures by name (``gauge``, ``radscore``, ``fractions``, ``key_images``, ``montage``; those that do not
    apply are absent) and the HTML scroller's slices."""

    pictures: dict[str, Picture] = field(default_factory=dict)
    scroller: dict[str, Any] | None = None


def build_figures(folder: CaseFolder) -> ReportFigures:
    """Draw every picture of the report of ``folder``."""
    figures = ReportFigures()
    prediction = folder.result.prediction
    if prediction is not None:
        figures.pictures["gauge"] = Picture.of(gauge_figure(prediction.probability_high, prediction.threshold))
        if prediction.radscore is not None:
            cutoff = prediction.radscore_cutoff if prediction.radscore_cutoff is not None else 0.0
            figures.pictures["radscore"] = Picture.of(
                radscore_figure(prediction.radscore, cutoff, prediction.radscore_training)
            )
    if folder.habitat_labels:
        figures.pictures["fractions"] = Picture.of(fractions_figure(folder.result))
    key = key_images_figure(folder)
    figures.pictures["key_images"] = Picture.of(key.figure)
    montage = axial_montage_figure(folder)
    if montage is not None:
        figures.pictures["montage"] = Picture.of(montage)
    figures.scroller = scroller_slices(folder, key.indices["axial"])
    return figures
