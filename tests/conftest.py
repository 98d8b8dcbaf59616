"""Shared fixtures: the loopback Hub server, a one-node SLURM cluster, and helpers to run the
real workflow."""

from helpers.hubserver import hub_server  # noqa: F401
from helpers.slurm_cluster import slurm_cluster  # noqa: F401
from helpers.workflow_runner import (  # noqa: F401
    snakemake_report,
    snakemake_run,
    tiny_config,
    workflow_dir,
)
