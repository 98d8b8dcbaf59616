"""Rule train_model: fit one random forest on the shared training split and store it."""

import os
import platform
import time

import numpy as np
import polars as pl
import sklearn

from ebteff import __version__
from ebteff.features import ModelSpec, training_rows
from ebteff.forest import ENGINE_DISTRIBUTION, engine_version, save_forest, train_forest
from ebteff.formats import FOREST_FORMAT_TEXT
from ebteff.io import sha256sum, write_json
from ebteff.logs import Progress, finished, setup_logging


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input, rule=smk.rule, resources=smk.resources)
    cfg = dict(smk.params.spec)
    spec = ModelSpec.from_config(cfg.pop("name"), cfg)
    train = training_rows(pl.read_parquet(smk.input.table), spec)
    X = train.select(spec.features).to_numpy().astype(np.float32)
    y = train["target"].to_numpy()
    engine = smk.params.engine
    logger.info(
        "training %s on %d rows x %d features with %d thread(s), engine %s %s: %s",
        spec.name,
        train.height,
        len(spec.features),
        smk.threads,
        engine,
        engine_version(engine),
        spec.hyperparameters,
    )
    start = time.perf_counter()
    with Progress(
        logger, f"train {spec.name}", spec.hyperparameters["n_estimators"], unit="tree"
    ) as bar:
        model = train_forest(
            X, y, spec.hyperparameters, n_jobs=smk.threads, progress=bar, engine=engine
        )
    # the time goes to the log only: metadata.json is a result, byte-identical between runs
    # (the job's wall and CPU time are in its benchmark file)
    seconds = time.perf_counter() - start
    n_nodes = int(sum(e.tree_.node_count for e in model.estimators_))
    logger.info("trained in %.1f s: %d trees, %d nodes", seconds, len(model.estimators_), n_nodes)
    save_forest(
        model,
        smk.output.model,
        {
            "model": spec.name,
            "features": ",".join(spec.features),
            "transform": spec.transform,
            "target": spec.target,
            "engine": engine,
        },
    )
    write_json(
        {
            "name": spec.name,
            "features": list(spec.features),
            "target": spec.target,
            "transform": spec.transform,
            "predicts": "log10(Teff / K)" if spec.transform == "log10" else "Teff (K)",
            "hyperparameters": spec.hyperparameters,
            "engine": engine,
            "training_rows": train.height,
            "n_nodes": n_nodes,
            "feature_importances": dict(
                zip(spec.features, map(float, model.feature_importances_), strict=True)
            ),
            "model_file": "model.parquet",
            "model_format": FOREST_FORMAT_TEXT,
            "model_bytes": os.path.getsize(smk.output.model),
            "model_sha256": sha256sum(smk.output.model),
            "input_sha256": {"features": sha256sum(smk.input.table)},
            "threads": smk.threads,
            "versions": {
                "ebteff": __version__,
                "python": platform.python_version(),
                "scikit-learn": sklearn.__version__,
                ENGINE_DISTRIBUTION[engine]: engine_version(engine),
                "numpy": np.__version__,
                "polars": pl.__version__,
            },
        },
        smk.output.metadata,
    )
    finished(logger, smk.output)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
