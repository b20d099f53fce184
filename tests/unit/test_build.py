"""The Bento's requirements: all that requirements.txt pulls in, pinned as tested, XGBoost's CPU-only build."""

from __future__ import annotations

import importlib.metadata

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from purchase.cli import build
from purchase.cli.build import ROOT, installed_closure, serving_requirements
from purchase.errors import InvalidInput


def pins_of(text: str) -> dict[str, str]:
    """Lines `name==version` (no marker), by canonical name."""
    requirements = [Requirement(line) for line in text.splitlines() if line and not line.startswith("#")]
    return {
        canonicalize_name(r.name): str(r.specifier)[2:]
        for r in requirements
        if r.marker is None and str(r.specifier).startswith("==")
    }


@pytest.fixture(scope="module")
def bento_lines() -> list[str]:
    text = serving_requirements((ROOT / "requirements.txt").read_text())
    return [line for line in text.splitlines() if not line.startswith("#")]


def test_every_distribution_is_pinned_at_the_tested_version(bento_lines: list[str]) -> None:
    pins = pins_of("\n".join(bento_lines))
    tested = pins_of((ROOT / "constraints.txt").read_text())
    project = pins_of((ROOT / "requirements.txt").read_text())
    assert pins.pop("xgboost-cpu") == project.pop("xgboost")
    assert "xgboost" not in pins and not [name for name in pins if name.startswith("nvidia-nccl")]
    assert project.items() <= pins.items()
    assert {name: tested.get(name) for name in pins} == pins
    # Closed: every requirement of a pinned distribution that holds here is pinned too.
    for name in pins:
        for line in importlib.metadata.requires(name) or []:
            dependency = Requirement(line)
            if dependency.marker is None or dependency.marker.evaluate({"extra": ""}):
                assert canonicalize_name(dependency.name) in pins, (name, line)


def test_what_holds_elsewhere_keeps_its_marker_for_the_image_to_decide(bento_lines: list[str]) -> None:
    conditional = [Requirement(line) for line in bento_lines if ";" in line]
    assert conditional and all(r.marker and not r.marker.evaluate({"extra": ""}) for r in conditional)
    # redis needs async-timeout below Python 3.11.3: Debian bookworm's Python, the image's, is 3.11.2.
    assert any(line.startswith("async-timeout") for line in bento_lines)


def test_extras_asked_for_are_walked_and_others_are_not() -> None:
    plain, _ = installed_closure([Requirement("xgboost")])
    with_pandas, _ = installed_closure([Requirement("xgboost[pandas]")])
    assert "pandas" not in plain and "pandas" in with_pandas


@pytest.mark.parametrize(
    ("text", "named"),
    [("bentoml==1.4.40\n", "must require xgboost"), ("xgboost==0.1  # old\n", "xgboost==0.1, this environment has")],
)
def test_requirements_without_xgboost_or_unlike_this_environment_are_refused(text: str, named: str) -> None:
    with pytest.raises(InvalidInput, match=named):
        serving_requirements(text)


def test_an_unknown_model_is_one_line() -> None:
    with pytest.raises(SystemExit) as exited:
        build.main(["--model", "purchase_model:nope"])
    assert str(exited.value) == "error: Model not found: purchase_model:nope"
