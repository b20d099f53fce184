"""Where Spark reads and writes: any path Hadoop knows (local, hdfs://, s3a://), CSV by its suffix and
Parquet otherwise; an output that exists is refused unless the command says `--overwrite`."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

CSV_SUFFIXES = (".csv", ".csv.gz")


def read_table(spark: SparkSession, path: str) -> DataFrame:
    """Every column of a CSV file as text, as the pandas path reads them before its own conversions."""
    if path.lower().endswith(CSV_SUFFIXES):
        return spark.read.csv(path, header=True, inferSchema=False, enforceSchema=False)
    return spark.read.parquet(path)


def refuse_existing(spark: SparkSession, path: str, overwrite: bool) -> None:
    """Checked before any work, on the file system the output will be written to."""
    if overwrite:
        return
    jvm = spark.sparkContext._jvm
    if jvm is None:
        raise ValueError("this command needs a classic Spark session, not Spark Connect")
    target = jvm.org.apache.hadoop.fs.Path(path)
    if target.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).exists(target):
        raise ValueError(f"{path} exists: pass --overwrite to replace it")


def write(frame: DataFrame, path: str) -> None:
    """Parquet, replacing what is there (the caller has checked it may)."""
    frame.write.mode("overwrite").parquet(path)
