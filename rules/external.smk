import re

# External validation: each table of validation.tables, predicted with this run's models as
# `snakemake stars` predicts a table, against its own independent Teff. Part of `all`; seconds
# per table (the forests are loaded once, the tables are small).


if VALIDATION:

    wildcard_constraints:
        table="|".join(re.escape(t) for t in VALIDATION),

    rule validate_external:
        input:
            unpack(stars_model_inputs),
            table=validation_table,
            catalog=CATALOG_PARQUET,
        output:
            json=results_path("validation/{table}.json"),
            markdown=results_path("validation/{table}.md"),
            rows=results_path("validation/{table}.parquet"),
            plot=report(
                f"{PLOTS}/validation/{{table}}.png",
                caption="../report/validation.rst",
                category="3 Accuracy",
                subcategory="external validation",
                labels={"table": "{table}"},
            ),
        log:
            results_path("logs/validate_external/{table}.log"),
        benchmark:
            results_path("benchmarks/validate_external/{table}.tsv")
        conda:
            "../envs/ml.yaml"
        threads: 1
        resources:
            mem_mb=stars_mem_mb,
            runtime=20,
            attempt=attempt_number,
            enforce_memory=ENFORCE_MEMORY,
        params:
            spec=validation_spec,
            models=MODELS,
            loaded=ALL_MODELS,
            batch_rows=config["predict"]["batch_rows"],
            simulated=simulated(),
        script:
            "../scripts/validate_external.py"
