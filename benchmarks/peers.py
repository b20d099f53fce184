"""`make bench`, part eight: the service beside the peers a user would pick instead.

The spec's FastAPI design (benchmarks/baseline_app.py under gunicorn, 2 workers), as in part one.
MLServer 1.7.1 with its XGBoost runtime (inference in its server process, `parallel_workers: 0`, its
fastest setting here: with 2 parallel workers it took 4 ms at c=1 and 167 req/s at c=32; in a virtual
environment of its own under benchmarks/.venvs, made by `make bench-tools`) serves the same booster over the Open
Inference Protocol: a dense FP32 tensor of the model matrix, which the client builds (the same rows
the service gets, transformed as the service would, missing values as 0: a tensor has none). So
MLServer parses numbers and predicts; the service also validates named features, transforms them
and answers the spec's body. LitServe 0.2.19 (2 workers, without and with its batching), KServe 0.21's
model server (a `kserve.Model`, 2 workers), Ray Serve 2.60 (2 replicas behind its proxy, without and with
`@serve.batch`) and a bare ASGI app (uvicorn + httptools + uvloop, orjson: the ceiling for a Python
server) take the spec's JSON body and do the service's work in benchmarks/peers/peer_model.py: rows
checked, the service's transform, the booster, the spec's answer. Ray's cluster processes listen on
all interfaces for their own traffic (the proxy on 127.0.0.1 only). Scenarios, interleaved over
rounds, medians: 1 item at concurrency 1 and 32, 1000 items at concurrency 1.
Writes benchmarks/results/peers-<UTC>.{json,md,png}.
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

import numpy as np
import orjson
import xgboost as xgb

from benchmarks.bench import (
    ROOT,
    STORE_HOME,
    Samples,
    baseline,
    body_file,
    chart,
    interleaved,
    medians,
    rounds_main,
    rounds_report,
    sample,
    service,
    start,
)
from devtools.server import ServerProcess, free_port
from purchase import store
from purchase.features import Preprocessor

VENVS = ROOT / "benchmarks" / ".venvs"
TMP = Path(tempfile.gettempdir())
SCENARIOS = {"1 item, c=1": (1, 1), "1 item, c=32": (1, 32), "1000 items, c=1": (1000, 1)}  # items, connections
INFER = "/v2/models/purchase/infer"
KSERVE = "/v1/models/purchase"
# The targets beside the service that take the spec's JSON body, and the path each answers it on.
JSON_PEERS = {
    "FastAPI design": "/predict",
    "bare ASGI": "/predict",
    "LitServe": "/predict",
    "LitServe batched": "/predict",
    "KServe": KSERVE + ":predict",
    "Ray Serve": "/predict",
    "Ray Serve batched": "/predict",
}
READY = {
    "FastAPI design": "/docs",
    "MLServer": INFER.replace("/infer", "/ready"),
    "KServe": KSERVE,
    "Ray Serve": "/predict",
    "Ray Serve batched": "/predict",
}


def mlserver(booster: xgb.Booster) -> ServerProcess:
    """The production booster in a model repository of MLServer's, and MLServer serving it."""
    repository = TMP / "purchase-bench-mlserver"
    (repository / "purchase").mkdir(parents=True, exist_ok=True)
    booster.save_model(repository / "purchase" / "model.ubj")
    settings = {"name": "purchase", "implementation": "mlserver_xgboost.XGBoostModel",
                "parameters": {"uri": "./model.ubj", "version": "v1"}}  # fmt: skip
    (repository / "purchase" / "model-settings.json").write_text(json.dumps(settings))
    (repository / "settings.json").write_text(json.dumps({"parallel_workers": 0, "metrics_endpoint": None}))
    env = {"MLSERVER_HTTP_PORT": "{port}", "MLSERVER_GRPC_PORT": str(free_port()), "BENTOML_HOME": str(STORE_HOME)}
    return start("mlserver", [str(VENVS / "mlserver" / "bin" / "mlserver"), "start", str(repository)], env)


def _no_model() -> NoReturn:
    raise SystemExit("no model in the store: run `make model` first")


def export(folder: Path, booster: xgb.Booster, preprocessor: Preprocessor, version: str) -> Path:
    """The files peers/peer_model.py loads: the booster, the transform's state and the version's name."""
    folder.mkdir(parents=True, exist_ok=True)
    booster.save_model(folder / "model.ubj")
    (folder / "preprocessor.json").write_bytes(orjson.dumps(preprocessor.to_dict()))
    (folder / "version.txt").write_text(version)
    return folder


def json_peers(folder: Path) -> dict[str, ServerProcess]:
    """The peers that take the spec's JSON body, each in its own virtual environment, serving `folder`."""
    env = {"PEER_MODEL": str(folder), "PYTHONPATH": str(ROOT)}
    apps = ROOT / "benchmarks" / "peers"
    uvicorn = [str(VENVS / "asgi" / "bin" / "uvicorn"), "bare_asgi:app", "--app-dir", str(apps), "--workers", "2"]
    flags = ["--http", "httptools", "--loop", "uvloop", "--no-access-log", "--host", "127.0.0.1", "--port", "{port}"]
    litserve = [str(VENVS / "litserve" / "bin" / "python"), str(apps / "litserve_app.py"), "{port}"]
    kserve = [str(VENVS / "kserve" / "bin" / "python"), str(apps / "kserve_app.py"), "--http_port", "{port}"]
    ray = [str(VENVS / "ray" / "bin" / "python"), str(apps / "ray_app.py"), "{port}"]
    return {
        "bare ASGI": start("bare-asgi", [*uvicorn, *flags], env),
        "LitServe": start("litserve", litserve, env),
        "LitServe batched": start("litserve-batched", [*litserve, "--batch", "16"], env),
        "KServe": start("kserve", [*kserve, "--workers", "2", "--enable_grpc", "false"], env),
        "Ray Serve": start("ray-serve", ray, env),
        "Ray Serve batched": start("ray-serve-batched", [*ray, "--batch", "16"], env),
    }


def tensor_body(items: int, preprocessor: Preprocessor) -> Path:
    """body_file's rows as MLServer's users send them: the model matrix, as one FP32 tensor."""
    rows = json.loads(body_file(items).read_text())["features"]
    columns = {name: [row.get(name) for row in rows] for name in {k for row in rows for k in row}}
    matrix = np.nan_to_num(preprocessor.transform(columns).astype(np.float32), nan=0.0)
    body = {"inputs": [{"name": "predict", "shape": list(matrix.shape), "datatype": "FP32",
                        "data": matrix.ravel().tolist()}]}  # fmt: skip
    path = TMP / f"purchase-bench-tensor-{items}.json"
    path.write_text(json.dumps(body))
    return path


def run(seconds: int, rounds: int) -> dict:
    model = store.default_model(None) or _no_model()
    booster, preprocessor = store.load(model)
    folder = export(TMP / "purchase-bench-peer-model", booster, preprocessor, model.tag.version)
    targets = {"service": service(2), "FastAPI design": baseline(2), "MLServer": mlserver(booster)}
    targets |= json_peers(folder)
    bodies = {items: tensor_body(items, preprocessor) for items, _ in SCENARIOS.values()}
    results: dict = {"started": datetime.now(UTC).isoformat(), "seconds": seconds, "rounds": rounds}

    def one_round(samples: Samples, r: int) -> None:
        for name, (items, connections) in SCENARIOS.items():
            sample(samples, "service", name, r, (targets["service"].url, items, connections, seconds))
            sample(
                samples,
                "MLServer",
                name,
                r,
                (targets["MLServer"].url, items, connections, seconds, bodies[items], INFER),
            )
            for peer, path in JSON_PEERS.items():
                sample(samples, peer, name, r, (targets[peer].url, items, connections, seconds, None, path))

    runs = medians(interleaved(targets, rounds, one_round, ready=READY))
    ours, theirs = runs["service"], runs["MLServer"]
    results["runs"] = runs
    one, many = "1 item, c=1", "1000 items, c=1"
    results["ratios"] = {
        "1 item c=1 p50, service / MLServer (target <= 0.7)": ours[one]["p50_ms"] / theirs[one]["p50_ms"],
        "1 item c=32 req/s, service / MLServer (target >= 2.5)": ours["1 item, c=32"]["rps"]
        / theirs["1 item, c=32"]["rps"],
        "1 item c=32 p99 ms, service (target <= 25)": ours["1 item, c=32"]["p99_ms"],
        "1000 items c=1 p50, service / MLServer (target <= 1.5)": ours[many]["p50_ms"] / theirs[many]["p50_ms"],
    }
    for peer in JSON_PEERS:
        results["ratios"] |= {
            f"1 item c=1 p50, service / {peer}": ours[one]["p50_ms"] / runs[peer][one]["p50_ms"],
            f"1 item c=32 req/s, service / {peer}": ours["1 item, c=32"]["rps"] / runs[peer]["1 item, c=32"]["rps"],
            f"1000 items c=1 p50, service / {peer}": ours[many]["p50_ms"] / runs[peer][many]["p50_ms"],
        }
    return results


def write(results: dict) -> Path:
    stem = rounds_report("peers", results)
    chart(results, stem.with_suffix(".png"), "the service and its peers, 2 workers or replicas each")
    return stem


def main() -> None:
    rounds_main(__doc__ or "", run, write)


if __name__ == "__main__":
    main()
