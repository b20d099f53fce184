"""A version's report, drawn from its stored test-split evaluation: ROC and precision-recall curves of
the model, the logistic baseline and (synthetic data) the oracle, calibration, the score distribution by
class and global feature importance, as PNG files and one self-contained HTML page that embeds them.

Figures use matplotlib's object API (no pyplot): PNGs are rendered with Agg, no display is ever opened
and no global backend is switched in the process that draws them."""

from __future__ import annotations

import base64
import html
import io
import os
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import bentoml
import numpy as np
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

from .. import reports, store
from ..errors import InvalidModel, ModelNotFound
from ..segments import quality_rows
from .evaluate import METRICS
from .evaluation import Evaluation

MODEL = "xgboost"
NAMES = {"xgboost": "XGBoost", "logistic_regression": "logistic regression (baseline)", "oracle": "oracle"}
CALIBRATION_BINS = 10
DPI = 100


def _axes(title: str, xlabel: str, ylabel: str, size: tuple[float, float] = (6.0, 5.0)) -> tuple[Figure, Any]:
    figure = Figure(figsize=size, dpi=DPI, layout="constrained")
    ax = figure.add_subplot()
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    return figure, ax


def roc_figure(evaluation: Evaluation) -> Figure:
    figure, ax = _axes("ROC curve (test split)", "false positive rate", "true positive rate")
    for name, scores in evaluation.scores.items():
        fpr, tpr, _ = roc_curve(evaluation.labels, scores)
        ax.plot(fpr, tpr, label=f"{NAMES.get(name, name)} (AUC {roc_auc_score(evaluation.labels, scores):.4f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    ax.legend(loc="lower right")
    return figure


def precision_recall_figure(evaluation: Evaluation) -> Figure:
    figure, ax = _axes("Precision-recall curve (test split)", "recall", "precision")
    for name, scores in evaluation.scores.items():
        precision, recall, _ = precision_recall_curve(evaluation.labels, scores)
        average = average_precision_score(evaluation.labels, scores)
        ax.plot(recall, precision, drawstyle="steps-post", label=f"{NAMES.get(name, name)} (AP {average:.4f})")
    rate = float(np.mean(evaluation.labels))
    ax.axhline(rate, linestyle="--", color="grey", label=f"positive rate {rate:.4f}")
    ax.legend(loc="upper right")
    return figure


def calibration_figure(evaluation: Evaluation) -> Figure:
    figure, ax = _axes("Calibration (test split, 10 equal-width bins)", "mean predicted probability", "observed rate")
    for name, scores in evaluation.scores.items():
        observed, predicted = calibration_curve(evaluation.labels, scores, n_bins=CALIBRATION_BINS)
        ax.plot(predicted, observed, marker="o", label=NAMES.get(name, name))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    ax.legend(loc="upper left")
    return figure


def score_distribution_figure(evaluation: Evaluation) -> Figure:
    figure, ax = _axes(f"{NAMES[MODEL]} scores by class (test split)", "predicted probability", "density")
    bins = np.linspace(0.0, 1.0, 41)
    for label, colour in ((0, "tab:blue"), (1, "tab:orange")):
        scores = evaluation.scores[MODEL][evaluation.labels == label]
        ax.hist(scores, bins=bins, density=True, alpha=0.5, color=colour, label=f"label {label} ({len(scores):,} rows)")
    ax.legend(loc="upper right")
    return figure


def importance_figure(evaluation: Evaluation) -> Figure:
    names, values = list(evaluation.importance), list(evaluation.importance.values())
    figure, ax = _axes(
        f"Global feature importance ({evaluation.importance_rows:,} test rows)",
        "mean |contribution| (log-odds)",
        "",
        size=(7.0, 0.3 * len(names) + 1.5),
    )
    ax.barh(names, values)
    ax.invert_yaxis()  # largest on top
    return figure


# File name → figure, in the page's order.
FIGURES: dict[str, Callable[[Evaluation], Figure]] = {
    "roc.png": roc_figure,
    "precision_recall.png": precision_recall_figure,
    "calibration.png": calibration_figure,
    "score_distribution.png": score_distribution_figure,
    "feature_importance.png": importance_figure,
}


def png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


STYLE = (
    "body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}"
    "td:first-child,th:first-child{text-align:left}img{max-width:100%;display:block;margin:1em 0}"
)


def page(model: bentoml.Model, evaluation: Evaluation, images: dict[str, bytes]) -> str:
    """One HTML page, nothing fetched: the images are data URIs, the style inline."""
    metadata = model.info.metadata
    rows = cast(dict[str, int], metadata.get("rows", {}))
    facts = [
        ["data source", str(metadata.get("data_source", "unknown"))],
        ["trained (UTC)", f"{model.info.creation_time:%Y-%m-%d %H:%M:%S}"],
        *[[f"{split} rows", f"{rows[split]:,}"] for split in ("train", "validation", "test") if split in rows],
        ["test positive rate", f"{float(np.mean(evaluation.labels)):.4f}"],
        ["importance measured on", f"{evaluation.importance_rows:,} test rows"],
    ]
    metrics = [
        [NAMES.get(name, name), *(f"{scores[m]:.4f}" if m in scores else "" for m in METRICS)]
        for name, scores in store.stored_metrics(model).items()
    ]
    figures = "".join(
        f'<img alt="{html.escape(name)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'
        for name, data in images.items()
    )
    title = html.escape(f"Report of {model.tag}")
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{STYLE}</style></head><body><h1>{title}</h1>"
        f"{_table(['', ''], facts)}<h2>Test-split metrics</h2>{_table(['model', *METRICS], metrics)}"
        f"<h2>Test split by segment</h2>{_table(*quality_rows(store.stored_segments(model)))}"
        f"<h2>Plots</h2>{figures}</body></html>\n"
    )


def render(model: bentoml.Model, evaluation: Evaluation) -> Path:
    """Draw the report into the model's report folder, replacing any earlier one; returns the page."""
    images = {name: png(draw(evaluation)) for name, draw in FIGURES.items()}
    folder = reports.report_folder(model)
    scratch = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    for name, data in images.items():
        (scratch / name).write_bytes(data)
    (scratch / reports.REPORT_PAGE).write_text(page(model, evaluation, images), encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    scratch.rename(folder)
    return reports.report_page(model)


def write(tag: str, evaluation: Evaluation) -> Path:
    """After training: keep the evaluation with the stored version and draw its report; returns the page."""
    model = store.get(tag)  # the store's copy: save_model's own object points at a scratch folder
    evaluation.save(reports.evaluation_file(model))
    return render(model, evaluation)


def regenerate(tag: str) -> Path:
    """Draw a stored version's report again from its stored evaluation; returns the page."""
    model = store.get(tag)
    try:
        evaluation = Evaluation.load(reports.evaluation_file(model))
    except FileNotFoundError as exc:
        raise ModelNotFound(
            f"{model.tag} has no stored evaluation data (trained before reports existed): "
            "retrain (make train) for a version with a report"
        ) from exc
    except (ValueError, KeyError, OSError, zipfile.BadZipFile) as exc:
        raise InvalidModel(f"{model.tag}: its stored evaluation data is unreadable: retrain (make train)") from exc
    return render(model, evaluation)
