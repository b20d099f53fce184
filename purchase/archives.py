"""Model archives (`.bentomodel`, exported from a store): located inside MODEL_DIR, bounded from their
tar headers before anything is written, unpacked and checked in a scratch folder. Only a version this
service can serve reaches the store, and it arrives as a candidate whatever labels it carries."""

from __future__ import annotations

import lzma
import tarfile
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import bentoml
from bentoml.exceptions import BentoMLException

from . import store
from .errors import InvalidInput, InvalidModel, ModelNotFound, OutsideModelDir

UNREADABLE = (tarfile.TarError, EOFError, lzma.LZMAError, OSError, ValueError)


def archive_path(model_dir: Path, model_path: str) -> Path:
    """Resolve a requested archive. Relative paths are taken from MODEL_DIR, and may start with its
    folder name as in the spec's `models/<file>`; anything resolving outside MODEL_DIR is refused."""
    root = model_dir.resolve()
    requested = Path(model_path)
    if not requested.is_absolute():
        if len(requested.parts) > 1 and requested.parts[0] == root.name:
            requested = Path(*requested.parts[1:])
        requested = root / requested
    try:
        resolved = requested.resolve()
    except (OSError, ValueError) as exc:  # NUL bytes, names too long, loops: no such file can exist
        raise ModelNotFound("Model file not found: not a usable file path") from exc
    if not resolved.is_relative_to(root):
        raise OutsideModelDir("model_path: must point inside MODEL_DIR")
    if not resolved.name.endswith(".bentomodel"):
        raise InvalidInput("model_path: must be a .bentomodel archive exported from the model store")
    return resolved


def check_bounds(path: Path, max_bytes: int, max_members: int) -> None:
    """Read the tar headers only (streaming, nothing written) and refuse an archive that says it holds
    more than `max_members` entries or `max_bytes` unpacked, or anything but files and folders."""
    members = size = 0
    try:
        with tarfile.open(path, mode="r|*") as tar:
            for member in tar:
                members += 1
                size += member.size
                if members > max_members:
                    raise InvalidModel(f"{path.name} holds more than {max_members} files (MAX_ARCHIVE_MEMBERS)")
                if size > max_bytes:
                    raise InvalidModel(f"{path.name} unpacks to more than {max_bytes} bytes (MAX_ARCHIVE_BYTES)")
                if not (member.isfile() or member.isdir()):
                    raise InvalidModel(f"{path.name} holds links or special files: not a model archive")
    except UNREADABLE as exc:
        raise InvalidModel(f"Not a valid model archive: {path.name}") from exc


def import_archive(path: Path, max_bytes: int, max_members: int) -> bentoml.Model:
    """Add an exported archive to the store, or find it there already. Nothing reaches the store unless
    the version can be served; a refused or failed import leaves the store as it was."""
    try:
        found = path.is_file()
    except OSError as exc:  # a name the file system refuses
        raise ModelNotFound("Model file not found: not a usable file path") from exc
    if not found:
        raise ModelNotFound(f"Model file not found: {path.name}")
    check_bounds(path, max_bytes, max_members)
    with tempfile.TemporaryDirectory(prefix="purchase-archive-") as scratch:
        try:
            with tarfile.open(path) as tar:
                tar.extractall(scratch, filter="data")
            candidate = bentoml.Model.from_path(scratch)
        except (*UNREADABLE, BentoMLException) as exc:  # truncated, foreign, or without model.yaml
            raise InvalidModel(f"Not a valid model archive: {path.name}") from exc
        store.load(candidate)  # raises InvalidModel: another framework, another feature contract, unreadable
        if store.exists(str(candidate.tag)):
            return store.get(str(candidate.tag))
        # Labels inside an archive are not trusted: it becomes a candidate, promoted only here.
        candidate.info.labels.clear()
        candidate.info.labels.update(
            stage=store.CANDIDATE, framework=store.FRAMEWORK, imported_at=datetime.now(UTC).isoformat()
        )
        candidate.flush()
        try:
            candidate.save()
        except (BentoMLException, OSError) as exc:  # OSError: a read-only store (a Bento's own, in a container)
            if not store.exists(str(candidate.tag)):  # else a concurrent import of the same file won the race
                raise InvalidModel(f"Could not import {path.name} into the model store") from exc
    return store.get(str(candidate.tag))
