import importlib.util
import sys

if importlib.util.find_spec("pyspark") is None:  # the extra is not installed: one line, not an ImportError
    sys.exit("error: the Spark commands need the spark extra: run `make spark` first")

from .cli import main

main()
