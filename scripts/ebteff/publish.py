"""Publishing a run on the Hugging Face Hub, and using models published by another run.

Staging (:func:`stage`) copies what a run produced into one folder per Hub repository and
writes their cards:

- ``dataset/``: the photometry table with a summary, the FITS catalogue with a description of its
  columns, the hot-star correction (JSON, and the earlier pipeline's pickle format), ``README.md``;
- ``models/``: per model a folder with its forest, metadata, calibration and metrics, and
  ``README.md``.

Every number in a card, a summary or a description is read from a file the workflow wrote (the
photometry and catalogue summaries, each model's metrics, calibration and metadata, the
correction, the FITS header): nothing is typed in by hand, so a card cannot drift from the run
it describes. :func:`stage` returns the manifest: every staged file with its size and sha256.

Upload (:func:`upload`) creates each repository if needed (``create_repo(exist_ok=True)``) and
sends its folder as one ``upload_folder`` commit. Files the Hub already holds are not sent again:
the Hub's ``preupload`` answer gives the oid of the file at each path and the client drops
unchanged files from the commit (and makes no commit at all when nothing changed), and the LFS
batch answer has no upload action for content the Hub already stores. A dry run (the default of
the workflow) checks the staged folders against the manifest and reports what would be sent,
without a single request. The token is an argument, never logged; a real upload without one
fails before any request.

Published models (:func:`fetch_model`): a model file from outside the run is used only when its
sha256 is pinned in the config (:func:`model_pins`). Our forests are Parquet tables that load
without running code, but the rule does not depend on the format: nothing from outside is
trusted without a pin.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import __version__
from .calibrate import ONE_SIGMA, TWO_SIGMA
from .columns import column_doc
from .evaluate import markdown_table
from .flags import FLAG_MEANING
from .io import sha256sum
from .split import SPLITS

logger = logging.getLogger(__name__)

LICENSE = "cc-by-4.0"
MANIFEST_FORMAT = "ebteff-publish-manifest-v1"

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
#: The files a run needs to use a published model instead of training it (each one pinned).
MODEL_FETCH_FILES = ("model.parquet", "metadata.json")
#: What else `snakemake stars` takes from a release as published (each one pinned): per model
#: its calibration, and for the release the best-of calibration and the hot-star correction.
STARS_MODEL_FILES = ("calibration.json",)
BEST_CALIBRATION_RELEASE_FILE = "teff_best_calibration.json"
CORRECTION_RELEASE_FILE = "teff_correction.json"
LABEL_CALIBRATION_RELEASE_FILE = "teff_gaia_corrected.json"

#: Files in a staged folder that are not part of the release: Snakemake marks a directory
#: output with this file; it is neither listed in the manifest nor uploaded.
NOT_RELEASED = (".snakemake_timestamp",)

#: ``ebteff.forest.FORMAT``, not imported from there: that would pull in scikit-learn, which
#: checking a downloaded forest's header does not need.
FOREST_FORMAT = "ebteff-forest-v1"

#: The Hub's size categories (``size_categories`` in a dataset card), by number of rows.
SIZE_CATEGORIES = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
)

COVERAGE_LABELS = {
    "gaia": "Gaia DR3: G, BP, RP, parallax, proper motion",
    "panstarrs1": "Pan-STARRS1: g, r, i, z, y (Dec > -30 deg only)",
    "twomass": "2MASS: J, H, Ks",
    "teff_gaia": "GSP-Phot Teff",
    "logg_gaia": "GSP-Phot log g",
    "mh_gaia": "GSP-Phot [M/H]",
}

#: What calibrated Gaussian uncertainties give (the PIT of a uniform: 1/sqrt(12)).
IDEAL = {"within_1sigma": ONE_SIGMA, "within_2sigma": TWO_SIGMA, "pit_std": 12**-0.5}


class StagingError(ValueError):
    """The staged folders are not what the manifest says (edited or incomplete)."""


class MissingTokenError(RuntimeError):
    """A real upload was asked for without a token."""


class UnpinnedModelError(ValueError):
    """A published model file has no sha256 pin in the config."""


class PublishedModelMismatchError(ValueError):
    """A published model does not fit the model of the same name in the config."""


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


def _read_json(path: str | os.PathLike) -> dict:
    with open(path) as fh:
        return json.load(fh)


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
) -> Run:
    """Read a run's summaries. ``models`` maps a name to the paths of its ``model``,
    ``metadata``, ``calibration``, ``metrics``, ``calibration_report`` and ``feature_counts``."""
    runs = []
    for name, paths in models.items():
        runs.append(
            ModelRun(
                name=name,
                files={f: Path(paths[f.split(".")[0]]) for f in MODEL_REPO_FILES},
                metadata=_read_json(paths["metadata"]),
                calibration=_read_json(paths["calibration"]),
                metrics=_read_json(paths["metrics"]),
                calibration_report=_read_json(paths["calibration_report"]),
                feature_counts=_read_json(paths["feature_counts"]),
            )
        )
    return Run(
        photometry=Path(photometry),
        catalog_fits=Path(catalog_fits),
        correction_json=Path(correction_json),
        correction_pkl=Path(correction_pkl),
        photometry_summary=_read_json(photometry_summary),
        catalog_summary=_read_json(catalog_summary),
        best_calibration=_read_json(best_calibration),
        correction=_read_json(correction_json),
        split_counts=_read_json(split_counts),
        fits_header=fits_catalog_header(catalog_fits),
        models=tuple(runs),
        correction_metrics=_read_json(correction_metrics) if correction_metrics else None,
        best_calibration_file=Path(best_calibration),
        label_calibration_file=Path(label_calibration) if label_calibration else None,
    )


# -- formatting ------------------------------------------------------------------------------


def _int(n: int) -> str:
    return f"{int(n):,}"


def _k(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.0f} K"


def _pct(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{100 * x:.{digits}f}%"


def _num(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def human_size(n: int) -> str:
    """Bytes in decimal units, as the Hub shows them."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def size_category(rows: int) -> str:
    """The Hub's ``size_categories`` value for a table of ``rows`` rows."""
    for bound, label in SIZE_CATEGORIES:
        if rows < bound:
            return label
    return "n>1B"


def front_matter(metadata: Mapping[str, Any]) -> str:
    """A card's YAML header (the Hub reads license, tags, task and library from it)."""
    text = yaml.safe_dump(dict(metadata), sort_keys=False, allow_unicode=True)
    return f"---\n{text}---\n"


def _table(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _code(text: str, language: str = "python") -> str:
    return f"```{language}\n{text.strip()}\n```\n"


# -- shared card sections ----------------------------------------------------------------------


def _origin_note(run: Run, release: Release) -> str:
    """What the stars are: simulated (said first and plainly), downloaded or a local table."""
    rows = _int(run.photometry_summary["rows"])
    detail = release.source_detail
    if release.simulated:
        seed = f", seed {detail['seed']}" if "seed" in detail else ""
        return (
            f"> **Simulated data.** The {rows} stars of this release come from the workflow's "
            f"simulator (`ebteff.sim.simulate`{seed}): they have the schema, survey coverage and "
            "missing-value pattern of the Gaia DR3 eclipsing-binary table, but no row is a real "
            "star. Use this release to test code and to see what the workflow produces, not "
            "for science.\n"
        )
    if release.source == "huggingface":
        return (
            f"The photometry of the {rows} stars is the table "
            f"`{detail.get('filename', PHOTOMETRY_FILE)}` of the dataset "
            f"`{detail.get('repo_id')}` at revision `{detail.get('revision')}`.\n"
        )
    return f"The photometry of the {rows} stars is a local table given to the workflow.\n"


def _coverage_in_order(summary: dict) -> list[tuple[str, dict]]:
    """Surveys first, then labels (the order of COVERAGE_LABELS), then anything else."""
    cov = summary["coverage"]
    order = [k for k in COVERAGE_LABELS if k in cov] + sorted(set(cov) - set(COVERAGE_LABELS))
    return [(k, cov[k]) for k in order]


def _provenance_rows(run: Run) -> list[tuple[str, str]]:
    header = run.fits_header
    rows = [
        ("workflow", f"ebteff {header.get('WFVERS', __version__)}"),
        ("configuration hash", f"`{header['CFGHASH']}`" if "CFGHASH" in header else "n/a"),
        ("photometry sha256", f"`{run.photometry_summary['sha256']}`"),
        ("catalogue date (UTC)", str(header.get("DATE", "n/a"))),
    ]
    inputs = run.correction.get("inputs", {})
    if "reference_sha256" in inputs:
        rows.append(("correction reference sha256", f"`{inputs['reference_sha256']}`"))
    return rows


def correction_section(run: Run, heading: str = "##") -> str:
    """The hot-star correction: formula, coefficients and how it was obtained."""
    c = run.correction
    coeffs = c["coefficients"]
    poly = " + ".join(
        f"c{i}" + ("" if i == 0 else " T" if i == 1 else f" T^{i}") for i in range(len(coeffs))
    )
    lines = [
        f"{heading} Hot-star correction",
        "",
        "GSP-Phot underestimates the Teff of hot stars. A polynomial P(T) = "
        f"{poly} maps GSP-Phot Teff T to a reference Teff, blended in smoothly above "
        f"{_k(c['threshold'])}:",
        "",
        _code(c["formula"], "text"),
        _table(
            ["coefficient", "value"],
            [(f"c{i}", f"{v:.8g}") for i, v in enumerate(coeffs)]
            + [("threshold", _k(c["threshold"])), ("blend width", _k(c["width"]))],
        ),
    ]
    fit = c.get("fit")
    if fit:
        lo, hi = fit["fit_range_k"]
        lines.append(
            f"Fitted on {_int(fit['n_used'])} reference stars with GSP-Phot Teff from {_k(lo)} "
            f"to {_k(hi)} ({_int(fit['n_clipped'])} clipped at {fit['clip_sigma']:g} sigma; "
            f"residual rms {_k(fit['rms_k'])}).\n"
        )
    metrics = run.correction_metrics
    if metrics and "above_threshold" in metrics:
        hot = metrics["above_threshold"]
        lines.append(
            f"For the {_int(hot['raw']['n'])} stars whose simulated true Teff exceeds "
            f"{_k(hot['threshold_k'])}, the correction takes the mean error of GSP-Phot from "
            f"{hot['raw']['bias']:+,.0f} K to {hot['corrected']['bias']:+,.0f} K.\n"
        )
    return "\n".join(lines)


# -- dataset card and texts ------------------------------------------------------------------


def render_photometry_summary(run: Run) -> str:
    """Plain-text summary of the photometry table (``..._SUMMARY.txt``)."""
    s = run.photometry_summary
    lines = [
        f"{s['file']}: {_int(s['rows'])} stars, {human_size(s['bytes'])}",
        f"sha256 {s['sha256']}",
        "Missing values are -999.0 in every numeric column; source_id (Gaia DR3) is unique.",
        "",
        "Coverage (stars with the survey or label):",
    ]
    for key, cov in _coverage_in_order(s):
        label = COVERAGE_LABELS.get(key, key)
        lines.append(f"  {label:<48} {_int(cov['count']):>12}  {_pct(cov['fraction'])}")
    t = s.get("teff_gaia") or {}
    if t.get("count"):
        lines += [
            "",
            f"GSP-Phot Teff of the {_int(t['count'])} labelled stars:",
            f"  mean {_k(t['mean'])}, median {_k(t['median'])}, std {_k(t['std'])}",
            f"  range {_k(t['min'])} to {_k(t['max'])}; "
            f"5/16/84/95% quantiles {_k(t['q05'])} / {_k(t['q16'])} / {_k(t['q84'])} / "
            f"{_k(t['q95'])}",
            f"  < 4,000 K: {_pct(t['frac_lt4000'])}; 4,000-6,000 K: {_pct(t['frac_4000_6000'])}; "
            f"6,000-10,000 K: {_pct(t['frac_6000_10000'])}; >= 10,000 K: "
            f"{_pct(t['frac_ge10000'])}",
        ]
    lines += ["", "Non-missing fraction per column:"]
    for col, frac in sorted(s.get("column_coverage", {}).items()):
        lines.append(f"  {col:<14} {_pct(frac)}")
    if s.get("extra_columns"):
        lines += ["", "Columns beyond the upstream schema: " + ", ".join(s["extra_columns"])]
    return "\n".join(lines) + "\n"


def catalog_columns(run: Run) -> list[tuple[str, str, str]]:
    """(name, unit, description) of every catalogue column, in FITS order."""
    header = run.fits_header
    out = []
    for i in range(1, int(header["TFIELDS"]) + 1):
        name = header[f"TTYPE{i}"]
        unit = header.get(f"TUNIT{i}") or column_doc(name)[0]
        out.append((name, unit, column_doc(name)[1]))
    return out


def render_catalog_description(run: Run) -> str:
    """Plain-text description of the FITS catalogue (``..._DESCRIPTION.txt``)."""
    header = run.fits_header
    s = run.catalog_summary
    lines = [
        f"{CATALOG_FILE}: binary table in HDU EB_TEFF, {_int(header['NAXIS2'])} rows "
        "(one per input star), FITS checksums set.",
        "Null values are NaN in floating-point columns.",
        "",
        "Columns:",
    ]
    for name, unit, doc in catalog_columns(run):
        lines.append(f"  {name:<34} {unit or '-':<4} {doc}")
    lines += ["", "Quality flags:"]
    for flag, meaning in FLAG_MEANING.items():
        lines.append(
            f"  {flag}  {meaning:<56} {_int(s['flags'][flag]):>12}  "
            f"{_pct(s['flag_fractions'][flag])}"
        )
    lines += ["", "Provenance (header keywords of HDU EB_TEFF):"]
    for key, value in header.items():
        if key in ("ORIGIN", "WFVERS", "CFGHASH", "PHOTSHA", "NSTARS", "DATE") or key.startswith(
            ("CORRC", "MODEL", "MSHA")
        ):
            lines.append(f"  {key:<8} = {value}")
    return "\n".join(lines) + "\n"


def dataset_usage(release: Release) -> str:
    return _code(
        f'''
import polars as pl
from astropy.table import Table
from huggingface_hub import hf_hub_download

REPO, REVISION = "{release.dataset_repo}", "{release.revision}"


def fetch(filename):
    return hf_hub_download(REPO, filename, repo_type="dataset", revision=REVISION)


# -999.0 marks a missing value in every numeric column: make it null.
photometry = pl.read_parquet(fetch("{PHOTOMETRY_FILE}"))
photometry = photometry.with_columns(pl.col(pl.Float64).replace(-999.0, None))
catalogue = Table.read(fetch("{CATALOG_FILE}"), hdu="EB_TEFF")
print(photometry.height, "stars;", (catalogue["flag"] == "A").sum(), "with GSP-Phot Teff")
'''
    )


def render_dataset_card(run: Run, release: Release, files: Mapping[str, dict]) -> str:
    """The dataset repository's ``README.md``. ``files``: staged path -> size, sha256."""
    s = run.photometry_summary
    cat = run.catalog_summary
    models = [m.name for m in run.models]
    meta = {
        "license": LICENSE,
        "pretty_name": "Gaia DR3 eclipsing binaries: photometry and effective temperatures",
        "size_categories": [size_category(s["rows"])],
        "task_categories": ["tabular-regression"],
        "tags": [
            "astronomy",
            "gaia",
            "eclipsing-binaries",
            "stellar-parameters",
            "effective-temperature",
            *(["simulated"] if release.simulated else []),
        ],
        "configs": [
            {"config_name": "photometry", "data_files": PHOTOMETRY_FILE, "default": True},
        ],
    }
    what = (
        "Multi-survey photometry (Gaia DR3, Pan-STARRS1, 2MASS) of eclipsing binaries found by "
        "Gaia DR3, and an effective temperature (Teff) with a calibrated uncertainty for each "
        "star: GSP-Phot where Gaia has one, otherwise the best of "
        f"{len(models)} random-forest models (`{release.model_repo}`)."
    )
    out = [
        front_matter(meta),
        "# Gaia DR3 eclipsing binaries: photometry and effective temperatures",
        "",
        _origin_note(run, release),
        what,
        "",
        "## Files",
        "",
        _table(
            ["file", "size", "content", "sha256"],
            [
                (f"`{p}`", human_size(e["size"]), _FILE_ROLE.get(p, ""), f"`{e['sha256']}`")
                for p, e in sorted(files.items())
            ],
        ),
        "## Photometry",
        "",
        f"`{PHOTOMETRY_FILE}`: {_int(s['rows'])} stars, one row each, key `source_id` "
        "(Gaia DR3). Every numeric column writes a missing value as `-999.0`.",
        "",
        _table(
            ["survey or label", "stars", "fraction"],
            [
                (COVERAGE_LABELS.get(k, k), _int(c["count"]), _pct(c["fraction"]))
                for k, c in _coverage_in_order(s)
            ],
        ),
    ]
    t = s.get("teff_gaia") or {}
    if t.get("count"):
        out += [
            f"GSP-Phot Teff of the {_int(t['count'])} labelled stars: mean {_k(t['mean'])}, "
            f"median {_k(t['median'])}, from {_k(t['min'])} to {_k(t['max'])}.",
            "",
            _table(
                ["Teff", "< 4,000 K", "4,000-6,000 K", "6,000-10,000 K", ">= 10,000 K"],
                [
                    (
                        "fraction",
                        _pct(t["frac_lt4000"]),
                        _pct(t["frac_4000_6000"]),
                        _pct(t["frac_6000_10000"]),
                        _pct(t["frac_ge10000"]),
                    )
                ],
            ),
        ]
    out += [
        "## Catalogue",
        "",
        f"`{CATALOG_FILE}` (HDU `EB_TEFF`): every one of the {_int(cat['rows'])} stars. "
        "`teff_best` is the hot-star corrected GSP-Phot Teff where Gaia has one, otherwise the "
        "prediction with the smallest calibrated uncertainty among the models that have the "
        f"star's features. {_pct(cat['coverage']['with_teff'])} of the stars have a Teff "
        f"({_pct(cat['coverage']['gaia'])} GSP-Phot, {_pct(cat['coverage']['ml'])} ML).",
        "",
        _table(
            ["flag", "meaning", "stars", "fraction"],
            [
                (f"`{f}`", FLAG_MEANING[f], _int(cat["flags"][f]), _pct(cat["flag_fractions"][f]))
                for f in FLAG_MEANING
            ],
        ),
        _table(
            ["model", "stars it can predict", "gave `teff_best`"],
            [
                (
                    f"`{m}`",
                    _int(cat["predicted_by_model"][m]),
                    _int(cat["model_won_for_teff_best"][m]),
                )
                for m in models
            ],
        ),
    ]
    q = cat.get("ml_sigma_quantiles_k") or {}
    if q:
        out.append(
            f"Calibrated 1-sigma uncertainty of the ML `teff_best` values: median {_k(q['q50'])}"
            f" (16-84%: {_k(q['q16'])} to {_k(q['q84'])}).\n"
        )
    out.append(_best_calibration_text(run))
    out += [
        "Columns:",
        "",
        _table(["column", "unit", "description"], catalog_columns(run)),
        correction_section(run),
        "The correction is in `correction/teff_correction.json` and, for the earlier pipeline's "
        "code, in its pickle format (`correction/teff_correction_coeffs_deg2.pkl`). Prefer the "
        "JSON: unpickling a file runs whatever code it contains.\n",
        "## Usage",
        "",
        dataset_usage(release),
        "## Provenance",
        "",
        _table(["", "value"], _provenance_rows(run)),
        "## License",
        "",
        "CC BY 4.0." + ("" if release.simulated else _SURVEY_CREDIT),
        "",
    ]
    return "\n".join(out)


_SURVEY_CREDIT = (
    " Built from data of the ESA mission Gaia (DR3, processed by DPAC), Pan-STARRS1 and 2MASS: "
    "acknowledge these surveys when you use it."
)

_FILE_ROLE = {
    PHOTOMETRY_FILE: "multi-survey photometry, one row per star",
    PHOTOMETRY_SUMMARY_FILE: "coverage and Teff statistics of the photometry",
    CATALOG_FILE: "Teff catalogue with uncertainties and quality flags",
    CATALOG_DESCRIPTION_FILE: "columns, flags and provenance of the catalogue",
    CORRECTION_JSON_FILE: "hot-star correction (coefficients, fit)",
    CORRECTION_PKL_FILE: "the same correction in the earlier pipeline's pickle format",
}


def _best_calibration_text(run: Run) -> str:
    test = run.best_calibration.get("test", {}).get("overall") or {}
    if not test.get("n"):
        return ""
    return (
        f"Uncertainties check out on {_int(test['n'])} test stars (labelled stars the models "
        "never trained on, treated as if unlabelled): "
        f"{_pct(test['within_1sigma'])} lie within 1 sigma of the best ML Teff (ideal "
        f"{_pct(IDEAL['within_1sigma'])}), {_pct(test['within_2sigma'])} within 2 sigma (ideal "
        f"{_pct(IDEAL['within_2sigma'])}); PIT standard deviation {_num(test['pit_std'])} "
        f"(ideal {_num(IDEAL['pit_std'])}).\n"
    )


# -- model card ----------------------------------------------------------------------------------


def _learns(meta: dict) -> str:
    return "log10 Teff" if meta["transform"] == "log10" else "Teff"


def model_usage(release: Release, names: list[str], pins: Mapping[str, str]) -> str:
    """A snippet that downloads the release and predicts every model, ``teff_best`` and the
    flag for published stars (any table of stars works the same way)."""
    pin_lines = "\n".join(f"    {k!r}: {v!r}," for k, v in pins.items())
    return _code(
        f'''
import hashlib
from pathlib import Path

import polars as pl
from huggingface_hub import hf_hub_download

# ebteff is the workflow's own library: `pip install .` in a checkout of the workflow installs
# it. The models are Parquet tables of tree nodes, not pickles: loading runs no code.
import ebteff

MODELS, DATASET, REVISION = "{release.model_repo}", "{release.dataset_repo}", "{release.revision}"
# sha256 of every file of the release this card describes: refuse any other
PINS = {{
{pin_lines}
}}
FOLDER = Path("ebteff-models")
for filename, sha256 in PINS.items():
    path = hf_hub_download(MODELS, filename, revision=REVISION, local_dir=FOLDER)
    with open(path, "rb") as fh:
        if hashlib.sha256(fh.read()).hexdigest() != sha256:
            raise ValueError(f"{{path}} is not the file this card describes")

# The first 1,000 stars of the published photometry. A table of your own works the same way:
# upstream or Gaia Archive column names, missing values null, NaN or -999.0.
photometry = hf_hub_download(DATASET, "{PHOTOMETRY_FILE}", repo_type="dataset", revision=REVISION)
stars = pl.read_parquet(photometry, n_rows=1000)
# every model's Teff and calibrated 1-sigma error, teff_best, its error and source, the flag
result = ebteff.predict_table(stars, FOLDER, models={names!r})
print(result.select("source_id", "teff_best", "teff_best_err", "teff_best_source", "flag").head())
'''
    )


def _calibration_rows(model: ModelRun) -> list[tuple]:
    """Per calibration bin what a user reads off: median widths of the 68% (p16-p84) and 90%
    (p05-p95) ranges and the median shift of p50 from the prediction, in K."""

    def width(par, key):
        return _k(par[key]) if key in par else "-"

    return [
        (
            par["name"],
            _int(par["n"]),
            width(par, "width_68_median_k"),
            width(par, "width_90_median_k"),
            width(par, "p50_offset_median_k"),
            f"{_pct(par['coverage_1sigma'])} / {_pct(par['coverage_2sigma'])}",
        )
        for par in model.calibration["bins"]
    ]


def _coverage_rows(model: ModelRun, by: str = "by_label_bin") -> list[tuple]:
    report = model.calibration_report["test"]
    by_bin = report[by]

    def row(label, st):
        if not st.get("n"):
            return (label, "0", "", "", "", "")
        return (
            label,
            _int(st["n"]),
            _pct(st["within_1sigma"]),
            _pct(st["within_2sigma"]),
            _num(st["pit_std"]),
            _k(st["sigma_median_k"]),
        )

    rows = [row(f"{name} K", st) for name, st in by_bin["per_bin"].items()]
    rows.append(row("**all (calibrated)**", by_bin["overall"]))
    rows.append(row("all, raw tree spread", report["raw_tree_spread"]["overall"]))
    return rows


def model_section(model: ModelRun, files: Mapping[str, dict]) -> str:
    meta = model.metadata
    hp = meta["hyperparameters"]
    counts = model.feature_counts
    entry = files[f"{model.name}/model.parquet"]
    test = model.metrics["splits"]["test"]
    rows = {"test vs label": test["vs_label"]["overall"]}
    if "vs_truth" in test:
        rows["test vs simulated truth"] = test["vs_truth"]["overall"]
    train = model.metrics["splits"].get("train", {})
    if "vs_label" in train:
        rows["train vs label"] = train["vs_label"]["overall"]
    importances = sorted(meta["feature_importances"].items(), key=lambda kv: -kv[1])
    by_split = counts.get("usable_by_split", {})
    lo, hi = counts.get("teff_range_k", [None, None])
    out = [
        f"## `{model.name}`",
        "",
        f"- features, in this order: {', '.join(f'`{f}`' for f in meta['features'])}",
        f"- label: `{meta['target']}`; the forest predicts {meta['predicts']}",
        f"- labelled stars with every feature: {_int(counts['usable'])} ("
        + ", ".join(f"{k} {_int(by_split[k])}" for k in SPLITS if k in by_split)
        + f"); labels outside {_k(lo)} to {_k(hi)} left out",
        "- random forest: "
        + ", ".join(f"{k} = {v}" for k, v in hp.items())
        + f"; {_int(meta['n_nodes'])} nodes",
        f"- file: `{model.name}/model.parquet`, {human_size(entry['size'])}, "
        f"sha256 `{entry['sha256']}`",
        "",
        markdown_table(rows, "Accuracy"),
        markdown_table(test["vs_label"]["per_bin"], "Test stars per bin of the label"),
        "### Uncertainty",
        "",
        "`sigma = k * (floor^2 + spread^2)^(p/2)`, where `spread` is the standard deviation of "
        "the trees' predictions in K; `k`, `floor` and `p` are fitted per bin of predicted Teff "
        f"on the {_int(model.calibration['calibration_stars'])} stars of the calibration split "
        "so that 68.27% of them lie within 1 sigma and 95.45% within 2 sigma (as nearly as both "
        "can hold; sparse bins are merged). The percentiles p05 ... p95 of each star are "
        "`prediction + z_q * sigma`, with z_q the split-conformal quantiles of "
        "(label - prediction) / sigma in the bin (`calibration.json`, `z_percentiles`); the "
        "catalogue's `_err` is (p84 - p16) / 2. Per bin, the typical widths:",
        "",
        _table(
            [
                "predicted Teff (K)",
                "calibration stars",
                "median p16-p84 width",
                "median p05-p95 width",
                "median p50 - prediction",
                "within 1 / 2 sigma",
            ],
            _calibration_rows(model),
        ),
        "Coverage on the test split (ideal: "
        f"{_pct(IDEAL['within_1sigma'])} within 1 sigma, {_pct(IDEAL['within_2sigma'])} within "
        f"2 sigma, PIT standard deviation {_num(IDEAL['pit_std'])}), per bin of the predicted "
        "Teff (what a catalogue user can select on):",
        "",
        _table(
            [
                "predicted Teff",
                "stars",
                "within 1 sigma",
                "within 2 sigma",
                "PIT std",
                "median sigma",
            ],
            _coverage_rows(model, "by_predicted_bin"),
        ),
        "and per bin of the label:",
        "",
        _table(
            ["label Teff", "stars", "within 1 sigma", "within 2 sigma", "PIT std", "median sigma"],
            _coverage_rows(model),
        ),
        "### Feature importances",
        "",
        _table(["feature", "importance"], [(f"`{f}`", _num(v)) for f, v in importances]),
    ]
    return "\n".join(out)


def _limitations(run: Run, release: Release) -> list[str]:
    """What the measurements say the models cannot do, general points first, then per model."""
    items = []
    cat = run.catalog_summary
    if release.simulated:
        items.append(
            "The models were trained on simulated stars. They demonstrate the workflow; they "
            "are not fit for real Gaia photometry."
        )
    items += [
        "The labels are GSP-Phot temperatures (hot-star corrected for the models whose label "
        "is `teff_gaia_corrected`), not spectroscopic ones: the models reproduce GSP-Phot, "
        "its systematics included.",
        "An eclipsing binary's photometry is the combined light of both stars, and so is the "
        "Teff predicted from it.",
        "Features are observed magnitudes and colours, not corrected for extinction: reddening "
        "is learned only as far as the training stars sample it.",
    ]
    for m in run.models:
        test = m.metrics["splits"]["test"]
        overall = test["vs_label"]["overall"]
        facts = []
        bins = {k: v for k, v in test["vs_label"]["per_bin"].items() if v.get("n")}
        if bins:
            worst = max(bins, key=lambda k: bins[k]["mae"])
            facts.append(
                f"least accurate for labels of {worst} K (test MAE {_k(bins[worst]['mae'])} over "
                f"{_int(bins[worst]['n'])} stars, {_k(overall['mae'])} over all)"
            )
        if "vs_truth" in test:
            facts.append(
                f"test MAE against the simulated true Teff {_k(test['vs_truth']['overall']['mae'])}"
                f", against the label {_k(overall['mae'])}: a model of the label inherits the "
                "label's errors"
            )
        under = [
            f"{b} K ({_pct(st['within_1sigma'])} within 1 sigma, {_pct(st['within_2sigma'])} "
            "within 2)"
            for b, st in m.calibration_report["test"]["by_label_bin"]["per_bin"].items()
            if st.get("n") and st["within_1sigma"] < IDEAL["within_1sigma"] - 0.03
        ]
        if under:
            facts.append(
                "uncertainties too small for stars whose label is in "
                + ", ".join(under)
                + ": the model regresses such stars towards the mean, and nothing it can see "
                "tells them from stars it predicts well"
            )
        predicted = cat["predicted_by_model"].get(m.name)
        if predicted is not None and predicted < cat["rows"]:
            facts.append(
                f"predicts only stars with all of its features: {_int(predicted)} of "
                f"{_int(cat['rows'])} ({_pct(predicted / cat['rows'])})"
            )
        if facts:
            items.append(f"`{m.name}`: " + "; ".join(facts) + ".")
    return items


def render_model_card(run: Run, release: Release, files: Mapping[str, dict]) -> str:
    """The model repository's ``README.md``. ``files``: staged path -> size, sha256."""
    first = run.models[0]
    split = run.split_counts["by_split"]
    versions = first.metadata.get("versions", {})
    meta = {
        "library_name": "scikit-learn",
        "pipeline_tag": "tabular-regression",
        "license": LICENSE,
        "tags": [
            "astronomy",
            "gaia",
            "eclipsing-binaries",
            "effective-temperature",
            "random-forest",
            *(["simulated"] if release.simulated else []),
        ],
        "datasets": [release.dataset_repo],
    }
    rows = []
    for m in run.models:
        test = m.metrics["splits"]["test"]["vs_label"]["overall"]
        cov = m.calibration_report["test"]["by_label_bin"]["overall"]
        rows.append(
            (
                f"[`{m.name}`](#{m.name})",
                len(m.metadata["features"]),
                f"`{m.metadata['target']}`",
                _learns(m.metadata),
                _k(test["mae"]),
                _k(test["rmse"]),
                _num(test["r2"]),
                _pct(test["within_10pct"]),
                _pct(cov["within_1sigma"]),
                human_size(files[f"{m.name}/model.parquet"]["size"]),
            )
        )
    downloaded = release.model_source.get("source") == "huggingface"
    origin = (
        f"They were downloaded, sha256-pinned, from `{release.model_source.get('repo_id')}` "
        f"(revision `{release.model_source.get('revision')}`) and evaluated and calibrated "
        "again on this run's data."
        if downloaded
        else "They were trained by the workflow on one split of the labelled stars shared by "
        f"every model: {_int(split['train'])} for training, {_int(split['calibration'])} to "
        f"calibrate the uncertainties, {_int(split['test'])} to test."
    )
    out = [
        front_matter(meta),
        "# Random-forest Teff models for Gaia DR3 eclipsing binaries",
        "",
        _origin_note(run, release),
        f"{len(run.models)} scikit-learn random forests that predict the effective temperature "
        "of an eclipsing binary from its photometry, each with a calibrated 1-sigma "
        f"uncertainty. {origin} The catalogue they produced is in `{release.dataset_repo}`.",
        "",
        "Each model is a Parquet table of tree nodes (`ebteff-forest-v1`), not a pickle: "
        "loading one runs no code, and `ebteff.forest.load_forest` rebuilds a scikit-learn "
        "`RandomForestRegressor` that takes every split as the trained one did (thresholds "
        "are stored exactly; leaf values as float32, within 1 part in 10^7).",
        "",
        "## Models",
        "",
        "Metrics of the test split against the label; *within 1 sigma* is the fraction of test "
        "stars within their calibrated 1-sigma uncertainty (ideal "
        f"{_pct(IDEAL['within_1sigma'])}).",
        "",
        _table(
            [
                "model",
                "features",
                "label",
                "learns",
                "MAE",
                "RMSE",
                "R2",
                "within 10%",
                "within 1 sigma",
                "file",
            ],
            rows,
        ),
        "Files per model: `model.parquet` (the forest), `metadata.json` (features, label, "
        "hyperparameters, training), `calibration.json` (uncertainty calibration), "
        "`metrics.json` (every metric below, and per Teff bin). For the release: "
        f"`{BEST_CALIBRATION_RELEASE_FILE}` (calibration of the best-of-models sigma), "
        f"`{LABEL_CALIBRATION_RELEASE_FILE}` (percentiles of the corrected GSP-Phot Teff of "
        f"flag-A stars) and `{CORRECTION_RELEASE_FILE}` (the hot-star correction), so that "
        "the release alone turns a table of stars into the catalogue's columns "
        "(`snakemake stars` with `model_source: huggingface`, or `ebteff.predict_table`).",
        "",
        "## Usage",
        "",
        model_usage(
            release,
            [m.name for m in run.models],
            model_pins_from_files(files, [m.name for m in run.models]),
        ),
        "To use these models in the workflow instead of training, set `model_source` in its "
        "config; each file must be pinned by its sha256 (below and in the release manifest):",
        "",
        _code(
            yaml.safe_dump(
                {
                    "model_source": {
                        "source": "huggingface",
                        "repo_id": release.model_repo,
                        "revision": release.revision,
                        "sha256": model_pins_from_files(files, [m.name for m in run.models]),
                    }
                },
                sort_keys=False,
            ),
            "yaml",
        ),
    ]
    out += [model_section(m, files) for m in run.models]
    out += [
        correction_section(run),
        "## Limitations",
        "",
        *[f"- {item}" for item in _limitations(run, release)],
        "",
        "## Provenance",
        "",
        _table(
            ["", "value"],
            _provenance_rows(run) + [(k, v) for k, v in versions.items() if k != "ebteff"],
        ),
        "## License",
        "",
        "CC BY 4.0.",
        "",
    ]
    return "\n".join(out)


# -- staging and manifest ----------------------------------------------------------------------


def file_entry(path: str | os.PathLike) -> dict:
    return {"size": os.path.getsize(path), "sha256": sha256sum(path)}


def model_pins_from_files(files: Mapping[str, dict], names: Iterable[str]) -> dict[str, str]:
    """The ``model_source.sha256`` block a run needs to use these staged models."""
    pins = {
        f"{name}/{f}": files[f"{name}/{f}"]["sha256"]
        for name in names
        for f in MODEL_FETCH_FILES + STARS_MODEL_FILES
        if f"{name}/{f}" in files
    }
    for f in (
        BEST_CALIBRATION_RELEASE_FILE,
        LABEL_CALIBRATION_RELEASE_FILE,
        CORRECTION_RELEASE_FILE,
    ):
        if f in files:
            pins[f] = files[f]["sha256"]
    return pins


def _copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)  # a fresh mtime: staged files are newer than their inputs


def _write_text(text: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(text, encoding="utf-8")


def _replace_dir(tmp: Path, dest: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(tmp, dest)


def stage(run: Run, release: Release, dataset_dir: Path, models_dir: Path) -> dict:
    """Write both staged folders (each replaced as a whole) and return the manifest."""
    dataset_dir, models_dir = Path(dataset_dir), Path(models_dir)
    tmp_dataset = dataset_dir.with_name(f".{dataset_dir.name}.staging")
    tmp_models = models_dir.with_name(f".{models_dir.name}.staging")
    for tmp in (tmp_dataset, tmp_models):
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    try:
        sources: dict[str, dict[str, str | None]] = {"dataset": {}, "models": {}}
        copies = {
            PHOTOMETRY_FILE: run.photometry,
            CATALOG_FILE: run.catalog_fits,
            CORRECTION_JSON_FILE: run.correction_json,
            CORRECTION_PKL_FILE: run.correction_pkl,
        }
        for rel, src in copies.items():
            _copy(src, tmp_dataset / rel)
            sources["dataset"][rel] = str(src)
        _write_text(render_photometry_summary(run), tmp_dataset / PHOTOMETRY_SUMMARY_FILE)
        _write_text(render_catalog_description(run), tmp_dataset / CATALOG_DESCRIPTION_FILE)
        for model in run.models:
            for rel, src in model.files.items():
                _copy(src, tmp_models / model.name / rel)
                sources["models"][f"{model.name}/{rel}"] = str(src)
        # a self-contained release: with these, `snakemake stars` needs nothing else
        release_copies = {CORRECTION_RELEASE_FILE: run.correction_json}
        if run.best_calibration_file is not None:
            release_copies[BEST_CALIBRATION_RELEASE_FILE] = run.best_calibration_file
        if run.label_calibration_file is not None:
            release_copies[LABEL_CALIBRATION_RELEASE_FILE] = run.label_calibration_file
        for rel, src in release_copies.items():
            _copy(src, tmp_models / rel)
            sources["models"][rel] = str(src)

        dataset_files = _entries(tmp_dataset)
        model_files = _entries(tmp_models)
        _write_text(render_dataset_card(run, release, dataset_files), tmp_dataset / CARD)
        _write_text(render_model_card(run, release, model_files), tmp_models / CARD)

        manifest = {
            "format": MANIFEST_FORMAT,
            "workflow": f"ebteff {__version__}",
            "repos": {
                "dataset": _repo_manifest(
                    release.dataset_repo, "dataset", release, dataset_dir, tmp_dataset, sources
                ),
                "models": _repo_manifest(
                    release.model_repo, "model", release, models_dir, tmp_models, sources
                ),
            },
            "model_source": {
                "source": "huggingface",
                "repo_id": release.model_repo,
                "revision": release.revision,
                "sha256": model_pins_from_files(model_files, [m.name for m in run.models]),
            },
        }
        _replace_dir(tmp_dataset, dataset_dir)
        _replace_dir(tmp_models, models_dir)
    finally:
        for tmp in (tmp_dataset, tmp_models):
            shutil.rmtree(tmp, ignore_errors=True)
    manifest["total_bytes"] = sum(
        f["size"] for repo in manifest["repos"].values() for f in repo["files"]
    )
    return manifest


def _entries(folder: Path) -> dict[str, dict]:
    """Path relative to ``folder`` -> size, sha256 of every file of the release in it."""
    return {
        p.relative_to(folder).as_posix(): file_entry(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.relative_to(folder).as_posix() not in NOT_RELEASED
    }


def _repo_manifest(repo_id, repo_type, release, final_dir, tmp_dir, sources) -> dict:
    kind = "dataset" if repo_type == "dataset" else "models"
    files = [
        {"path": rel, **entry, "source": sources[kind].get(rel, "rendered by ebteff.publish")}
        for rel, entry in _entries(tmp_dir).items()
    ]
    return {
        "repo_id": repo_id,
        "repo_type": repo_type,
        "revision": release.revision,
        "folder": Path(final_dir).name,
        "files": files,
        "bytes": sum(f["size"] for f in files),
    }


def verify_staged(folder: str | os.PathLike, repo: Mapping[str, Any]) -> None:
    """Raise :class:`StagingError` unless ``folder`` holds exactly the manifest's files."""
    folder = Path(folder)
    if not folder.is_dir():
        raise StagingError(f"staged folder {folder} does not exist: run `snakemake publish`")
    actual = _entries(folder)
    expected = {f["path"]: {"size": f["size"], "sha256": f["sha256"]} for f in repo["files"]}
    problems = [f"missing {p}" for p in sorted(set(expected) - set(actual))]
    problems += [f"not in the manifest: {p}" for p in sorted(set(actual) - set(expected))]
    problems += [
        f"changed since staging: {p}"
        for p in sorted(set(actual) & set(expected))
        if actual[p] != expected[p]
    ]
    if problems:
        raise StagingError(
            f"{folder} is not what was staged ({'; '.join(problems)}); stage again "
            "(snakemake publish --forcerun stage_publish) instead of editing staged files"
        )


# -- upload ----------------------------------------------------------------------------------


def _endpoint_from_environment() -> str | None:
    """``HF_ENDPOINT`` as it is now (huggingface_hub froze its own copy at import)."""
    endpoint = os.environ.get("HF_ENDPOINT", "").strip().rstrip("/")
    return endpoint or None


def upload(
    manifest: Mapping[str, Any],
    root: str | os.PathLike,
    *,
    dry_run: bool,
    token: str | None,
    private: bool = False,
    commit_message: str | None = None,
    endpoint: str | None = None,
) -> dict:
    """Upload each staged folder of ``manifest`` (folders relative to ``root``); return a report.

    ``dry_run`` checks the folders and reports what would be sent, with no request. Otherwise
    ``token`` is required (:class:`MissingTokenError` before any request), each repository is
    created if missing and receives one ``upload_folder`` commit; the report records its id.
    """
    root = Path(root)
    endpoint = endpoint or _endpoint_from_environment()
    repos = manifest["repos"]
    if not dry_run and not token:
        raise MissingTokenError(
            "publish.dry_run is false but HF_TOKEN is not set: export HF_TOKEN with a Hugging "
            "Face token that has write access to "
            + " and ".join(repr(r["repo_id"]) for r in repos.values())
            + " (the workflow reads it from the environment only, never from the config), "
            "or set publish.dry_run: true to stage without uploading. Nothing was sent."
        )
    for repo in repos.values():
        verify_staged(root / repo["folder"], repo)
    report = {
        "dry_run": dry_run,
        "uploaded": False,
        "endpoint": endpoint or "https://huggingface.co",
        "repos": {},
    }
    if dry_run:
        report["note"] = (
            "dry run (publish.dry_run: true): nothing was uploaded. Set publish.dry_run: false "
            "and export HF_TOKEN to upload these folders."
        )
        for kind, repo in repos.items():
            report["repos"][kind] = _repo_report(repo, root, private)
            logger.info(
                "DRY RUN, nothing uploaded: would send %d files (%s) from %s to %s %s at %s",
                len(repo["files"]),
                human_size(repo["bytes"]),
                root / repo["folder"],
                repo["repo_type"],
                repo["repo_id"],
                repo["revision"],
            )
        return report

    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint, token=token)
    message = commit_message or f"Publish results of the ebteff workflow {__version__}"
    for kind, repo in repos.items():
        repo_id, repo_type, revision = repo["repo_id"], repo["repo_type"], repo["revision"]
        url = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        before = api.repo_info(repo_id, repo_type=repo_type, revision=revision).sha
        with warnings.catch_warnings():
            # Parquet forests in a model repository are intended (see ebteff.forest).
            warnings.filterwarnings("ignore", "It seems that you are about to commit a data file")
            info = api.upload_folder(
                repo_id=repo_id,
                folder_path=root / repo["folder"],
                repo_type=repo_type,
                revision=revision,
                commit_message=message,
                ignore_patterns=list(NOT_RELEASED),
            )
        entry = _repo_report(repo, root, private)
        entry.update(
            url=str(url),
            commit=info.oid,
            commit_url=info.commit_url,
            new_commit=info.oid != before,
        )
        report["repos"][kind] = entry
        logger.info(
            "%s %s at %s: %s %s",
            repo_type,
            repo_id,
            revision,
            "new commit" if entry["new_commit"] else "already held every file, no commit; still",
            info.oid,
        )
    report["uploaded"] = True
    return report


def _repo_report(repo: Mapping[str, Any], root: Path, private: bool) -> dict:
    return {
        "repo_id": repo["repo_id"],
        "repo_type": repo["repo_type"],
        "revision": repo["revision"],
        "private": private,
        "folder": str(root / repo["folder"]),
        "files": len(repo["files"]),
        "bytes": repo["bytes"],
        "commit": None,
        "commit_url": None,
        "new_commit": None,
    }


# -- using published models ------------------------------------------------------------------


def model_pins(pins: Mapping[str, str | None], name: str, repo_id: str) -> dict[str, str]:
    """The sha256 pin of each file of model ``name`` that a run downloads.

    Raises :class:`UnpinnedModelError`, naming every file without a pin, before any request.
    """
    wanted = [f"{name}/{f}" for f in MODEL_FETCH_FILES]
    missing = [path for path in wanted if not (pins or {}).get(path)]
    if missing:
        example = "\n".join(f"      {path}: <its sha256, 64 hex digits>" for path in missing)
        raise UnpinnedModelError(
            f"model_source.sha256 has no pin for {', '.join(missing)} of the model repository "
            f"{repo_id!r}: the workflow loads a file from outside the run only when its sha256 "
            "is pinned in the config, so that what runs is exactly what was reviewed. The "
            "published models are Parquet tables of tree nodes, which load without running "
            "code; a pickled model (the earlier pipeline's format) would run whatever code it "
            "holds the moment it is loaded. Either way nothing from outside is trusted without "
            "a pin. Take the pins from the release's manifest.json (its model_source block) or "
            f"its model card, and set:\n  model_source:\n    sha256:\n{example}\nNothing was "
            "downloaded."
        )
    return {path: str(pins[path]).strip().lower() for path in wanted}


def check_published_model(spec, model_path: str | os.PathLike, metadata: dict) -> None:
    """Refuse a published model that does not fit the config's model of the same name.

    Reads the forest's Parquet header only (no scikit-learn needed to download a model).
    """
    import pyarrow.parquet as pq

    stored = {
        k.decode(): v.decode() for k, v in (pq.read_schema(model_path).metadata or {}).items()
    }
    if stored.get("format") != FOREST_FORMAT:
        raise PublishedModelMismatchError(
            f"the published file for model {spec.name} is not an {FOREST_FORMAT} forest "
            f"(its header says format={stored.get('format')!r})"
        )
    published = {
        "features": stored.get("features", "").split(","),
        "target": stored.get("target"),
        "transform": stored.get("transform"),
    }
    wanted = {"features": list(spec.features), "target": spec.target, "transform": spec.transform}
    differs = [k for k in wanted if published[k] != wanted[k]]
    if differs:
        detail = "; ".join(f"{k}: published {published[k]}, config {wanted[k]}" for k in differs)
        raise PublishedModelMismatchError(
            f"the published model {spec.name} does not fit models.{spec.name} of the config "
            f"({detail}): a forest only makes sense with the features, label and transform it "
            f"was trained on. Set models.{spec.name} to the published definition, or train it "
            "(model_source.source: train)."
        )
    recorded = metadata.get("model_sha256")
    actual = sha256sum(model_path)
    if recorded != actual:
        raise PublishedModelMismatchError(
            f"metadata.json of the published model {spec.name} describes the file with sha256 "
            f"{recorded}, but its model.parquet has sha256 {actual}: they are not one release."
        )


def fetch_model(
    spec,
    model_dest: str | os.PathLike,
    metadata_dest: str | os.PathLike,
    *,
    repo_id: str,
    revision: str,
    pins: Mapping[str, str | None],
    retries: int = 3,
    token: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    backoff: float = 1.0,
) -> None:
    """Download a published model's forest and metadata, each checked against its pin.

    Unpinned files are refused before any request; a wrong pin or a model that does not fit
    ``spec`` leaves neither file behind.
    """
    from .hub import download_file

    pinned = model_pins(pins, spec.name, repo_id)
    dests = {
        f"{spec.name}/model.parquet": Path(model_dest),
        f"{spec.name}/metadata.json": Path(metadata_dest),
    }
    written: list[Path] = []
    try:
        for filename, dest in dests.items():
            download_file(
                repo_id,
                filename,
                dest,
                repo_type="model",
                revision=revision,
                sha256=pinned[filename],
                retries=retries,
                cache_dir=cache_dir,
                token=token,
                backoff=backoff,
            )
            written.append(dest)
        check_published_model(spec, model_dest, _read_json(metadata_dest))
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    logger.info(
        "model %s: %s and metadata.json from model repository %s at %s, both matching their pins",
        spec.name,
        Path(model_dest).name,
        repo_id,
        revision,
    )
