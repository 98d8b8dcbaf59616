"""Validation of the workflow configuration against config/schema.yaml.

Messages name the offending key as a dotted path (``simulate.n_stars``), so a user sees at once
what to fix in their config file.
"""

from __future__ import annotations

import os
from pathlib import Path

import jsonschema
import yaml


class ConfigError(ValueError):
    """The configuration does not satisfy the schema."""


def config_errors(config: dict, schema_path: str | os.PathLike) -> list[str]:
    """Every schema violation in ``config``, one readable line each, in key order."""
    with open(schema_path) as fh:
        schema = yaml.safe_load(fh)
    validator = jsonschema.Draft202012Validator(schema)
    lines = []
    for err in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.path))):
        where = ".".join(map(str, err.absolute_path)) or "<top level>"
        lines.append(f"config key {where}: {err.message}")
    return lines


def validate_config(config: dict, schema_path: str | os.PathLike) -> None:
    """Raise :class:`ConfigError` listing every violation, or return silently."""
    errors = config_errors(config, schema_path)
    if errors:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(errors))


def run_name(config: dict) -> str:
    """The folder of this run under results/ and resources/: ``run`` when set, else the source.

    Each configuration writes only below ``results/<run>/`` and ``resources/<run>/``, so trying
    another source (or a named variant) never deletes or rewrites a finished run's files.
    """
    return config.get("run") or config["source"]


def run_folders(workdir: str | os.PathLike, run: str | None = None) -> tuple[Path, Path]:
    """``results/<run>/`` and ``resources/<run>/`` of a working directory (for the benchmarks).

    Without ``run``, the one run under ``results/`` that has models or feature tables
    (several: ValueError naming them).
    """
    root = Path(workdir)
    if run is None:
        runs = sorted(
            {p.parent.name for p in root.glob("results/*/models")}
            | {p.parent.name for p in root.glob("results/*/features")}
        )
        if len(runs) != 1:
            raise ValueError(f"{root}: expected one run under results/, found {runs}")
        run = runs[0]
    return root / "results" / run, root / "resources" / run
