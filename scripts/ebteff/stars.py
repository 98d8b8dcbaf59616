"""Teff for a user's own table of stars, with stored models: nothing trained, nothing calibrated.

Each model's forest gives a raw Teff and tree spread; its stored calibration
(``calibration.json``, which carries the hot-star correction for a model of the raw GSP-Phot
scale) turns them into a catalogue Teff and sigma, and the stored best-of-models calibration
(``teff_best.json``) the choice among them: all through :func:`ebteff.catalog.catalogue_rows`,
the catalogue's own function, so a star gets exactly the values the catalogue gives it with the
same models. A star with a GSP-Phot Teff (``teff_gaia`` or the archive's ``teff_gspphot``) keeps
it, hot-star corrected, and is flagged A as in the catalogue.

Every row of the input comes out once, in input order; a row that no model can predict and that
has no GSP-Phot Teff gets flag X and ``no_teff_reason`` says which features each model lacked.
The table is read, predicted and written in batches (:func:`predict_stars`), so memory holds the
forests and one batch whatever the size of the table.

The files a prediction needs are those of a published model release (``snakemake publish``):
``<model>/model.parquet``, ``<model>/metadata.json``, ``<model>/calibration.json``,
``teff_best_calibration.json``, ``teff_gaia_corrected.json`` (the uncertainty of a flag-A
star's corrected GSP-Phot Teff, when the table has no teff_gspphot_lower/upper) and
``teff_correction.json``; :func:`release_files` lists them for a folder, :func:`predict_table`
is the one-call version for a frame in a notebook.

A user's table has no train/calibration/test split, so the split bits of ``flag_bits`` stay 0;
the training-range bit comes from each model's ``feature_range`` in its calibration.json.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from .catalog import BASE_COLUMNS, GSPPHOT_PERCENTILES, catalogue_base, catalogue_rows
from .correction import Correction, load_correction_json
from .features import ModelSpec, prepare_photometry
from .flags import NO_FEATURES_REASON
from .io import read_json
from .parameter_catalog import parameter_inputs, with_parameters
from .parameters import TEFF
from .predict import LoadedModel, predict_frame
from .release import BEST_CALIBRATION_FILE, CORRECTION_FILE, LABEL_CALIBRATION_FILE, MODEL_FILES
from .schema import ARCHIVE_NAMES, DERIVED_COLOURS, NEGATED_ARCHIVE_COLOURS, UPSTREAM_COLOURS
from .tables import TableError, log_missing, normalise, table_batches

log = logging.getLogger(__name__)

REASON = "no_teff_reason"


@dataclass(frozen=True)
class StoredModels:
    """The models a prediction uses, in the order that breaks ties, with their calibrations."""

    models: tuple[LoadedModel, ...]
    calibrations: Mapping[str, dict]
    best_calibration: Mapping[str, dict | None]
    correction: Correction
    #: :func:`ebteff.catalog.fit_label_calibration` of the catalogue (None: none was fitted)
    label_calibration: dict | None = None
    #: models of log g and [M/H] (:mod:`ebteff.parameter_catalog`), calibrations in
    #: ``calibrations``; ``models`` holds the Teff models only
    others: tuple[LoadedModel, ...] = ()

    @property
    def names(self) -> list[str]:
        return [m.spec.name for m in self.models]


def release_files(model_dir: str | os.PathLike, models=None) -> dict:
    """Paths of a release folder, as :func:`load_stored_models` takes them. ``models`` (names, in
    the order that breaks ties) defaults to every folder holding a ``model.parquet``, sorted."""
    root = Path(model_dir)
    if models is None:
        models = sorted(p.parent.name for p in root.glob("*/model.parquet"))
    if not models:
        raise TableError(f"{root} holds no model (no <model>/model.parquet)")
    files = {
        "models": {m: {f.split(".")[0]: root / m / f for f in MODEL_FILES} for m in models},
        "best_calibration": root / BEST_CALIBRATION_FILE,
        "correction": root / CORRECTION_FILE,
    }
    missing = [
        str(p)
        for p in [*(q for m in files["models"].values() for q in m.values())]
        + [files["best_calibration"], files["correction"]]
        if not p.is_file()
    ]
    if missing:
        raise TableError(f"{root} is not a complete model release: missing {', '.join(missing)}")
    # a release of a run without a reference sample has none: flag-A stars then get
    # percentiles only from their own teff_gspphot_lower/upper
    if (root / LABEL_CALIBRATION_FILE).is_file():
        files["label_calibration"] = root / LABEL_CALIBRATION_FILE
    return files


def load_stored_models(
    models: Mapping[str, Mapping], best_calibration, correction, label_calibration=None
) -> StoredModels:
    """Forests, specs (from each model's metadata), calibrations, the best-of calibration, the
    correction and the label calibration (``teff_gaia_corrected.json``; None: flag-A stars get
    percentiles only from their own teff_gspphot_lower/upper). ``models``: name ->
    {model, metadata, calibration} paths, in tie order."""
    from .forest import read_flat_forest

    loaded, calibrations = [], {}
    for name, paths in models.items():
        spec = ModelSpec.from_config(name, read_json(paths["metadata"]))
        loaded.append(LoadedModel(spec, read_flat_forest(paths["model"])[0]))  # as predict_chunk
        calibrations[name] = read_json(paths["calibration"])
    best = read_json(best_calibration)
    return StoredModels(
        tuple(m for m in loaded if m.spec.parameter is TEFF),
        calibrations,
        best.get("calibration", best),
        load_correction_json(correction),
        read_json(label_calibration).get("calibration") if label_calibration else None,
        tuple(m for m in loaded if m.spec.parameter is not TEFF),
    )


def _sources(feature: str) -> str:
    """How a feature can be given: its column, or the bands it is computed from."""
    archive = {v: k for k, v in ARCHIVE_NAMES.items()}
    negated = {v: k for k, v in NEGATED_ARCHIVE_COLOURS.items()}

    def spell(c):
        return f"{c} ({archive[c]})" if c in archive else c

    ways = [spell(feature)]
    if feature in negated:
        ways.append(negated[feature])
    for table in (DERIVED_COLOURS, UPSTREAM_COLOURS):
        if feature in table:
            a, b = table[feature]
            ways.append(f"{spell(a)} and {spell(b)}")
    return " or ".join(ways)


def _misspelt(raw_columns) -> list[str]:
    """Input columns no reader knows that are close to a name one does: 'phot_g_mean_mgg
    (phot_g_mean_mag?)'."""
    import difflib

    from .tables import known_numeric

    known = {name.lower() for name in known_numeric()}
    out = []
    for name in raw_columns:
        if name.lower() in known:
            continue
        close = difflib.get_close_matches(name.lower(), sorted(known), n=1, cutoff=0.8)
        if close:
            out.append(f"{name} ({close[0]}?)")
    return out


def check_usable(columns, stored: StoredModels, path, raw_columns=()) -> None:
    """Refuse a table from which no model can predict anything: say what each one needs, and
    which of the table's own columns (``raw_columns``) look like misspelt names."""
    have = set(columns)
    if any(all(f in have for f in m.spec.features) for m in stored.models):
        return
    misspelt = _misspelt(raw_columns)
    needs = "; ".join(
        f"{m.spec.name} needs "
        + ", ".join(_sources(f) for f in m.spec.features)
        + " (lacking: "
        + ", ".join(f for f in m.spec.features if f not in have)
        + ")"
        for m in stored.models
    )
    raise TableError(
        f"{path}: no model can predict any star of this table, it lacks a feature of every "
        f"model. "
        + (f"Columns not recognised, perhaps misspelt: {', '.join(misspelt)}. " if misspelt else "")
        + f"{needs}. Column names may be the upstream ones or the Gaia Archive's (in brackets)."
    )


def _reason(frame: pl.DataFrame, models) -> pl.Expr:
    parts = []
    for m in models:
        lacking = [
            pl.when(pl.col(f).is_null()).then(pl.lit(f)) if f in frame.columns else pl.lit(f)
            for f in m.spec.features
        ]
        parts.append(
            pl.concat_str(
                [
                    pl.lit(f"{m.spec.name} lacks "),
                    pl.concat_str(lacking, separator=", ", ignore_nulls=True),
                ]
            )
        )
    return pl.concat_str([pl.lit("no GSP-Phot Teff; "), pl.concat_str(parts, separator="; ")])


def predict_batch(
    frame: pl.DataFrame, stored: StoredModels, *, n_jobs: int = 1, path="table"
) -> pl.DataFrame:
    """Catalogue rows (plus ``no_teff_reason``) of one normalised batch (:func:`normalise`)."""
    dup = frame["source_id"].is_duplicated()
    if dup.any():
        raise TableError(
            f"{path}: source_id {frame['source_id'].filter(dup)[0]} appears more than once; "
            "each star must appear once"
        )
    if frame["source_id"].null_count():
        raise TableError(f"{path}: {frame['source_id'].null_count()} row(s) have no source_id")
    prepared = prepare_photometry(frame.lazy(), None).collect()
    base = catalogue_base(prepared.lazy(), stored.correction).collect()
    every = [*stored.models, *stored.others]
    absent = {f for m in every for f in m.spec.features} - set(prepared.columns)
    features = prepared.with_columns(pl.lit(None, pl.Float64).alias(f) for f in sorted(absent))
    raw = predict_frame(
        features, list(stored.models), batch_rows=max(1, frame.height), n_jobs=n_jobs
    )
    by_model = {
        m: raw.select("source_id", f"teff_{m}_raw", f"teff_{m}_spread") for m in stored.names
    }
    cat = catalogue_rows(
        base,
        by_model,
        stored.calibrations,
        stored.best_calibration,
        stored.label_calibration,
        features,
    )
    if stored.others:  # log g and [M/H], as the catalogue gives them
        other = predict_frame(
            features, list(stored.others), batch_rows=max(1, frame.height), n_jobs=n_jobs
        )
        cat = with_parameters(
            cat,
            prepared.select(
                "source_id",
                *(c for c in parameter_inputs({"logg", "mh"}) if c in prepared.columns),
            ),
            {
                m.spec.name: other.select("source_id", m.spec.raw_column, m.spec.spread_column)
                for m in stored.others
            },
            stored.calibrations,
            features,
        )
    reason = prepared.select(_reason(prepared, stored.models).alias(REASON))[REASON]
    return cat.with_columns(
        # the catalogue's reason (novel to every model), or the features each model lacked
        pl.when(pl.col(REASON) == NO_FEATURES_REASON)
        .then(reason)
        .otherwise(pl.col(REASON))
        .cast(pl.String)
        .alias(REASON)
    ).with_columns(pl.col(c).cast(pl.Float64) for c in BASE_COLUMNS[1:])


def outside_columns(frame: pl.DataFrame, stored: StoredModels) -> list[pl.Series]:
    """Per model, ``teff_<model>_outside``: a feature of the star beyond that model's training
    range (the test flag bit 8 makes for the model that gave teff_best; not catalogue columns)."""
    from .calibrate import outside_range

    prepared = prepare_photometry(frame.lazy(), None).collect()
    nan = np.full(frame.height, np.nan)
    out = []
    for m in stored.models:
        features = {
            f: prepared[f].cast(pl.Float64).fill_null(np.nan).to_numpy()
            if f in prepared.columns
            else nan
            for f in m.spec.features
        }
        outside = outside_range(stored.calibrations[m.spec.name], features)
        if outside is None:
            outside = np.zeros(frame.height, bool)
        out.append(pl.Series(f"teff_{m.spec.name}_outside", outside, dtype=pl.Boolean))
    return out


def predicted_batches(
    path,
    stored: StoredModels,
    *,
    batch_rows: int,
    n_jobs: int = 1,
    key="stars",
    keep=(),
    outside: bool = False,
):
    """Catalogue rows of the table at ``path``, batch by batch (a generator). ``keep``: columns
    of the table (numbers, e.g. a reference Teff) carried into the rows as they are read;
    ``outside``: add each model's :func:`outside_columns`."""
    numeric = {f for m in (*stored.models, *stored.others) for f in m.spec.features} | {
        "teff_gaia",
        "ra",
        "dec",
        *GSPPHOT_PERCENTILES,
        *parameter_inputs({"logg", "mh"}),
        *keep,
    }
    checked = False
    rows, missing = 0, {}
    for raw in table_batches(path, batch_rows, key):
        frame = normalise(raw, path, numeric, offset=rows, missing=missing)
        rows += frame.height
        if not checked:
            check_usable(
                prepare_photometry(frame.lazy(), None).collect_schema().names(),
                stored,
                path,
                raw.columns,
            )
            checked = True
        out = predict_batch(frame, stored, n_jobs=n_jobs, path=path)
        if keep:
            out = out.with_columns(frame.select(keep))
        yield out.with_columns(outside_columns(frame, stored)) if outside else out
    log_missing(path, missing)


def summarise_stars(counts: dict, out: pl.DataFrame, names) -> None:
    counts["rows"] = counts.get("rows", 0) + out.height
    for f in "ABCDX":
        counts.setdefault("flags", {}).setdefault(f, 0)
        counts["flags"][f] += int((out["flag"] == f).sum())
    for m in names:
        counts.setdefault("predicted_by_model", {}).setdefault(m, 0)
        counts["predicted_by_model"][m] += int(out[f"teff_{m}"].is_not_null().sum())
        # stars unlike the model's training stars, whose Teff from it teff_best does not take
        counts.setdefault("novel_by_model", {}).setdefault(m, 0)
        if f"teff_{m}_novelty" in out.columns:
            counts["novel_by_model"][m] += int((out[f"teff_{m}_novelty"] > 1).sum())


def predict_stars(
    path,
    stored: StoredModels,
    parquet_out,
    fits_out=None,
    *,
    batch_rows: int = 100_000,
    n_jobs: int = 1,
    header: dict | None = None,
    key: str = "stars",
    progress=None,
) -> dict:
    """Predict every row of the table at ``path`` into ``parquet_out`` (and ``fits_out``),
    batch by batch and atomically; returns counts (rows, flags, predicted per model)."""
    from .io import parquet_batches
    from .writers import write_fits_batches

    counts: dict = {}
    ids = []
    with parquet_batches(parquet_out) as write:
        for out in predicted_batches(path, stored, batch_rows=batch_rows, n_jobs=n_jobs, key=key):
            ids.append(out["source_id"].to_numpy())
            summarise_stars(counts, out, stored.names)
            write(out)
            if progress is not None:
                progress.update(out.height)
        # 8 bytes a star, the one thing kept across batches: a repeat in different batches
        every = np.concatenate(ids) if ids else np.array([], dtype=np.int64)
        ids.clear()
        every.sort()
        if every.size and (every[1:] == every[:-1]).any():
            first = int(every[1:][every[1:] == every[:-1]][0])
            raise TableError(
                f"{path}: source_id {first} appears more than once; each star must appear once"
            )
    if fits_out is not None:
        write_fits_batches(parquet_out, fits_out, header or {}, batch_rows=batch_rows)
    return counts


def predict_table(frame, model_dir, models=None, *, batch_rows: int = 100_000, n_jobs: int = 1):
    """Teff, sigma, ``teff_best`` and flag for every row of ``frame`` (Polars or pandas; upstream
    or Gaia Archive column names; missing values null, NaN or -999.0) with the model release in
    the folder ``model_dir``. Returns a Polars frame with the catalogue's columns, one row per
    input row in input order."""
    if not isinstance(frame, pl.DataFrame):
        frame = pl.from_pandas(frame)
    stored = load_stored_models(**release_files(model_dir, models))
    numeric = {f for m in (*stored.models, *stored.others) for f in m.spec.features} | {
        "teff_gaia",
        "ra",
        "dec",
        *GSPPHOT_PERCENTILES,
        *parameter_inputs({"logg", "mh"}),
    }
    missing = {}
    table = normalise(frame, "the table", numeric, missing=missing)
    log_missing("the table", missing)
    check_usable(
        prepare_photometry(table.lazy(), None).collect_schema().names(),
        stored,
        "the table",
        frame.columns,
    )
    parts = [
        predict_batch(table.slice(lo, batch_rows), stored, n_jobs=n_jobs, path="the table")
        for lo in range(0, max(table.height, 1), batch_rows)
    ]
    out = pl.concat(parts)
    if out["source_id"].is_duplicated().any():
        raise TableError(
            "the table: a source_id appears more than once; each star must appear once"
        )
    return out
