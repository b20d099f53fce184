"""Train a purchase model and register it in the BentoML model store.

python -m purchase.cli.train                       # synthetic data, seed 42
python -m purchase.cli.train --events log.csv      # a real event log in the public e-commerce schema
python -m purchase.cli.train --promote --export    # mark as production; also write models/*.bentomodel
python -m purchase.cli.train --write-events f.csv  # only write a synthetic log in that schema (data/f.csv)
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from .. import store
from ..settings import get_settings
from ..training import report, synthetic
from ..training.evaluate import format_table
from ..training.train import Progress, TrainConfig, TrainResult, fit, load_dataset

DATA_DIR = Path("data")


def readable_or_exit(events: Path | None) -> None:
    """A missing or unreadable --events is one line, not a traceback."""
    if events is not None and not os.access(events, os.R_OK):
        raise SystemExit(f"error: --events {events}: no such file, or not readable")


def shares(text: str) -> tuple[float, float, float]:
    """--segment-shares: three non-negative numbers, not all 0."""
    try:
        viewed, unviewed, new_user = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("three numbers separated by commas, e.g. 0.5,0.3,0.2") from None
    if min(viewed, unviewed, new_user) < 0 or viewed + unviewed + new_user <= 0:
        raise argparse.ArgumentTypeError("shares are non-negative and not all 0")
    return viewed, unviewed, new_user


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=Path, help="CSV event log (event_time, event_type, product_id, ...)")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--users", type=int, default=defaults.n_users, help="synthetic users")
    parser.add_argument("--days", type=int, default=defaults.n_days, help="synthetic days (at least 60)")
    parser.add_argument("--horizon-days", type=int, default=defaults.horizon_days)
    parser.add_argument("--warmup-days", type=int, default=defaults.warmup_days)
    parser.add_argument(
        "--unviewed-per-user", type=int, default=defaults.unviewed_per_user, help="sampled items a user did not view"
    )
    parser.add_argument(
        "--new-user-items", type=int, default=defaults.new_user_items, help="sampled items per user without history"
    )
    parser.add_argument(
        "--segment-shares",
        type=shares,
        default=defaults.segment_shares,
        metavar="V,U,N",
        help="each segment's share of requests: viewed, unviewed, new_user (default %(default)s)",
    )
    parser.add_argument("--promote", action="store_true", help="mark the new version as the production model")
    parser.add_argument("--export", action="store_true", help="also write MODEL_DIR/<name>-<version>.bentomodel")
    parser.add_argument("--if-empty", action="store_true", help="do nothing when the store already holds a model")
    parser.add_argument("--write-events", type=Path, metavar="CSV", help="write a synthetic event log and exit")
    args = parser.parse_args(argv)
    if args.events is None and args.days < 60:
        parser.error("--days must be at least 60")
    readable_or_exit(args.events)
    if args.write_events is not None and args.write_events.parent == Path():
        args.write_events = DATA_DIR / args.write_events  # a bare name: into data/, which git ignores
    return args


def main(argv: list[str] | None = None) -> str:
    """Returns the new model's tag, or "" when nothing was trained."""
    args = parse_args(argv)
    progress = timed_progress()
    if args.if_empty and store.versions():
        progress(f"the store already holds {store.MODEL_NAME}; not training (--if-empty)")
        return ""

    if args.write_events:
        log = synthetic.generate(n_users=args.users, n_days=args.days, seed=args.seed).events
        args.write_events.parent.mkdir(parents=True, exist_ok=True)
        log.to_csv(args.write_events, index=False)
        progress(f"wrote {len(log):,} events to {args.write_events}")
        return ""

    config = TrainConfig(
        seed=args.seed,
        n_users=args.users,
        n_days=args.days,
        horizon_days=args.horizon_days,
        warmup_days=args.warmup_days,
        unviewed_per_user=args.unviewed_per_user,
        new_user_items=args.new_user_items,
        segment_shares=args.segment_shares,
    )
    try:
        dataset = load_dataset(config, args.events, progress)
    except ValueError as exc:  # a log that does not fit the schema: its columns, values or times
        raise SystemExit(f"error: {exc}") from None
    result = fit(dataset, config, progress)
    return register(result, args.promote, args.export, progress)


def timed_progress() -> Progress:
    """Progress lines stamped with the seconds since the command started."""
    started = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {message}", flush=True)

    return progress


def register(result: TrainResult, promote: bool, export: bool, progress: Progress) -> str:
    """A trained version into the store (a candidate unless `promote`), with its report; returns its tag."""
    print("\nTest split (last as-of time):\n" + format_table(result.metrics) + "\n")
    if "oracle" in result.metrics:
        ratio = result.metrics["xgboost"]["auc"] / result.metrics["oracle"]["auc"]
        print(f"XGBoost test AUC / oracle AUC: {ratio:.3f}\n")
    model = store.save(result.booster, result.preprocessor, result.metadata, promote=promote)
    progress(f"saved {model.tag} (stage {store.stage(model)})")
    progress(f"report: {report.write(str(model.tag), result.evaluation)}")
    if export:
        progress(f"exported {store.export(str(model.tag), get_settings().model_dir)}")
    return str(model.tag)


if __name__ == "__main__":
    main()
