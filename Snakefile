# The Gaia eclipsing-binary Teff workflow: photometry -> correction -> features -> models ->
# chunked prediction -> best-of-three catalogue -> Hub. Stages live in rules/, one file each.
import os
import sys

from snakemake.utils import min_version

min_version("9.0")

# The library, scripts/ebteff, is installed by requirements.txt (`-e .`). This line stays so that
# the DAG is built with this checkout's library also where Snakemake runs without it installed (a
# snakemake of its own environment with --use-conda): the jobs get the same library that way, as
# Snakemake puts scripts/, the folder of the rule scripts, on each job's sys.path.
sys.path.insert(0, os.path.join(workflow.basedir, "scripts"))
from ebteff.config import run_name, validate_config


configfile: os.path.join(workflow.basedir, "config", "config.yaml")


report: "report/workflow.rst"


validate_config(config, os.path.join(workflow.basedir, "config", "schema.yaml"))


scattergather:
    chunks=config["predict"]["chunks"],


include: "rules/common.smk"
include: "rules/acquire.smk"
include: "rules/validate.smk"
include: "rules/correction.smk"
include: "rules/features.smk"
include: "rules/train.smk"
include: "rules/predict.smk"
include: "rules/catalog.smk"
include: "rules/publish.smk"
include: "rules/report.smk"
include: "rules/stars.smk"
include: "rules/external.smk"
include: "rules/tune.smk"


rule all:
    default_target: True
    input:
        all_targets(),
