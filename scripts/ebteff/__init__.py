"""Library of the Gaia eclipsing-binary Teff workflow.

Pure functions with plain arguments: the rule scripts in ``scripts/`` unpack the
``snakemake`` object and call into this package; the unit tests call it directly.
"""

__version__ = "0.1.0"
