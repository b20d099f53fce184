"""The Spark session every command shares: local mode on one machine unless `spark-submit` (or
`--master`) names a cluster. The settings that matter on a cluster come from spark-submit's flags."""

from __future__ import annotations

import os
import sys
import warnings

from pyspark.sql import SparkSession

LOCAL = "local[*]"
LOCAL_PARTITIONS_PER_CORE = 2


def start(
    app: str, master: str | None = None, partitions: int | None = None, conf: dict[str, str] | None = None
) -> SparkSession:
    """`partitions`: how many pieces each shuffle (and each derivation step) splits the data into; `conf`:
    any other Spark settings (spark.driver.memory, spark.executor.memory, ...)."""
    # PySpark warns on every call that it does not fully support pandas 3; the parity tests are the check.
    os.environ["PYTHONWARNINGS"] = "ignore::FutureWarning"  # read by the Python workers Spark starts
    warnings.filterwarnings("ignore", category=FutureWarning, module="pyspark")
    builder = SparkSession.builder.appName(app)
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ  # launched by spark-submit, which set the master
    if master or not submitted:
        builder = builder.master(master or LOCAL)
        # Local mode: the workers must be this interpreter, which has the project's packages.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = builder.config("spark.driver.bindAddress", "127.0.0.1").config("spark.driver.host", "127.0.0.1")
    builder = (
        builder.config("spark.sql.session.timeZone", "UTC")  # event times are UTC, as in the pandas path
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.showConsoleProgress", "false")
    )
    if partitions is None and not submitted and not master:
        partitions = LOCAL_PARTITIONS_PER_CORE * (os.cpu_count() or 1)  # Spark's 200 suit a cluster, not one machine
    if partitions is not None:
        builder = builder.config("spark.sql.shuffle.partitions", str(partitions))
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def shuffle_partitions(spark: SparkSession) -> int:
    return int(spark.conf.get("spark.sql.shuffle.partitions") or 200)
