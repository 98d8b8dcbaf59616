# Stage 7: publish the dataset and the models on the Hugging Face Hub. Not part of `all`:
# `snakemake publish` stages both folders and their manifest, then uploads them, or, with
# publish.dry_run (the default), says what it would upload and sends nothing.


localrules:
    upload_publish,
    publish,


rule stage_publish:
    input:
        unpack(publish_inputs),
    output:
        dataset=directory(f"{PUBLISH}/dataset"),
        models=directory(f"{PUBLISH}/models"),
        manifest=f"{PUBLISH}/manifest.json",
    log:
        results_path("logs/stage_publish.log"),
    benchmark:
        results_path("benchmarks/stage_publish.tsv")
    conda:
        "../envs/publish.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        models=MODELS,
        parameter_models=PARAMETER_MODELS,
        release=publish_release(),
    script:
        "../scripts/stage_publish.py"


rule upload_publish:
    input:
        dataset=f"{PUBLISH}/dataset",
        models=f"{PUBLISH}/models",
        manifest=f"{PUBLISH}/manifest.json",
    output:
        report=f"{PUBLISH}/upload.json",
    log:
        results_path("logs/upload_publish.log"),
    retries: 1
    conda:
        "../envs/publish.yaml"
    params:
        # One dict, not two flags: Snakemake compares params as a sorted list of values, so
        # swapping two booleans (dry_run and private) would not rerun the upload.
        settings={k: config["publish"][k] for k in ("dry_run", "private")},
    script:
        "../scripts/upload_publish.py"


rule publish:
    input:
        f"{PUBLISH}/upload.json",
