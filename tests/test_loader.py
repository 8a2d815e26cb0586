"""The FAQ file format: every check names file:line; a broken file is refused whole."""
import datetime as dt
import gc
import subprocess
import sys
from pathlib import Path

import pytest

from faq.bulk import bulk_build
from faq.loader import FaqError, check_faq, load_faq
from tests.conftest import MINI_FAQ, STARTER_FAQ, write_faq

ROOT = Path(__file__).resolve().parent.parent


def problems_of(tmp_path, text, today=dt.date(2020, 3, 1)):
    path = write_faq(tmp_path, text)
    faq, problems = check_faq(path, today=today)
    return faq, [(p.line, p.severity, p.message) for p in problems], path


def test_mini_faq_loads(mini_faq):
    faq = load_faq(mini_faq)
    assert [e.id for e in faq.entries] == [
        "disinfection.frequency",
        "canteen.staggered-meals",
        "supplies.shortage",
        "disinfection.method",
    ]
    entry = faq.by_id["disinfection.frequency"]
    assert entry.phrasings[0] == "厂区每天需要消毒几次？"
    assert entry.effective == dt.date(2020, 2, 21)
    assert entry.line == 8
    assert faq.team_for("supplies.shortage") == "防控物资组"
    assert faq.synonyms == (("消毒", "消杀", "杀菌"),)


def test_starter_faq_is_clean():
    faq, problems = check_faq(STARTER_FAQ)
    assert faq is not None and problems == []
    assert len(faq.entries) >= 25
    for entry in faq.entries:
        assert len(entry.alternates) >= 4, entry.id
        assert entry.source and entry.effective, entry.id


@pytest.mark.parametrize(
    "old, new, line, message",
    [
        ("    keywords: [消毒]\n", "    keyword: [消毒]\n", 12, "unknown key 'keyword' in an entry"),
        ("  - id: canteen.staggered-meals\n", "  - id: disinfection.frequency\n", 17, "duplicate id 'disinfection.frequency' (first at line 8)"),
        ("    answer: 错峰、分餐、同向就座。\n", "    answer: \"  \"\n", 21, "answer of entry 'canteen.staggered-meals' is empty"),
        ("    category: supplies\n", "    category: materials\n", 23, "category 'materials' of entry 'supplies.shortage' is not declared"),
        ("  - id: supplies.shortage\n", "  - id: Supplies_Shortage\n", 22, "bad id 'Supplies_Shortage'"),
        ("[吃饭要不要错峰, 食堂能不能堂食]", "[吃饭要不要错峰, 车间多久消毒一次]", 20, "phrasing '车间多久消毒一次' is also under entry 'disinfection.frequency' (line 11"),
        ("    effective: 2020-02-21\n", "    effective: 去年春天\n", 16, "effective of entry 'disinfection.frequency' must be a date"),
        ("version: 1\n", "version: 2\n", 1, "unsupported version 2"),
        ("    alternates: [吃饭要不要错峰, 食堂能不能堂食]\n", "    alternates: 吃饭要不要错峰\n", 20, "alternates of entry 'canteen.staggered-meals' must be a list"),
        ("    question: 口罩不够用怎么办？\n", "", 22, "entry 'supplies.shortage' has no question"),
        ("  - [消毒, 消杀, 杀菌]\n", "  - [消毒]\n", 6, "a synonym group needs at least two words"),
        ("    category: prevention\n    question: 员工食堂", "    category: prevention\n    category: supplies\n    question: 员工食堂", 19, "key 'category' appears twice"),
        # YAML's "no value" is no answer, not the text "~".
        ("    answer: 错峰、分餐、同向就座。\n", "    answer: ~\n", 21, "answer of entry 'canteen.staggered-meals' is empty"),
        ("    answer: 错峰、分餐、同向就座。\n", "    answer: null\n", 21, "answer of entry 'canteen.staggered-meals' is empty"),
        ("    effective: 2020-02-21\n", "    effective: 2020-02-21T10:00\n", 16, "effective of entry 'disinfection.frequency' must be a date like 2020-02-21"),
        ("    effective: 2020-02-21\n", "    effective: 20200221\n", 16, "effective of entry 'disinfection.frequency' must be a date like 2020-02-21"),
        # A syntax error is named where the admin made it, not where the reader gave up (the end of the file).
        ("    question: 员工食堂怎么安排就餐？\n", "    question: \"员工食堂怎么安排就餐？\n", 19, "while scanning a quoted scalar here, found unexpected end of stream at line"),
        ("    question: 员工食堂怎么安排就餐？\n", "    question：员工食堂怎么安排就餐？\n", 19, "could not find expected ':'"),
        # Pasted from a word processor or a web page: invisible, and YAML refuses them or breaks lines there.
        ("    question: 员工食堂怎么安排就餐？\n", "    question: 员工食堂怎么安排\x0b就餐？\n", 19, "an invisible character U+000B"),
        ("    question: 员工食堂怎么安排就餐？\n", "    question: 员工食堂怎么安排\x9b就餐？\n", 19, "an invisible character U+009B"),
        ("    answer: 错峰、分餐、同向就座。\n", "    answer: 错峰、分餐、\u2028同向就座。\n", 21, "an invisible character U+2028 (line separator)"),
        ("    question: 员工食堂怎么安排就餐？\n", "    question: " + "[" * 900 + "]" * 900 + "\n", 19, "nested too deeply"),
    ],
)
def test_each_error_names_its_line(tmp_path, old, new, line, message):
    assert old in MINI_FAQ
    faq, problems, path = problems_of(tmp_path, MINI_FAQ.replace(old, new, 1))
    assert faq is None
    matching = [p for p in problems if message in p[2]]
    assert matching, problems
    assert matching[0][:2] == (line, "error")
    with pytest.raises(FaqError) as excinfo:
        load_faq(path)
    assert f"{path}:{line}: error: " in str(excinfo.value)


def test_every_problem_is_listed_not_just_the_first(tmp_path):
    text = MINI_FAQ.replace("keywords:", "keyword:").replace("category: supplies", "category: nowhere")
    faq, problems, _ = problems_of(tmp_path, text)
    assert faq is None and len(problems) == 2


def test_problems_on_one_line_come_entry_by_entry(tmp_path):
    # Entries written on one line (flow style): each entry's problems, then the next entry's.
    text = """\
        version: 1
        categories: [{id: c, name: 类}]
        entries: [{id: a, category: c, question: 口罩怎么买, answer: 买}, {id: a, category: c, question: 测温, answer: 测}, {id: d, category: c, question: 消毒, answer: 消, review_by: 2020-01-01}, {id: e, category: c, question: 口罩怎么买, answer: 买}]
        """
    faq, problems, _ = problems_of(tmp_path, text)
    assert [message.split(" ")[0] + " " + message.split(" ")[1] for _, _, message in problems] == [
        "duplicate id", "entry 'd'", "phrasing '口罩怎么买'"]


def test_bad_yaml_gives_its_line(tmp_path):
    text = MINI_FAQ.replace("    answer: 错峰、分餐、同向就座。\n", "    answer: [未闭合\n")
    faq, problems, _ = problems_of(tmp_path, text)
    assert faq is None
    assert problems[0][1] == "error" and "not valid YAML" in problems[0][2]
    assert 21 <= problems[0][0] <= 23


def test_review_by_in_the_past_is_a_warning_only(tmp_path):
    text = MINI_FAQ.replace("    effective: 2020-02-21\n", "    effective: 2020-02-21\n    review_by: 2020-02-28\n")
    faq, problems, _ = problems_of(tmp_path, text, today=dt.date(2020, 3, 1))
    assert faq is not None
    assert problems == [(17, "warning", "entry 'disinfection.frequency' was due for review on 2020-02-28")]
    _, problems, _ = problems_of(tmp_path, text, today=dt.date(2020, 2, 27))
    assert problems == []


def test_an_answer_longer_than_a_chat_message_is_a_warning_only(tmp_path):
    long_answer = "；".join(f"第{n}条：员工每日两次测温，体温异常者立即隔离并报告。" for n in range(60))
    text = MINI_FAQ.replace("    answer: 错峰、分餐、同向就座。\n", f"    answer: {long_answer}\n")
    faq, problems, _ = problems_of(tmp_path, text)
    assert faq is not None and [(line, severity) for line, severity, _ in problems] == [(21, "warning")]
    assert "a chat message carries 2,048" in problems[0][2] and "bytes with its source" in problems[0][2]


def test_empty_and_missing_files(tmp_path):
    assert problems_of(tmp_path, "")[1][0][2].startswith("the file is empty")
    faq, problems = check_faq(tmp_path / "nope.yaml")
    assert faq is None and problems[0].message == "no such file"
    faq, problems, _ = problems_of(tmp_path, "- just\n- a list\n")
    assert faq is None and "mapping" in problems[0][2]


def test_numbers_as_text_are_accepted(tmp_path):
    faq, problems, _ = problems_of(tmp_path, MINI_FAQ.replace("answer: 错峰、分餐、同向就座。", "answer: 2"))
    assert faq is not None and faq.by_id["canteen.staggered-meals"].answer == "2"


def test_a_file_saved_in_gbk_names_the_line_and_a_crlf_file_loads(tmp_path):
    path = tmp_path / "gbk.yaml"
    path.write_bytes(MINI_FAQ.encode("gbk"))
    faq, problems = check_faq(path)
    first_chinese = next(n for n, line in enumerate(MINI_FAQ.splitlines(), 1) if not line.isascii())
    assert faq is None and [(p.line, p.message) for p in problems] == [(first_chinese, "not UTF-8 text; save the file as UTF-8")]
    crlf = tmp_path / "crlf.yaml"
    crlf.write_bytes(MINI_FAQ.replace("\n", "\r\n").encode("utf-8"))
    import hashlib

    loaded = load_faq(crlf)
    assert len(loaded.entries) == 4 and "\r" not in loaded.entries[0].answer
    assert loaded.version == hashlib.sha256(crlf.read_bytes()).hexdigest()[:12]  # what sha256sum prints


def test_a_bulk_build_pauses_the_collector_and_always_restarts_it():
    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        with bulk_build():
            assert not gc.isenabled()
            with bulk_build():  # nested: only the outer one restarts it
                pass
            assert not gc.isenabled()
            raise RuntimeError("a build that fails")
    assert gc.isenabled()


def test_starting_a_command_leaves_the_collector_running():
    # A start pauses collections while it reads the question prior; left paused, a long-running server
    # would never free a reference cycle.
    done = subprocess.run(
        [sys.executable, "-c", "import gc, sys\n"
         "from bot.cli import cli\n"
         "import click\n"
         "cli.get_command(click.Context(cli), 'ask')\n"
         "from faq.matcher import shipped_embedding, shipped_prior\n"
         "from faq.text import segmenter\n"
         "segmenter(); shipped_prior(); shipped_embedding()\n"
         "print(gc.isenabled(), 'faq.matcher' in sys.modules)"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]
