"""Every client against a real server: BentoML's Python client (sync and async, with and without API
keys) and the Open Inference Protocol (KServe V2) driven by Triton's own client, `tritonclient[http]`,
with the response bodies checked against the protocol's JSON shapes too."""

from __future__ import annotations

import asyncio

import bentoml
import numpy as np
import pandas as pd
import pytest
import requests
import tritonclient.http as triton
from bentoml.exceptions import BentoMLException
from tritonclient.utils import InferenceServerException

from devtools.server import ServerProcess
from purchase.examples import SPEC_CURL
from purchase.serving.models.traffic import user_bucket
from purchase.serving.routes.oip_codec import INPUT_TYPES
from tests.helpers import KEYS, Trained, request_row

MODEL = "purchase_model"


def rows_of(test_rows: pd.DataFrame, n: int = 8) -> list[dict]:
    return [request_row(r) for _, r in test_rows.iloc[:n].iterrows()]


def predicted(server: ServerProcess, rows: list[dict], **headers: str) -> dict:
    answer = requests.post(server.url + "/predict", json={"features": rows}, headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_bentoml_s_client_gets_the_spec_s_answer(server: ServerProcess, test_rows: pd.DataFrame) -> None:
    rows = rows_of(test_rows)
    with bentoml.SyncHTTPClient(server.url) as client:
        assert client.is_ready() and "predict" in client.endpoints
        answer = client.predict(features=rows, threshold=0.5, return_probabilities=True)
    expected = predicted(server, rows)
    assert answer["predictions"] == expected["predictions"] and answer["model_version"] == expected["model_version"]

    async def asynchronous() -> dict:
        async with bentoml.AsyncHTTPClient(server.url) as client:
            return await client.predict(features=rows[:2], threshold=1.0, return_probabilities=False)

    answer = asyncio.run(asynchronous())
    assert [p["prediction"] for p in answer["predictions"]] == [0, 0]
    assert all("probability" not in p for p in answer["predictions"])


def test_bentoml_s_client_raises_an_error_naming_the_field(server: ServerProcess) -> None:
    """And the refusal is the access log's 400 line, not an ERROR with a traceback in the server's log."""
    logged = server.log().count("Exception on /client/predict")
    bad = {**SPEC_CURL["features"][0], "item_price": -1}
    with bentoml.SyncHTTPClient(server.url) as client, pytest.raises(BentoMLException) as raised:
        client.predict(features=[SPEC_CURL["features"][0], bad])
    assert raised.value.error_code == 400 and "features[1].item_price" in str(raised.value)
    not_json = requests.post(server.url + "/client/predict", data=b"x", headers={"Content-Type": "text/plain"})
    assert not_json.status_code == 415 and "application/json" in not_json.json()["detail"]
    assert server.log().count("Exception on /client/predict") == logged


def test_bentoml_s_client_with_api_keys(secured_server: ServerProcess, test_rows: pd.DataFrame) -> None:
    rows = rows_of(test_rows, 3)
    with bentoml.SyncHTTPClient(secured_server.url, token=KEYS["client"]) as client:
        answer = client.predict(features=rows)
    assert answer["predictions"] == predicted(secured_server, rows, **{"X-API-Key": KEYS["client"]})["predictions"]
    with bentoml.SyncHTTPClient(secured_server.url) as keyless, pytest.raises(BentoMLException) as raised:
        keyless.predict(features=rows)
    assert raised.value.error_code == 401


def as_inputs(rows: list[dict]) -> list[triton.InferInput]:
    """One input per feature, typed as the model's metadata says."""
    inputs = []
    for name, datatype in INPUT_TYPES.items():
        values = [row.get(name) for row in rows]
        if all(v is None for v in values):
            continue  # a feature the rows leave out is left out
        assert None not in values, f"{name}: given in some rows only (a tensor has no missing values)"
        dtype = {"BYTES": np.object_, "INT64": np.int64, "FP32": np.float32}[datatype]
        given = triton.InferInput(name, [len(rows)], datatype)
        given.set_data_from_numpy(np.array(values, dtype=dtype), binary_data=False)
        inputs.append(given)
    return inputs


def outputs() -> list[triton.InferRequestedOutput]:
    return [triton.InferRequestedOutput(name, binary_data=False) for name in ("probability", "prediction")]


def test_triton_s_client_drives_every_route(server: ServerProcess, v1: Trained, test_rows: pd.DataFrame) -> None:
    client = triton.InferenceServerClient(server.url.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready(MODEL)
    assert client.get_server_metadata()["extensions"] == []
    metadata = client.get_model_metadata(MODEL)
    assert metadata["versions"] == [v1.version] and [i["name"] for i in metadata["inputs"]] == list(INPUT_TYPES)
    assert client.get_model_metadata(MODEL, v1.version)["versions"] == [v1.version]
    rows = rows_of(test_rows.dropna())  # every feature in every row: one dense tensor per input
    expected = [p["probability"] for p in predicted(server, rows)["predictions"]]
    for version in ("", v1.version):
        result = client.infer(MODEL, as_inputs(rows), model_version=version, outputs=outputs())
        assert result.get_response()["model_version"] == v1.version
        assert result.as_numpy("probability").tolist() == pytest.approx(expected, abs=1e-9)
        assert result.as_numpy("prediction").tolist() == [int(p >= 0.5) for p in expected]
    colour = triton.InferInput("item_colour", [len(rows)], "BYTES")
    colour.set_data_from_numpy(np.array(["red"] * len(rows), dtype=np.object_), binary_data=False)
    with pytest.raises(InferenceServerException, match="input 'item_colour': unknown"):
        client.infer(MODEL, [*as_inputs(rows), colour], outputs=outputs())
    with pytest.raises(InferenceServerException, match="not served"):
        client.infer(MODEL, as_inputs(rows), model_version="xgboost_19990101_000000", outputs=outputs())


def test_protocol_bodies_have_the_protocol_s_shapes(server: ServerProcess, v1: Trained) -> None:
    def get(path: str) -> dict:
        answer = requests.get(server.url + path, timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()

    assert get("/v2/health/live") == {"live": True} and get("/v2/health/ready") == {"ready": True}
    assert set(get("/v2")) == {"name", "version", "extensions"}
    assert get(f"/v2/models/{MODEL}/ready") == {"name": MODEL, "ready": True}
    assert get(f"/v2/models/{MODEL}/versions/{v1.version}/ready") == {"name": MODEL, "ready": True}
    metadata = get(f"/v2/models/{MODEL}")
    assert set(metadata) == {"name", "versions", "platform", "inputs", "outputs"}
    assert all(set(i) == {"name", "datatype", "shape"} for i in [*metadata["inputs"], *metadata["outputs"]])
    given = {k: v for k, v in SPEC_CURL["features"][0].items() if k in ("user_id", "item_id") or "item_" in k}
    sparse = {"id": "r1", "inputs": [{"name": n, "shape": [1, 1], "datatype": INPUT_TYPES[n], "data": [[v]]}
                                     for n, v in given.items()]}  # fmt: skip
    answer = requests.post(server.url + f"/v2/models/{MODEL}/infer", json=sparse, timeout=10).json()
    assert set(answer) == {"model_name", "model_version", "id", "outputs"} and answer["id"] == "r1"
    assert [(o["name"], o["datatype"], o["shape"]) for o in answer["outputs"]] == [
        ("probability", "FP64", [1]),
        ("prediction", "INT64", [1]),
    ]
    for body, problem in (
        ({"inputs": [{"name": "user_id", "shape": [2], "datatype": "BYTES", "data": ["u"]}]}, "shape [2] but 1"),
        ({"inputs": [{"name": "view_count_7d", "shape": [1], "datatype": "FP32", "data": [1.5]}]}, "whole number"),
        ({"inputs": []}, "inputs"),
    ):
        refused = requests.post(server.url + f"/v2/models/{MODEL}/infer", json=body, timeout=10)
        assert refused.status_code == 400 and list(refused.json()) == ["error"], refused.text
        assert problem in refused.json()["error"]


def test_the_protocol_follows_the_ab_split(configured_server: ServerProcess, v1: Trained, v2: Trained) -> None:
    """configured_server: v2 primary, v1 the A/B candidate for 25% of users, DEFAULT_THRESHOLD 0."""
    users = [f"user_{n:06d}" for n in range(200)]
    split = [u for u in users if user_bucket(u) < 0.25][:5] + [u for u in users if user_bucket(u) >= 0.25][:5]
    rows = [{**SPEC_CURL["features"][0], "user_id": user} for user in split]  # MAX_BATCH_SIZE is 10 there
    client = triton.InferenceServerClient(configured_server.url.removeprefix("http://"))
    result = client.infer(MODEL, as_inputs(rows), outputs=outputs()).get_response()
    served = [p.get("model_version") for p in predicted(configured_server, rows)["predictions"]]
    assert result["parameters"]["row_versions"] == served and set(served) == {v1.version, v2.version}
    only_v1 = client.infer(MODEL, as_inputs(rows), model_version=v1.version, outputs=outputs())
    assert only_v1.get_response()["model_version"] == v1.version and "parameters" not in only_v1.get_response()
