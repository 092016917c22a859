"""The per-case report of an analysis folder: one self-contained HTML file and an A4 PDF with the same content.

``render.render_report(result_dir, formats=("html", "pdf"))`` reads what ``ccrcc-staging analyze`` wrote
(``result.json`` through the typed schema, ``regions.nrrd`` and ``ct_box.nrrd``) and writes ``report.html`` /
``report.pdf`` beside them. Both show, in this order:

* the case (identifier from DICOM PatientID or the file name, left out with ``include_identifiers=False``), the
  dates, and a prominent "not for clinical use" notice when the model is the demonstration model;
* the predicted T-stage group, its probability against the decision threshold as a gauge, and the Radscore against
  its cutoff and the training distribution (or "no prediction (no model)" / the withheld reason);
* the regions: habitat count, volumes and habitat fractions;
* key images: axial, coronal and sagittal slices through the tumour centre, CT in a soft-tissue window (W 400 /
  L 40), habitats and the peritumoral shell as fill + outline in the project's palette, a legend, at physical
  aspect ratio (the HTML also has a slice scroller through the tumour, plain JavaScript);
* the model's selected features (value, training mean ± SD, out-of-distribution flag), warnings, the model card
  summary; inputs and geometry, software versions, settings and timings.

The parts: :mod:`.folder` reads the analysis folder, :mod:`.content` says what the report says (texts and tables),
:mod:`.key_images` and :mod:`.charts` draw, :mod:`.html_page` and :mod:`.pdf_document` lay it out, :mod:`.render`
ties them together. Importing any of them is cheap: numpy, SimpleITK, matplotlib, Pillow and reportlab are
imported inside the functions that need them.
"""
