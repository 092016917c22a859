"""The training report: one self-contained HTML page of a ``ccrcc-staging train`` run, laid out like Huang et
al. (2026).

The sections follow the paper: cohort; feature selection per region with the LASSO tuning and coefficient
profiles (Fig. 3A-H); model performance as Table 2 (one table per split) and Table 3 (the combined region
``mix`` on the held-out splits side by side) with ROC curves (Fig. 3I-L, 4C-D); the Radscore with its
Youden cutoff and the per-split waterfall of Fig. 5C-E; Kaplan-Meier curves of the risk groups (Fig. 5B);
settings and software.

Every table also shows a tumour-volume-only baseline, and a model whose AUC does not exceed it on the same
split is flagged: a radiomics model that cannot beat tumour size has learnt nothing a ruler would not give.

The page is one file: figures are PNGs embedded as base64 data URIs and nothing is loaded from elsewhere
(no scripts, web fonts or style sheets), so it opens offline, can be archived or mailed, and prints.

Every part of the summary is optional: a missing part renders as a sentence saying so, never as an error.
matplotlib (object API, Agg canvas) is imported inside the plotting functions so that importing this module
costs nothing at CLI start-up.

The parts: :mod:`.render` (entry point, header, cohort, feature selection), :mod:`.performance`, :mod:`.outcome`
(Radscore and survival), :mod:`.names` (names, order and colours they share).
"""
