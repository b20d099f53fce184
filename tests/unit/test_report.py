"""A version's report, in-process: the evaluation training keeps, the plots' numbers, the HTML page."""

from __future__ import annotations

import base64
import re
import tarfile
from dataclasses import replace
from pathlib import Path

import bentoml
import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from purchase import reports, store
from purchase.errors import ModelNotFound
from purchase.explanations import EXPLAINED_FEATURES, contributions, mean_absolute
from purchase.training import report
from purchase.training.evaluation import IMPORTANCE_ROWS, Evaluation, importance_sample
from tests.helpers import SMALL, Trained, saved_as_older

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def evaluation() -> Evaluation:
    """Hand-made: three models of decreasing noise over the same labels, importance largest first."""
    rng = np.random.default_rng(0)
    truth = rng.uniform(0.02, 0.6, 600)
    labels = (rng.uniform(size=600) < truth).astype(np.int64)
    noise = {"xgboost": 0.1, "logistic_regression": 0.2}
    noisy = {name: np.clip(truth + rng.normal(0, sd, 600), 0.001, 0.999) for name, sd in noise.items()}
    importance = {name: 1.0 / (i + 1) for i, name in enumerate(reversed(EXPLAINED_FEATURES))}
    return Evaluation(labels, {**noisy, "oracle": truth}, importance, importance_rows=600)


@pytest.fixture(scope="module")
def stored_copy(v1: Trained, tmp_path_factory: pytest.TempPathFactory) -> bentoml.Model:
    """v1 as its archive holds it, unpacked outside the store: a model whose folder the test may write."""
    folder = tmp_path_factory.mktemp("v1-copy")
    with tarfile.open(store.export(str(v1.model.tag), folder / "archive")) as tar:
        tar.extractall(folder / "model", filter="data")
    return bentoml.Model.from_path(str(folder / "model"))


def legend(figure: object) -> list[str]:
    return [text.get_text() for text in figure.axes[0].get_legend().get_texts()]  # type: ignore[attr-defined]


def line(figure: object, starts: str) -> tuple[np.ndarray, np.ndarray]:
    found = [ln for ln in figure.axes[0].get_lines() if ln.get_label().startswith(starts)]  # type: ignore[attr-defined]
    assert len(found) == 1, starts
    return np.asarray(found[0].get_xdata()), np.asarray(found[0].get_ydata())


def test_training_keeps_the_test_split_and_measures_importance_exactly(v1: Trained, test_rows: pd.DataFrame) -> None:
    kept, result = v1.result.evaluation, v1.result
    rows = importance_sample(len(test_rows), SMALL.seed)  # the small test split is a little above the bound
    assert kept.importance_rows == min(len(test_rows), IMPORTANCE_ROWS) == len(rows)
    np.testing.assert_array_equal(kept.labels, test_rows["label"].to_numpy())
    np.testing.assert_allclose(kept.scores["xgboost"], v1.probabilities(test_rows), rtol=1e-6)
    assert set(kept.scores) == {"xgboost", "logistic_regression", "oracle"}
    for name, scores in kept.scores.items():  # the same arrays the stored metrics were computed on
        auc = roc_auc_score(kept.labels, scores, sample_weight=kept.weights)
        assert auc == pytest.approx(result.metrics[name]["auc"], abs=1e-9)
    matrix = result.preprocessor.transform(test_rows)[rows]
    exact = mean_absolute(contributions(result.booster, result.preprocessor, matrix, method="exact"))
    assert list(kept.importance) == list(exact)
    assert kept.importance == pytest.approx(exact)


def test_importance_rows_are_a_seeded_sample_of_at_most_the_bound() -> None:
    np.testing.assert_array_equal(importance_sample(10, seed=1), np.arange(10))
    drawn = importance_sample(3 * IMPORTANCE_ROWS, seed=1)
    assert len(drawn) == IMPORTANCE_ROWS == len(set(drawn.tolist())) and drawn.max() < 3 * IMPORTANCE_ROWS
    np.testing.assert_array_equal(drawn, importance_sample(3 * IMPORTANCE_ROWS, seed=1))
    assert not np.array_equal(drawn, importance_sample(3 * IMPORTANCE_ROWS, seed=2))


def test_an_evaluation_survives_its_file(evaluation: Evaluation, tmp_path: Path) -> None:
    for kept in (evaluation, replace(evaluation, scores={"xgboost": evaluation.scores["xgboost"]})):
        kept.save(tmp_path / "evaluation.npz")
        loaded = Evaluation.load(tmp_path / "evaluation.npz")
        np.testing.assert_array_equal(loaded.labels, kept.labels)
        assert loaded.scores.keys() == kept.scores.keys()
        for name in kept.scores:
            np.testing.assert_array_equal(loaded.scores[name], kept.scores[name])
        assert list(loaded.importance.items()) == list(kept.importance.items())
        assert loaded.importance_rows == kept.importance_rows
    assert [p.name for p in tmp_path.iterdir()] == ["evaluation.npz"]  # no scratch file left


def test_roc_and_precision_recall_show_the_right_areas(evaluation: Evaluation) -> None:
    roc, pr = report.roc_figure(evaluation), report.precision_recall_figure(evaluation)
    for name, scores in evaluation.scores.items():
        shown = report.NAMES[name]
        assert f"{shown} (AUC {roc_auc_score(evaluation.labels, scores):.4f})" in legend(roc)
        assert f"{shown} (AP {average_precision_score(evaluation.labels, scores):.4f})" in legend(pr)
        fpr, tpr, _ = roc_curve(evaluation.labels, scores)
        np.testing.assert_array_equal(line(roc, f"{shown} (AUC"), (fpr, tpr))


def test_calibration_is_the_ten_bin_reliability_curve_with_the_diagonal(evaluation: Evaluation) -> None:
    figure = report.calibration_figure(evaluation)
    for name, scores in evaluation.scores.items():
        observed, predicted = calibration_curve(evaluation.labels, scores, n_bins=10)
        np.testing.assert_allclose(line(figure, report.NAMES[name]), (predicted, observed))
    np.testing.assert_array_equal(line(figure, "perfectly calibrated"), ([0, 1], [0, 1]))


def test_the_score_distribution_splits_the_models_scores_by_class(evaluation: Evaluation) -> None:
    figure = report.score_distribution_figure(evaluation)
    counts = [int((evaluation.labels == label).sum()) for label in (0, 1)]
    assert legend(figure) == [f"label 0 ({counts[0]:,} rows)", f"label 1 ({counts[1]:,} rows)"]
    patches = figure.axes[0].patches
    assert len(patches) == 80  # 40 bins per class
    means = [float(np.mean(evaluation.scores["xgboost"][evaluation.labels == label])) for label in (0, 1)]
    centres = [np.array([p.get_x() + p.get_width() / 2 for p in patches[i * 40 : (i + 1) * 40]]) for i in (0, 1)]
    heights = [np.array([p.get_height() * p.get_width() for p in patches[i * 40 : (i + 1) * 40]]) for i in (0, 1)]
    for mean, centre, height in zip(means, centres, heights, strict=True):  # a density of that class's scores
        assert height.sum() == pytest.approx(1.0) and float(centre @ height) == pytest.approx(mean, abs=0.0125)


def test_importance_bars_are_largest_first_from_the_top(evaluation: Evaluation) -> None:
    ax = report.importance_figure(evaluation).axes[0]
    downwards = not ax.yaxis_inverted()  # sort from the top of the plot
    bars = sorted(ax.patches, key=lambda bar: bar.get_y(), reverse=downwards)
    assert [bar.get_width() for bar in bars] == list(evaluation.importance.values())
    ticks = sorted(ax.get_yticklabels(), key=lambda t: t.get_position()[1], reverse=downwards)
    assert [t.get_text() for t in ticks] == list(evaluation.importance)


def test_the_oracle_is_drawn_only_when_its_scores_exist(evaluation: Evaluation) -> None:
    without = replace(evaluation, scores={k: v for k, v in evaluation.scores.items() if k != "oracle"})
    for draw in (report.roc_figure, report.precision_recall_figure, report.calibration_figure):
        assert any(label.startswith("oracle") for label in legend(draw(evaluation))), draw.__name__
        assert not any("oracle" in label for label in legend(draw(without))), draw.__name__
        labels = [ln.get_label() for ln in draw(without).axes[0].get_lines()]
        assert not any("oracle" in label for label in labels), draw.__name__


def test_the_page_is_self_contained_and_embeds_every_plot(stored_copy: bentoml.Model, evaluation: Evaluation) -> None:
    page = report.render(stored_copy, evaluation)
    folder = reports.report_folder(stored_copy)
    assert page == folder / "index.html"
    plots = sorted(folder.glob("*.png"))
    assert [p.name for p in plots] == sorted(report.FIGURES)
    text = page.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text
    assert not re.search(r"<(script|link)\b", text) and re.findall(r'src="([^"]*)"', text)  # no fetched files
    assert all(src.startswith("data:image/png;base64,") for src in re.findall(r'src="([^"]*)"', text))
    for plot in plots:
        data = plot.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and data.endswith(b"IEND\xaeB`\x82"), plot.name
        assert base64.b64encode(data).decode() in text, plot.name
    assert f"<title>Report of {stored_copy.tag}</title>" in text
    metadata = stored_copy.info.metadata
    assert metadata["data_source"] in text and f"{metadata['rows']['train']:,}" in text
    for name, scores in store.stored_metrics(stored_copy).items():
        assert f"<td>{report.NAMES[name]}</td>" + "".join(f"<td>{v:.4f}</td>" for v in scores.values()) in text


def test_drawing_again_replaces_the_report(stored_copy: bentoml.Model, evaluation: Evaluation) -> None:
    report.render(stored_copy, evaluation)
    stray = reports.report_folder(stored_copy) / "stale.png"
    stray.write_bytes(b"old")
    report.render(stored_copy, replace(evaluation, scores={"xgboost": evaluation.scores["xgboost"]}))
    assert not stray.exists()
    assert sorted(p.name for p in Path(stored_copy.path).iterdir() if p.name.startswith(".")) == []


def test_a_version_trained_before_reports_says_to_retrain(v1: Trained) -> None:
    tag = saved_as_older(v1, "noevaluation_version1")  # as saved before reports: no evaluation data
    assert not reports.evaluation_file(store.get(tag)).exists()
    with pytest.raises(ModelNotFound, match=r"has no stored evaluation data .*retrain"):
        report.regenerate(tag)
