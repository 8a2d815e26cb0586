"""`run.py queue list`: escalated messages from the message log, until the ticket queue arrives."""
from __future__ import annotations

import json
from datetime import datetime

import click

from bot.cli import cli, config_option, get_config
from bot.store import Store


@cli.group()
def queue() -> None:
    """Questions escalated to cadres."""


@queue.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON array, for scripts.")
@click.option("--limit", type=int, default=None, help="At most this many, oldest first.")
def list_(config_path: str | None, as_json: bool, limit: int | None) -> None:
    """List escalated questions, one per message (retries are never listed twice)."""
    config = get_config(config_path)
    if not config.storage.path.exists():
        rows: list[dict] = []
    else:
        store = Store(config.storage.path)
        try:
            rows = store.escalations(limit)
        finally:
            store.close()
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("No escalated questions.")
        return
    for row in rows:
        when = datetime.fromtimestamp(row["received_at"] or 0).strftime("%Y-%m-%d %H:%M")
        where = f"{row['channel']}/{row['chat']}" if row["chat"] else row["channel"]
        click.echo(f"#{row['id']:<5} {when}  {where}  {row['user']}: {row['text']}")
