"""Both cards, rendered from their templates for a small hand-made run: front matter (with the
model-index of the test metrics), every section, and the numbers of the run's files.

No forest is trained and nothing is staged here (tests/workflow/test_release.py does both)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from ebteff.flags import FLAG_MEANING
from ebteff.publish.cards import render_dataset_card, render_model_card
from ebteff.publish.run import ModelRun, Release, Run

MODEL = "gaia_colours"
RELEASE = Release(
    dataset_repo="someone/eb-teff-data",
    model_repo="someone/eb-teff-models",
    source="simulate",
    source_detail={"seed": 11},
)


def stats(n, w1, w2, pit, sigma):
    return {
        "n": n,
        "within_1sigma": w1,
        "within_2sigma": w2,
        "pit_std": pit,
        "sigma_median_k": sigma,
    }


def accuracy(n, mae, rmse, r2):
    return {
        "n": n,
        "mae": mae,
        "rmse": rmse,
        "r2": r2,
        "median_abs_error": mae * 0.8,
        "bias": -12.0,
        "within_5pct": 0.61,
        "within_10pct": 0.83,
        "within_20pct": 0.95,
    }


def model_run() -> ModelRun:
    test_bins = {
        "0-4000": stats(40, 0.52, 0.90, 0.35, 150.0),
        "4000-5000": stats(60, 0.7, 0.95, 0.29, 180.0),
    }
    return ModelRun(
        name=MODEL,
        files={},
        metadata={
            "features": ["g", "bp_rp"],
            "target": "teff_gaia_corrected",
            "transform": "log10",
            "predicts": "log10(Teff / K)",
            "hyperparameters": {"n_estimators": 50, "max_depth": 12},
            "n_nodes": 123_456,
            "feature_importances": {"g": 0.25, "bp_rp": 0.75},
            "versions": {"ebteff": "0.1.0", "scikit-learn": "1.9.1"},
        },
        calibration={
            "calibration_stars": 2_000,
            "bins": [
                {
                    "name": "0-5000",
                    "n": 2_000,
                    "width_68_median_k": 310.0,
                    "width_90_median_k": 520.0,
                    "p50_offset_median_k": -4.0,
                    "coverage_1sigma": 0.683,
                    "coverage_2sigma": 0.954,
                }
            ],
        },
        metrics={
            "splits": {
                "test": {
                    "vs_label": {
                        "overall": accuracy(1_900, 212.4, 301.9, 0.9123),
                        "per_bin": {"0-4000": accuracy(40, 400.0, 500.0, 0.5)},
                    }
                },
                "train": {"vs_label": {"overall": accuracy(5_000, 150.0, 210.0, 0.95)}},
            }
        },
        calibration_report={
            "test": {
                "by_label_bin": {
                    "per_bin": test_bins,
                    "overall": stats(100, 0.66, 0.93, 0.31, 170.0),
                },
                "by_predicted_bin": {
                    "per_bin": test_bins,
                    "overall": stats(100, 0.66, 0.93, 0.31, 170.0),
                },
                "raw_tree_spread": {"overall": stats(100, 0.3, 0.6, 0.5, 80.0)},
            }
        },
        feature_counts={
            "usable": 8_900,
            "usable_by_split": {"train": 5_000, "calibration": 2_000, "test": 1_900},
            "teff_range_k": [2_500.0, 50_000.0],
        },
    )


@pytest.fixture
def run() -> Run:
    coverage = {
        "gaia": {"count": 12_345, "fraction": 1.0},
        "twomass": {"count": 9_000, "fraction": 0.729},
    }
    header = {
        "TFIELDS": 2,
        "TTYPE1": "source_id",
        "TTYPE2": "teff_best",
        "TUNIT2": "K",
        "NAXIS2": 12_345,
    }
    header |= {"WFVERS": "0.1.0", "CFGHASH": "abcdef0123456789", "DATE": "2026-01-02"}
    return Run(
        photometry=Path("p.parquet"),
        catalog_fits=Path("c.fits"),
        correction_json=Path("c.json"),
        correction_pkl=Path("c.pkl"),
        photometry_summary={
            "file": "eb_unified_photometry.parquet",
            "rows": 12_345,
            "bytes": 2_000_000,
            "sha256": "f" * 64,
            "coverage": coverage,
            "teff_gaia": {
                "count": 7_000,
                "mean": 5_432.0,
                "median": 5_300.0,
                "min": 2_600.0,
                "max": 41_000.0,
                "frac_lt4000": 0.12,
                "frac_4000_6000": 0.48,
                "frac_6000_10000": 0.31,
                "frac_ge10000": 0.09,
            },
        },
        catalog_summary={
            "rows": 12_345,
            "flags": {"A": 7_000, "B": 3_000, "C": 1_000, "D": 845, "X": 500},
            "flag_fractions": {"A": 0.567, "B": 0.243, "C": 0.081, "D": 0.068, "X": 0.041},
            "coverage": {"with_teff": 0.959, "gaia": 0.567, "ml": 0.392},
            "predicted_by_model": {MODEL: 11_000},
            "model_won_for_teff_best": {MODEL: 4_845},
            "ml_sigma_quantiles_k": {"q16": 120.0, "q50": 230.0, "q84": 610.0},
        },
        best_calibration={"test": {"overall": stats(1_900, 0.671, 0.948, 0.292, 200.0)}},
        correction={
            "coefficients": [-2000.0, 1.25, 1.5e-6],
            "threshold": 10_000.0,
            "width": 2_000.0,
            "formula": "T_corr = T + (P(T) - T) * s",
            "fit": {
                "n_used": 900,
                "fit_range_k": [7_000.0, 40_000.0],
                "n_clipped": 12,
                "clip_sigma": 3.0,
                "rms_k": 812.0,
            },
        },
        split_counts={"by_split": {"train": 5_000, "calibration": 2_000, "test": 1_900}},
        fits_header=header,
        models=(model_run(),),
    )


FILES = {
    f"{MODEL}/{f}": {"size": 1_500_000, "sha256": "a" * 64}
    for f in ("model.parquet", "metadata.json", "calibration.json")
}


def split(card: str) -> tuple[dict, str]:
    match = re.match(r"\A---\n(.*?)\n---\n(.*)\Z", card, re.DOTALL)
    assert match, "a card starts with YAML front matter"
    return yaml.safe_load(match[1]), match[2]


def sections(body: str) -> list[str]:
    return re.findall(r"^##+ (.+)$", body, re.MULTILINE)


def test_the_model_card_carries_a_model_index_of_the_test_metrics(run):
    meta, body = split(render_model_card(run, RELEASE, FILES))
    assert meta["library_name"] == "scikit-learn" and meta["datasets"] == [RELEASE.dataset_repo]
    assert "simulated" in meta["tags"]
    (entry,) = meta["model-index"]
    (result,) = entry["results"]
    assert result["task"]["type"] == "tabular-regression"
    assert result["dataset"] == {
        "name": "Gaia DR3 eclipsing binaries: photometry and effective temperatures (test split)",
        "type": RELEASE.dataset_repo,
        "split": "test",
        "revision": "main",
    }
    values = {m["type"]: m["value"] for m in result["metrics"]}
    assert values == {"mae": 212.4, "rmse": 301.9, "r2": 0.9123}


def test_the_model_card_has_every_section_and_the_runs_numbers(run):
    _, body = split(render_model_card(run, RELEASE, FILES))
    assert sections(body) == [
        "Models",
        "Usage",
        f"`{MODEL}`",
        "Accuracy",
        "Test stars per bin of the label",
        "Uncertainty",
        "Feature importances",
        "Hot-star correction",
        "Limitations",
        "Provenance",
        "License",
    ]
    assert "> **Simulated data.** The 12,345 stars" in body and "seed 11" in body
    row = f"| [`{MODEL}`](#{MODEL}) | 2 | `teff_gaia_corrected` | log10 Teff | 212 K | 302 K | "
    assert row + "0.912 | 83.0% | 66.0% | 1.5 MB |" in body
    assert "train 5,000, calibration 2,000, test 1,900" in body
    assert "| test vs label | 1900 | 212 | 302 | 0.912 |" in body
    assert "| 0-5000 | 2,000 | 310 K | 520 K | -4 K | 68.3% / 95.4% |" in body
    assert "| `bp_rp` | 0.750 |" in body.split("| `g` |")[0]  # most important first
    assert all(c in body for c in ("-2000", "1.25", "1.5e-06"))
    # the coverage bin below the ideal is a limitation, with its numbers
    assert (
        "uncertainties too small for stars whose label is in 0-4000 K (52.0% within 1 sigma" in body
    )
    assert "predicts only stars with all of its features: 11,000 of 12,345 (89.1%)" in body
    assert "| scikit-learn | 1.9.1 |" in body
    # the usage snippet pins every file of the release
    (snippet,) = re.findall(r"```python\n(.*?)```", body, re.DOTALL)
    compile(snippet, "snippet", "exec")
    assert all(f"'{path}': '{'a' * 64}'" in snippet for path in FILES)


def test_the_dataset_card_has_every_section_and_the_runs_numbers(run):
    meta, body = split(render_dataset_card(run, RELEASE, FILES))
    assert meta["license"] == "cc-by-4.0" and meta["size_categories"] == ["10K<n<100K"]
    assert meta["configs"][0]["data_files"] == "photometry/eb_unified_photometry.parquet"
    assert sections(body) == [
        "Files",
        "Photometry",
        "Catalogue",
        "Hot-star correction",
        "Usage",
        "Provenance",
        "License",
    ]
    for flag, meaning in FLAG_MEANING.items():
        count = run.catalog_summary["flags"][flag]
        assert f"| `{flag}` | {meaning} | {count:,} |" in body
    assert "| 2MASS: J, H, Ks | 9,000 | 72.9% |" in body
    assert "mean 5,432 K, median 5,300 K" in body
    assert "| teff_best | K |" in body
    assert "67.1% lie within 1 sigma of the best ML Teff (ideal 68.3%)" in body
    assert "acknowledge these surveys" not in body  # simulated: no survey data to credit


def test_a_real_release_credits_the_surveys_and_names_its_source(run):
    real = Release(
        dataset_repo="someone/eb-teff-data",
        model_repo="someone/eb-teff-models",
        source="huggingface",
        source_detail={"repo_id": "someone/photometry", "revision": "v1", "filename": "p.parquet"},
    )
    _, body = split(render_dataset_card(run, real, FILES))
    assert "Simulated" not in body
    assert "`p.parquet` of the dataset `someone/photometry` at revision `v1`" in body
    assert "acknowledge these surveys" in body


def test_the_model_card_shows_the_external_validation(run):
    import dataclasses
    import json

    import polars as pl

    from ebteff.external import REFERENCE, bin_labels, compare

    rows = pl.DataFrame(
        {
            "source_id": [1, 2, 3, 4],
            REFERENCE: [4500.0, 5500.0, 6500.0, 6600.0],
            "flag": ["A", "C", "D", "C"],
            "flag_bits": [1, 2, 2 | 8, 2],
            "teff_best": [4600.0, 5000.0, 9000.0, 6700.0],
            f"teff_{MODEL}": [4700.0, 5000.0, 9000.0, 6700.0],
        }
    )
    result = {
        "table": "benchmarks",
        "description": "Four made-up benchmark stars.",
        "file": "b.csv",
        "sha256": "b" * 64,
        "simulated_run": True,
        "models": [MODEL],
        "bins": bin_labels(),
        # as the card reads it: from JSON, whose keys are sorted
        "predicted": json.loads(
            json.dumps(compare(rows, ["teff_best", f"teff_{MODEL}"]), sort_keys=True)
        ),
        "catalogue": None,
    }
    _, body = split(
        render_model_card(dataclasses.replace(run, validations=(result,)), RELEASE, FILES)
    )
    names = sections(body)
    assert names[names.index("External validation") + 1] == "benchmarks"
    assert names.index("External validation") < names.index("Hot-star correction")
    assert "Four made-up benchmark stars." in body
    assert "how models trained on the simulation transfer to real stars" in body
    assert "| `teff_best` | all | 4 | +100 K | 5.7% | 75.0% | n/a | n/a |" in body
    assert "|  | outside training range | 1 | +2,500 K | 38.5% | 0.0% | n/a | n/a |" in body
    assert (
        "| 4000-5000 | all | 1 | +100 K | 2.2% | 100.0% | n/a | n/a |\n| 5000-6000 | all | 1 |"
        in body
    )
    assert (
        "| 6000-8000 | all | 2 | +1,300 K | 20.0% | 50.0% | n/a | n/a |\n"
        "|  | inside training range | 1 | +100 K | 1.5% | 100.0% | n/a | n/a |\n"
        "|  | outside training range | 1 | +2,500 K | 38.5% | 0.0% | n/a | n/a |\n"
    ) in body
    assert body.index("| `teff_best` | all |") < body.index(f"| `teff_{MODEL}` | all |")
    # without a validation the section is absent
    _, plain = split(render_model_card(run, RELEASE, FILES))
    assert "External validation" not in plain
