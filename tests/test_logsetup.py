"""Tests of silkctl/logsetup.py: event lines as key=value text or JSON, levels."""

import io
import json
import logging

import pytest

from silkctl import logsetup
from tests.fixtures.db import ControllerProcess


@pytest.fixture
def silkctl_logger():
    logger = logging.getLogger("silkctl.test")
    yield logger
    logsetup.configure()


def test_text_lines_carry_level_logger_event_and_quoted_fields(silkctl_logger):
    stream = io.StringIO()
    logsetup.configure(0, "text", stream=stream)
    silkctl_logger.info(
        "lease-acquired", extra={"underlay_ip": "10.0.0.1", "note": "two words"}
    )
    line = stream.getvalue().strip()
    assert line.split(" ", 1)[1] == (
        'info silkctl.test lease-acquired underlay_ip=10.0.0.1 note="two words"'
    )


def test_json_lines_parse_with_event_and_fields(silkctl_logger):
    stream = io.StringIO()
    logsetup.configure(0, "json", stream=stream)
    silkctl_logger.warning("renew-failed", extra={"attempt": 3})
    line = json.loads(stream.getvalue())
    assert {k: line[k] for k in ("level", "logger", "event", "attempt")} == {
        "level": "warning",
        "logger": "silkctl.test",
        "event": "renew-failed",
        "attempt": 3,
    }
    assert line["timestamp"].endswith("Z")


def test_levels_follow_verbosity_and_change_at_run_time(silkctl_logger):
    stream = io.StringIO()
    logsetup.configure(-1, "text", stream=stream)
    silkctl_logger.info("hidden")
    logsetup.set_level("debug")
    silkctl_logger.debug("shown")
    assert [line.split()[3] for line in stream.getvalue().splitlines()] == ["shown"]
    with pytest.raises(ValueError, match="unknown log level 'loud'"):
        logsetup.set_level("loud")


def test_default_handler_writes_to_the_stderr_of_the_moment(
    silkctl_logger, monkeypatch
):
    logsetup.configure()
    later = io.StringIO()
    monkeypatch.setattr("sys.stderr", later)
    silkctl_logger.info("after-swap")
    assert "after-swap" in later.getvalue()


def test_serve_controller_writes_json_lines_when_log_format_is_json(
    certs_dir, tmp_path
):
    process = ControllerProcess(
        f"sqlite:///{tmp_path}/leases.db",
        certs_dir,
        tmp_path / "ctl",
        argv=("--log-format", "json"),
    ).start()
    process.client().acquire("10.0.0.1")
    assert process.stop() == 0
    events = [json.loads(line)["event"] for line in process.log().splitlines()]
    assert events[-1] == "controller-exited"
    assert "controller-running" in events and "lease-acquired" in events
