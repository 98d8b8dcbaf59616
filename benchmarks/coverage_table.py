"""Print the test-split coverage of the calibrated uncertainties as Markdown tables.

Reads ``results/<run>/calibration/{model}.json`` and ``teff_best.json`` of a
finished run: per model and for ``teff_best``, the fraction of test stars within 1 and 2 sigma,
overall and per Teff bin (of the prediction, and of the label). Cells outside 68.27 +/- 3 and
95.45 +/- 2 points are marked with an asterisk.

Usage: python benchmarks/coverage_table.py [results_dir]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ebteff.calibrate import ONE_SIGMA, TOLERANCE_1SIGMA, TOLERANCE_2SIGMA, TWO_SIGMA


def cell(st: dict) -> str:
    if not st.get("n"):
        return "-"
    c1, c2 = st["within_1sigma"], st["within_2sigma"]
    ok = abs(c1 - ONE_SIGMA) <= TOLERANCE_1SIGMA and abs(c2 - TWO_SIGMA) <= TOLERANCE_2SIGMA
    mark = "" if ok else "*"
    return f"{100 * c1:.1f} / {100 * c2:.1f}{mark}"


def table(rows: dict[str, dict], title: str) -> str:
    bins = list(next(iter(rows.values()))["per_bin"])
    out = [
        f"{title} (% within 1 / 2 sigma; * outside 68.3 +/- 3 / 95.4 +/- 2)",
        "",
        "| | all | " + " | ".join(f"{b} K" for b in bins) + " |",
        "|---" * (len(bins) + 2) + "|",
    ]
    for name, rep in rows.items():
        cells = [cell(rep["overall"])] + [cell(rep["per_bin"][b]) for b in bins]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> None:
    results = Path(argv[0] if argv else "results/simulate")
    cal = results / "calibration"
    best = json.loads((cal / "teff_best.json").read_text())
    reports = {
        p.stem: json.loads(p.read_text())
        for p in sorted(cal.glob("*.json"))
        if p.stem not in ("teff_best", "teff_gaia_corrected")  # the choice, the flag-A label
    }
    # Teff models only: a log g or [M/H] model's bins are in dex
    models = {
        m: rep["test"]
        for m, rep in reports.items()
        if rep.get("scale", "teff_gaia_corrected") == "teff_gaia_corrected"
    }
    by_pred = {m: rep["by_predicted_bin"] for m, rep in models.items()}
    by_pred["teff_best"] = best["test_by_predicted_bin"]
    by_label = {m: rep["by_label_bin"] for m, rep in models.items()}
    by_label["teff_best"] = best["test"]
    n = {m: rep["by_predicted_bin"]["overall"]["n"] for m, rep in models.items()}
    print(f"Test stars: {', '.join(f'{m} {k:,}' for m, k in n.items())}\n")
    print(table(by_pred, "Per bin of predicted Teff"))
    print(table(by_label, "Per bin of the label"))


if __name__ == "__main__":
    main(sys.argv[1:])
