"""Rule download_correction: the hot-star correction published in the dataset repository.

The first of the configured files the repository holds is fetched (our JSON, else the earlier
pipeline's pickle), with its sha256 checked when a pin is configured, and recorded beside it
(which file, from where, its sha256) for load_correction and the run's provenance. The token
comes from the environment (``HF_TOKEN``), never from ``params``.
"""

from ebteff.hub import client_environment, download_first
from ebteff.io import sha256sum, write_json
from ebteff.logs import finished, setup_logging


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input, rule=smk.rule, resources=smk.resources)
    token = client_environment()
    logger.info(
        "fetching the published correction (first of %s) from dataset %s at revision %s",
        ", ".join(smk.params.filenames),
        smk.params.repo_id,
        smk.params.revision,
    )
    filename = download_first(
        smk.params.repo_id,
        list(smk.params.filenames),
        smk.output.file,
        repo_type="dataset",
        revision=smk.params.revision,
        sha256=smk.params.sha256,
        retries=smk.params.retries,
        token=token,
    )
    digest = sha256sum(smk.output.file)
    logger.info("published correction: %s, sha256 %s", filename, digest)
    write_json(
        {
            "repo_id": smk.params.repo_id,
            "repo_type": "dataset",
            "revision": smk.params.revision,
            "filename": filename,
            "sha256": digest,
            "pinned": smk.params.sha256 is not None,
        },
        smk.output.source,
    )
    finished(logger, smk.output)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (injected by the script directive)
