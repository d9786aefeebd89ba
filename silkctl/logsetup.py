"""Configures the `silkctl` logger once, for the CLI and the services.

Library modules only call `logging.getLogger(__name__)` and log short
kebab-case events with data in `extra=` (`log.info("lease-acquired",
extra={"underlay_ip": ...})`). This module decides how those lines look:
`key=value` text by default, JSON lines with `--log-format json`.
"""

import json
import logging
import sys
import time

LEVELS = {-2: logging.ERROR, -1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}
_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
NOISY_LOGGERS = ("pyroute2", "peewee", "cheroot", "urllib3")


def _fields(record: logging.LogRecord) -> dict:
    return {k: v for k, v in vars(record).items() if k not in _RESERVED}


def _timestamp(record: logging.LogRecord) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{seconds}.{int(record.msecs):03d}Z"


class KeyValueFormatter(logging.Formatter):
    """`<time> <level> <logger> <event> key=value ...`, one line per event."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [
            _timestamp(record),
            record.levelname.lower(),
            record.name,
            record.getMessage(),
        ]
        parts += [f"{k}={_quote(v)}" for k, v in _fields(record).items()]
        if record.exc_info:
            parts.append("error=" + _quote(str(record.exc_info[1])))
        return " ".join(parts)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp, level, logger, event, fields."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "timestamp": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            line["error"] = str(record.exc_info[1])
        return json.dumps(line, default=str)


def _quote(value) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' "='):
        return json.dumps(text)
    return text


class CurrentStderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is when a record comes, not when set up
    (an in-process CLI run swaps and closes its own stderr)."""

    def __init__(self):
        logging.Handler.__init__(self)

    @property
    def stream(self):
        return sys.stderr


def configure(verbosity: int = 0, fmt: str = "text", stream=None) -> None:
    """Set up the `silkctl` logger; `verbosity` is the -v count minus the -q count."""
    level = LEVELS[max(-2, min(1, verbosity))]
    handler = logging.StreamHandler(stream) if stream else CurrentStderrHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else KeyValueFormatter())
    root = logging.getLogger("silkctl")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(
            logging.DEBUG if verbosity >= 2 else logging.WARNING
        )


def set_level(name: str) -> None:
    """Change the `silkctl` log level at run time (`debug`, `info`, ...)."""
    level = logging.getLevelName(name.upper())
    if not isinstance(level, int):
        raise ValueError(f"unknown log level {name!r}")
    logging.getLogger("silkctl").setLevel(level)
