"""Rule convert_legacy_model: the earlier pipeline's pinned forest pickle, as a node table.

The pickle is checked against its pin and unpickled with the forest allow-list
(ebteff.legacy); from here on the model is like a trained one (prediction, calibration and
the catalogue run on this run's data).
"""

import platform

import numpy as np
import polars as pl
import sklearn

from ebteff import __version__
from ebteff.features import ModelSpec
from ebteff.io import write_json
from ebteff.legacy import convert_legacy_forest
from ebteff.logs import finished, setup_logging


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input, rule=smk.rule, resources=smk.resources)
    cfg = dict(smk.params.spec)
    spec = ModelSpec.from_config(cfg.pop("name"), cfg)
    origin = dict(smk.params.origin)
    logger.info("converting the legacy forest pickle %s for model %s", smk.input.pickle, spec.name)
    metadata = convert_legacy_forest(
        smk.input.pickle, origin.pop("sha256"), origin.pop("key"), spec, smk.output.model
    )
    metadata["legacy"].update(origin)
    metadata["versions"] = {
        "ebteff": __version__,
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "polars": pl.__version__,
    }
    write_json(metadata, smk.output.metadata)
    finished(logger, smk.output)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
