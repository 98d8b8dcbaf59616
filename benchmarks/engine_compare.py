"""Benchmark: the training engines side by side, each model of the config with each engine.

On a workflow run's feature tables (its training split, the models' features and targets and
the published hyperparameters of ``config/config.yaml``), every model is fitted with every
engine of ``ebteff.forest.ENGINES``, each fit in a fresh process (so peak RSS is its own), the
engines of one model one after the other (so their ratio sees the same load). Per fit:

* fit CPU seconds (user + system of all threads) and wall seconds, of ``train_forest`` alone;
* peak RSS of the process (reading the table, the fit, the export to the node table);
* nodes, stored size of the node table (``save_forest``) and its sha256;
* test-split MAE of the *stored* forest (loaded back, predicted as the workflow predicts)
  against the label and, for a simulated catalogue, against the true Teff.

The load average (1 min) before and after each fit is printed: on a shared machine CPU seconds
are inflated too, so compare the engines by their ratio within one run. Usage, after a run has
built the feature tables (e.g. ``snakemake --configfile config/full.yaml --cores 2
results/features/{model}.parquet`` for each model):

    python benchmarks/engine_compare.py /path/to/run [--threads 2] [--output engines.md]
"""

from __future__ import annotations

import argparse
import hashlib
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
import yaml

from ebteff.config import run_folders
from ebteff.evaluate import regression_metrics
from ebteff.features import ModelSpec, training_rows
from ebteff.forest import (
    ENGINES,
    engine_version,
    load_forest,
    predict_trees,
    save_forest,
    train_forest,
)
from ebteff.logs import peak_rss_mb

REPO = Path(__file__).resolve().parents[1]


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def fit_one(run: Path, name: str, entry: dict, engine: str, threads: int) -> dict:
    """One model with one engine, in this process."""
    spec = ModelSpec.from_config(name, entry)
    results, resources = run_folders(run)
    table = pl.read_parquet(results / "features" / f"{name}.parquet")
    train = training_rows(table, spec)
    X = train.select(spec.features).to_numpy().astype(np.float32)
    y = train["target"].to_numpy()
    load_before = os.getloadavg()[0]
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    model = train_forest(X, y, spec.hyperparameters, n_jobs=threads, engine=engine)
    cpu1, wall1 = cpu_seconds(), time.perf_counter()
    load_after = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.parquet"
        save_forest(model, path, {"model": name})
        export_s = time.perf_counter() - wall1
        nodes = int(sum(e.tree_.node_count for e in model.estimators_))
        del model
        stored = path.stat().st_size
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        forest, _ = load_forest(path)
    test = table.filter(pl.col("split") == "test")
    mean, _ = predict_trees(forest, test.select(spec.features).to_numpy(), threads)
    teff = spec.inverse(mean)
    out = {
        "model": name,
        "engine": engine,
        "version": engine_version(engine),
        "threads": threads,
        "train_rows": train.height,
        "test_rows": test.height,
        "fit_cpu_s": round(cpu1 - cpu0, 1),
        "fit_wall_s": round(wall1 - wall0, 1),
        "export_s": round(export_s, 1),
        "load_before": round(load_before, 2),
        "load_after": round(load_after, 2),
        "nodes": nodes,
        "stored_mb": round(stored / 1e6, 1),
        "sha256": sha,
        "mae_label": regression_metrics(test[spec.target].to_numpy(), teff)["mae"],
    }
    truth = resources / "photometry" / "truth.parquet"
    if truth.exists():
        ref = (
            test.select("source_id")
            .join(
                pl.read_parquet(truth, columns=["source_id", "teff_blend"]),
                on="source_id",
                how="left",
            )["teff_blend"]
            .to_numpy()
        )
        out["mae_truth"] = regression_metrics(ref, teff)["mae"]
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def table(rows: list[dict]) -> str:
    lines = [
        "| model | engine | fit CPU-s | fit wall s | CPU ratio | peak RSS GB | nodes (M) | "
        "stored MB | test MAE vs label / truth (K) | MAE vs sklearn | load 1 min |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    ref = {r["model"]: r for r in rows if r["engine"] == "sklearn"}
    for r in rows:
        base = ref.get(r["model"])
        ratio = f"{r['fit_cpu_s'] / base['fit_cpu_s']:.3f}" if base else "-"
        dmae = f"{100 * (r['mae_label'] / base['mae_label'] - 1):+.2f}%" if base else "-"
        truth = f" / {r['mae_truth']:,.1f}" if "mae_truth" in r else ""
        lines.append(
            f"| {r['model']} | {r['engine']} {r['version']} | {r['fit_cpu_s']:,.0f} | "
            f"{r['fit_wall_s']:,.0f} | {ratio} | {r['peak_rss_mb'] / 1000:.2f} | "
            f"{r['nodes'] / 1e6:.1f} | {r['stored_mb']:.0f} | {r['mae_label']:,.1f}{truth} | "
            f"{dmae} | {r['load_before']:.1f}-{r['load_after']:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a workflow run's directory (with results/features)")
    ap.add_argument("--config", type=Path, default=REPO / "config" / "config.yaml")
    ap.add_argument("--models", help="comma-separated subset of the config's models")
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--output", type=Path, help="also write the table (Markdown) here")
    ap.add_argument("--child", nargs=2, metavar=("MODEL", "ENGINE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    models = yaml.safe_load(args.config.read_text())["models"]
    if args.child:
        name, engine = args.child
        print(json.dumps(fit_one(args.run, name, models[name], engine, args.threads)))
        return
    names = args.models.split(",") if args.models else list(models)
    rows = []
    for name in names:
        for engine in args.engines.split(","):
            cmd = [
                sys.executable,
                __file__,
                str(args.run),
                "--config",
                str(args.config),
                "--threads",
                str(args.threads),
                "--child",
                name,
                engine,
            ]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), flush=True)
    text = table(rows)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
