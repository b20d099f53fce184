"""POST /explain against a real server: contributions that add up to the score /predict gives, from
the version that scored the row, within its own limit, counted in metrics."""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest
import requests

from devtools.server import ServerProcess
from purchase.explanations import EXPLAINED_FEATURES
from purchase.features import ENGINEERED_FEATURES
from purchase.serving.models.traffic import user_bucket
from tests.helpers import Trained, request_row
from tests.integration.test_lifecycle import fleet, post  # noqa: F401  (fleet: a fixture)


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def explained_rows(server: ServerProcess, version: str, method: str) -> float:
    text = requests.get(server.url + "/metrics", timeout=10).text
    found = re.search(
        rf'^purchase_explained_rows_total{{method="{method}",model_version="{version}"}} (\S+)$', text, re.M
    )
    return float(found.group(1)) if found else 0.0


@pytest.mark.parametrize("method", ["exact", "approximate"])
def test_contributions_add_up_to_the_logit_of_predict_s_probability(
    server: ServerProcess, v1: Trained, test_rows: pd.DataFrame, method: str
) -> None:
    rows = [request_row(r) for _, r in test_rows.iloc[:40].iterrows()]
    counted = explained_rows(server, v1.version, method)
    answer = post(server, "/explain", {"features": rows, "method": method})
    assert answer.status_code == 200, answer.text
    predicted = post(server, "/predict", {"features": rows}).json()["predictions"]
    explanations = answer.json()["explanations"]
    assert answer.json()["method"] == method
    assert [(e["user_id"], e["item_id"]) for e in explanations] == [(r["user_id"], r["item_id"]) for r in rows]
    for explanation, prediction in zip(explanations, predicted):
        assert explanation["probability"] == pytest.approx(prediction["probability"], abs=1e-12)
        assert explanation["prediction"] == prediction["prediction"]
        assert explanation["model_version"] == v1.version
        contributions = [c["contribution"] for c in explanation["contributions"]]
        assert explanation["base_value"] + sum(contributions) == pytest.approx(
            logit(explanation["probability"]), abs=1e-5
        )
        assert sorted(c["feature"] for c in explanation["contributions"]) == sorted(EXPLAINED_FEATURES)
        assert contributions == sorted(contributions, key=abs, reverse=True)
    assert explained_rows(server, v1.version, method) == counted + len(rows)


def test_the_methods_differ_and_top_k_keeps_the_largest(server: ServerProcess, test_rows: pd.DataFrame) -> None:
    rows = [request_row(r) for _, r in test_rows.iloc[40:60].iterrows()]
    exact, approximate = (
        post(server, "/explain", {"features": rows, "method": m}).json()["explanations"]
        for m in ("exact", "approximate")
    )
    assert any(e["contributions"] != a["contributions"] for e, a in zip(exact, approximate))
    top = post(server, "/explain", {"features": rows, "top_k": 3}).json()["explanations"]
    assert [t["contributions"] for t in top] == [e["contributions"][:3] for e in exact]


def test_values_are_what_the_model_saw(server: ServerProcess, test_rows: pd.DataFrame) -> None:
    row = request_row(test_rows.iloc[7])
    (explanation,) = post(server, "/explain", {"features": [row]}).json()["explanations"]
    seen = {c["feature"]: c["value"] for c in explanation["contributions"]}
    assert seen["item_price"] == row["item_price"] and seen["item_category"] == row["item_category"]
    assert seen["price_ratio"] == pytest.approx(row["item_price"] / row["item_base_price"], rel=1e-6)
    assert set(ENGINEERED_FEATURES) <= set(seen)


def test_each_row_is_explained_by_the_version_that_scores_it(
    fleet: ServerProcess,  # noqa: F811
    v1: Trained,
    v2: Trained,
    test_rows: pd.DataFrame,
) -> None:
    answer = post(fleet, "/traffic", {"candidate": str(v2.model.tag), "candidate_share": 0.5})
    assert answer.status_code == 200, answer.text
    frame = test_rows.head(40).copy()
    frame["user_id"] = [f"explain_user_{i}" for i in range(len(frame))]
    rows = [request_row(r) for _, r in frame.iterrows()]
    explained = post(fleet, "/explain", {"features": rows}).json()["explanations"]
    predicted = post(fleet, "/predict", {"features": rows}).json()["predictions"]
    expected = [v2.version if user_bucket(u) < 0.5 else v1.version for u in frame["user_id"]]
    assert [e["model_version"] for e in explained] == [p["model_version"] for p in predicted] == expected
    assert len(set(expected)) == 2
    for e, p in zip(explained, predicted):
        assert e["probability"] == pytest.approx(p["probability"], abs=1e-12)


def test_more_items_than_the_limit_is_a_400_naming_it(server: ServerProcess, test_rows: pd.DataFrame) -> None:
    rows = [request_row(test_rows.iloc[0])] * 101
    answer = post(server, "/explain", {"features": rows})
    assert answer.status_code == 400
    detail = answer.json()["detail"]
    assert "at most 100 items" in detail and "MAX_EXPLAIN_ITEMS" in detail and "got 101" in detail
    assert post(server, "/explain", {"features": rows[:100], "method": "approximate"}).status_code == 200


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"item_price": -1.0}, "features[0].item_price"),
        ({"top_k": 0}, "top_k"),
        ({"method": "fast"}, "method"),
    ],
)
def test_bad_input_names_the_field(
    server: ServerProcess, test_rows: pd.DataFrame, change: dict[str, object], field: str
) -> None:
    row = request_row(test_rows.iloc[0])
    options = {k: v for k, v in change.items() if k in ("top_k", "method")}
    row.update({k: v for k, v in change.items() if k not in options})
    answer = post(server, "/explain", {"features": [row], **options})
    assert answer.status_code == 400, answer.text
    assert answer.json()["detail"].startswith(field)
