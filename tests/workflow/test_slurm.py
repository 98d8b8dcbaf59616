"""The workflow on a real one-node SLURM cluster, through profiles/slurm.

The cluster (tests/helpers/slurm_cluster.py) is started for the session; without root or apt-get
these tests are skipped with the reason (with ``CI=true`` they fail). One run of config/test.yaml
goes through the profile as a user would run it, plus test-only settings: quick status checks,
keeping the SLURM logs of successful jobs (the evidence checked below), and one job asking for too
little memory. The cluster, not the job, enforces memory here (resources.enforce_memory off): SLURM
kills that job, and Snakemake resubmits it (retries: 1 in the profile) asking for more.
SLURM keeps finished jobs visible to squeue for MinJobAge; the test cluster sets that to an hour so
the whole run can be inspected."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from helpers.workflow_runner import REPO, load_test_config, run_snakemake, write_config

PROFILE = REPO / "profiles" / "slurm"
CONFIG = load_test_config()
MODELS = list(CONFIG["models"])
# run by Snakemake itself, never submitted (localrules, or rules without a body)
LOCAL_RULES = {"all", "gather_predictions"}
# the job given too little memory for its first attempt: one job, and off the critical path
# (only `all` waits for it). SLURM samples each job step's resident memory once a second, so a
# limit between the step's baseline and its peak is caught only if a sample lands on the peak:
# under load, a short job's peak can fall between samples (it did in CI). The first attempt
# therefore asks for less than the job step holds from its first second to its last (a Python
# with Snakemake imported, over 80 MB), so any sample kills it however short the job and however
# busy the host; the second asks for the profile's default, over three times the step's peak
# (~285 MB: SLURM's sum of the resident memory of Snakemake and the rule's script).
SHORT_RULE, SHORT_MB, RETRY_MB = "evaluate_correction", 50, 1000
# files whose bytes must not depend on where the jobs ran (the FITS file records its creation
# date; every result's identity between two local runs is test_reliability.py's)
SAME_BYTES = [
    "results/tiny/catalog/eb_teff_catalog.parquet",
    "results/tiny/catalog/summary.json",
    *[
        f"results/tiny/models/{m}/{f}"
        for m in MODELS
        for f in ("model.parquet", "metrics.json", "calibration.json")
    ],
    *[f"results/tiny/predictions/{m}.parquet" for m in MODELS],
]


@pytest.fixture(scope="module")
def slurm_run(slurm_cluster, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("slurm_run")
    config = {**CONFIG, "resources": {"enforce_memory": False}}  # SLURM enforces it
    proc = run_snakemake(
        workdir,
        "--workflow-profile",
        str(PROFILE),
        # test-only: check soon after submitting (the profile waits longer, to spare a busy
        # controller), and keep the logs of successful jobs
        "--slurm-init-seconds-before-status-checks=3",
        "--slurm-keep-successful-logs",
        # run_snakemake's default --cores 2 would cap the threads of all running jobs
        # together below what the node offers; SLURM applies the node's own cap
        f"--cores={slurm_cluster.cpus}",
        "--set-resources",
        f"{SHORT_RULE}:mem_mb={SHORT_MB} if attempt == 1 else {RETRY_MB}",
        configfile=write_config(workdir / "slurm.yaml", config),
        env=slurm_cluster.env,
        timeout=600,  # SIGKILL: a hung run ignores SIGTERM; teardown then stops the daemons
    )
    return workdir, proc.stdout + proc.stderr


def job_blocks(out: str) -> dict[tuple[int, int], dict]:
    """Snakemake's announcement of each job, by jobid and attempt: rule, threads, mem_mb,
    runtime."""
    jobs = {}
    for m in re.finditer(r"^(local)?rule (\w+):\n((?:[ \t]+.*\n)+)", out, re.M):
        body = m.group(3)
        jobid = int(re.search(r"jobid: (\d+)", body).group(1))
        threads = re.search(r"threads: (\d+)", body)
        resources = dict(re.findall(r"(\w+)=([^,\s]+)", body.split("resources:")[-1]))
        jobs[jobid, int(resources.get("attempt", 1))] = {
            "rule": m.group(2),
            "local": bool(m.group(1)),
            "threads": int(threads.group(1)) if threads else 1,
            "mem_mb": resources.get("mem_mb"),
            "runtime": resources.get("runtime"),
        }
    return jobs


def minutes(limit: str) -> int:
    """squeue's time limit ([D-]H:MM:SS or M:SS) in minutes."""
    days, _, clock = limit.rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    seconds = sum(v * 60**i for i, v in enumerate(reversed(parts)))
    return (int(days or 0) * 86400 + seconds) // 60


def submissions(out: str) -> dict[tuple[int, int], tuple[int, str]]:
    """(jobid, attempt) -> (SLURM jobid, SLURM log) of every job Snakemake submitted."""
    submitted = {}
    for job, slurm_id, log in re.findall(
        r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (.+?)\)\.", out
    ):
        attempt = 1 + sum(j == int(job) for j, _ in submitted)
        submitted[int(job), attempt] = (int(slurm_id), log)
    return submitted


def squeue_records(slurm_cluster, out: str) -> dict[int, list[str]]:
    """SLURM's own record of every job of the run: name, CPUs, memory, time limit, state."""
    run_id = re.search(r"SLURM run ID: (\S+)", out).group(1)
    squeue = slurm_cluster.run(
        "squeue", "--states=all", "--noheader", "--name", run_id, "--format=%i|%k|%C|%m|%l|%T"
    )
    return {int(r.split("|")[0]): r.split("|")[1:] for r in squeue.stdout.split()}


def test_every_job_but_the_local_ones_ran_as_a_slurm_job(slurm_cluster, slurm_run):
    workdir, out = slurm_run
    jobs = job_blocks(out)
    submitted = submissions(out)
    assert {jobs[j]["rule"] for j in jobs if jobs[j]["local"]} == LOCAL_RULES
    assert set(submitted) == {j for j in jobs if not jobs[j]["local"]}
    rules = Counter(jobs[j]["rule"] for j in submitted if j[1] == 1)
    # one job per model and stage; each model's prediction chunk its own job
    assert rules["predict_chunk"] == CONFIG["predict"]["chunks"] * len(MODELS)
    assert rules["train_model"] == rules["calibrate_model"] == len(MODELS)
    assert rules["simulate_photometry"] == rules["build_catalog"] == 1
    # one resubmission: the job given too little memory (next test)
    assert [jobs[j]["rule"] for j in submitted if j[1] > 1] == [SHORT_RULE]

    # SLURM's own record of each job: finished, with the rule's threads, memory and runtime
    records = squeue_records(slurm_cluster, out)
    assert set(records) == {slurm_id for slurm_id, _ in submitted.values()}
    ctld_log = slurm_cluster.slurmctld_log.read_text()
    for job, (slurm_id, log) in submitted.items():
        if job == (short_job(jobs), 1):
            continue  # killed for its memory (next test)
        rule, cpus, memory, limit, state = records[slurm_id]
        expected = jobs[job]
        assert rule.startswith(f"rule_{expected['rule']}"), (slurm_id, rule)
        assert state == "COMPLETED", (slurm_id, rule, state)
        assert int(cpus) == expected["threads"], (rule, cpus)
        assert memory == f"{expected['mem_mb']}M", (rule, memory)
        assert minutes(limit) == int(expected["runtime"]), (rule, limit)
        assert f"_job_complete: JobId={slurm_id} WEXITSTATUS 0" in ctld_log
        # the job's output, written by slurmd: Snakemake ran the rule inside the allocation
        assert f"rule {expected['rule']}:" in (workdir / log).read_text(), log


def short_job(jobs: dict) -> int:
    (jobid,) = {j for j, _ in jobs if jobs[j, 1]["rule"] == SHORT_RULE}
    return jobid


def test_a_job_beyond_its_memory_is_killed_by_slurm_and_resubmitted_with_more(
    slurm_cluster, slurm_run, snakemake_run
):
    workdir, out = slurm_run
    jobs = job_blocks(out)
    jobid = short_job(jobs)
    assert jobs[jobid, 1]["mem_mb"] == str(SHORT_MB)
    assert jobs[jobid, 2]["mem_mb"] == str(RETRY_MB)
    (first, first_log), (second, _) = submissions(out)[jobid, 1], submissions(out)[jobid, 2]
    records = squeue_records(slurm_cluster, out)
    # SLURM gave each attempt what it asked for, killed the first, and the second completed
    assert (records[first][2], records[first][4]) == (f"{SHORT_MB}M", "FAILED")
    assert (records[second][2], records[second][4]) == (f"{RETRY_MB}M", "COMPLETED")
    killed = rf"exceeded memory limit \(\d+ > {SHORT_MB * 2**20}\), being killed"
    assert re.search(killed, (workdir / first_log).read_text())
    assert f"_job_complete: JobId={second} WEXITSTATUS 0" in slurm_cluster.slurmctld_log.read_text()
    # what the user reads, and the rule's output as a local run writes it
    assert f"SLURM-job '{first}' failed, SLURM status is: 'FAILED'" in out
    assert f"Trying to restart job {jobid}." in out
    local, _ = snakemake_run
    metrics = "results/tiny/correction/metrics.json"
    assert (workdir / metrics).read_bytes() == (local / metrics).read_bytes()


def test_results_are_byte_identical_to_a_local_run(slurm_cluster, slurm_run, snakemake_run):
    # slurm_cluster first: without a cluster, skip before the local run starts
    workdir, _ = slurm_run
    local, _ = snakemake_run
    for path in SAME_BYTES:
        assert (workdir / path).read_bytes() == (local / path).read_bytes(), path


def test_nothing_left_to_do_after_the_cluster_run(slurm_cluster, slurm_run):
    workdir, _ = slurm_run
    proc = run_snakemake(
        workdir, "-n", "--workflow-profile", str(PROFILE), env=slurm_cluster.env, timeout=120
    )
    assert "Nothing to be done" in proc.stdout + proc.stderr
