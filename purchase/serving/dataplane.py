"""Every protocol's one way from a request to scores (MLServer's handlers/dataplane.py): the features a
request leaves out are completed from the online store, then the scorer routes and scores the rows.
/predict, BentoML's client, the /v2 infer routes, /features and /explain all come through here."""

from __future__ import annotations

from ..errors import FeaturesOff
from ..online.filling import FeatureFiller, Source
from ..schemas import PredictRequest, StorePredictRequest
from .models.scoring import Scored, Scorer
from .monitoring.outcomes import OutcomeMonitor


class DataPlane:
    def __init__(self, scorer: Scorer, filler: FeatureFiller | None, outcomes: OutcomeMonitor) -> None:
        self.scorer = scorer
        self.filler = filler
        self.outcomes = outcomes
        # With the online store /predict needs only the ids (and takes as_of); without, the spec's contract.
        self.request_type: type[PredictRequest] | type[StorePredictRequest] = (
            StorePredictRequest if filler is not None else PredictRequest
        )

    async def complete(self, request: StorePredictRequest) -> tuple[PredictRequest, Source]:
        """`request`'s rows with every feature, those left out from the store as of `as_of`."""
        if self.filler is None:
            raise FeaturesOff()
        return await self.filler.complete(request)

    async def predict(
        self, request: PredictRequest | StorePredictRequest, version: str | None = None
    ) -> tuple[PredictRequest, Scored, Source | None]:
        """Scored as the fleet's routing says, or by `version` alone; the complete request, and where its
        features came from (None: the request gave them all, as the spec's contract requires). The judged
        users' rows are noted for their outcomes."""
        source, as_of = None, None
        if isinstance(request, StorePredictRequest):
            as_of = request.as_of
            request, source = await self.complete(request)
        scored = await self.scorer.predict(request, version)
        self.outcomes.note(scored, as_of)
        return request, scored, source
