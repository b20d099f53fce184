"""The Spark commands as a spark-submit application: spark-submit [options] spark_job.py COMMAND ...
(the package itself ships with --py-files dist/purchase.zip; see the README's "Large data on Spark")."""

from purchase.spark.cli import main

main()
