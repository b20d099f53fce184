"""The model registry command, for people who promote models.

    python -m purchase.cli.registry list
    python -m purchase.cli.registry promote purchase_model:xgboost_20240101_120000
    python -m purchase.cli.registry rollback
    python -m purchase.cli.registry export purchase_model:xgboost_20240101_120000 [--dir models]
    python -m purchase.cli.registry import models/purchase_model-xgboost_20240101_120000.bentomodel
    python -m purchase.cli.registry delete purchase_model:xgboost_20240101_120000

Stages live in the BentoML store as model labels, so every process on the machine sees the same
answer; a server started with FOLLOW_PRODUCTION=true serves each promotion within seconds.
Export, import and delete are BentoML's own operations, with the production version protected.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import archives, store
from ..errors import PurchaseError
from ..settings import get_settings

COLUMNS = ("tag", "stage", "created (UTC)", "promoted at (UTC)", "auc", "pr_auc", "log_loss", "data")


def table() -> str:
    rows: list[tuple[str, ...]] = [COLUMNS]
    for model in reversed(store.versions()):
        scores = store.stored_metrics(model).get("xgboost", {})
        rows.append(
            (
                str(model.tag),
                store.stage(model),
                f"{model.info.creation_time:%Y-%m-%d %H:%M:%S}",
                model.info.labels.get("promoted_at", "")[:19].replace("T", " "),
                *(f"{scores[m]:.4f}" if m in scores else "" for m in ("auc", "pr_auc", "log_loss")),
                str(model.info.metadata.get("data_source", "")),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m purchase.cli.registry",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="versions, newest first, with stage and test metrics")
    commands.add_parser("promote", help="make a version the production one").add_argument("tag")
    commands.add_parser("rollback", help="promote again the previous production version")
    export = commands.add_parser("export", help="write MODEL_DIR/<name>-<version>.bentomodel")
    export.add_argument("tag")
    export.add_argument("--dir", type=Path, default=None, help="default: MODEL_DIR")
    commands.add_parser("import", help="add an exported archive to the store").add_argument("path", type=Path)
    commands.add_parser("delete", help="remove a version (never the production one)").add_argument("tag")
    args = parser.parse_args(argv)

    try:
        if args.command == "list":
            print(table())
        elif args.command == "promote":
            print(f"promoted {store.set_production(args.tag).tag} to production")
        elif args.command == "rollback":
            print(f"rolled back: {store.rollback().tag} is production again")
        elif args.command == "export":
            print(f"exported {store.export(args.tag, args.dir or get_settings().model_dir)}")
        elif args.command == "import":
            settings = get_settings()
            model = archives.import_archive(
                args.path.resolve(), settings.max_archive_bytes, settings.max_archive_members
            )
            print(f"imported {model.tag} (stage {store.stage(model)})")
        elif args.command == "delete":
            store.delete(args.tag)
            print(f"deleted {args.tag}")
    except PurchaseError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
