"""Build the Bento: bentofile.yaml plus the model to ship, pinned by its explicit version.

    python -m purchase.cli.build                      # the production version (else the newest)
    python -m purchase.cli.build --model TAG          # another version
    python -m purchase.cli.build --base-image IMAGE   # for `bentoml containerize` from a local base image

`bentoml serve <bento>` resolves `:latest` against whatever store it runs beside, so the Bento never
relies on it: the model goes in by version, and a Bento argument (`model`) tells the service which
one to serve, wherever the Bento runs. DEFAULT_MODEL in the environment still overrides it.

The Bento installs what requirements.txt pulls in, every distribution pinned at the version installed
here (the one the tests ran with), so an image built next month installs the same. XGBoost comes from
its CPU-only distribution (`xgboost-cpu`, the same `xgboost` module and version): the service predicts
on the CPU, and the default wheel's CUDA and NCCL libraries would make up most of the image.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import bentoml
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .. import store
from ..errors import InvalidInput, ModelNotFound, PurchaseError
from ..serving.startup import BUILDING

ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = ROOT / "build"
BENTO_REQUIREMENTS = BUILD_DIR / "requirements.txt"


CPU_BUILDS = {"xgboost": "xgboost-cpu"}
GPU_ONLY = frozenset({"nvidia-nccl-cu12"})  # what xgboost needs and xgboost-cpu does not


def installed_closure(requirements: Iterable[Requirement]) -> tuple[dict[str, str], set[str]]:
    """Every distribution the requirements pull in on this machine (with the extras asked for), mapped to
    the version installed here, GPU_ONLY ones left out; and the requirements met on the way whose
    markers hold elsewhere only (another platform, an older Python: the image's may be one)."""
    pending = list(requirements)
    versions: dict[str, str] = {}
    elsewhere: set[str] = set()
    walked: set[tuple[str, frozenset[str]]] = set()
    while pending:
        requirement = pending.pop()
        name, extras = canonicalize_name(requirement.name), frozenset(requirement.extras)
        if name in GPU_ONLY or (name, extras) in walked:
            continue
        walked.add((name, extras))
        versions[name] = importlib.metadata.version(name)
        for line in importlib.metadata.requires(name) or []:
            dependency = Requirement(line)
            marker = dependency.marker
            if marker is None or any(marker.evaluate({"extra": extra}) for extra in (*extras, "")):
                pending.append(dependency)
            elif "extra" not in str(marker):
                elsewhere.add(line)
    return versions, elsewhere


def serving_requirements(requirements: str) -> str:
    """The Bento's requirements.txt: `requirements` and all they pull in, pinned as installed here, with
    XGBoost's CPU-only build; what applies elsewhere only keeps its range and marker, for the installer
    in the image to decide. A pin the environment does not match is refused (run `make install`)."""
    lines = (line.split("#")[0].strip() for line in requirements.splitlines())
    direct = [Requirement(line) for line in lines if line]
    if "xgboost" not in {canonicalize_name(r.name) for r in direct}:
        raise InvalidInput("requirements.txt must require xgboost")
    versions, elsewhere = installed_closure(direct)
    for requirement in direct:
        installed = versions[canonicalize_name(requirement.name)]
        if not requirement.specifier.contains(installed, prereleases=True):
            raise InvalidInput(f"requirements.txt asks {requirement}, this environment has {installed}: make install")
    pins = sorted(f"{CPU_BUILDS.get(name, name)}=={version}" for name, version in versions.items())
    conditional = sorted(line for line in elsewhere if canonicalize_name(Requirement(line).name) not in versions)
    header = "# written by purchase.cli.build: requirements.txt and all it pulls in, as installed here"
    return "\n".join([header, *pins, *conditional]) + "\n"


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
    try:
        tag = build(args.model, args.base_image).tag
    except PurchaseError as exc:
        raise SystemExit(f"error: {exc.detail}") from None
    print(tag)  # alone on stdout, for scripts (deploy/image.sh); the hints for people on stderr
    print(f"\nserve it:        bentoml serve {tag} --port 8000", file=sys.stderr)
    print(
        f"containerize it: bentoml containerize {tag}   (no Docker daemon: make image, with buildah)", file=sys.stderr
    )


if __name__ == "__main__":
    main()
