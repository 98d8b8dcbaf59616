"""Rule `download_photometry`: fetch the published photometry table from the Hugging Face Hub.

The token comes from the environment (``HF_TOKEN``), never from ``params``: Snakemake stores
params in clear under ``.snakemake/``. ``HF_ENDPOINT`` (a mirror) is honoured as well.
"""

from ebteff.hub import client_environment, download_file
from ebteff.logs import finished, setup_logging


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input, rule=smk.rule, resources=smk.resources)
    token = client_environment()
    logger.info(
        "fetching %s from dataset %s at revision %s (%s)",
        smk.params.filename,
        smk.params.repo_id,
        smk.params.revision,
        "HF_TOKEN set" if token else "HF_TOKEN not set",
    )
    download_file(
        smk.params.repo_id,
        smk.params.filename,
        smk.output.photometry,
        repo_type="dataset",
        revision=smk.params.revision,
        sha256=smk.params.sha256,
        retries=smk.params.retries,
        token=token,
    )
    finished(logger, smk.output)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (injected by the script directive)
