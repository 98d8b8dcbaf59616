# Stage 8: the figures of `snakemake --report results/report.html`, drawn from what the workflow
# wrote (catalogue, predictions, metrics, calibration and summary files), nothing recomputed.
# Big tables are reduced to per-cell counts and medians first: these jobs take seconds even at
# full size, so they are part of the default target. Captions are in report/.


rule plot_catalog:
    input:
        unpack(truth_input),
        catalog=CATALOG_PARQUET,
        summary=CATALOG_SUMMARY,
        photometry=photometry_path,
    output:
        distributions=report(
            f"{PLOTS}/teff_distributions.png",
            caption="../report/teff_distributions.rst",
            category="2 Temperatures",
            labels={"figure": "Teff distributions"},
        ),
        summary=report(
            f"{PLOTS}/catalog_summary.png",
            caption="../report/catalog_summary.rst",
            category="6 Catalogue",
            labels={"figure": "flags and model wins"},
        ),
        cmd=report(
            f"{PLOTS}/cmd.png",
            caption="../report/cmd.rst",
            category="6 Catalogue",
            labels={"figure": "colour-magnitude diagram"},
        ),
        sky=report(
            f"{PLOTS}/sky.png",
            caption="../report/sky.rst",
            category="6 Catalogue",
            labels={"figure": "sky coverage"},
        ),
    log:
        results_path("logs/plot_catalog.log"),
    benchmark:
        results_path("benchmarks/plot_catalog.tsv")
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb_for_table(per_row_bytes=300),
        runtime=10,
        attempt=attempt_number,
        enforce_memory=ENFORCE_MEMORY,
    params:
        models=MODELS,
    script:
        "../scripts/plot_catalog.py"


rule plot_model_accuracy:
    input:
        unpack(truth_input),
        table=results_path("features/{model}.parquet"),
        predictions=results_path("predictions/{model}.parquet"),
        metrics=results_path("models/{model}/metrics.json"),
    output:
        plot=report(
            f"{PLOTS}/accuracy/{{model}}.png",
            caption="../report/accuracy.rst",
            category="3 Accuracy",
            subcategory="predicted vs reference",
            labels={"model": "{model}"},
        ),
    log:
        results_path("logs/plot_model_accuracy/{model}.log"),
    benchmark:
        results_path("benchmarks/plot_model_accuracy/{model}.tsv")
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb_for_table(per_row_bytes=100),
        runtime=10,
        attempt=attempt_number,
        enforce_memory=ENFORCE_MEMORY,
    params:
        spec=feature_spec,
    script:
        "../scripts/plot_model_accuracy.py"


rule plot_metrics:
    input:
        metrics=expand(results_path("models/{model}/metrics.json"), model=MODELS),
        calibrations=expand(results_path("calibration/{model}.json"), model=MODELS),
        best_calibration=results_path("calibration/teff_best.json"),
        metadata=expand(results_path("models/{model}/metadata.json"), model=MODELS),
    output:
        binned=report(
            f"{PLOTS}/metrics_per_bin.png",
            caption="../report/metrics_per_bin.rst",
            category="3 Accuracy",
            subcategory="per Teff bin",
            labels={"figure": "MAE and bias per bin"},
        ),
        coverage=report(
            f"{PLOTS}/calibration_coverage.png",
            caption="../report/calibration_coverage.rst",
            category="4 Calibration",
            labels={"figure": "coverage at 68% and 95%"},
        ),
        pit=report(
            f"{PLOTS}/calibration_pit.png",
            caption="../report/calibration_pit.rst",
            category="4 Calibration",
            labels={"figure": "PIT histograms"},
        ),
        percentiles=report(
            f"{PLOTS}/calibration_percentiles.png",
            caption="../report/calibration_percentiles.rst",
            category="4 Calibration",
            labels={"figure": "percentile coverage"},
        ),
        importances=report(
            f"{PLOTS}/feature_importances.png",
            caption="../report/feature_importances.rst",
            category="5 Models",
            labels={"figure": "feature importances"},
        ),
    log:
        results_path("logs/plot_metrics.log"),
    benchmark:
        results_path("benchmarks/plot_metrics.tsv")
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        models=MODELS,
    script:
        "../scripts/plot_metrics.py"


rule plot_parameter_metrics:
    input:
        metrics=parameter_model_files("models/{model}/metrics.json"),
        calibrations=parameter_model_files("calibration/{model}.json"),
    output:
        binned=report(
            f"{PLOTS}/{{parameter}}/metrics_per_bin.png",
            caption="../report/parameter_metrics_per_bin.rst",
            category="3 Accuracy",
            subcategory="per bin of log g and [M/H]",
            labels={
                "parameter": "{parameter}",
                "figure": "MAE and bias per bin (dex)",
            },
        ),
        coverage=report(
            f"{PLOTS}/{{parameter}}/calibration_coverage.png",
            caption="../report/parameter_calibration_coverage.rst",
            category="4 Calibration",
            subcategory="log g and [M/H]",
            labels={
                "parameter": "{parameter}",
                "figure": "coverage at 68% and 95% (dex)",
            },
        ),
    log:
        results_path("logs/plot_parameter_metrics/{parameter}.log"),
    benchmark:
        results_path("benchmarks/plot_parameter_metrics/{parameter}.tsv")
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        models=parameter_models,
    script:
        "../scripts/plot_parameter_metrics.py"


# `snakemake tune` only: put it among the targets of the report to include these,
#   snakemake --report results/<run>/report.html all tune
rule plot_tuning:
    input:
        summary=results_path("tuning/{model}/summary.json"),
        table=results_path("tuning/{model}/trials.csv"),
    output:
        plot=report(
            f"{PLOTS}/tuning/{{model}}.png",
            caption="../report/tuning.rst",
            category="5 Models",
            subcategory="hyperparameter search",
            labels={"model": "{model}"},
        ),
    log:
        results_path("logs/plot_tuning/{model}.log"),
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/plot_tuning.py"
