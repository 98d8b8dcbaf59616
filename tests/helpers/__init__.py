"""Helpers of the tests: the snakemake runner, the loopback Hub, the SLURM cluster, the browser
and the photometry tables they are given."""
