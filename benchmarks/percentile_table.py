"""Print the coverage tables of the calibrated percentiles from a run's results directory.

    python benchmarks/percentile_table.py results

Per model and for teff_best, on the test split: % of labels below p05 / p16 / p50 / p84 / p95
(targets 5 / 16 / 50 / 84 / 95 within 1.5 / 2 / 3 / 2 / 1.5 points) and the KS distance of the
PIT from uniform, per bin of the predicted Teff and of the label; then, in the hottest label
bin, the fraction within (p16, p84) beside the fraction within the symmetric 1 sigma.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

NAMES = ("p05", "p16", "p50", "p84", "p95")
TOL = dict(zip(NAMES, ((5, 1.5), (16, 2), (50, 3), (84, 2), (95, 1.5)), strict=True))


def cell(st: dict) -> str:
    if not st.get("n"):
        return "-"
    parts = []
    for q in NAMES:
        v = 100 * st[f"below_{q}"]
        target, tol = TOL[q]
        parts.append(f"{v:.1f}" + ("*" if abs(v - target) > tol else ""))
    return "/".join(parts) + f" ({st['pit_ks']:.3f})"


def main(results: str) -> None:
    res = Path(results)
    reports = {}
    for path in sorted((res / "calibration").glob("*.json")):
        if path.stem in ("teff_best", "teff_gaia_corrected"):
            continue
        report = json.loads(path.read_text())
        if report.get("scale", "teff_gaia_corrected") != "teff_gaia_corrected":
            continue  # a log g or [M/H] model: bins in dex (its own report)
        reports[path.stem] = report["test"]
    reports["teff_best"] = json.loads((res / "calibration/teff_best.json").read_text())
    for by in ("predicted", "label"):
        key = f"percentiles_by_{by}_bin"
        bins = list(next(iter(reports.values()))[key]["per_bin"])
        print(
            f"\nPer bin of the {by} Teff: % below p05/p16/p50/p84/p95 (PIT KS); "
            "* outside 5/16/50/84/95 +/- 1.5/2/3/2/1.5"
        )
        print("| | all | " + " | ".join(f"{b} K" for b in bins) + " |")
        print("|---" * (len(bins) + 2) + "|")
        for name, rep in reports.items():
            cells = [cell(rep[key]["overall"])] + [cell(rep[key]["per_bin"][b]) for b in bins]
            print(f"| {name} | " + " | ".join(cells) + " |")
    print("\nHottest label bin (>= 8000 K): % within (p16, p84) vs within the symmetric sigma")
    for name, rep in reports.items():
        hot_p = rep["percentiles_by_label_bin"]["per_bin"]["8000-50000"]
        sym = (rep["by_label_bin"] if "by_label_bin" in rep else rep["test"])["per_bin"]
        hot_s = sym["8000-50000"]
        print(
            f"| {name} | n {hot_p['n']} | p16-p84 {100 * hot_p['within_p16_p84']:.1f}% | "
            f"p05-p95 {100 * hot_p['within_p05_p95']:.1f}% | 1 sigma "
            f"{100 * hot_s['within_1sigma']:.1f}% | 2 sigma {100 * hot_s['within_2sigma']:.1f}% |"
        )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "results")
