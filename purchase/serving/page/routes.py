"""/models: a page for people. The store's versions with their test metrics, each version's report,
two versions compared, the live traffic split, per-version counts, drift and live quality from outcomes;
promote and roll back.

Reading is Access.METRICS (a browser sends no key header on a page load); promotion and rollback are
Access.ADMIN and change the registry's stage as `python -m purchase.cli.registry` does: servers with
FOLLOW_PRODUCTION=true then serve the new production version. Unknown versions and missing report
files answer the service's JSON 404 `{"detail": ...}`."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import anyio
import bentoml
from fastapi import Path as PathParam
from fastapi import Query
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel

from ... import reports, store
from ...errors import ModelNotFound, ModelNotLoaded, StoreUnavailable
from ...schemas import TrafficInfo
from ..edge.route_table import DeclaredRouter
from ..edge.security import Access
from ..fleet import Coordinator
from ..models.manager import ModelManager
from ..monitoring.counts import counts_by_version
from ..monitoring.drift_monitor import DriftMonitor
from ..monitoring.outcomes import OutcomeMonitor
from ..routes.codec import traffic_info
from ..routes.deps import SERVICE, errors
from .html import compare_page, drift_section, models_page
from .listing import Listing, view
from .outcomes_panel import outcomes_section

router = DeclaredRouter()
REPORT_FILES = {".png": "image/png", ".html": "text/html; charset=utf-8"}  # what a report folder may serve
HTML_ROUTE = {"response_class": HTMLResponse, "responses": errors(404)}
# Versions the store always resolves (aliases of tags), as the document's examples: a client or a
# fuzzer that starts from them reaches the routes behind.
VERSION = PathParam(openapi_examples={"production": {"value": "production"}, "latest": {"value": "latest"}})


class Serving(Protocol):
    models: ModelManager
    fleet: Coordinator
    drift: DriftMonitor
    outcomes: OutcomeMonitor


class StageChange(BaseModel):
    """The version now in production, after a promotion or a rollback."""

    model_tag: str
    model_version: str
    stage: str


LISTING = Listing()  # this worker's copy of the store's versions


def _report_file(version: str, file: str) -> Path:
    """A file of `version`'s report: only a plain name listed in its report folder, never a path."""
    model = store.get(version)
    folder = reports.report_folder(model)
    if not reports.report_page(model).is_file():
        raise ModelNotFound(f"{model.tag} has no report: draw it with make report TAG={model.tag.version}")
    served = {p.name: p for p in folder.iterdir() if p.suffix in REPORT_FILES and p.is_file() and not p.is_symlink()}
    if file not in served:
        raise ModelNotFound(f"The report of {model.tag} has no file {file}")
    return served[file]


def _traffic(serving: Serving) -> TrafficInfo | None:
    try:
        return traffic_info(serving.models.require().target())
    except ModelNotLoaded:
        return None


async def _drift(serving: Serving) -> str:
    """The primary version's drift section, as GET /drift answers it."""
    try:
        return drift_section(await serving.drift.report(None))
    except ModelNotFound as exc:  # monitoring off, or a version stored without a reference: /drift's words
        return drift_section(None, exc.detail)
    except ModelNotLoaded:
        return drift_section(None, "No model loaded on this server.")


async def _outcomes(serving: Serving) -> str:
    """Every version's live quality, as GET /performance answers it."""
    try:
        return outcomes_section(await serving.outcomes.report(None, None), serving.outcomes.policy)
    except (ModelNotFound, StoreUnavailable) as exc:  # recording off, or the log unreachable
        return outcomes_section(None, serving.outcomes.policy, exc.detail)
    except ModelNotLoaded:
        return outcomes_section(None, serving.outcomes.policy, "No model loaded on this server.")


@router.get("/models", Access.METRICS, **HTML_ROUTE)
async def models(serving: Serving = SERVICE) -> HTMLResponse:
    """The versions in the store, the live traffic split, requests per version and drift (HTML)."""
    views = await anyio.to_thread.run_sync(LISTING.views)
    counts = await counts_by_version(serving.fleet)
    sections = await _drift(serving), await _outcomes(serving)
    return HTMLResponse(models_page(views, _traffic(serving), counts, *sections))


@router.get("/models/compare", Access.METRICS, **HTML_ROUTE)
async def compare(
    a: str = Query(openapi_examples={"production": {"value": "production"}}),
    b: str = Query(openapi_examples={"latest": {"value": "latest"}}),
) -> HTMLResponse:
    """Two versions side by side: their metrics, and each kind of plot in one row (HTML)."""
    first, second = await anyio.to_thread.run_sync(lambda: (view(store.get(a)), view(store.get(b))))
    return HTMLResponse(compare_page(first, second))


# A report may come from an imported archive: sandboxed, no script of it runs or reads this origin's
# session (where the page keeps the admin key).
REPORT_POLICY = {
    "Content-Security-Policy": "sandbox; default-src 'none'; img-src data: 'self'; style-src 'unsafe-inline'"
}


@router.get("/models/{version}/report", Access.METRICS, **HTML_ROUTE)
async def report(version: str = VERSION) -> FileResponse:
    """The version's report page, as training drew it (`make report TAG=...` draws it again)."""
    page = await anyio.to_thread.run_sync(_report_file, version, reports.REPORT_PAGE)
    return FileResponse(page, media_type=REPORT_FILES[".html"], headers=REPORT_POLICY)


@router.get(
    "/models/{version}/report/{file}",
    Access.METRICS,
    responses={**errors(404), 200: {"content": {media_type: {} for media_type in REPORT_FILES.values()}}},
)
async def report_file(
    version: str = VERSION, file: str = PathParam(openapi_examples={"page": {"value": reports.REPORT_PAGE}})
) -> FileResponse:
    """One file of the version's report (its PNG plots)."""
    path = await anyio.to_thread.run_sync(_report_file, version, file)
    return FileResponse(path, media_type=REPORT_FILES[path.suffix], headers=REPORT_POLICY)


def _changed(model: bentoml.Model) -> StageChange:
    return StageChange(model_tag=str(model.tag), model_version=model.tag.version or "", stage=store.stage(model))


@router.post(
    "/models/{version}/promote", Access.ADMIN, response_model=StageChange, responses=errors(400, 401, 403, 404)
)
async def promote(version: str = VERSION) -> StageChange:
    """Make `version` the registry's production version (the previous one is archived)."""
    return _changed(await anyio.to_thread.run_sync(store.set_production, version))


@router.post("/models/rollback", Access.ADMIN, response_model=StageChange, responses=errors(401, 403, 404))
async def rollback() -> StageChange:
    """Promote again the version that was production before the current one."""
    return _changed(await anyio.to_thread.run_sync(store.rollback))
