# Stage 4: train each model on the shared training split, or (model_source: huggingface)
# download a published one, sha256-pinned, or (model_source: legacy) convert the earlier
# pipeline's pinned forest pickle to a node table; then evaluate it on the test split.


if MODEL_SOURCE["source"] == "train":

    rule train_model:
        input:
            table=results_path("features/{model}.parquet"),
        output:
            model=results_path("models/{model}/model.parquet"),
            metadata=results_path("models/{model}/metadata.json"),
        log:
            results_path("logs/train_model/{model}.log"),
        benchmark:
            results_path("benchmarks/train_model/{model}.tsv")
        conda:
            "../envs/ml.yaml"
        threads: config["training"]["threads"]
        resources:
            # the forest grows with the training rows: at 2.18M stars (1.17M training rows)
            # gaia_teff_corrected_log_ebv peaked at 6,298 MB and gaia_logg at 5,630 MB
            # (their logs' peak resident memory, 2026-12-08): ~2,430 bytes per star above 1 GB,
            # and the request leaves a fifth more
            mem_mb=mem_mb_for_table(per_row_bytes=3000, base_mb=1000),
            runtime=120,
            attempt=attempt_number,
            enforce_memory=ENFORCE_MEMORY,
        params:
            spec=model_spec,
            engine=model_engine,
        script:
            "../scripts/train_model.py"

elif MODEL_SOURCE["source"] == "legacy":

    localrules:
        download_legacy_model,

    rule download_legacy_model:
        output:
            pickle=resources_path("models/legacy/{model}.pkl"),
        log:
            results_path("logs/download_legacy_model/{model}.log"),
        retries: 1
        conda:
            "../envs/publish.yaml"
        params:
            entry=legacy_download,
            repo_id=MODEL_SOURCE["repo_id"],
            revision=MODEL_SOURCE["revision"],
            retries=MODEL_SOURCE["retries"],
        script:
            "../scripts/download_legacy_model.py"

    rule convert_legacy_model:
        input:
            pickle=legacy_pickle,
        output:
            model=results_path("models/{model}/model.parquet"),
            metadata=results_path("models/{model}/metadata.json"),
        log:
            results_path("logs/convert_legacy_model/{model}.log"),
        benchmark:
            results_path("benchmarks/convert_legacy_model/{model}.tsv")
        conda:
            "../envs/ml.yaml"
        threads: 1
        resources:
            mem_mb=legacy_mem_mb,
            runtime=30,
            attempt=attempt_number,
            enforce_memory=ENFORCE_MEMORY,
        params:
            spec=model_spec,
            origin=legacy_origin,
        script:
            "../scripts/convert_legacy_model.py"

else:

    localrules:
        download_model,

    rule download_model:
        output:
            model=results_path("models/{model}/model.parquet"),
            metadata=results_path("models/{model}/metadata.json"),
        log:
            results_path("logs/download_model/{model}.log"),
        retries: 1
        conda:
            "../envs/publish.yaml"
        params:
            spec=model_spec,
            repo_id=MODEL_SOURCE["repo_id"],
            revision=MODEL_SOURCE["revision"],
            pins=published_model_pins,
            retries=MODEL_SOURCE["retries"],
        script:
            "../scripts/download_model.py"

    localrules:
        download_release_file,

    # What `snakemake stars` takes from the release as published (the catalogue calibrates the
    # downloaded models again on this run's data instead): each pinned like the forests.
    rule download_release_file:
        output:
            f"{RELEASE}/{{release_file}}",
        log:
            results_path("logs/download_release_file/{release_file}.log"),
        wildcard_constraints:
            release_file="|".join(
                [rf"{m}/calibration\.json" for m in ALL_MODELS]
                + [
                    r"teff_best_calibration\.json",
                    r"teff_gaia_corrected\.json",
                    r"teff_correction\.json",
                ]
            ),
        retries: 1
        conda:
            "../envs/publish.yaml"
        params:
            repo_id=MODEL_SOURCE["repo_id"],
            revision=MODEL_SOURCE["revision"],
            sha256=release_file_pin,
            retries=MODEL_SOURCE["retries"],
        script:
            "../scripts/download_release_file.py"


rule evaluate_model:
    input:
        unpack(truth_input),
        table=results_path("features/{model}.parquet"),
        # the catalogue's predictions of the split's stars: evaluation predicts nothing again
        predictions=results_path("predictions/{model}.parquet"),
    output:
        metrics=results_path("models/{model}/metrics.json"),
        markdown=results_path("models/{model}/metrics.md"),
    log:
        results_path("logs/evaluate_model/{model}.log"),
    benchmark:
        results_path("benchmarks/evaluate_model/{model}.tsv")
    conda:
        "../envs/ml.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb_for_table(per_row_bytes=300, base_mb=500),
        runtime=20,
        attempt=attempt_number,
        enforce_memory=ENFORCE_MEMORY,
    params:
        spec=model_spec,
    script:
        "../scripts/evaluate_model.py"
