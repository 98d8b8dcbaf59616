"""Rule load_correction: read a correction file (JSON, or a pinned legacy pickle)."""

from ebteff.correction import dump_legacy_pickle, load_correction_file, save_correction_json
from ebteff.io import sha256sum
from ebteff.logs import finished, setup_logging


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input, rule=smk.rule, resources=smk.resources)
    s = smk.params.settings
    correction = load_correction_file(
        smk.input.file, smk.params.sha256, threshold=s["threshold"], width=s["blend_width"]
    )
    logger.info("loaded correction %s from %s", correction.coefficients, smk.input.file)
    save_correction_json(
        correction,
        smk.output.json,
        inputs={"file": str(smk.input.file), "file_sha256": sha256sum(smk.input.file)},
    )
    dump_legacy_pickle(correction, smk.output.pkl)
    finished(logger, smk.output)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
