# Helpers shared by every stage: target lists, input functions, resource functions.
# Paths in this file are relative to the working directory (the run's root).
import json as _json
import hashlib as _hashlib

# Every path of this run lives below these two folders (config `run`), so that runs of other
# configurations never touch its files.
RUN = run_name(config)
RESULTS = f"results/{RUN}"
RESOURCES = f"resources/{RUN}"


def results_path(path):
    """``path`` below this run's results folder (wildcards in ``path`` are left as they are)."""
    return f"{RESULTS}/{path}"


def resources_path(path):
    """``path`` below this run's resources folder."""
    return f"{RESOURCES}/{path}"


PHOTOMETRY = resources_path("photometry/eb_unified_photometry.parquet")
TRUTH = resources_path("photometry/truth.parquet")
REFERENCE = resources_path("reference/teff_reference.parquet")
PHOTOMETRY_SUMMARY = results_path("photometry/summary.json")
CORRECTION_JSON = results_path("correction/teff_correction.json")
CORRECTION_PKL = results_path("correction/teff_correction_coeffs_deg2.pkl")
SPLIT = results_path("split/split.parquet")


def _models_of(teff):
    """Config models of Teff (teff=True) or of the parameters of `parameters:` (log g, [M/H];
    teff=False), config order."""
    from ebteff.parameters import TEFF, parameter_of

    return [
        m
        for m, entry in config["models"].items()
        if (parameter_of(entry["target"]) is TEFF) == teff
        and (teff or parameter_of(entry["target"]).key in config.get("parameters", []))
    ]


# MODELS: the Teff models (teff_best, report, validation, tuning, release); PARAMETER_MODELS:
# the models of log g and [M/H] (logg_best, mh_best: ebteff.parameter_catalog), trained by the
# run or, pinned, downloaded from a published release (a legacy release has Teff models only)
MODELS = _models_of(True)


def _published_parameter_models():
    """model_source huggingface: the log g and [M/H] models whose files the config pins (a
    release made before they were published carries Teff models only)."""
    from ebteff.release import MODEL_FILES

    pins = config["model_source"].get("sha256") or {}
    return [
        m for m in _models_of(False) if all(pins.get(f"{m}/{f}") for f in MODEL_FILES)
    ]


PARAMETER_MODELS = {
    "train": lambda: _models_of(False),
    "huggingface": _published_parameter_models,
}.get(config["model_source"]["source"], list)()
ALL_MODELS = MODELS + PARAMETER_MODELS


wildcard_constraints:
    model="|".join(ALL_MODELS),
    parameter="logg|mh",


def parameter_models(wildcards):
    """The run's models of the parameter `wildcards.parameter` (log g or [M/H]), config order."""
    from ebteff.parameters import parameter_of

    return [
        m
        for m in PARAMETER_MODELS
        if parameter_of(config["models"][m]["target"]).key == wildcards.parameter
    ]


def parameter_model_files(pattern):
    """Input function: `pattern` (under results/) for each model of the wildcard's parameter."""

    def files(wildcards):
        return expand(results_path(pattern), model=parameter_models(wildcards))

    return files


def parameter_keys():
    """Parameters other than Teff that the run has models of (`logg`, `mh`), config order."""
    from ebteff.parameters import parameter_of

    keys = [parameter_of(config["models"][m]["target"]).key for m in PARAMETER_MODELS]
    return list(dict.fromkeys(keys))


def config_hash():
    """Short sha256 of the resolved config, recorded in provenance. Left out: `run`, `publish`,
    `resources`, `stars`, `tuning` and `validation` (the run's name, where results go, how much
    memory jobs ask for, which table of one's own stars is predicted, how `snakemake tune`
    searches and which tables the run is validated on change none of the catalogue's results).
    """
    settings = {
        k: v
        for k, v in config.items()
        if k not in ("run", "publish", "resources", "stars", "tuning", "validation")
    }
    text = _json.dumps(settings, sort_keys=True, default=str)
    return _hashlib.sha256(text.encode()).hexdigest()[:16]


def photometry_path(wildcards=None):
    """The acquired photometry table: simulated, downloaded or imported into resources/."""
    return PHOTOMETRY


def local_table(wildcards=None):
    """A local photometry table (source: local), checked to exist and be of a known format."""
    from ebteff.tables import TableError, check_exists, table_format

    try:
        table_format(config["local"]["path"] or "", "local.path")
        return str(check_exists(config["local"]["path"], "local.path"))
    except TableError as err:
        raise WorkflowError(str(err)) from None


def simulated():
    """True when the photometry is simulated, so the truth table exists for evaluation."""
    return config["source"] == "simulate"


def truth_input(wildcards=None):
    """The simulated truth, for evaluation only (models never read it); nothing otherwise."""
    return {"truth": TRUTH} if simulated() else {}


PUBLISHED_CORRECTION = resources_path("correction/published_correction")
PUBLISHED_CORRECTION_SOURCE = resources_path("correction/published_correction.json")


def correction_method():
    """How this run gets its hot-star correction: 'fit', 'load' (correction.file) or 'published'.

    auto: a reference table given -> fit on it; a correction file given -> load it; simulated
    photometry -> fit on the simulated reference sample; otherwise (real data, nothing given) ->
    load the correction published in the dataset repository.
    """
    c = config["correction"]
    mode = c["mode"]
    if mode == "fit":
        return "fit"
    if mode == "load":
        return "load" if c["file"] else "published"
    if c["reference"]:
        return "fit"
    if c["file"]:
        return "load"
    return "fit" if simulated() else "published"


def reference_path(wildcards=None):
    """Reference Teff table for fitting the correction."""
    if config["correction"]["reference"]:
        return config["correction"]["reference"]
    if simulated():
        return REFERENCE
    raise WorkflowError(
        "correction.mode is 'fit' but no reference table is configured: set "
        "correction.reference to a Parquet file with source_id and teff_ref, or use "
        "correction.mode: auto (the default) or load, which read the correction published in "
        "the dataset repository (correction.published) or correction.file"
    )


def correction_file_inputs(wildcards=None):
    """The file load_correction reads: correction.file, or the published one and its record."""
    if correction_method() == "load":
        return {"file": config["correction"]["file"]}
    return {"file": PUBLISHED_CORRECTION, "source": PUBLISHED_CORRECTION_SOURCE}


def correction_pin():
    """The sha256 pin of the file loaded, and its config key (the pin is optional)."""
    c = config["correction"]
    if correction_method() == "load":
        return {"sha256": c["file_sha256"], "key": "correction.file_sha256"}
    return {"sha256": c["published"]["sha256"], "key": "correction.published.sha256"}


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
    """A model's spec less how its forest is grown: tuning a forest or changing its engine does
    not rebuild its features."""
    spec = model_spec(wildcards)
    return {k: v for k, v in spec.items() if k not in ("hyperparameters", "engine")}


def model_engine(wildcards):
    """The engine that trains a model: its own `engine`, else `training.engine`."""
    return config["models"][wildcards.model].get("engine", config["training"]["engine"])


def model_outputs(name):
    return [
        f"{RESULTS}/models/{name}/model.parquet",
        f"{RESULTS}/models/{name}/metadata.json",
        f"{RESULTS}/models/{name}/metrics.json",
        f"{RESULTS}/models/{name}/metrics.md",
    ]


CATALOG_FITS = results_path("catalog/eb_teff_catalog.fits")
CATALOG_PARQUET = results_path("catalog/eb_teff_catalog.parquet")
CATALOG_SUMMARY = results_path("catalog/summary.json")
CATALOG_VOTABLE = results_path("catalog/eb_teff_catalog.vot")
CATALOG_CSV = results_path("catalog/eb_teff_catalog.csv")
LABEL_CALIBRATION = results_path("calibration/teff_gaia_corrected.json")
PLOTS = results_path("plots")


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
    return (
        [f"{PLOTS}/{n}.png" for n in names]
        + expand(f"{PLOTS}/accuracy/{{model}}.png", model=MODELS)
        + expand(
            f"{PLOTS}/{{parameter}}/{{figure}}.png",
            parameter=parameter_keys(),
            figure=("metrics_per_bin", "calibration_coverage"),
        )
    )


def predict_mem_mb(wildcards, input, attempt):
    """One forest in memory (about 16 bytes per byte of its stored file) plus a batch of stars,
    on top of the interpreter with the compiled traversal (numba's LLVM); more on each retry.
    """
    forest_mb = 16 * os.path.getsize(input.model) / 1e6
    batch_mb = config["predict"]["batch_rows"] * 2000 / 1e6
    return int((1000 + forest_mb + batch_mb) * attempt)


def chunk_index(wildcards):
    """0-based index and count of a scatter item such as '2-of-4'."""
    i, n = wildcards.scatteritem.split("-of-")
    return {"index": int(i) - 1, "count": int(n)}


def all_targets():
    """Everything `snakemake` builds by default."""
    targets = [PHOTOMETRY_SUMMARY, CORRECTION_JSON, CORRECTION_PKL]
    if simulated():
        targets.append(results_path("correction/metrics.json"))
    for name in ALL_MODELS:
        targets += model_outputs(name)
        targets += [
            f"{RESULTS}/calibration/{name}.json",
            f"{RESULTS}/predictions/{name}.parquet",
        ]
    targets += [
        CATALOG_FITS,
        CATALOG_PARQUET,
        CATALOG_VOTABLE,
        CATALOG_CSV,
        CATALOG_SUMMARY,
    ]
    targets += plot_targets()
    targets += validation_targets()
    return targets


FULL_CATALOGUE_ROWS = 2_179_680


def n_stars():
    """Number of stars in the catalogue: from the config, the file's footer, or the full size."""
    if config["source"] == "simulate":
        return config["simulate"]["n_stars"]
    try:
        import pyarrow.parquet as pq

        path = photometry_path()
        if config["source"] == "local" and not os.path.exists(path):
            path = config["local"]["path"]  # before its import
        return pq.ParquetFile(path).metadata.num_rows
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

PUBLISH = results_path("publish")
MODEL_SOURCE = config["model_source"]


def published_model_pins(wildcards):
    """sha256 pins of one model's files in model_source.repo_id; a missing pin stops the run."""
    from ebteff.published import UnpinnedModelError, model_pins

    try:
        return model_pins(
            MODEL_SOURCE["sha256"], wildcards.model, MODEL_SOURCE["repo_id"]
        )
    except UnpinnedModelError as err:
        raise WorkflowError(str(err)) from None


def _legacy_entries():
    """model_source.legacy, checked for every model before anything runs (pins required)."""
    from ebteff.legacy import LegacyModelError, legacy_entry

    try:
        return {
            m: legacy_entry(MODEL_SOURCE["legacy"], m, MODEL_SOURCE["repo_id"])
            for m in MODELS
        }
    except LegacyModelError as err:
        raise WorkflowError(str(err)) from None


LEGACY = _legacy_entries() if MODEL_SOURCE["source"] == "legacy" else {}


def legacy_pickle(wildcards):
    """A model's legacy forest pickle: the local file, or where download_legacy_model puts it."""
    entry = LEGACY[wildcards.model]
    return entry.get("path") or f"{RESOURCES}/models/legacy/{wildcards.model}.pkl"


def legacy_download(wildcards):
    """Path in model_source.repo_id and sha256 pin of a model's pickle (for the download)."""
    entry = LEGACY[wildcards.model]
    if not entry.get("file"):
        raise WorkflowError(
            f"model_source.legacy.{wildcards.model} is a local file (path)"
        )
    return entry


def legacy_origin(wildcards):
    """Where a model's pickle comes from and its pin, recorded in the model's metadata."""
    entry = LEGACY[wildcards.model]
    origin = {
        "sha256": entry["sha256"],
        "key": f"model_source.legacy.{wildcards.model}.sha256",
    }
    if entry.get("file"):
        origin.update(
            repo_id=MODEL_SOURCE["repo_id"],
            revision=MODEL_SOURCE["revision"],
            file=entry["file"],
        )
    else:
        origin["path"] = entry["path"]
    return origin


def legacy_mem_mb(wildcards, input, attempt):
    """The unpickled forest (about twice its pickle) and its node table; more on each retry."""
    return int((1000 + 3 * os.path.getsize(input.pickle) / 1e6) * attempt)


def publish_inputs(wildcards=None):
    """What the staged dataset and model folders are made of."""
    files = {
        "photometry": photometry_path(),
        "photometry_summary": PHOTOMETRY_SUMMARY,
        "catalog_fits": CATALOG_FITS,
        "catalog_summary": CATALOG_SUMMARY,
        "best_calibration": results_path("calibration/teff_best.json"),
        "label_calibration": LABEL_CALIBRATION,
        "correction_json": CORRECTION_JSON,
        "correction_pkl": CORRECTION_PKL,
        "split_counts": results_path("split/counts.json"),
    }
    if simulated():
        files["correction_metrics"] = results_path("correction/metrics.json")
    if VALIDATION:
        files["validations"] = expand(
            results_path("validation/{table}.json"), table=list(VALIDATION)
        )
    per_model = {
        "model": results_path("models/{model}/model.parquet"),
        "metadata": results_path("models/{model}/metadata.json"),
        "calibration": results_path("models/{model}/calibration.json"),
        "metrics": results_path("models/{model}/metrics.json"),
        "calibration_report": results_path("calibration/{model}.json"),
        "feature_counts": results_path("features/{model}.counts.json"),
    }
    for key, pattern in per_model.items():
        files[f"model_{key}"] = expand(pattern, model=MODELS)
        files[f"parameter_model_{key}"] = expand(pattern, model=PARAMETER_MODELS)
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


# -- Teff for a user's own table (rules/stars.smk) --------------------------------------------

STARS = config["stars"]
RELEASE = resources_path("models")


def stars_name():
    """Output name of the stars table: its file name without the format ending."""
    from ebteff.tables import table_stem

    return table_stem(STARS)


def _table_error(err):
    return WorkflowError(str(err))


def stars_table(wildcards=None):
    """The user's table, checked to exist (the message names the config key)."""
    from ebteff.tables import TableError, check_exists, table_format

    try:
        table_format(STARS, "stars")
        return str(check_exists(STARS, "stars"))
    except TableError as err:
        raise _table_error(err) from None


def stars_targets(wildcards=None):
    """What `snakemake stars` builds."""
    if not STARS:
        raise WorkflowError(
            "`snakemake stars` needs the table of stars to predict: add --config stars=PATH "
            "(a Parquet, CSV, FITS or VOTable file)"
        )
    stars_table()
    return [f"{RESULTS}/stars/{stars_name()}.{ext}" for ext in ("parquet", "fits")]


def stars_model_inputs(wildcards=None):
    """Models, calibrations, best-of calibration and correction the stars are predicted with:
    this run's, or (model_source: huggingface) the published release's, downloaded pinned.
    """
    if MODEL_SOURCE["source"] == "huggingface":
        calibration = f"{RELEASE}/{{model}}/calibration.json"
        from ebteff import release

        best, correction, label = (
            f"{RELEASE}/{release.BEST_CALIBRATION_FILE}",
            f"{RELEASE}/{release.CORRECTION_FILE}",
            f"{RELEASE}/{release.LABEL_CALIBRATION_FILE}",
        )
    else:
        calibration = results_path("models/{model}/calibration.json")
        best, correction = results_path("calibration/teff_best.json"), CORRECTION_JSON
        label = LABEL_CALIBRATION
    return {
        "models": expand(
            results_path("models/{model}/model.parquet"), model=ALL_MODELS
        ),
        "metadata": expand(
            results_path("models/{model}/metadata.json"), model=ALL_MODELS
        ),
        "calibrations": expand(calibration, model=ALL_MODELS),
        "best_calibration": best,
        "correction": correction,
        "label_calibration": label,
    }


def stars_mem_mb(wildcards, input, attempt):
    """Every forest in memory plus a batch of stars. validate_external's peak was 1,238 MB with
    179 MB of forest files (200,000 stars) and 4,493 MB with 871 MB (2.18M): ~5 bytes per byte
    of forest file above ~300 MB; 6 asked (it was 16: 15.3 GB asked at full size)."""
    forest_mb = sum(6 * os.path.getsize(p) / 1e6 for p in input.models)
    batch_mb = config["predict"]["batch_rows"] * 4000 / 1e6
    return int((1000 + forest_mb + batch_mb) * attempt)


def release_file_pin(wildcards):
    """sha256 pin of one file of the published release that `stars` needs."""
    pin = (MODEL_SOURCE["sha256"] or {}).get(wildcards.release_file)
    if not pin:
        raise WorkflowError(
            f"model_source.sha256 has no pin for {wildcards.release_file} of the model "
            f"repository {MODEL_SOURCE['repo_id']!r}: `snakemake stars` with published models "
            "uses each model's calibration.json, teff_best_calibration.json, "
            "teff_gaia_corrected.json and teff_correction.json as published, and loads a file from outside the run only "
            "when its sha256 is pinned. Take the pins from the release's manifest.json (its "
            "model_source block) or its model card. Nothing was downloaded."
        )
    return pin


# -- hyperparameter search (rules/tune.smk) ---------------------------------------------------

TUNING = config["tuning"]
TUNED = list(TUNING["models"])


def tuning_path(path):
    """``path`` below a tuned model's folder, results/<run>/tuning/{model}/."""
    return results_path(f"tuning/{{model}}/{path}")


def trial_ids():
    """Names of the trials of a search: 0000, 0001, ..."""
    return [f"{t:04d}" for t in range(TUNING["trials"])]


def trial_window(wildcards):
    """The trials that trial t is drawn from: 0 ... t - jobs (see ebteff.tuning)."""
    t = int(wildcards.trial)
    return expand(
        results_path("tuning/{model}/trials/{trial}.json"),
        model=wildcards.model,
        trial=[f"{i:04d}" for i in range(0, t - TUNING["jobs"] + 1)],
    )


def tuning_settings(wildcards):
    """Everything that changes a trial's score or draw (the study's name digests it, with the
    feature table's and correction's sha256)."""
    return {
        "model": feature_spec(wildcards),
        "hyperparameters": config["models"][wildcards.model]["hyperparameters"],
        "engine": model_engine(wildcards),
        "split_salt": config["split"]["salt"],
        **{
            k: TUNING[k]
            for k in ("space", "objective", "folds", "seed", "jobs", "trials")
        },
    }


def tuning_targets():
    """What `snakemake tune` builds."""
    if not TUNED:
        raise WorkflowError(
            "`snakemake tune` has no model to tune: list models under tuning.models"
        )
    unknown = [m for m in TUNED if m not in MODELS]
    if unknown:
        raise WorkflowError(
            f"tuning.models names {', '.join(unknown)}, not model(s) of `models:` "
            f"({', '.join(MODELS)})"
        )
    files = ["best.yaml", "best.json", "trials.csv", "summary.json"]
    targets = expand(results_path("tuning/{model}/{file}"), model=TUNED, file=files)
    return targets + expand(f"{PLOTS}/tuning/{{model}}.png", model=TUNED)


# -- external validation (rules/external.smk) -------------------------------------------------

VALIDATION = (config.get("validation") or {}).get("tables") or {}


def validation_targets():
    """What the default target builds of the external validation: per table, its JSON,
    Markdown and figure (none when validation.tables is null)."""
    out = []
    for name in VALIDATION:
        out += [
            results_path(f"validation/{name}.json"),
            results_path(f"validation/{name}.md"),
            f"{PLOTS}/validation/{name}.png",
        ]
    return out


def validation_table(wildcards):
    """The file of one validation table, checked to exist (the message names the config key)."""
    from ebteff.external import resolve_path
    from ebteff.tables import TableError, check_exists, table_format

    key = f"validation.tables.{wildcards.table}.path"
    path = str(resolve_path(VALIDATION[wildcards.table]["path"]))
    try:
        table_format(path, key)
        return str(check_exists(path, key))
    except TableError as err:
        raise WorkflowError(str(err)) from None


def validation_spec(wildcards):
    """One entry of validation.tables, with its name."""
    return {"name": wildcards.table, **VALIDATION[wildcards.table]}
