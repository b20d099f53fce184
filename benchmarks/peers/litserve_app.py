"""LitServe 0.2.19 doing peer_model's work, 2 workers on the CPU; with `--batch N` its own batching
(up to N requests, 5 ms window) and one booster call per batch. Run by benchmarks/peers.py as
`python benchmarks/peers/litserve_app.py PORT [--batch N]`."""

from __future__ import annotations

import argparse
from typing import Any

import litserve as ls
from fastapi import HTTPException
from peer_model import BadRequest, PeerModel


class PurchaseAPI(ls.LitAPI):
    def setup(self, device: str) -> None:
        self.model = PeerModel()

    def decode_request(self, request):  # unannotated: LitServe then passes the parsed JSON body
        return request

    def predict(self, x: Any) -> Any:
        try:
            return self.model.answer_many(x) if isinstance(x, list) else self.model.answer(x)
        except BadRequest as exc:
            raise HTTPException(422, str(exc)) from exc

    def batch(self, inputs: list[Any]) -> list[Any]:
        return inputs

    def unbatch(self, output: list[Any]) -> list[Any]:
        return output

    def encode_response(self, output: Any) -> Any:
        return output


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args()
    api = PurchaseAPI(max_batch_size=args.batch, batch_timeout=0.005 if args.batch > 1 else 0.0, api_path="/predict")
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=2, healthcheck_path="/readyz")
    server.run(host="127.0.0.1", port=args.port, generate_client_file=False)


if __name__ == "__main__":
    main()
