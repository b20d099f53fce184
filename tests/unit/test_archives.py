"""Model archives: a refused archive leaves no trace in the store, labels inside are not trusted, and
an archive is bounded from its headers before anything is unpacked."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest

from purchase import archives, store
from purchase.errors import InvalidModel
from tests.crafted import archive, promoted_from_the_future, unchanged
from tests.helpers import Trained

MiB = 2**20
LIMITS = (64 * MiB, 64)


def tags() -> set[str]:
    return {str(m.tag) for m in store.versions()}


def wrong_metadata(**preprocessor: Any) -> Any:
    def edit(info: dict[str, Any]) -> None:
        info["metadata"]["preprocessor"] = preprocessor.get(
            "whole", {**info["metadata"]["preprocessor"], **preprocessor}
        )
        info["metadata"].update(preprocessor.get("metadata", {}))

    return edit


@pytest.mark.parametrize(
    ("case", "edit", "message"),
    [
        ("categories5", wrong_metadata(categories=5), "feature contract"),
        ("listpre", wrong_metadata(whole=[1, 2]), "feature contract"),
        ("reordered", wrong_metadata(feature_names=["item_price"]), "feature contract"),
        ("sklearn", lambda info: info.update(module="bentoml.sklearn"), "not an XGBoost"),
        ("othername", lambda info: info.update(name="other_model"), "not an XGBoost"),
    ],
)
def test_a_refused_archive_leaves_the_store_as_it_was(
    tmp_path: Path, v1: Trained, case: str, edit: Any, message: str
) -> None:
    before, production = tags(), store.production_tag()
    path = archive(v1, tmp_path, f"xgboost_refused_{case}", lambda info: (promoted_from_the_future(info), edit(info)))
    with pytest.raises(InvalidModel) as info:
        archives.import_archive(path, *LIMITS)
    assert message in info.value.detail and info.value.status_code == 400
    assert (tags(), store.production_tag()) == (before, production)


def test_an_imported_version_is_a_candidate_whatever_its_labels_say(tmp_path: Path, v1: Trained) -> None:
    production = store.production_tag()
    model = archives.import_archive(archive(v1, tmp_path, "xgboost_from_the_future", promoted_from_the_future), *LIMITS)
    assert str(model.tag) == "purchase_model:xgboost_from_the_future"
    assert store.stage(model) == store.CANDIDATE and "promoted_at" not in model.info.labels
    assert store.production_tag() == production
    booster, _ = store.load(model)
    assert booster.num_features() == v1.result.booster.num_features()
    again = archives.import_archive(archive(v1, tmp_path / "again", "xgboost_from_the_future", unchanged), *LIMITS)
    assert again.tag == model.tag  # already there: found, not imported twice


def add_file(name: str, size: int) -> Any:
    def extra(tar: tarfile.TarFile) -> None:
        member = tarfile.TarInfo(name)
        member.size = size
        tar.addfile(member, io.BytesIO(bytes(size)))

    return extra


def test_archives_are_bounded_from_their_headers(tmp_path: Path, v1: Trained) -> None:
    before = tags()
    big = archive(v1, tmp_path / "big", "xgboost_big", unchanged, add_file("padding", 3 * MiB))
    with pytest.raises(InvalidModel, match="MAX_ARCHIVE_BYTES"):
        archives.import_archive(big, 2 * MiB, 64)

    def many(tar: tarfile.TarFile) -> None:
        for i in range(20):
            add_file(f"f{i}", 1)(tar)

    crowded = archive(v1, tmp_path / "many", "xgboost_many", unchanged, many)
    with pytest.raises(InvalidModel, match="MAX_ARCHIVE_MEMBERS"):
        archives.import_archive(crowded, 64 * MiB, 10)

    def link(tar: tarfile.TarFile) -> None:
        member = tarfile.TarInfo("escape")
        member.type, member.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(member)

    with pytest.raises(InvalidModel, match="links or special files"):
        archives.import_archive(archive(v1, tmp_path / "link", "xgboost_link", unchanged, link), *LIMITS)
    assert tags() == before


@pytest.mark.parametrize("content", [b"", b"\x00not an archive" * 100, b"\xfd7zXZ\x00\x00truncated"])
def test_files_that_are_not_archives_are_invalid_models(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.bentomodel"
    path.write_bytes(content)
    with pytest.raises(InvalidModel, match="Not a valid model archive"):
        archives.import_archive(path, *LIMITS)
