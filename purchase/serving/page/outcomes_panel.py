"""The model page's outcomes panel: GET /performance's figures per version, the A/B verdict, and each
version's daily log loss as a curve (inline SVG: the page loads nothing from elsewhere)."""

from __future__ import annotations

from html import escape

from ...outcomes.schemas import PerformanceReport, VersionPerformance
from ..monitoring.outcome_policy import OutcomePolicy
from .tables import table

WIDTH, HEIGHT, MARGIN = 640, 180, 30
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")


def outcomes_section(report: PerformanceReport | None, policy: OutcomePolicy, why: str = "") -> str:
    if report is None:
        return f'<p class="missing">{escape(why)}</p>'
    return _report(report) + _policy(policy)


def _policy(policy: OutcomePolicy) -> str:
    """What the policy did in this (the lead) worker, newest first."""
    state = "on" if policy.enabled else "off (OUTCOME_POLICY=false): verdicts are reported only"
    rows = [[f"{a.at:%Y-%m-%d %H:%M:%S}", escape(a.action), escape(a.version), escape(a.why)] for a in policy.actions]
    actions = table(["at (UTC)", "action", "version", "why"], rows, "policy-actions", text_columns=4) if rows else ""
    return f'<p id="outcome-policy">Outcome policy: {state}</p>{actions}'


def _report(report: PerformanceReport) -> str:
    summary = (
        f'<p id="outcomes-summary">Predictions made {report.window_start:%Y-%m-%d %H:%M} to '
        f"{report.window_end:%Y-%m-%d %H:%M} UTC, judged by the purchases within {report.horizon_days:g} days "
        f"after them; {report.recording.share:.0%} of users recorded, {report.recording.kept:,} predictions kept.</p>"
    )
    if not report.versions:
        return summary + '<p class="missing">No matured predictions yet.</p>'
    verdict = ""
    if report.ab is not None:
        verdict = (
            f'<p id="ab-verdict">A/B: {escape(report.ab.candidate)} against {escape(report.ab.primary)}: '
            f'<span class="stage">{escape(report.ab.verdict)}</span> ({escape(report.ab.reason)})</p>'
        )
    return summary + verdict + _figures(report.versions) + _curve(report.versions)


def _figures(versions: list[VersionPerformance]) -> str:
    def number(value: float | None) -> str:
        return "" if value is None else f"{value:.4f}"

    rows = []
    for entry in versions:
        for arm, live in entry.arms.items():
            interval = "" if live.auc_95 is None else f"{live.auc_95[0]:.3f} to {live.auc_95[1]:.3f}"
            rows.append(
                [
                    escape(entry.version),
                    escape(arm),
                    f"{live.rows:,}",
                    number(live.purchase_rate),
                    number(live.mean_probability),
                    number(live.auc),
                    interval,
                    number(live.log_loss),
                    number(live.ece),
                    number(entry.training.get("auc")),
                    number(entry.training.get("log_loss")),
                ]
            )
    header = ["version", "arm", "matured rows", "purchase rate", "mean probability", "AUC", "AUC 95 %",
              "log loss", "ECE", "training AUC", "training log loss"]  # fmt: skip
    return table(header, rows, "outcomes", text_columns=2)


def _curve(versions: list[VersionPerformance]) -> str:
    """Daily live log loss per version, on one time axis."""
    days = sorted({d.day for entry in versions for d in entry.daily})
    top = max(d.log_loss for entry in versions for d in entry.daily) or 1.0

    def point(day_index: int, loss: float) -> str:
        x = MARGIN + (WIDTH - 2 * MARGIN) * (day_index / max(len(days) - 1, 1))
        y = HEIGHT - MARGIN - (HEIGHT - 2 * MARGIN) * loss / top
        return f"{x:.1f},{y:.1f}"

    lines = []
    for k, entry in enumerate(versions):
        points = " ".join(point(days.index(d.day), d.log_loss) for d in entry.daily)
        colour = COLOURS[k % len(COLOURS)]
        lines.append(
            f'<polyline class="live-curve" data-version="{escape(entry.version)}" points="{points}" fill="none" '
            f'stroke="{colour}" stroke-width="2"><title>{escape(entry.version)}</title></polyline>'
        )
    axis = (
        f'<text x="{MARGIN}" y="{HEIGHT - 8}">{days[0]:%Y-%m-%d}</text>'
        f'<text x="{WIDTH - MARGIN}" y="{HEIGHT - 8}" text-anchor="end">{days[-1]:%Y-%m-%d}</text>'
        f'<text x="4" y="{MARGIN - 8}">log loss (0 to {top:.3f}), by day of prediction</text>'
    )
    return (
        f'<svg id="outcomes-curve" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="daily live log loss by version">{axis}{"".join(lines)}</svg>'
    )
