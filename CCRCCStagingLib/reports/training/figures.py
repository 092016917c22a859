"""The training report's figures as files for a manuscript: each figure of the page also written as SVG and PDF into
a folder the command names, under the number the paper gives it (Fig. 3 LASSO and ROC per region, Fig. 4 the combined
region, Fig. 5B Kaplan-Meier, Fig. 5C-E the Radscore waterfall); figures the paper lacks (calibration, decision
curves) get a descriptive name. Without a folder the figures are only embedded in the page."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ...core.errors import OutputError
from ..kit import figure_html, figure_vector, write_file
from .names import MIX_REGION

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: The folder beside the report that the commands ask for.
FIGURES_DIR = "figures"
VECTOR_FORMATS = ("svg", "pdf")
#: Every name this module gives (a file of an earlier run that matches and is not written again is removed).
_OWN_FILE = re.compile(r"^(fig\d[a-z]*|calibration|decision_curve)_[A-Za-z0-9_.-]*\.(svg|pdf)$")


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "unnamed"


def lasso_name(region: str) -> str:
    """Fig. 3A-H: LASSO tuning and profiles per region; Fig. 4A-B for the combined region."""
    return "fig4ab_lasso_mix" if region == MIX_REGION else f"fig3_lasso_{_safe(region)}"


def roc_name(region: str) -> str:
    """Fig. 3I-L: ROC curves per region; Fig. 4C-D for the combined region."""
    return "fig4cd_roc_mix" if region == MIX_REGION else f"fig3_roc_{_safe(region)}"


def kaplan_meier_name(entry: str) -> str:
    """Fig. 5B: Kaplan-Meier curves of the Radscore risk groups (``all`` cases or one split)."""
    return f"fig5b_kaplan_meier_{_safe(entry)}"


WATERFALL_NAME = "fig5ce_radscore_waterfall"
RELIABILITY_NAME = "calibration_reliability_deployed"
DECISION_CURVE_NAME = "decision_curve_deployed"


@dataclass
class FigureFiles:
    """Where the report's figures go besides the page: ``folder=None`` embeds them only."""

    folder: Path | None = None
    written: list[str] = field(default_factory=list)

    def html(self, figure: Figure, name: str, alt: str, caption: str) -> str:
        """The figure embedded in the page; with a folder, also ``<name>.svg`` and ``<name>.pdf`` in it (each written
        atomically), named in the caption."""
        if self.folder is None:
            return figure_html(figure, alt, caption)
        html = figure_html(figure, alt, f"{caption} Files: {self.folder.name}/{name}.svg, .pdf.")
        # Keep the layout the PNG was drawn with: the same figure in every file, and not laid out again per format.
        figure.set_layout_engine("none")
        for file_format in VECTOR_FORMATS:
            write_file(self.folder / f"{name}.{file_format}", figure_vector(figure, file_format))
        self.written.append(name)
        return html

    def remove_stale(self) -> None:
        """Remove the figure files of an earlier report that this one did not write again (a region or split that is
        gone); files of other names are never touched."""
        if self.folder is None or not self.folder.is_dir():
            return
        kept = {f"{name}.{file_format}" for name in self.written for file_format in VECTOR_FORMATS}
        for path in self.folder.iterdir():
            if _OWN_FILE.match(path.name) and path.name not in kept and path.is_file():
                try:
                    path.unlink()
                except OSError as error:
                    raise OutputError(f"Cannot remove the old figure {path}: {error.strerror}.") from error
