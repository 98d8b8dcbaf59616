# Stage 4: train each model on the shared training split, or (model_source: huggingface)
# download a published one, sha256-pinned; then evaluate it on the test split.


if MODEL_SOURCE["source"] == "train":

    rule train_model:
        input:
            table="results/features/{model}.parquet",
        output:
            model="results/models/{model}/model.parquet",
            metadata="results/models/{model}/metadata.json",
        log:
            "results/logs/train_model/{model}.log",
        benchmark:
            "results/benchmarks/train_model/{model}.tsv"
        conda:
            "../envs/ml.yaml"
        threads: config["training"]["threads"]
        resources:
            mem_mb=mem_mb_for_table(per_row_bytes=2000, base_mb=1000),
            runtime=120,
            attempt=attempt_number,
            enforce_memory=ENFORCE_MEMORY,
        params:
            spec=model_spec,
            engine=model_engine,
        script:
            "../scripts/train_model.py"

else:

    localrules:
        download_model,

    rule download_model:
        output:
            model="results/models/{model}/model.parquet",
            metadata="results/models/{model}/metadata.json",
        log:
            "results/logs/download_model/{model}.log",
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


rule evaluate_model:
    input:
        unpack(truth_input),
        table="results/features/{model}.parquet",
        # the catalogue's predictions of the split's stars: evaluation predicts nothing again
        predictions="results/predictions/{model}.parquet",
    output:
        metrics="results/models/{model}/metrics.json",
        markdown="results/models/{model}/metrics.md",
    log:
        "results/logs/evaluate_model/{model}.log",
    benchmark:
        "results/benchmarks/evaluate_model/{model}.tsv"
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
