"""Shared fixtures: the loopback Hub server and helpers to run the real workflow."""

from hubserver import hub_server  # noqa: F401
from workflow_runner import snakemake_run, tiny_config, workflow_dir  # noqa: F401
