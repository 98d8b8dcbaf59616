# Stage 2: the hot-star Teff correction, fitted on a reference table or loaded from a file (a
# local one, or the one published in the dataset repository; correction_method in common.smk).
# Either way the result is results/correction/teff_correction.json, which every later stage reads.


if correction_method() == "fit":

    rule fit_correction:
        input:
            photometry=photometry_path,
            summary=PHOTOMETRY_SUMMARY,
            reference=reference_path,
        output:
            json=CORRECTION_JSON,
            pkl=CORRECTION_PKL,
            plot=report(
                results_path("correction/teff_correction.png"),
                caption="../report/correction.rst",
                category="1 Correction",
                labels={"figure": "hot-star correction fit"},
            ),
        log:
            results_path("logs/fit_correction.log"),
        benchmark:
            results_path("benchmarks/fit_correction.tsv")
        conda:
            "../envs/data.yaml"
        threads: 1
        resources:
            mem_mb=mem_mb_for_table(per_row_bytes=40),
            runtime=10,
            attempt=attempt_number,
            enforce_memory=ENFORCE_MEMORY,
        params:
            settings=correction_params(),
        script:
            "../scripts/fit_correction.py"

else:

    if correction_method() == "published":

        localrules:
            download_correction,

        rule download_correction:
            output:
                file=PUBLISHED_CORRECTION,
                source=PUBLISHED_CORRECTION_SOURCE,
            log:
                results_path("logs/download_correction.log"),
            retries: 1
            conda:
                "../envs/data.yaml"
            params:
                repo_id=config["huggingface"]["repo_id"],
                revision=config["huggingface"]["revision"],
                filenames=config["correction"]["published"]["filenames"],
                sha256=config["correction"]["published"]["sha256"],
                retries=config["huggingface"]["retries"],
            script:
                "../scripts/download_correction.py"

    # Reads and rewrites a few coefficients: not worth a cluster job's queueing.
    localrules:
        load_correction,

    rule load_correction:
        input:
            unpack(correction_file_inputs),
        output:
            json=CORRECTION_JSON,
            pkl=CORRECTION_PKL,
        log:
            results_path("logs/load_correction.log"),
        conda:
            "../envs/data.yaml"
        threads: 1
        resources:
            mem_mb=500,
            runtime=5,
        params:
            settings=correction_params(),
            pin=correction_pin(),
        script:
            "../scripts/load_correction.py"


rule evaluate_correction:
    input:
        unpack(truth_input),
        photometry=photometry_path,
        correction=CORRECTION_JSON,
    output:
        metrics=results_path("correction/metrics.json"),
    log:
        results_path("logs/evaluate_correction.log"),
    benchmark:
        results_path("benchmarks/evaluate_correction.tsv")
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb_for_table(per_row_bytes=60),
        runtime=10,
        attempt=attempt_number,
        enforce_memory=ENFORCE_MEMORY,
    script:
        "../scripts/evaluate_correction.py"
