"""The dataset card, the model card and the two text files beside the data, from templates.

The text is in the Jinja2 templates of ``templates/`` (package data), one file per section; this
module gathers what they show from the run's files (numbers formatted by the filters ``n``,
``kelvin``, ``pct``, ``num`` and ``size``). Each card's front matter is
``huggingface_hub``'s card data (:class:`~huggingface_hub.DatasetCardData`,
:class:`~huggingface_hub.ModelCardData` with an :class:`~huggingface_hub.EvalResult` per model
and test metric, which the Hub shows as the card's ``model-index``), and every card is parsed
back by :class:`~huggingface_hub.RepoCard` before it is written, so an invalid one never leaves
here. A new section is a template and its include in the card's template.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import yaml

from .. import __version__
from ..calibrate import IDEAL
from ..columns import column_doc
from ..evaluate import markdown_table
from ..flags import FLAG_MEANING
from ..formats import FOREST_FORMAT
from ..parameters import PARAMETERS, TEFF, Parameter, parameter_of
from ..published import model_pins_from_files
from ..release import BEST_CALIBRATION_FILE, CORRECTION_FILE, LABEL_CALIBRATION_FILE
from ..split import SPLITS
from .run import (
    CATALOG_DESCRIPTION_FILE,
    CATALOG_FILE,
    CORRECTION_JSON_FILE,
    CORRECTION_PKL_FILE,
    LICENSE,
    PHOTOMETRY_FILE,
    PHOTOMETRY_SUMMARY_FILE,
    ModelRun,
    Release,
    Run,
)
from .text import human_size, kelvin, number, percent, size_category, thousands

DATASET_TITLE = "Gaia DR3 eclipsing binaries: photometry and effective temperatures"
MODEL_TITLE = "Random-forest Teff models for Gaia DR3 eclipsing binaries"

COVERAGE_LABELS = {
    "gaia": "Gaia DR3: G, BP, RP, parallax, proper motion",
    "panstarrs1": "Pan-STARRS1: g, r, i, z, y (Dec > -30 deg only)",
    "twomass": "2MASS: J, H, Ks",
    "teff_gaia": "GSP-Phot Teff",
    "logg_gaia": "GSP-Phot log g",
    "mh_gaia": "GSP-Phot [M/H]",
}

FILE_ROLE = {
    PHOTOMETRY_FILE: "multi-survey photometry, one row per star",
    PHOTOMETRY_SUMMARY_FILE: "coverage and Teff statistics of the photometry",
    CATALOG_FILE: "Teff catalogue with uncertainties and quality flags",
    CATALOG_DESCRIPTION_FILE: "columns, flags and provenance of the catalogue",
    CORRECTION_JSON_FILE: "hot-star correction (coefficients, fit)",
    CORRECTION_PKL_FILE: "the same correction in the earlier pipeline's pickle format",
}

#: Test metrics of each model that the model card's ``model-index`` carries: (key in
#: metrics.json, Hub metric type, name shown with the unit of the model's parameter, decimals
#: for K and for dex).
EVAL_METRICS = (
    ("mae", "mae", "MAE ({unit})", 1, 4),
    ("rmse", "rmse", "RMSE ({unit})", 1, 4),
    ("r2", "r2", "R2", 4, 4),
)
#: The Hub's task name of each parameter.
TASK_NAMES = {"teff": "Effective temperature", "logg": "Surface gravity", "mh": "Metallicity"}

#: A coverage bin whose 1-sigma coverage falls this far below the ideal is named a limitation.
UNDERCOVERED = 0.03


@cache
def environment():
    """The templates' Jinja2 environment: undefined names are errors, not empty text."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(
        loader=PackageLoader("ebteff.publish", "templates"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # Markdown and plain text, not HTML
    )
    env.filters.update(
        n=thousands, kelvin=kelvin, pct=percent, num=number, size=human_size, repr=repr
    )
    env.globals.update(markdown_table=markdown_table, ideal=IDEAL, forest_format=FOREST_FORMAT)
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


# -- what more than one card shows ---------------------------------------------------------------


def coverage_in_order(summary: dict) -> list[tuple[str, dict]]:
    """(label, coverage) of the photometry: surveys first, then labels (the order of
    COVERAGE_LABELS), then anything else."""
    cov = summary["coverage"]
    order = [k for k in COVERAGE_LABELS if k in cov] + sorted(set(cov) - set(COVERAGE_LABELS))
    return [(COVERAGE_LABELS.get(k, k), cov[k]) for k in order]


def provenance_rows(run: Run) -> list[tuple[str, str]]:
    header = run.fits_header
    rows = [
        ("workflow", f"ebteff {header.get('WFVERS', __version__)}"),
        ("configuration hash", f"`{header['CFGHASH']}`" if "CFGHASH" in header else "n/a"),
        ("photometry sha256", f"`{run.photometry_summary['sha256']}`"),
        ("catalogue date (UTC)", str(header.get("DATE", "n/a"))),
    ]
    inputs = run.correction.get("inputs", {})
    if "reference_sha256" in inputs:
        rows.append(("correction reference sha256", f"`{inputs['reference_sha256']}`"))
    return rows


def correction_context(run: Run) -> dict:
    """The hot-star correction: its polynomial written out, its coefficients, fit and effect."""
    c = run.correction
    coeffs = c["coefficients"]
    terms = [
        f"c{i}" + ("" if i == 0 else " T" if i == 1 else f" T^{i}") for i in range(len(coeffs))
    ]
    metrics = run.correction_metrics or {}
    return {
        "correction": c,
        "polynomial": " + ".join(terms),
        "coefficients": [(f"c{i}", f"{v:.8g}") for i, v in enumerate(coeffs)],
        "fit": c.get("fit"),
        "hot": metrics.get("above_threshold"),
    }


def catalog_columns(run: Run) -> list[tuple[str, str, str]]:
    """(name, unit, description) of every catalogue column, in FITS order."""
    header = run.fits_header
    out = []
    for i in range(1, int(header["TFIELDS"]) + 1):
        name = header[f"TTYPE{i}"]
        unit = header.get(f"TUNIT{i}") or column_doc(name)[0]
        out.append((name, unit, column_doc(name)[1]))
    return out


def common_context(run: Run, release: Release) -> dict:
    return {
        "run": run,
        "release": release,
        "rows": run.photometry_summary["rows"],
        "best_test": run.best_calibration.get("test", {}).get("overall") or {},
        "provenance": provenance_rows(run),
        **correction_context(run),
    }


def card_text(card_class, card_data, body: str) -> str:
    """Front matter from ``card_data`` and ``body``, parsed back by the Hub's card class (an
    invalid card raises here, before anything is written)."""
    text = f"---\n{card_data.to_yaml()}\n---\n\n{body}"
    return str(card_class(text, ignore_metadata_errors=False))


# -- the dataset repository ----------------------------------------------------------------------


def render_photometry_summary(run: Run) -> str:
    """Plain-text summary of the photometry table (``..._SUMMARY.txt``)."""
    s = run.photometry_summary
    return render(
        "photometry_summary.txt.j2",
        s=s,
        teff=s.get("teff_gaia") or {},
        coverage=coverage_in_order(s),
    )


def render_catalog_description(run: Run) -> str:
    """Plain-text description of the FITS catalogue (``..._DESCRIPTION.txt``)."""
    header = run.fits_header
    keys = ("ORIGIN", "WFVERS", "CFGHASH", "PHOTSHA", "NSTARS", "DATE")
    prefixes = ("CORRC", "MODEL", "MSHA")
    return render(
        "catalog_description.txt.j2",
        catalog_file=CATALOG_FILE,
        header=header,
        summary=run.catalog_summary,
        columns=catalog_columns(run),
        flags=FLAG_MEANING,
        provenance=[(k, v) for k, v in header.items() if k in keys or k.startswith(prefixes)],
    )


def render_dataset_card(run: Run, release: Release, files: Mapping[str, dict]) -> str:
    """The dataset repository's ``README.md``. ``files``: staged path -> size, sha256."""
    from huggingface_hub import DatasetCard, DatasetCardData

    s = run.photometry_summary
    data = DatasetCardData(
        license=LICENSE,
        pretty_name=DATASET_TITLE,
        size_categories=[size_category(s["rows"])],
        task_categories=["tabular-regression"],
        tags=[
            "astronomy",
            "gaia",
            "eclipsing-binaries",
            "stellar-parameters",
            "effective-temperature",
            *(["surface-gravity", "metallicity"] if run.parameter_models else []),
            *(["simulated"] if release.simulated else []),
        ],
        configs=[{"config_name": "photometry", "data_files": PHOTOMETRY_FILE, "default": True}],
    )
    body = render(
        "dataset_card.md.j2",
        **common_context(run, release),
        title=DATASET_TITLE,
        models=[m.name for m in run.models],
        files=sorted(files.items()),
        file_role=FILE_ROLE,
        photometry_file=PHOTOMETRY_FILE,
        catalog_file=CATALOG_FILE,
        correction_json_file=CORRECTION_JSON_FILE,
        correction_pkl_file=CORRECTION_PKL_FILE,
        photometry=s,
        teff=s.get("teff_gaia") or {},
        coverage=coverage_in_order(s),
        cat=run.catalog_summary,
        flags=FLAG_MEANING,
        parameters=[
            (PARAMETERS[key], summary)
            for key, summary in (run.catalog_summary.get("parameters") or {}).items()
        ],
        columns=catalog_columns(run),
    )
    return card_text(DatasetCard, data, body)


# -- the model repository ------------------------------------------------------------------------


def model_context(model: ModelRun, files: Mapping[str, dict]) -> dict:
    """What a model's section shows: its definition, training, accuracy and calibration."""
    meta, counts = model.metadata, model.feature_counts
    test = model.metrics["splits"]["test"]
    accuracy = {"test vs label": test["vs_label"]["overall"]}
    if "vs_truth" in test:
        accuracy["test vs simulated truth"] = test["vs_truth"]["overall"]
    train = model.metrics["splits"].get("train", {})
    if "vs_label" in train:
        accuracy["train vs label"] = train["vs_label"]["overall"]
    by_split = counts.get("usable_by_split", {})
    report = model.calibration_report["test"]
    return {
        "model": model,
        "meta": meta,
        "counts": counts,
        "usable_by_split": [(k, by_split[k]) for k in SPLITS if k in by_split],
        "teff_range": counts.get("teff_range_k", [None, None]),
        "file": files[f"{model.name}/model.parquet"],
        "accuracy": accuracy,
        "per_bin": test["vs_label"]["per_bin"],
        "calibration_bins": model.calibration["bins"],
        "coverage_by_predicted": coverage_rows(report, "by_predicted_bin"),
        "coverage_by_label": coverage_rows(report, "by_label_bin"),
        "importances": sorted(meta["feature_importances"].items(), key=lambda kv: -kv[1]),
    }


def parameter_model_context(model: ModelRun, files: Mapping[str, dict]) -> dict:
    """A model of log g or [M/H]: its definition, accuracy and coverage, all in its unit (dex)."""
    parameter = parameter_of(model.metadata["target"])
    test = model.metrics["splits"]["test"]
    accuracy = {"test vs label": test["vs_label"]["overall"]}
    if "vs_truth" in test:
        accuracy["test vs simulated truth"] = test["vs_truth"]["overall"]
    report = model.calibration_report["test"]
    return {
        "model": model,
        "parameter": parameter,
        "meta": model.metadata,
        "file": files[f"{model.name}/model.parquet"],
        "accuracy": accuracy,
        "per_bin": test["vs_label"]["per_bin"],
        "coverage_by_predicted": coverage_rows(report, "by_predicted_bin", parameter),
    }


def coverage_rows(report: dict, by: str, parameter: Parameter = TEFF) -> list[tuple[str, dict]]:
    """(label, statistics) per bin of the test split, then over all stars, calibrated and raw."""
    rows = [(f"{name} {parameter.unit}", st) for name, st in report[by]["per_bin"].items()]
    rows.append(("**all (calibrated)**", report[by]["overall"]))
    rows.append(("all, raw tree spread", report["raw_tree_spread"]["overall"]))
    return rows


def model_limits(model: ModelRun, catalog: dict) -> dict:
    """What the measurements say a model cannot do (the card's limitations)."""
    test = model.metrics["splits"]["test"]
    bins = {k: v for k, v in test["vs_label"]["per_bin"].items() if v.get("n")}
    worst = max(bins, key=lambda k: bins[k]["mae"]) if bins else None
    per_label = model.calibration_report["test"]["by_label_bin"]["per_bin"]
    return {
        "name": model.name,
        "overall": test["vs_label"]["overall"],
        "worst": (worst, bins[worst]) if worst else None,
        "truth": test["vs_truth"]["overall"] if "vs_truth" in test else None,
        "undercovered": [
            (b, st)
            for b, st in per_label.items()
            if st.get("n") and st["within_1sigma"] < IDEAL["within_1sigma"] - UNDERCOVERED
        ],
        "predicted": catalog["predicted_by_model"].get(model.name),
        "rows": catalog["rows"],
    }


def eval_results(run: Run, release: Release) -> list:
    """The test metrics of every model, as the Hub's ``model-index`` takes them."""
    from huggingface_hub import EvalResult

    results = []
    models = [(m, TEFF) for m in run.models]
    models += [(m, parameter_of(m.metadata["target"])) for m in run.parameter_models]
    for m, parameter in models:
        test = m.metrics["splits"]["test"]["vs_label"]["overall"]
        for key, metric, shown, digits_k, digits_dex in EVAL_METRICS:
            if test.get(key) is None:  # R2 of fewer than two stars
                continue
            shown = shown.format(unit=parameter.unit)
            digits = digits_k if parameter is TEFF else digits_dex
            results.append(
                EvalResult(
                    task_type="tabular-regression",
                    task_name=TASK_NAMES[parameter.key],
                    dataset_type=release.dataset_repo,
                    dataset_name=f"{DATASET_TITLE} (test split)",
                    dataset_split="test",
                    dataset_revision=release.revision,
                    metric_type=metric,
                    metric_name=f"{m.name}: {shown}",
                    metric_config=m.name,
                    metric_value=round(test[key], digits),
                )
            )
    return results


def render_model_card(run: Run, release: Release, files: Mapping[str, dict]) -> str:
    """The model repository's ``README.md``. ``files``: staged path -> size, sha256."""
    from huggingface_hub import ModelCard, ModelCardData

    # every model of the release: Teff's (in the order that breaks ties), then log g's and
    # [M/H]'s; all are pinned in the card's model_source block and loaded by its snippet
    names = [m.name for m in (*run.models, *run.parameter_models)]
    data = ModelCardData(
        model_name=MODEL_TITLE,
        library_name="scikit-learn",
        pipeline_tag="tabular-regression",
        license=LICENSE,
        tags=[
            "astronomy",
            "gaia",
            "eclipsing-binaries",
            "effective-temperature",
            *(["surface-gravity", "metallicity"] if run.parameter_models else []),
            "random-forest",
            *(["simulated"] if release.simulated else []),
        ],
        datasets=[release.dataset_repo],
        eval_results=eval_results(run, release),
    )
    pins = model_pins_from_files(files, names)
    model_source = {
        "model_source": {
            "source": "huggingface",
            "repo_id": release.model_repo,
            "revision": release.revision,
            "sha256": pins,
        }
    }
    versions = run.models[0].metadata.get("versions", {})
    context = common_context(run, release)
    context["provenance"] += [(k, v) for k, v in versions.items() if k != "ebteff"]
    body = render(
        "model_card.md.j2",
        **context,
        title=MODEL_TITLE,
        models=[model_context(m, files) for m in run.models],
        split=run.split_counts["by_split"],
        downloaded=release.model_source.get("source") == "huggingface",
        photometry_file=PHOTOMETRY_FILE,
        release_files={
            "best": BEST_CALIBRATION_FILE,
            "label": LABEL_CALIBRATION_FILE,
            "correction": CORRECTION_FILE,
        },
        names=names,
        pins=pins,
        model_source_yaml=yaml.safe_dump(model_source, sort_keys=False),
        limits=[model_limits(m, run.catalog_summary) for m in run.models],
        validations=run.validations,
        parameter_models=[parameter_model_context(m, files) for m in run.parameter_models],
    )
    return card_text(ModelCard, data, body)
