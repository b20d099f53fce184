"""The test-split evidence a version's report is drawn from: labels, each model's scores and global
feature importance. Kept in the store with the model, so the report can be drawn again without the
event log (or the synthetic generator's oracle) it came from."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xgboost as xgb

from ..explanations import contributions, mean_absolute
from ..features import Preprocessor

# Exact contributions (TreeSHAP) cost far more than a prediction: importance is measured on at most
# this many test rows, drawn without replacement with the training seed (the same rows every run).
IMPORTANCE_ROWS = 5000
_SCORE = "score:"  # key prefix of each model's scores in the .npz file


@dataclass(frozen=True)
class Evaluation:
    labels: np.ndarray  # (rows,) 0/1, the test split
    scores: dict[str, np.ndarray]  # "xgboost", "logistic_regression", "oracle" (synthetic data) → probabilities
    importance: dict[str, float]  # feature → mean |contribution| in log-odds, largest first
    importance_rows: int  # the test rows importance was measured on
    segments: np.ndarray | None = None  # (rows,) each row's index in `segments.SEGMENTS`; None in older files
    weights: np.ndarray | None = None  # (rows,) the rows' segment weights

    def save(self, path: Path) -> None:
        """Written to a scratch name and renamed: a reader never finds half a file."""
        scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with scratch.open("wb") as out:
            arrays: dict[str, np.ndarray] = {
                "labels": self.labels,
                "importance_names": np.array(list(self.importance), dtype=str),
                "importance_values": np.array(list(self.importance.values()), dtype=np.float64),
                "importance_rows": np.array(self.importance_rows),
                **({} if self.segments is None else {"segments": self.segments}),
                **({} if self.weights is None else {"weights": self.weights}),
                **{f"{_SCORE}{name}": values for name, values in self.scores.items()},
            }
            np.savez_compressed(out, allow_pickle=False, **arrays)
        os.replace(scratch, path)

    @classmethod
    def load(cls, path: Path) -> Evaluation:
        """FileNotFoundError when absent; ValueError, KeyError or OSError when not an evaluation file."""
        with np.load(path, allow_pickle=False) as stored:
            names = [str(name) for name in stored["importance_names"]]
            return cls(
                labels=stored["labels"],
                scores={key.removeprefix(_SCORE): stored[key] for key in stored.files if key.startswith(_SCORE)},
                importance=dict(zip(names, (float(v) for v in stored["importance_values"]), strict=True)),
                importance_rows=int(stored["importance_rows"]),
                segments=stored["segments"] if "segments" in stored.files else None,
                weights=stored["weights"] if "weights" in stored.files else None,
            )


def importance_sample(rows: int, seed: int) -> np.ndarray:
    """Indices of the rows importance is measured on: all of them, or IMPORTANCE_ROWS drawn with `seed`."""
    if rows <= IMPORTANCE_ROWS:
        return np.arange(rows)
    return np.sort(np.random.default_rng(seed).choice(rows, size=IMPORTANCE_ROWS, replace=False))


def measure(
    labels: np.ndarray,
    scores: dict[str, np.ndarray],
    booster: xgb.Booster,
    preprocessor: Preprocessor,
    matrix: np.ndarray,
    seed: int,
    segments: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> Evaluation:
    """The test split's evidence; importance with the exact method, the one `/explain` defaults to."""
    rows = importance_sample(len(matrix), seed)
    importance = mean_absolute(contributions(booster, preprocessor, matrix[rows], method="exact"))
    return Evaluation(
        labels=np.asarray(labels),
        scores={name: np.asarray(values, dtype=np.float64) for name, values in scores.items()},
        importance=importance,
        importance_rows=len(rows),
        segments=None if segments is None else np.asarray(segments, dtype=np.int8),
        weights=None if weights is None else np.asarray(weights, dtype=np.float64),
    )
