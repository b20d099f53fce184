"""A chunk of a job's rows checked column by column against /predict's row schema: the same limits,
read from `SparseFeatureRow`'s own JSON schema, so the two cannot drift apart (a parity test holds
them together). A row that fails is refused with its first problem; the others are scored."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..schemas import SparseFeatureRow


@dataclass(frozen=True)
class Rule:
    kind: str  # "integer", "number" or "string"
    minimum: float | None = None
    exclusive_minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None


def _rules() -> dict[str, Rule]:
    rules = {}
    for name, spec in SparseFeatureRow.model_json_schema()["properties"].items():
        spec = next(s for s in spec.get("anyOf", [spec]) if s.get("type") != "null")
        rules[name] = Rule(
            spec["type"], spec.get("minimum"), spec.get("exclusiveMinimum"), spec.get("maximum"), spec.get("maxLength")
        )
    return rules


RULES = _rules()
COLUMNS = tuple(RULES)  # the fields a file may carry: /predict's, in its order


@dataclass(frozen=True)
class Checked:
    numbers: dict[str, np.ndarray]  # float64, NaN where missing
    strings: dict[str, np.ndarray]  # objects, None where missing
    refused: dict[int, str]  # row index in the chunk -> "field: reason"


def check(columns: Mapping[str, Any], n: int, text: bool, required: Collection[str]) -> Checked:
    """`columns`: name -> values (numbers, strings or None), absent names missing in every row. `text`:
    numbers arrive as strings to parse (CSV); otherwise a string where a number belongs is refused."""
    refused: dict[int, str] = {}

    def refuse(mask: np.ndarray, message: str) -> None:
        for i in np.flatnonzero(mask):
            refused.setdefault(int(i), message)

    numbers, strings = {}, {}
    for name, rule in RULES.items():
        raw = columns.get(name)
        if rule.kind == "string":
            values, wrong_type, lengths = _strings(raw, n)
            refuse(wrong_type, f"{name}: must be a string")
            present = lengths > 0
            if rule.max_length is not None:
                refuse(lengths > rule.max_length, f"{name}: at most {rule.max_length} characters")
            strings[name] = values
        else:
            values, wrong_type = _numbers(raw, n, text)
            refuse(wrong_type, f"{name}: must be a number")
            present = ~np.isnan(values)
            with np.errstate(invalid="ignore"):
                refuse(present & ~np.isfinite(values), f"{name}: must be finite")
                if rule.kind == "integer":
                    refuse(present & (values != np.floor(values)), f"{name}: must be a whole number")
                if rule.minimum is not None:
                    refuse(present & (values < rule.minimum), f"{name}: must be at least {rule.minimum:g}")
                if rule.exclusive_minimum is not None:
                    refuse(
                        present & (values <= rule.exclusive_minimum),
                        f"{name}: must be greater than {rule.exclusive_minimum:g}",
                    )
                if rule.maximum is not None:
                    refuse(present & (values > rule.maximum), f"{name}: must be at most {rule.maximum:g}")
            numbers[name] = values
        if name in required:
            refuse(~present & ~wrong_type, f"{name}: required")
    return Checked(numbers, strings, refused)


def _numbers(raw: Any, n: int, text: bool) -> tuple[np.ndarray, np.ndarray]:
    """Values as float64 (NaN: missing) and where a given value is not a number."""
    if raw is None:
        return np.full(n, np.nan), np.zeros(n, bool)
    if isinstance(raw, np.ndarray) and raw.dtype.kind in "fiu":
        return raw.astype(np.float64), np.zeros(n, bool)
    series = pd.Series(raw, dtype=object)
    given = series.notna().to_numpy()
    if text:
        values = pd.to_numeric(series, errors="coerce").to_numpy(np.float64, na_value=np.nan)
        return values, given & np.isnan(values)
    numeric = np.fromiter((type(v) in (int, float) for v in raw), bool, n)  # not bool, not "3"
    values = np.where(numeric, series.where(numeric, np.nan), np.nan).astype(np.float64)
    return values, given & ~numeric


def _strings(raw: Any, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Values as objects (None: missing, as an empty cell is), where a given value is not a string, and
    each value's length in characters (0: missing)."""
    if raw is None:
        return np.full(n, None, object), np.zeros(n, bool), np.zeros(n, np.int64)
    if isinstance(raw, pa.ChunkedArray | pa.Array):  # CSV and Parquet: Arrow measures them
        lengths = pc.fill_null(pc.utf8_length(raw), 0).to_numpy().astype(np.int64)
        values = raw.to_numpy(zero_copy_only=False)
        values[lengths == 0] = None
        return values, np.zeros(n, bool), lengths
    values = np.array(raw, dtype=object)
    wrong = np.fromiter((v is not None and not isinstance(v, str) for v in raw), bool, n)
    lengths = np.fromiter((len(v) if isinstance(v, str) else 0 for v in raw), np.int64, n)
    values[wrong | (lengths == 0)] = None
    return values, wrong, lengths
