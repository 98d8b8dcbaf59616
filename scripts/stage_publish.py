"""Rule stage_publish: the dataset and model folders for the Hub, their cards and the manifest."""

from pathlib import Path

from ebteff.io import write_json
from ebteff.logs import finished, setup_logging
from ebteff.publish.run import Release, load_run
from ebteff.publish.stage import stage

MODEL_KEYS = ("model", "metadata", "calibration", "metrics", "calibration_report", "feature_counts")


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input, rule=smk.rule, resources=smk.resources)
    inp = smk.input
    models = {
        name: {key: inp[f"model_{key}"][i] for key in MODEL_KEYS}
        for i, name in enumerate(smk.params.models)
    }
    parameter_models = {
        name: {key: inp[f"parameter_model_{key}"][i] for key in MODEL_KEYS}
        for i, name in enumerate(smk.params.parameter_models)
    }
    run = load_run(
        photometry=inp.photometry,
        photometry_summary=inp.photometry_summary,
        catalog_fits=inp.catalog_fits,
        catalog_summary=inp.catalog_summary,
        best_calibration=inp.best_calibration,
        correction_json=inp.correction_json,
        correction_pkl=inp.correction_pkl,
        split_counts=inp.split_counts,
        models=models,
        parameter_models=parameter_models,
        correction_metrics=inp.get("correction_metrics"),
        label_calibration=inp.label_calibration,
        validations=list(inp.validations) if "validations" in inp.keys() else [],
    )
    release = Release(**smk.params.release)
    manifest = stage(run, release, Path(smk.output.dataset), Path(smk.output.models))
    write_json(manifest, smk.output.manifest)
    for kind, repo in manifest["repos"].items():
        logger.info(
            "staged %s for %s %s: %d files, %d bytes",
            Path(smk.output[kind]),
            repo["repo_type"],
            repo["repo_id"],
            len(repo["files"]),
            repo["bytes"],
        )
    finished(logger, smk.output)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (injected by the script directive)
