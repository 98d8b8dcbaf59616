"""External validation: the run's Teff against independent Teff of real stars.

A validation table is a table of stars as ``snakemake stars`` reads it (any format and naming of
:mod:`ebteff.tables`) with a column of reference Teff measured independently of the models and
of GSP-Phot (e.g. from angular diameters and bolometric fluxes, or a spectroscopic survey). Every
row is predicted exactly as ``snakemake stars`` predicts it (:func:`ebteff.stars.predicted_batches`,
through :func:`ebteff.catalog.catalogue_rows`) with the run's models and stored calibrations, and
each estimator (``teff_best`` and every model's Teff) is compared with the reference
(:func:`compare`): per bin of the reference Teff, per flag, and for the stars inside and outside
the training range apart (``flag_bits`` bit 8 for ``teff_best``, each model's own range for
its Teff), the number of stars, the median bias, the median
|dT|/T, the fraction within 10% and the fraction of reference values inside the 16th-84th and
5th-95th percentiles (68% and 90% expected of calibrated percentiles).

When the run's own catalogue holds stars of the table (a run on the real catalogue), the
catalogue's rows are compared too (:func:`compare_catalogue`): flag-A stars there are GSP-Phot
against the reference.

The shipped table, the Gaia FGK Benchmark Stars v3 (``ebteff:validation/gbs_v3.csv``), is
package data; its README says where it comes from and what it is not.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from .flags import FLAG_BITS
from .novelty import is_novel

#: A path in ``validation.tables`` that starts with this names a file of the package's data
#: folder (``scripts/ebteff/data``), wherever the workflow runs.
PACKAGE_PREFIX = "ebteff:"

#: Edges (K) of the reference-Teff bins: the workflow's Teff bins, the last one open.
TEFF_EDGES = (0.0, 4000.0, 5000.0, 6000.0, 8000.0, math.inf)
FLAGS = ("A", "B", "C", "D", "X")
#: The two intervals whose coverage is measured: (name, lower, upper percentile, expected).
INTERVALS = (("p16_p84", "p16", "p84", 0.68), ("p05_p95", "p05", "p95", 0.90))
WITHIN = 0.10  # "within 10%"
OUTSIDE_BIT = FLAG_BITS["outside_training_range"]
SPLIT_BITS = {s: FLAG_BITS[f"split_{s}"] for s in ("train", "calibration", "test")}
#: Names of the two columns the compared rows carry.
REFERENCE = "teff_reference"
REFERENCE_ERR = "teff_reference_err"


class ValidationError(ValueError):
    """A validation table cannot be used; the message names the table and the config key."""


@dataclass(frozen=True)
class ValidationTable:
    """One entry of ``validation.tables``."""

    name: str
    path: str
    teff: str
    teff_err: str | None = None
    description: str | None = None

    @classmethod
    def from_config(cls, name: str, entry: Mapping) -> ValidationTable:
        return cls(
            name,
            entry["path"],
            entry["teff"],
            entry.get("teff_err"),
            entry.get("description"),
        )


def bin_labels(edges=TEFF_EDGES) -> list[str]:
    """'<4000', '4000-5000', ..., '>=8000'."""
    out = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        if lo <= 0:
            out.append(f"<{hi:.0f}")
        elif math.isinf(hi):
            out.append(f">={lo:.0f}")
        else:
            out.append(f"{lo:.0f}-{hi:.0f}")
    return out


def resolve_path(path: str | os.PathLike, base: str | os.PathLike | None = None) -> Path:
    """The file a ``validation.tables`` path names: ``ebteff:<file>`` is in the package's data
    folder; any other relative path is relative to ``base`` (the working directory)."""
    text = str(path)
    if text.startswith(PACKAGE_PREFIX):
        from importlib.resources import files

        return Path(str(files("ebteff") / "data" / text[len(PACKAGE_PREFIX) :]))
    return Path(base or ".") / text if not Path(text).is_absolute() else Path(text)


# -- the statistics ----------------------------------------------------------------------------


def statistics(reference, predicted, percentiles: Mapping[str, np.ndarray] | None = None) -> dict:
    """n, median bias (predicted - reference, K), median |dT|/T (T the reference), the fraction
    within 10%, and the coverage of each interval of :data:`INTERVALS` (the fraction of
    reference values between its two percentiles), over the rows where both Teff are finite."""
    ref = np.asarray(reference, dtype=float)
    pred = np.asarray(predicted, dtype=float)
    ok = np.isfinite(ref) & np.isfinite(pred)
    out: dict = {"n": int(ok.sum())}
    if not ok.any():
        out.update(median_bias=None, median_abs_rel=None, within_10pct=None)
        out.update({f"coverage_{name}": None for name, *_ in INTERVALS})
        return out
    d = pred[ok] - ref[ok]
    rel = np.abs(d) / ref[ok]
    out.update(
        median_bias=float(np.median(d)),
        median_abs_rel=float(np.median(rel)),
        within_10pct=float(np.mean(rel <= WITHIN)),
    )
    for name, lo, hi, _ in INTERVALS:
        if percentiles is None or lo not in percentiles:
            out[f"coverage_{name}"] = None
            continue
        low = np.asarray(percentiles[lo], dtype=float)[ok]
        high = np.asarray(percentiles[hi], dtype=float)[ok]
        has = np.isfinite(low) & np.isfinite(high)
        inside = (ref[ok] >= low) & (ref[ok] <= high)
        out[f"coverage_{name}"] = float(np.mean(inside[has])) if has.any() else None
    return out


def _columns(frame: pl.DataFrame, estimator: str) -> tuple[np.ndarray, dict]:
    pred = frame[estimator].cast(pl.Float64).fill_null(np.nan).to_numpy()
    percentiles = {
        p: frame[f"{estimator}_{p}"].cast(pl.Float64).fill_null(np.nan).to_numpy()
        for _, lo, hi, _ in INTERVALS
        for p in (lo, hi)
        if f"{estimator}_{p}" in frame.columns
    }
    return pred, percentiles


def compare(frame: pl.DataFrame, estimators: Sequence[str], splits: bool = False) -> dict:
    """Every estimator of ``estimators`` (catalogue Teff columns, with their ``_p05`` ...
    ``_p95`` where they have them) against ``teff_reference``, over the rows of ``frame``
    (which also carries ``flag`` and ``flag_bits``): overall, per reference bin, per flag, inside
    and outside the training range (also per bin), novel or not to a model whose rows carry
    ``<estimator>_novelty`` (:mod:`ebteff.novelty`), and, with ``splits``, per split of the
    labelled stars. The
    training range of ``teff_best`` is ``flag_bits`` bit 8 (the range of the model that gave
    it); a model's is its own, ``<estimator>_outside``, where the rows carry it (a predicted
    table), else bit 8 too (the catalogue's rows).

    Every row is accounted for: ``stars`` = ``no_reference`` + ``with_reference``, and per
    estimator ``with_reference`` = ``overall.n`` + ``not_predicted``.
    """
    ref = frame[REFERENCE].cast(pl.Float64).fill_null(np.nan).to_numpy()
    has_ref = np.isfinite(ref) & (ref > 0)
    flag = frame["flag"].fill_null("X").to_numpy().astype(str)
    bits = frame["flag_bits"].fill_null(0).to_numpy().astype(np.int64)
    outside = (bits & OUTSIDE_BIT) != 0
    edges = np.asarray(TEFF_EDGES)
    which_bin = np.digitize(ref, edges[1:-1])
    out: dict = {
        "stars": frame.height,
        "with_reference": int(has_ref.sum()),
        "no_reference": int((~has_ref).sum()),
        "flags": {f: int((flag[has_ref] == f).sum()) for f in FLAGS},
        "reference_bins": {
            label: int((has_ref & (which_bin == i)).sum()) for i, label in enumerate(bin_labels())
        },
        "estimators": {},
    }
    for est in estimators:
        pred, pct = _columns(frame, est)
        # a model's own training range where the rows carry it; else bit 8 (teff_best's model)
        est_outside = (
            frame[f"{est}_outside"].fill_null(False).to_numpy()
            if f"{est}_outside" in frame.columns
            else outside
        )

        def stats(sel, pred=pred, pct=pct):
            sel = sel & has_ref
            return statistics(ref[sel], pred[sel], {k: v[sel] for k, v in pct.items()})

        result = {
            "not_predicted": int((has_ref & ~np.isfinite(pred)).sum()),
            "overall": stats(np.ones_like(has_ref)),
            "per_bin": {label: stats(which_bin == i) for i, label in enumerate(bin_labels())},
            "per_flag": {f: stats(flag == f) for f in FLAGS if (has_ref & (flag == f)).any()},
            "in_range": stats(~est_outside),
            "out_of_range": stats(est_outside),
            "per_bin_in_range": {
                label: stats((which_bin == i) & ~est_outside)
                for i, label in enumerate(bin_labels())
            },
            "per_bin_out_of_range": {
                label: stats((which_bin == i) & est_outside) for i, label in enumerate(bin_labels())
            },
        }
        if f"{est}_novelty" in frame.columns:
            # the model's novelty (ebteff.novelty): above 1, farther from its training stars
            # than all but 0.5% of held-out stars
            score = frame[f"{est}_novelty"].cast(pl.Float64).fill_null(np.nan).to_numpy()
            novel = is_novel(score)
            result["novel"] = stats(novel)
            result["not_novel"] = stats(np.isfinite(score) & ~novel)
        if splits:
            labelled = np.zeros_like(has_ref)
            result["per_split"] = {}
            for split, bit in SPLIT_BITS.items():
                sel = (bits & bit) != 0
                labelled |= sel
                result["per_split"][split] = stats(sel)
            result["per_split"]["unlabelled"] = stats(~labelled)
        out["estimators"][est] = result
    return out


# -- predicting a table and the catalogue's rows -------------------------------------------------


def estimators_of(models: Sequence[str]) -> list[str]:
    """``teff_best`` then each model's Teff, in config order."""
    return ["teff_best", *(f"teff_{m}" for m in models)]


def check_reference_columns(table: ValidationTable, path) -> list[str]:
    """The names (as :func:`ebteff.tables.normalise` reads them) of the table's reference Teff
    column and of its error column; a table lacking one is refused, naming the config key."""
    from .tables import column_names, normalise, table_batches

    first = next(table_batches(path, 1, f"validation.tables.{table.name}.path"))
    columns = normalise(first, path, set()).columns
    out = []
    for key, name in (("teff", table.teff), ("teff_err", table.teff_err)):
        if not name:
            continue
        read_as = column_names([name]).get(name, name)
        if read_as not in columns:
            raise ValidationError(
                f"{path} has no column {name!r}, which validation.tables.{table.name}.{key} "
                f"names (columns found: {', '.join(first.columns[:30])})"
            )
        out.append(read_as)
    return out


def predict_table(table: ValidationTable, stored, *, batch_rows: int, n_jobs: int = 1, base=None):
    """Every row of the table, predicted as ``snakemake stars`` predicts it, with the reference
    Teff (and its error) as ``teff_reference`` (``teff_reference_err``)."""
    from .stars import predicted_batches

    path = resolve_path(table.path, base)
    keep = check_reference_columns(table, path)
    rows = pl.concat(
        predicted_batches(
            path,
            stored,
            batch_rows=batch_rows,
            n_jobs=n_jobs,
            key=f"validation.tables.{table.name}.path",
            keep=keep,
            outside=True,
        ),
        how="vertical_relaxed",
    )
    rows = rows.rename({keep[0]: REFERENCE})
    if table.teff_err:
        rows = rows.rename({keep[1]: REFERENCE_ERR})
    return rows


def catalogue_rows_of(catalogue: str | os.PathLike, rows: pl.DataFrame) -> pl.DataFrame:
    """The catalogue's own rows of the stars of ``rows`` (a predicted table), with their
    reference Teff; none when the catalogue holds none of them."""
    refs = rows.select("source_id", REFERENCE, *([REFERENCE_ERR] if REFERENCE_ERR in rows else []))
    ids = refs["source_id"].unique()
    found = pl.scan_parquet(catalogue).filter(pl.col("source_id").is_in(ids.implode())).collect()
    return refs.join(found, on="source_id", how="inner", maintain_order="left")


def validate(
    table: ValidationTable,
    stored,
    *,
    models: Sequence[str],
    catalogue: str | os.PathLike | None = None,
    simulated: bool = False,
    batch_rows: int = 100_000,
    n_jobs: int = 1,
    base=None,
) -> tuple[dict, pl.DataFrame]:
    """The validation of one table: the result (:func:`compare` of the predicted rows, and of
    the catalogue's rows of the same stars when the catalogue holds any and the run is not
    simulated) and the predicted rows."""
    from .io import sha256sum

    path = resolve_path(table.path, base)
    rows = predict_table(table, stored, batch_rows=batch_rows, n_jobs=n_jobs, base=base)
    estimators = estimators_of(models)
    result = {
        "table": table.name,
        "description": table.description,
        "path": str(table.path),
        "file": path.name,
        "sha256": sha256sum(path),
        "reference_column": table.teff,
        "reference_error_column": table.teff_err,
        "simulated_run": bool(simulated),
        "models": list(models),
        "bins": bin_labels(),
        "intervals": {name: expected for name, _, _, expected in INTERVALS},
        "predicted": compare(rows, estimators),
    }
    if REFERENCE_ERR in rows.columns:
        err = rows[REFERENCE_ERR].cast(pl.Float64).drop_nulls().to_numpy()
        ref = rows.filter(pl.col(REFERENCE_ERR).is_not_null())[REFERENCE].to_numpy()
        ok = np.isfinite(err) & np.isfinite(ref) & (ref > 0)
        result["reference_error"] = {
            "n": int(ok.sum()),
            "median_k": float(np.median(err[ok])) if ok.any() else None,
            "median_rel": float(np.median(err[ok] / ref[ok])) if ok.any() else None,
        }
    result["catalogue"] = None
    if catalogue is not None and not simulated:
        own = catalogue_rows_of(catalogue, rows)
        if own.height:
            result["catalogue"] = compare(own, estimators, splits=True)
    return result, rows


# -- the Markdown summary ----------------------------------------------------------------------


def _fmt(value, kind: str) -> str:
    if value is None:
        return "n/a"
    if kind == "k":
        return f"{value:+.0f}"
    return f"{100 * value:.1f}%"


def _stats_row(name: str, s: dict) -> str:
    return (
        f"| {name} | {s['n']} | {_fmt(s['median_bias'], 'k')} | "
        f"{_fmt(s['median_abs_rel'], 'pct')} | {_fmt(s['within_10pct'], 'pct')} | "
        f"{_fmt(s['coverage_p16_p84'], 'pct')} | {_fmt(s['coverage_p05_p95'], 'pct')} |"
    )


STATS_HEAD = (
    "| {first} | n | median bias (K) | median abs dT/T | within 10% | in p16-p84 (68%) "
    "| in p05-p95 (90%) |\n|---|---|---|---|---|---|---|"
)


def comparison_markdown(comparison: dict, title: str) -> str:
    """Tables of one :func:`compare` result: every estimator overall, inside and outside the
    training range; then per reference bin and per flag, for each estimator."""
    lines = [f"### {title}", ""]
    lines.append(
        f"{comparison['stars']} stars, {comparison['with_reference']} with a reference Teff; "
        "flags of those: "
        + ", ".join(f"{f} {n}" for f, n in comparison["flags"].items() if n)
        + "."
    )
    lines += ["", STATS_HEAD.format(first="estimator, stars")]
    for est, r in comparison["estimators"].items():
        lines.append(_stats_row(f"{est}, all", r["overall"]))
        lines.append(_stats_row(f"{est}, inside training range", r["in_range"]))
        lines.append(_stats_row(f"{est}, outside training range", r["out_of_range"]))
        if "novel" in r:
            lines.append(_stats_row(f"{est}, not novel (novelty <= 1)", r["not_novel"]))
            lines.append(_stats_row(f"{est}, novel (novelty > 1)", r["novel"]))
    for est, r in comparison["estimators"].items():
        lines += [
            "",
            f"`{est}` per bin of the reference Teff (K) and per flag "
            f"({r['not_predicted']} star(s) with a reference have none):",
            "",
        ]
        lines.append(STATS_HEAD.format(first="stars"))
        for label, s in r["per_bin"].items():
            if s["n"]:
                lines.append(_stats_row(f"Teff {label}", s))
                for key, where in (
                    ("per_bin_in_range", "inside"),
                    ("per_bin_out_of_range", "outside"),
                ):
                    part = r.get(key, {}).get(label)
                    if part and part["n"] and part["n"] < s["n"]:
                        lines.append(_stats_row(f"Teff {label}, {where} training range", part))
        for flag, s in r["per_flag"].items():
            lines.append(_stats_row(f"flag {flag}", s))
        for split, s in r.get("per_split", {}).items():
            if s["n"]:
                lines.append(_stats_row(f"split {split}", s))
    return "\n".join(lines) + "\n"


def markdown(result: dict) -> str:
    """The validation of one table as Markdown (``results/<run>/validation/<table>.md``)."""
    lines = [f"# External validation: {result['table']}", ""]
    if result.get("description"):
        lines += [result["description"], ""]
    lines.append(
        f"File `{result['path']}` (sha256 `{result['sha256']}`); reference Teff column "
        f"`{result['reference_column']}`"
        + (
            f", its error `{result['reference_error_column']}`"
            if result.get("reference_error_column")
            else ""
        )
        + "."
    )
    err = result.get("reference_error")
    if err and err["n"]:
        lines.append(
            f"The reference's own error: median {err['median_k']:.0f} K "
            f"({100 * err['median_rel']:.1f}%), part of every |dT| below."
        )
    if result["simulated_run"]:
        lines += [
            "",
            "The models were trained on the simulated catalogue: this shows how models trained "
            "on the simulation transfer to real stars.",
        ]
    lines += [
        "",
        "Each star predicted as `snakemake stars` predicts it, with this run's models. bias = "
        "predicted - reference (median); dT/T relative to the reference; coverage = fraction "
        "of reference values inside the percentiles (68% and 90% expected). Inside or outside "
        "the training range: for `teff_best`, `flag_bits` bit 8 (a feature of the model that "
        "gave it beyond the 0.5-99.5 percentiles of its training stars); for a model, the same "
        "test of that model's own features.",
        "",
    ]
    lines.append(comparison_markdown(result["predicted"], "Predicted from the table"))
    if result.get("catalogue"):
        lines += [
            "",
            comparison_markdown(
                result["catalogue"],
                "The run's catalogue rows of the same stars (flag A: GSP-Phot)",
            ),
        ]
    return "\n".join(lines)
