"""The Bento's requirements: the project's, with XGBoost's CPU-only distribution at the same version."""

from __future__ import annotations

import pytest

from purchase.cli.build import ROOT, serving_requirements


def test_the_bento_installs_the_cpu_only_xgboost_and_the_rest_unchanged() -> None:
    project = (ROOT / "requirements.txt").read_text().splitlines()
    bento = serving_requirements("\n".join(project)).splitlines()
    (pin,) = [line for line in project if line.startswith("xgboost==")]
    changed = [(a, b) for a, b in zip(project, bento, strict=True) if a != b]
    assert changed == [(pin, pin.replace("xgboost==", "xgboost-cpu==", 1))]


@pytest.mark.parametrize("text", ["bentoml==1.4.40\n", "xgboost>=3\n", "xgboost==3.2.0\nxgboost==3.2.0\n"])
def test_requirements_without_one_xgboost_pin_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="xgboost==VERSION"):
        serving_requirements(text)
