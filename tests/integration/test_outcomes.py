"""Outcomes against real servers: predictions made as of the test split's times, the log's purchases
replayed through /events (twice: a duplicate counts once), the clock moved past the horizon, and the
live figures equal the offline ones for the same rows; a restart loses nothing; two replicas on one
real Redis report the same; an A/B candidate trained on shuffled labels is found worse."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pytest
import requests
from playwright.sync_api import sync_playwright

from devtools.screenshots import launch
from devtools.server import ServerProcess, bentoml_serve, redis_server
from purchase import store
from purchase.examples import SPEC_CURL
from purchase.training import synthetic
from purchase.training.evaluate import evaluate
from purchase.training.train import Dataset, fit
from tests.helpers import SMALL, Trained, quiet, request_row
from tests.integration.conftest import start
from tests.integration.test_jobs import COLUMNS, finished, queued, result, wait_for
from tests.integration.test_online_features import BATCH, as_events, by_as_of

HORIZON = pd.Timedelta(days=7)
JUDGE_ALL = {"OUTCOME_SHARE": "1", "OUTCOME_WINDOW_DAYS": "400", "OUTCOME_MIN_ROWS": "200"}


def predict_as_of(servers: list[ServerProcess], rows: pd.DataFrame) -> list[dict]:
    """The rows with every feature given, as of their own as-of time, spread over `servers` (by request)."""
    answers = []
    for k, (as_of, group) in enumerate(by_as_of(rows)):
        body = {"features": [request_row(r) for _, r in group.iterrows()], "as_of": as_of}
        response = requests.post(servers[k % len(servers)].url + "/predict", json=body, timeout=60)
        assert response.status_code == 200, response.text
        answers += response.json()["predictions"]
    return answers


def replay_purchases(server: ServerProcess, times: int = 2) -> None:
    """The synthetic log's purchases, shuffled, sent `times` over (the same event ids; 0: nobody bought),
    then one view at midnight, where the log ends: the event clock reaches the newest as-of time's horizon."""
    log = synthetic.generate(n_users=SMALL.n_users, n_days=SMALL.n_days, seed=SMALL.seed).events
    events = as_events(log)
    purchases = [e for e in events if e["event_type"] == "purchase"]
    ends = {
        **events[0],
        "event_id": "clock",
        "event_type": "view",
        "event_time": f"{synthetic.today():%Y-%m-%dT%H:%M:%S}Z",
    }
    for round_ in range(times):
        random.Random(round_).shuffle(purchases)
        for at in range(0, len(purchases), BATCH):
            response = requests.post(server.url + "/events", json={"events": purchases[at : at + BATCH]}, timeout=60)
            assert response.status_code == 200, response.text
    assert requests.post(server.url + "/events", json={"events": [ends]}, timeout=60).status_code == 200


def performance(server: ServerProcess, as_of: pd.Timestamp, **params: str) -> dict:
    response = requests.get(
        server.url + "/performance", params={"as_of": f"{as_of:%Y-%m-%dT%H:%M:%S}Z", **params}, timeout=60
    )
    assert response.status_code == 200, response.text
    return response.json()


def kept(server: ServerProcess, rows: int) -> ServerProcess:
    """Until the server's log holds `rows` predictions (each worker writes what it noted once a second)."""
    return server.wait_until(
        lambda: performance(server, pd.Timestamp("2000-01-01"))["recording"]["kept"] >= rows, timeout_s=30
    )


def live(report: dict, version: str) -> dict:
    (entry,) = [v for v in report["versions"] if v["version"] == version]
    return entry


@dataclass
class Judging:
    server: ServerProcess
    clock: pd.Timestamp  # the newest prediction's horizon has just passed


@pytest.fixture(scope="module")
def judging(tmp_path_factory: pytest.TempPathFactory, v1: Trained, test_rows: pd.DataFrame) -> Iterator[Judging]:
    env = {"DEFAULT_MODEL": str(v1.model.tag), "API_WORKERS": "2", **JUDGE_ALL}
    server = start(tmp_path_factory, "outcomes", env, "/readyz")
    predict_as_of([server], test_rows)
    kept(server, len(test_rows))
    # The wall clock is past the horizon, but no event has arrived: no outcome is known, nothing is judged.
    assert performance(server, test_rows["as_of"].max() + HORIZON)["versions"] == []
    replay_purchases(server)
    yield Judging(server, test_rows["as_of"].max() + HORIZON)
    server.stop()


def test_live_figures_equal_the_offline_ones_for_the_same_rows(
    judging: Judging, v1: Trained, test_rows: pd.DataFrame
) -> None:
    entry = live(performance(judging.server, judging.clock), v1.version)
    y, p = test_rows["label"].to_numpy(np.float64), np.array(v1.probabilities(test_rows))
    offline = evaluate(y, p)
    assert entry["live"]["rows"] == len(test_rows) and entry["live"]["purchase_rate"] == pytest.approx(y.mean())
    assert entry["live"]["auc"] == pytest.approx(offline["auc"], abs=1e-9)
    assert entry["live"]["log_loss"] == pytest.approx(offline["log_loss"], abs=1e-9)
    low, high = entry["live"]["auc_95"]
    assert low < offline["auc"] < high
    assert set(entry["arms"]) == {"primary"} and entry["arms"]["primary"] == entry["live"]
    assert sum(s["rows"] for s in entry["segments"].values()) == len(test_rows)
    assert entry["training"] == v1.result.metrics["xgboost"]
    assert sum(d["rows"] for d in entry["daily"]) == len(test_rows)


def test_a_prediction_whose_horizon_has_not_passed_is_not_judged(judging: Judging, test_rows: pd.DataFrame) -> None:
    report = performance(judging.server, judging.clock - pd.Timedelta(seconds=1))
    judged = sum(v["live"]["rows"] for v in report["versions"])
    assert judged == int((test_rows["as_of"] < test_rows["as_of"].max()).sum()) < len(test_rows)


def test_a_restart_loses_nothing_recorded(judging: Judging, tmp_path_factory: pytest.TempPathFactory) -> None:
    before = performance(judging.server, judging.clock)
    judging.server.stop()
    judging.server = bentoml_serve(judging.server.env, tmp_path_factory.mktemp("restarted") / "server.log").wait(
        "/readyz"
    )
    after = performance(judging.server, judging.clock)
    assert after["versions"] == before["versions"] and after["recording"]["kept"] == before["recording"]["kept"]


def test_an_unknown_or_malformed_version_is_named(judging: Judging) -> None:
    unknown = requests.get(
        judging.server.url + "/performance", params={"version": "xgboost_19990101_000000"}, timeout=30
    )
    assert unknown.status_code == 404 and "xgboost_19990101_000000" in unknown.json()["detail"]
    malformed = requests.get(judging.server.url + "/performance", params={"version": "no such/version"}, timeout=30)
    assert malformed.status_code == 400 and "version" in malformed.json()["detail"]


def test_two_replicas_on_one_redis_judge_as_one(
    tmp_path_factory: pytest.TempPathFactory, v1: Trained, test_rows: pd.DataFrame
) -> None:
    redis = redis_server(tmp_path_factory.mktemp("outcomes-redis") / "redis.log")
    env = {"DEFAULT_MODEL": str(v1.model.tag), "REDIS_URL": f"redis://127.0.0.1:{redis.port}/0", **JUDGE_ALL}
    replicas = [start(tmp_path_factory, f"outcomes-replica-{k}", env, "/readyz") for k in range(2)]
    try:
        predict_as_of(replicas, test_rows)  # each as-of time to one replica or the other
        for replica in replicas:
            kept(replica, len(test_rows))
        replay_purchases(replicas[1], times=1)
        clock = test_rows["as_of"].max() + HORIZON
        first, second = (performance(r, clock) for r in replicas)
        assert first["versions"] == second["versions"]
        y, p = test_rows["label"].to_numpy(np.float64), np.array(v1.probabilities(test_rows))
        assert live(first, v1.version)["live"]["auc"] == pytest.approx(evaluate(y, p)["auc"], abs=1e-9)
        redis.stop()  # the log gone: predictions are still served, the rows not recorded are counted
        for gaps in (1, 2, 3):  # one at a time: each is a write that fails
            assert requests.post(replicas[0].url + "/predict", json=SPEC_CURL, timeout=30).status_code == 200
            counted = f"purchase_outcome_gaps_total {gaps:.1f}"
            replicas[0].wait_until(
                lambda counted=counted: counted in requests.get(replicas[0].url + "/metrics", timeout=5).text, 30
            )
        assert replicas[0].log().count("outcomes not recorded") == 1
    finally:
        for replica in replicas:
            replica.stop()
        redis.stop()


@pytest.fixture(scope="module")
def shuffled(dataset: Dataset) -> Trained:
    """A version trained on the same rows with their labels shuffled: it has learnt nothing."""
    labels = dataset.examples["label"].to_numpy().copy()
    np.random.default_rng(0).shuffle(labels)
    result = fit(replace(dataset, examples=dataset.examples.assign(label=labels)), SMALL, quiet)
    return Trained(result, store.save(result.booster, result.preprocessor, result.metadata, promote=False))


def run_ab(
    tmp_path_factory: pytest.TempPathFactory,
    primary: Trained,
    candidate: Trained | None,
    rows: pd.DataFrame,
    purchases: int = 1,
    **env: str,
) -> ServerProcess:
    """A server splitting users half and half with `candidate`, the rows' purchases replayed `purchases`
    times and the rows predicted (in that order: a policy that is on acts on whatever has matured, and
    the outcomes are all known)."""
    settings = {"DEFAULT_MODEL": str(primary.model.tag), **JUDGE_ALL, **env}
    server = start(tmp_path_factory, "outcomes-ab", settings, "/readyz")
    if candidate is not None:
        split = {"candidate": str(candidate.model.tag), "candidate_share": 0.5}
        changed = requests.post(server.url + "/traffic", json=split, timeout=60)  # admin from loopback
        assert changed.status_code == 200, changed.text
    replay_purchases(server, times=purchases)
    predict_as_of([server], rows)
    return server


def checks(server: ServerProcess) -> float:
    """How often the lead worker has refreshed the live figures, the policy acting on them."""
    found = re.findall(
        r"^purchase_outcome_checks_total (\S+)$", requests.get(server.url + "/metrics", timeout=30).text, re.M
    )
    return float(found[0]) if found else 0.0


def wait_for_checks(server: ServerProcess, more: int) -> None:
    """Until the lead worker has looked at the figures `more` times after now."""
    seen = checks(server)
    server.wait_until(lambda: checks(server) >= seen + more, timeout_s=60)


def candidate_of(server: ServerProcess) -> str | None:
    candidate: str | None = requests.get(server.url + "/traffic", timeout=30).json()["candidate"]
    return candidate


def test_a_candidate_trained_on_shuffled_labels_is_found_worse_and_only_reported(
    tmp_path_factory: pytest.TempPathFactory, v1: Trained, shuffled: Trained, test_rows: pd.DataFrame
) -> None:
    server = run_ab(tmp_path_factory, v1, shuffled, test_rows)
    try:
        kept(server, len(test_rows))
        report = performance(server, test_rows["as_of"].max() + HORIZON)
        ab = report["ab"]
        assert (ab["primary"], ab["candidate"]) == (v1.version, shuffled.version)
        assert ab["verdict"] == "worse" and ab["log_loss_difference"] > 0, ab
        assert set(live(report, shuffled.version)["arms"]) == {"candidate"}
        assert candidate_of(server) == str(shuffled.model.tag)  # the policy is off: only reported
        assert "Outcome policy: off" in requests.get(server.url + "/models", timeout=30).text
    finally:
        server.stop()


@pytest.mark.parametrize("worse", [True, False], ids=["worse-removed", "better-promoted"])
def test_with_the_policy_on_a_worse_candidate_is_removed_and_a_better_one_promoted(
    tmp_path_factory: pytest.TempPathFactory, v1: Trained, shuffled: Trained, test_rows: pd.DataFrame, worse: bool
) -> None:
    primary, candidate = (v1, shuffled) if worse else (shuffled, v1)
    policy = {"OUTCOME_POLICY": "true", "OUTCOME_CHECK_S": "1"}
    server = run_ab(tmp_path_factory, primary, candidate, test_rows, **policy)
    try:
        server.wait_until(lambda: candidate_of(server) is None, timeout_s=60)
        assert serving(server) == (primary.version if worse else candidate.version)
        action = "removed" if worse else "promoted"
        assert f"outcome policy: {action} {candidate.version}" in server.log()
        page = requests.get(server.url + "/models", timeout=30).text
        assert f"<td class=text>{action}</td><td class=text>{candidate.version}</td>" in page
    finally:
        server.stop()


@pytest.mark.parametrize("bought", [False, True], ids=["nobody-bought-rolled-back", "calibrated-kept"])
def test_with_the_policy_on_a_miscalibrated_primary_is_rolled_back_to_production(
    tmp_path_factory: pytest.TempPathFactory, v1: Trained, v2: Trained, test_rows: pd.DataFrame, bought: bool
) -> None:
    """v2 serves while v1 is the registry's production version. When nobody buys (a season ends), every
    probability v2 gave is too high, its live ECE passes the threshold and v1 serves again (the rows
    predicted after that are v1's); when the purchases come as the log has them, v2 is kept."""
    policy = {"OUTCOME_POLICY": "true", "OUTCOME_CHECK_S": "1", "OUTCOME_ROLLBACK_ECE": "0.02"}
    server = run_ab(tmp_path_factory, v2, None, test_rows, purchases=int(bought), **policy)
    try:
        if bought:
            kept(server, len(test_rows))
            wait_for_checks(server, 2)  # the policy has looked at every row
        else:
            server.wait_until(lambda: serving(server) == v1.version, 60)
        figures = live(performance(server, test_rows["as_of"].max() + HORIZON), v2.version)["arms"]["primary"]
        assert figures["rows"] >= int(JUDGE_ALL["OUTCOME_MIN_ROWS"])
        assert (figures["ece"] > 0.02) is not bought and (figures["purchase_rate"] > 0) is bought
        assert serving(server) == (v2.version if bought else v1.version)
        rolled_back = f"outcome policy: rolled back to {v1.model.tag} {v2.version} (live ECE"
        assert (rolled_back in server.log()) is not bought
        assert store.production_tag() == str(v1.model.tag)  # the registry is left as it was
        page = requests.get(server.url + "/models", timeout=30).text
        assert (
            f"<td class=text>rolled back to {v1.model.tag}</td><td class=text>{v2.version}</td>" in page
        ) is not bought
    finally:
        server.stop()


def serving(server: ServerProcess) -> str:
    version: str = requests.get(server.url + "/health", timeout=30).json()["model_version"]
    return version


def test_the_live_figures_of_now_are_prometheus_gauges(judging: Judging, v1: Trained) -> None:
    """The synthetic log ends today, so the test split's horizon has passed by the wall clock too."""
    report = requests.get(judging.server.url + "/performance", timeout=60).json()
    figures = live(report, v1.version)["arms"]["primary"]
    metrics = requests.get(judging.server.url + "/metrics", timeout=30).text
    for name in ("auc", "log_loss", "ece", "rows"):
        found = re.findall(rf'purchase_live_{name}\{{arm="primary",model_version="{v1.version}"\}} (\S+)', metrics)
        assert [float(v) for v in found] == [pytest.approx(figures[name], abs=1e-9)], name
    ratio = re.findall(rf'purchase_live_auc_ratio\{{arm="primary",model_version="{v1.version}"\}} (\S+)', metrics)
    assert [float(v) for v in ratio] == [pytest.approx(figures["auc"] / v1.result.metrics["xgboost"]["auc"])]


def test_the_model_page_shows_the_live_figures_and_their_curve(judging: Judging, v1: Trained) -> None:
    """In a real headless Chromium: the panel's row for v1 is GET /performance's, with one curve."""
    report = requests.get(judging.server.url + "/performance", timeout=60).json()
    figures = live(report, v1.version)["arms"]["primary"]
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        try:
            page = chromium.new_page()
            page.goto(judging.server.url + "/models")
            cells = page.locator("#outcomes tbody tr").first.locator("td").all_inner_texts()
            curve = page.locator(f'#outcomes-curve polyline[data-version="{v1.version}"]')
            points = curve.get_attribute("points") or ""
        finally:
            chromium.close()
    assert cells[:6] == [v1.version, "primary", f"{figures['rows']:,}", f"{figures['purchase_rate']:.4f}",
                         f"{figures['mean_probability']:.4f}", f"{figures['auc']:.4f}"]  # fmt: skip
    assert len(points.split()) == len(live(report, v1.version)["daily"])


def test_a_batch_job_s_rows_are_judged_too_as_the_job_arm(
    judging: Judging, v1: Trained, test_rows: pd.DataFrame
) -> None:
    """Last in this module: it adds the job arm to v1's figures. The newest as-of time's rows scored by a
    job, as of that time: their figures are those of the job's own answers against the log's labels."""
    as_of = test_rows["as_of"].max()
    rows = test_rows[test_rows["as_of"] == as_of].reset_index(drop=True)
    job_id = queued(judging.server, rows[COLUMNS].to_csv(index=False).encode(), as_of=f"{as_of:%Y-%m-%dT%H:%M:%S}Z")
    assert wait_for(judging.server, job_id, finished)["status"] == "succeeded"
    kept(judging.server, len(test_rows) + len(rows))
    scored = result(judging.server, job_id).sort_values("row")
    offline = evaluate(rows["label"].to_numpy(np.float64), scored["probability"].to_numpy())
    arms = live(performance(judging.server, judging.clock), v1.version)["arms"]
    assert arms["job"]["rows"] == len(rows) and arms["job"]["log_loss"] == pytest.approx(offline["log_loss"], abs=1e-9)
    assert arms["job"]["auc"] == pytest.approx(offline["auc"], abs=1e-9)
    assert arms["primary"]["rows"] == len(test_rows)  # the /predict rows are apart
