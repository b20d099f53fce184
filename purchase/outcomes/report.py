"""Matured predictions → GET /performance's figures: per version, per arm, per segment and per day."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import numpy as np

from ..segments import SEGMENTS
from .quality import compare, quality
from .records import Judged
from .schemas import ABVerdict, DayFigures, LiveFigures, VersionPerformance

DAY_S = 86_400.0


def _figures(labels: np.ndarray, probabilities: np.ndarray) -> LiveFigures:
    return LiveFigures(**quality(labels, probabilities))


def version_figures(
    matured: Sequence[tuple[Judged, int]], training: Mapping[str, dict[str, float]]
) -> list[VersionPerformance]:
    """One entry per version with matured predictions, newest first as the log orders them."""
    if not matured:
        return []
    versions = np.array([r.version for r, _ in matured])
    arms = np.array([r.arm for r, _ in matured])
    segments = np.array([r.segment for r, _ in matured])
    days = np.array([int(r.t // DAY_S) for r, _ in matured])
    y = np.array([label for _, label in matured], dtype=np.float64)
    p = np.array([r.probability for r, _ in matured])
    out = []
    for version in dict.fromkeys(versions.tolist()):
        mine = versions == version
        out.append(
            VersionPerformance(
                version=version,
                live=_figures(y[mine], p[mine]),
                arms={
                    arm: _figures(y[mine & (arms == arm)], p[mine & (arms == arm)]) for arm in sorted(set(arms[mine]))
                },
                segments={
                    s.value: _figures(y[mine & (segments == k)], p[mine & (segments == k)])
                    for k, s in enumerate(SEGMENTS)
                    if (mine & (segments == k)).any()
                },
                training=dict(training.get(version, {})),
                daily=[
                    DayFigures(
                        day=datetime.fromtimestamp(d * DAY_S, UTC).date(),
                        **quality(y[mine & (days == d)], p[mine & (days == d)]),
                    )
                    for d in sorted(set(days[mine]))
                ],
            )
        )
    return out


def ab_verdict(matured: Sequence[tuple[Judged, int]], primary: str, candidate: str, min_rows: int) -> ABVerdict:
    """The candidate's arm against the primary's arm, over the same window."""

    def arm(version: str, role: str) -> tuple[np.ndarray, np.ndarray]:
        rows = [(label, r.probability) for r, label in matured if r.version == version and r.arm == role]
        return np.array([y for y, _ in rows], dtype=np.float64), np.array([q for _, q in rows])

    result = compare(arm(primary, "primary"), arm(candidate, "candidate"), min_rows)
    return ABVerdict(
        primary=primary,
        candidate=candidate,
        verdict=result.verdict,
        log_loss_difference=result.difference,
        interval_95=result.interval,
        min_rows=min_rows,
        reason=result.reason,
    )
