"""Export the classes taught in the chat, so the next trained model ships with them.

    .venv/bin/python -m deploy.export_taught --out taught.npz                 # the bot admins' labels
    .venv/bin/python -m deploy.export_taught --out taught.npz --scope discord:123456789012345678
    .venv/bin/python -m inference.train --data my_photos/ --out models/next --taught taught.npz

The file holds each label's tags and its photos' embeddings (never photos).
A model trained with `--taught` recognises those labels everywhere, from its
own folder; the database copies can then be removed with /forget. Reads
DATABASE_PATH and MODEL_DIR like the bot; safe while the bot runs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.config import load_config_or_exit
from bot.teaching import GLOBAL
from inference.classifier import model_backbone
from inference.few_shot import save_taught
from inference.values import TaughtClass
from storage import taught
from storage.database import open_database


async def export(database: Path | str, model_dir: Path, scope: str, out: Path) -> list[TaughtClass]:
    """Write `scope`'s taught classes made by the model's backbone to `out`; returns them."""
    db = await open_database(database)
    try:
        classes = await taught.taught_classes(db, scope, model_backbone(model_dir))
    finally:
        await db.close()
    save_taught(out, classes)
    return classes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.export_taught", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--scope", default=GLOBAL, help="'global' (default) or discord:<server id>")
    args = parser.parse_args(argv)
    config = load_config_or_exit()
    if not config.database_url and not config.database_path.exists():
        print(f"no database at {config.database_path}", file=sys.stderr)
        return 2
    classes = asyncio.run(export(config.database, config.model_dir, args.scope, args.out))
    for taught_class in classes:
        print(f"{taught_class.name}: {len(taught_class.examples)} photos")
    print(f"exported {len(classes)} label(s) of scope {args.scope} to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
