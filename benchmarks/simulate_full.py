"""Benchmark: simulate the full-size catalogue (2,179,680 stars) into a temporary directory.

Prints wall time, file sizes and coverages. Measure peak memory with
``/usr/bin/time -v python benchmarks/simulate_full.py`` (Maximum resident set size).
Usage: python benchmarks/simulate_full.py [n_stars] [seed] [block_size]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from ebteff.sim.simulate import simulate_catalogue

FULL_SIZE = 2_179_680


def main(argv: list[str]) -> None:
    n_stars = int(argv[1]) if len(argv) > 1 else FULL_SIZE
    seed = int(argv[2]) if len(argv) > 2 else 20251211
    block_size = int(argv[3]) if len(argv) > 3 else 250_000
    with tempfile.TemporaryDirectory(prefix="ebteff-sim-") as tmp:
        paths = [Path(tmp) / f"{name}.parquet" for name in ("photometry", "truth", "reference")]
        start = time.perf_counter()
        stats = simulate_catalogue(n_stars, seed, *paths, block_size=block_size, progress=True)
        wall = time.perf_counter() - start
        sizes = {p.stem: p.stat().st_size / 1e6 for p in paths}
    print(f"n_stars={n_stars} seed={seed} block_size={block_size}")
    print(f"wall time: {wall:.1f} s")
    print("file sizes (MB): " + ", ".join(f"{k} {v:.1f}" for k, v in sizes.items()))
    print(f"reference rows: {stats['reference_rows']}")
    for survey, fraction in stats["coverage"].items():
        target = stats["published_coverage"][survey]
        print(f"coverage {survey:>11}: {fraction:.4f} (published {target:.3f})")


if __name__ == "__main__":
    main(sys.argv)
