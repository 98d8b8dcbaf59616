"""What predicting a user's table costs (`snakemake stars`), against the catalogue's path.

Takes a finished run directory (its models, calibrations, teff_best calibration, correction and
photometry) and builds input tables of the requested sizes by repeating the run's photometry
rows with fresh source_ids. Each measurement runs in a child process of its own, which reports
its peak resident memory and CPU seconds:

- peak RSS of ``ebteff.stars.predict_stars`` with every model, at each ``--rows`` size (it must
  not grow with the number of rows: the table is read, predicted and written in batches);
- stars per CPU-second per model, both paths on the same forest and the same table, measured
  side by side (interleaved): ``stars`` (``predict_stars`` with that model alone, calibration,
  best-of, Parquet and FITS included) and ``chunk`` (``ebteff.predict.predict_rows``, what
  ``predict_chunk`` runs: raw Teff and spread only).

    nice -n 10 python benchmarks/stars_cost.py --run RUN_DIR --rows 100000 2179680 \\
        --speed-run BIG_RUN_DIR --speed-rows 200000

Prints one line per measurement and a JSON summary. Note the load average (``uptime``) with
the figures: other work on the machine inflates wall times, not CPU seconds much.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from ebteff.config import run_folders

PHOTOMETRY = "photometry/eb_unified_photometry.parquet"


def run_models(run: Path) -> list[str]:
    models = run_folders(run)[0] / "models"
    return sorted(p.parent.name for p in models.glob("*/model.parquet"))


def stored_files(run: Path, models: list[str]) -> dict:
    results = run_folders(run)[0]
    return {
        "models": {
            m: {
                "model": results / f"models/{m}/model.parquet",
                "metadata": results / f"models/{m}/metadata.json",
                "calibration": results / f"models/{m}/calibration.json",
            }
            for m in models
        },
        "best_calibration": results / "calibration/teff_best.json",
        "correction": results / "correction/teff_correction.json",
    }


def build_table(run: Path, rows: int, dest: Path, batch: int = 200_000) -> Path:
    """``rows`` rows: the run's photometry repeated, source_id made unique, written in batches."""
    if dest.exists():
        return dest
    base = pl.read_parquet(run_folders(run)[1] / PHOTOMETRY)
    writer = None
    done = 0
    while done < rows:
        part = base.head(min(batch, rows - done, base.height))
        part = part.with_columns(pl.Series("source_id", np.arange(done, done + part.height) + 1))
        table = part.to_arrow()
        writer = writer or pq.ParquetWriter(dest, table.schema, compression="zstd")
        writer.write_table(table)
        done += part.height
    writer.close()
    return dest


def child(args) -> None:
    """One measurement; prints its JSON result as the last line."""
    import astropy.io.fits  # noqa: F401  (imported before the clock starts, like the others)

    from ebteff.features import ModelSpec
    from ebteff.forest import read_flat_forest
    from ebteff.logs import peak_rss_mb
    from ebteff.predict import LoadedModel, predict_rows
    from ebteff.stars import load_stored_models, predict_stars

    run = Path(args.run)
    models = args.models or run_models(run)
    out = Path(args.out)
    start_cpu, start = time.process_time(), time.perf_counter()
    if args.child == "stars":
        stored = load_stored_models(**stored_files(run, models))
        load_cpu = time.process_time() - start_cpu
        predict_stars(
            args.table,
            stored,
            out / "stars.parquet",
            out / "stars.fits",
            batch_rows=args.batch_rows,
            n_jobs=args.threads,
        )
    else:
        (m,) = models
        files = stored_files(run, [m])["models"][m]
        model = LoadedModel(
            ModelSpec.from_config(m, json.loads(files["metadata"].read_text())),
            read_flat_forest(files["model"])[0],
        )
        load_cpu = time.process_time() - start_cpu
        n = pq.ParquetFile(args.table).metadata.num_rows
        predict_rows(
            args.table,
            model,
            0,
            n,
            out / "chunk.parquet",
            batch_rows=args.batch_rows,
            n_jobs=args.threads,
        )
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "cpu_s": usage.ru_utime + usage.ru_stime,
                "load_cpu_s": load_cpu,
                "predict_cpu_s": time.process_time() - start_cpu - load_cpu,
                "wall_s": time.perf_counter() - start,
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    )


def measure(run: Path, table: Path, kind: str, models, tmp: Path, args) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--run", str(run), "--table", str(table)]
    cmd += ["--out", str(tmp), "--batch-rows", str(args.batch_rows), "--threads", str(args.threads)]
    cmd += ["--models", *models]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="finished run directory (models, calibrations, photometry)")
    parser.add_argument("--rows", type=int, nargs="*", default=[100_000, 2_179_680])
    parser.add_argument("--speed-run", help="run whose forests the speed A/B uses (default --run)")
    parser.add_argument("--speed-rows", type=int, default=200_000)
    parser.add_argument("--batch-rows", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tmp", help="folder for the input tables (default: a temporary one)")
    parser.add_argument("--child", choices=["stars", "chunk"], help=argparse.SUPPRESS)
    parser.add_argument("--table", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--models", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    tmp = Path(args.tmp or tempfile.mkdtemp(prefix="stars_cost."))
    tmp.mkdir(parents=True, exist_ok=True)
    summary = {"load_average": os.getloadavg(), "threads": args.threads, "rss": {}, "speed": {}}
    run = Path(args.run)
    models = run_models(run)
    for rows in args.rows:
        table = build_table(run, rows, tmp / f"rss_{rows}.parquet")
        r = measure(run, table, "stars", models, tmp, args)
        summary["rss"][rows] = r
        print(
            f"stars, {len(models)} models, {rows:,} rows: peak RSS {r['peak_rss_mb']:.0f} MB, "
            f"{r['cpu_s']:.1f} CPU-s, {r['wall_s']:.1f} s wall",
            flush=True,
        )
    speed_run = Path(args.speed_run or args.run)
    table = build_table(speed_run, args.speed_rows, tmp / f"speed_{args.speed_rows}.parquet")
    for m in run_models(speed_run):
        res = {k: measure(speed_run, table, k, [m], tmp, args) for k in ("chunk", "stars")}
        for r in res.values():
            r["stars_per_cpu_s"] = args.speed_rows / r["predict_cpu_s"]
        summary["speed"][m] = res
        chunk, stars = (res[k]["stars_per_cpu_s"] for k in ("chunk", "stars"))
        print(
            f"{m}, {args.speed_rows:,} rows: chunk {chunk:,.0f} stars/CPU-s, stars {stars:,.0f} "
            f"stars/CPU-s (stars/chunk {stars / chunk:.2f}; imports, forest loading excluded)",
            flush=True,
        )
    summary["load_average_end"] = os.getloadavg()
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
