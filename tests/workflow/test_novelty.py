"""A star unlike every training star gets no Teff, through `ebteff.predict_table` with the
tiny run's models: CM Dra (an M-dwarf eclipsing binary, about 3,130 K, G = 11.5, BP - RP = 2.9,
J = 8.50, Ks = 7.80) is bright and very red at once, inside each feature's training range but far
from the training stars in their joint space."""

from __future__ import annotations

import json
import shutil

import numpy as np
import polars as pl

from ebteff import predict_table
from ebteff.calibrate import outside_range
from ebteff.release import BEST_CALIBRATION_FILE, CORRECTION_FILE, MODEL_FILES
from ebteff.schema import SENTINEL
from helpers.photometry_tables import archive_table, make_table
from helpers.workflow_runner import load_test_config

CONFIG_MODELS = load_test_config()["models"]
MODELS = list(CONFIG_MODELS)
RUN = "results/tiny"


def cm_dra_like(tmass: bool) -> pl.DataFrame:
    """CM Dra's Gaia photometry as a Gaia Archive query gives it (no GSP-Phot Teff), with its
    2MASS J, H and Ks when ``tmass``."""
    row = make_table(1, 0).with_columns(
        pl.lit(11.5).alias("g"),
        pl.lit(13.2).alias("bp"),
        pl.lit(10.3).alias("rp"),
        pl.lit(2.9).alias("bp_rp"),
        pl.lit(-1.7).alias("g_bp"),
        pl.lit(1.2).alias("g_rp"),
        pl.lit(SENTINEL).alias("teff_gaia"),
    )
    star = archive_table(row)
    if tmass:
        star = star.with_columns(
            pl.lit(8.50).alias("j_m"), pl.lit(7.96).alias("h_m"), pl.lit(7.80).alias("ks_m")
        )
    return star


def release(workdir, dest):
    """The tiny run's models as a release folder (what `snakemake publish` stages)."""
    for m in MODELS:
        (dest / m).mkdir(parents=True)
        for f in MODEL_FILES:
            shutil.copy(workdir / RUN / "models" / m / f, dest / m / f)
    shutil.copy(workdir / RUN / "calibration/teff_best.json", dest / BEST_CALIBRATION_FILE)
    shutil.copy(workdir / RUN / "correction/teff_correction.json", dest / CORRECTION_FILE)
    return dest


def test_cm_dra_like_star_is_refused_not_given_a_wrong_teff(snakemake_run, tmp_path):
    workdir, _ = snakemake_run
    folder = release(workdir, tmp_path / "release")
    # as an archive query gives it, Gaia photometry only: the models of Gaia photometry alone
    # predict it, each feature inside their training range, so the marginal check alone would
    # let it through
    row = predict_table(cm_dra_like(tmass=False), folder).row(0, named=True)
    phot = {"g": 11.5, "bp": 13.2, "rp": 10.3, "bp_rp": 2.9, "g_bp": -1.7, "g_rp": 1.2}
    phot |= {"bp_g": 1.7, "rp_g": -1.2}
    gaia_models = [m for m in MODELS if set(CONFIG_MODELS[m]["features"]) <= set(phot)]
    assert len(gaia_models) >= 2
    for m in set(MODELS) - set(gaia_models):
        assert row[f"teff_{m}"] is None, m
    for m in gaia_models:
        cal = json.loads((folder / m / "calibration.json").read_text())
        assert not outside_range(cal, {f: np.array([phot[f]]) for f in cal["feature_range"]})[0]
        assert row[f"teff_{m}"] is not None, m
        assert row[f"teff_{m}_novelty"] > 1, (m, row[f"teff_{m}_novelty"])
    assert row["flag"] == "X" and row["teff_best"] is None and row["teff_best_p16"] is None
    assert row["no_teff_reason"].startswith("no GSP-Phot Teff; novel to every model")
    assert all(m in row["no_teff_reason"] for m in gaia_models)
    # with 2MASS: a model of colours alone, to which the star is not novel, gives teff_best
    # whatever the novel models' sigmas
    row = predict_table(cm_dra_like(tmass=True), folder).row(0, named=True)
    ir = next(m for m in MODELS if "2mass" in m)
    if row[f"teff_{ir}_novelty"] <= 1:
        assert row["teff_best_source"] == ir and row["teff_best"] == row[f"teff_{ir}"]
    else:
        assert row["flag"] == "X"
    # stars of the run's own kind, without a GSP-Phot Teff, are still given one
    phot_path = workdir / "resources/tiny/photometry/eb_unified_photometry.parquet"
    usual = archive_table(pl.read_parquet(phot_path).filter(pl.col("teff_gaia") == SENTINEL))
    usual = predict_table(usual.head(500), folder)
    refused = usual.filter(pl.col("no_teff_reason").str.contains("novel")).height
    # catalogue stars without a label are fainter than the training stars (the faintest are
    # beyond their magnitude range), so more of them than the 0.5% of held-out stars are novel
    # (2.7% of all stars, 6.8% of those without a label in the tiny run); still few
    assert refused < 0.15 * usual.height, refused
