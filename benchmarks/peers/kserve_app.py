"""KServe 0.21's Python model server doing peer_model's work: one `kserve.Model` on its v1 protocol
(POST /v1/models/purchase:predict takes the spec's JSON body), 2 uvicorn workers. Run by
benchmarks/peers.py as `python benchmarks/peers/kserve_app.py --http_port PORT --workers 2`."""

from __future__ import annotations

from typing import Any

import kserve
from kserve.errors import InvalidInput
from peer_model import BadRequest, PeerModel


class Purchase(kserve.Model):
    def __init__(self) -> None:
        super().__init__("purchase")
        self.model = PeerModel()
        self.ready = True

    def predict(self, payload: Any, headers: Any = None, response_headers: Any = None) -> Any:
        try:
            return self.model.answer(payload)
        except BadRequest as exc:
            raise InvalidInput(str(exc)) from exc


if __name__ == "__main__":
    kserve.ModelServer().start([Purchase()])  # its flags (--http_port, --workers) from the command line
