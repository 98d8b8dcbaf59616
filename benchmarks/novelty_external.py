"""The external validation of a run with and without the novelty rule.

    python benchmarks/novelty_external.py results/<run> [table name, default gbs_v3]

Predicts the validation table (``validation.tables`` of config/config.yaml) with the run's
models twice, as `validate_external` does: with each model's stored ``novelty`` (what the run
does), and with it removed (every model may give teff_best; no star refused). The best-of
calibration is the run's in both. Prints teff_best's n, median bias, median |dT|/T, within 10%
and the coverage of p16-p84 / p05-p95, overall and for the stars inside / outside the training
range (bit 8), those from a model (not GSP-Phot), each model's Teff for the stars novel and not
novel to it, and how many stars were refused for novelty.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import polars as pl
import yaml

from ebteff.external import ValidationTable, compare, estimators_of, validate
from ebteff.stars import load_stored_models

KEYS = (
    "n",
    "median_bias",
    "median_abs_rel",
    "within_10pct",
    "coverage_p16_p84",
    "coverage_p05_p95",
)


def fmt(s: dict) -> str:
    if not s.get("n"):
        return "n 0"
    return (
        f"n {s['n']}, bias {s['median_bias']:+.0f} K, |dT|/T {100 * s['median_abs_rel']:.1f}%, "
        f"within 10% {100 * s['within_10pct']:.1f}%, p16-p84 {100 * s['coverage_p16_p84']:.1f}%, "
        f"p05-p95 {100 * s['coverage_p05_p95']:.1f}%"
    )


def main(results: str, name: str = "gbs_v3") -> None:
    res = Path(results)
    repo = Path(__file__).resolve().parent.parent
    config = yaml.safe_load((repo / "config/config.yaml").read_text())
    table = ValidationTable.from_config(name, config["validation"]["tables"][name])
    teff_targets = ("teff_gaia", "teff_gaia_corrected")  # log g and [M/H] models are not compared
    models = [
        m
        for m, entry in config["models"].items()
        if entry["target"] in teff_targets and (res / "models" / m / "model.parquet").exists()
    ]
    stored = load_stored_models(
        {
            m: {
                f: res / "models" / m / f"{f}.{ext}"
                for f, ext in (("model", "parquet"), ("metadata", "json"), ("calibration", "json"))
            }
            for m in models
        },
        res / "calibration/teff_best.json",
        res / "correction/teff_correction.json",
        res / "calibration/teff_gaia_corrected.json",
    )
    plain = dataclasses.replace(
        stored,
        calibrations={
            m: {k: v for k, v in c.items() if k != "novelty"}
            for m, c in stored.calibrations.items()
        },
    )
    for label, s in (("with novelty", stored), ("without novelty", plain)):
        result, rows = validate(table, s, models=models, simulated=True, base=repo)
        best = result["predicted"]["estimators"]["teff_best"]
        refused = (
            int(rows["no_teff_reason"].fill_null("").str.contains("novel to every").sum())
            if "no_teff_reason" in rows.columns
            else 0
        )
        print(f"{name} {label}: refused for novelty {refused} of {rows.height}")
        print(f"  teff_best all: {fmt(best['overall'])}")
        print(f"  teff_best inside training range: {fmt(best['in_range'])}")
        print(f"  teff_best outside training range: {fmt(best['out_of_range'])}")
        ml = rows.filter(pl.col("teff_best_source").is_in(models))
        ml_best = compare(ml, ["teff_best"])["estimators"]["teff_best"]["overall"]
        print(f"  teff_best from a model (not GSP-Phot): {fmt(ml_best)}")
        for m in estimators_of(models)[1:]:
            if label == "with novelty":
                est = result["predicted"]["estimators"][m]
                print(f"  {m}: {fmt(est['overall'])}")
                for part in ("not_novel", "novel"):
                    if part in est:
                        print(f"    {part}: {fmt(est[part])}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
