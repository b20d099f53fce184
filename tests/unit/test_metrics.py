"""The counters summed over a server's workers, read from prometheus_client's multiprocess files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# A worker's process: multiprocess mode is chosen when prometheus_client is imported, so it runs apart.
WORKER = """
import numpy as np
from purchase.serving import metrics
metrics.record_drift("v1", {"price": np.array([2, 0, 3])})
print(dict(metrics.drift_totals()["v1"]))
"""


def test_a_worker_s_file_not_yet_sized_is_left_out_not_an_error(tmp_path: Path) -> None:
    """A starting worker creates its file before sizing it: the drift monitor read one and logged a
    struct.error traceback at every start."""
    (tmp_path / "counter_4242.db").touch()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", WORKER], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "{('price', 0): 2.0, ('price', 2): 3.0}"
