"""The population a model serves, in three segments that a pair's features tell apart.

Training samples each segment, weights it to its share of requests and measures it; serving counts and
reports the segment of each prediction. Both read it from the features with `segment_codes`, so a row
is in the same segment offline and online.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

import numpy as np

from .features import NUMERIC_FEATURES


class Segment(StrEnum):
    VIEWED = "viewed"  # the user viewed the item in the last 30 days
    UNVIEWED = "unviewed"  # a user with history, and an item they did not view
    NEW_USER = "new_user"  # no view, cart, purchase or session in the last 30 days: nothing known of the user


SEGMENTS: tuple[Segment, ...] = tuple(Segment)
NOT_EVALUATED = "not evaluated"  # a figure a segment cannot give (AUC with one class only)
SEGMENT_METRICS: tuple[str, ...] = ("mean_probability", "auc", "log_loss", "ece")  # each model's, per segment
_USER_COUNTS = ("view_count_30d", "cart_count_30d", "purchase_count_30d", "session_item_count")
_COLUMN = {name: NUMERIC_FEATURES.index(name) for name in (*_USER_COUNTS, "item_view_count")}


def segment_codes(columns: Mapping[str, Sequence[Any] | np.ndarray]) -> np.ndarray:
    """Each row's index in SEGMENTS, from its counts (a missing count is 0, as the model reads it)."""

    def count(name: str) -> np.ndarray:
        return np.nan_to_num(np.asarray(columns[name], dtype=np.float64), nan=0.0)

    known_user = np.logical_or.reduce([count(name) > 0 for name in _USER_COUNTS])
    codes = np.where(known_user, SEGMENTS.index(Segment.UNVIEWED), SEGMENTS.index(Segment.NEW_USER))
    return np.where(count("item_view_count") > 0, SEGMENTS.index(Segment.VIEWED), codes).astype(np.int8)


def matrix_segment_codes(matrix: np.ndarray) -> np.ndarray:
    """`segment_codes` of a model matrix (`Preprocessor.transform`'s: the numeric features come first)."""
    return segment_codes({name: matrix[:, column] for name, column in _COLUMN.items()})


def segment_names(codes: np.ndarray) -> list[str]:
    return [SEGMENTS[int(code)].value for code in codes]


def quality_rows(quality: Mapping[str, Any], model: str = "xgboost") -> tuple[list[str], list[list[str]]]:
    """A stored quality by segment (`training.evaluate.segment_quality`) as a table's header and text
    cells: rows, observed rate, `model`'s figures, and the oracle's AUC when known (synthetic data)."""
    oracle = any("oracle" in entry for entry in quality.values())
    header = ["segment", "rows", "purchase rate", *(m.replace("_", " ") for m in SEGMENT_METRICS)]
    rows = []
    for name, entry in quality.items():
        figures = entry.get(model, {})
        cells = [name, f"{entry['rows']:,}", f"{entry['purchase_rate']:.4f}"]
        cells += [_figure(figures.get(m)) for m in SEGMENT_METRICS]
        rows.append(cells + ([_figure(entry.get("oracle", {}).get("auc"))] if oracle else []))
    return header + (["oracle auc"] if oracle else []), rows


def _figure(value: float | None) -> str:
    return NOT_EVALUATED if value is None else f"{value:.4f}"
