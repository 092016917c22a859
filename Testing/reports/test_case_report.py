"""The per-case report (HTML + PDF) of the sample case: content, pages, images, overlay placement, privacy."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from CCRCCStagingLib.cli import main
from CCRCCStagingLib.core import palette
from CCRCCStagingLib.core.errors import InputFileError, SettingsError
from CCRCCStagingLib.core.files import LOCK_FILE
from CCRCCStagingLib.core.privacy import PLACEHOLDER
from CCRCCStagingLib.reports.case.content import T_STAGE_TEXT
from CCRCCStagingLib.reports.case.folder import load_case_folder
from CCRCCStagingLib.reports.case.key_images import FILL_ALPHA, key_images_figure, key_planes
from CCRCCStagingLib.reports.case.pdf_document import PDF_PAGES
from CCRCCStagingLib.reports.case.render import render_report

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_CT = REPO_ROOT / "Resources" / "Sample" / "ccrcc_sample_ct.nrrd"
SAMPLE_SEG = REPO_ROOT / "Resources" / "Sample" / "ccrcc_sample_tumour.seg.nrrd"
BUNDLED_MODEL = REPO_ROOT / "Resources" / "Models" / "ccrcc-demo-synthetic-v1"
DATA_URI = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")

# One analysis per kind and test session, shared with test_report_browser.py (analyze takes seconds).
_ANALYSES: dict[str, Path] = {}


def analysed_sample(tmp_path_factory: pytest.TempPathFactory, kind: str) -> Path:
    """The sample case analysed by ``ccrcc-staging analyze``: ``kind`` "no-model", or "prediction" (with the
    bundled model when it is there, otherwise the no-model result with prediction fields injected)."""
    if kind in _ANALYSES:
        return _ANALYSES[kind]
    base = tmp_path_factory.mktemp(f"report-{kind}")
    out = base / "analysis"
    if kind == "no-model":
        _analyze(out, "--no-model")
    elif (BUNDLED_MODEL / "manifest.json").is_file():
        _analyze(out)
    else:
        shutil.copytree(analysed_sample(tmp_path_factory, "no-model"), out)
        inject_prediction(out / "result.json")
    _ANALYSES[kind] = out
    return out


def _analyze(out: Path, *options: str) -> None:
    code = main(["analyze", str(SAMPLE_CT), str(SAMPLE_SEG), "--out", str(out), *options])
    assert code == 0


def inject_prediction(result_path: Path) -> None:
    """Prediction fields as a model writes them (used only while no bundled model exists)."""
    result = json.loads(result_path.read_text())
    rng = np.random.default_rng(7)
    features = []
    names = ["sub1_original_firstorder_Mean", "peri_wavelet-LLH_glcm_Idmn", "sub2_log-sigma-2-0-mm-3D_gldm_DependenceEntropy"]
    for i, name in enumerate(names):
        value, mean, sd = 1.0 + i, 0.9 + i, 0.2
        features.append({"name": name, "value": value, "training_mean": mean, "training_sd": sd,
                         "z": (value - mean) / sd, "out_of_distribution": False})
    features.append({"name": "peri_original_shape_Sphericity", "value": 9.0, "training_mean": 0.5, "training_sd": 0.1,
                     "z": 85.0, "out_of_distribution": True})
    result.update({
        "t_stage_group": "high", "probability_high": 0.734, "threshold": 0.452, "radscore": 0.61,
        "radscore_cutoff": -0.12, "risk_group": "high",
        "model": {"id": "ccrcc-demo-synthetic-v1", "sha256": "0" * 64, "training_data": "120 synthetic CT phantoms",
                  "intended_use": "Demonstration of the software only.", "demonstration": True},
        "model_features": features,
        "radscore_training": rng.normal(0.0, 1.0, 90).round(4).tolist(),
        "model_card": "# Model card: ccrcc-demo-synthetic-v1\n\n**DEMONSTRATION MODEL — NOT FOR CLINICAL USE.**\n",
    })
    result["warnings"].append("This case lies outside the model's training data for peri_original_shape_Sphericity.")
    result_path.write_text(json.dumps(result, indent=2))


@pytest.fixture(scope="module")
def no_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return analysed_sample(tmp_path_factory, "no-model")


@pytest.fixture(scope="module")
def prediction_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return analysed_sample(tmp_path_factory, "prediction")


@pytest.fixture(scope="module")
def rendered(prediction_dir: Path) -> Path:
    """The prediction case's folder with report.html and report.pdf rendered once for the tests that read them."""
    assert render_report(prediction_dir, formats="html,pdf") == [
        prediction_dir / "report.html", prediction_dir / "report.pdf"
    ]
    return prediction_dir


def pdf_pages(path: Path) -> list[str]:
    from pypdf import PdfReader

    return [page.extract_text() for page in PdfReader(str(path)).pages]


def _squash(text: str) -> str:
    """Text without white space (a table cell may wrap a long feature name)."""
    return re.sub(r"\s+", "", text)


def _png_images(html: str) -> list[np.ndarray]:
    from PIL import Image

    return [np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")) for data in DATA_URI.findall(html)]


# ----------------------------------------------------------------------------------------------------- tests


def test_report_without_model_says_so_and_shows_the_regions(no_model_dir: Path) -> None:
    written = render_report(no_model_dir, formats=("html", "pdf"))

    assert written == [no_model_dir / "report.html", no_model_dir / "report.pdf"]
    hidden = [p.name for p in no_model_dir.iterdir() if p.name.startswith(".") and p.name != LOCK_FILE]
    assert not hidden, "temporary files left behind"  # the folder's lock file stays, as locks do
    result = json.loads((no_model_dir / "result.json").read_text())
    html = (no_model_dir / "report.html").read_text()
    assert "No prediction (no model)" in html
    assert "NOT FOR CLINICAL USE" not in html
    assert "ccrcc_sample_ct" in html  # the case identifier (file name)
    for number in range(1, result["habitats_k"] + 1):
        assert f"Habitat {number}" in html
    assert f"{result['regions']['whole']['volume_ml']:.2f}" in html
    assert 'id="scroller-range"' in html

    pages = pdf_pages(no_model_dir / "report.pdf")
    assert len(pages) == len(PDF_PAGES) == 4
    for text, heading in zip(pages, PDF_PAGES):
        assert heading in text
    assert "No prediction (no model)" in pages[0]
    assert f"{result['regions']['whole']['volume_ml']:.2f}" in pages[0]
    assert "Peritumoral shell (3 mm)" in pages[0]
    assert "No model: no selected features" in pages[2]
    assert "SimpleITK" in pages[3] and "margin_mm" in pages[3] and "features" in pages[3]


def test_report_with_a_prediction(rendered: Path) -> None:
    prediction_dir = rendered
    result = json.loads((prediction_dir / "result.json").read_text())
    group = T_STAGE_TEXT[result["t_stage_group"]]
    probability = f"P(T3–T4) = {result['probability_high']:.2f}"
    html = (prediction_dir / "report.html").read_text()
    pages = pdf_pages(prediction_dir / "report.pdf")
    assert len(pages) == 4
    for text in (_squash(html), _squash(pages[0])):  # PDF lines wrap anywhere
        assert _squash(f"Predicted pathological T stage: {group}") in text
        assert _squash(probability) in text
        assert _squash(f"threshold {result['threshold']:.2f}") in text
        assert _squash(f"Radscore {result['radscore']:.3f}, cutoff {result['radscore_cutoff']:.3f}") in text
    if result["model"]["demonstration"]:
        assert "NOT FOR CLINICAL USE" in html
        assert "NOT FOR CLINICAL USE" in pages[0]
    for feature in result["model_features"]:
        assert feature["name"] in html
        assert _squash(feature["name"]) in _squash(pages[2])
    if any(f["out_of_distribution"] for f in result["model_features"]):
        assert "YES (|z| > 4)" in pages[2] and 'class="ood"' in html
    assert result["model"]["id"] in pages[2]
    assert "Full model card" in html


def test_html_is_self_contained(rendered: Path) -> None:
    html = (rendered / "report.html").read_text()

    sources = re.findall(r'\b(?:src|href)\s*=\s*"([^"]*)"', html)
    assert sources and all(s.startswith("data:") or s.startswith("#") for s in sources), sources
    assert "http://" not in html and "https://" not in html
    assert "<link rel=\"stylesheet\"" not in html and "@import" not in html and "url(" not in html
    assert "@media print" in html


def test_images_are_not_blank(rendered: Path) -> None:
    prediction_dir = rendered
    images = _png_images((prediction_dir / "report.html").read_text())
    result = json.loads((prediction_dir / "result.json").read_text())

    # gauge, radscore, fractions, key images, montage, then one per scroller slice
    assert len(images) >= 5 + 10
    for image in images[:5]:
        assert image.std() > 10, "blank figure"
        assert len(np.unique(image.reshape(-1, 3), axis=0)) > 3
    for image in images[6:]:  # scroller slices: CT, and a region drawn in colour on every one
        assert image.std() > 2, "blank slice"
        rgb = image.astype(int)
        assert np.any((rgb[..., 0] != rgb[..., 1]) | (rgb[..., 1] != rgb[..., 2])), "slice without overlay"
    labels = np.asarray(load_case_folder(prediction_dir).labels)
    occupied_slices = int(labels.reshape(labels.shape[0], -1).any(axis=1).sum())
    # 5 figures, the scroller's first slice in its <img>, then every slice that holds a region
    assert len(images) - 6 == occupied_slices

    from pypdf import PdfReader

    pages = PdfReader(str(prediction_dir / "report.pdf")).pages
    assert len(pages[0].images) >= 2  # gauge, Radscore (+ fractions)
    assert len(pages[1].images) == 2  # key images, montage
    assert result["habitats_k"] >= 2


def _colour(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=float)


def _dilate(mask: np.ndarray) -> np.ndarray:
    padded = np.pad(mask, 1)
    out = mask.copy()
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            out |= padded[1 + dy : 1 + dy + mask.shape[0], 1 + dx : 1 + dx + mask.shape[1]]
    return out


def _tint_classes(samples: np.ndarray, colours: dict[int, np.ndarray]) -> np.ndarray:
    """For RGB samples of the drawn slices, the label whose fill or outline colour each one shows (0: grey CT).

    A fill is (1 - alpha) grey + alpha colour, so its chroma (RGB minus its mean) is alpha times the colour's chroma
    whatever the grey; an outline is the colour itself. Each sample goes to the nearest of these, or of no chroma."""
    prototypes = [(0, np.zeros(3))]
    for label, colour in colours.items():
        chroma = colour - colour.mean()
        prototypes += [(label, FILL_ALPHA * chroma), (label, chroma)]
    chroma = samples - samples.mean(axis=1, keepdims=True)
    distances = np.stack([np.linalg.norm(chroma - prototype, axis=1) for _, prototype in prototypes])
    return np.array([label for label, _ in prototypes])[np.argmin(distances, axis=0)]


def test_overlay_colours_sit_where_the_regions_are(no_model_dir: Path) -> None:
    analysis = load_case_folder(no_model_dir)
    habitat1 = analysis.habitat_labels[0][1]
    colours = {label: _colour(palette.habitat_colour(number)) for number, label in analysis.habitat_labels}
    colours[analysis.peri_label] = _colour(palette.PERITUMORAL_COLOUR)
    first = colours[habitat1]

    # The composited slice: outline pixels carry the exact colour and only inside their region; pixels outside
    # every region stay grey; the region's inside is tinted towards its colour.
    planes = key_planes(analysis)
    for plane in planes.values():
        rgb = plane.rgb.astype(float)
        for label, colour in colours.items():
            exact = np.all(rgb == colour, axis=2)
            assert exact.any() and np.all(plane.labels[exact] == label), label
        outside = plane.labels == 0
        assert np.all(rgb[outside][:, 0] == rgb[outside][:, 1]) and np.all(rgb[outside][:, 1] == rgb[outside][:, 2])
        inside = plane.labels == habitat1
        assert np.mean(_tint_classes(rgb[inside], colours) == habitat1) > 0.99

    # The rendered figure: map every pixel of habitat 1's colour back to the voxel under it.
    key = key_images_figure(analysis)
    canvas = key.figure.canvas
    canvas.draw()
    pixels = np.asarray(canvas.buffer_rgba())[..., :3].astype(float)
    height = pixels.shape[0]
    for name in ("axial", "coronal", "sagittal"):
        plane = key.planes[name]
        box = plane.axes.get_window_extent()
        rows, columns = np.nonzero(np.linalg.norm(pixels - first, axis=2) < 40)
        x, y = columns + 0.5, height - rows - 0.5  # display coordinates (origin lower left)
        within = (x > box.x0 + 1) & (x < box.x1 - 1) & (y > box.y0 + 1) & (y < box.y1 - 1)
        assert within.sum() > 100, f"{name}: habitat 1 colour not drawn"
        data = plane.axes.transData.inverted().transform(np.column_stack([x[within], y[within]]))
        left, right, bottom, top = plane.extent
        n_rows, n_columns = plane.labels.shape
        column = np.floor((data[:, 0] - left) / (right - left) * n_columns).astype(int).clip(0, n_columns - 1)
        row = np.floor((data[:, 1] - top) / (bottom - top) * n_rows).astype(int).clip(0, n_rows - 1)
        region = _dilate(plane.labels == habitat1)
        assert np.mean(region[row, column]) > 0.98, f"{name}: habitat 1 colour drawn outside habitat 1"

        # Conversely, the pixel over the centre of every voxel is tinted with habitat 1's colour exactly where
        # habitat 1 is.
        voxel_rows, voxel_columns = np.indices(plane.labels.shape)
        centres = np.column_stack([
            left + (voxel_columns.ravel() + 0.5) / n_columns * (right - left),
            top + (voxel_rows.ravel() + 0.5) / n_rows * (bottom - top),
        ])
        display = plane.axes.transData.transform(centres)
        sample = pixels[(height - display[:, 1]).astype(int), display[:, 0].astype(int)]
        tinted = (_tint_classes(sample, colours) == habitat1).reshape(plane.labels.shape)
        assert np.mean(tinted[plane.labels == habitat1]) > 0.95, f"{name}: habitat 1 not coloured"
        assert np.mean(tinted[~region]) < 0.005, f"{name}: habitat 1's colour outside habitat 1"


def test_images_have_physical_aspect_ratio(no_model_dir: Path) -> None:
    analysis = load_case_folder(no_model_dir)
    key = key_images_figure(analysis)
    key.figure.canvas.draw()
    for plane in key.planes.values():
        box = plane.axes.get_window_extent()
        left, right, bottom, top = plane.extent
        assert box.width / box.height == pytest.approx(abs(right - left) / abs(top - bottom), rel=0.02)


def test_identifiers_can_be_left_out(prediction_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "case"
    shutil.copytree(prediction_dir, folder, ignore=shutil.ignore_patterns("report.*"))
    result = json.loads((folder / "result.json").read_text())
    result["case_id"] = "Smith_John_1950"
    result["inputs"]["image"] = "/data/patients/Smith_John_1950/ct.nrrd"
    result["inputs"]["mask"] = "/data/patients/Smith_John_1950/tumour.seg.nrrd"
    result["warnings"].append("The folder /home/jdoe/Smith_John_1950/dicom holds 2 DICOM series; the largest was used.")
    (folder / "result.json").write_text(json.dumps(result))

    render_report(folder, formats=("html", "pdf"), include_identifiers=False)
    html = (folder / "report.html").read_text()
    pages = "\n".join(pdf_pages(folder / "report.pdf"))
    from pypdf import PdfReader

    metadata = str(PdfReader(str(folder / "report.pdf")).metadata)
    for text in (html, pages, metadata):
        assert "Smith" not in text and "/data/patients" not in text and "/home/jdoe" not in text
        assert "identifiers omitted" in text
    assert str(REPO_ROOT) not in html and str(REPO_ROOT) not in pages  # not even the parameter file's folder
    assert f"The folder {PLACEHOLDER} holds 2 DICOM series" in html  # the one placeholder of core.privacy

    render_report(folder, formats=("html",), include_identifiers=True)
    assert "Smith_John_1950" in (folder / "report.html").read_text()


def test_withheld_prediction_and_another_output_folder(no_model_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "case"
    shutil.copytree(no_model_dir, folder, ignore=shutil.ignore_patterns("report.*"))
    result = json.loads((folder / "result.json").read_text())
    result["prediction_withheld"] = "the model needs features this case could not give (peri_x…)"
    result["model"] = {"id": "some-model", "sha256": "1" * 64, "demonstration": False}
    (folder / "result.json").write_text(json.dumps(result))

    [html] = render_report(folder, formats=["html"], out_dir=tmp_path / "export")
    assert html == tmp_path / "export" / "report.html" and not (folder / "report.html").exists()
    text = html.read_text()
    assert "No prediction: withheld (the model needs features this case could not give" in text
    assert "some-model" in text and "NOT FOR CLINICAL USE" not in text


def test_errors_are_sentences(tmp_path: Path, no_model_dir: Path) -> None:
    with pytest.raises(InputFileError, match="not a finished analysis folder"):
        render_report(tmp_path)
    with pytest.raises(SettingsError, match="Unknown report format 'docx'"):
        render_report(no_model_dir, formats=("html", "docx"))


def test_importing_the_report_modules_is_light() -> None:
    probe = (
        "import sys, json; import CCRCCStagingLib.reports.case.render, CCRCCStagingLib.reports.dicom_seg, "
        "CCRCCStagingLib.reports.training.render, CCRCCStagingLib.reports.kit_pdf; "
        "print(json.dumps(sorted(set(sys.modules) & {'numpy', 'SimpleITK', 'matplotlib', 'PIL', 'reportlab', "
        "'highdicom', 'pydicom', 'sklearn'})))"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == []
