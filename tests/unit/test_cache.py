"""The response cache: least recently used rows leave first."""

from __future__ import annotations

from purchase.serving.models.cache import RowCache


def test_row_cache_evicts_the_least_recently_used() -> None:
    cache = RowCache(max_rows=2)
    cache.put(b"a", 0.1)
    cache.put(b"b", 0.2)
    assert cache.get(b"a") == 0.1  # a is now the most recent
    cache.put(b"c", 0.3)
    assert (cache.get(b"b"), cache.get(b"a"), cache.get(b"c"), len(cache)) == (None, 0.1, 0.3, 2)
