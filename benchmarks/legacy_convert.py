"""Cost of converting a legacy forest pickle to the node table, against plain joblib.load.

Fits a forest with the published hyperparameters (fewer trees, on simulated-like data), pickles
it the way the earlier pipeline did (joblib.dump of the bare forest), then times in this
process: joblib.load (unrestricted), the restricted load with its checks
(ebteff.legacy.load_forest_pickle), and the whole conversion (convert_legacy_forest), in CPU
seconds, with the pickle's and the table's sizes and the peak resident memory.

Usage: python benchmarks/legacy_convert.py [n_trees] [n_rows]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestRegressor

from ebteff.features import ModelSpec
from ebteff.io import sha256sum
from ebteff.legacy import convert_legacy_forest, load_forest_pickle
from ebteff.logs import peak_rss_mb

FEATURES = ["g", "bp", "rp", "bp_rp", "g_bp", "g_rp"]


def cpu() -> float:
    return time.process_time()


def main(n_trees: int = 30, n_rows: int = 100_000) -> None:
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.uniform(8, 20, (n_rows, len(FEATURES))), columns=FEATURES)
    y = np.log10(3000 + 2000 * np.abs(X["bp_rp"].to_numpy()) + rng.uniform(0, 4000, n_rows))
    model = RandomForestRegressor(
        n_estimators=n_trees,
        max_depth=20,
        min_samples_split=5,
        min_samples_leaf=4,
        max_features="log2",
        random_state=42,
        n_jobs=1,
    ).fit(X, y)
    spec = ModelSpec.from_config(
        "gaia_teff_corrected_log",
        {"features": FEATURES, "target": "teff_gaia_corrected", "transform": "log10"},
    )
    with tempfile.TemporaryDirectory() as tmp:
        pkl, table = Path(tmp) / "rf.pkl", Path(tmp) / "model.parquet"
        joblib.dump(model, pkl)
        pin = sha256sum(pkl)
        del model
        rows = []
        for name, run in [
            ("joblib.load (unrestricted)", lambda: joblib.load(pkl)),
            ("restricted load + checks", lambda: load_forest_pickle(pkl, pin, "pin")),
            ("whole conversion", lambda: convert_legacy_forest(pkl, pin, "pin", spec, table)),
        ]:
            start = cpu()
            run()
            rows.append((name, cpu() - start))
        peak = peak_rss_mb()
        print(f"forest: {n_trees} trees, fitted on {n_rows} rows x {len(FEATURES)} features")
        print(
            f"pickle {pkl.stat().st_size / 1e6:.1f} MB, "
            f"node table {table.stat().st_size / 1e6:.1f} MB"
        )
        base = rows[0][1]
        for name, seconds in rows:
            print(f"{name:28s} {seconds:7.2f} CPU-s  ({seconds / base:.2f} x joblib.load)")
        print(f"peak resident memory of this process: {peak:.0f} MB")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
