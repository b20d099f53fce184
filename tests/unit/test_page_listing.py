"""The model page's listing of the store: read again when, and only when, the store has changed."""

from __future__ import annotations

import bentoml
import pytest

from purchase import store
from purchase.serving.page.listing import Listing
from tests.helpers import Trained


def test_the_listing_is_read_again_only_when_the_store_changes(
    v1: Trained, v2: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[int] = []
    real = store.versions
    monkeypatch.setattr(store, "versions", lambda: reads.append(1) or real())  # counts, then reads for real
    listing = Listing()
    first = listing.views()
    assert listing.views() is first and len(reads) == 1
    model = bentoml.models.get(v2.model.tag)
    try:
        model.info.labels["stage"] = store.ARCHIVED  # as a promotion by another process rewrites it
        model.flush()
        stages = {view.tag: view.stage for view in listing.views()}
        assert stages[str(v2.model.tag)] == store.ARCHIVED and len(reads) == 2
    finally:
        model.info.labels["stage"] = store.CANDIDATE
        model.flush()
    assert {view.tag: view.stage for view in listing.views()}[str(v2.model.tag)] == store.CANDIDATE
