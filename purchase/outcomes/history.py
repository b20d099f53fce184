"""Daily summaries: the predictions the log drops at the end of their retention, summed per (day,
version, arm), so the figures that add up (rows, purchase rate, mean probability, log loss, ECE)
outlive the rows. AUC does not add up and is not kept."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

import numpy as np

from ..training.evaluate import ECE_BINS, PROBABILITY_FLOOR
from .quality import row_log_loss
from .records import Judged
from .report import DAY_S
from .schemas import DaySummary

HISTORY_DAYS = 400  # summaries older than this behind the newest prediction are dropped too
Key = tuple[int, str, str]  # day since the epoch (UTC), version, arm
# rows, purchases, sum of probabilities, sum of log losses, then rows, purchases and probabilities per
# ECE bin: what ECE needs, since a bin's weight times |rate - mean| is |purchases - probabilities|.
WIDTH = 4 + 3 * ECE_BINS


def summarise(matured: Sequence[tuple[Judged, int]]) -> dict[Key, list[float]]:
    """The sums of each (day, version, arm) the rows fall in."""
    out: dict[Key, list[float]] = {}
    keys = [(int(r.t // DAY_S), r.version, r.arm) for r, _ in matured]
    y = np.array([label for _, label in matured], dtype=np.float64)
    p = np.clip(np.array([r.probability for r, _ in matured]), PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)
    losses = row_log_loss(y, p)
    bins = np.minimum((p * ECE_BINS).astype(int), ECE_BINS - 1)
    for key in dict.fromkeys(keys):
        mine = np.array([k == key for k in keys])
        b = bins[mine]
        out[key] = [
            float(mine.sum()),
            float(y[mine].sum()),
            float(p[mine].sum()),
            float(losses[mine].sum()),
            *np.bincount(b, minlength=ECE_BINS).astype(float).tolist(),
            *np.bincount(b, weights=y[mine], minlength=ECE_BINS).tolist(),
            *np.bincount(b, weights=p[mine], minlength=ECE_BINS).tolist(),
        ]
    return out


def merged(old: Sequence[float] | None, new: Sequence[float]) -> list[float]:
    return list(new) if old is None else [a + b for a, b in zip(old, new)]


def days(sums: Mapping[Key, Sequence[float]], version: str | None = None) -> list[DaySummary]:
    """The summaries as GET /performance gives them: by day, then version and arm."""
    return [_figures(key, sums[key]) for key in sorted(sums) if version is None or key[1] == version]


def _figures(key: Key, sums: Sequence[float]) -> DaySummary:
    rows, purchases, probability, loss = sums[:4]
    bought = sums[4 + ECE_BINS : 4 + 2 * ECE_BINS]
    predicted = sums[4 + 2 * ECE_BINS :]
    return DaySummary(
        day=datetime.fromtimestamp(key[0] * DAY_S, UTC).date(),
        version=key[1],
        arm=key[2],
        rows=int(rows),
        purchase_rate=purchases / rows,
        mean_probability=probability / rows,
        log_loss=loss / rows,
        ece=sum(abs(a - b) for a, b in zip(bought, predicted)) / rows,
    )


class DailyExpiry:
    """History past HISTORY_DAYS is looked for once a day of the log's clock, not at every drop (the log
    drops rows about once a second, and reading every summary grows with the history)."""

    def __init__(self) -> None:
        self._checked_day = -1

    def due(self, newest_t: float) -> bool:
        day = int(newest_t // DAY_S)
        if day == self._checked_day:
            return False
        self._checked_day = day
        return True


def expired(keys: Iterable[Key], newest_t: float) -> list[Key]:
    """The summaries past HISTORY_DAYS behind the newest prediction."""
    first = int(newest_t // DAY_S) - HISTORY_DAYS
    return [key for key in keys if key[0] < first]
