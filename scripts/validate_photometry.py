"""Rule validate_photometry: check the acquired table and write its summary."""

from ebteff.io import write_json
from ebteff.logs import finished, setup_logging, timed
from ebteff.validate import validate_photometry


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input, rule=smk.rule, resources=smk.resources)
    with timed(logger, f"validating {smk.input.photometry}"):
        summary = validate_photometry(smk.input.photometry)
    write_json(summary, smk.output.summary)
    finished(logger, smk.output)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
