"""Smoke test of a running service: wait until ready, then the spec's /health and /predict.

python deploy/smoke.py http://127.0.0.1:8000 [expected model_version]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from purchase.examples import SPEC_CURL, SPEC_EXAMPLE


def main(url: str, expected_version: str | None = None, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if requests.get(f"{url}/readyz", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            sys.exit(f"not ready within {timeout_s:.0f}s")
        time.sleep(0.5)
    health = requests.get(f"{url}/health", timeout=10).json()
    print("GET /health", health)
    assert health["status"] == "healthy", health
    for body in (SPEC_EXAMPLE, SPEC_CURL):
        response = requests.post(f"{url}/predict", json=body, timeout=10)
        print("POST /predict", response.status_code, response.text)
        assert response.status_code == 200
        assert 0.0 <= response.json()["predictions"][0]["probability"] <= 1.0
        if expected_version:
            assert response.json()["model_version"] == expected_version


if __name__ == "__main__":
    main(*sys.argv[1:])
