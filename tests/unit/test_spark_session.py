"""The Spark session's settings: local mode's only in local mode, a cluster's own everywhere else."""

from __future__ import annotations

import os

from purchase.spark.session import LOCAL_PARTITIONS_PER_CORE, settings

LOOPBACK = {"spark.driver.bindAddress": "127.0.0.1", "spark.driver.host": "127.0.0.1"}


def test_local_mode_binds_to_loopback_with_a_few_partitions_per_core() -> None:
    per_core = str(LOCAL_PARTITIONS_PER_CORE * (os.cpu_count() or 1))
    for master in (None, "local[3]"):
        found = settings(master, submitted=False, partitions=None)
        assert found == {"spark.master": master or "local[*]", **LOOPBACK, "spark.sql.shuffle.partitions": per_core}
    assert settings("local[1]", submitted=True, partitions=7) == {
        "spark.master": "local[1]",
        **LOOPBACK,
        "spark.sql.shuffle.partitions": "7",
    }


def test_a_cluster_master_keeps_its_own_addresses_and_partitions() -> None:
    assert settings("spark://head:7077", submitted=False, partitions=None) == {"spark.master": "spark://head:7077"}
    assert settings(None, submitted=True, partitions=None) == {}  # spark-submit's master and settings
    assert settings("yarn", submitted=False, partitions=400) == {
        "spark.master": "yarn",
        "spark.sql.shuffle.partitions": "400",
    }
