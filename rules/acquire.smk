# Stage 1: acquire the photometry table. Exactly one of these rules exists per run,
# chosen by `source:` in the config.


if config["source"] == "simulate":

    rule simulate_photometry:
        output:
            photometry=PHOTOMETRY,
            truth=TRUTH,
            reference=REFERENCE,
        log:
            results_path("logs/simulate_photometry.log"),
        benchmark:
            results_path("benchmarks/simulate_photometry.tsv")
        conda:
            "../envs/data.yaml"
        threads: 1
        resources:
            mem_mb=mem_mb_for_table(per_row_bytes=0, base_mb=4000),
            runtime=30,
            attempt=attempt_number,
            enforce_memory=ENFORCE_MEMORY,
        params:
            n_stars=config["simulate"]["n_stars"],
            seed=config["simulate"]["seed"],
            block_size=config["simulate"]["block_size"],
            reference_fraction=config["simulate"]["reference_fraction"],
        script:
            "../scripts/simulate_photometry.py"

elif config["source"] == "huggingface":

    localrules:
        download_photometry,

    rule download_photometry:
        output:
            photometry=PHOTOMETRY,
        log:
            results_path("logs/download_photometry.log"),
        retries: 1
        conda:
            "../envs/data.yaml"
        params:
            repo_id=config["huggingface"]["repo_id"],
            filename=config["huggingface"]["filename"],
            revision=config["huggingface"]["revision"],
            sha256=config["huggingface"]["sha256"],
            retries=config["huggingface"]["retries"],
        script:
            "../scripts/download_photometry.py"

else:

    # A user's own table (Parquet, CSV, FITS or VOTable; upstream or Gaia Archive names; missing
    # values null, NaN or -999.0) in the upstream schema, which every later stage reads.
    rule import_photometry:
        input:
            table=local_table,
        output:
            photometry=PHOTOMETRY,
        log:
            results_path("logs/import_photometry.log"),
        benchmark:
            results_path("benchmarks/import_photometry.tsv")
        conda:
            "../envs/data.yaml"
        threads: 1
        resources:
            mem_mb=mem_mb_for_table(per_row_bytes=0, base_mb=1500),
            runtime=30,
            attempt=attempt_number,
            enforce_memory=ENFORCE_MEMORY,
        params:
            batch_rows=config["predict"]["batch_rows"],
        script:
            "../scripts/import_photometry.py"
