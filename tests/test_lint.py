"""The code passes the project's linter and formatter (settings in pyproject.toml)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUFF = Path(sys.executable).with_name("ruff")
PATHS = ["silkctl", "tests", "bench"]


@pytest.mark.parametrize("argv", [["check"], ["format", "--check"]])
def test_ruff_finds_nothing_to_change(argv):
    done = subprocess.run(
        [str(RUFF), *argv, *PATHS], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
