"""`run.py db …`: keep the database small and safe (prune old records, back it up while the bot runs)."""
from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from pathlib import Path

import click

from bot import deadlines
from bot.cli import cli, config_option, get_config
from bot.store import Store

COUNTED = {"messages": "消息记录 {n} 条", "deliveries": "投递尝试 {n} 条", "tickets": "已关闭工单 {n} 张（连同提问人、操作记录和发送记录）"}


@cli.group()
def db() -> None:
    """Keep the bot's database: prune old records, back it up."""


@db.command()
@click.option("--days", type=click.IntRange(min=1), required=True, help="Keep this many days; delete what is older.")
@click.option("--tickets", is_flag=True,
              help="Also delete tickets closed before then, with their askers, audit trail, outbox and delivery attempts.")
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@config_option
def prune(days: int, tickets: bool, dry_run: bool, config_path: str | None) -> None:
    """Delete the message log and finished delivery attempts older than --days.

    Tickets and their audit trail are kept unless --tickets is given; then tickets closed
    before the cutoff go too (open, claimed and answered tickets stay, as do the newest ticket,
    whose number must not be given again, and one with a message still to send). Safe while
    the bot runs: rows go in small transactions. For a daily cron job, e.g.:

    \b
        python run.py db prune --days 180 --config config.toml
    """
    config = get_config(config_path)
    path = Path(config.storage.path)
    if not path.exists():
        raise click.ClickException(f"没有数据库文件：{path}")
    store = Store(path).init()
    before = time.time() - days * 86400
    counts = store.prunable(before, tickets) if dry_run else store.prune(before, tickets)
    when = deadlines.iso(before, deadlines.zone(config.queue.utc_offset_hours)).replace("T", " ")[:16]
    verb = "将删除" if dry_run else "已删除"
    parts = "，".join(COUNTED[name].format(n=n) for name, n in counts.items())
    click.echo(f"{verb} {when} 之前的：{parts}。")


@db.command()
@click.argument("dest", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite DEST if it exists.")
@config_option
def backup(dest: str, force: bool, config_path: str | None) -> None:
    """Copy the database to DEST, consistently, while the bot keeps running.

    \b
        python run.py db backup /backup/bot-$(date +%F).db --config config.toml
    """
    config = get_config(config_path)
    source, target = Path(config.storage.path), Path(dest)
    if not source.exists():
        raise click.ClickException(f"没有数据库文件：{source}")
    if _is_the_database(target, source):
        raise click.ClickException("备份不能写到数据库文件本身")
    if target.exists() and not force:
        raise click.ClickException(f"{target} 已存在（覆盖请加 --force）")
    target.parent.mkdir(parents=True, exist_ok=True)
    # Written beside DEST under a temporary name, then renamed: a failed copy never carries the name.
    handle, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(handle)
    try:
        Store(source).backup(Path(partial))
        os.replace(partial, target)
    except (sqlite3.Error, OSError) as exc:
        raise click.ClickException(f"备份失败：{exc}") from None
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    click.echo(f"已备份到 {target}（{target.stat().st_size // 1024} KB）。")


def _is_the_database(target: Path, source: Path) -> bool:
    """Whether a path is the database file or its WAL or shared-memory file (overwriting one would wreck it)."""
    for part in (source, Path(f"{source}-wal"), Path(f"{source}-shm")):
        if target.resolve() == part.resolve() or (target.exists() and part.exists() and os.path.samefile(target, part)):
            return True
    return False
