"""Feature tables: what each model learns from, built the same way for training and prediction.

:func:`prepare_photometry` adds derived colours (when the table lacks them) and the corrected
GSP-Phot Teff to the photometry; :func:`build_feature_table` selects one model's features and
target for the labelled stars, with the shared split, and counts every row it leaves out.
NaN, inf and the sentinel never reach a model: they are null here and such rows are excluded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from .correction import Correction
from .parameters import TARGETS, TEFF, Parameter, parameter_of
from .schema import DERIVED_COLOURS

#: Teff range (K) of the labels the models learn from (and of every Teff axis of the plots);
#: the ranges of the other parameters are in :mod:`ebteff.parameters`.
TEFF_MIN, TEFF_MAX = TEFF.valid
TRANSFORMS = ("log10", "none")


class FeatureError(ValueError):
    """A model asks for something the photometry cannot provide."""


@dataclass(frozen=True)
class ModelSpec:
    """One model of the config: features in order, target, transform, hyperparameters."""

    name: str
    features: tuple[str, ...]
    target: str
    transform: str = "none"
    hyperparameters: dict = field(default_factory=dict)

    @classmethod
    def from_config(cls, name: str, entry: dict) -> ModelSpec:
        spec = cls(
            name,
            tuple(entry["features"]),
            entry["target"],
            entry.get("transform", "none"),
            dict(entry.get("hyperparameters", {})),
        )
        if spec.target not in TARGETS:
            raise FeatureError(f"model {name}: target must be one of {TARGETS}, not {spec.target}")
        if spec.transform not in TRANSFORMS:
            raise FeatureError(f"model {name}: transform must be one of {TRANSFORMS}")
        if spec.transform == "log10" and spec.parameter.scale != "ln":
            raise FeatureError(
                f"model {name}: {spec.parameter.name} is already logarithmic (dex, zero and "
                "negative values ordinary): its transform must be none"
            )
        if len(set(spec.features)) != len(spec.features) or not spec.features:
            raise FeatureError(f"model {name}: features must be a non-empty list without repeats")
        return spec

    @property
    def parameter(self) -> Parameter:
        """What the model predicts (:mod:`ebteff.parameters`): unit, scale, ranges."""
        return parameter_of(self.target)

    @property
    def raw_column(self) -> str:
        """Column of its raw predictions: ``<parameter>_<name>_raw`` (teff_..., logg_...)."""
        return f"{self.parameter.key}_{self.name}_raw"

    @property
    def spread_column(self) -> str:
        """Column of the spread of its trees' predictions (in the parameter's unit)."""
        return f"{self.parameter.key}_{self.name}_spread"

    def forward(self, teff: np.ndarray) -> np.ndarray:
        """Teff (K) -> the quantity the model learns."""
        return np.log10(teff) if self.transform == "log10" else np.asarray(teff, dtype=float)

    def inverse(self, y: np.ndarray) -> np.ndarray:
        """What the model predicts -> Teff (K)."""
        return np.power(10.0, y) if self.transform == "log10" else np.asarray(y, dtype=float)


def available_features(schema_names) -> set[str]:
    """Columns a model may use: numeric upstream and extra columns, and derivable colours."""
    names = set(schema_names) - {"source_id"}
    return names | {c for c, (a, b) in DERIVED_COLOURS.items() if a in names and b in names}


def check_features(spec: ModelSpec, schema_names) -> None:
    unknown = [f for f in spec.features if f not in available_features(schema_names)]
    if unknown:
        raise FeatureError(
            f"model {spec.name} names unknown feature(s) {', '.join(unknown)}: not a column of "
            f"the photometry and not derivable (derivable: {', '.join(sorted(DERIVED_COLOURS))}); "
            f"add the column to the table or remove the model {spec.name} from `models:` "
            "in the config"
        )


def prepare_photometry(lf: pl.LazyFrame, correction: Correction | None) -> pl.LazyFrame:
    """Add derived colours the table lacks and ``teff_gaia_corrected`` (nulls stay null)."""
    names = lf.collect_schema().names()
    derived = [
        (pl.col(a) - pl.col(b)).alias(name)
        for name, (a, b) in DERIVED_COLOURS.items()
        if name not in names and a in names and b in names
    ]
    if derived:
        lf = lf.with_columns(derived)
    if correction is not None and "teff_gaia" in names:

        def _correct(s: pl.Series) -> pl.Series:
            out = correction.apply(s.cast(pl.Float64).fill_null(float("nan")).to_numpy())
            return pl.Series(s.name, out).fill_nan(None)

        lf = lf.with_columns(
            pl.col("teff_gaia")
            .map_batches(_correct, return_dtype=pl.Float64)
            .alias("teff_gaia_corrected")
        )
    return lf


def finite_or_null(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr.is_finite()).then(expr).otherwise(None)


def build_feature_table(
    photometry: pl.LazyFrame,
    split: pl.LazyFrame,
    spec: ModelSpec,
    correction: Correction | None,
) -> tuple[pl.DataFrame, dict]:
    """Labelled rows of one model: source_id, split, features, ``target`` (transformed).

    Returns the table of usable rows and the counts of rows excluded, by reason and split.
    """
    check_features(spec, photometry.collect_schema().names())
    if spec.target == "teff_gaia_corrected" and correction is None:
        raise FeatureError(f"model {spec.name} targets teff_gaia_corrected but no correction given")
    lf = prepare_photometry(photometry, correction)
    label = pl.col(spec.target)
    table = (
        lf.select(
            "source_id",
            *[finite_or_null(pl.col(f)).alias(f) for f in spec.features],
            finite_or_null(label).alias("label"),
        )
        .join(split, on="source_id", how="left")
        .collect()
    )
    has_label = table["label"].is_not_null()
    par = spec.parameter
    lo, hi = par.valid
    in_range = has_label & (table["label"] >= lo) & (table["label"] <= hi)
    has_features = table.select(
        pl.all_horizontal([pl.col(f).is_not_null() for f in spec.features])
    ).to_series()
    usable = in_range & has_features & table["split"].is_not_null()

    counts = {
        "rows_in_photometry": table.height,
        "labelled": int(has_label.sum()),
        "label_out_of_range": int((has_label & ~in_range).sum()),
        "missing_features": int((in_range & ~has_features).sum()),
        "missing_feature_by_column": {
            f: int((in_range & table[f].is_null()).sum()) for f in spec.features
        },
        "usable": int(usable.sum()),
        f"{par.key}_range_{par.unit_suffix}": [lo, hi],
    }
    out = (
        table.filter(usable)
        .with_columns(pl.Series("target", spec.forward(table.filter(usable)["label"].to_numpy())))
        .select("source_id", "split", *spec.features, pl.col("label").alias(spec.target), "target")
    )
    counts["usable_by_split"] = {
        str(k): int(v) for k, v in out.group_by("split").len().sort("split").iter_rows()
    }
    if out.height == 0:
        raise FeatureError(
            f"model {spec.name} has no usable rows: of {counts['labelled']} labelled stars, "
            f"{counts['label_out_of_range']} are outside {lo:g}-{hi:g} {par.unit} and "
            f"{counts['missing_features']} lack a feature ({counts['missing_feature_by_column']})"
        )
    return out.sort("source_id"), counts


def training_rows(table: pl.DataFrame, spec: ModelSpec) -> pl.DataFrame:
    """The rows of a model's feature table that it trains on; an error if there are none."""
    train = table.filter(pl.col("split") == "train")
    if train.height == 0:
        by_split = ", ".join(
            f"{split}: {n}" for split, n in table.group_by("split").len().sort("split").iter_rows()
        )
        raise FeatureError(
            f"model {spec.name}: none of its {table.height} usable rows is in the training split "
            f"({by_split or 'no rows'}); it needs labelled stars with all of its features "
            f"({', '.join(spec.features)}) among those the split assigns to training"
        )
    return train
