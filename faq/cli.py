"""CLI commands for asking questions and checking the FAQ file."""
from __future__ import annotations

import json
import sys
from dataclasses import replace

import click

from bot.cli import cli, config_option, get_config
from faq.loader import FaqError, check_faq


def decision_json(question: str, decision) -> str:
    """One line of `ask --json` output."""
    return json.dumps(
        {
            "question": question,
            "decision": decision.kind,
            "faq_id": decision.faq_id if decision.kind in ("answer", "suggest") else None,
            "score": round(decision.score, 4),
            "candidates": [{"faq_id": c.faq_id, "score": round(c.score, 4)} for c in decision.candidates],
            "reply": decision.reply,
        },
        ensure_ascii=False,
    )


@cli.command()
@config_option
@click.option("--faq", "faq_path", type=click.Path(dir_okay=False), help="Use this FAQ file alone.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per question.")
@click.argument("question", nargs=-1)
def ask(config_path, faq_path, as_json, question):
    """Ask the FAQ a question, as an enterprise contact would.

    Each QUESTION argument is one question (quote one that has spaces). With
    no QUESTION, reads one question per line from standard input and answers
    each as it comes.

    Example:

        python run.py ask 厂区一天消毒几次 "员工就餐 是否分开"

        printf '员工就餐是否分开\\n收到\\n' | python run.py ask --json
    """
    from faq.kept import load_matcher

    config = get_config(config_path)
    if faq_path:
        config = replace(config, faq=replace(config.faq, path=faq_path))
    try:
        matcher = load_matcher(config.faq.path, config.bot, keep=config.faq.keep_index)
    except FaqError as exc:
        raise click.ClickException(f"the FAQ has errors:\n{exc}") from None

    def answer(text: str) -> None:
        decision = matcher.decide(text)
        if as_json:
            click.echo(decision_json(text, decision))
        else:
            label = {"answer": "答复", "suggest": "建议", "escalate": "转人工", "ignore": "不回复"}[decision.kind]
            click.echo(f"[{label} {decision.faq_id or '-'} {decision.score:.2f}]")
            if decision.reply:
                click.echo(decision.reply)
            click.echo()
        sys.stdout.flush()

    if question:
        for text in question:
            answer(text)
        return
    interactive = sys.stdin.isatty() and not as_json
    if interactive:
        click.echo(f"已载入 {len(matcher.entries)} 条问答。请输入问题，Ctrl-D 退出。")
    for line in sys.stdin:
        line = line.strip()
        if line:
            answer(line)


@cli.group("faq")
def faq_group():
    """Check and maintain the FAQ file."""


@faq_group.command("check")
@config_option
@click.argument("file", required=False, type=click.Path(dir_okay=False))
def faq_check(config_path, file):
    """List every problem in an FAQ file with file:line; exit 1 on errors.

    Warnings (an entry past its review_by date, a phrasing repeated within
    one entry) are listed but do not change the exit status.

    Example:

        python run.py faq check faq/data/faq.yaml
    """
    path = file or str(get_config(config_path).faq.path)
    faq, problems = check_faq(path)
    for problem in problems:
        click.echo(str(problem), err=problem.severity == "error")
    if faq is None:
        errors = sum(p.severity == "error" for p in problems)
        click.echo(f"{path}: {errors} error(s); the bot will keep serving the last good FAQ", err=True)
        sys.exit(1)
    warnings = len(problems)
    click.echo(
        f"{path}: OK, {len(faq.entries)} entries in {len(faq.categories)} categories"
        + (f", {warnings} warning(s)" if warnings else "")
    )


@faq_group.command("eval")
@config_option
@click.option("--faq", "faq_path", type=click.Path(dir_okay=False), help="Use this FAQ file alone.")
@click.option("--misses", is_flag=True, help="Also list every question not handled right.")
@click.argument("questions", type=click.Path(exists=True, dir_okay=False))
def faq_eval(config_path, faq_path, misses, questions):
    """Measure the bot on a labelled question file.

    QUESTIONS is YAML: `questions: [{q: 回哈员工是否先隔离, expect:
    isolation.returning-staff}, ...]`, where expect is an FAQ id, `escalate`
    (out of scope) or `ignore` (a courtesy).

    Example:

        python run.py faq eval tests/data/eval_starter_dev.yaml --misses
    """
    from faq.evaluation import LabelledError, evaluate, load_labelled
    from faq.kept import load_matcher

    config = get_config(config_path)
    path = faq_path or config.faq.path
    try:
        matcher = load_matcher(path, config.bot, keep=config.faq.keep_index)
    except FaqError as exc:
        raise click.ClickException(f"the FAQ has errors:\n{exc}") from None
    try:
        labelled = load_labelled(questions)
    except LabelledError as exc:
        raise click.ClickException(str(exc)) from None
    report = evaluate(matcher, labelled)
    if misses:
        for item, decision in report.misses:
            got = ",".join(f"{c.faq_id}:{c.score:.2f}" for c in decision.candidates[:3])
            click.echo(f"{item.expect:32} {decision.kind:8} {decision.score:.2f} {item.question}  [{got}]")
    click.echo(report.summary())


@faq_group.command("drafts")
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON array, for scripts.")
def faq_drafts(config_path, as_json):
    """List drafts from cadres' answers: new entries and new alternates.

    `run.py queue answer ID TEXT --by NAME --add-to-faq` drafts a new entry;
    `run.py queue answer ID --faq ENTRY_ID --by NAME` drafts alternates for an
    existing entry. Approve one with `run.py faq approve DRAFT_ID`.

    Example:

        python run.py faq drafts
    """
    from faq.drafts import drafts_path, list_drafts

    config = get_config(config_path)
    items = list_drafts(drafts_path(config))
    if as_json:
        click.echo(json.dumps(items, ensure_ascii=False, indent=2))
        return
    if not items:
        click.echo("No drafts.")
        return
    for d in items:
        if d["kind"] == "entry":
            e = d["entry"]
            click.echo(f"#{d['id']:<4} new entry {e['id']} ({e.get('category') or 'no category'}) from ticket #{d['ticket']} by {d['by']}")
            click.echo(f"      Q: {e['question']}")
            for alt in e.get("alternates") or []:
                click.echo(f"         {alt}")
            click.echo(f"      A: {' '.join(e['answer'].split())}")
        else:
            click.echo(f"#{d['id']:<4} alternates for {d['entry_id']} from ticket #{d['ticket']} by {d['by']}")
            for alt in d["alternates"]:
                click.echo(f"         {alt}")


@faq_group.command("approve")
@config_option
@click.argument("draft_id", type=int)
@click.option("--id", "entry_id", default=None, help="Id for a new entry (default: the draft's).")
@click.option("--category", default=None, help="Category for a new entry (default: the draft's).")
def faq_approve(config_path, draft_id, entry_id, category):
    """Move one draft into the FAQ file, keeping its comments and order.

    The changed file is checked like `faq check` before it replaces the old
    one (atomically); the running bot picks it up within seconds.

    Example:

        python run.py faq approve 3 --category supplies
    """
    from faq.drafts import DraftError, approve, drafts_path

    config = get_config(config_path)
    try:
        done = approve(drafts_path(config), config.faq.path, draft_id, entry_id=entry_id, category=category)
    except DraftError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{config.faq.path}: {done}")
