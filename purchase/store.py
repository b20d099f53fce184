"""Model store operations on BentoML's store: versioned tags, stages kept as model labels, archives."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import bentoml
import xgboost as xgb
from bentoml.exceptions import BentoMLException, NotFound

from .errors import InvalidInput, InvalidModel, ModelNotFound, OutsideModelDir
from .features import Preprocessor

MODEL_NAME = "purchase_model"
FRAMEWORK = "xgboost"
XGBOOST_MODULES = frozenset({"bentoml.xgboost", "_bentoml_impl.frameworks.xgboost"})
PRODUCTION, CANDIDATE, ARCHIVED = "production", "candidate", "archived"


def new_version() -> str:
    """The spec's model_version, `xgboost_<UTC yyyymmdd_HHMMSS>`; waits out a clash within one second."""
    while True:
        version = f"{FRAMEWORK}_{datetime.now(UTC):%Y%m%d_%H%M%S}"
        if not _exists(f"{MODEL_NAME}:{version}"):
            return version
        time.sleep(0.2)


def _exists(tag: str) -> bool:
    try:
        bentoml.models.get(tag)
    except NotFound:
        return False
    return True


def save(booster: xgb.Booster, preprocessor: Preprocessor, metadata: dict[str, Any], promote: bool) -> bentoml.Model:
    model = bentoml.xgboost.save_model(
        f"{MODEL_NAME}:{new_version()}",
        booster,
        labels={"stage": CANDIDATE, "framework": FRAMEWORK},
        metadata={**metadata, "preprocessor": preprocessor.to_dict()},
    )
    return set_production(str(model.tag)) if promote else model


def get(tag: str) -> bentoml.Model:
    """Exactly this version (or `latest`): BentoML alone would also take a unique prefix of one."""
    if ":" not in tag:
        tag = f"{MODEL_NAME}:{tag}"
    try:
        wanted = bentoml.Tag.from_taglike(tag)
    except (ValueError, BentoMLException) as exc:
        raise InvalidInput(f"Not a valid model tag: {tag}") from exc
    try:
        model = bentoml.models.get(wanted)
    except BentoMLException as exc:  # NotFound, or a prefix of several versions
        raise ModelNotFound(f"Model not found: {tag}") from exc
    if model.tag != wanted:
        raise ModelNotFound(f"Model not found: {tag}")
    return model


def versions() -> list[bentoml.Model]:
    """All versions, oldest first."""
    try:
        found = bentoml.models.list(MODEL_NAME)
    except NotFound:  # BentoML's answer for "none yet"
        return []
    return sorted(found, key=lambda m: m.info.creation_time)


def stored_metrics(model: bentoml.Model) -> dict[str, dict[str, float]]:
    """Test-split metrics per model (xgboost, logistic_regression, oracle), as training stored them."""
    return cast(dict[str, dict[str, float]], model.info.metadata.get("metrics", {}))


def stage(model: bentoml.Model) -> str:
    return model.info.labels.get("stage", CANDIDATE)


def current_stage(model: bentoml.Model) -> str:
    """The stage as the store has it now (a model may be promoted or deleted while it serves)."""
    try:
        return stage(get(str(model.tag)))
    except ModelNotFound:
        return "deleted"


def production_tag() -> str | None:
    production = [m for m in versions() if stage(m) == PRODUCTION]
    return str(production[-1].tag) if production else None


def default_model(tag: str | None) -> bentoml.Model | None:
    """The model to serve at start: `tag` if given, else the newest production version, else the newest."""
    if tag:
        return get(tag)
    all_versions = versions()
    candidates = [m for m in all_versions if stage(m) == PRODUCTION] or all_versions
    return candidates[-1] if candidates else None


def set_production(tag: str) -> bentoml.Model:
    """Promote `tag`; the previous production version becomes archived (kept for rollback).
    The `promoted_at` label records each promotion, so rollback knows the order."""
    target = get(tag)
    for model in versions():
        if model.tag != target.tag and stage(model) == PRODUCTION:
            _set_labels(model, stage=ARCHIVED)
    _set_labels(target, stage=PRODUCTION, promoted_at=datetime.now(UTC).isoformat())
    return target


def rollback() -> bentoml.Model:
    """Promote again the version that was production before the current one."""
    current = production_tag()
    earlier = [m for m in versions() if "promoted_at" in m.info.labels and str(m.tag) != current]
    if not earlier:
        raise ModelNotFound("No earlier production version to roll back to")
    return set_production(str(max(earlier, key=lambda m: m.info.labels["promoted_at"]).tag))


def delete(tag: str) -> None:
    model = get(tag)
    if stage(model) == PRODUCTION:
        raise InvalidInput(f"{model.tag} is the production version: promote another one first")
    bentoml.models.delete(str(model.tag))


def _set_labels(model: bentoml.Model, **labels: str) -> None:
    model.info.labels.update(labels)
    model.flush()  # rewrites model.yaml in the store, where every process reads it


def export(tag: str, directory: Path) -> Path:
    model = get(tag)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{model.tag.name}-{model.tag.version}.bentomodel"
    bentoml.models.export_model(str(model.tag), str(path.resolve()))
    return path


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


def import_archive(path: Path) -> bentoml.Model:
    """Import an exported archive into the store (a no-op when that version is already there)."""
    try:
        found = path.is_file()
    except OSError as exc:  # a name the file system refuses
        raise ModelNotFound("Model file not found: not a usable file path") from exc
    if not found:
        raise ModelNotFound(f"Model file not found: {path.name}")
    try:
        archived = bentoml.Model.import_from(str(path))
    except Exception as exc:  # a truncated or foreign file fails in tar, yaml or attrs
        raise InvalidModel(f"Not a valid model archive: {path.name}") from exc
    if not _exists(str(archived.tag)):
        try:
            bentoml.models.import_model(str(path))
        except (BentoMLException, OSError) as exc:  # OSError: a read-only store (a Bento's own, in a container)
            if not _exists(str(archived.tag)):  # else a concurrent import of the same file won the race
                raise InvalidModel(f"Could not import {path.name} into the model store") from exc
    return bentoml.models.get(archived.tag)


def load(model: bentoml.Model) -> tuple[xgb.Booster, Preprocessor]:
    """The booster and its preprocessor; InvalidModel when this service cannot serve them."""
    if model.tag.name != MODEL_NAME or model.info.module not in XGBOOST_MODULES:
        raise InvalidModel(f"{model.tag} is not an XGBoost {MODEL_NAME} (module {model.info.module})")
    try:
        preprocessor = Preprocessor.from_dict(cast(dict[str, Any], model.info.metadata["preprocessor"]))
    except (KeyError, ValueError) as exc:
        raise InvalidModel(f"{model.tag} has no preprocessor matching this service's feature contract") from exc
    try:
        booster = bentoml.xgboost.load_model(model)
    except (xgb.core.XGBoostError, BentoMLException, OSError) as exc:  # messages carry file paths: not shown
        raise InvalidModel(f"{model.tag} cannot be served: its model file is unreadable") from exc
    if not isinstance(booster, xgb.Booster) or booster.num_features() != preprocessor.num_features:
        raise InvalidModel(f"{model.tag} expects a different feature contract than this service")
    return booster, preprocessor
