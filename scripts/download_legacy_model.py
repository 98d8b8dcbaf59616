"""Rule download_legacy_model: one of the earlier pipeline's forest pickles, sha256-pinned.

Only the download: the file is not unpickled here (convert_legacy_model does that, after
checking the pin again). The token comes from the environment (``HF_TOKEN``), never ``params``.
"""

from ebteff.hub import client_environment, download_file
from ebteff.logs import finished, setup_logging


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input, rule=smk.rule, resources=smk.resources)
    token = client_environment()
    entry = smk.params.entry
    logger.info(
        "fetching the legacy forest %s from model repository %s at revision %s",
        entry["file"],
        smk.params.repo_id,
        smk.params.revision,
    )
    download_file(
        smk.params.repo_id,
        entry["file"],
        smk.output.pickle,
        repo_type="model",
        revision=smk.params.revision,
        sha256=entry["sha256"],
        retries=smk.params.retries,
        token=token,
    )
    finished(logger, smk.output)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (injected by the script directive)
