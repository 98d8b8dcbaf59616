# Stage 3: one split shared by every model, and one feature table per model.


rule make_split:
    input:
        photometry=photometry_path,
        summary=PHOTOMETRY_SUMMARY,
    output:
        split=SPLIT,
        counts=results_path("split/counts.json"),
    log:
        results_path("logs/make_split.log"),
    benchmark:
        results_path("benchmarks/make_split.tsv")
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb_for_table(per_row_bytes=40),
        runtime=10,
        attempt=attempt_number,
        enforce_memory=ENFORCE_MEMORY,
    params:
        fractions={k: config["split"][k] for k in ("train", "calibration", "test")},
        salt=config["split"]["salt"],
    script:
        "../scripts/make_split.py"


rule build_features:
    input:
        photometry=photometry_path,
        summary=PHOTOMETRY_SUMMARY,
        split=SPLIT,
        correction=CORRECTION_JSON,
    output:
        table=results_path("features/{model}.parquet"),
        counts=results_path("features/{model}.counts.json"),
    log:
        results_path("logs/build_features/{model}.log"),
    benchmark:
        results_path("benchmarks/build_features/{model}.tsv")
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb_for_table(per_row_bytes=300),
        runtime=10,
        attempt=attempt_number,
        enforce_memory=ENFORCE_MEMORY,
    params:
        spec=feature_spec,
    script:
        "../scripts/build_features.py"
