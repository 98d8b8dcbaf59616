"""Benchmark: how much the simulated sky looks like the real one, target by target.

Simulates the default-size catalogue (config/config.yaml's simulate section: size, seed and block
size) into a temporary directory, or reads a run's photometry and truth, and prints
every realism target of the simulation, measured against the real catalogue's figure, PASS or
MISS. The targets (DESIGN.md; docs/design.md):

- true Teff smooth from 2,500 to 50,000 K: no 1,000 K interval between 3 and 30 kK holding less
  than a fifth of the mean of its two neighbours;
- hot stars at every magnitude: the fraction hotter than 10,000 K and 15,000 K per G bin (printed);
  stars brighter than G = 11 with a median true Teff of 4,500-12,000 K;
- labels per bin of the label (< 4, 4-5, 5-6, 6-8, > 8 kK) within 2 points of the earlier
  pipeline's real test split (10.5 / 39.6 / 27.9 / 14.9 / 7.1%); label mean 5,900 +/- 300 K;
  standard deviation within 15% of 2,152 K;
- coverages within 3 points of the real table's: GSP-Phot 58.4%, Pan-STARRS1 53.5%, 2MASS 60%;
- labels against the truth for true Teff 4,000-8,000 K: median |label - truth| / truth <= 3%,
  median bias within +/- 1.5%, 3-15% off by more than 20% (catastrophic), those lying along
  the Teff-A0 degeneracy (the sign of the Teff error that of GSP-Phot's A0 error);
- A0 percentiles 10 / 50 / 90 of all stars and of the labelled ones (printed).

With ``--predictions`` (a finished run: ``--workdir`` with results/<run>/), also each model's
test MAE per bin of the label as a ratio to the earlier pipeline's real 354 / 310 / 386 / 704 /
2,925 K, its MAE against the truth per bin of the truth beside the labels' own, and the median
bias against the truth of stars with A0 < 0.1.

Usage:
    python benchmarks/simulation_realism.py [--stars N] [--seed S]
    python benchmarks/simulation_realism.py --workdir DIR [--run NAME] [--predictions]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import yaml

from ebteff.schema import SENTINEL
from ebteff.sim.population import CONTACT, ELLIPSOIDAL
from ebteff.sim.simulate import simulate_catalogue

REPO = Path(__file__).resolve().parents[1]
LABEL_EDGES = (0.0, 4000.0, 5000.0, 6000.0, 8000.0, np.inf)
LABEL_NAMES = ("<4000", "4000-5000", "5000-6000", "6000-8000", ">8000")
#: Real test split of the earlier pipeline, per bin of the label (DESIGN.md).
LABEL_SHARES = (0.105, 0.396, 0.279, 0.149, 0.071)
LABEL_MEAN, LABEL_STD = 5894.0, 2152.0
COVERAGE = {"teff_gaia": 0.584, "ps_rPSFMag": 0.535, "j_m": 0.60}
COVERAGE_NAMES = {"teff_gaia": "GSP-Phot", "ps_rPSFMag": "Pan-STARRS1", "j_m": "2MASS"}
#: The earlier pipeline's real test MAE per bin of the label (model 1, DESIGN.md).
REAL_MAE = (354.0, 310.0, 386.0, 704.0, 2925.0)
G_BINS = (-np.inf, 9.0, 11.0, 13.0, 15.0, 17.0, 19.0, np.inf)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def row(name: str, measured: str, target: str, ok: bool | None) -> None:
    mark = "    " if ok is None else verdict(ok)
    print(f"  {mark}  {name:<46} {measured:>22}   target {target}")


def read_default_config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())["simulate"]


def simulate(n: int, seed: int, block_size: int, tmp: Path) -> dict:
    paths = [tmp / f"{name}.parquet" for name in ("photometry", "truth", "reference")]
    start = time.perf_counter()
    simulate_catalogue(n, seed, *paths, block_size=block_size)
    print(f"simulated {n} stars (seed {seed}) in {time.perf_counter() - start:.0f} s")
    return {"photometry": paths[0], "truth": paths[1]}


def load(paths: dict) -> pl.DataFrame:
    phot = pl.read_parquet(paths["photometry"])
    truth = pl.read_parquet(paths["truth"])
    return phot.join(truth, on="source_id", how="inner")


def realism(frame: pl.DataFrame) -> int:
    """Print every target; return the number of misses."""
    misses = 0

    def check(name, measured, target, ok):
        nonlocal misses
        misses += 0 if ok is None or ok else 1
        row(name, measured, target, ok)

    n = frame.height
    teff = frame["teff_blend"].to_numpy()
    g = frame["g"].to_numpy()
    a0 = frame["a0"].to_numpy()
    label = frame["teff_gaia"].to_numpy()
    has = label != SENTINEL

    print(f"\n{n} stars\n\nTrue Teff (teff_blend)")
    edges = np.arange(2000.0, 31000.0, 1000.0)
    counts = np.histogram(teff, bins=edges)[0]
    worst, where = np.inf, None
    for i in range(1, counts.size - 1):
        lo = edges[i]
        if lo < 3000 or lo >= 30000:
            continue
        ref = 0.5 * (counts[i - 1] + counts[i + 1])
        ratio = counts[i] / ref if ref > 0 else np.inf
        if ratio < worst:
            worst, where = ratio, f"{lo:.0f}-{lo + 1000:.0f} K"
    check(
        "smallest 1,000 K interval / neighbours' mean",
        f"{worst:.2f} ({where})",
        ">= 0.20",
        worst >= 0.2,
    )
    check(
        "range of true Teff (K)", f"{teff.min():.0f}-{teff.max():.0f}", "2,500-50,000 (info)", None
    )
    bright = g < 11
    med = float(np.median(teff[bright])) if bright.any() else np.nan
    check(
        f"median true Teff of G < 11 ({bright.sum()} stars)",
        f"{med:.0f} K",
        "4,500-12,000 K",
        4500 <= med <= 12000,
    )
    print("  hot stars per G bin (true Teff > 10,000 K / > 15,000 K):")
    for lo, hi in zip(G_BINS[:-1], G_BINS[1:], strict=True):
        sel = (g >= lo) & (g < hi)
        if sel.any():
            print(
                f"        G {lo:>5} to {hi:<5} {sel.sum():>8} stars   "
                f"{np.mean(teff[sel] > 10000):6.1%}   {np.mean(teff[sel] > 15000):6.1%}"
            )

    print("\nLabels (teff_gaia)")
    lab = label[has]
    shares = np.histogram(lab, bins=LABEL_EDGES)[0] / lab.size
    for name, got, want in zip(LABEL_NAMES, shares, LABEL_SHARES, strict=True):
        check(
            f"share of labels {name} K",
            f"{100 * got:.1f}%",
            f"{100 * want:.1f} +/- 2 points",
            abs(got - want) <= 0.02,
        )
    check(
        "label mean", f"{lab.mean():.0f} K", "5,894 +/- 300 K", abs(lab.mean() - LABEL_MEAN) <= 300
    )
    check(
        "label standard deviation",
        f"{lab.std():.0f} K",
        "2,152 K +/- 15%",
        abs(lab.std() / LABEL_STD - 1) <= 0.15,
    )

    print("\nCoverages")
    for col, want in COVERAGE.items():
        got = float(np.mean(frame[col].to_numpy() != SENTINEL))
        check(
            COVERAGE_NAMES[col],
            f"{100 * got:.1f}%",
            f"{100 * want:.1f} +/- 3 points",
            abs(got - want) <= 0.03,
        )
    for col, want in (("logg_gaia", 0.56), ("mh_gaia", 0.48)):
        got = float(np.mean(frame[col].to_numpy() != SENTINEL))
        check(f"{col} (info)", f"{100 * got:.1f}%", f"{100 * want:.1f}", None)

    print("\nLabels against the truth, true Teff 4,000-8,000 K")
    sel = has & (teff >= 4000) & (teff <= 8000)
    rel = label[sel] / teff[sel] - 1.0
    med_abs, bias = float(np.median(np.abs(rel))), float(np.median(rel))
    cat = np.abs(rel) > 0.2
    check(
        f"median |label - truth| / truth ({sel.sum()} stars)",
        f"{100 * med_abs:.2f}%",
        "<= 3%",
        med_abs <= 0.03,
    )
    check(
        "median bias (label - truth) / truth",
        f"{100 * bias:+.2f}%",
        "within +/- 1.5%",
        abs(bias) <= 0.015,
    )
    check(
        "catastrophic (off by > 20%)",
        f"{100 * cat.mean():.1f}%",
        "3-15%",
        0.03 <= cat.mean() <= 0.15,
    )
    if "a0_gspphot" in frame.columns and cat.any():
        d_a0 = (frame["a0_gspphot"].to_numpy() - a0)[sel][cat]
        along = float(np.mean(np.sign(d_a0) == np.sign(rel[cat])))
        check(
            "catastrophic along the Teff-A0 degeneracy",
            f"{100 * along:.1f}%",
            "sign of Teff error = sign of A0 error, >= 90%",
            along >= 0.9,
        )
        up = float(np.mean(rel[cat] > 0))
        check(
            "catastrophic too hot / too cool",
            f"{100 * up:.0f}% / {100 * (1 - up):.0f}%",
            "both directions (info)",
            None,
        )
    for lo, hi in ((5, 13), (13, 16), (16, 18), (18, 19)):
        s = (g[sel] >= lo) & (g[sel] < hi)
        if s.any():
            check(
                f"  median |label - truth| / truth, G {lo}-{hi}",
                f"{100 * np.median(np.abs(rel[s])):.2f}%",
                "grows toward faint (info)",
                None,
            )

    print("\nExtinction A0 (truth)")
    for name, values in (("all stars", a0), ("labelled stars", a0[has])):
        p10, p50, p90 = np.percentile(values, [10, 50, 90])
        check(
            f"A0 percentiles 10/50/90, {name}", f"{p10:.2f} / {p50:.2f} / {p90:.2f}", "(info)", None
        )
    population(frame, has, g)
    return misses


def population(frame: pl.DataFrame, has: np.ndarray, g: np.ndarray) -> None:
    """What the sky is made of (info): the shares that the coverages and the label mix follow."""
    needed = {"teff1", "teff2", "giant", "component", "period", "mass1", "mass2", "age", "dec"}
    if not needed <= set(frame.columns):
        return
    print("\nPopulation (info; all stars / labelled stars)")
    kind = frame["binary_class"].to_numpy()
    shares = {
        "contact binaries": kind == CONTACT,
        "ellipsoidal variables (no eclipse)": kind == ELLIPSOIDAL,
        "giants (giant branch, clump or early AGB)": frame["giant"].to_numpy(),
        "bulge stars": frame["component"].to_numpy() == 2,
        "orbital period below 1 d": frame["period"].to_numpy() < 1.0,
        "Dec > -30 deg (Pan-STARRS1's sky)": frame["dec"].to_numpy() > -30.0,
    }
    for name, values in shares.items():
        row(name, f"{values.mean():6.1%} / {values[has].mean():6.1%}", "(info)", None)
    row("G < 19", f"{np.mean(g < 19):6.1%}", "(info; real: GSP-Phot's 58.4% if complete)", None)
    row("G <= 18.25", f"{np.mean(g <= 18.25):6.1%}", "(info; real: MSC's 49.2% if complete)", None)
    # Twins: stars whose binary (masses, age) another star of the table shares
    # (population.COPY_UNIT).
    key = frame.select("mass1", "mass2", "age")
    twins = key.is_duplicated().to_numpy()
    row("stars sharing their binary with another", f"{twins.mean():6.1%}", "(info)", None)


def predictions(workdir: Path, run: str | None) -> None:
    """Each model's MAE per label bin (ratio to the real pipeline's) and against the truth."""
    from ebteff.config import run_folders

    results, resources = run_folders(workdir, run)
    cat = pl.read_parquet(results / "catalog" / "eb_teff_catalog.parquet")
    split = pl.read_parquet(results / "split" / "split.parquet")
    truth = pl.read_parquet(
        resources / "photometry" / "truth.parquet", columns=["source_id", "teff_blend", "a0"]
    )
    test = (
        cat.join(split, on="source_id")
        .filter(pl.col("split").cast(pl.String) == "test")
        .join(truth, on="source_id")
        .drop_nulls("teff_gaia_corrected")
    )
    models = [
        c[len("teff_") :]
        for c in cat.columns
        if c.startswith("teff_") and f"{c}_err" in cat.columns and c != "teff_best"
    ]
    label = test["teff_gaia_corrected"].to_numpy()
    true = test["teff_blend"].to_numpy()
    a0 = test["a0"].to_numpy()
    print(f"\nPredictions of {results} ({test.height} labelled test stars)")
    print("  MAE against the label per bin of the label, K (ratio to the real pipeline's):")
    print("  " + " " * 28 + "".join(f"{b:>18}" for b in LABEL_NAMES))
    for m in models:
        pred = test[f"teff_{m}"].to_numpy().astype(float)
        cells = []
        bins = zip(LABEL_EDGES[:-1], LABEL_EDGES[1:], REAL_MAE, strict=True)
        for lo, hi, real in bins:
            s = (label >= lo) & (label < hi) & np.isfinite(pred)
            mae = np.mean(np.abs(pred[s] - label[s])) if s.any() else np.nan
            cells.append(f"{mae:8.0f} ({mae / real:4.2f})")
        print(f"  {m:<28}" + "".join(f"{c:>18}" for c in cells))
    print("  MAE against the truth per bin of the truth, K:")
    print("  " + " " * 28 + "".join(f"{b:>12}" for b in LABEL_NAMES) + f"{'all':>12}")
    for name, pred in [("labels (teff_gaia_corrected)", label)] + [
        (m, test[f"teff_{m}"].to_numpy().astype(float)) for m in models
    ]:
        cells = []
        for lo, hi in zip(LABEL_EDGES[:-1], LABEL_EDGES[1:], strict=True):
            s = (true >= lo) & (true < hi) & np.isfinite(pred)
            cells.append(np.mean(np.abs(pred[s] - true[s])) if s.any() else np.nan)
        ok = np.isfinite(pred)
        cells.append(np.mean(np.abs(pred[ok] - true[ok])))
        print(f"  {name:<28}" + "".join(f"{c:12.0f}" for c in cells))
    clear = a0 < 0.1
    print(f"  median bias against the truth, A0 < 0.1 ({clear.sum()} stars):")
    for name, pred in [("labels (teff_gaia_corrected)", label)] + [
        (m, test[f"teff_{m}"].to_numpy().astype(float)) for m in models
    ]:
        s = clear & np.isfinite(pred)
        if s.any():
            print(f"    {name:<28} {100 * np.median(pred[s] / true[s] - 1):+6.2f}%")


def main(argv: list[str]) -> int:
    cfg = read_default_config()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stars", type=int, default=int(cfg["n_stars"]))
    parser.add_argument("--seed", type=int, default=int(cfg["seed"]))
    parser.add_argument("--block-size", type=int, default=int(cfg["block_size"]))
    parser.add_argument("--workdir", type=Path, help="read a run's photometry and truth instead")
    parser.add_argument("--run", help="the run's name under results/ (default: the only one)")
    parser.add_argument("--predictions", action="store_true", help="also the run's models")
    args = parser.parse_args(argv[1:])
    if args.workdir is not None:
        from ebteff.config import run_folders

        _, resources = run_folders(args.workdir, args.run)
        paths = {
            "photometry": resources / "photometry" / "eb_unified_photometry.parquet",
            "truth": resources / "photometry" / "truth.parquet",
        }
        print(f"reading {paths['photometry']}")
        misses = realism(load(paths))
        if args.predictions:
            predictions(args.workdir, args.run)
    else:
        with tempfile.TemporaryDirectory(prefix="ebteff-realism-") as tmp:
            paths = simulate(args.stars, args.seed, args.block_size, Path(tmp))
            misses = realism(load(paths))
    print(f"\n{misses} target(s) missed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
