"""Load a historical event log into the online feature store (docs/concepts/features.md).

python -m purchase.cli.features                   # the synthetic log `make serve` trains on, ending today
python -m purchase.cli.features --events log.csv  # a log in the public e-commerce schema
python -m purchase.cli.features --if-empty        # only when the store holds no event yet (make serve)

The store is the service's: REDIS_URL, else FEATURE_DB. Loading the same log twice adds nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

from ..online import open_store
from ..online.backfill import backfill
from ..settings import get_settings
from ..training import synthetic
from ..training.events import read_events
from ..training.train import TrainConfig
from .train import readable_or_exit


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=Path, help="CSV event log (event_time, event_type, product_id, ...)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="of the synthetic log")
    parser.add_argument("--users", type=int, default=defaults.n_users, help="synthetic users")
    parser.add_argument("--days", type=int, default=defaults.n_days, help="synthetic days")
    parser.add_argument("--if-empty", action="store_true", help="do nothing when the store holds events")
    args = parser.parse_args(argv)
    readable_or_exit(args.events)
    return args


async def load(args: argparse.Namespace) -> None:
    store = open_store(get_settings())
    if store is None:
        print("online features are off (ONLINE_FEATURES=false): nothing to load")
        return
    try:
        if args.if_empty and await store.newest() is not None:
            print("the feature store already holds events; not loading (--if-empty)")
            return
        if args.events:
            log, prefix = read_events(args.events), args.events.name
        else:
            generated = synthetic.generate(n_users=args.users, n_days=args.days, seed=args.seed)
            log, prefix = generated.events, f"synthetic-{args.seed}-{generated.start:%Y%m%d}"
        started = time.perf_counter()
        result = await backfill(store, log, prefix)
        seconds = time.perf_counter() - started
        print(
            f"loaded {len(log):,} events in {seconds:.1f} s ({len(log) / seconds:,.0f} events/s): "
            f"{result.stored:,} stored, {result.duplicates:,} already there, {result.expired:,} older than kept"
        )
    finally:
        await store.close()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(load(parse_args(argv)))


if __name__ == "__main__":
    main()
