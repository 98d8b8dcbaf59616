"""Rule upload_publish: send the staged folders to the Hub, one commit per repository.

With publish.dry_run (the default) nothing is sent: the staged folders are checked against the
manifest and results/publish/upload.json says what would be uploaded. The token comes from the
environment (``HF_TOKEN``), never from ``params``: Snakemake stores params in clear under
``.snakemake/``. ``HF_ENDPOINT`` (a mirror) is honoured as well.
"""

from pathlib import Path

from ebteff.hub import client_environment
from ebteff.io import read_json, write_json
from ebteff.logs import finished, setup_logging
from ebteff.publish.upload import upload


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input, rule=smk.rule, resources=smk.resources)
    token = client_environment(upload=True)
    manifest = read_json(smk.input.manifest)
    logger.info(
        "publishing %s (%s, HF_TOKEN %s)",
        ", ".join(f"{r['repo_type']} {r['repo_id']}" for r in manifest["repos"].values()),
        "dry run" if smk.params.settings["dry_run"] else "upload",
        "set" if token else "not set",
    )
    report = upload(
        manifest,
        Path(smk.input.manifest).parent,
        dry_run=smk.params.settings["dry_run"],
        token=token,
        private=smk.params.settings["private"],
    )
    write_json(report, smk.output.report)
    if report["dry_run"]:
        logger.info(report["note"])
    finished(logger, smk.output)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (injected by the script directive)
