"""A job's row checks against /predict's: generated rows, good and bad, are refused by the column checks
exactly when pydantic refuses them, naming a field pydantic names too."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from purchase.features import ID_FIELDS, REQUIRED_FEATURES
from purchase.jobs.rows import COLUMNS, RULES, check
from purchase.schemas import FeatureRow, SparseFeatureRow

GOOD = {"integer": st.integers(0, 10**9), "number": st.floats(0, 1e9), "string": st.text(min_size=1, max_size=20)}
BAD = st.sampled_from([-1, -0.5, 1e9 + 1, 2.5, 101, 0, "", "x" * 129, "7", True, float("inf"), [1]])


def good(name: str) -> st.SearchStrategy[Any]:
    if name == "item_discount_pct":
        return st.floats(0, 100)
    if name in ("item_price", "item_base_price"):
        return st.floats(0.01, 1e9)
    return GOOD[RULES[name].kind]


def with_one_bad_value(row: dict[str, Any], bad: tuple[str, Any] | None) -> dict[str, Any]:
    return row if bad is None else {**row, bad[0]: bad[1]}


# Good rows (any field may be left out), half of them with one bad value: each refusal has one cause.
rows = st.builds(
    with_one_bad_value,
    st.fixed_dictionaries({}, optional={name: good(name) | st.none() for name in COLUMNS}),
    st.none() | st.tuples(st.sampled_from(COLUMNS), BAD),
)


def pydantic_fields(row: dict[str, Any], model: type[SparseFeatureRow] | type[FeatureRow]) -> set[str] | None:
    """The fields pydantic names for the row (None: accepted). None counts as left out, and so does an empty
    string where a string belongs: an empty cell of a file."""
    given_values = {k: v for k, v in row.items() if v is not None and not (v == "" and RULES[k].kind == "string")}
    empty_ids = {name for name in ID_FIELDS if row.get(name) == ""}
    try:
        model.model_validate(given_values)
    except ValidationError as exc:
        return {str(e["loc"][0]) for e in exc.errors()} | empty_ids
    return empty_ids or None


@pytest.mark.parametrize("online", [True, False], ids=["ids-only", "all-features"])
@given(batch=st.lists(rows, min_size=1, max_size=30))
@settings(max_examples=300, deadline=None)
def test_columns_refuse_what_pydantic_refuses(online: bool, batch: list[dict[str, Any]]) -> None:
    model = SparseFeatureRow if online else FeatureRow
    required = ID_FIELDS if online else (*ID_FIELDS, *REQUIRED_FEATURES)
    columns = {name: [row.get(name) for row in batch] for name in COLUMNS}
    checked = check(columns, len(batch), text=False, required=required)
    for i, row in enumerate(batch):
        expected = pydantic_fields(row, model)
        if expected is None:
            assert i not in checked.refused, (row, checked.refused.get(i))
        else:
            assert i in checked.refused, (row, expected)
            assert checked.refused[i].split(":")[0] in expected, (checked.refused[i], expected)


BOUNDARIES = [-1, -0.5, 0, 0.0, 1e-9, 2.5, 100, 100.5, 1e9, 1e9 + 1, 10**9 + 1, "", "x" * 128, "x" * 129, "7", True]
BOUNDARIES += [float("inf"), float("-inf"), [1], {"a": 1}, 3]


@pytest.mark.parametrize("online", [True, False], ids=["ids-only", "all-features"])
def test_every_field_at_its_boundaries_as_pydantic_decides(online: bool) -> None:
    """One row per field and value, the rest of the row good: refused exactly when pydantic refuses."""
    model = SparseFeatureRow if online else FeatureRow
    required = ID_FIELDS if online else (*ID_FIELDS, *REQUIRED_FEATURES)
    base = {"user_id": "u", "item_id": "i", "item_price": 10.0, "item_base_price": 12.0, "item_discount_pct": 5.0}
    base["item_category"] = "books"
    batch = [{**base, name: value} for name in COLUMNS for value in BOUNDARIES]
    columns = {name: [row.get(name) for row in batch] for name in COLUMNS}
    checked = check(columns, len(batch), text=False, required=required)
    for i, row in enumerate(batch):
        expected = pydantic_fields(row, model)
        assert (i in checked.refused) == (expected is not None), (row, expected, checked.refused.get(i))
        if expected is not None:
            assert checked.refused[i].split(":")[0] in expected


def test_text_numbers_are_parsed_and_bad_text_is_named() -> None:
    columns = {
        "user_id": np.array(["u1", "u2", "u3", "u4", "u5"], dtype=object),
        "item_id": np.array(["i"] * 5, dtype=object),
        "view_count_7d": np.array(["3", "3.0", "three", None, "nan"], dtype=object),
    }
    checked = check(columns, 5, text=True, required=ID_FIELDS)
    assert checked.refused == {2: "view_count_7d: must be a number", 4: "view_count_7d: must be a number"}
    np.testing.assert_array_equal(checked.numbers["view_count_7d"][[0, 1, 3]], [3.0, 3.0, np.nan])


def test_a_required_column_left_empty_is_named() -> None:
    columns = {"user_id": ["u", "u"], "item_id": ["i", "i"], "item_price": [2.0, None], "item_category": ["a", "b"]}
    columns |= {"item_base_price": [3.0, 3.0], "item_discount_pct": [1.0, 1.0]}
    checked = check(columns, 2, text=False, required=(*ID_FIELDS, *REQUIRED_FEATURES))
    assert checked.refused == {1: "item_price: required"}
