"""The work every Python peer in benchmarks/peers.py does per request, the same as the service's:
the spec's JSON body parsed, each row's required features checked, the model matrix built by the
service's own transform, the booster's probabilities, and the spec's answer. Each peer's app imports it
in its own virtual environment (numpy, pydantic, xgboost and orjson pinned as the service's), with the
repository on PYTHONPATH; the model comes from the folder in PEER_MODEL (benchmarks/peers.py `export` writes it)."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import xgboost as xgb

from purchase.features import CATEGORY_FEATURE, ID_FIELDS, NUMERIC_FEATURES, REQUIRED_FEATURES, Preprocessor
from purchase.scoring import classes_at, confidence, score_matrix

Body = dict[str, Any]


class BadRequest(ValueError):
    """A body the spec's contract refuses: each app answers it with 422 and this message."""


class PeerModel:
    def __init__(self, folder: Path | None = None) -> None:
        folder = folder or Path(os.environ["PEER_MODEL"])
        self.booster = xgb.Booster(model_file=str(folder / "model.ubj"))
        self.booster.set_param({"nthread": 1})
        self.preprocessor = Preprocessor.from_dict(orjson.loads((folder / "preprocessor.json").read_bytes()))
        self.version = (folder / "version.txt").read_text()

    def answer_json(self, raw: bytes) -> bytes:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BadRequest("body: not JSON") from exc
        return orjson.dumps(self.answer(body))

    def answer(self, body: Body) -> Body:
        return self.answer_many([body])[0]

    def answer_many(self, bodies: list[Body]) -> list[Body]:
        """One booster call for all the bodies' rows (what the batching peers do), one answer each."""
        started = time.perf_counter()
        rows = [_rows(body) for body in bodies]
        flat = [row for body_rows in rows for row in body_rows]
        columns = {name: [row.get(name) for row in flat] for name in (*NUMERIC_FEATURES, CATEGORY_FEATURE)}
        probabilities = score_matrix(self.booster, self.preprocessor.transform(columns)).tolist()
        answers, start = [], 0
        for body, body_rows in zip(bodies, rows):
            p = probabilities[start : start + len(body_rows)]
            start += len(body_rows)
            threshold = float(body.get("threshold", 0.5))
            classes = classes_at(np.asarray(p), threshold).tolist()
            with_p = body.get("return_probabilities", True)
            predictions = [
                {"user_id": row["user_id"], "item_id": row["item_id"], "prediction": c, "confidence": level}
                | ({"probability": q} if with_p else {})
                for row, q, c, level in zip(body_rows, p, classes, confidence(p, threshold))
            ]
            answers.append(
                {
                    "predictions": predictions,
                    "model_version": self.version,
                    "timestamp": datetime.now(UTC).isoformat(),
                    "latency_ms": (time.perf_counter() - started) * 1000,
                }
            )
        return answers


def _rows(body: object) -> list[Body]:
    if not isinstance(body, dict) or not isinstance(body.get("features"), list) or not body["features"]:
        raise BadRequest("features: a non-empty list of rows is required")
    for i, row in enumerate(body["features"]):
        missing = [name for name in (*ID_FIELDS, *REQUIRED_FEATURES) if not isinstance(row, dict) or name not in row]
        if missing:
            raise BadRequest(f"features.{i}.{missing[0]}: field required")
    return body["features"]
