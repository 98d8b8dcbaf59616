"""Bad inputs through the real `snakemake` CLI: each stops the run with an error naming the
problem, a non-zero exit, and no output (nor half-written file) that a later run could trust.

The library tests (tests/unit/test_validate.py, test_features.py, test_correction.py) reject each
case directly; here the same cases go through the rules, on a local photometry table and only as
far as the rule that must refuse it. The runs are independent, so they start together (a few at a
time): each spends most of its time starting Snakemake and Python.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from ebteff.schema import SENTINEL
from ebteff.split import assign_split
from helpers.photometry_tables import make_table
from helpers.workflow_runner import load_test_config, run_snakemake, write_config

SUMMARY = "results/tiny/photometry/summary.json"
CORRECTION = [
    "results/tiny/correction/teff_correction.json",
    "results/tiny/correction/teff_correction_coeffs_deg2.pkl",
    "results/tiny/correction/teff_correction.png",
]
CONFIG = load_test_config()
FRACTIONS = {k: CONFIG["split"][k] for k in ("train", "calibration", "test")}
SALT = CONFIG["split"]["salt"]


def truncated(path: Path) -> None:
    make_table(2000).write_parquet(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def corrupted(path: Path) -> None:
    """Intact footer (the file opens), pages that do not decompress."""
    make_table(2000).write_parquet(path)
    data = bytearray(path.read_bytes())
    data[len(data) // 10 : 9 * len(data) // 10] = bytes(8 * len(data) // 10)
    path.write_bytes(bytes(data))


def writer(edit):
    """Write make_table(300), edited, as the photometry."""
    return lambda path: edit(make_table(300)).write_parquet(path)


def tables_for_models() -> pl.DataFrame:
    """A valid table with two extra columns for the model cases: `w1` only where teff_gaia is
    missing (a model on it has no labelled row at all), and `w2` only on labelled stars of the
    test and calibration splits (its feature table has rows, none to train on)."""
    table = make_table(2000, seed=3)
    labelled = (table["teff_gaia"] != SENTINEL).to_numpy()
    split = assign_split(table["source_id"].to_numpy(), FRACTIONS, SALT)
    w = np.linspace(5.0, 15.0, table.height)
    return table.with_columns(
        pl.Series("w1", np.where(labelled, SENTINEL, w)),
        pl.Series("w2", np.where(labelled & (split != "train"), w, SENTINEL)),
    )


def reference_for(table: pl.DataFrame, n_hot: int | None = None) -> pl.DataFrame:
    """Reference Teff of the labelled stars; ``n_hot`` keeps only that many at or above 7000 K."""
    ref = table.filter(pl.col("teff_gaia") != SENTINEL).select(
        "source_id", (pl.col("teff_gaia") * 1.05).alias("teff_ref"), "teff_gaia"
    )
    if n_hot is not None:
        ref = pl.concat(
            [
                ref.filter(pl.col("teff_gaia") < 7000),
                ref.filter(pl.col("teff_gaia") >= 7000)[:n_hot],
            ]
        )
    return ref.drop("teff_gaia")


def model(features: list[str]) -> dict:
    first = next(iter(CONFIG["models"].values()))
    return {**copy.deepcopy(first), "features": features, "target": "teff_gaia"}


@dataclass
class Case:
    """A bad input: how to make it, what to build, what the user reads, what must not exist."""

    name: str
    write_photometry: Callable[[Path], None]
    targets: list[str]
    message: str
    absent: list[str]
    log: str
    reference: pl.DataFrame | None = None


# the messages a user sees, from the rule's log and Snakemake's output; a local table is first
# imported into the upstream schema (import_photometry), then validated
IMPORTED = "resources/tiny/photometry/eb_unified_photometry.parquet"
IMPORT_LOG = "results/tiny/logs/import_photometry.log"
VALIDATE_LOG = "results/tiny/logs/validate_photometry.log"
PHOTOMETRY_CASES = {
    "no_source_id": (
        writer(lambda t: t.drop("source_id")),
        "photometry.parquet has no source_id column: every star needs its Gaia DR3 source_id",
        IMPORT_LOG,
    ),
    "wrong_dtype": (
        writer(lambda t: t.with_columns(pl.col("g").cast(pl.String))),
        "photometry.parquet: column(s) 'g' is String; expected a number (magnitudes in mag, Teff "
        "in K; missing values empty, NaN or -999.0)",
        IMPORT_LOG,
    ),
    "no_gaia_photometry": (
        writer(lambda t: t.with_columns(pl.lit(SENTINEL).alias("g"))),
        "column(s) g hold only the missing-value sentinel -999.0; the table carries no Gaia "
        "photometry",
        VALIDATE_LOG,
    ),
    "magnitude_out_of_range": (
        writer(
            lambda t: t.with_columns(
                g=pl.when(pl.int_range(pl.len()) == 2).then(-5.0).otherwise("g")
            )
        ),
        "photometry.parquet: column 'g' has 1 value(s) outside 0 to 30 mag, what Gaia can measure "
        "(of rows 1-300), e.g. row 3 (source_id 3007): -5.",
        IMPORT_LOG,
    ),
    "duplicate_source_id": (
        writer(lambda t: pl.concat([t, t.head(2)])),
        "photometry.parquet: source_id is not unique (2 duplicate row(s)); each star must appear "
        "exactly once",
        IMPORT_LOG,
    ),
    "empty_table": (
        writer(lambda t: t.head(0)),
        "photometry.parquet has no rows; an empty photometry table cannot be used",
        IMPORT_LOG,
    ),
    "truncated_parquet": (
        truncated,
        "photometry.parquet (config key local.path) could not be read as parquet (truncated or "
        "not a parquet file?)",
        IMPORT_LOG,
    ),
    "corrupt_parquet": (
        corrupted,
        "photometry.parquet (config key local.path) could not be read as parquet (truncated or "
        "not a parquet file?)",
        IMPORT_LOG,
    ),
}
CASES = [
    Case(
        name,
        write,
        [SUMMARY],
        message,
        [SUMMARY] + ([IMPORTED] if log == IMPORT_LOG else []),
        log,
    )
    for name, (write, message, log) in PHOTOMETRY_CASES.items()
]
CASES.append(
    Case(
        "too_few_hot_reference_stars",
        lambda p: make_table(2000, seed=3).write_parquet(p),
        CORRECTION[:1],
        "only 5 reference star(s) with GSP-Phot Teff >= 7000 K; at least 20 are needed to fit a "
        "degree-2 correction. Lower correction.fit_floor, supply a larger reference table, or use "
        "correction.mode: load with a coefficients file.",
        CORRECTION,
        "results/tiny/logs/fit_correction.log",
        reference=reference_for(make_table(2000, seed=3), n_hot=5),
    )
)
# the model cases share one run (--keep-going): validation, split and correction once
MODEL_TABLE = tables_for_models()
LABELLED = MODEL_TABLE.filter(pl.col("teff_gaia") != SENTINEL)
HELD_OUT = Counter(
    assign_split(LABELLED.filter(pl.col("w2") != SENTINEL)["source_id"], FRACTIONS, SALT)
)
MODEL_CASES = {
    "unknown_feature": (
        model(["bp_rp", "w3_mag"]),
        "model unknown_feature names unknown feature(s) w3_mag: not a column of the photometry "
        "and not derivable (derivable: bp_g, bp_j, g_j, rp_g, rp_k)",
        [
            "results/tiny/features/unknown_feature.parquet",
            "results/tiny/features/unknown_feature.counts.json",
        ],
        "results/tiny/logs/build_features/unknown_feature.log",
    ),
    "no_usable_rows": (
        model(["bp_rp", "w1"]),
        f"model no_usable_rows has no usable rows: of {LABELLED.height} labelled stars, 0 are "
        f"outside 2500-50000 K and {LABELLED.height} lack a feature ({{'bp_rp': 0, 'w1': "
        f"{LABELLED.height}}})",
        [
            "results/tiny/features/no_usable_rows.parquet",
            "results/tiny/features/no_usable_rows.counts.json",
        ],
        "results/tiny/logs/build_features/no_usable_rows.log",
    ),
    "no_training_rows": (
        model(["bp_rp", "w2"]),
        f"model no_training_rows: none of its {HELD_OUT.total()} usable rows is in the training "
        f"split (calibration: {HELD_OUT['calibration']}, test: {HELD_OUT['test']}); it needs "
        "labelled stars with all of its features (bp_rp, w2) among those the split assigns to "
        "training",
        [
            "results/tiny/models/no_training_rows/model.parquet",
            "results/tiny/models/no_training_rows/metadata.json",
        ],
        "results/tiny/logs/train_model/no_training_rows.log",
    ),
}
MODEL_TARGETS = {
    "unknown_feature": "results/tiny/features/unknown_feature.parquet",
    "no_usable_rows": "results/tiny/features/no_usable_rows.parquet",
    "no_training_rows": "results/tiny/models/no_training_rows/model.parquet",
}


def start(workdir: Path, case: Case | None) -> object:
    """Write the inputs and config of one run into ``workdir`` and run Snakemake there."""
    workdir.mkdir()
    config = copy.deepcopy(CONFIG)
    config.update(source="local", local={"path": "photometry.parquet"})
    if case is None:  # the model cases
        MODEL_TABLE.write_parquet(workdir / "photometry.parquet")
        reference = reference_for(MODEL_TABLE)
        config["models"].update({name: spec for name, (spec, *_) in MODEL_CASES.items()})
        targets = ["--keep-going", *MODEL_TARGETS.values()]
    else:
        case.write_photometry(workdir / "photometry.parquet")
        reference = case.reference if case.reference is not None else reference_for(make_table(300))
        targets = case.targets
    reference.write_parquet(workdir / "reference.parquet")
    config["correction"]["reference"] = "reference.parquet"
    cfg = write_config(workdir / "config.yaml", config)
    return run_snakemake(workdir, *targets, configfile=cfg, check=False)


@pytest.fixture(scope="module")
def bad_runs(tmp_path_factory) -> dict:
    """name -> (workdir, completed process) of every case; the model cases under 'models'."""
    root = tmp_path_factory.mktemp("bad_inputs")
    jobs = [("models", None)] + [(c.name, c) for c in CASES]  # the longest first
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(start, root / name, case) for name, case in jobs}
    return {name: (root / name, f.result()) for name, f in futures.items()}


def assert_refused(workdir: Path, proc, message: str, absent: list[str], log: str) -> None:
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert message in out, out[-3000:]
    assert message in (workdir / log).read_text()  # the rule's log says it too
    for path in absent:
        assert not (workdir / path).exists(), path
    assert not list((workdir / "results").rglob("*.part"))  # no half-written file either
    assert "Exiting because a job execution failed" in out
    assert "delete it" not in out.lower() or log != IMPORT_LOG  # never of a user's own file


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_stops_the_run(bad_runs, case):
    workdir, proc = bad_runs[case.name]
    assert_refused(workdir, proc, case.message, case.absent, case.log)


@pytest.mark.parametrize("name", list(MODEL_CASES))
def test_bad_model_stops_its_jobs(bad_runs, name):
    workdir, proc = bad_runs["models"]
    _, message, absent, log = MODEL_CASES[name]
    assert_refused(workdir, proc, message, absent, log)
