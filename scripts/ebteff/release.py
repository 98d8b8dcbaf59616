"""What a model release holds, by file name: one place for the staging, the download rules, the
DAG and `ebteff.predict_table`, which reads a release folder. No dependencies."""

#: The files of a model in a release, in a folder named after it: the forest and its metadata
#: (what a run downloads instead of training), and the calibration that `snakemake stars` uses
#: as published.
MODEL_FETCH_FILES = ("model.parquet", "metadata.json")
STARS_MODEL_FILES = ("calibration.json",)
MODEL_FILES = MODEL_FETCH_FILES + STARS_MODEL_FILES
#: Files of the whole release, beside the model folders: the best-of-models calibration, the
#: percentiles of the corrected GSP-Phot Teff (flag A) and the hot-star correction.
BEST_CALIBRATION_FILE = "teff_best_calibration.json"
LABEL_CALIBRATION_FILE = "teff_gaia_corrected.json"
CORRECTION_FILE = "teff_correction.json"
