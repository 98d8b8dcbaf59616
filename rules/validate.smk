# Stage 1b: check the acquired table against the upstream schema and summarise it.
# Every later stage takes the summary as an input, so nothing runs on an unchecked table.


rule validate_photometry:
    input:
        photometry=photometry_path,
    output:
        summary=PHOTOMETRY_SUMMARY,
    log:
        results_path("logs/validate_photometry.log"),
    benchmark:
        results_path("benchmarks/validate_photometry.tsv")
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb_for_table(per_row_bytes=400),
        runtime=10,
        attempt=attempt_number,
        enforce_memory=ENFORCE_MEMORY,
    script:
        "../scripts/validate_photometry.py"
