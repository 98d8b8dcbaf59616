"""Models published by another run's release: pins, checks, fetching (file names: ebteff.release).

A model file from outside the run is used only when its sha256 is pinned in the config
(:func:`model_pins`). Our forests are Parquet tables that load without running code, but the rule
does not depend on the format: nothing from outside is trusted without a pin. This module needs
neither the cards nor the catalogue (the download rules and the DAG import it), nor scikit-learn
(:func:`check_published_model` reads the forest's Parquet header only).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from .formats import FOREST_FORMAT
from .io import read_json, sha256sum
from .release import (
    BEST_CALIBRATION_FILE,
    CORRECTION_FILE,
    LABEL_CALIBRATION_FILE,
    MODEL_FETCH_FILES,
    MODEL_FILES,
)

logger = logging.getLogger(__name__)


class UnpinnedModelError(ValueError):
    """A published model file has no sha256 pin in the config."""


class PublishedModelMismatchError(ValueError):
    """A published model does not fit the model of the same name in the config."""


def model_pins_from_files(files: Mapping[str, dict], names: Iterable[str]) -> dict[str, str]:
    """The ``model_source.sha256`` block a run needs to use these staged models."""
    pins = {
        f"{name}/{f}": files[f"{name}/{f}"]["sha256"]
        for name in names
        for f in MODEL_FILES
        if f"{name}/{f}" in files
    }
    for f in (BEST_CALIBRATION_FILE, LABEL_CALIBRATION_FILE, CORRECTION_FILE):
        if f in files:
            pins[f] = files[f]["sha256"]
    return pins


def model_pins(pins: Mapping[str, str | None], name: str, repo_id: str) -> dict[str, str]:
    """The sha256 pin of each file of model ``name`` that a run downloads.

    Raises :class:`UnpinnedModelError`, naming every file without a pin, before any request.
    """
    wanted = [f"{name}/{f}" for f in MODEL_FETCH_FILES]
    missing = [path for path in wanted if not (pins or {}).get(path)]
    if missing:
        example = "\n".join(f"      {path}: <its sha256, 64 hex digits>" for path in missing)
        raise UnpinnedModelError(
            f"model_source.sha256 has no pin for {', '.join(missing)} of the model repository "
            f"{repo_id!r}: the workflow loads a file from outside the run only when its sha256 "
            "is pinned in the config, so that what runs is exactly what was reviewed. The "
            "published models are Parquet tables of tree nodes, which load without running "
            "code; a pickled model (the earlier pipeline's format) would run whatever code it "
            "holds the moment it is loaded. Either way nothing from outside is trusted without "
            "a pin. Take the pins from the release's manifest.json (its model_source block) or "
            f"its model card, and set:\n  model_source:\n    sha256:\n{example}\nNothing was "
            "downloaded."
        )
    return {path: str(pins[path]).strip().lower() for path in wanted}


def check_published_model(spec, model_path: str | os.PathLike, metadata: dict) -> None:
    """Refuse a published model that does not fit the config's model of the same name.

    Reads the forest's Parquet header only (no scikit-learn needed to download a model).
    """
    import pyarrow.parquet as pq

    stored = {
        k.decode(): v.decode() for k, v in (pq.read_schema(model_path).metadata or {}).items()
    }
    if stored.get("format") != FOREST_FORMAT:
        raise PublishedModelMismatchError(
            f"the published file for model {spec.name} is not an {FOREST_FORMAT} forest "
            f"(its header says format={stored.get('format')!r})"
        )
    published = {
        "features": stored.get("features", "").split(","),
        "target": stored.get("target"),
        "transform": stored.get("transform"),
    }
    wanted = {"features": list(spec.features), "target": spec.target, "transform": spec.transform}
    differs = [k for k in wanted if published[k] != wanted[k]]
    if differs:
        detail = "; ".join(f"{k}: published {published[k]}, config {wanted[k]}" for k in differs)
        raise PublishedModelMismatchError(
            f"the published model {spec.name} does not fit models.{spec.name} of the config "
            f"({detail}): a forest only makes sense with the features, label and transform it "
            f"was trained on. Set models.{spec.name} to the published definition, or train it "
            "(model_source.source: train)."
        )
    recorded = metadata.get("model_sha256")
    actual = sha256sum(model_path)
    if recorded != actual:
        raise PublishedModelMismatchError(
            f"metadata.json of the published model {spec.name} describes the file with sha256 "
            f"{recorded}, but its model.parquet has sha256 {actual}: they are not one release."
        )


def fetch_model(
    spec,
    model_dest: str | os.PathLike,
    metadata_dest: str | os.PathLike,
    *,
    repo_id: str,
    revision: str,
    pins: Mapping[str, str | None],
    retries: int = 3,
    token: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    backoff: float = 1.0,
) -> None:
    """Download a published model's forest and metadata, each checked against its pin.

    Unpinned files are refused before any request; a wrong pin or a model that does not fit
    ``spec`` leaves neither file behind.
    """
    from .hub import download_file

    pinned = model_pins(pins, spec.name, repo_id)
    dests = {
        f"{spec.name}/model.parquet": Path(model_dest),
        f"{spec.name}/metadata.json": Path(metadata_dest),
    }
    written: list[Path] = []
    try:
        for filename, dest in dests.items():
            download_file(
                repo_id,
                filename,
                dest,
                repo_type="model",
                revision=revision,
                sha256=pinned[filename],
                retries=retries,
                cache_dir=cache_dir,
                token=token,
                backoff=backoff,
            )
            written.append(dest)
        check_published_model(spec, model_dest, read_json(metadata_dest))
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    logger.info(
        "model %s: %s and metadata.json from model repository %s at %s, both matching their pins",
        spec.name,
        Path(model_dest).name,
        repo_id,
        revision,
    )
