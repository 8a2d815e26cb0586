"""`run.py queue …` (the cadres' queue) and `run.py deliver` (the outbox worker, standalone)."""
from __future__ import annotations

import getpass
import json
import logging
import time

import click

from bot import deadlines
from bot.cli import cli, config_option, get_config
from bot.model import TICKET_STATUSES, Ticket
from bot.queue import ACTIVE, STATUS_NAMES, QueueError, TicketQueue
from bot.store import Store


# Ticket numbers as SQLite holds them: a larger one is a typo, said as such rather than by a traceback.
TICKET_ID = click.IntRange(1, 2**63 - 1)


def _queue(config_path: str | None) -> tuple[TicketQueue, object]:
    config = get_config(config_path)
    try:
        store = Store(config.storage.path).init()
    except Exception as exc:  # sqlite3.Error, OSError: a path that cannot be a database
        raise click.ClickException(f"storage.path: cannot open the database {config.storage.path}: {exc}") from None
    return TicketQueue(store, config, _faq_source(config)), config


def _faq_source(config):
    """The FAQ, loaded on first use (routing is not needed by most commands)."""
    cache: list = []

    def source():
        if not cache:
            from faq.loader import FaqError, load_faq

            try:
                cache.append(load_faq(config.faq.path))
            except FaqError:
                cache.append(None)
        return cache[0]

    return source


def _run(action):
    try:
        return action()
    except QueueError as exc:
        raise click.ClickException(str(exc)) from None


def ticket_json(queue: TicketQueue, ticket: Ticket) -> dict:
    """A ticket for scripts: local ISO times, flags, askers (never their response_url)."""
    tz = queue.tz
    return {
        "id": ticket.id,
        "status": ticket.status,
        "question": ticket.question,
        "normalized": ticket.normalized,
        "team": ticket.team,
        "category": ticket.category,
        "route": ticket.route,
        "created_at": deadlines.iso(ticket.created_at, tz),
        "due_at": deadlines.iso(ticket.due_at, tz),
        "overdue": "overdue" in queue.flags(ticket),
        "due_soon": "due_soon" in queue.flags(ticket),
        "failed_deliveries": queue.failed_deliveries([ticket.id]).get(ticket.id, 0),
        "claimed_by": ticket.claimed_by,
        "claimed_at": deadlines.iso(ticket.claimed_at, tz),
        "answer": ticket.answer,
        "answer_faq_id": ticket.answer_faq_id,
        "answered_by": ticket.answered_by,
        "answered_at": deadlines.iso(ticket.answered_at, tz),
        "closed_at": deadlines.iso(ticket.closed_at, tz),
        "askers": [
            {
                "id": a.id, "channel": a.channel, "chat": a.chat, "user": a.user, "text": a.text,
                "msg_id": a.msg_id, "asked_at": deadlines.iso(a.asked_at, tz),
                "reply_link": ("used" if a.response_url_used_at else "received") if a.response_url_at else None,
            }
            for a in ticket.askers
        ],
    }


def _line(queue: TicketQueue, ticket: Ticket) -> str:
    flags = queue.flags(ticket)
    flag = " [超时]" if "overdue" in flags else " [将到期]" if "due_soon" in flags else ""
    if queue.failed_deliveries([ticket.id]):
        flag += " [投递失败]"
    who = f" {ticket.claimed_by}" if ticket.status == "claimed" and ticket.claimed_by else ""
    question = " ".join(ticket.question.split())
    return (f"#{ticket.id:<5} {STATUS_NAMES[ticket.status]}{who}  {ticket.team}  "
            f"到期 {deadlines.short(ticket.due_at, queue.tz)}{flag}  {len(ticket.askers)}人  {question}")


@cli.group()
def queue() -> None:
    """The cadres' ticket queue: list, show, claim, answer, close, reopen.

    Questions the bot cannot answer become tickets; a like question from another
    group joins the open ticket as another asker. An answer reaches every asker
    in the group they asked in.
    """


@queue.command("list")
@config_option
@click.option("--status", "statuses", multiple=True, type=click.Choice([*TICKET_STATUSES, "all"]),
              help="Only tickets in this status (repeatable; default: open and claimed; 'all' for every status).")
@click.option("--team", default=None, help="Only this team's tickets, e.g. 防控物资组.")
@click.option("--overdue", is_flag=True, help="Only open or claimed tickets past their deadline.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array, for scripts.")
def list_(config_path, statuses, team, overdue, as_json) -> None:
    """List tickets, oldest first.

    Without --status: open and claimed tickets, and answered ones whose answer could not be
    delivered to someone (marked [投递失败]; `queue show` says why; close the ticket once handled).

    Examples:

        python run.py queue list

        python run.py queue list --team 防控物资组 --overdue

        python run.py queue list --status answered --json
    """
    q, _ = _queue(config_path)
    chosen = None if "all" in statuses else tuple(statuses) or ACTIVE
    # By default also answered tickets whose answer could not be delivered ([投递失败]).
    tickets = q.list(chosen, team, overdue, with_failed_deliveries=not statuses)
    if as_json:
        click.echo(json.dumps([ticket_json(q, t) for t in tickets], ensure_ascii=False, indent=2))
        return
    if not tickets:
        click.echo("没有符合条件的工单。")
        return
    for ticket in tickets:
        click.echo(_line(q, ticket))


@queue.command("show")
@config_option
@click.argument("ticket_id", type=TICKET_ID)
@click.option("--json", "as_json", is_flag=True, help="One JSON object, with deliveries and the audit trail.")
def show(config_path, ticket_id, as_json) -> None:
    """Show one ticket: askers, answer, each delivery's state, and its history.

    Example:

        python run.py queue show 12
    """
    q, _ = _queue(config_path)
    ticket = _run(lambda: q.get(ticket_id))
    tz = q.tz
    askers = {a.id: a for a in ticket.askers}
    deliveries = []
    for row in q.store.outbox_rows(ticket_id):
        asker = askers.get(row["asker"])
        deliveries.append({
            "id": row["id"], "kind": row["kind"], "asker": row["asker"],
            "to": f"{asker.user}@{asker.chat or asker.channel}" if asker else f"cadre group {row['chat']}",
            "status": row["status"], "route": row["route"], "attempts": row["attempts"],
            "parts_done": row["parts_done"], "last_error": row["last_error"],
            "next_at": deadlines.iso(row["next_at"], tz) if row["status"] in ("pending", "sending") else None,
            "delivered_at": deadlines.iso(row["delivered_at"], tz),
        })
    audit = [
        {"at": deadlines.iso(r["at"], tz), "actor": r["actor"], "action": r["action"], "detail": json.loads(r["detail"] or "{}")}
        for r in q.store.audit_trail(ticket_id)
    ]
    if as_json:
        data = ticket_json(q, ticket)
        data.update(deliveries=deliveries, audit=audit)
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(_line(q, ticket))
    click.echo(f"问题：{ticket.question}")
    click.echo(f"分派：{ticket.team}（{ticket.route}）  创建 {deadlines.short(ticket.created_at, tz)}")
    if ticket.claimed_by:
        click.echo(f"认领：{ticket.claimed_by} {deadlines.short(ticket.claimed_at, tz)}")
    if ticket.answer:
        click.echo(f"答复（{ticket.answered_by} {deadlines.short(ticket.answered_at, tz)}）：{ticket.answer}")
    click.echo(f"提问人（{len(ticket.askers)}）：")
    for a in ticket.askers:
        where = f"群 {a.chat}" if a.chat else "单聊"
        click.echo(f"  {a.channel} {where} {a.user}  {deadlines.short(a.asked_at, tz)}  {a.text}")
    if deliveries:
        click.echo("投递：")
        for d in deliveries:
            extra = f"  {d['last_error']}" if d["last_error"] and d["status"] != "delivered" else ""
            click.echo(f"  #{d['id']} {d['kind']} → {d['to']}  {d['status']}"
                       f"{' via ' + d['route'] if d['route'] else ''}  尝试 {d['attempts']} 次{extra}")
    click.echo("记录：")
    for r in audit:
        click.echo(f"  {r['at']}  {r['actor']}  {r['action']}")


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _by_option(required: bool):
    return click.option("--by", "by", required=required, default=None if required else _login(),
                        show_default=not required, help="Who does this (recorded in the audit trail).")


@queue.command("claim")
@config_option
@click.argument("ticket_id", type=TICKET_ID)
@_by_option(True)
def claim(config_path, ticket_id, by) -> None:
    """Take a ticket: others see who is on it.

    Example:

        python run.py queue claim 12 --by 张三
    """
    q, _ = _queue(config_path)
    ticket = _run(lambda: q.claim(ticket_id, by))
    click.echo(f"工单 #{ticket.id} 已由 {ticket.claimed_by} 认领。")


@queue.command("answer")
@config_option
@click.argument("ticket_id", type=TICKET_ID)
@click.argument("text", required=False)
@_by_option(True)
@click.option("--faq", "faq_id", default=None, help="Answer with this FAQ entry's answer; the askers' phrasings become draft alternates of it.")
@click.option("--add-to-faq", is_flag=True, help="Also write a draft FAQ entry (question, phrasings, answer) for `faq approve`.")
def answer(config_path, ticket_id, text, by, faq_id, add_to_faq) -> None:
    """Answer a ticket; the answer is sent to every asker in the group they asked in.

    Examples:

        python run.py queue answer 12 "请向区防控物资组登记需求，两日内配送。" --by 张三

        python run.py queue answer 13 --faq supplies.shortage --by 张三

        python run.py queue answer 14 "……" --by 张三 --add-to-faq
    """
    from faq import drafts

    q, config = _queue(config_path)
    if faq_id and text:
        raise click.ClickException("give the answer TEXT or --faq ENTRY_ID, not both")
    if faq_id and add_to_faq:
        raise click.ClickException("--add-to-faq writes a new entry; with --faq the phrasings are added to that entry")
    if faq_id:
        from faq.loader import FaqError, load_faq
        from faq.replies import answer_text

        try:
            faq = load_faq(config.faq.path)
        except FaqError as exc:
            raise click.ClickException(f"the FAQ has errors:\n{exc}") from None
        if faq_id not in faq.by_id:
            raise click.ClickException(f"no FAQ entry {faq_id!r} in {config.faq.path}")
        text = answer_text(faq, faq_id)
    if not text:
        raise click.ClickException("give the answer TEXT (or --faq ENTRY_ID)")
    ticket = _run(lambda: q.answer(ticket_id, text, by, faq_id))
    click.echo(f"已答复工单 #{ticket.id}，将发送给 {len(ticket.askers)} 位企业联系人。")
    path = drafts.drafts_path(config)
    phrasings = [a.text for a in ticket.askers]
    try:
        if faq_id:
            draft = drafts.add_alternates(path, entry_id=faq_id, alternates=phrasings, ticket=ticket.id, by=by)
            click.echo(f"提问说法已记为 FAQ {faq_id} 的备选问法草稿 #{draft}（run.py faq approve {draft}）。")
        elif add_to_faq:
            draft = drafts.add_entry(path, ticket=ticket.id, question=ticket.question, alternates=phrasings,
                                     answer=ticket.answer, category=ticket.category, by=by)
            click.echo(f"已写入 FAQ 草稿 #{draft}（run.py faq approve {draft}）。")
    except drafts.DraftError as exc:
        # The answer is committed and queued for delivery; only the draft is missing.
        raise click.ClickException(f"the answer was recorded, but no draft was written: {exc}") from None


@queue.command("close")
@config_option
@click.argument("ticket_id", type=TICKET_ID)
@_by_option(False)
def close(config_path, ticket_id, by) -> None:
    """Close a ticket (answered, or needing no answer).

    Example:

        python run.py queue close 12 --by 张三
    """
    q, _ = _queue(config_path)
    _run(lambda: q.close(ticket_id, by))
    click.echo(f"工单 #{ticket_id} 已关闭。")


@queue.command("reopen")
@config_option
@click.argument("ticket_id", type=TICKET_ID)
@_by_option(False)
def reopen(config_path, ticket_id, by) -> None:
    """Reopen an answered or closed ticket, with a fresh deadline; answer it again to correct an answer.

    Example:

        python run.py queue reopen 12 --by 张三
    """
    q, _ = _queue(config_path)
    ticket = _run(lambda: q.reopen(ticket_id, by))
    click.echo(f"工单 #{ticket.id} 已重新打开，{deadlines.describe_due(ticket.due_at, q.clock(), q.tz)} 前答复。")


@cli.command()
@config_option
@click.option("--once", is_flag=True, help="Deliver what is due and scan deadlines once, then exit (for cron).")
def deliver(config_path, once) -> None:
    """Run the outbox worker and the deadline scanner outside the web server.

    Safe beside the server's own workers: each item is leased in the database,
    so it is sent by one of them only.

    Examples:

        python run.py deliver

        python run.py deliver --once
    """
    from bot.delivery import Background, Deliverer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s")
    q, config = _queue(config_path)
    if once:
        reminded, alerted = q.scan_deadlines()
        tried = Deliverer(q.store, config).drain()
        click.echo(f"reminded {len(reminded)}, alerted {len(alerted)} ticket(s); {tried} delivery attempt(s)")
        return
    workers = Background(q.store, config, q).start()
    q.on_queued = workers.wake
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        workers.stop()
