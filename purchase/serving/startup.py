"""Checks a command makes before it starts: `bentoml build` without a model, a port already taken.
Each failure is one line naming what to change, not a traceback."""

from __future__ import annotations

import errno
import os
import socket
import sys
from pathlib import Path

BUILD_WITHOUT_MODEL = (
    "error: a Bento needs its model pinned: run `make build` (python -m purchase.cli.build), "
    "or `bentoml build --arg model=purchase_model:<version>`"
)


def bentoml_command() -> str | None:
    """`serve`, `build`, ... when this process is BentoML's command line, else None."""
    if Path(sys.argv[0]).name != "bentoml" or len(sys.argv) < 2:
        return None
    return sys.argv[1]


BUILDING = "PURCHASE_BUILDING"  # set by purchase.cli.build around BentoML's build, which runs in its process


def building() -> bool:
    """While a Bento is being built, by `bentoml build` or by `make build`."""
    return bentoml_command() == "build" or os.environ.get(BUILDING) == "1"


def refuse_a_bento_without_model(packaged_model: str | None) -> None:
    if building() and packaged_model is None:
        raise SystemExit(BUILD_WITHOUT_MODEL)


def served_port(default: int) -> int:
    """The port `bentoml serve` binds: its --port/-p, else API_PORT."""
    argv = sys.argv
    for i, arg in enumerate(argv):
        if arg in ("--port", "-p") and i + 1 < len(argv) and argv[i + 1].isdigit():
            return int(argv[i + 1])
        if arg.startswith("--port=") and arg[7:].isdigit():
            return int(arg[7:])
    return default


def refuse_a_taken_port(host: str, default_port: int) -> None:
    """In `bentoml serve` itself (not its workers): one line when the port is taken."""
    if bentoml_command() != "serve":
        return
    port = served_port(default_port)
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise SystemExit(
                    f"error: port {port} is already in use: stop what holds it, or choose another "
                    f"(API_PORT={port} in the environment or .env, or --port)"
                ) from None
            raise
