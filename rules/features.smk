# Stage 3: one split shared by every model, and one feature table per model.


rule make_split:
    input:
        photometry=photometry_path,
        summary=PHOTOMETRY_SUMMARY,
    output:
        split=SPLIT,
        counts="results/split/counts.json",
    params:
        fractions={k: config["split"][k] for k in ("train", "calibration", "test")},
        salt=config["split"]["salt"],
    log:
        "results/logs/make_split.log",
    benchmark:
        "results/benchmarks/make_split.tsv"
    threads: 1
    resources:
        mem_mb=mem_mb_for_table(per_row_bytes=40),
        runtime=10,
    conda:
        "../envs/workflow.yaml"
    script:
        "../scripts/make_split.py"


rule build_features:
    input:
        photometry=photometry_path,
        summary=PHOTOMETRY_SUMMARY,
        split=SPLIT,
        correction=CORRECTION_JSON,
    output:
        table="results/features/{model}.parquet",
        counts="results/features/{model}.counts.json",
    params:
        spec=model_spec,
    log:
        "results/logs/build_features/{model}.log",
    benchmark:
        "results/benchmarks/build_features/{model}.tsv"
    threads: 1
    resources:
        mem_mb=mem_mb_for_table(per_row_bytes=300),
        runtime=10,
    conda:
        "../envs/workflow.yaml"
    script:
        "../scripts/build_features.py"
