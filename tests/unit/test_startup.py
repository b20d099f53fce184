"""Start-up checks: which port `bentoml serve` binds, and which command is running."""

from __future__ import annotations

import socket

import pytest

from purchase.serving import startup


@pytest.mark.parametrize(
    ("argv", "port"),
    [
        (["bentoml", "serve", "service:PurchasePrediction"], 8000),
        (["bentoml", "serve", "service:PurchasePrediction", "--port", "9001"], 9001),
        (["bentoml", "serve", "service:PurchasePrediction", "-p", "9002", "--host", "0.0.0.0"], 9002),
        (["bentoml", "serve", "service:PurchasePrediction", "--port=9003"], 9003),
        (["bentoml", "serve", "service:PurchasePrediction", "--port=8"], 8),
    ],
)
def test_the_served_port_is_the_flag_s_else_the_setting_s(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], port: int
) -> None:
    monkeypatch.setattr("sys.argv", argv)
    assert startup.served_port(8000) == port


def test_only_bentoml_s_own_command_line_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.argv", ["/venv/bin/bentoml", "build"])
    assert startup.bentoml_command() == "build"
    with pytest.raises(SystemExit, match="make build"):
        startup.refuse_a_bento_without_model(None)
    startup.refuse_a_bento_without_model("purchase_model:v1")  # pinned: goes on
    monkeypatch.setattr("sys.argv", ["python", "-m", "purchase.cli.build"])
    assert startup.bentoml_command() is None
    startup.refuse_a_bento_without_model(None)  # `make build` pins the model itself


@pytest.mark.parametrize(
    "argv",
    [
        ["bentoml", "serve", "service:PurchasePrediction", "--workers", "3"],  # another flag's number
        ["bentoml", "serve", "service:PurchasePrediction", "--port"],  # a flag without its value
        ["bentoml", "serve", "1234567890"],  # a number that is no flag's
        ["bentoml", "serve", "service:PurchasePrediction", "--port=x"],
    ],
)
def test_only_the_port_flag_names_the_port(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> None:
    monkeypatch.setattr("sys.argv", argv)
    assert startup.served_port(8000) == 8000


def test_a_taken_port_stops_bentoml_serve_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        monkeypatch.setattr("sys.argv", ["bentoml", "serve", "service:PurchasePrediction", "--port", str(port)])
        with pytest.raises(SystemExit) as stopped:
            startup.refuse_a_taken_port("127.0.0.1", 8000)
        assert str(stopped.value) == (
            f"error: port {port} is already in use: stop what holds it, or choose another "
            f"(API_PORT={port} in the environment or .env, or --port)"
        )
        monkeypatch.setattr("sys.argv", ["bentoml", "serve", "service:PurchasePrediction"])
        with pytest.raises(SystemExit, match=f"port {port} is already in use"):
            startup.refuse_a_taken_port("127.0.0.1", port)  # API_PORT's port, without --port
        monkeypatch.setattr("sys.argv", ["bentoml", "build"])
        startup.refuse_a_taken_port("127.0.0.1", port)  # only `serve` binds
    monkeypatch.setattr("sys.argv", ["bentoml", "serve", "service:PurchasePrediction", "--port", str(port)])
    startup.refuse_a_taken_port("0.0.0.0", 8000)  # free again: goes on
