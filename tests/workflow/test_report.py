"""The report of the tiny run: `snakemake --report` after the run, then opened in headless
Chromium, where every figure must show (no broken image, no console error)."""

from __future__ import annotations

import base64
import json
import re

import pytest

from report_browser import find_chromium, show_every_result
from workflow_runner import load_test_config

MODELS = list(load_test_config()["models"])
FIGURES = {
    "results/correction/teff_correction.png": "1 Correction",
    "results/plots/teff_distributions.png": "2 Temperatures",
    "results/plots/metrics_per_bin.png": "3 Accuracy",
    **{f"results/plots/accuracy/{m}.png": "3 Accuracy" for m in MODELS},
    "results/plots/calibration_coverage.png": "4 Calibration",
    "results/plots/calibration_pit.png": "4 Calibration",
    "results/plots/calibration_percentiles.png": "4 Calibration",
    "results/plots/feature_importances.png": "5 Models",
    "results/plots/catalog_summary.png": "6 Catalogue",
    "results/plots/cmd.png": "6 Catalogue",
    "results/plots/sky.png": "6 Catalogue",
}
NO_CHROMIUM = (
    "no chromium on PATH: install Debian's `chromium` package (.ci/run does, as root) to open "
    "the report in a browser"
)


def report_data(html: str, name: str):
    """A JSON global of the report page, e.g. `results` or `categories` (in its own script)."""
    match = re.search(rf'<script id="{name}">\s*var {name} = (.*?);\s*</script>', html, re.S)
    assert match, f"no `var {name}` in the report"
    return json.loads(match.group(1))


def test_report_holds_every_figure_with_its_caption_and_category(snakemake_report):
    html = snakemake_report.read_text()
    results = report_data(html, "results")
    categories = report_data(html, "categories")
    assert set(results) == set(FIGURES)
    in_category = {p: c for c, subs in categories.items() for ps in subs.values() for p in ps}
    assert in_category == FIGURES
    for path, entry in results.items():
        assert entry["mime_type"] == "image/png", path
        assert len(entry["caption"]) > 200, path  # the rst caption, rendered
        head, data = entry["data_uri"].split(",", 1)
        assert head.startswith("data:image/png;") and head.endswith(";base64"), path
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n", path
    for m in MODELS:  # per-model captions are templates of the model's wildcard
        assert m in results[f"results/plots/accuracy/{m}.png"]["caption"]
        assert results[f"results/plots/accuracy/{m}.png"]["labels"] == {"model": m}
    assert "Effective temperatures of Gaia DR3 eclipsing binaries" in html  # report/workflow.rst


@pytest.mark.skipif(find_chromium() is None, reason=NO_CHROMIUM)
def test_report_shows_every_figure_in_headless_chromium(snakemake_report, tmp_path):
    page = show_every_result(snakemake_report, tmp_path / "chromium")
    assert "error" not in page, page
    assert page["problems"] == []
    shown = {s["path"]: s for s in page["shown"]}
    assert all("error" not in s for s in page["shown"]), page["shown"]
    assert set(shown) == set(page["results"]) == set(FIGURES)
    for s in shown.values():
        assert s["found"] and s["complete"], s
        assert s["width"] >= 400 and s["height"] >= 300, s  # decoded, full-size figures


@pytest.mark.skipif(find_chromium() is None, reason=NO_CHROMIUM)
def test_the_browser_check_sees_a_broken_image(snakemake_report, tmp_path):
    """The check above can fail: a figure whose bytes are not a PNG shows with no width."""
    html = snakemake_report.read_text()
    uri = report_data(html, "results")["results/plots/cmd.png"]["data_uri"]
    broken = tmp_path / "broken.html"
    broken.write_text(html.replace(uri, "data:image/png;base64," + "QUJD" * 40))
    page = show_every_result(broken, tmp_path / "chromium")
    shown = {s["path"]: s for s in page["shown"]}
    assert shown["results/plots/cmd.png"]["width"] == 0
    assert shown["results/plots/sky.png"]["width"] > 0


def test_every_rule_logs_what_it_read_wrote_and_how_long(snakemake_run):
    workdir, _ = snakemake_run
    logs = sorted((workdir / "results/logs").rglob("*.log"))
    assert len(logs) >= 20
    for log in logs:
        text = log.read_text()
        rel = log.relative_to(workdir)
        assert re.search(r"INFO ebteff: finished in \d+\.\d\d s", text), rel
        assert re.search(r"INFO ebteff: wrote \S+ \(\d", text), rel
        if log.name != "simulate_photometry.log":  # the only rule without inputs
            assert re.search(r"INFO ebteff: read \S+ \(\d", text), rel


@pytest.mark.parametrize(
    ("log", "bar"),
    [
        ("simulate_photometry.log", "simulate: 100%|"),
        (f"train_model/{MODELS[0]}.log", f"train {MODELS[0]}: 100%|"),
        (f"predict_chunk/{MODELS[0]}/1-of-2.log", f"{MODELS[0]} 1/2: 100%|"),
    ],
)
def test_long_rules_log_a_progress_bar(snakemake_run, log, bar):
    workdir, _ = snakemake_run
    text = (workdir / "results/logs" / log).read_text()
    assert bar in text
    assert "\r" not in text  # the live bar goes to the terminal, not into the log
