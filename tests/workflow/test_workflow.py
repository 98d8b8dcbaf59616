"""End-to-end: the real `snakemake` CLI on the tiny config, in a temporary directory."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from scipy.special import ndtri

from ebteff.calibrate import (
    MIN_BIN_STARS,
    ONE_SIGMA,
    TWO_SIGMA,
)
from ebteff.correction import load_correction_json, load_legacy_pickle
from ebteff.evaluate import TEFF_BIN_EDGES
from ebteff.schema import COVERAGE_COLUMNS, SENTINEL
from helpers.photometry_tables import make_table
from helpers.workflow_runner import REPO, load_test_config, run_snakemake, write_config

TEST_CONFIG_MODELS = load_test_config()["models"]
N_STARS = load_test_config()["simulate"]["n_stars"]
MODELS = list(TEST_CONFIG_MODELS)


def test_tiny_run_builds_validated_photometry(snakemake_run):
    workdir, _ = snakemake_run
    summary = json.loads((workdir / "results/tiny/photometry/summary.json").read_text())
    assert summary["rows"] == N_STARS
    # the validated coverages are the simulated table's own, and the label's is GSP-Phot's
    # limit (G < 19) and nothing else: coverage is an outcome of survey limits, which
    # tests/unit/test_simulate.py checks survey by survey (the simulator's coverages against
    # the real table's are benchmarks/simulation_realism.py's, at the default size)
    photometry = pl.read_parquet(
        workdir / "resources/tiny/photometry/eb_unified_photometry.parquet"
    )
    for name, column in COVERAGE_COLUMNS.items():
        fraction = float((photometry[column] != SENTINEL).mean())
        assert summary["coverage"][name]["fraction"] == pytest.approx(fraction), name
    assert summary["coverage"]["teff_gaia"]["fraction"] == pytest.approx(
        float((photometry["g"] < 19.0).mean())
    )
    for path in (
        "resources/tiny/photometry/eb_unified_photometry.parquet",
        "resources/tiny/photometry/truth.parquet",
        "resources/tiny/reference/teff_reference.parquet",
    ):
        assert (workdir / path).stat().st_size > 0, path
    truth = pl.read_parquet(workdir / "resources/tiny/photometry/truth.parquet")
    assert truth.height == N_STARS


def test_every_rule_logged_and_benchmarked(snakemake_run):
    workdir, _ = snakemake_run
    for rule in (
        "simulate_photometry",
        "validate_photometry",
        "fit_correction",
        "make_split",
        "plot_catalog",
        "plot_metrics",
    ):
        assert (workdir / f"results/tiny/logs/{rule}.log").read_text(), rule
        assert (workdir / f"results/tiny/benchmarks/{rule}.tsv").exists(), rule
    for rule in ("build_features", "train_model", "evaluate_model", "plot_model_accuracy"):
        for model in MODELS:
            assert (workdir / f"results/tiny/logs/{rule}/{model}.log").read_text(), (rule, model)
            assert (workdir / f"results/tiny/benchmarks/{rule}/{model}.tsv").exists(), (rule, model)


HOT_BIAS_CHECK_K = 15_000.0


def test_correction_fitted_and_halves_the_hot_bias(snakemake_run):
    workdir, _ = snakemake_run
    data = json.loads((workdir / "results/tiny/correction/teff_correction.json").read_text())
    assert len(data["coefficients"]) == 3 and data["fit"]["n_used"] > 50
    legacy = load_legacy_pickle(workdir / "results/tiny/correction/teff_correction_coeffs_deg2.pkl")
    assert legacy.coefficients == pytest.approx(data["coefficients"])
    metrics = json.loads((workdir / "results/tiny/correction/metrics.json").read_text())
    hot = metrics["above_threshold"]
    assert hot["raw"]["bias"] < 0  # GSP-Phot reads hot stars too cool
    # The bias it removes, on the reference stars labelled hotter than HOT_BIAS_CHECK_K, where
    # GSP-Phot's underestimate (ebteff.sim.labels: 2.7% at 15,000 K, 7.5% at 20,000 K) exceeds
    # the few per cent of its other errors: the median relative error (the mean is moved by the
    # catastrophic solutions along the Teff-A0 degeneracy, which no function of the label can
    # undo) is halved at least. (On the tiny run: -6% raw, -0.3% corrected, ~160 stars.)
    correction = load_correction_json(workdir / "results/tiny/correction/teff_correction.json")
    ref = pl.read_parquet(workdir / "resources/tiny/reference/teff_reference.parquet").join(
        pl.read_parquet(
            workdir / "resources/tiny/photometry/eb_unified_photometry.parquet",
            columns=["source_id", "teff_gaia"],
        ),
        on="source_id",
    )
    ref = ref.filter(pl.col("teff_gaia") > HOT_BIAS_CHECK_K)
    label, truth = ref["teff_gaia"].to_numpy(), ref["teff_ref"].to_numpy()
    raw = np.median(label / truth - 1)
    corrected = np.median(correction.apply(label) / truth - 1)
    assert raw < 0 and abs(corrected) <= 0.5 * abs(raw), (raw, corrected, ref.height)


def test_models_share_one_split_and_are_evaluated(snakemake_run):
    workdir, _ = snakemake_run
    split = pl.read_parquet(workdir / "results/tiny/split/split.parquet")
    for model in MODELS:
        table = pl.read_parquet(workdir / f"results/tiny/features/{model}.parquet")
        joined = table.join(split, on="source_id", suffix="_shared")
        assert joined.height == table.height
        assert (joined["split"].cast(pl.String) == joined["split_shared"].cast(pl.String)).all()
        meta = json.loads((workdir / f"results/tiny/models/{model}/metadata.json").read_text())
        assert meta["features"] == TEST_CONFIG_MODELS[model]["features"]
        assert meta["training_rows"] == table.filter(pl.col("split") == "train").height
        metrics = json.loads((workdir / f"results/tiny/models/{model}/metrics.json").read_text())
        test = metrics["splits"]["test"]
        assert test["vs_label"]["overall"]["n"] == table.filter(pl.col("split") == "test").height
        assert test["vs_label"]["overall"]["mae"] > 0  # how good it is: test_accuracy.py
        assert "vs_truth" in test and set(test["vs_label"]["per_bin"]) == set(
            ["0-4000", "4000-5000", "5000-6000", "6000-8000", "8000-50000"]
        )
        assert (
            "| test vs label |" in (workdir / f"results/tiny/models/{model}/metrics.md").read_text()
        )


def test_each_model_is_trained_by_its_configured_engine(snakemake_run):
    """The tiny config trains with both engines; each model's metadata says which, with the
    installed version of the distribution that provides it, and the file loads back."""
    from importlib.metadata import version

    from ebteff.forest import ENGINE_DISTRIBUTION, load_forest

    workdir, _ = snakemake_run
    config = load_test_config()
    engines = {}
    for model in MODELS:
        engine = TEST_CONFIG_MODELS[model].get("engine", config["training"]["engine"])
        meta = json.loads((workdir / f"results/tiny/models/{model}/metadata.json").read_text())
        dist = ENGINE_DISTRIBUTION[engine]
        assert meta["engine"] == engine and meta["versions"][dist] == version(dist), model
        forest, stored = load_forest(workdir / f"results/tiny/models/{model}/model.parquet")
        assert stored["engine"] == engine and len(forest.estimators_) == 20
        engines[model] = engine
    assert set(engines.values()) == {"sklearn", "sklearnex"}


def test_complete_run_leaves_nothing_to_do(snakemake_run):
    workdir, _ = snakemake_run
    proc = run_snakemake(workdir, "-n")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_dry_run_shows_the_dag(workflow_dir):
    proc = run_snakemake(workflow_dir, "-n")
    out = proc.stdout + proc.stderr
    for rule in ("simulate_photometry", "validate_photometry", "fit_correction", "train_model"):
        assert rule in out
    assert not (workflow_dir / "resources").exists()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda c: c.update(unknown_key=1),
            "config key <top level>: Additional properties are not allowed ('unknown_key'",
        ),
        (
            lambda c: c["simulate"].update(n_stars="many"),
            "config key simulate.n_stars: 'many' is not of type 'integer'",
        ),
        (lambda c: c.update(source="ftp"), "config key source: 'ftp' is not one of"),
        (lambda c: c.update(source="local"), "config key local.path: None is not of type 'string'"),
        (lambda c: c["huggingface"].update(sha256="abc"), "config key huggingface.sha256"),
    ],
)
def test_bad_config_stops_with_the_key_named(workflow_dir, tiny_config, edit, message):
    edit(tiny_config)
    cfg = write_config(workflow_dir / "bad.yaml", tiny_config)
    proc = run_snakemake(workflow_dir, configfile=cfg, check=False)  # a real run, not -n
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
    # refused while the Snakefile is read: no job ran, nothing was written
    assert not (workflow_dir / "results").exists() and not (workflow_dir / "resources").exists()


def test_local_source(workflow_dir, tiny_config):
    make_table(300).write_parquet(workflow_dir / "mine.parquet")
    tiny_config.update(source="local", local={"path": "mine.parquet"})
    cfg = write_config(workflow_dir / "local.yaml", tiny_config)
    run_snakemake(workflow_dir, "results/tiny/photometry/summary.json", configfile=cfg)
    summary = json.loads((workflow_dir / "results/tiny/photometry/summary.json").read_text())
    assert summary["rows"] == 300
    # the table is imported into the upstream schema; nothing is simulated
    assert (workflow_dir / "resources/tiny/photometry/eb_unified_photometry.parquet").exists()
    assert not (workflow_dir / "resources/tiny/photometry/truth.parquet").exists()
    assert not (workflow_dir / "resources/tiny/reference").exists()


def test_fitting_real_photometry_without_reference_asks_for_one(workflow_dir, tiny_config):
    # correction.mode auto (the default) loads the published correction instead
    # (tests/workflow/test_real_data.py); asking to fit needs a reference table
    make_table(300).write_parquet(workflow_dir / "mine.parquet")
    tiny_config.update(source="local", local={"path": "mine.parquet"})
    tiny_config["correction"]["mode"] = "fit"
    cfg = write_config(workflow_dir / "local.yaml", tiny_config)
    proc = run_snakemake(workflow_dir, "-n", configfile=cfg, check=False)
    assert proc.returncode != 0
    assert "set correction.reference to a Parquet file" in proc.stdout + proc.stderr


def test_lint_is_clean(workflow_dir):
    proc = run_snakemake(workflow_dir, "--lint")
    assert "Lints for" not in proc.stdout + proc.stderr


def test_snakefmt_and_ruff_are_clean():
    import subprocess
    import sys

    files = [str(REPO / "Snakefile"), *map(str, sorted((REPO / "rules").glob("*.smk")))]
    fmt = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", *files], capture_output=True, text=True
    )
    assert fmt.returncode == 0, fmt.stderr
    ruff = subprocess.run(
        [sys.executable, "-m", "ruff", "check", str(REPO)], capture_output=True, text=True
    )
    assert ruff.returncode == 0, ruff.stdout


def test_huggingface_source_downloads_verifies_and_validates(tmp_path, tiny_config, hub_server):
    import hashlib
    import io

    buf = io.BytesIO()
    make_table(400).write_parquet(buf)
    data = buf.getvalue()
    repo = tiny_config["huggingface"]["repo_id"]
    hub_server.add_file("dataset", repo, tiny_config["huggingface"]["filename"], data)
    env = hub_server.client_env(tmp_path / "hf_home")
    target = "results/tiny/photometry/summary.json"

    good = tmp_path / "good"
    good.mkdir()
    tiny_config["source"] = "huggingface"
    tiny_config["huggingface"]["sha256"] = hashlib.sha256(data).hexdigest()
    run_snakemake(good, target, configfile=write_config(good / "c.yaml", tiny_config), env=env)
    assert (good / "resources/tiny/photometry/eb_unified_photometry.parquet").read_bytes() == data
    assert json.loads((good / target).read_text())["rows"] == 400
    assert hub_server.requests_matching(method="GET")

    bad = tmp_path / "bad"
    bad.mkdir()
    tiny_config["huggingface"]["sha256"] = "0" * 64
    cfg = write_config(bad / "c.yaml", tiny_config)
    proc = run_snakemake(bad, target, configfile=cfg, env=env, check=False)
    assert proc.returncode != 0
    assert "sha256" in proc.stdout + proc.stderr
    assert not (bad / "resources/tiny/photometry/eb_unified_photometry.parquet").exists()
    assert not (bad / target).exists()


def test_catalogue_accounts_for_every_star(snakemake_run):
    from astropy.io import fits

    workdir, _ = snakemake_run
    phot = pl.read_parquet(workdir / "resources/tiny/photometry/eb_unified_photometry.parquet")
    cat = pl.read_parquet(workdir / "results/tiny/catalog/eb_teff_catalog.parquet")
    assert cat.height == phot.height and cat["source_id"].n_unique() == cat.height
    assert set(cat["source_id"]) == set(phot["source_id"])
    for m in MODELS:
        assert {f"teff_{m}", f"teff_{m}_err"} <= set(cat.columns)
    # flags follow their definitions
    has_gaia = cat["teff_gaia"].is_not_null()
    assert (cat.filter(has_gaia)["flag"] == "A").all()
    ml = cat.filter(~has_gaia & cat["teff_best"].is_not_null())
    err = ml["teff_best_err"]
    expected = np.where(err < 300, "B", np.where(err < 500, "C", "D"))
    assert (ml["flag"].to_numpy() == expected).all()
    assert (cat.filter(cat["teff_best"].is_null())["flag"] == "X").all()
    with fits.open(workdir / "results/tiny/catalog/eb_teff_catalog.fits") as hdul:
        hdu = hdul["EB_TEFF"]
        assert hdu.header["NAXIS2"] == cat.height and hdu.header["NSTARS"] == cat.height
        assert len(hdu.header["PHOTSHA"]) == 64 and hdu.header["MODEL1"] == MODELS[0]
        assert hdu.columns["teff_best"].unit == "K" and hdu.columns["ra"].unit == "deg"
        assert np.array_equal(hdu.data["source_id"], cat["source_id"].to_numpy())
    summary = json.loads((workdir / "results/tiny/catalog/summary.json").read_text())
    assert sum(summary["flags"].values()) == cat.height


def test_every_stage_keeps_each_star_once(snakemake_run):
    # the catalogue's accounting (above) at every stage before it: a star dropped or doubled
    # anywhere fails here, at the stage that did it
    workdir, _ = snakemake_run
    phot = pl.read_parquet(workdir / "resources/tiny/photometry/eb_unified_photometry.parquet")
    stars = set(phot["source_id"])
    labelled = set(phot.filter(pl.col("teff_gaia") != SENTINEL)["source_id"])

    def ids(path: str) -> set:
        table = pl.read_parquet(workdir / path)
        assert table["source_id"].n_unique() == table.height, f"{path}: a star twice"
        return set(table["source_id"])

    assert ids("results/tiny/split/split.parquet") == labelled  # every labelled star, one split
    for m in MODELS:
        assert ids(f"results/tiny/predictions/{m}.parquet") == stars, m
        usable = ids(f"results/tiny/features/{m}.parquet")
        counts = json.loads((workdir / f"results/tiny/features/{m}.counts.json").read_text())
        assert usable <= labelled and counts["usable"] == len(usable), m
        # every labelled star is used or counted out, for a reason
        out = counts["missing_features"] + counts["label_out_of_range"]
        assert counts["labelled"] == len(labelled) == len(usable) + out, m


def test_catalogue_is_the_same_whatever_the_chunk_count(snakemake_run, tmp_path, tiny_config):
    import shutil

    workdir, _ = snakemake_run
    copy = tmp_path / "rechunked"
    shutil.copytree(workdir, copy, symlinks=True)
    tiny_config["predict"]["chunks"] = 3
    cfg = write_config(tmp_path / "three.yaml", tiny_config)
    proc = run_snakemake(copy, "results/tiny/catalog/eb_teff_catalog.parquet", configfile=cfg)
    out = proc.stdout + proc.stderr
    assert "predict_chunk" in out and "train_model" not in out  # only prediction reran
    for path in (
        "results/tiny/catalog/eb_teff_catalog.parquet",
        *[f"results/tiny/predictions/{m}.parquet" for m in MODELS],
    ):
        assert (copy / path).read_bytes() == (workdir / path).read_bytes(), path


# --- Coverage of the uncertainties on the tiny run: thresholds from sampling error
#
# Which test star lands on which side of its sigma or percentile depends on the forests, and the
# forests differ between CPU families (docs/design.md, "What is byte-identical"): a
# threshold set from the values one machine gave fails on another (a p16 fraction 2.7 standard
# errors low failed a flat 2-point tolerance on every run on AMD EPYC). So each fraction is held
# to what sampling allows: the calibration split and the test split are two independent samples
# of the labelled stars, the calibration is fitted (sigma) or conformal (percentiles) on the
# first, and the test fraction scatters about the calibration split's by the binomial error of
# both (_split_scatter). Z standard errors are allowed, Z shared out (Bonferroni) between every
# fraction this file checks, so that a sound run fails one by chance with probability < 1e-3 on
# any machine (as in tests/workflow/test_accuracy.py). The checks keep their teeth: the raw
# tree spread misses 68% by 20-40 points (checked below), an uncalibrated percentile as much.
N_REPORTS = len(MODELS) + 1  # the models and teff_best
N_BINS = len(TEFF_BIN_EDGES) - 1  # bins of predicted Teff of the reports
#: Fractions checked: 1 and 2 sigma (the models), five percentiles (every report), overall and
#: per bin.
N_CHECKS = (2 * len(MODELS) + 5 * N_REPORTS) * (1 + N_BINS)
Z = float(ndtri(1 - 1e-3 / (2 * N_CHECKS)))  # ~4.5


def _split_scatter(p: float, n_test: int, n_cal: int) -> float:
    """Standard error of (fraction on the test split) - (fraction on the calibration split) of
    an event of probability p: binomial on each of two independent samples (the calibration
    split's fraction is fitted to it, so its own variance is at most this)."""
    return (p * (1 - p) * (1 / n_test + 1 / max(n_cal, 1))) ** 0.5


#: Report bins with fewer test stars are not checked (as in test_accuracy.py).
MIN_REPORT_BIN = 100


def _within_bounds(st: dict, cal: dict) -> bool:
    """Sigma coverage of a bin on the test stars within Z sampling errors of the same bin's
    on the calibration stars (the fit's own fraction; see the test below)."""
    return all(
        abs(st[key] - cal[key]) <= Z * _split_scatter(target, st["n"], cal["n"])
        for key, target in (("within_1sigma", ONE_SIGMA), ("within_2sigma", TWO_SIGMA))
    )


def _calibration_split_coverage(full: dict, key: str) -> tuple[float, int]:
    """A model's overall fraction ``key`` on the calibration split and its number of stars."""
    overall = full["calibration"]["by_predicted_bin"]["overall"]
    return overall[key], overall["n"]


def test_calibrated_uncertainties_cover_the_test_stars(snakemake_run):
    workdir, _ = snakemake_run
    reports = {
        m: json.loads((workdir / f"results/tiny/calibration/{m}.json").read_text()) for m in MODELS
    }
    # teff_best_err is (p84 - p16) / 2 of teff_best's percentiles, taken about teff_best: with
    # skewed errors a symmetric half-width covers less than the [p16, p84] it comes from (64%
    # on the tiny run), which says nothing of the percentiles themselves: teff_best is held
    # to them in test_percentiles_cover_the_test_stars. Each model's report is of its
    # calibrated sigma, checked here.
    for name, full in reports.items():
        rep = full["test"]
        overall = rep["by_predicted_bin"]["overall"]
        for key, target in (("within_1sigma", ONE_SIGMA), ("within_2sigma", TWO_SIGMA)):
            # The calibration fits a Gaussian sigma to reach 68.27% and 95.45% on the stars it
            # was fitted on; the labels' heavy tails (GSP-Phot's catastrophic solutions,
            # ebteff.sim.labels) keep a single sigma from meeting both, so the fit's compromise
            # (its own split's fraction) is the reference, and the test stars, an independent
            # sample, must reproduce it: Z standard errors of the difference (1 sigma: 0.96
            # points, so 4.3 allowed; 2 sigma: 0.43, so 1.9; ~4,700 and ~4,600 stars). The
            # percentiles, conformal, carry the exact coverage (next test).
            cal, n_cal = _calibration_split_coverage(full, key)
            se = _split_scatter(target, overall["n"], n_cal)
            assert abs(overall[key] - cal) <= Z * se, (name, key, overall[key], cal, se)
        tested = 0
        for bin_name, st in rep["by_predicted_bin"]["per_bin"].items():
            # per bin with MIN_REPORT_BIN test stars (sparser bins scatter too much to say
            # anything)
            if st["n"] < MIN_REPORT_BIN:
                continue
            tested += 1
            cal_bin = full["calibration"]["by_predicted_bin"]["per_bin"][bin_name]
            assert _within_bounds(st, cal_bin), (name, bin_name, st, cal_bin)
        assert tested >= 3, (name, tested)
        if "raw_tree_spread" in rep:
            # the trees alone are over-confident: on the calibration stars their spread, taken
            # as sigma, covers further from 68.27% than the calibrated sigma does, so
            # calibrating is not a formality
            raw = full["calibration"]["raw_tree_spread"]["overall"]["within_1sigma"]
            cal, _ = _calibration_split_coverage(full, "within_1sigma")
            assert abs(raw - ONE_SIGMA) > abs(cal - ONE_SIGMA), (name, raw, cal)
        cal = (
            json.loads((workdir / f"results/tiny/models/{name}/calibration.json").read_text())
            if name in MODELS
            else None
        )
        if cal:
            assert cal["scale"] == "teff_gaia_corrected"
            assert (cal["rescale"] is None) == (TEST_CONFIG_MODELS[name]["target"] != "teff_gaia")


#: Levels of the published percentiles.
PERCENTILE_TARGETS = {"p05": 0.05, "p16": 0.16, "p50": 0.50, "p84": 0.84, "p95": 0.95}


def _percentile_bound(target: float, n_test: int, n_cal: int) -> float:
    """Largest |fraction of test labels below a percentile - its level| a sound run gives.

    The percentiles are split-conformal per calibration bin (ebteff.calibrate): over the draw of
    the calibration stars, the fraction of new stars below a bin's percentile at level q has
    mean q, less at most 1 / (n_bin + 1) (the finite-sample correction rounds towards the
    median; n_bin >= MIN_BIN_STARS), and variance ~ q (1 - q) / n_cal; the test stars add their
    binomial q (1 - q) / n_test. Z standard errors of both plus that shift: for ~4,700 test and
    ~4,600 calibration stars overall, 2.5 points at p05 / p95, 3.9 at p16 / p84, 5.2 at p50
    (the standard errors are 0.45, 0.76 and 1.04 points); per bin of ~500 and ~500 stars, 6.7,
    11.0 and 14.8 points.
    """
    return Z * _split_scatter(target, n_test, n_cal) + 1 / (MIN_BIN_STARS + 1)


def _percentiles_within_bounds(st: dict, n_calibration: int) -> list[str]:
    """Percentile cells of a bin outside their bound (_percentile_bound)."""
    return [
        f"{name}: {100 * st[f'below_{name}']:.1f}%"
        for name, target in PERCENTILE_TARGETS.items()
        if abs(st[f"below_{name}"] - target) > _percentile_bound(target, st["n"], n_calibration)
    ]


def test_percentiles_cover_the_test_stars(snakemake_run):
    workdir, _ = snakemake_run
    reports = {
        m: json.loads((workdir / f"results/tiny/calibration/{m}.json").read_text()) for m in MODELS
    }
    best = json.loads((workdir / "results/tiny/calibration/teff_best.json").read_text())
    reports["teff_best"] = {"test": best, "calibration": best}
    # teff_best's percentiles are recalibrated on the calibration stars each model won
    n_best = sum(b["n"] for cal in best["calibration"].values() if cal for b in cal["bins"])
    for name, rep in reports.items():
        test = rep["test"]["percentiles_by_predicted_bin"]
        cal = rep["calibration"].get("percentiles_by_predicted_bin")
        overall = test["overall"]
        n_cal = cal["overall"]["n"] if cal else n_best
        for q, target in PERCENTILE_TARGETS.items():
            bound = _percentile_bound(target, overall["n"], n_cal)
            assert abs(overall[f"below_{q}"] - target) <= bound, (name, q, bound, overall)
        assert overall["pit_ks"] < 0.05, name
        if name == "teff_best":
            # Not per bin of Teff: teff_best's percentiles are conformal per winning model and
            # per bin of that model's Teff holding MIN_BIN_STARS calibration stars it won
            # (ebteff.catalog.fit_best_calibration), so they hold per bin of Teff only where
            # each winner's bins are that fine. In the tiny run the Gaia-only models win ~500
            # calibration stars each, one bin from 2,500 to 50,000 K, mostly cool stars whose
            # labels lie above the forest's mean: their p50 sits above the prediction at every
            # Teff, and in the hottest predicted bin (134 test stars) it was above 81% of the
            # labels. docs/uncertainties.md reports it; the overall check above is what the
            # construction guarantees here.
            continue
        tested = 0
        for bin_name, st in test["per_bin"].items():
            if st["n"] < MIN_REPORT_BIN:
                continue
            tested += 1
            n_cal = cal["per_bin"][bin_name]["n"] if cal else st["n"]
            assert not _percentiles_within_bounds(st, n_cal), (name, bin_name, st)
        assert tested >= 3, (name, tested)
        # per bin of the label: reported, with the hot bin's symmetric-sigma comparison
        hot = rep["test"]["percentiles_by_label_bin"]["per_bin"]["8000-50000"]
        assert 0 <= hot["within_p16_p84"] <= 1 and "pit_ks" in hot


def test_every_star_with_a_teff_has_percentiles_and_flag_bits(snakemake_run):
    from ebteff.flags import FLAG_BITS, MODEL_BIT0

    workdir, _ = snakemake_run
    cat = pl.read_parquet(workdir / "results/tiny/catalog/eb_teff_catalog.parquet")
    has = cat["teff_best"].is_not_null()
    for col in ("teff_best_p05", "teff_best_p16", "teff_best_p50", "teff_best_p84"):
        assert (cat[col].is_not_null() == has).all(), col
    assert (cat["teff_best_err"].is_not_null() == has).all()  # flag A included
    ordered = cat.filter(has).select(
        (pl.col("teff_best_p05") <= pl.col("teff_best_p16"))
        & (pl.col("teff_best_p16") <= pl.col("teff_best_p50"))
        & (pl.col("teff_best_p50") <= pl.col("teff_best_p84"))
        & (pl.col("teff_best_p84") <= pl.col("teff_best_p95"))
    )
    assert ordered.to_series().all()
    # percentiles are built in ln Teff: no star's, of teff_best or of any model, is <= 0 K
    pct = [c for c in cat.columns if c.startswith("teff_") and c[-4:-2] == "_p"]
    assert len(pct) == 5 * (len(MODELS) + 1)
    for col in pct:
        assert cat[col].drop_nulls().min() > 0, col
    bits = cat["flag_bits"]
    assert (((bits & FLAG_BITS["label"]) > 0) == (cat["flag"] == "A")).all()
    assert (((bits & FLAG_BITS["ml"]) > 0) == cat["flag"].is_in(["B", "C", "D"])).all()
    assert (((bits & FLAG_BITS["hot"]) > 0) == (cat["teff_best"].fill_null(0) > 10_000)).all()
    for i, m in enumerate(MODELS):
        assert (((bits & (1 << (MODEL_BIT0 + i))) > 0) == (cat["teff_best_source"] == m)).all()
    missing = pl.any_horizontal(pl.col(f"teff_{m}").is_null() for m in MODELS)
    assert (((bits & FLAG_BITS["features_missing"]) > 0) == cat.select(missing).to_series()).all()
    split = pl.read_parquet(workdir / "results/tiny/split/split.parquet")
    joined = cat.join(split, on="source_id", how="left")
    for part in ("train", "calibration", "test"):
        in_part = (joined["split"] == part).fill_null(False)
        assert (((joined["flag_bits"] & FLAG_BITS[f"split_{part}"]) > 0) == in_part).all(), part
    out = (bits & FLAG_BITS["outside_training_range"]) > 0
    assert 0 < out.sum() < cat.filter(pl.col("flag") != "A").height  # some, not every one
    summary = json.loads((workdir / "results/tiny/catalog/summary.json").read_text())
    assert summary["recommended_cut"]["kept"] == int(
        (cat["flag"].is_in(["A", "B", "C"]) & ~out).sum()
    )
    for m in MODELS:
        ranges = json.loads((workdir / f"results/tiny/models/{m}/calibration.json").read_text())
        assert set(ranges["feature_range"]) == set(TEST_CONFIG_MODELS[m]["features"])


def test_every_catalogue_file_holds_the_same_rows_and_values(snakemake_run):
    import warnings

    from astropy.io import fits
    from astropy.io.votable import parse_single_table

    workdir, _ = snakemake_run
    d = workdir / "results/tiny/catalog"
    cat = pl.read_parquet(d / "eb_teff_catalog.parquet")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a checksum that does not verify warns
        hdul = fits.open(d / "eb_teff_catalog.fits", checksum=True)
        vt = parse_single_table(d / "eb_teff_catalog.vot").to_table()
    hdu = hdul["EB_TEFF"]
    assert hdu.header["SIMPHOT"] is True and "CHECKSUM" in hdu.header and "DATASUM" in hdu.header
    fields = {c.name: c for c in parse_single_table(d / "eb_teff_catalog.vot").fields}
    assert fields["teff_best"].ucd.startswith("phys.temperature.effective")
    assert fields["source_id"].ucd == "meta.id;meta.main" and fields["ra"].unit == "deg"
    csv = pl.read_csv(d / "eb_teff_catalog.csv", schema=cat.schema)
    assert len(hdu.data) == len(vt) == csv.height == cat.height == N_STARS
    for name in cat.columns:
        col = cat[name]
        if col.dtype == pl.String:
            want = col.fill_null("").to_list()
            assert [v.strip() for v in hdu.data[name].astype(str)] == want, name
            assert [str(v) for v in vt[name]] == want, name
        else:
            want = col.cast(pl.Float64).fill_null(np.nan).to_numpy()
            assert np.array_equal(np.asarray(hdu.data[name], float), want, equal_nan=True), name
            got = np.ma.filled(np.ma.asarray(vt[name], dtype=float), np.nan)
            assert np.array_equal(got, want, equal_nan=True), name
        assert csv[name].equals(col), name
    hdul.close()
    log = (workdir / "results/tiny/logs/build_catalog.log").read_text()
    assert "Card is too long" not in log and "truncated" not in log


def test_a_run_prints_no_empty_shell_commands_nor_the_host_block(snakemake_run):
    """profiles/default trims what a run prints: every rule runs a script, so no job has a
    shell command to show, and the host block (date, host, user) is left out."""
    _, proc = snakemake_run
    out = proc.stdout + proc.stderr
    assert "Using workflow specific profile" in out and "Finished job" in out
    assert "Shell command: None" not in out
    assert "Host: " not in out and "Platform: " not in out
