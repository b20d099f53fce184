"""Build the Bento: bentofile.yaml plus the model to ship, pinned by its explicit version.

    python -m purchase.cli.build                      # the production version (else the newest)
    python -m purchase.cli.build --model TAG          # another version
    python -m purchase.cli.build --base-image IMAGE   # for `bentoml containerize` from a local base image

`bentoml serve <bento>` resolves `:latest` against whatever store it runs beside, so the Bento never
relies on it: the model goes in by version, and a Bento argument (`model`) tells the service which
one to serve, wherever the Bento runs. DEFAULT_MODEL in the environment still overrides it.

The Bento installs requirements.txt with XGBoost's CPU-only distribution (`xgboost-cpu`, the same
`xgboost` module and version): the service predicts on the CPU, and the default wheel's CUDA and
NCCL libraries would make up most of the image.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any

import bentoml
import yaml

from .. import store
from ..errors import ModelNotFound
from ..serving.startup import BUILDING

ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = ROOT / "build"
BENTO_REQUIREMENTS = BUILD_DIR / "requirements.txt"


def serving_requirements(requirements: str) -> str:
    """requirements.txt as the Bento installs it: `xgboost==V` becomes `xgboost-cpu==V`."""
    cpu, count = re.subn(r"^xgboost==", "xgboost-cpu==", requirements, flags=re.MULTILINE)
    if count != 1:
        raise ValueError("requirements.txt must pin xgboost once (xgboost==VERSION)")
    return cpu


def bentofile_for(model_tag: str, base_image: str | None = None) -> dict[str, Any]:
    config = yaml.safe_load((ROOT / "bentofile.yaml").read_text())
    config["models"] = [model_tag]
    config["labels"] = {**config.get("labels", {}), "model": model_tag.replace(":", "_")}
    config["python"] = {**config["python"], "requirements_txt": str(BENTO_REQUIREMENTS.relative_to(ROOT))}
    if base_image:
        # Debian's own Python refuses pip installs outside a venv (PEP 668) unless told otherwise.
        config["docker"] = {**config.get("docker", {}), "base_image": base_image}
        config["envs"] = [*config.get("envs", []), {"name": "PIP_BREAK_SYSTEM_PACKAGES", "value": "1"}]
    return config


def build(model_tag: str | None = None, base_image: str | None = None) -> bentoml.Bento:
    model = store.get(model_tag) if model_tag else store.default_model(None)
    if model is None:
        raise ModelNotFound(f"the model store holds no {store.MODEL_NAME} to package")
    BUILD_DIR.mkdir(exist_ok=True)
    BENTO_REQUIREMENTS.write_text(serving_requirements((ROOT / "requirements.txt").read_text()))
    bentofile = BUILD_DIR / "bentofile.yaml"
    bentofile.write_text(yaml.safe_dump(bentofile_for(str(model.tag), base_image), sort_keys=False))
    # A Bento argument, not an env entry: those reach only containers, arguments every `bentoml serve <bento>`.
    os.environ[BUILDING] = "1"  # the service then reads its settings without .env
    try:
        return bentoml.bentos.build_bentofile(str(bentofile), build_ctx=str(ROOT), args={"model": str(model.tag)})
    finally:
        del os.environ[BUILDING]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m purchase.cli.build", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", help="model tag to ship (default: the production version, else the newest)")
    parser.add_argument("--base-image", help="base image for `bentoml containerize`")
    args = parser.parse_args(argv)
    tag = build(args.model, args.base_image).tag
    print(tag)  # alone on stdout, for scripts (deploy/image.sh); the hints for people on stderr
    print(f"\nserve it:        bentoml serve {tag} --port 8000", file=sys.stderr)
    print(
        f"containerize it: bentoml containerize {tag}   (no Docker daemon: make image, with buildah)", file=sys.stderr
    )


if __name__ == "__main__":
    main()
