"""The newcomer's two commands, as make would run them."""
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def planned_commands(target: str) -> str:
    """What `make <target>` would run from scratch (every prerequisite out of date), not run."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    return subprocess.run(["make", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def test_make_run_installs_what_running_needs_and_not_the_test_tools():
    run = planned_commands("run")
    assert "pip install --quiet -e ." in run
    assert ".[dev]" not in run
    assert "npm ci --omit=dev" in run  # the pages' libraries, not axe-core
    assert "telemed serve" in run and "pybabel compile" in run


def test_make_test_installs_the_test_tools():
    test = planned_commands("test")
    assert "pip install --quiet -e '.[dev]'" in test
    assert "npm ci --no-audit" in test  # devDependencies (axe-core) included
