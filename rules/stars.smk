# Teff for a user's own table: `snakemake stars --config stars=PATH`. Every row is predicted
# with the stored models and calibrations (this run's, or a published release's with
# model_source: huggingface, then needing no photometry at all); nothing is trained or
# calibrated on the user's stars. Not part of `all`.


localrules:
    stars,


if STARS:

    rule predict_stars:
        input:
            unpack(stars_model_inputs),
            table=stars_table,
        output:
            parquet=f"{RESULTS}/stars/{stars_name()}.parquet",
            fits=f"{RESULTS}/stars/{stars_name()}.fits",
        log:
            f"{RESULTS}/logs/predict_stars/{stars_name()}.log",
        benchmark:
            f"{RESULTS}/benchmarks/predict_stars/{stars_name()}.tsv"
        conda:
            "../envs/ml.yaml"
        threads: config["predict"]["threads"]
        resources:
            mem_mb=stars_mem_mb,
            runtime=60,
            attempt=attempt_number,
            enforce_memory=ENFORCE_MEMORY,
        params:
            models=ALL_MODELS,
            batch_rows=config["predict"]["batch_rows"],
            config_hash=config_hash(),
        script:
            "../scripts/predict_stars.py"


rule stars:
    input:
        stars_targets,
