# Helpers shared by every stage: target lists, input functions, resource functions.
# Paths in this file are relative to the working directory (the run's root).
import json as _json
import hashlib as _hashlib

PHOTOMETRY = "resources/photometry/eb_unified_photometry.parquet"
TRUTH = "resources/photometry/truth.parquet"
REFERENCE = "resources/reference/teff_reference.parquet"
PHOTOMETRY_SUMMARY = "results/photometry/summary.json"


def config_hash():
    """Short sha256 of the resolved config, recorded in provenance."""
    text = _json.dumps(config, sort_keys=True, default=str)
    return _hashlib.sha256(text.encode()).hexdigest()[:16]


def photometry_path(wildcards=None):
    """The acquired photometry table: simulated or downloaded into resources/, or a local file."""
    if config["source"] == "local":
        return config["local"]["path"]
    return PHOTOMETRY


def all_targets():
    """Everything `snakemake` builds by default."""
    return [PHOTOMETRY_SUMMARY]


FULL_CATALOGUE_ROWS = 2_179_680


def n_stars():
    """Number of stars in the catalogue: from the config, the file's footer, or the full size."""
    if config["source"] == "simulate":
        return config["simulate"]["n_stars"]
    try:
        import pyarrow.parquet as pq

        return pq.ParquetFile(photometry_path()).metadata.num_rows
    except Exception:  # not downloaded yet, or unreadable (validation reports that)
        return FULL_CATALOGUE_ROWS


def mem_mb_for_table(per_row_bytes, base_mb=500):
    """Memory request growing with the number of stars and with each retry."""

    def _mem(wildcards, attempt):
        return int((base_mb + n_stars() * per_row_bytes / 1e6) * attempt)

    return _mem
