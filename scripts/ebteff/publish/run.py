"""What a run produced that a release is made of, and where the release goes."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..io import read_json

LICENSE = "cc-by-4.0"

#: Paths in the dataset repository.
PHOTOMETRY_FILE = "photometry/eb_unified_photometry.parquet"
PHOTOMETRY_SUMMARY_FILE = "photometry/eb_unified_photometry_SUMMARY.txt"
CATALOG_FILE = "catalogs/eb_teff_catalog.fits"
CATALOG_DESCRIPTION_FILE = "catalogs/eb_teff_catalog_DESCRIPTION.txt"
CORRECTION_JSON_FILE = "correction/teff_correction.json"
CORRECTION_PKL_FILE = "correction/teff_correction_coeffs_deg2.pkl"
CARD = "README.md"

#: The files of one model in the model repository, under a folder named after the model.
MODEL_REPO_FILES = ("model.parquet", "metadata.json", "calibration.json", "metrics.json")
#: Files in a staged folder that are not part of the release: Snakemake marks a directory
#: output with this file; it is neither listed in the manifest nor uploaded.
NOT_RELEASED = (".snakemake_timestamp",)

# -- what a run produced -------------------------------------------------------------------


@dataclass(frozen=True)
class ModelRun:
    """One model's files and the JSON documents the workflow wrote about it."""

    name: str
    files: Mapping[str, Path]  # file name in the model repository -> path in the run
    metadata: dict
    calibration: dict
    metrics: dict
    calibration_report: dict
    feature_counts: dict


@dataclass(frozen=True)
class Run:
    """The outputs of a run that a release is made of."""

    photometry: Path
    catalog_fits: Path
    correction_json: Path
    correction_pkl: Path
    photometry_summary: dict
    catalog_summary: dict
    best_calibration: dict
    correction: dict
    split_counts: dict
    fits_header: dict
    models: tuple[ModelRun, ...]
    correction_metrics: dict | None = None
    best_calibration_file: Path | None = None
    label_calibration_file: Path | None = None
    #: results of the external validation (:func:`ebteff.external.validate`), one per table
    validations: tuple[dict, ...] = ()
    #: the models of log g and [M/H] (logg_best, mh_best), released beside the Teff ones
    parameter_models: tuple[ModelRun, ...] = ()


@dataclass(frozen=True)
class Release:
    """Where a release goes and where its inputs came from (config values, no secrets)."""

    dataset_repo: str
    model_repo: str
    revision: str = "main"
    #: ``simulate``, ``huggingface`` or ``local``, with the settings that describe it.
    source: str = "simulate"
    source_detail: Mapping[str, Any] = field(default_factory=dict)
    #: ``train`` or ``huggingface`` (the models were downloaded, pinned, from another release).
    model_source: Mapping[str, Any] = field(default_factory=lambda: {"source": "train"})

    @property
    def simulated(self) -> bool:
        return self.source == "simulate"


def fits_catalog_header(path: str | os.PathLike) -> dict:
    """The catalogue HDU's header cards as a plain dict (columns, units, provenance)."""
    from astropy.io import fits

    header = fits.getheader(path, extname="EB_TEFF")
    return {key: header[key] for key in header if key not in ("COMMENT", "HISTORY", "")}


def load_run(
    *,
    photometry: str | os.PathLike,
    photometry_summary: str | os.PathLike,
    catalog_fits: str | os.PathLike,
    catalog_summary: str | os.PathLike,
    best_calibration: str | os.PathLike,
    correction_json: str | os.PathLike,
    correction_pkl: str | os.PathLike,
    split_counts: str | os.PathLike,
    models: Mapping[str, Mapping[str, str | os.PathLike]],
    correction_metrics: str | os.PathLike | None = None,
    label_calibration: str | os.PathLike | None = None,
    validations: Sequence[str | os.PathLike] = (),
    parameter_models: Mapping[str, Mapping[str, str | os.PathLike]] | None = None,
) -> Run:
    """Read a run's summaries. ``models`` (Teff) and ``parameter_models`` (log g, [M/H]) map a
    name to the paths of its ``model``, ``metadata``, ``calibration``, ``metrics``,
    ``calibration_report`` and ``feature_counts``; ``validations``: the JSON of each external
    validation table."""
    return Run(
        photometry=Path(photometry),
        catalog_fits=Path(catalog_fits),
        correction_json=Path(correction_json),
        correction_pkl=Path(correction_pkl),
        photometry_summary=read_json(photometry_summary),
        catalog_summary=read_json(catalog_summary),
        best_calibration=read_json(best_calibration),
        correction=read_json(correction_json),
        split_counts=read_json(split_counts),
        fits_header=fits_catalog_header(catalog_fits),
        models=_model_runs(models),
        parameter_models=_model_runs(parameter_models or {}),
        correction_metrics=read_json(correction_metrics) if correction_metrics else None,
        best_calibration_file=Path(best_calibration),
        label_calibration_file=Path(label_calibration) if label_calibration else None,
        validations=tuple(read_json(p) for p in validations),
    )


def _model_runs(models: Mapping[str, Mapping[str, str | os.PathLike]]) -> tuple[ModelRun, ...]:
    return tuple(
        ModelRun(
            name=name,
            files={f: Path(paths[f.split(".")[0]]) for f in MODEL_REPO_FILES},
            metadata=read_json(paths["metadata"]),
            calibration=read_json(paths["calibration"]),
            metrics=read_json(paths["metrics"]),
            calibration_report=read_json(paths["calibration_report"]),
            feature_counts=read_json(paths["feature_counts"]),
        )
        for name, paths in models.items()
    )
