"""Model versions and archives made by hand from a real one, as an attacker or a broken tool would."""

from __future__ import annotations

import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.helpers import Trained

Edit = Callable[[dict[str, Any]], None]


def copy_version(trained: Trained, folder: Path, version: str, edit: Edit) -> Path:
    """`trained`'s stored files under `folder/<version>`, with model.yaml edited by `edit`."""
    target = folder / version
    shutil.copytree(trained.model.path, target)
    info = yaml.safe_load((target / "model.yaml").read_text())
    info["version"] = version
    edit(info)
    (target / "model.yaml").write_text(yaml.safe_dump(info, sort_keys=False))
    return target


def archive(
    trained: Trained, folder: Path, version: str, edit: Edit, extra: Callable[[tarfile.TarFile], None] | None = None
) -> Path:
    """A `.bentomodel` (tar, xz) like `bentoml models export` writes, of an edited copy of `trained`."""
    source = copy_version(trained, folder / "src", version, edit)
    path = folder / f"purchase_model-{version}.bentomodel"
    with tarfile.open(path, "w:xz") as tar:
        tar.add(source, arcname=".")
        if extra is not None:
            extra(tar)
    return path


def promoted_from_the_future(info: dict[str, Any]) -> None:
    info["labels"] = {"stage": "production", "framework": "xgboost", "promoted_at": "2999-01-01T00:00:00+00:00"}
    info["creation_time"] = "2999-01-01T00:00:00+00:00"


def unchanged(info: dict[str, Any]) -> None:
    pass
