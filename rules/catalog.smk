# Stage 6: the best-of-three catalogue (FITS, Parquet, VOTable, CSV) with percentiles, quality
# flags and its summary.


rule build_catalog:
    input:
        unpack(label_reference_input),
        photometry=photometry_path,
        summary=PHOTOMETRY_SUMMARY,
        correction=CORRECTION_JSON,
        split=SPLIT,
        predictions=expand(results_path("predictions/{model}.parquet"), model=MODELS),
        calibrations=expand(
            results_path("models/{model}/calibration.json"), model=MODELS
        ),
        models=expand(results_path("models/{model}/model.parquet"), model=MODELS),
        # log g and [M/H] beside Teff (ebteff.parameter_catalog)
        parameter_predictions=expand(
            results_path("predictions/{model}.parquet"), model=PARAMETER_MODELS
        ),
        parameter_calibrations=expand(
            results_path("models/{model}/calibration.json"), model=PARAMETER_MODELS
        ),
    output:
        fits=CATALOG_FITS,
        parquet=CATALOG_PARQUET,
        votable=CATALOG_VOTABLE,
        csv=CATALOG_CSV,
        summary=CATALOG_SUMMARY,
        best_calibration=results_path("calibration/teff_best.json"),
        label_calibration=LABEL_CALIBRATION,
    log:
        results_path("logs/build_catalog.log"),
    benchmark:
        results_path("benchmarks/build_catalog.tsv")
    conda:
        "../envs/publish.yaml"
    threads: 1
    resources:
        # the catalogue frame (86 columns at 6 models), each model's columns and the assembly's
        # arrays; the files are written batch by batch beside the frame: 3.46 GB peak (VmHWM)
        # at 2.18M stars, 0.45 GB at 40k: ~1,430 bytes per star above ~390 MB (docs/costs.md).
        # A SLURM job also counts the job's own Snakemake process (~160 MB) beside the script:
        # at 40k stars a 626 MB request was exceeded on CI. The request leaves a third more
        # than both: 830 MB at 40k, 4,890 MB at 2.18M
        mem_mb=mem_mb_for_table(per_row_bytes=1900, base_mb=750),
        runtime=20,
        attempt=attempt_number,
        enforce_memory=ENFORCE_MEMORY,
    params:
        models=MODELS,
        parameter_models=PARAMETER_MODELS,
        config_hash=config_hash(),
        simulated=simulated(),
    script:
        "../scripts/build_catalog.py"
