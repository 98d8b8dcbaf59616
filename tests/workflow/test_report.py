"""The report of the tiny run: `snakemake --report` after the run, then opened in headless
Chromium, where every figure must show (no broken image, no console error)."""

from __future__ import annotations

import base64
import json
import re

import pytest

from ebteff.plots.base import read_panel_points
from helpers.report_browser import find_chromium, show_every_result
from helpers.workflow_runner import load_test_config, unavailable

MODELS = list(load_test_config()["models"])
FIGURES = {
    "results/tiny/correction/teff_correction.png": "1 Correction",
    "results/tiny/plots/teff_distributions.png": "2 Temperatures",
    "results/tiny/plots/metrics_per_bin.png": "3 Accuracy",
    **{f"results/tiny/plots/accuracy/{m}.png": "3 Accuracy" for m in MODELS},
    **{
        f"results/tiny/plots/validation/{t}.png": "3 Accuracy"
        for t in load_test_config()["validation"]["tables"]
    },
    "results/tiny/plots/calibration_coverage.png": "4 Calibration",
    "results/tiny/plots/calibration_pit.png": "4 Calibration",
    "results/tiny/plots/calibration_percentiles.png": "4 Calibration",
    "results/tiny/plots/feature_importances.png": "5 Models",
    "results/tiny/plots/catalog_summary.png": "6 Catalogue",
    "results/tiny/plots/cmd.png": "6 Catalogue",
    "results/tiny/plots/sky.png": "6 Catalogue",
}
NO_CHROMIUM = (
    "no chromium on PATH: install Debian's `chromium` package (.ci/run does, as root) to open "
    "the report in a browser"
)


@pytest.fixture(scope="session")  # session: set up before the (session) report it would show
def chromium() -> str:
    """The browser, or a skip with the reason (a failure with ``CI=true``)."""
    path = find_chromium()
    if path is None:
        unavailable(NO_CHROMIUM)
    return path


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
        # the figure's own bytes: what the panel check below reads is what a reader sees
        assert base64.b64decode(data) == (snakemake_report.parents[2] / path).read_bytes(), path
    for m in MODELS:  # per-model captions are templates of the model's wildcard
        assert m in results[f"results/tiny/plots/accuracy/{m}.png"]["caption"]
        assert results[f"results/tiny/plots/accuracy/{m}.png"]["labels"] == {"model": m}
    assert "Effective temperatures of Gaia DR3 eclipsing binaries" in html  # report/workflow.rst


def test_report_shows_every_figure_in_headless_chromium(chromium, snakemake_report, tmp_path):
    page = show_every_result(snakemake_report, tmp_path / "chromium")
    assert "error" not in page, page
    assert page["problems"] == []
    shown = {s["path"]: s for s in page["shown"]}
    assert all("error" not in s for s in page["shown"]), page["shown"]
    assert set(shown) == set(page["results"]) == set(FIGURES)
    for s in shown.values():
        assert s["found"] and s["complete"], s
        assert s["width"] >= 400 and s["height"] >= 300, s  # decoded, full-size figures


def test_the_browser_check_sees_a_broken_image(chromium, snakemake_report, tmp_path):
    """The check above can fail: a figure whose bytes are not a PNG shows with no width."""
    html = snakemake_report.read_text()
    uri = report_data(html, "results")["results/tiny/plots/cmd.png"]["data_uri"]
    broken = tmp_path / "broken.html"
    broken.write_text(html.replace(uri, "data:image/png;base64," + "QUJD" * 40))
    page = show_every_result(broken, tmp_path / "chromium")
    shown = {s["path"]: s for s in page["shown"]}
    assert shown["results/tiny/plots/cmd.png"]["width"] == 0
    assert shown["results/tiny/plots/sky.png"]["width"] > 0


def test_every_figure_draws_data_in_every_panel(snakemake_run):
    """No empty or all-NaN panel: each axes of each figure of the tiny run draws finite data
    inside its limits (counted when the figure is saved, ebteff.plots.panel_points; reference
    lines do not count). A figure of some size with nothing in it fails here."""
    workdir, _ = snakemake_run
    for path in FIGURES:
        panels = read_panel_points(workdir / path)
        assert panels, path
        empty = [p["title"] or f"panel {i + 1}" for i, p in enumerate(panels) if not p["points"]]
        assert not empty, f"{path}: nothing drawn in {empty} ({panels})"


def test_every_rule_logs_what_it_read_wrote_and_how_long(snakemake_run):
    workdir, _ = snakemake_run
    logs = sorted((workdir / "results/tiny/logs").rglob("*.log"))
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
    text = (workdir / "results/tiny/logs" / log).read_text()
    assert bar in text
    assert "\r" not in text  # the live bar goes to the terminal, not into the log
