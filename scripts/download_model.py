"""Rule download_model: a published model (forest and metadata), sha256-pinned, instead of training.

The token, if the repository needs one, comes from the environment (``HF_TOKEN``), never from
``params``. ``HF_ENDPOINT`` (a mirror) is honoured as well.
"""

from ebteff.features import ModelSpec
from ebteff.hub import client_environment
from ebteff.logs import finished, setup_logging
from ebteff.published import fetch_model


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input, rule=smk.rule, resources=smk.resources)
    token = client_environment()
    cfg = dict(smk.params.spec)
    spec = ModelSpec.from_config(cfg.pop("name"), cfg)
    logger.info(
        "fetching model %s from model repository %s at revision %s (%s)",
        spec.name,
        smk.params.repo_id,
        smk.params.revision,
        "HF_TOKEN set" if token else "HF_TOKEN not set",
    )
    fetch_model(
        spec,
        smk.output.model,
        smk.output.metadata,
        repo_id=smk.params.repo_id,
        revision=smk.params.revision,
        pins=smk.params.pins,
        retries=smk.params.retries,
        token=token,
    )
    finished(logger, smk.output)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (injected by the script directive)
