"""The model page (/models) against a real server with API and admin keys, in headless Chromium
(Debian's, driven by Playwright): it renders the store's versions, the reports' plots load, the compare
page shows both versions, and promotion from the page needs the admin key. Plain HTTP for the rest."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import bentoml
import pytest
import requests
from playwright.sync_api import Browser, Page, expect, sync_playwright

from devtools.screenshots import launch
from devtools.server import ServerProcess
from purchase import reports, store
from purchase.drift import MONITORED
from purchase.training import report
from tests.helpers import ADMIN_KEY, KEYS, Trained
from tests.integration.conftest import start

API_KEY = KEYS["other"]
XSS = '<script>document.title="pwned"</script>'


def report_folder(trained: Trained) -> Path:
    """From the store's copy of the model: the object `store.save` returns may point at a scratch folder."""
    return reports.report_folder(store.get(str(trained.model.tag)))


@pytest.fixture(scope="module")
def with_reports(v1: Trained, v2: Trained) -> None:
    """`store.save` writes no report (training's command does): drawn here, as `make report` would."""
    for trained in (v1, v2):
        report.write(str(trained.model.tag), trained.result.evaluation)


@pytest.fixture(scope="module")
def page_server(tmp_path_factory: pytest.TempPathFactory, v1: Trained, with_reports: None) -> Iterator[ServerProcess]:
    """API keys and an admin key set; /models stays readable without a key, as /metrics."""
    env = {"DEFAULT_MODEL": str(v1.model.tag), "API_KEYS": API_KEY, "ADMIN_API_KEYS": ADMIN_KEY}
    srv = start(tmp_path_factory, "model-page", env, "/readyz")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, page_server: ServerProcess) -> Iterator[Page]:
    """A fresh tab; every request it makes must go to the server itself (no CDN, nothing external)."""
    tab = browser.new_page()
    requested: list[str] = []
    tab.on("request", lambda request: requested.append(request.url))
    yield tab
    tab.close()
    assert requested and all(url.startswith((page_server.url, "data:")) for url in requested), requested


@pytest.fixture
def production_restored(v1: Trained) -> Iterator[None]:
    """Other tests rely on v1 being the production version."""
    yield
    if store.production_tag() != str(v1.model.tag):
        store.set_production(str(v1.model.tag))


def stages(page: Page) -> dict[str, str]:
    rows = page.locator("#versions tbody tr")
    return dict(rows.evaluate_all("rows => rows.map(r => [r.dataset.version, r.dataset.stage])"))


def images_loaded(page: Page) -> list[str]:
    """The sources of the page's images, once every one has loaded (naturalWidth > 0)."""
    page.wait_for_load_state("load")
    images = page.locator("img")
    assert images.count() > 0
    widths = images.evaluate_all("imgs => imgs.map(i => [i.currentSrc, i.complete && i.naturalWidth])")
    assert all(width for _, width in widths), widths
    return [source for source, _ in widths]


def test_the_page_lists_the_store_versions_with_their_stages_and_the_traffic(
    page: Page, page_server: ServerProcess, v1: Trained, v2: Trained
) -> None:
    response = page.goto(page_server.url + "/models")
    assert response is not None and response.status == 200
    shown = stages(page)
    assert shown[v1.version] == "production"
    assert shown == {m.tag.version: store.stage(m) for m in store.versions()}
    assert page.locator("#split td").first.inner_text() == str(v1.model.tag)
    row = page.locator(f'#versions tr[data-version="{v1.version}"]')
    auc = store.stored_metrics(v1.model)["xgboost"]["auc"]
    assert f"{auc:.4f}" in row.inner_text()
    assert "synthetic" in row.inner_text()
    # Drift, as GET /drift answers it for the primary: each monitored feature's status.
    drift = requests.get(page_server.url + "/drift", headers={"X-API-Key": API_KEY}, timeout=30).json()
    assert page.locator("#drift-summary").inner_text().startswith(f"{v1.version}: {drift['status']}, ")
    cells = page.locator("#drift tbody tr").evaluate_all(
        "rows => rows.map(r => [r.cells[0].innerText, r.cells[1].innerText])"
    )
    assert cells == [[f["feature"], f["status"]] for f in drift["features"]]
    assert sorted(name for name, _ in cells) == sorted(MONITORED)


def test_a_version_report_opens_from_the_page_with_every_plot_loaded(
    page: Page, page_server: ServerProcess, v2: Trained
) -> None:
    page.goto(page_server.url + "/models")
    page.locator(f'#versions tr[data-version="{v2.version}"] a', has_text="report").click()
    page.wait_for_url(f"**/models/{v2.version}/report")
    assert len(images_loaded(page)) == len(list(report_folder(v2).glob("*.png")))


def test_the_compare_page_shows_both_versions_plots_side_by_side(
    page: Page, page_server: ServerProcess, v1: Trained, v2: Trained
) -> None:
    page.goto(page_server.url + "/models")
    page.select_option("#compare select[name=a]", v1.version)
    page.select_option("#compare select[name=b]", v2.version)
    page.locator("#compare button").click()
    page.wait_for_url("**/models/compare?a=*")
    sources = images_loaded(page)
    for trained in (v1, v2):
        plots = sorted(p.name for p in report_folder(trained).glob("*.png"))
        assert sorted(s.rsplit("/", 1)[1] for s in sources if f"/models/{trained.version}/report/" in s) == plots
    for side, trained in enumerate((v1, v2)):  # each version's quality by segment, as training stored it
        cells = page.locator(".segments > div").nth(side).locator("tbody tr td:first-child").all_inner_texts()
        assert cells == list(trained.result.metadata["segments"])
        rates = page.locator(".segments > div").nth(side).locator("tbody tr td:nth-child(3)").all_inner_texts()
        assert rates == [f"{e['purchase_rate']:.4f}" for e in trained.result.metadata["segments"].values()]
    first_row = page.locator(".side").nth(2).locator("img")  # the row after the metric and segment tables
    assert [src.split("/")[2] for src in first_row.evaluate_all("i => i.map(x => x.getAttribute('src'))")] == [
        v1.version,
        v2.version,
    ]


def promote_from_the_page(page: Page, version: str, key: str | None, refused: str) -> None:
    if key is not None:
        page.fill("#admin-key", key)
    page.locator(f'#versions tr[data-version="{version}"] button.promote').click()
    expect(page.locator("#answer")).to_have_text(re.compile("^" + re.escape(refused)))


def test_promote_from_the_page_needs_the_admin_key(
    page: Page, page_server: ServerProcess, v1: Trained, v2: Trained, production_restored: None
) -> None:
    page.goto(page_server.url + "/models")
    promote_from_the_page(page, v2.version, None, "401: Missing API key")
    promote_from_the_page(page, v2.version, API_KEY, "403: Invalid API key")  # a prediction key is no admin key
    assert store.production_tag() == str(v1.model.tag)
    page.reload()
    assert stages(page)[v1.version] == "production"

    page.fill("#admin-key", ADMIN_KEY)
    page.locator(f'#versions tr[data-version="{v2.version}"] button.promote').click()
    page.locator(f'#versions tr[data-version="{v2.version}"][data-stage="production"]').wait_for()
    assert stages(page)[v1.version] == "archived"
    assert store.production_tag() == str(v2.model.tag)
    assert '"stage":"production"' in page.locator("#answer").inner_text()
    assert page.input_value("#admin-key") == ADMIN_KEY  # kept for this tab's session only
    assert page.evaluate("() => [localStorage.length, document.cookie]") == [0, ""]

    page.locator("#rollback").click()
    page.locator(f'#versions tr[data-version="{v1.version}"][data-stage="production"]').wait_for()
    assert store.production_tag() == str(v1.model.tag)


def test_admin_routes_refuse_callers_without_the_admin_key(
    page_server: ServerProcess, v2: Trained, production_restored: None
) -> None:
    url = f"{page_server.url}/models/{v2.version}/promote"
    assert requests.post(url, timeout=30).status_code == 401
    assert requests.post(url, headers={"X-API-Key": API_KEY}, timeout=30).status_code == 403
    assert requests.post(page_server.url + "/models/rollback", timeout=30).status_code == 401
    assert store.stage(store.get(str(v2.model.tag))) != "production"


def get(server: ServerProcess, path: str) -> requests.Response:
    return requests.get(server.url + path, headers={"X-API-Key": API_KEY}, timeout=30)


def test_report_files_are_plain_names_in_the_report_folder(page_server: ServerProcess, v1: Trained) -> None:
    folder = report_folder(v1)
    base = f"/models/{v1.version}/report"
    served = get(page_server, f"{base}/roc.png")
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"
    assert served.content == (folder / "roc.png").read_bytes()
    for answer in (served, get(page_server, base)):  # an imported report's script must not run on this origin
        assert answer.headers["content-security-policy"].startswith("sandbox;"), answer.headers
    secret = folder.parent / "model.yaml"
    leak = folder / "leak.png"
    leak.symlink_to(secret)
    try:
        for name in (
            "leak.png",
            "model.yaml",
            "..",
            "%2E%2E",
            "..%2Fmodel.yaml",
            "%2E%2E%2Fmodel.yaml",
            "%2Fetc%2Fpasswd",
        ):
            answer = get(page_server, f"{base}/{name}")
            assert answer.status_code == 404, (name, answer.status_code, answer.text)
            assert "detail" in answer.json()
    finally:
        leak.unlink()


def test_unknown_versions_and_missing_reports_answer_404(page_server: ServerProcess, xss_model: bentoml.Model) -> None:
    for path in ("/models/xgboost_19990101_000000/report", "/models/xgboost_19990101_000000/report/roc.png"):
        answer = get(page_server, path)
        assert answer.status_code == 404 and answer.json() == {
            "detail": "Model not found: purchase_model:xgboost_19990101_000000"
        }
    unknown = get(page_server, "/models/compare?a=xgboost_19990101_000000&b=xgboost_19990101_000000")
    assert unknown.status_code == 404
    missing = get(page_server, f"/models/{xss_model.tag.version}/report")
    assert missing.status_code == 404
    assert f"make report TAG={xss_model.tag.version}" in missing.json()["detail"]


@pytest.fixture
def xss_model(v1: Trained) -> Iterator[bentoml.Model]:
    """A version whose data source is markup (no report): deleted afterwards, as `latest` names it meanwhile."""
    metadata = {**v1.model.info.metadata, "data_source": XSS}
    model = bentoml.xgboost.save_model(
        f"{store.MODEL_NAME}:escapecheck", v1.result.booster, labels={"stage": "candidate"}, metadata=metadata
    )
    yield model
    bentoml.models.delete(str(model.tag))


def test_store_values_are_escaped_on_the_page(page_server: ServerProcess, xss_model: bentoml.Model) -> None:
    page = get(page_server, "/models")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert XSS not in page.text
    assert "&lt;script&gt;document.title=&quot;pwned&quot;&lt;/script&gt;" in page.text
    compared = get(page_server, f"/models/compare?a={xss_model.tag.version}&b={xss_model.tag.version}")
    assert compared.status_code == 200 and XSS not in compared.text and "&lt;script&gt;" in compared.text


def test_the_page_needs_no_key_like_metrics(page_server: ServerProcess) -> None:
    assert requests.get(page_server.url + "/models", timeout=30).status_code == 200
    assert requests.get(page_server.url + "/model-info", timeout=30).status_code == 401
