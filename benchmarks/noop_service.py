"""The floor: a BentoML service whose /predict, mounted the same way as the real one, does nothing."""

from __future__ import annotations

import os

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")

import bentoml  # noqa: E402
from fastapi import FastAPI  # noqa: E402

app = FastAPI()


@bentoml.service(workers=int(os.environ.get("API_WORKERS", "1")))
@bentoml.asgi_app(app, path="/")
class Noop:
    @app.post("/predict")
    async def predict(self) -> dict[str, str]:
        return {"status": "ok"}
