"""Logging: a LOG_FILE that cannot be created leaves stdout logging only."""

from __future__ import annotations

import logging
from pathlib import Path

from purchase.serving.logs import configure_logging
from purchase.settings import Settings


def test_a_log_file_that_cannot_be_created_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    logger = logging.getLogger("purchase")
    saved, logger.handlers = logger.handlers, []
    try:
        configure_logging(Settings(log_file=tmp_path / "a-file" / "api.log"))  # its folder is a file
        assert [type(h) for h in logger.handlers] == [logging.StreamHandler]  # stdout only, and no exception
    finally:
        logger.handlers = saved
