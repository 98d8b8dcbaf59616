"""Rule download_release_file: one file of a published model release that `snakemake stars`
uses as published (a model's calibration, the best-of calibration, the correction), pinned.

The token, if the repository needs one, comes from the environment (``HF_TOKEN``).
"""

from ebteff.hub import client_environment, download_file
from ebteff.logs import finished, setup_logging


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input, rule=smk.rule, resources=smk.resources)
    token = client_environment()

    filename = smk.wildcards.release_file
    logger.info(
        "fetching %s from model repository %s at revision %s",
        filename,
        smk.params.repo_id,
        smk.params.revision,
    )
    download_file(
        smk.params.repo_id,
        filename,
        smk.output[0],
        repo_type="model",
        revision=smk.params.revision,
        sha256=smk.params.sha256,
        retries=smk.params.retries,
        token=token,
    )
    finished(logger, smk.output)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (injected by the script directive)
