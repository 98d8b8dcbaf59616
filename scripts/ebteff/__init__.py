"""Library of the Gaia eclipsing-binary Teff workflow.

Pure functions with plain arguments: the rule scripts in ``scripts/`` unpack the
``snakemake`` object and call into this package; the unit tests call it directly.
"""

import importlib

__version__ = "0.1.0"


def predict_table(frame, model_dir, models=None, **kwargs):
    """Teff for every row of a Polars or pandas frame with a model release folder: see
    :func:`ebteff.stars.predict_table` (imported on first use, so that the rule scripts, which
    all import this package, load none of what prediction needs)."""
    stars = importlib.import_module(".stars", __name__)
    return stars.predict_table(frame, model_dir, models, **kwargs)
