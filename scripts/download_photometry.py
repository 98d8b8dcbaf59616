"""Rule `download_photometry`: fetch the published photometry table from the Hugging Face Hub.

The token comes from the environment (``HF_TOKEN``), never from ``params``: Snakemake stores
params in clear under ``.snakemake/``. ``HF_ENDPOINT`` (a mirror) is honoured as well.
"""

import os

from ebteff.hub import download_file
from ebteff.logs import finished, setup_logging


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input, rule=smk.rule, resources=smk.resources)
    token = os.environ.get("HF_TOKEN") or None
    # huggingface_hub 2.x otherwise fetches {HF_ENDPOINT}/api/agent-harnesses for its user agent;
    # a download needs no telemetry. Must be set before huggingface_hub is imported (read once).
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
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
