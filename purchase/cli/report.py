"""Draw a stored version's report again, from the evaluation data training kept with it.

    python -m purchase.cli.report purchase_model:xgboost_20240101_120000
    python -m purchase.cli.report xgboost_20240101_120000     # a version alone
    python -m purchase.cli.report latest                      # or production (the default)

The report (index.html and its PNG plots) is written into the version's folder in the model store,
replacing the earlier one; its `.bentomodel` archive carries it from then on.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import PurchaseError
from ..training import report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m purchase.cli.report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("tag", nargs="?", default="production", help="a tag, a version, production or latest")
    args = parser.parse_args(argv)
    try:
        page = report.regenerate(args.tag)
    except PurchaseError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 1
    except OSError as exc:  # a read-only store (a Bento's own, in a container), a full disk
        print(f"error: cannot write the report of {args.tag}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"report: {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
