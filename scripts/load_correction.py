"""Rule load_correction: read a correction file (our JSON, or the earlier pipeline's pickle).

The file is correction.file, or the one download_correction fetched from the dataset
repository; either way its sha256 goes into the log and the correction's ``origin`` record.
"""

import json

from ebteff.correction import dump_legacy_pickle, load_correction_file, save_correction_json
from ebteff.io import sha256sum
from ebteff.logs import finished, setup_logging


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input, rule=smk.rule, resources=smk.resources)
    s = smk.params.settings
    pin = smk.params.pin
    if hasattr(smk.input, "source"):
        published = json.loads(open(smk.input.source).read())
        name = published["filename"]
        origin = {
            "method": "load",
            "from": "published",
            "repo_id": published["repo_id"],
            "revision": published["revision"],
            "file": name,
        }
    else:
        name = str(smk.input.file)
        origin = {"method": "load", "from": "file", "file": name}
    correction = load_correction_file(
        smk.input.file,
        pin["sha256"],
        name=name,
        pin_key=pin["key"],
        threshold=s["threshold"],
        width=s["blend_width"],
    )
    digest = sha256sum(smk.input.file)
    origin.update(sha256=digest, pinned=pin["sha256"] is not None)
    logger.info(
        "loaded correction %s from %s (sha256 %s, %s)",
        correction.coefficients,
        name,
        digest,
        "matches its pin" if pin["sha256"] else "no pin configured",
    )
    save_correction_json(
        correction,
        smk.output.json,
        origin=origin,
        inputs={"file": name, "file_sha256": digest},
    )
    dump_legacy_pickle(correction, smk.output.pkl)
    finished(logger, smk.output)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
