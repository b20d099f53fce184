"""Logging for the `purchase` package: LOG_LEVEL, and LOG_FILE when set (rotated).

Console output is BentoML's: its handlers on the root logger already print our records.
"""

from __future__ import annotations

import logging
from logging.handlers import RotatingFileHandler

from .settings import Settings

FORMAT = "%(asctime)s %(levelname)s %(name)s [pid %(process)d] %(message)s"


def configure_logging(settings: Settings) -> None:
    logger = logging.getLogger("purchase")
    logger.setLevel(settings.log_level.upper())
    if settings.log_file is None or logger.handlers:  # nothing to add, or added already
        return
    try:
        settings.log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(settings.log_file, maxBytes=10_000_000, backupCount=5)
    except OSError as exc:  # an unwritable log file must not stop the service
        logger.warning("LOG_FILE %s not usable: %s", settings.log_file, exc)
        return
    handler.setFormatter(logging.Formatter(FORMAT))
    logger.addHandler(handler)
