"""What the calibrated percentiles add to prediction time: same forest, same stars.

    python benchmarks/percentile_cost.py RUN_DIR gaia_teff_corrected_log [--stars 50000]

Times, in CPU seconds (process time) and wall seconds, (A) the forest's prediction of the first
``--stars`` stars of the run's photometry (predict_frame: mean and tree spread) and (B) turning
those raw outputs into the catalogue's columns with the model's stored calibration
(ebteff.catalog.model_columns: Teff, p05 ... p95, _err; training-range check excluded, as it is
not part of the percentiles). Prints both and B / A.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from ebteff.catalog import model_columns
from ebteff.config import run_folders
from ebteff.features import ModelSpec, prepare_photometry
from ebteff.forest import read_flat_forest
from ebteff.io import scan_photometry
from ebteff.predict import LoadedModel, predict_frame


def timed(fn):
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("model")
    ap.add_argument("--stars", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    results, resources = run_folders(args.run)
    folder = results / "models" / args.model
    forest, _ = read_flat_forest(folder / "model.parquet")  # as predict_chunk reads it
    meta = json.loads((folder / "metadata.json").read_text())
    spec = ModelSpec.from_config(
        args.model, {k: meta[k] for k in ("features", "target", "transform")}
    )
    cal = json.loads((folder / "calibration.json").read_text())
    cal.pop("feature_range", None)
    frame = prepare_photometry(
        scan_photometry(resources / "photometry/eb_unified_photometry.parquet").head(args.stars),
        None,
    ).collect()
    model = LoadedModel(spec, forest)
    best_a = best_b = None
    for _ in range(args.repeat):
        raw, cpu_a, wall_a = timed(lambda: predict_frame(frame, [model], n_jobs=1))
        _, cpu_b, wall_b = timed(lambda: model_columns(args.model, cal, raw))  # noqa: B023
        if best_a is None or cpu_a < best_a[0]:
            best_a = (cpu_a, wall_a)
        if best_b is None or cpu_b < best_b[0]:
            best_b = (cpu_b, wall_b)
    n = frame.height
    print(f"{args.model}, {n} stars, best of {args.repeat}, load {os.getloadavg()[0]:.2f}")
    print(f"A forest prediction:        {best_a[0]:.3f} CPU-s, {best_a[1]:.3f} s wall")
    print(f"B calibrated percentiles:   {best_b[0]:.3f} CPU-s, {best_b[1]:.3f} s wall")
    print(
        f"B / A: {100 * best_b[0] / best_a[0]:.2f}% (CPU), "
        f"{100 * best_b[1] / best_a[1]:.2f}% (wall)"
    )


if __name__ == "__main__":
    main()
