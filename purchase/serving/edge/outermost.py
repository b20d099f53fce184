"""Put an ASGI layer outside all of BentoML's own (metrics, tracing, timeout, CORS), which
`add_asgi_middleware` cannot: there it sits inside them. Outside, the edge answers unknown paths before
BentoML's metrics label them by raw path, and sees BentoML's own answers (the 504 of its timeout) to
put them in the spec's shape and log the status actually sent. BentoML builds each worker's app with
`Service.to_asgi`; this wraps what it returns, for one service only (checked against bentoml 1.4.40)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from _bentoml_sdk.service.factory import Service

Wrap = Callable[[Any], Any]


def wrap_outermost(service: Any, wrap: Wrap) -> None:
    original = Service.to_asgi

    def to_asgi(self: Any, is_main: bool = True) -> Any:
        app = original(self, is_main)
        return wrap(app) if self is service else app

    Service.to_asgi = to_asgi
