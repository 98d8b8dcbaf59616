"""Library of the Gaia eclipsing-binary Teff workflow.

Pure functions with plain arguments: the rule scripts in ``scripts/`` unpack the
``snakemake`` object and call into this package; the unit tests call it directly.
"""

__version__ = "0.1.0"


def predict_table(frame, model_dir, models=None, **kwargs):
    """Teff for every row of a Polars or pandas frame with a model release folder: see
    :func:`ebteff.stars.predict_table` (imported on first use: it needs scikit-learn)."""
    from .stars import predict_table as _predict_table

    return _predict_table(frame, model_dir, models, **kwargs)
