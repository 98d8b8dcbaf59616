# Stage 5: predict every model for every star, in chunks (scatter/gather): one job per model and
# chunk, so a job holds one forest and a retrained model reruns only its own chunks. Then
# calibrate the uncertainties of each model on the calibration split.


# Concatenating a model's chunks is quick I/O: not worth a cluster job's queueing.
localrules:
    gather_predictions,


rule predict_chunk:
    input:
        model=results_path("models/{model}/model.parquet"),
        photometry=photometry_path,
        summary=PHOTOMETRY_SUMMARY,
    output:
        temp(results_path("predictions/chunks/{model}/{scatteritem}.parquet")),
    log:
        results_path("logs/predict_chunk/{model}/{scatteritem}.log"),
    benchmark:
        results_path("benchmarks/predict_chunk/{model}/{scatteritem}.tsv")
    conda:
        "../envs/ml.yaml"
    threads: config["predict"]["threads"]
    resources:
        mem_mb=predict_mem_mb,
        runtime=60,
        attempt=attempt_number,
        enforce_memory=ENFORCE_MEMORY,
    params:
        spec=feature_spec,
        chunk=chunk_index,
        batch_rows=config["predict"]["batch_rows"],
    script:
        "../scripts/predict_chunk.py"


rule gather_predictions:
    input:
        chunks=gather.chunks(
            results_path("predictions/chunks/{{model}}/{scatteritem}.parquet")
        ),
    output:
        predictions=results_path("predictions/{model}.parquet"),
    log:
        results_path("logs/gather_predictions/{model}.log"),
    benchmark:
        results_path("benchmarks/gather_predictions/{model}.tsv")
    conda:
        "../envs/ml.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb_for_table(per_row_bytes=60),
        runtime=10,
        attempt=attempt_number,
        enforce_memory=ENFORCE_MEMORY,
    script:
        "../scripts/gather_predictions.py"


rule calibrate_model:
    input:
        predictions=results_path("predictions/{model}.parquet"),
        table=results_path("features/{model}.parquet"),
        correction=CORRECTION_JSON,
    output:
        calibration=results_path("models/{model}/calibration.json"),
        report=results_path("calibration/{model}.json"),
    log:
        results_path("logs/calibrate_model/{model}.log"),
    benchmark:
        results_path("benchmarks/calibrate_model/{model}.tsv")
    conda:
        "../envs/ml.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb_for_table(per_row_bytes=100),
        runtime=10,
        attempt=attempt_number,
        enforce_memory=ENFORCE_MEMORY,
    params:
        spec=model_spec,
    script:
        "../scripts/calibrate_model.py"
