"""Where a version's report lives: inside the model's own folder in the BentoML store, so that the
version's `.bentomodel` archive carries it, an import brings it along and a delete removes it.

Paths are those of the model as the store holds it (`store.get`): the object `save_model` returns
points at the scratch folder it was built in, gone once saved."""

from __future__ import annotations

from pathlib import Path

import bentoml

REPORT_FOLDER = "report"  # index.html (self-contained) and the PNG plots it embeds
REPORT_PAGE = "index.html"
EVALUATION_FILE = "evaluation.npz"  # the test-split data the report is drawn from


def report_folder(model: bentoml.Model) -> Path:
    """The folder of this version's report: `report_page` and the PNG files it embeds."""
    return Path(model.path) / REPORT_FOLDER


def report_page(model: bentoml.Model) -> Path:
    """The report's single self-contained HTML page (it may be absent: versions trained before reports)."""
    return report_folder(model) / REPORT_PAGE


def evaluation_file(model: bentoml.Model) -> Path:
    """The stored test-split labels, scores and importance (`purchase.training.evaluation.Evaluation`)."""
    return Path(model.path) / EVALUATION_FILE
