"""The response cache (ENABLE_CACHING): probabilities by feature row, least recently used first out.

One cache per loaded version, so a model swap starts from an empty one and an answer can never come
from another version. Keyed by the row of the model matrix: rows that differ only in ids share it.
"""

from __future__ import annotations

from collections import OrderedDict


class RowCache:
    def __init__(self, max_rows: int) -> None:
        self.max_rows = max_rows
        self._rows: OrderedDict[bytes, float] = OrderedDict()

    def get(self, key: bytes) -> float | None:
        value = self._rows.get(key)
        if value is not None:
            self._rows.move_to_end(key)
        return value

    def put(self, key: bytes, value: float) -> None:
        self._rows[key] = value
        self._rows.move_to_end(key)
        if len(self._rows) > self.max_rows:
            self._rows.popitem(last=False)

    def __len__(self) -> int:
        return len(self._rows)
