"""The reference: the spec's API as a plain FastAPI app, written the way the spec describes it
(pydantic models, a pandas DataFrame per request, a sync handler), run with the spec's production
command: gunicorn with uvicorn workers. It serves the same model with the same transform, so the
benchmark compares serving stacks, not models."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import pandas as pd
from fastapi import FastAPI

from purchase import store
from purchase.schemas import Prediction, PredictRequest, PredictResponse

app = FastAPI(title="baseline")
MODEL = store.default_model(os.environ.get("DEFAULT_MODEL"))
BOOSTER, PREPROCESSOR = store.load(MODEL)
BOOSTER.set_param({"nthread": 1})


@app.post("/predict", response_model=PredictResponse, response_model_exclude_none=True)
def predict(request: PredictRequest) -> PredictResponse:
    started = time.perf_counter()
    frame = pd.DataFrame([row.model_dump() for row in request.features])
    probabilities = BOOSTER.inplace_predict(PREPROCESSOR.transform(frame))
    threshold = 0.5 if request.threshold is None else request.threshold
    predictions = [
        Prediction(
            user_id=row.user_id,
            item_id=row.item_id,
            prediction=int(p >= threshold),
            probability=float(p) if request.return_probabilities else None,
            confidence="high" if abs(p - threshold) >= 0.25 else "medium" if abs(p - threshold) >= 0.1 else "low",
        )
        for row, p in zip(request.features, probabilities)
    ]
    return PredictResponse(
        predictions=predictions,
        model_version=MODEL.tag.version,
        timestamp=datetime.now(UTC),
        latency_ms=(time.perf_counter() - started) * 1000,
    )
