"""Accuracy/size curve of a trained model: test MAE and stored size of its first k trees.

A random forest's first k trees are exactly the forest scikit-learn would train with
``n_estimators=k`` (same random_state: the per-tree seeds are drawn in sequence), so one trained
model gives the whole curve. Run after the workflow has trained the model:

    python benchmarks/model_size.py results/simulate gaia_teff_corrected_log \
        [--trees 25,50,100,200,300]

Prints a Markdown table and writes <results>/benchmarks/model_size/{model}.json. With --pickle it
also writes the scikit-learn pickle of the full forest (joblib, uncompressed) to measure its size.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import polars as pl  # noqa: E402

from ebteff.evaluate import regression_metrics
from ebteff.features import ModelSpec
from ebteff.forest import load_forest, predict_trees, save_forest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path, help="a run's results folder, e.g. results/simulate")
    ap.add_argument("model", help="model name (a key of config models:)")
    ap.add_argument("--trees", default="25,50,100,150,200,250,300")
    ap.add_argument("--pickle", action="store_true", help="also measure a joblib pickle")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    mdir = args.results / "models" / args.model
    meta = json.loads((mdir / "metadata.json").read_text())
    spec = ModelSpec.from_config(args.model, meta)
    model, _ = load_forest(mdir / "model.parquet")
    test = pl.read_parquet(args.results / "features" / f"{args.model}.parquet").filter(
        pl.col("split") == "test"
    )
    X = test.select(spec.features).to_numpy()
    label = test[spec.target].to_numpy()
    full = len(model.estimators_)
    ks = [k for k in map(int, args.trees.split(",")) if k <= full]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in ks:
            sub, _ = load_forest(mdir / "model.parquet")
            sub.estimators_ = sub.estimators_[:k]
            path = Path(tmp) / f"{k}.parquet"
            save_forest(sub, path, {})
            start = time.perf_counter()
            mean, _ = predict_trees(sub, X, args.threads)
            seconds = time.perf_counter() - start
            m = regression_metrics(label, spec.inverse(mean))
            rows.append(
                {
                    "trees": k,
                    "nodes": int(sum(e.tree_.node_count for e in sub.estimators_)),
                    "stored_mb": path.stat().st_size / 1e6,
                    "test_mae_k": m["mae"],
                    "test_within_10pct": m["within_10pct"],
                    "predict_seconds": seconds,
                }
            )
        if args.pickle:
            import joblib

            path = Path(tmp) / "model.pkl"
            joblib.dump(model, path)
            pickle_mb = path.stat().st_size / 1e6
            os.remove(path)
        else:
            pickle_mb = None
    ref = rows[-1]["test_mae_k"]
    print(f"## {args.model}: {test.height} test stars, {meta['training_rows']} training rows\n")
    print("| trees | nodes | stored MB | test MAE (K) | vs all trees | within 10% |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['trees']} | {r['nodes']:,} | {r['stored_mb']:.1f} | {r['test_mae_k']:.1f} | "
            f"{100 * (r['test_mae_k'] / ref - 1):+.2f}% | {100 * r['test_within_10pct']:.1f}% |"
        )
    if pickle_mb is not None:
        print(f"\njoblib pickle of all {full} trees: {pickle_mb:.1f} MB")
    out = args.results / "benchmarks" / "model_size" / f"{args.model}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "model": args.model,
                "curve": rows,
                "pickle_mb": pickle_mb,
                "training_rows": meta["training_rows"],
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
