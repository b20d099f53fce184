"""The floor: BentoML services whose /predict, mounted the same way as the real one, does nothing.

Noop runs with BentoML's defaults; NoopTuned with the service's own server tuning (purchase.runtime),
so the benchmark can tell what the tuning gains from what the service's own code costs.
"""

from __future__ import annotations

import os

import bentoml
from fastapi import FastAPI

from purchase.serving.runtime import UNTRACED, tune_garbage_collector

WORKERS = int(os.environ.get("API_WORKERS", "1"))
app = FastAPI()
tuned_app = FastAPI()


@app.post("/predict")
@tuned_app.post("/predict")
async def predict() -> dict[str, str]:
    return {"status": "ok"}


@bentoml.service(workers=WORKERS)
@bentoml.asgi_app(app, path="/")
class Noop:
    pass


@bentoml.service(workers=WORKERS, tracing=UNTRACED)
@bentoml.asgi_app(tuned_app, path="/")
class NoopTuned:
    @bentoml.on_startup
    async def start(self) -> None:
        tune_garbage_collector()
