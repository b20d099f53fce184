"""Model store operations on BentoML's store: versioned tags, stages kept as model labels, archives."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import bentoml
import xgboost as xgb
from bentoml.exceptions import BentoMLException, NotFound

from .errors import InvalidInput, InvalidModel, ModelNotFound
from .features import Preprocessor

MODEL_NAME = "purchase_model"
FRAMEWORK = "xgboost"
XGBOOST_MODULES = frozenset({"bentoml.xgboost", "_bentoml_impl.frameworks.xgboost"})
PRODUCTION, CANDIDATE, ARCHIVED = "production", "candidate", "archived"


def home() -> Path:
    """BentoML's home (BENTOML_HOME, by default ~/bentoml): the store, and each server's own files."""
    from bentoml._internal.configuration.containers import BentoMLContainer

    return Path(BentoMLContainer.bentoml_home.get())


def location() -> str:
    """Where the model store is (BENTOML_HOME/models)."""
    from bentoml._internal.configuration.containers import BentoMLContainer

    return str(BentoMLContainer.model_store_dir.get())


def new_version() -> str:
    """The spec's model_version, `xgboost_<UTC yyyymmdd_HHMMSS>`; waits out a clash within one second."""
    while True:
        version = f"{FRAMEWORK}_{datetime.now(UTC):%Y%m%d_%H%M%S}"
        if not exists(f"{MODEL_NAME}:{version}"):
            return version
        time.sleep(0.2)


def exists(tag: str) -> bool:
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
    """Exactly this version, or `latest` (the newest) or `production` (the registry's): BentoML alone
    would also take a unique prefix of one."""
    if ":" not in tag:
        tag = f"{MODEL_NAME}:{tag}"
    if tag == f"{MODEL_NAME}:production":
        production = production_tag()
        if production is None:
            raise ModelNotFound("No production version: promote one (make promote TAG=...)")
        tag = production
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


def stored_segments(model: bentoml.Model) -> dict[str, Any]:
    """Test-split quality per segment and overall (`training.evaluate.segment_quality`); {} for a version
    trained before segments were measured."""
    return cast(dict[str, Any], model.info.metadata.get("segments", {}))


def stage(model: bentoml.Model) -> str:
    return model.info.labels.get("stage", CANDIDATE)


def current_stage(model: bentoml.Model) -> str:
    """The stage as the store has it now (a model may be promoted or deleted while it serves)."""
    try:
        return stage(get(str(model.tag)))
    except ModelNotFound:
        return "deleted"


Fingerprint = tuple[tuple[str, tuple[int, ...]], ...]


def fingerprint(*names: str) -> Fingerprint:
    """A few stats per version that change whenever the store does (a version saved or deleted, a stage
    change rewriting model.yaml, and the files `names` of each version folder): reading the store again
    parses every version's metadata, so pollers read it only when this changes."""
    root = Path(location()) / MODEL_NAME
    if not root.is_dir():
        return ()
    return tuple(
        (folder.name, tuple(part for name in ("model.yaml", *names) for part in _stamp(folder / name)))
        for folder in sorted(root.iterdir())
        if folder.is_dir()
    )


def _stamp(path: Path) -> tuple[int, ...]:
    try:
        stat = path.stat()
    except OSError:
        return ()
    return stat.st_mtime_ns, stat.st_size, stat.st_ino  # the size alone tells the stages apart


def production_tag() -> str | None:
    production = [m for m in versions() if stage(m) == PRODUCTION]
    return str(production[-1].tag) if production else None


def default_models(tag: str | None) -> list[bentoml.Model]:
    """The models to serve at start, in order of preference: `tag` alone if given, else the production
    versions newest first, else every version newest first."""
    if tag:
        return [get(tag)]
    all_versions = versions()
    return list(reversed([m for m in all_versions if stage(m) == PRODUCTION] or all_versions))


def default_model(tag: str | None) -> bentoml.Model | None:
    """The first choice of `default_models`, for packaging and tools."""
    return next(iter(default_models(tag)), None)


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


def load(model: bentoml.Model) -> tuple[xgb.Booster, Preprocessor]:
    """The booster and its preprocessor; InvalidModel when this service cannot serve them."""
    if model.tag.name != MODEL_NAME or model.info.module not in XGBOOST_MODULES:
        raise InvalidModel(f"{model.tag} is not an XGBoost {MODEL_NAME} (module {model.info.module})")
    try:
        preprocessor = Preprocessor.from_dict(model.info.metadata["preprocessor"])
    except (KeyError, ValueError) as exc:  # ValueError: pydantic's ValidationError too
        raise InvalidModel(f"{model.tag} has no preprocessor matching this service's feature contract") from exc
    try:
        booster = bentoml.xgboost.load_model(model)
    except (xgb.core.XGBoostError, BentoMLException, OSError) as exc:  # messages carry file paths: not shown
        raise InvalidModel(f"{model.tag} cannot be served: its model file is unreadable") from exc
    if not isinstance(booster, xgb.Booster) or booster.num_features() != preprocessor.num_features:
        raise InvalidModel(f"{model.tag} expects a different feature contract than this service")
    return booster, preprocessor
