"""Hyperparameter search: an Optuna study of one model's forest, cross-validated on its training
split, run as one workflow job per trial.

Scoring (:func:`cross_validate`). The training split is cut into ``folds`` folds by a hash of
``source_id`` (:func:`fold_of`, like the split itself: a star's fold depends on nothing else);
each fold is predicted by a forest grown on the others, with the workflow's own trainer
(:func:`ebteff.forest.train_forest`) and traversal (:func:`ebteff.forest.predict_trees`). The
calibration and test splits are never read. Scores are on the catalogue's Teff scale (a model of
raw GSP-Phot Teff goes through the hot-star correction, as in the catalogue):

- ``mae``: mean absolute error (K) of the out-of-fold predictions;
- ``crps``: CRPS (K) of the calibrated distribution. Each fold's out-of-fold predictions are
  calibrated (:func:`ebteff.calibrate.fit_calibration`, the catalogue's calibration) on the
  other folds' out-of-fold predictions, so no star is scored by a model or a calibration that
  saw it; the CRPS is estimated from its 99 calibrated percentiles by
  :func:`scoringrules.crps_quantile`.

Sampling (:func:`sample_params`). Trial ``t`` is drawn by a TPE sampler seeded with
(``seed``, ``t``) from the completed trials ``0 ... t - jobs``, and nothing else: with ``jobs``
trials in flight at once, those are exactly the trials that have certainly finished when trial
``t`` may start (the workflow makes trial ``t`` wait for them). So the whole search (every
trial's hyperparameters and score) depends only on the settings, the seed and ``jobs``, not on
which job finished first, on a killed and rerun trial, or on the machine's timing. What it costs:
the sampler of trial ``t`` does not see trials ``t - jobs + 1 ... t - 1`` even when they have
finished, as Optuna's usual asynchronous workers would (which are not reproducible).

Storage. The study lives in an Optuna journal file (:func:`open_study`), appended under a file
lock; every trial is recorded there as it starts (RUNNING) and ends (COMPLETE or FAIL), with its
index ``t`` as the user attribute ``index``. A trial job killed mid-way leaves a RUNNING record:
its rerun marks it FAIL and records the trial again. The study's name carries a digest of every
setting that changes a score (:func:`study_name`), so a changed search starts a new study in the
same file instead of mixing with the old one.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from .calibrate import (
    GRID_LEVELS,
    _bin_index,
    apply_calibration,
    fit_calibration,
    quantiles_from_z,
    to_catalogue_scale,
)
from .features import ModelSpec, training_rows
from .forest import predict_trees, train_forest
from .predict import teff_and_spread
from .split import hash_uniform

log = logging.getLogger(__name__)

OBJECTIVES = ("mae", "crps")
#: Hyperparameters a search may vary (the forest's; random_state stays the model's).
SEARCHABLE = (
    "n_estimators",
    "max_depth",
    "min_samples_split",
    "min_samples_leaf",
    "max_features",
    "max_samples",
)
INDEX_ATTR = "index"


class TuningError(ValueError):
    """The search cannot run as configured, or its study file disagrees with its trials."""


# -- search space ------------------------------------------------------------------------------


def distributions(space: dict) -> dict:
    """Optuna distributions of a config search space (``tuning.space``).

    Each entry is ``{low, high}`` (integers: an integer range, ``step`` optional; numbers: a
    float range, ``log`` optional) or ``{choices: [...]}``.
    """
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if not space:
        raise TuningError("tuning.space is empty: give at least one hyperparameter to search")
    out = {}
    for name, entry in space.items():
        if name not in SEARCHABLE:
            raise TuningError(
                f"tuning.space.{name}: not a searchable hyperparameter ({', '.join(SEARCHABLE)})"
            )
        if "choices" in entry:
            out[name] = CategoricalDistribution(list(entry["choices"]))
            continue
        low, high = entry["low"], entry["high"]
        if low > high:
            raise TuningError(f"tuning.space.{name}: low {low} is above high {high}")
        if isinstance(low, int) and isinstance(high, int) and not entry.get("log", False):
            out[name] = IntDistribution(low, high, step=int(entry.get("step", 1)))
        elif isinstance(low, int) and isinstance(high, int):
            out[name] = IntDistribution(low, high, log=True)
        else:
            out[name] = FloatDistribution(
                float(low), float(high), log=bool(entry.get("log", False)), step=entry.get("step")
            )
    return out


def trial_hyperparameters(base: dict, params: dict) -> dict:
    """The forest's hyperparameters for a trial: the model's own (``base``), with the searched
    ones replaced; in the order of the config's keys, then the searched ones not in it."""
    out = {k: params.get(k, v) for k, v in base.items()}
    out.update({k: v for k, v in params.items() if k not in out})
    return out


def settings_digest(settings: dict) -> str:
    """Short sha256 of a search's settings (the study's name carries it)."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def study_name(model: str, settings: dict) -> str:
    """``<model>-<digest of the settings>``: a changed search is a new study."""
    return f"{model}-{settings_digest(settings)}"


# -- cross-validation --------------------------------------------------------------------------


def fold_of(source_id, folds: int, salt: str) -> np.ndarray:
    """Fold (0 ... folds - 1) of each star, by a hash of its ``source_id``."""
    if folds < 2:
        raise TuningError(f"tuning.folds must be at least 2, got {folds}")
    u = hash_uniform(source_id, f"{salt}/tuning-folds")
    return np.minimum((u * folds).astype(np.int64), folds - 1)


def quantile_grid(calibration: dict, teff, spread, sigma=None) -> np.ndarray:
    """Calibrated Teff at every level of ``GRID_LEVELS`` (n, 99), from the calibration's stored
    per-bin grid of normalised residuals (as :func:`ebteff.calibrate.apply_percentiles` does
    for the published five)."""
    teff = np.asarray(teff, dtype=float)
    if sigma is None:
        sigma = apply_calibration(calibration, teff, spread)
    bins = calibration["bins"]
    grid = np.array([b["z_grid"] for b in bins], dtype=float)
    idx = _bin_index(bins, np.nan_to_num(teff, nan=0.0))
    return quantiles_from_z(calibration, teff, sigma, grid[idx])


def crps(calibration: dict, teff, spread, label) -> np.ndarray:
    """Per-star CRPS (K) of the calibrated distribution, from its 99 percentiles."""
    import scoringrules

    q = quantile_grid(calibration, teff, spread)
    return np.asarray(
        scoringrules.crps_quantile(
            np.asarray(label, dtype=float), q, np.asarray(GRID_LEVELS), backend="numpy"
        )
    )


def cross_validate(
    table: pl.DataFrame,
    spec: ModelSpec,
    hyperparameters: dict,
    *,
    folds: int,
    salt: str,
    rescale: dict | None = None,
    engine: str = "sklearn",
    n_jobs: int = 1,
    objective: str = "mae",
    report: Callable[[int, float], None] | None = None,
) -> dict:
    """Cross-validated score of ``hyperparameters`` on the training split of a feature table.

    ``rescale`` (:func:`ebteff.calibrate.rescale_for`) takes a raw GSP-Phot model to the
    catalogue's scale. ``report(fold, running MAE)`` is called after each fold. Returns the
    objective's ``value``, the ``mae`` (and ``crps``, computed for the crps objective) overall
    and per fold, and the number of stars per fold.
    """
    if objective not in OBJECTIVES:
        raise TuningError(f"tuning.objective must be one of {OBJECTIVES}, not {objective!r}")
    train = training_rows(table, spec)
    fold = fold_of(train["source_id"].to_numpy(), folds, salt)
    sizes = np.bincount(fold, minlength=folds)
    if sizes.min() == 0:
        raise TuningError(
            f"model {spec.name}: {train.height} training stars leave a fold empty with "
            f"tuning.folds {folds}"
        )
    X = np.ascontiguousarray(train.select(spec.features).to_numpy(), dtype=np.float32)
    y = train["target"].to_numpy()
    label, _ = to_catalogue_scale(rescale, train[spec.target].to_numpy(), np.zeros(train.height))
    teff = np.full(train.height, np.nan)
    spread = np.full(train.height, np.nan)
    per_fold_mae = []
    for k in range(folds):
        held = fold == k
        model = train_forest(X[~held], y[~held], hyperparameters, n_jobs=n_jobs, engine=engine)
        mean, std = predict_trees(model, X[held], n_jobs=n_jobs)
        t, s = teff_and_spread(spec, mean, std)
        teff[held], spread[held] = to_catalogue_scale(rescale, t, s)
        per_fold_mae.append(float(np.mean(np.abs(teff[held] - label[held]))))
        del model
        if report is not None:
            report(k, float(np.mean(np.abs(teff[fold <= k] - label[fold <= k]))))
    result = {
        "mae": float(np.mean(np.abs(teff - label))),
        "mae_per_fold": per_fold_mae,
        "stars_per_fold": [int(n) for n in sizes],
    }
    if objective == "crps":
        scores = np.empty(train.height)
        for k in range(folds):
            held = fold == k
            cal = fit_calibration(teff[~held], spread[~held], label[~held])
            scores[held] = crps(cal, teff[held], spread[held], label[held])
        result["crps"] = float(np.mean(scores))
        result["crps_per_fold"] = [float(np.mean(scores[fold == k])) for k in range(folds)]
    result["value"] = result[objective]
    return result


@dataclass(frozen=True)
class TrialSetup:
    """What every trial of one model's search shares: how a set of hyperparameters is scored,
    and the study's name."""

    spec: ModelSpec
    hyperparameters: dict
    engine: str
    folds: int
    salt: str
    objective: str
    rescale: dict | None
    study: str

    def score(self, table: pl.DataFrame, params: dict, *, n_jobs=1, report=None, logger=log):
        """:func:`cross_validate` of the model's hyperparameters with ``params`` replacing the
        searched ones (none: the configured hyperparameters)."""
        hp = trial_hyperparameters(self.hyperparameters, params)
        logger.info("%d-fold cross-validation of %s: %s", self.folds, self.spec.name, hp)

        def _report(fold, mae):
            logger.info("fold %d/%d done: MAE so far %.2f K", fold + 1, self.folds, mae)
            if report is not None:
                report(mae, fold)

        return cross_validate(
            table,
            self.spec,
            hp,
            folds=self.folds,
            salt=self.salt,
            rescale=self.rescale,
            engine=self.engine,
            n_jobs=n_jobs,
            objective=self.objective,
            report=_report,
        )


def trial_setup(settings: dict, correction, inputs=()) -> TrialSetup:
    """The :class:`TrialSetup` of a model's search settings (``tuning_settings`` of the rules).
    The study's name digests the settings and the sha256 of ``inputs`` (the feature table and
    the correction): other data, another study."""
    from .calibrate import rescale_for
    from .io import sha256sum

    model = dict(settings["model"])
    spec = ModelSpec.from_config(model.pop("name"), model)
    distributions(settings["space"])  # a bad space fails before any work
    if settings["objective"] not in OBJECTIVES:
        raise TuningError(f"tuning.objective must be one of {OBJECTIVES}")
    digest = {**settings, "inputs": [sha256sum(p) for p in inputs]}
    return TrialSetup(
        spec=spec,
        hyperparameters=dict(settings["hyperparameters"]),
        engine=settings["engine"],
        folds=int(settings["folds"]),
        salt=settings["split_salt"],
        objective=settings["objective"],
        rescale=rescale_for(spec.target, correction),
        study=study_name(spec.name, digest),
    )


# -- the study ---------------------------------------------------------------------------------


def open_study(journal: str | Path, name: str, sampler=None):
    """The study ``name`` in the Optuna journal file ``journal`` (created when missing)."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    Path(journal).parent.mkdir(parents=True, exist_ok=True)
    # the open lock (O_EXCL) is the one Optuna documents for NFS, where a cluster's jobs share it;
    # a lock left by a killed job is broken after the grace period
    backend = JournalFileBackend(str(journal), lock_obj=JournalFileOpenLock(str(journal)))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(
        study_name=name,
        storage=JournalStorage(backend),
        direction="minimize",
        sampler=sampler,
        load_if_exists=True,
    )


def completed_by_index(study) -> dict[int, object]:
    """The study's COMPLETE trials by their ``index`` (the last one recorded, if several)."""
    from optuna.trial import TrialState

    out = {}
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if INDEX_ATTR in trial.user_attrs:
            out[int(trial.user_attrs[INDEX_ATTR])] = trial
    return out


def trial_seed(seed: int, index: int) -> int:
    """The sampler's seed for trial ``index`` of a search seeded with ``seed``."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0])


def sample_params(history: list[dict], space: dict, seed: int, index: int) -> dict:
    """Hyperparameters of trial ``index``: TPE (seeded with ``seed`` and ``index``) given the
    completed trials ``history`` (dicts with ``params`` and ``value``, in index order)."""
    import optuna
    from optuna.samplers import TPESampler

    dists = distributions(space)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="minimize", sampler=TPESampler(seed=trial_seed(seed, index))
    )
    study.add_trials(
        [
            optuna.trial.create_trial(params=h["params"], distributions=dists, value=h["value"])
            for h in history
        ]
    )
    return dict(study.ask(dists).params)


def history_before(study, index: int, jobs: int) -> list[dict]:
    """The completed trials ``0 ... index - jobs`` of the study, in index order; a
    :class:`TuningError` naming any that the study file lacks."""
    done = completed_by_index(study)
    wanted = range(0, index - jobs + 1)
    missing = [i for i in wanted if i not in done]
    if missing:
        raise TuningError(
            f"study {study.study_name}: trial {index} is drawn from trials 0-{index - jobs}, but "
            f"the study file has no completed trial with index {', '.join(map(str, missing))} "
            "(was the journal file deleted or replaced?). Delete the model's tuning folder to "
            "start the search again."
        )
    return [{"params": done[i].params, "value": done[i].value} for i in wanted]


def fail_stale(study, index: int) -> list[int]:
    """Mark RUNNING records of trial ``index`` (left by a killed job) FAIL; their numbers."""
    from optuna.trial import TrialState

    stale = [
        t.number
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if t.user_attrs.get(INDEX_ATTR) == index
    ]
    for number in stale:
        study.tell(number, state=TrialState.FAIL)
    return stale


def run_trial(
    journal: str | Path,
    name: str,
    index: int,
    *,
    space: dict,
    seed: int,
    jobs: int,
    evaluate: Callable[[dict, Callable[[int, float], None]], dict],
) -> dict:
    """Trial ``index`` of the study ``name``: draw its hyperparameters, record it in the
    journal, score it with ``evaluate(params, report)`` (which returns a dict with ``value``),
    record the result; the trial's record (params and scores) is returned."""
    from optuna.samplers import PartialFixedSampler, RandomSampler
    from optuna.trial import TrialState

    study = open_study(journal, name)
    history = history_before(study, index, jobs)
    params = sample_params(history, space, seed, index)
    stale = fail_stale(study, index)
    if stale:
        log.warning("trial %d: marked FAIL its record(s) %s left by a killed job", index, stale)
    # the study's trial is asked with every parameter fixed to the values drawn above
    study.sampler = PartialFixedSampler(params, RandomSampler(seed=0))
    trial = study.ask(distributions(space))
    trial.set_user_attr(INDEX_ATTR, index)
    if trial.params != params:  # pragma: no cover - Optuna's contract
        raise TuningError(f"trial {index}: recorded {trial.params}, drawn {params}")
    log.info("trial %d (study number %d): %s", index, trial.number, params)
    try:
        result = evaluate(params, trial.report)
    except BaseException:
        study.tell(trial, state=TrialState.FAIL)
        raise
    study.tell(trial, result["value"])
    return {"index": index, "study": name, "params": params, **result}


def trials_table(records: list[dict], space: dict) -> pl.DataFrame:
    """One row per trial, in index order: its hyperparameters and scores."""
    rows = []
    for r in sorted(records, key=lambda r: r["index"]):
        row = {"trial": r["index"]}
        row.update({k: _cell(r["params"].get(k)) for k in space})
        row.update({k: r[k] for k in ("value", "mae", "crps") if k in r})
        rows.append(row)
    return pl.DataFrame(rows)


def _cell(v):
    return "null" if v is None else str(v)


def best_record(records: list[dict]) -> dict:
    """The trial with the lowest value (the earliest of equal ones)."""
    return min(records, key=lambda r: (r["value"], r["index"]))


def param_importances(records: list[dict], space: dict, seed: int) -> dict[str, float]:
    """fANOVA importance of each searched hyperparameter for the value (Optuna's evaluator,
    seeded), over the completed trials; sums to 1."""
    import optuna
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    dists = distributions(space)
    varied = {k: d for k, d in dists.items() if not d.single()}
    if len(records) < 2 or not varied:
        return {}
    study = optuna.create_study(direction="minimize")
    study.add_trials(
        [
            optuna.trial.create_trial(
                params={k: r["params"][k] for k in varied}, distributions=varied, value=r["value"]
            )
            for r in sorted(records, key=lambda r: r["index"])
        ]
    )
    imp = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=seed))
    return {k: float(imp.get(k, 0.0)) for k in varied}


def snippet(model: str, hyperparameters: dict, header: list[str]) -> str:
    """The best hyperparameters as YAML to paste under ``models.<model>``."""
    import yaml

    body = yaml.safe_dump({"hyperparameters": hyperparameters}, sort_keys=False)
    lines = [f"# {h}" for h in header]
    lines.append(f"# Paste under models.{model} in the config (it replaces its hyperparameters).")
    return "\n".join(lines) + "\n" + body


def summarize(model: str, records: list[dict], published: dict, settings: dict) -> dict:
    """Outcome of a search: the best trial's hyperparameters beside the configured ones, their
    cross-validated scores and the gain, and the importance of each searched hyperparameter."""
    if not records:
        raise TuningError(f"model {model}: the search has no trials (tuning.trials)")
    best = best_record(records)
    hp = trial_hyperparameters(settings["hyperparameters"], best["params"])
    scores = ("value", "mae", "crps")
    return {
        "model": model,
        "study": best["study"],
        "objective": settings["objective"],
        "trials": len(records),
        "folds": settings["folds"],
        "jobs": settings["jobs"],
        "seed": settings["seed"],
        "best_trial": best["index"],
        "best": {"hyperparameters": hp, **{k: best[k] for k in scores if k in best}},
        "configured": {
            "hyperparameters": settings["hyperparameters"],
            **{k: published[k] for k in scores if k in published},
        },
        "gain": {k: published[k] - best[k] for k in scores if k in best and k in published},
        "importances": param_importances(records, settings["space"], settings["seed"]),
    }


def journal_counts(journal: str | Path, name: str) -> dict[str, int]:
    """Records of the study in the journal by state (a killed and rerun trial shows as FAIL)."""
    study = open_study(journal, name)
    counts: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
    return counts
