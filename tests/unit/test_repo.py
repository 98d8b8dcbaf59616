"""The repository keeps its promises: README commands, CI, pinned environments."""

from __future__ import annotations

import re

import yaml

from helpers.workflow_runner import REPO


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text)[:2]


def test_ci_runs_the_readme_test_command():
    install_and_run, install_and_test = readme_commands()
    assert "snakemake --cores" in install_and_run
    assert "pytest" in install_and_test
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert install_and_test in ci


def pip_pins(path) -> dict[str, str]:
    pins = {}
    for line in (REPO / path).read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_conda_envs_agree_with_pip_pins():
    pins = pip_pins("requirements.txt")
    for env_file in sorted((REPO / "envs").glob("*.yaml")):
        env = yaml.safe_load(env_file.read_text())
        assert env["channels"] == ["conda-forge", "nodefaults"], env_file
        for dep in env["dependencies"]:
            if not isinstance(dep, str) or dep.startswith("python="):
                continue
            name, version = dep.split("=", 1)
            name = name.lower().replace("_", "-")
            assert name in pins, f"{env_file.name}: {name} is not pinned in requirements.txt"
            assert pins[name] == version, f"{env_file.name}: {name} {version} != {pins[name]}"


def test_a_missing_tool_skips_locally_and_fails_in_ci(monkeypatch):
    import pytest

    from helpers.workflow_runner import unavailable

    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no chromium"):
        unavailable("no chromium")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true and no chromium"):
        unavailable("no chromium")
    assert 'export CI="${CI:-true}"' in (REPO / ".ci" / "run").read_text()
