"""A loaded version's drift counting: rows noted on the request path, binned and counted later."""

from __future__ import annotations

import logging

import bentoml
import numpy as np
from pydantic import ValidationError

from ...drift import Binning, Reference
from ...features import Preprocessor
from .. import metrics

logger = logging.getLogger(__name__)


class VersionDrift:
    """One loaded version's rows waiting to be binned."""

    def __init__(self, version: str, reference: Reference, binning: Binning) -> None:
        self.version = version
        self.reference = reference
        self.binning = binning
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []

    @classmethod
    def of(cls, model: bentoml.Model, preprocessor: Preprocessor) -> VersionDrift | None:
        """None for a version stored without a reference (trained before drift monitoring)."""
        stored = model.info.metadata.get("drift_reference")
        if stored is None:
            return None
        try:
            reference = Reference.model_validate(stored)
            binning = Binning.of(reference, preprocessor)
            fits = all(len(reference.shares[name]) == size for name, size in binning.sizes.items())
        except (ValidationError, KeyError):
            fits = False
        if not fits:  # an archive from another feature contract, or edited by hand
            logger.warning("%s: its stored drift reference does not fit this service; not monitored", model.tag)
            return None
        assert model.tag.version is not None
        return cls(model.tag.version, reference, binning)

    def note(self, matrix: np.ndarray, probabilities: np.ndarray) -> None:
        self._pending.append((matrix, probabilities))

    def take(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """On the event loop, so no row noted meanwhile is lost."""
        pending, self._pending = self._pending, []
        return pending

    def count(self, pending: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """Bin and count (blocking: in a worker thread)."""
        matrix = np.concatenate([m for m, _ in pending])
        probabilities = np.concatenate([p for _, p in pending])
        metrics.record_drift(self.version, self.binning.split(self.binning.counts(matrix, probabilities)))
