"""Logging for the `purchase` package: JSON lines to stdout, and to LOG_FILE when set (rotated).

One line per request comes from `purchase.access` (see edge.py); feature values are never logged.
BentoML's own access log is off in configuration.yaml, since this one replaces it.
"""

from __future__ import annotations

import logging
import sys
from logging.handlers import RotatingFileHandler

from pythonjsonlogger.json import JsonFormatter

from ..settings import Settings

FIELDS = "{asctime}{levelname}{name}{process}{message}"


def configure_logging(settings: Settings) -> None:
    logger = logging.getLogger("purchase")
    logger.setLevel(settings.log_level.upper())
    if logger.handlers:  # configured already in this process
        return
    logger.propagate = False  # BentoML's root handlers would print every line again, as text
    formatter = JsonFormatter(
        FIELDS, style="{", rename_fields={"asctime": "time", "levelname": "level", "name": "logger", "process": "pid"}
    )
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
    if settings.log_file is not None:
        try:
            settings.log_file.parent.mkdir(parents=True, exist_ok=True)
            handlers.append(RotatingFileHandler(settings.log_file, maxBytes=10_000_000, backupCount=5))
        except OSError as exc:  # an unwritable log file must not stop the service
            print(f"LOG_FILE {settings.log_file} not usable, logging to stdout only: {exc}", file=sys.stderr)
    for handler in handlers:  # a handler that fails later (disk full) reports it on stderr; requests go on
        handler.setFormatter(formatter)
        logger.addHandler(handler)
