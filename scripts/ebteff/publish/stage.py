"""Staging: one folder per Hub repository, each written whole, and the manifest of both.

:func:`stage` copies what a run produced into ``dataset/`` (the photometry table with a summary,
the FITS catalogue with a description of its columns, the hot-star correction as JSON and in the
earlier pipeline's pickle format, the card) and ``models/`` (per model a folder with its forest,
metadata, calibration and metrics; the release files that `snakemake stars` needs; the card), and
returns the manifest: every staged file with its size and sha256.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import __version__
from ..formats import MANIFEST_FORMAT
from ..io import sha256sum
from ..published import model_pins_from_files
from ..release import BEST_CALIBRATION_FILE, CORRECTION_FILE, LABEL_CALIBRATION_FILE
from .cards import (
    render_catalog_description,
    render_dataset_card,
    render_model_card,
    render_photometry_summary,
)
from .run import (
    CARD,
    CATALOG_DESCRIPTION_FILE,
    CATALOG_FILE,
    CORRECTION_JSON_FILE,
    CORRECTION_PKL_FILE,
    NOT_RELEASED,
    PHOTOMETRY_FILE,
    PHOTOMETRY_SUMMARY_FILE,
    Release,
    Run,
)


class StagingError(ValueError):
    """The staged folders are not what the manifest says (edited or incomplete)."""


def file_entry(path: str | os.PathLike) -> dict:
    return {"size": os.path.getsize(path), "sha256": sha256sum(path)}


def _copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)  # a fresh mtime: staged files are newer than their inputs


def _write_text(text: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(text, encoding="utf-8")


def _replace_dir(tmp: Path, dest: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(tmp, dest)


def stage(run: Run, release: Release, dataset_dir: Path, models_dir: Path) -> dict:
    """Write both staged folders (each replaced as a whole) and return the manifest."""
    dataset_dir, models_dir = Path(dataset_dir), Path(models_dir)
    tmp_dataset = dataset_dir.with_name(f".{dataset_dir.name}.staging")
    tmp_models = models_dir.with_name(f".{models_dir.name}.staging")
    for tmp in (tmp_dataset, tmp_models):
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    try:
        sources: dict[str, dict[str, str | None]] = {"dataset": {}, "models": {}}
        copies = {
            PHOTOMETRY_FILE: run.photometry,
            CATALOG_FILE: run.catalog_fits,
            CORRECTION_JSON_FILE: run.correction_json,
            CORRECTION_PKL_FILE: run.correction_pkl,
        }
        for rel, src in copies.items():
            _copy(src, tmp_dataset / rel)
            sources["dataset"][rel] = str(src)
        _write_text(render_photometry_summary(run), tmp_dataset / PHOTOMETRY_SUMMARY_FILE)
        _write_text(render_catalog_description(run), tmp_dataset / CATALOG_DESCRIPTION_FILE)
        for model in (*run.models, *run.parameter_models):
            for rel, src in model.files.items():
                _copy(src, tmp_models / model.name / rel)
                sources["models"][f"{model.name}/{rel}"] = str(src)
        # a self-contained release: with these, `snakemake stars` needs nothing else
        release_copies = {CORRECTION_FILE: run.correction_json}
        if run.best_calibration_file is not None:
            release_copies[BEST_CALIBRATION_FILE] = run.best_calibration_file
        if run.label_calibration_file is not None:
            release_copies[LABEL_CALIBRATION_FILE] = run.label_calibration_file
        for rel, src in release_copies.items():
            _copy(src, tmp_models / rel)
            sources["models"][rel] = str(src)

        dataset_files = _entries(tmp_dataset)
        model_files = _entries(tmp_models)
        _write_text(render_dataset_card(run, release, dataset_files), tmp_dataset / CARD)
        _write_text(render_model_card(run, release, model_files), tmp_models / CARD)

        manifest = {
            "format": MANIFEST_FORMAT,
            "workflow": f"ebteff {__version__}",
            "repos": {
                "dataset": _repo_manifest(
                    release.dataset_repo, "dataset", release, dataset_dir, tmp_dataset, sources
                ),
                "models": _repo_manifest(
                    release.model_repo, "model", release, models_dir, tmp_models, sources
                ),
            },
            "model_source": {
                "source": "huggingface",
                "repo_id": release.model_repo,
                "revision": release.revision,
                "sha256": model_pins_from_files(
                    model_files, [m.name for m in (*run.models, *run.parameter_models)]
                ),
            },
        }
        _replace_dir(tmp_dataset, dataset_dir)
        _replace_dir(tmp_models, models_dir)
    finally:
        for tmp in (tmp_dataset, tmp_models):
            shutil.rmtree(tmp, ignore_errors=True)
    manifest["total_bytes"] = sum(
        f["size"] for repo in manifest["repos"].values() for f in repo["files"]
    )
    return manifest


def _entries(folder: Path) -> dict[str, dict]:
    """Path relative to ``folder`` -> size, sha256 of every file of the release in it."""
    return {
        p.relative_to(folder).as_posix(): file_entry(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.relative_to(folder).as_posix() not in NOT_RELEASED
    }


def _repo_manifest(repo_id, repo_type, release, final_dir, tmp_dir, sources) -> dict:
    kind = "dataset" if repo_type == "dataset" else "models"
    files = [
        {"path": rel, **entry, "source": sources[kind].get(rel, "rendered by ebteff.publish")}
        for rel, entry in _entries(tmp_dir).items()
    ]
    return {
        "repo_id": repo_id,
        "repo_type": repo_type,
        "revision": release.revision,
        "folder": Path(final_dir).name,
        "files": files,
        "bytes": sum(f["size"] for f in files),
    }


def verify_staged(folder: str | os.PathLike, repo: Mapping[str, Any]) -> None:
    """Raise :class:`StagingError` unless ``folder`` holds exactly the manifest's files."""
    folder = Path(folder)
    if not folder.is_dir():
        raise StagingError(f"staged folder {folder} does not exist: run `snakemake publish`")
    actual = _entries(folder)
    expected = {f["path"]: {"size": f["size"], "sha256": f["sha256"]} for f in repo["files"]}
    problems = [f"missing {p}" for p in sorted(set(expected) - set(actual))]
    problems += [f"not in the manifest: {p}" for p in sorted(set(actual) - set(expected))]
    problems += [
        f"changed since staging: {p}"
        for p in sorted(set(actual) & set(expected))
        if actual[p] != expected[p]
    ]
    if problems:
        raise StagingError(
            f"{folder} is not what was staged ({'; '.join(problems)}); stage again "
            "(snakemake publish --forcerun stage_publish) instead of editing staged files"
        )
