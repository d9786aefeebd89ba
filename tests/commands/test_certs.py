"""Tests of silkctl/commands/certs.py: `silkctl certs init`."""

import os
import stat

from typer.testing import CliRunner

from silkctl.certs import FILE_NAMES
from silkctl.cli import app

runner = CliRunner()


def test_certs_init_writes_the_files_mode_0600(tmp_path):
    result = runner.invoke(
        app,
        [
            "certs",
            "init",
            str(tmp_path / "c"),
            "--controller-name",
            "ctl.example",
            "--ip",
            "10.0.0.5",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "wrote ca.crt" in result.output
    for name in FILE_NAMES:
        assert stat.S_IMODE(os.stat(tmp_path / "c" / name).st_mode) == 0o600


def test_certs_init_refuses_existing_files_without_force(tmp_path):
    assert runner.invoke(app, ["certs", "init", str(tmp_path)]).exit_code == 0
    result = runner.invoke(app, ["certs", "init", str(tmp_path)])
    assert result.exit_code != 0
    assert "--force" in str(result.exception)
    assert (
        runner.invoke(app, ["certs", "init", str(tmp_path), "--force"]).exit_code == 0
    )
