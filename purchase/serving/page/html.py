"""The model page's HTML, rendered on the server from plain values: every value from the store (tags,
data sources, metric names) is escaped here, so a model's metadata cannot inject markup into the page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

from ...drift_schemas import DriftReport
from ...schemas import TrafficInfo
from .assets import SCRIPT, STYLE
from .tables import segments_table, table

MODELS = {"xgboost": "XGBoost", "logistic_regression": "baseline (logistic)", "oracle": "oracle"}
TABLE_METRICS = ("auc", "pr_auc", "log_loss")


@dataclass(frozen=True)
class VersionView:
    """What the page shows of one stored version."""

    tag: str
    version: str
    stage: str
    created: datetime
    data_source: str
    metrics: dict[str, dict[str, float]]
    segments: dict[str, Any]  # the test split's quality per segment (store.stored_segments)
    plots: tuple[str, ...]  # the report's PNG files
    has_report: bool


def report_url(version: str, file: str | None = None) -> str:
    base = f"/models/{quote(version, safe='')}/report"
    return base if file is None else f"{base}/{quote(file, safe='')}"


def _page(title: str, body: str, script: str = "") -> str:
    tail = f"<script>{script}</script>" if script else ""
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>{body}{tail}</body></html>\n"
    )


def _number(metrics: dict[str, dict[str, float]], model: str, name: str) -> str:
    value = metrics.get(model, {}).get(name)
    return "" if value is None else f"{value:.4f}"


def _report_cell(view: VersionView) -> str:
    if view.has_report:
        return f'<a href="{escape(report_url(view.version))}">report</a>'
    return f'<span class="missing">none: make report TAG={escape(view.version)}</span>'


def _versionstable(views: list[VersionView]) -> str:
    header = ["version", "stage", "created (UTC)", "data source"]
    header += [f"{MODELS[m]} {n}" for m in ("xgboost", "logistic_regression") for n in TABLE_METRICS]
    header += ["report", ""]
    rows = []
    for view in views:
        numbers = [_number(view.metrics, m, n) for m in ("xgboost", "logistic_regression") for n in TABLE_METRICS]
        button = f'<button class="promote" data-version="{escape(view.version)}">promote</button>'
        rows.append(
            [
                escape(view.version),
                f'<span class="stage">{escape(view.stage)}</span>',
                f"{view.created:%Y-%m-%d %H:%M:%S}",
                escape(view.data_source),
                *numbers,
                _report_cell(view),
                "" if view.stage == "production" else button,
            ]
        )
    # Each row names its version and stage, for the page's script and for tests.
    attributes = [
        f' class="{escape(v.stage)}" data-version="{escape(v.version)}" data-stage="{escape(v.stage)}"' for v in views
    ]
    return table(header, rows, "versions", text_columns=4, row_attributes=attributes)


def _options(tags: list[str], selected: str | None) -> str:
    options = ['<option value="">(none)</option>']
    for tag in tags:
        mark = " selected" if tag == selected else ""
        options.append(f'<option value="{escape(tag)}"{mark}>{escape(tag)}</option>')
    return "".join(options)


def _compare_form(views: list[VersionView]) -> str:
    versions = [v.version for v in views]
    selects = "".join(
        f'<label>{name} <select name="{name}">'
        + "".join(
            f'<option value="{escape(v)}"{" selected" if i == pick else ""}>{escape(v)}</option>'
            for i, v in enumerate(versions)
        )
        + "</select></label> "
        for name, pick in (("a", len(versions) - 2), ("b", len(versions) - 1))
    )
    return f'<form id="compare" method="get" action="/models/compare">{selects}<button>compare</button></form>'


def _traffic(traffic: TrafficInfo | None, tags: list[str]) -> str:
    if traffic is None:
        return '<p class="missing">No model loaded on this server.</p>'
    shown = table(
        ["primary", "candidate", "candidate share", "shadow", "generation"],
        [
            [
                escape(traffic.primary),
                escape(traffic.candidate or "none"),
                f"{traffic.candidate_share:.0%}",
                escape(traffic.shadow or "none"),
                str(traffic.generation),
            ]
        ],
        "split",
        text_columns=4,
    )
    form = (
        '<form id="traffic"><fieldset><legend>Change the split (admin: POST /traffic)</legend>'
        f'<label>candidate <select name="candidate">{_options(tags, traffic.candidate)}</select></label> '
        '<label>share <input name="candidate_share" type="number" min="0" max="1" step="0.05" '
        f'value="{traffic.candidate_share}"></label> '
        f'<label>shadow <select name="shadow">{_options(tags, traffic.shadow)}</select></label> '
        "<button>set traffic</button></fieldset></form>"
    )
    return shown + form


def _counts(counts: dict[str, dict[str, int]]) -> str:
    if not counts:
        return '<p class="missing">No requests scored yet.</p>'
    names = sorted({name for by_name in counts.values() for name in by_name})
    rows = [[escape(v), *(str(counts[v].get(n, 0)) for n in names)] for v in sorted(counts)]
    return table(["version", *(escape(n) for n in names)], rows, "counts")


def drift_section(report: DriftReport | None, why_not: str = "") -> str:
    """The primary version's drift (GET /drift's answer), or why there is none."""
    if report is None:
        return f'<p class="missing" id="drift-missing">{escape(why_not)}</p>'
    summary = (
        f'<p id="drift-summary">{escape(report.model_version)}: <span class="stage">{escape(report.status)}</span>, '
        f"{report.rows:,} rows scored since {report.since:%Y-%m-%d %H:%M:%S} UTC (window {report.window_s:g} s); "
        "population stability index against the training data: ok under 0.1, watch under 0.25, drift beyond</p>"
    )
    rows = [[escape(f.feature), escape(f.status), "" if f.psi is None else f"{f.psi:.4f}"] for f in report.features]
    return summary + table(["feature", "status", "PSI"], rows, "drift", text_columns=2)


def _serving_segments(views: list[VersionView], traffic: TrafficInfo | None) -> str:
    """The primary version's quality by segment (the compare page shows any two side by side)."""
    serving = next((v for v in views if traffic is not None and v.tag == traffic.primary), None)
    if serving is None:
        return ""
    return f"<h2>Quality by segment: {escape(serving.version)}</h2>" + segments_table(serving.segments)


def models_page(
    views: list[VersionView], traffic: TrafficInfo | None, counts: dict[str, dict[str, int]], drift: str, outcomes: str
) -> str:
    """GET /models. `drift` and `outcomes` are those sections' markup (`drift_section`, `outcomes_section`)."""
    newest_first = list(reversed(views))
    admin = (
        '<p><label>Admin key <input id="admin-key" type="password" autocomplete="off" size="32"></label> '
        "<small>needed to promote, roll back and change traffic; kept in this tab only (sessionStorage)</small></p>"
        '<p id="answer" role="status"></p>'
    )
    body = (
        f"{admin}<h2>Versions</h2>"
        + (_versionstable(newest_first) if views else '<p class="missing">The store holds no version.</p>')
        + '<p><button id="rollback">roll back</button> <small>to the version that was production before</small></p>'
        + _serving_segments(views, traffic)
        + "<h2>Compare two versions</h2>"
        + _compare_form(views)
        + "<h2>Live traffic</h2>"
        + _traffic(traffic, [v.tag for v in newest_first])
        + "<h2>Requests by version</h2>"
        + _counts(counts)
        + f"<h2>Drift</h2>{drift}"
        + f"<h2>Live quality (outcomes)</h2>{outcomes}"
    )
    return _page("Models", body, SCRIPT)


def _metricstable(view: VersionView) -> str:
    names = sorted({name for scores in view.metrics.values() for name in scores})
    rows = [
        [escape(MODELS.get(model, model)), *(_number(view.metrics, model, n) for n in names)] for model in view.metrics
    ]
    return table(["model", *(escape(n) for n in names)], rows)


def _heading(view: VersionView) -> str:
    return (
        f"<h2>{escape(view.version)} <small>({escape(view.stage)})</small></h2>"
        f"<p>data source: {escape(view.data_source)} · trained {view.created:%Y-%m-%d %H:%M:%S} UTC · "
        f"{_report_cell(view)}</p>{_metricstable(view)}"
    )


def compare_page(a: VersionView, b: VersionView) -> str:
    """GET /models/compare: both versions' metrics and quality by segment, then each plot kind in one row,
    side by side."""
    plots = sorted(set(a.plots) | set(b.plots))

    def plot(view: VersionView, name: str) -> str:
        if name not in view.plots:
            return f'<p class="missing">{escape(view.version)}: no {escape(name)}</p>'
        return f'<img src="{escape(report_url(view.version, name))}" alt="{escape(f"{view.version} {name}")}">'

    rows = "".join(f'<div class="side">{plot(a, name)}{plot(b, name)}</div>' for name in plots)
    swap = escape("/models/compare?" + urlencode({"a": b.version, "b": a.version}))
    body = (
        f'<p><a href="/models">all versions</a> · <a href="{swap}">swap sides</a></p>'
        f'<div class="side"><div>{_heading(a)}</div><div>{_heading(b)}</div></div>'
        f'<div class="side segments"><div>{segments_table(a.segments, "")}</div>'
        f"<div>{segments_table(b.segments, '')}</div></div>"
        + (rows or '<p class="missing">Neither version has a report.</p>')
    )
    return _page(f"{a.version} vs {b.version}", body)
