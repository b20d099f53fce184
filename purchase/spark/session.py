"""The Spark session every command shares: local mode on one machine unless `spark-submit` (or
`--master`) names a cluster. The settings that matter on a cluster come from spark-submit's flags."""

from __future__ import annotations

import os
import sys
import warnings

from pyspark.sql import SparkSession

LOCAL = "local[*]"
LOCAL_PARTITIONS_PER_CORE = 2


def settings(master: str | None, submitted: bool, partitions: int | None) -> dict[str, str]:
    """The session's settings. `submitted`: spark-submit launched us and set the master (unless `master`
    names one). Only local mode binds the driver to loopback and defaults the shuffle partitions to a
    few per core (Spark's 200 suit a cluster, not one machine); a cluster master keeps Spark's own."""
    chosen = master or (None if submitted else LOCAL)
    found: dict[str, str] = {} if chosen is None else {"spark.master": chosen}
    if chosen is not None and chosen.startswith("local"):
        found |= {"spark.driver.bindAddress": "127.0.0.1", "spark.driver.host": "127.0.0.1"}
        partitions = partitions or LOCAL_PARTITIONS_PER_CORE * (os.cpu_count() or 1)
    if partitions is not None:
        found["spark.sql.shuffle.partitions"] = str(partitions)
    return found


def start(
    app: str, master: str | None = None, partitions: int | None = None, conf: dict[str, str] | None = None
) -> SparkSession:
    """`partitions`: how many pieces each shuffle (and each derivation step) splits the data into; `conf`:
    any other Spark settings (spark.driver.memory, spark.executor.memory, ...)."""
    # PySpark warns on every call that it does not fully support pandas 3; the parity tests are the check.
    os.environ["PYTHONWARNINGS"] = "ignore::FutureWarning"  # read by the Python workers Spark starts
    warnings.filterwarnings("ignore", category=FutureWarning, module="pyspark")
    chosen = settings(master, "PYSPARK_GATEWAY_PORT" in os.environ, partitions)
    if chosen.get("spark.master", "").startswith("local"):  # the workers must be this interpreter
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    fixed = {
        "spark.sql.session.timeZone": "UTC",  # event times are UTC, as in the pandas path
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.ui.showConsoleProgress": "false",
    }
    builder = SparkSession.builder.appName(app)
    for key, value in (chosen | fixed | (conf or {})).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def shuffle_partitions(spark: SparkSession) -> int:
    return int(spark.conf.get("spark.sql.shuffle.partitions") or 200)
