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
BENTOML_ROUTE_ERRORS = "bentoml._internal.server.http_app"  # the logger of BentoML's own routes' errors


class ClientErrorsLeftToTheAccessLog(logging.Filter):
    """BentoML logs an ERROR with a traceback for every request its own route (/client/predict) refuses;
    the access log has each such 4xx already, so only server errors keep their traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        from bentoml.exceptions import BentoMLException
        from pydantic import ValidationError

        refused = record.exc_info[1] if record.exc_info else None
        if isinstance(refused, BentoMLException):
            return refused.error_code.value >= 500
        return not isinstance(refused, ValidationError)


def configure_logging(settings: Settings) -> None:
    logger = logging.getLogger("purchase")
    logger.setLevel(settings.log_level.upper())
    if logger.handlers:  # configured already in this process
        return
    logging.getLogger(BENTOML_ROUTE_ERRORS).addFilter(ClientErrorsLeftToTheAccessLog())
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
