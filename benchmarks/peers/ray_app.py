"""Ray Serve 2.60 doing peer_model's work: one deployment with 2 replicas behind Ray's HTTP proxy at
/predict; with `--batch N`, `@serve.batch` (up to N requests, 5 ms window) and one booster call per
batch. A GET on /predict answers once the replicas are up. Run by benchmarks/peers.py as
`python benchmarks/peers/ray_app.py PORT [--batch N]`."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

import ray
from peer_model import BadRequest, PeerModel
from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse


@serve.deployment(num_replicas=2, ray_actor_options={"num_cpus": 0.5})
class Purchase:
    def __init__(self, batch: int) -> None:
        self.model = PeerModel()
        if batch > 1:
            self.score = serve.batch(max_batch_size=batch, batch_wait_timeout_s=0.005)(self.score_many)

    async def score(self, body: dict) -> dict:
        return self.model.answer(body)

    async def score_many(self, bodies: list[dict]) -> list[dict]:
        return self.model.answer_many(bodies)

    async def __call__(self, request: Request) -> Any:
        if request.method == "GET":
            return {}
        try:
            return await self.score(await request.json())
        except BadRequest as exc:
            return JSONResponse({"detail": str(exc)}, status_code=422)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args()
    # A stop (SIGTERM) shuts down the local cluster too: its raylet and workers do not outlive the app.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1")
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": args.port})
        serve.run(Purchase.bind(args.batch), route_prefix="/predict")
        threading.Event().wait()
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
