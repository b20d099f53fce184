"""The model store: tags resolved exactly, archive paths confined to MODEL_DIR."""

from __future__ import annotations

from pathlib import Path

import pytest

from purchase import archives, store
from purchase.errors import InvalidInput, ModelNotFound, OutsideModelDir
from tests.helpers import Trained, prefix_of_a_stored_version


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        ("a.bentomodel", "a.bentomodel"),
        ("models/a.bentomodel", "a.bentomodel"),
        ("sub/b.bentomodel", "sub/b.bentomodel"),
    ],
)
def test_archive_paths_resolve_inside_model_dir(tmp_path: Path, requested: str, expected: str) -> None:
    root = tmp_path / "models"
    assert archives.archive_path(root, requested) == root.resolve() / expected


@pytest.mark.parametrize("requested", ["../a.bentomodel", "/etc/a.bentomodel", "models/../../a.bentomodel"])
def test_archive_paths_outside_model_dir_are_refused(tmp_path: Path, requested: str) -> None:
    with pytest.raises(OutsideModelDir):
        archives.archive_path(tmp_path / "models", requested)


def test_archive_paths_must_name_an_exported_archive(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        archives.archive_path(tmp_path / "models", "a.pkl")


def test_a_tag_is_found_only_whole(v1: Trained) -> None:
    """BentoML alone would take a unique prefix of a version; the store refuses it as unknown (404)."""
    assert store.get(str(v1.model.tag)).tag == v1.model.tag
    assert store.get(v1.version).tag == v1.model.tag  # the model name may be left out
    for unknown in (
        f"{store.MODEL_NAME}:{prefix_of_a_stored_version(v1)}",
        f"{store.MODEL_NAME}:x",
        "xgboost_19990101_000000",
    ):
        with pytest.raises(ModelNotFound) as info:
            store.get(unknown)
        assert info.value.status_code == 404 and "not found" in info.value.detail
    with pytest.raises(InvalidInput):
        store.get("not a tag!")


def test_production_and_latest_are_aliases_of_versions(v1: Trained, v2: Trained) -> None:
    """So that examples can name a version without knowing one: v1 is the production version, v2 the newest."""
    production = store.production_tag()
    assert production is not None
    assert str(store.get("production").tag) == production == str(store.get(f"{store.MODEL_NAME}:production").tag)
    newest = store.versions()[-1].tag
    assert store.get("latest").tag == newest == store.get(f"{store.MODEL_NAME}:latest").tag
