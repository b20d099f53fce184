"""Start-up checks: which port `bentoml serve` binds, and which command is running."""

from __future__ import annotations

import pytest

from purchase.serving import startup


@pytest.mark.parametrize(
    ("argv", "port"),
    [
        (["bentoml", "serve", "service:PurchasePrediction"], 8000),
        (["bentoml", "serve", "service:PurchasePrediction", "--port", "9001"], 9001),
        (["bentoml", "serve", "service:PurchasePrediction", "-p", "9002", "--host", "0.0.0.0"], 9002),
        (["bentoml", "serve", "service:PurchasePrediction", "--port=9003"], 9003),
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
