# Helpers shared by every stage: target lists, input functions, resource functions.
# Paths in this file are relative to the working directory (the run's root).
import json as _json
import hashlib as _hashlib

PHOTOMETRY = "resources/photometry/eb_unified_photometry.parquet"
TRUTH = "resources/photometry/truth.parquet"
REFERENCE = "resources/reference/teff_reference.parquet"
PHOTOMETRY_SUMMARY = "results/photometry/summary.json"
CORRECTION_JSON = "results/correction/teff_correction.json"
CORRECTION_PKL = "results/correction/teff_correction_coeffs_deg2.pkl"
SPLIT = "results/split/split.parquet"
MODELS = list(config["models"])


wildcard_constraints:
    model="|".join(MODELS),


def config_hash():
    """Short sha256 of the resolved config, recorded in provenance. Left out: `publish` and
    `resources` (where results go and how much memory jobs ask for change none of them).
    """
    settings = {k: v for k, v in config.items() if k not in ("publish", "resources")}
    text = _json.dumps(settings, sort_keys=True, default=str)
    return _hashlib.sha256(text.encode()).hexdigest()[:16]


def photometry_path(wildcards=None):
    """The acquired photometry table: simulated or downloaded into resources/, or a local file."""
    if config["source"] == "local":
        return config["local"]["path"]
    return PHOTOMETRY


def simulated():
    """True when the photometry is simulated, so the truth table exists for evaluation."""
    return config["source"] == "simulate"


def truth_input(wildcards=None):
    """The simulated truth, for evaluation only (models never read it); nothing otherwise."""
    return {"truth": TRUTH} if simulated() else {}


def reference_path(wildcards=None):
    """Reference Teff table for fitting the correction."""
    if config["correction"]["reference"]:
        return config["correction"]["reference"]
    if simulated():
        return REFERENCE
    raise WorkflowError(
        "correction.mode is 'fit' but no reference table is configured: set "
        "correction.reference to a Parquet file with source_id and teff_ref, or use "
        "correction.mode: load with correction.file"
    )


def label_reference_input(wildcards=None):
    """The reference Teff table, when there is one, for the uncertainty of flag-A stars."""
    if config["correction"]["reference"]:
        return {"reference": config["correction"]["reference"]}
    return {"reference": REFERENCE} if simulated() else {}


def correction_params():
    """Fit and application settings of the hot-star correction."""
    c = config["correction"]
    return {
        k: c[k]
        for k in ("fit_floor", "degree", "clip_sigma", "threshold", "blend_width")
    }


def model_spec(wildcards):
    """The config entry of one model, with its name."""
    return {"name": wildcards.model, **config["models"][wildcards.model]}


def feature_spec(wildcards):
    """A model's spec less its hyperparameters: tuning a forest does not rebuild its features."""
    spec = model_spec(wildcards)
    return {k: v for k, v in spec.items() if k != "hyperparameters"}


def model_outputs(name):
    return [
        f"results/models/{name}/model.parquet",
        f"results/models/{name}/metadata.json",
        f"results/models/{name}/metrics.json",
        f"results/models/{name}/metrics.md",
    ]


CATALOG_FITS = "results/catalog/eb_teff_catalog.fits"
CATALOG_PARQUET = "results/catalog/eb_teff_catalog.parquet"
CATALOG_SUMMARY = "results/catalog/summary.json"
CATALOG_VOTABLE = "results/catalog/eb_teff_catalog.vot"
CATALOG_CSV = "results/catalog/eb_teff_catalog.csv"
LABEL_CALIBRATION = "results/calibration/teff_gaia_corrected.json"
PLOTS = "results/plots"


def plot_targets():
    """The report's figures (rules/report.smk; the correction's is made where it is fitted)."""
    names = [
        "teff_distributions",
        "catalog_summary",
        "cmd",
        "sky",
        "metrics_per_bin",
        "calibration_coverage",
        "calibration_pit",
        "feature_importances",
    ]
    return [f"{PLOTS}/{n}.png" for n in names] + expand(
        f"{PLOTS}/accuracy/{{model}}.png", model=MODELS
    )


def predict_mem_mb(wildcards, input, attempt):
    """One forest in memory (about 16 bytes per byte of its stored file) plus a batch of stars;
    more on each retry."""
    forest_mb = 16 * os.path.getsize(input.model) / 1e6
    batch_mb = config["predict"]["batch_rows"] * 2000 / 1e6
    return int((500 + forest_mb + batch_mb) * attempt)


def chunk_index(wildcards):
    """0-based index and count of a scatter item such as '2-of-4'."""
    i, n = wildcards.scatteritem.split("-of-")
    return {"index": int(i) - 1, "count": int(n)}


def all_targets():
    """Everything `snakemake` builds by default."""
    targets = [PHOTOMETRY_SUMMARY, CORRECTION_JSON, CORRECTION_PKL]
    if simulated():
        targets.append("results/correction/metrics.json")
    for name in MODELS:
        targets += model_outputs(name)
        targets += [
            f"results/calibration/{name}.json",
            f"results/predictions/{name}.parquet",
        ]
    targets += [
        CATALOG_FITS,
        CATALOG_PARQUET,
        CATALOG_VOTABLE,
        CATALOG_CSV,
        CATALOG_SUMMARY,
    ]
    targets += plot_targets()
    return targets


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


# Memory requests (mem_mb) are estimates that grow with the attempt: a job retried after running
# out (--retries; profiles/slurm sets 1) asks for twice as much. Rules whose memory grows so
# also pass their script the attempt, and whether to hold the job to mem_mb itself
# (resources.enforce_memory): as resources, not params, so that neither reruns anything.
ENFORCE_MEMORY = int(config["resources"]["enforce_memory"])


def attempt_number(wildcards, attempt):
    """1, then 2 on the first retry: the script logs it, and names it if memory runs out."""
    return attempt


# -- publishing, and models from the Hub (rules/publish.smk, rules/train.smk) -----------------

PUBLISH = "results/publish"
MODEL_SOURCE = config["model_source"]


def published_model_pins(wildcards):
    """sha256 pins of one model's files in model_source.repo_id; a missing pin stops the run."""
    from ebteff.publish import UnpinnedModelError, model_pins

    try:
        return model_pins(
            MODEL_SOURCE["sha256"], wildcards.model, MODEL_SOURCE["repo_id"]
        )
    except UnpinnedModelError as err:
        raise WorkflowError(str(err)) from None


def publish_inputs(wildcards=None):
    """What the staged dataset and model folders are made of."""
    files = {
        "photometry": photometry_path(),
        "photometry_summary": PHOTOMETRY_SUMMARY,
        "catalog_fits": CATALOG_FITS,
        "catalog_summary": CATALOG_SUMMARY,
        "best_calibration": "results/calibration/teff_best.json",
        "correction_json": CORRECTION_JSON,
        "correction_pkl": CORRECTION_PKL,
        "split_counts": "results/split/counts.json",
    }
    if simulated():
        files["correction_metrics"] = "results/correction/metrics.json"
    per_model = {
        "model": "results/models/{model}/model.parquet",
        "metadata": "results/models/{model}/metadata.json",
        "calibration": "results/models/{model}/calibration.json",
        "metrics": "results/models/{model}/metrics.json",
        "calibration_report": "results/calibration/{model}.json",
        "feature_counts": "results/features/{model}.counts.json",
    }
    for key, pattern in per_model.items():
        files[f"model_{key}"] = expand(pattern, model=MODELS)
    return files


def publish_release():
    """Repositories of the release and where its inputs came from, for the cards."""
    source = config["source"]
    detail = {
        "simulate": {"seed": config["simulate"]["seed"]},
        "huggingface": {
            k: config["huggingface"][k] for k in ("repo_id", "revision", "filename")
        },
        "local": {},
    }[source]
    return {
        "dataset_repo": config["publish"]["dataset_repo"],
        "model_repo": config["publish"]["model_repo"],
        "revision": config["publish"]["revision"],
        "source": source,
        "source_detail": detail,
        "model_source": {k: MODEL_SOURCE[k] for k in ("source", "repo_id", "revision")},
    }
