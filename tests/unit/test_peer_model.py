"""The benchmark's peers do the service's work: the model they load from `export` answers as the scoring
core does on the same rows, and a row without a required field is refused by name."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.peers import export
from purchase.features import CATEGORY_FEATURE, ID_FIELDS, NUMERIC_FEATURES
from purchase.scoring import score_matrix
from tests.helpers import Trained

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks" / "peers"))  # the peers' apps import it so
from peer_model import BadRequest, PeerModel


def test_a_peer_answers_as_the_scoring_core(tmp_path: Path, v1: Trained, test_rows: pd.DataFrame) -> None:
    rows = test_rows.head(200)
    body = {"features": rows[[*ID_FIELDS, *NUMERIC_FEATURES, CATEGORY_FEATURE]].to_dict("records")}
    peer = PeerModel(export(tmp_path, v1.result.booster, v1.result.preprocessor, v1.model.tag.version))
    expected = score_matrix(v1.result.booster, v1.result.preprocessor.transform(rows.to_dict("list")))
    first, second = peer.answer_many([body, {**body, "threshold": 0.05, "return_probabilities": False}])
    assert first["model_version"] == v1.model.tag.version
    assert np.allclose([p["probability"] for p in first["predictions"]], expected, atol=1e-6)
    assert [p["prediction"] for p in second["predictions"]] == (expected >= 0.05).astype(int).tolist()
    assert "probability" not in second["predictions"][0]
    assert len(set(second["predictions"][i]["prediction"] for i in range(len(rows)))) == 2


def test_a_peer_refuses_a_row_without_a_required_field_by_name(tmp_path: Path, v1: Trained) -> None:
    peer = PeerModel(export(tmp_path, v1.result.booster, v1.result.preprocessor, "v"))
    with pytest.raises(BadRequest, match=r"features\.0\.item_price"):
        peer.answer_json(b'{"features": [{"user_id": "u", "item_id": "i", "item_category": "toys"}]}')
