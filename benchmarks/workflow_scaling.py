"""Benchmark: the whole workflow at several catalogue sizes, summarised per rule and per stage.

Runs ``snakemake --cores C`` once per size, each in its own working directory, with the
full-size configuration (``config/full.yaml``: published hyperparameters) and only
``simulate.n_stars`` changed, then reads the ``benchmark:`` files every heavy rule writes and
writes a Markdown summary:

* per rule at the largest size: wall seconds, CPU seconds, peak RSS, and the totals;
* per stage at every size: wall and CPU seconds, peak RSS, and the scaling exponent b of
  cost ~ N^b from a log-log fit (b = 1 is linear).

Usage (the full benchmark, about an hour and a half on 2 cores):

    python benchmarks/workflow_scaling.py --sizes 200000,1000000,2179680 \
        --workdir results/scaling --output results/full/benchmarks/summary.md

``--summarise-only`` rebuilds the summary from existing working directories; a size that already
has a finished run there is not run again unless ``--rerun``. Extra arguments go to Snakemake.
"""

from __future__ import annotations

import argparse
import csv
import math
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
FULL_SIZE = 2_179_680


def run_size(n_stars: int, workdir: Path, cores: int, extra: list[str]) -> float:
    """Run the workflow at ``n_stars``; returns the elapsed wall seconds of the whole run."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load((REPO / "config" / "full.yaml").read_text())
    config["simulate"]["n_stars"] = n_stars
    config_path = workdir / "benchmark-config.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=True))
    cmd = [
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(config_path),
        "--cores",
        str(cores),
        *extra,
    ]
    print(f"[{n_stars:,} stars] {' '.join(cmd)}", flush=True)
    start = time.perf_counter()
    with open(workdir / "snakemake.log", "w") as log:
        subprocess.run(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, check=True)
    wall = time.perf_counter() - start
    (workdir / "elapsed_seconds.txt").write_text(f"{wall:.1f}\n")
    print(f"[{n_stars:,} stars] done in {wall:.0f} s", flush=True)
    return wall


def read_benchmarks(workdir: Path) -> list[dict]:
    """One record per benchmark file: rule, instance (wildcards), wall s, CPU s, peak RSS MB."""
    # full.yaml names its run; the run's files are below results/<run>/
    run = yaml.safe_load((REPO / "config" / "full.yaml").read_text()).get("run") or "simulate"
    root = workdir / "results" / run / "benchmarks"
    records = []
    for path in sorted(root.rglob("*.tsv")):
        rel = path.relative_to(root).with_suffix("")
        rule, instance = (
            (rel.parts[0], "/".join(rel.parts[1:]))
            if len(rel.parts) > 1
            else (
                rel.parts[0],
                "",
            )
        )
        with open(path) as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        if not rows:
            continue
        row = rows[-1]  # the last repeat, if a rule was benchmarked several times
        records.append(
            {
                "rule": rule,
                "instance": instance,
                "wall": float(row["s"]),
                "cpu": float(row["cpu_time"]),
                "rss": float(row["max_rss"]),
            }
        )
    return records


def per_stage(records: list[dict]) -> dict[str, dict]:
    """Sum wall and CPU over a rule's instances; peak RSS is the largest instance's."""
    stages: dict[str, dict] = {}
    for r in records:
        s = stages.setdefault(r["rule"], {"wall": 0.0, "cpu": 0.0, "rss": 0.0, "jobs": 0})
        s["wall"] += r["wall"]
        s["cpu"] += r["cpu"]
        s["rss"] = max(s["rss"], r["rss"])
        s["jobs"] += 1
    return stages


def exponent(sizes: list[int], values: list[float]) -> float | None:
    """Least-squares slope of log(value) against log(N)."""
    pts = [(math.log(n), math.log(v)) for n, v in zip(sizes, values, strict=True) if v > 0]
    if len(pts) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    return sum((x - mx) * (y - my) for x, y in pts) / sxx if sxx else None


def summary_markdown(results: dict[int, dict], cores: int) -> str:
    sizes = sorted(results)
    largest = sizes[-1]
    lines = [
        "# Workflow benchmark",
        "",
        f"Produced by `python benchmarks/workflow_scaling.py --sizes "
        f"{','.join(str(n) for n in sizes)}` (`snakemake --cores {cores}`, config/full.yaml with "
        "`simulate.n_stars` set; figures from each rule's `benchmark:` file).",
        "",
        f"## Per rule at {largest:,} stars",
        "",
        "| rule | instance | wall (s) | CPU (s) | peak RSS (MB) |",
        "|---|---|---:|---:|---:|",
    ]
    recs = results[largest]["records"]
    for r in recs:
        lines.append(
            f"| {r['rule']} | {r['instance']} | {r['wall']:.1f} | {r['cpu']:.1f} | {r['rss']:.0f} |"
        )
    lines += [
        f"| **total** | {len(recs)} jobs | {sum(r['wall'] for r in recs):.1f} | "
        f"{sum(r['cpu'] for r in recs):.1f} | {max(r['rss'] for r in recs):.0f} (max) |",
        "",
        f"Elapsed wall time of the whole run (jobs overlap on {cores} cores): "
        f"{results[largest]['elapsed']:.0f} s = {results[largest]['elapsed'] / 60:.1f} min.",
        "",
        "## Scaling per stage",
        "",
        "Wall and CPU seconds summed over a stage's jobs; peak RSS of its largest job; b is the "
        "exponent of CPU time ~ N^b (1 = linear) from a log-log fit over the sizes.",
        "",
    ]
    header = "| stage | " + " | ".join(f"{n / 1e6:.2f}M wall / CPU / RSS" for n in sizes)
    lines += [header + " | b (CPU) | b (RSS) |", "|---" * (len(sizes) + 3) + "|"]
    stages = [per_stage(results[n]["records"]) for n in sizes]
    names = list(dict.fromkeys(r["rule"] for n in sizes for r in results[n]["records"]))
    for name in names:
        cells = []
        for st in stages:
            s = st.get(name)
            cells.append(f"{s['wall']:.1f} s / {s['cpu']:.1f} s / {s['rss']:.0f} MB" if s else "-")
        have = [(n, st[name]) for n, st in zip(sizes, stages, strict=True) if name in st]
        b_cpu = exponent([n for n, _ in have], [s["cpu"] for _, s in have])
        b_rss = exponent([n for n, _ in have], [s["rss"] for _, s in have])
        fmt = lambda b: "-" if b is None else f"{b:.2f}"  # noqa: E731
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {fmt(b_cpu)} | {fmt(b_rss)} |")
    lines += [
        "",
        "| size | elapsed wall (s) | summed CPU (s) | max RSS of any job (MB) |",
        "|---:|---:|---:|---:|",
    ]
    for n in sizes:
        recs = results[n]["records"]
        lines.append(
            f"| {n:,} | {results[n]['elapsed']:.0f} | {sum(r['cpu'] for r in recs):.0f} | "
            f"{max(r['rss'] for r in recs):.0f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=f"200000,1000000,{FULL_SIZE}")
    ap.add_argument("--workdir", default="results/scaling", type=Path)
    ap.add_argument(
        "--output", default=REPO / "results" / "full" / "benchmarks" / "summary.md", type=Path
    )
    ap.add_argument("--cores", default=2, type=int)
    ap.add_argument("--summarise-only", action="store_true", help="only rebuild the summary")
    ap.add_argument("--rerun", action="store_true", help="run sizes that already have results")
    args, extra = ap.parse_known_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    results = {}
    for n in sizes:
        wd = args.workdir / str(n)
        done = wd / "elapsed_seconds.txt"
        if args.summarise_only or (done.exists() and not args.rerun):
            elapsed = float(done.read_text())
        else:
            elapsed = run_size(n, wd, args.cores, extra)
        results[n] = {"elapsed": elapsed, "records": read_benchmarks(wd)}
    text = summary_markdown(results, args.cores)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main(sys.argv[1:])
