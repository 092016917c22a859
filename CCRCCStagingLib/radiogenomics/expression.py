"""Expression data for radiogenomics: read a genes × samples table, pair its samples with the Radscore of each
case, and keep the genes the network is built from.

Gene identifiers are compared in one normal form (:func:`normalise_gene_id`) here and in the gene-set files,
so that a TCGA table (``SYMBOL|ENTREZ``, versioned Ensembl ids) meets an MSigDB GMT file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from ..core.errors import ExpressionDataError, SampleMatchError
from ..core.files import csv_raw, gzip_is_complete

#: WGCNA's FAQ: networks from fewer than 15 samples are too noisy to be worth building.
MIN_SAMPLES = 15
#: Values above this in a table without negative numbers are taken as unlogged counts/TPM/FPKM (``log2="auto"``).
UNLOGGED_MAXIMUM = 100.0

_ENSEMBL_VERSION = re.compile(r"^(ENS[A-Z]*[GT]\d+)\.\d+$", re.IGNORECASE)
# TCGA sample barcode: TCGA-TSS-PARTICIPANT-SAMPLEVIAL…; sample types 01–09 are tumours, 10–19 normals.
_TCGA_SAMPLE = re.compile(r"^TCGA-[A-Z0-9]{2}-[A-Z0-9]{4}-(\d{2})[A-Z]?", re.IGNORECASE)


def normalise_gene_id(gene: str) -> str:
    """One spelling per gene: ``TP53|7157`` → ``TP53`` (``?|100130426`` → ``100130426``), Ensembl version
    suffix dropped (``ENSG00000141510.17`` → ``ENSG00000141510``), upper case (symbols are compared
    case-insensitively), surrounding spaces removed."""
    text = str(gene).strip()
    if "|" in text:
        symbol, _, rest = text.partition("|")
        text = rest if symbol in ("", "?") else symbol
    text = _ENSEMBL_VERSION.sub(r"\1", text.strip())
    return text.upper()


@dataclass
class ExpressionTable:
    """Expression values, genes × samples, with what was done to them on the way in."""

    values: pd.DataFrame
    log2_applied: bool
    notes: list[str] = field(default_factory=list)


def read_expression(path: Path, log2: Literal["auto", "yes", "no"] = "auto") -> ExpressionTable:
    """Read a genes × samples table (CSV by its ``.csv`` suffix, otherwise tab-separated; ``.gz`` allowed).

    The first column holds gene identifiers, the header the sample identifiers. Other non-numeric columns
    (e.g. ``gene_name`` beside Ensembl ids) are dropped and reported. Identifiers are normalised; duplicates
    after that keep the row with the highest mean (WGCNA's ``collapseRows`` "MaxMean"). ``log2`` decides
    whether to apply log2(x + 1): ``auto`` does so when nothing is negative and the maximum exceeds
    ``UNLOGGED_MAXIMUM``.
    """
    path = Path(path)
    if not path.is_file():
        raise ExpressionDataError(f"Expression table {path} does not exist: give a genes × samples CSV/TSV file.")
    separator = "," if path.name.lower().removesuffix(".gz").endswith(".csv") else "\t"
    if path.name.lower().endswith(".gz") and not gzip_is_complete(path):
        raise ExpressionDataError(f"Expression table {path} is truncated or damaged (its gzip data end early); copy it again.")
    try:
        table = pd.read_csv(path, sep=separator, index_col=0)
    except (ValueError, OSError, EOFError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise ExpressionDataError(f"Cannot read expression table {path}: {error}. Expected genes × samples, "
                                  f"{'comma' if separator == ',' else 'tab'}-separated.") from None
    notes = []
    numeric = table.apply(pd.to_numeric, errors="coerce")
    text_columns = [c for c in table.columns if numeric[c].isna().all() and table[c].notna().any()]
    if text_columns:
        notes.append(f"dropped {len(text_columns)} non-numeric column(s): {', '.join(map(str, text_columns[:5]))}")
        numeric = numeric.drop(columns=text_columns)
    if numeric.shape[1] == 0 or numeric.shape[0] == 0:
        raise ExpressionDataError(
            f"{path} has no numeric expression values: expected gene identifiers in the first column and one "
            "column of numbers per sample."
        )
    numeric.index = [normalise_gene_id(g) for g in numeric.index]
    numeric.columns = [str(c).strip() for c in numeric.columns]
    numeric = _collapse_duplicate_genes(numeric, notes)
    log2_applied = _wants_log2(numeric, log2)
    if log2_applied:
        if (numeric < 0).any().any():
            raise ExpressionDataError(f"{path} has negative values: log2(x + 1) cannot be applied; use --log2 no.")
        numeric = np.log2(numeric + 1.0)
        notes.append("log2(x + 1) applied")
    return ExpressionTable(numeric, log2_applied, notes)


def _collapse_duplicate_genes(table: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    if table.index.is_unique:
        return table
    order = np.argsort(-table.mean(axis=1).to_numpy(), kind="stable")
    first_of_each = ~table.index[order].duplicated(keep="first")
    collapsed = table.iloc[np.sort(order[first_of_each])]  # the table's own gene order
    notes.append(f"{len(table) - len(collapsed)} duplicate gene row(s) collapsed (highest mean kept)")
    return collapsed


def _wants_log2(table: pd.DataFrame, log2: str) -> bool:
    if log2 not in ("auto", "yes", "no"):
        raise ExpressionDataError(f"log2 must be auto, yes or no, not {log2!r}.")
    if log2 != "auto":
        return log2 == "yes"
    values = table.to_numpy(dtype=float)
    return bool(np.nanmin(values) >= 0 and np.nanmax(values) > UNLOGGED_MAXIMUM)


def read_radscores(path: Path) -> pd.Series:
    """The Radscore per case from a CSV with columns ``case_id`` and ``radscore`` (as ``train``/``evaluate``
    write in ``radscores.csv``); other columns are ignored."""
    path = Path(path)
    try:
        table = pd.read_csv(path, dtype={"case_id": str})
    except (FileNotFoundError, IsADirectoryError):
        raise SampleMatchError(f"Radscore table {path} does not exist: give the radscores.csv of 'train' or "
                               "'evaluate'.") from None
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise SampleMatchError(f"Cannot read Radscore table {path}: {error}.") from None
    table.columns = [str(c).strip().lower() for c in table.columns]
    if not {"case_id", "radscore"} <= set(table.columns):
        raise SampleMatchError(f"{path} needs the columns case_id and radscore; it has {list(table.columns)}.")
    table["case_id"] = table["case_id"].astype(str).str.strip().map(csv_raw)  # our radscores.csv: raw ids
    duplicated = table["case_id"][table["case_id"].duplicated()].unique().tolist()
    if duplicated:
        raise SampleMatchError(f"{path} lists case(s) {duplicated[:5]} more than once: keep one Radscore per case.")
    scores = pd.to_numeric(table["radscore"], errors="coerce")
    if scores.isna().any():
        bad = table["case_id"][scores.isna()].tolist()
        raise SampleMatchError(f"{path} has no numeric Radscore for case(s) {bad[:5]}: fix or remove those rows.")
    if not np.all(np.isfinite(scores)) or scores.nunique() < 2:
        raise SampleMatchError(
            f"The Radscores in {path} are all equal or not finite: a correlation with them is undefined; give the "
            "radscores.csv of a trained model."
        )
    return pd.Series(scores.to_numpy(float), index=table["case_id"].to_numpy(), name="radscore")


def read_sample_map(path: Path) -> dict[str, str]:
    """An explicit case → expression sample mapping: CSV with columns ``case_id`` and ``sample_id``."""
    try:
        table = pd.read_csv(path, dtype=str)
    except (FileNotFoundError, IsADirectoryError):
        raise SampleMatchError(f"Sample map {path} does not exist.") from None
    table.columns = [str(c).strip().lower() for c in table.columns]
    if not {"case_id", "sample_id"} <= set(table.columns):
        raise SampleMatchError(f"Sample map {path} needs the columns case_id and sample_id; it has "
                               f"{list(table.columns)}.")
    return dict(zip(table["case_id"].str.strip(), table["sample_id"].str.strip()))


@dataclass
class SampleMatch:
    """Which expression sample stands for which case, and why; cases without one are listed with the reason."""

    pairs: pd.DataFrame  # case_id, sample_id, rule, radscore
    unmatched: pd.DataFrame  # case_id, reason

    @property
    def n_matched(self) -> int:
        return len(self.pairs)


def match_samples(radscores: pd.Series, samples: list[str], sample_map: dict[str, str] | None = None) -> SampleMatch:
    """Pair each case with one expression sample.

    Rules, first that applies: (1) the explicit ``sample_map``; (2) a sample named exactly like the case;
    (3) the same ignoring case; (4) TCGA barcodes: samples whose barcode starts with the case id and a dash
    (TCIA names cases by participant, ``TCGA-B0-5399``; TCGA names samples ``TCGA-B0-5399-01A-…``), tumour
    samples only (sample type 01–09, primary tumour 01 preferred), the first in sorted order when several
    remain. Normal-tissue samples are never matched automatically. A sample is used for one case only.
    """
    lower = {s.lower(): s for s in samples}
    pairs, unmatched, used = [], [], {}
    for case_id, score in radscores.items():
        sample, rule = _match_one(case_id, samples, lower, sample_map)
        if sample is None:
            unmatched.append({"case_id": case_id, "reason": rule})
        elif sample in used:
            unmatched.append({"case_id": case_id, "reason": f"sample {sample} already paired with {used[sample]}"})
        else:
            used[sample] = case_id
            pairs.append({"case_id": case_id, "sample_id": sample, "rule": rule, "radscore": float(score)})
    return SampleMatch(
        pd.DataFrame(pairs, columns=["case_id", "sample_id", "rule", "radscore"]),
        pd.DataFrame(unmatched, columns=["case_id", "reason"]),
    )


def _match_one(
    case_id: str, samples: list[str], lower: dict[str, str], sample_map: dict[str, str] | None
) -> tuple[str | None, str]:
    if sample_map is not None:
        sample = sample_map.get(case_id)
        if sample is None:
            return None, "not in the sample map"
        return (sample, "sample map") if sample in samples else (None, f"mapped sample {sample} not in the table")
    if case_id in samples:
        return case_id, "exact"
    if case_id.lower() in lower:
        return lower[case_id.lower()], "ignoring case"
    prefix = case_id.lower() + "-"
    candidates = sorted(s for s in samples if s.lower().startswith(prefix))
    if not candidates:
        return None, "no sample with this id"
    types = {s: _tcga_sample_type(s) for s in candidates}
    tumour = [s for s in candidates if types[s] is not None and 1 <= types[s] <= 9]
    if not tumour:
        return None, f"only non-tumour samples ({', '.join(candidates[:3])})"
    primary = [s for s in tumour if types[s] == 1] or tumour
    rule = "TCGA barcode" if len(primary) == 1 else f"TCGA barcode, first of {len(primary)}"
    return primary[0], rule


def _tcga_sample_type(sample: str) -> int | None:
    found = _TCGA_SAMPLE.match(sample)
    return int(found.group(1)) if found else None


def paired_expression(expression: pd.DataFrame, match: SampleMatch) -> tuple[pd.DataFrame, np.ndarray]:
    """Samples × genes of the paired samples (in case order) and the Radscore vector."""
    if match.n_matched < MIN_SAMPLES:
        examples = "; ".join(f"{r.case_id}: {r.reason}" for r in match.unmatched.head(3).itertuples())
        raise SampleMatchError(
            f"Only {match.n_matched} case(s) have an expression sample; WGCNA needs at least {MIN_SAMPLES}. "
            f"Unmatched, e.g. {examples or 'none'}. Check the ids or give --sample-map CASE_TO_SAMPLE.csv."
        )
    samples = match.pairs["sample_id"].tolist()
    return expression[samples].T, match.pairs["radscore"].to_numpy(float)


def select_genes(
    samples_by_genes: pd.DataFrame, top_genes: int, variability: Literal["mad", "variance"] = "mad"
) -> tuple[pd.DataFrame, list[str]]:
    """Drop genes with missing or constant values, then keep the ``top_genes`` most variable (0 keeps all).

    Variability is measured on the paired samples only: the genes that vary among the cases analysed.
    """
    notes = []
    complete = samples_by_genes.loc[:, samples_by_genes.notna().all(axis=0)]
    if complete.shape[1] < samples_by_genes.shape[1]:
        notes.append(f"{samples_by_genes.shape[1] - complete.shape[1]} gene(s) with missing values dropped")
    values = complete.to_numpy(float)
    if variability == "mad":
        spread = np.median(np.abs(values - np.median(values, axis=0)), axis=0)
    elif variability == "variance":
        spread = values.var(axis=0)
    else:
        raise ExpressionDataError(f"Gene variability must be 'mad' or 'variance', not {variability!r}.")
    # A gene constant across the samples has no correlation; MAD 0 also drops genes that are mostly zero.
    keep = np.flatnonzero((spread > 0) & (values.std(axis=0) > 0))
    if len(keep) < len(spread):
        notes.append(f"{len(spread) - len(keep)} gene(s) without variation ({variability} 0) dropped")
    if top_genes and len(keep) > top_genes:
        keep = keep[np.argsort(-spread[keep], kind="stable")[:top_genes]]
        notes.append(f"restricted to the {top_genes} genes of highest {variability} (memory grows with genes²)")
    return complete.iloc[:, np.sort(keep)], notes
