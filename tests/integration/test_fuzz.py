"""schemathesis against the live service's OpenAPI document: no input gets a 5xx, every answer matches."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

from devtools.server import ServerProcess

# Valid by the schema yet refused by the data: an item the feature store has no price for, an event
# time in the future, an input name the model does not have, a file without the columns a job needs.
# Every other check still runs on these routes.
DATA_DEPENDENT = {"/predict", "/client/predict", "/features", "/events", "/v2/models/purchase_model/infer", "/jobs"}


@pytest.fixture(scope="module")
def live_schema(server: ServerProcess) -> schemathesis.schemas.BaseSchema:
    return schemathesis.openapi.from_url(server.url + "/openapi.json")


OPERATIONS = [
    ("GET", "/"),
    ("GET", "/health"),
    ("POST", "/predict"),
    ("POST", "/features"),
    ("POST", "/events"),
    ("POST", "/load-model"),
    ("GET", "/model-info"),
    ("GET", "/traffic"),
    ("POST", "/traffic"),
    ("POST", "/client/predict"),
    ("GET", "/v2/models/purchase_model"),
    ("POST", "/v2/models/purchase_model/infer"),
    ("POST", "/jobs"),
    ("GET", "/jobs"),
    ("GET", "/jobs/{job_id}"),
    ("POST", "/jobs/{job_id}/cancel"),
    ("GET", "/jobs/{job_id}/result"),
    ("GET", "/jobs/{job_id}/errors"),
    ("DELETE", "/jobs/{job_id}"),
]


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_no_input_gets_a_5xx_and_every_answer_matches_the_document(
    live_schema: schemathesis.schemas.BaseSchema, method: str, path: str
) -> None:
    """Generated requests, valid and invalid, with schemathesis's checks: no 5xx, documented status
    codes, content types and response schemas. (Its pytest plugin does not load under pytest 9.)"""

    @given(case=live_schema[path][method].as_strategy())
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    def run(case: schemathesis.Case) -> None:
        # Keys are off on this server: the documented security applies once API_KEYS is set (test_security.py).
        excluded = [ignored_auth, *([positive_data_acceptance] if path in DATA_DEPENDENT else [])]
        case.call_and_validate(excluded_checks=excluded)

    run()
