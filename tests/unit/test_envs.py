"""Every rule that runs code names a conda env (envs/*.yaml) that provides what its script imports.

Conda channels are out of reach of the tests, so the envs are checked statically: the rules are
read from rules/*.smk, and each script's third-party imports are followed through the ebteff
library (every import statement, even inside functions). Pins agreeing with requirements.txt is
test_conda_envs_agree_with_pip_pins (test_repo.py).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest
import yaml

from helpers.workflow_runner import REPO

SCRIPTS = REPO / "scripts"
# import name -> conda-forge package name, where they differ
PACKAGE = {"sklearn": "scikit-learn", "sklearnex": "scikit-learn-intelex", "yaml": "pyyaml"}


def rule_blocks() -> dict[str, dict]:
    """Every rule of the workflow: the file it is in and its directives' first values."""
    rules = {}
    for smk in [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]:
        text = smk.read_text()
        starts = list(re.finditer(r"^([ \t]*)rule (\w+):", text, re.M))
        for i, m in enumerate(starts):
            body = text[m.end() : starts[i + 1].start() if i + 1 < len(starts) else len(text)]
            directives = dict(re.findall(r"^\s+(\w+):\s*\n?\s*\"([^\"]*)\"", body, re.M))
            runs = re.search(r"^\s+(script|shell|run|notebook|wrapper):", body, re.M)
            rules[m.group(2)] = {"file": smk, "runs": bool(runs), **directives}
    return rules


RULES = rule_blocks()
RUNNING = sorted(name for name, r in RULES.items() if r["runs"])


def env_packages(rule: dict) -> set[str]:
    env = yaml.safe_load((rule["file"].parent / rule["conda"]).read_text())
    return {d.split("=")[0].lower().replace("_", "-") for d in env["dependencies"]}


def module_files(base: Path, parts: list[str]) -> list[Path]:
    """The files an import of ``parts`` under ``base`` runs: the module (or the package's
    __init__), and the __init__ of every package on the way."""
    files = [base.joinpath(*parts[:i], "__init__.py") for i in range(1, len(parts))]
    files += [base.joinpath(*parts).with_suffix(".py"), base.joinpath(*parts, "__init__.py")]
    return [f for f in files if f.exists()]


def third_party_imports(path: Path, seen: set[Path] | None = None, library=SCRIPTS) -> set[str]:
    """Top-level third-party modules imported by a script, through the library it imports
    (``library`` holds the ebteff package): absolute ``ebteff...`` imports and the library's
    own relative ones (``from .forest import ...``, ``from . import x``) are followed to the
    files they run, so an indirect dependency counts too."""
    seen = set() if seen is None else seen
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        local: list[Path] = []
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level:
            base = path.parent
            for _ in range(node.level - 1):
                base = base.parent
            parts = node.module.split(".") if node.module else []
            local = module_files(base, parts) + [base / "__init__.py"]
            # `from . import x` / `from .m import x`: x may be a module itself
            for a in node.names:
                local += module_files(base, [*parts, a.name])
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
            if node.module.split(".")[0] == "ebteff":
                local = [
                    f
                    for a in node.names
                    for f in module_files(library, [*node.module.split("."), a.name])
                ]
        for name in names:
            top = name.split(".")[0]
            if top == "ebteff":
                local += module_files(library, name.split("."))
            elif top not in sys.stdlib_module_names:
                found.add(top)
        for candidate in local:
            if candidate.exists() and candidate not in seen:
                seen.add(candidate)
                found |= third_party_imports(candidate, seen, library)
    return found


def test_the_rules_are_found():
    assert {"simulate_photometry", "train_model", "predict_chunk", "build_catalog"} <= set(RUNNING)


@pytest.mark.parametrize("name", RUNNING)
def test_rule_has_a_pinned_env_that_provides_its_imports(name):
    rule = RULES[name]
    assert "conda" in rule, f"rule {name} ({rule['file'].name}) has no conda: directive"
    env_file = (rule["file"].parent / rule["conda"]).resolve()
    assert env_file.parent == REPO / "envs" and env_file.exists(), (name, rule["conda"])
    if "script" in rule:
        script = rule["file"].parent / rule["script"]
        needed = {PACKAGE.get(m, m).replace("_", "-") for m in third_party_imports(script)}
        missing = needed - env_packages(rule)
        assert not missing, f"rule {name}: {env_file.name} lacks {sorted(missing)}"


def test_training_and_prediction_share_one_env():
    """A forest is rebuilt for prediction by the scikit-learn that trained it."""
    envs = {RULES[r]["conda"] for r in ("train_model", "evaluate_model", "predict_chunk")}
    assert len(envs) == 1


def test_relative_imports_are_followed_to_what_they_import(tmp_path):
    """An env lacking a package only the library's relative imports reach is caught."""
    pkg = tmp_path / "ebteff"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "top.py").write_text("from .middle import f\nfrom . import sibling\n")
    (pkg / "middle.py").write_text("import json\n\ndef f():\n    from .sub.leaf import g\n")
    (pkg / "sibling.py").write_text("import astropy.io.fits\n")
    (pkg / "sub" / "__init__.py").write_text("import numpy\n")
    (pkg / "sub" / "leaf.py").write_text("from ..middle import f\nimport scipy.special\n")
    script = tmp_path / "rule.py"
    script.write_text("import polars\nfrom ebteff.top import f\n")
    assert third_party_imports(script, library=tmp_path) == {"polars", "scipy", "numpy", "astropy"}


def test_the_library_is_followed_through_its_relative_imports():
    # catalog.py imports no scipy itself: its `from .calibrate import ...` does
    assert "scipy" in third_party_imports(SCRIPTS / "ebteff" / "catalog.py")
