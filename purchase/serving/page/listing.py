"""The store's versions as the model page shows them. Reading them parses every version's metadata
and lists its report folder; the listing is kept and read again only when the store's fingerprint
(a few stats per version) changes, so a page load costs no more than the stats while nothing changes,
and a change made by any worker or command shows at the next load."""

from __future__ import annotations

import threading
from pathlib import Path

import bentoml

from ... import reports, store
from .html import VersionView

Fingerprint = tuple[tuple[str, tuple[int, ...]], ...]


def view(model: bentoml.Model) -> VersionView:
    folder = reports.report_folder(model)
    plots = sorted(p.name for p in folder.glob("*.png") if p.is_file()) if folder.is_dir() else []
    return VersionView(
        tag=str(model.tag),
        version=model.tag.version or "",
        stage=store.stage(model),
        created=model.info.creation_time,
        data_source=str(model.info.metadata.get("data_source", "unknown")),
        metrics=store.stored_metrics(model),
        segments=store.stored_segments(model),
        plots=tuple(plots),
        has_report=reports.report_page(model).is_file(),
    )


def _stamp(path: Path) -> tuple[int, ...]:
    """What changes when the file is rewritten (a stage change flushes model.yaml) or appears."""
    try:
        stat = path.stat()
    except OSError:
        return ()
    return stat.st_mtime_ns, stat.st_size, stat.st_ino


def fingerprint() -> Fingerprint:
    root = Path(store.location()) / store.MODEL_NAME
    if not root.is_dir():
        return ()
    return tuple(
        (folder.name, (*_stamp(folder / "model.yaml"), *_stamp(folder / reports.REPORT_FOLDER)))
        for folder in sorted(root.iterdir())
        if folder.is_dir()
    )


class Listing:
    def __init__(self) -> None:
        self._lock = threading.Lock()  # read in worker threads
        self._fingerprint: Fingerprint | None = None
        self._views: list[VersionView] = []

    def views(self) -> list[VersionView]:
        """Every stored version, oldest first (blocking: reads the store when it has changed)."""
        with self._lock:
            now = fingerprint()  # taken first: a change during the read is seen at the next load
            if now != self._fingerprint:
                self._views, self._fingerprint = [view(model) for model in store.versions()], now
            return self._views
