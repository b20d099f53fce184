"""The store's versions as the model page shows them, kept and read again only when the store's
fingerprint changes: a page load costs a few stats while nothing changes, and a change made by any
worker or command shows at the next load."""

from __future__ import annotations

import threading

import bentoml

from ... import reports, store
from .html import VersionView


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


class Listing:
    def __init__(self) -> None:
        self._lock = threading.Lock()  # read in worker threads
        self._fingerprint: store.Fingerprint | None = None
        self._views: list[VersionView] = []

    def views(self) -> list[VersionView]:
        """Every stored version, oldest first (blocking: reads the store when it has changed)."""
        with self._lock:
            now = store.fingerprint(reports.REPORT_FOLDER)  # first: a change during the read shows next time
            if now != self._fingerprint:
                self._views, self._fingerprint = [view(model) for model in store.versions()], now
            return self._views
