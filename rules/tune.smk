# Hyperparameter search (`snakemake tune`, not part of the default target): an Optuna study per
# model of tuning.models, cross-validated on the training split only, one job per trial. Trial t
# waits for trials 0 ... t - tuning.jobs, so tuning.jobs trials run at once (spread over nodes on
# profiles/slurm) and the search is reproducible (ebteff.tuning says how). The study itself lives
# in results/<run>/tuning/<model>/study.journal; a killed trial is recorded FAIL and rerun.


localrules:
    tune,


rule tune:
    input:
        tuning_targets(),


rule tune_trial:
    input:
        table=results_path("features/{model}.parquet"),
        correction=CORRECTION_JSON,
        window=trial_window,
    output:
        trial=tuning_path("trials/{trial}.json"),
    log:
        results_path("logs/tune_trial/{model}/{trial}.log"),
    benchmark:
        results_path("benchmarks/tune_trial/{model}/{trial}.tsv")
    wildcard_constraints:
        trial=r"\d{4}",
    conda:
        "../envs/tune.yaml"
    threads: TUNING["threads"]
    resources:
        mem_mb=mem_mb_for_table(per_row_bytes=4000, base_mb=1500),
        runtime=240,
        attempt=attempt_number,
        enforce_memory=ENFORCE_MEMORY,
    params:
        settings=tuning_settings,
        journal=tuning_path("study.journal"),
    script:
        "../scripts/tune_trial.py"


rule score_published:
    input:
        table=results_path("features/{model}.parquet"),
        correction=CORRECTION_JSON,
    output:
        score=tuning_path("published.json"),
    log:
        results_path("logs/score_published/{model}.log"),
    benchmark:
        results_path("benchmarks/score_published/{model}.tsv")
    conda:
        "../envs/tune.yaml"
    threads: TUNING["threads"]
    resources:
        mem_mb=mem_mb_for_table(per_row_bytes=4000, base_mb=1500),
        runtime=240,
        attempt=attempt_number,
        enforce_memory=ENFORCE_MEMORY,
    params:
        settings=tuning_settings,
    script:
        "../scripts/score_published.py"


rule summarize_tuning:
    input:
        trials=expand(
            tuning_path("trials/{trial}.json"), trial=trial_ids(), allow_missing=True
        ),
        published=tuning_path("published.json"),
    output:
        snippet=tuning_path("best.yaml"),
        best=tuning_path("best.json"),
        table=tuning_path("trials.csv"),
        summary=tuning_path("summary.json"),
    log:
        results_path("logs/summarize_tuning/{model}.log"),
    conda:
        "../envs/tune.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        settings=tuning_settings,
        journal=tuning_path("study.journal"),
    script:
        "../scripts/summarize_tuning.py"
