"""The pipeline on Apache Spark, for event logs and datasets one machine cannot hold: feature derivation,
training with XGBoost's Spark estimator, and batch scoring. Each step runs the pandas path's own
definitions on partitions of the data (pandas functions on groups and Arrow batches), so the two paths
cannot drift apart; parity tests hold them together. An extra: `pip install -r requirements-spark.txt`."""
