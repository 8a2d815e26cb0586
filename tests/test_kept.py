"""The built index kept between runs: read back only for the same bytes and code, and decides as built."""
import datetime as dt
import logging
import os
import pickle
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from faq import kept
from faq.evaluation import load_labelled
from faq.kept import load_matcher
from faq.loader import FaqError, load_faq
from faq.matcher import BUILT, Matcher
from tests.conftest import DATA, MINI_FAQ, ROOT, STARTER_FAQ, write_faq

TODAY = dt.date(2026, 11, 30)
NEW_ENTRY = """\
  - id: loan.subsidy
    category: supplies
    question: 小微企业贷款贴息怎么申请？
    answer: 向区金融办提交申请表和贷款合同。
"""


@pytest.fixture
def folder(tmp_path):
    made = tmp_path / "kept"
    made.mkdir(mode=0o700)
    return made


def index_files(folder):
    return sorted(folder.glob("index-*.pickle"))


def decisions(matcher, questions):
    return [matcher.decide(q) for q in questions]


WRITE_AFTER_QUESTIONS = """
import sys
import time
from pathlib import Path
from faq.evaluation import load_labelled
from faq.kept import load_matcher
from faq.loader import load_faq
from faq.matcher import Matcher
data, path, folder = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
other = Matcher(load_faq(data / "taxi_faq.yaml"))
for item in load_labelled(data / "eval_taxi.yaml"):
    other.decide(item.question)  # words met one question at a time first, as in a worker that reloads
load_matcher(path, folder=folder, wait=True)
"""


def test_an_index_kept_by_another_process_decides_as_one_built_here(tmp_path, folder, caplog):
    path = tmp_path / "faq.yaml"
    shutil.copy(STARTER_FAQ, path)
    subprocess.run([sys.executable, "-c", WRITE_AFTER_QUESTIONS, str(DATA), str(path), str(folder)],
                   cwd=ROOT, check=True)
    with caplog.at_level(logging.INFO, logger="faq.kept"):
        read = load_matcher(path, folder=folder, today=TODAY)
    assert "read back" in caplog.text
    built = Matcher(load_faq(path, TODAY))
    assert read.faq == built.faq and np.array_equal(read.entry_vectors, built.entry_vectors)
    questions = [item.question for item in load_labelled(DATA / "eval_starter_dev.yaml")]
    assert decisions(read, questions) == decisions(built, questions)


def test_every_attribute_of_a_matcher_is_kept_or_named_as_not(mini_faq):
    matcher = load_matcher(mini_faq, keep=False)
    shared = {"faq", "settings", "analyzer", "entries", "models", "prior", "embedding"}
    filled_as_asked = {"_scratch", "_finders", "_aspects", "_kinds"}
    assert set(vars(matcher)) == {*BUILT, "phrasings"} | shared | filled_as_asked


def tamper(file):
    """Change every answer in a kept index: what a matcher then says shows whether it read the file."""
    with open(file, "rb") as handle:
        header = handle.readline() + handle.readline()
        faq, built = pickle.load(handle)
    built["_answers"] = ["（读自保存的索引）"] * len(built["_answers"])
    with open(file, "wb") as handle:
        handle.write(header)
        pickle.dump((faq, built), handle)


def test_the_kept_index_is_what_is_served(mini_faq, folder):
    load_matcher(mini_faq, folder=folder, wait=True)
    tamper(*index_files(folder))
    assert load_matcher(mini_faq, folder=folder).answer(0) == "（读自保存的索引）"


@pytest.mark.parametrize("opened_to_others", ["folder", "file"])
def test_an_index_others_may_write_is_not_read(mini_faq, folder, opened_to_others, caplog):
    load_matcher(mini_faq, folder=folder, wait=True)
    [file] = index_files(folder)
    tamper(file)
    (folder if opened_to_others == "folder" else file).chmod(0o777 if opened_to_others == "folder" else 0o666)
    assert load_matcher(mini_faq, folder=folder, wait=True).answer(0) == "公共区域每天至少消毒两次。"
    assert "alone" in caplog.text or "only this user" in caplog.text


def test_an_index_is_read_back_whatever_the_umask(mini_faq, folder):
    umask = os.umask(0o002)  # many systems' default: files group-writable
    try:
        load_matcher(mini_faq, folder=folder, wait=True)
    finally:
        os.umask(umask)
    [file] = index_files(folder)
    assert file.stat().st_mode & 0o777 == 0o600
    tamper(file)
    assert load_matcher(mini_faq, folder=folder).answer(0) == "（读自保存的索引）"


def test_an_edit_builds_a_new_index(mini_faq, folder):
    load_matcher(mini_faq, folder=folder, wait=True)
    mini_faq.write_text(MINI_FAQ + NEW_ENTRY, encoding="utf-8")
    matcher = load_matcher(mini_faq, folder=folder, wait=True)
    assert "loan.subsidy" in matcher.faq.by_id
    assert matcher.decide("小微企业贷款贴息怎么申请").faq_id == "loan.subsidy"
    assert index_files(folder) == [folder / kept._name(mini_faq, mini_faq.read_bytes())]  # the last one's is of no use


def test_an_faq_with_errors_is_refused_and_nothing_is_kept(tmp_path, folder):
    path = write_faq(tmp_path, MINI_FAQ.replace("category: supplies", "category: nowhere", 1))
    with pytest.raises(FaqError, match="nowhere"):
        load_matcher(path, folder=folder, wait=True)
    assert not index_files(folder)


@pytest.mark.parametrize("damage", ["truncated", "foreign", "garbage"])
def test_a_damaged_index_is_built_again(mini_faq, folder, damage, caplog):
    expected = load_matcher(mini_faq, folder=folder, wait=True).decide("车间多久消毒一次")
    [file] = index_files(folder)
    whole = file.read_bytes()
    file.write_bytes({"truncated": whole[: len(whole) // 2], "foreign": b"another program's file\n" + whole[20:],
                      "garbage": kept.FORMAT + b"\x80\x05garbage"}[damage])
    matcher = load_matcher(mini_faq, folder=folder, wait=True)
    assert matcher.decide("车间多久消毒一次") == expected
    assert "cannot be read back" in caplog.text
    assert file.read_bytes() == whole  # written again, whole


def test_an_entry_falling_due_is_warned_of_the_next_day(tmp_path, folder):
    path = write_faq(tmp_path, MINI_FAQ.replace("    effective: 2020-02-21\n", "    review_by: 2026-12-01\n"))
    assert not load_matcher(path, folder=folder, today=dt.date(2026, 11, 30), wait=True).faq.warnings
    assert not load_matcher(path, folder=folder, today=dt.date(2026, 12, 1)).faq.warnings  # due today, not past
    [warning] = load_matcher(path, folder=folder, today=dt.date(2026, 12, 2), wait=True).faq.warnings
    assert "due for review on 2026-12-01" in warning.message
    [warning] = load_matcher(path, folder=folder, today=dt.date(2026, 12, 3)).faq.warnings
    assert not load_matcher(path, folder=folder, today=dt.date(2026, 12, 1)).faq.warnings  # the clock went back


def test_nothing_is_kept_when_told_not_to(mini_faq, folder):
    assert isinstance(load_matcher(mini_faq, folder=folder, keep=False, wait=True), Matcher)
    assert not index_files(folder)


def test_only_the_indexes_of_the_most_recently_used_faq_files_stay(tmp_path, folder):
    paths = [write_faq(tmp_path, MINI_FAQ, name=f"faq{n}.yaml") for n in range(kept.KEEP_FAQ_FILES + 2)]
    for n, path in enumerate(paths[:kept.KEEP_FAQ_FILES]):
        load_matcher(path, folder=folder, wait=True)
        for file in index_files(folder):  # mtimes a second apart, oldest first, whatever the file system
            os.utime(file, (file.stat().st_mtime - 1,) * 2)
    oldest = min(index_files(folder), key=lambda f: f.stat().st_mtime)
    load_matcher(paths[0], folder=folder)  # used again: now the most recent
    assert max(index_files(folder), key=lambda f: f.stat().st_mtime) == oldest
    for path in paths[kept.KEEP_FAQ_FILES:]:
        load_matcher(path, folder=folder, wait=True)
    files = index_files(folder)
    assert len(files) == kept.KEEP_FAQ_FILES and oldest in files


def test_an_edited_faq_file_keeps_only_its_newest_index_and_pushes_out_no_other(tmp_path, folder):
    served, edited = write_faq(tmp_path, MINI_FAQ, name="served.yaml"), write_faq(tmp_path, MINI_FAQ, name="edited.yaml")
    load_matcher(served, folder=folder, wait=True)
    [served_index] = index_files(folder)
    os.utime(served_index, (0, 0))  # the least recently used
    for n in range(kept.KEEP_FAQ_FILES + 1):  # an admin's edits, each tried with `ask`
        edited.write_text(MINI_FAQ + NEW_ENTRY.replace("贴息", "贴息" + "补" * n), encoding="utf-8")
        load_matcher(edited, folder=folder, wait=True)
    assert index_files(folder) == sorted([served_index, folder / kept._name(edited, edited.read_bytes())])
    load_matcher(served, folder=folder)
    assert served_index.stat().st_mtime > 0  # read back


def test_a_command_that_ends_at_once_leaves_an_index_the_next_one_reads(mini_faq):
    run = [sys.executable, str(ROOT / "run.py"), "ask", "--faq", str(mini_faq), "--json", "车间多久消毒一次"]
    first = subprocess.run(run, capture_output=True, text=True, cwd=ROOT, check=True)
    [file] = kept.cache.private_dir().glob(kept._name(mini_faq, mini_faq.read_bytes()))
    os.utime(file, (0, 0))
    written = file.stat().st_ino
    second = subprocess.run(run, capture_output=True, text=True, cwd=ROOT, check=True)
    assert second.stdout == first.stdout and '"faq_id": "disinfection.frequency"' in second.stdout
    assert file.stat().st_ino == written and file.stat().st_mtime > 0  # read back (not written again), and marked as used


def test_is_kept_says_whether_the_file_as_it_is_now_was_indexed(mini_faq):
    assert not kept.is_kept(mini_faq)
    load_matcher(mini_faq, wait=True)  # in this user's own cache directory
    assert kept.is_kept(mini_faq)
    original = mini_faq.read_bytes()
    mini_faq.write_text(MINI_FAQ + NEW_ENTRY, encoding="utf-8")
    assert not kept.is_kept(mini_faq)
    mini_faq.write_bytes(original)
    kept.cache.private_dir().joinpath(kept._name(mini_faq, original)).unlink()
    assert not kept.is_kept(mini_faq) and not kept.is_kept(mini_faq.parent / "missing.yaml")


CHECK_STARTUP = """
import sys
import click
from bot.config import config_from_dict
from bot.server import _check_startup
config = config_from_dict({"faq": {"path": sys.argv[1]}, "storage": {"path": sys.argv[2]}})
try:
    _check_startup(config)
except click.ClickException as exc:
    print(exc.message)
"""


def test_serve_keeps_the_index_before_its_workers_start_and_then_checks_no_more(tmp_path):
    path = write_faq(tmp_path, MINI_FAQ)

    def check_startup(faq):  # in a process of its own, as `run.py serve` (a thread left by another test stops forks)
        run = [sys.executable, "-c", CHECK_STARTUP, str(faq), str(tmp_path / "bot.db")]
        return subprocess.run(run, cwd=ROOT, capture_output=True, text=True, check=True)

    assert check_startup(path).stdout == ""  # the index built in a child process, and kept
    assert kept.is_kept(path)
    broken = MINI_FAQ.replace("keywords:", "keyword:")
    path.write_text(broken, encoding="utf-8")
    started = check_startup(path)  # a restart after a broken edit: the workers serve the last good FAQ
    assert started.stdout == "" and "unknown key 'keyword'" in started.stderr and "last version that did" in started.stderr
    assert not kept.is_kept(path) and kept.last_good_file(path) is not None
    never_loaded = write_faq(tmp_path, broken, name="new.yaml")
    assert "unknown key 'keyword'" in check_startup(never_loaded).stdout  # nothing to serve: refused


HANGING_BUILD = """
import sys
import time
from bot.config import config_from_dict
from bot.server import _keep_index_for_workers
from faq import kept, parallel
parallel.CHILD_SECONDS = 1
kept.load_matcher = lambda *args, **kwargs: time.sleep(60)
config = config_from_dict({"faq": {"path": sys.argv[1]}})
print(_keep_index_for_workers(config))
"""


def test_a_build_before_the_workers_that_hangs_is_given_up_and_the_workers_build_their_own(mini_faq):
    run = [sys.executable, "-c", HANGING_BUILD, str(mini_faq)]
    started = time.monotonic()
    done = subprocess.run(run, cwd=ROOT, capture_output=True, text=True, check=True, timeout=50)
    assert done.stdout == "False\n" and time.monotonic() - started < 30
    assert not kept.is_kept(mini_faq)


def test_is_kept_only_of_an_index_that_would_be_read_back(tmp_path):
    path = write_faq(tmp_path, MINI_FAQ.replace("    effective: 2020-02-21\n", "    review_by: 2026-12-01\n"))
    load_matcher(path, today=dt.date(2026, 11, 30), wait=True)
    assert kept.is_kept(path, today=dt.date(2026, 12, 1))
    assert not kept.is_kept(path, today=dt.date(2026, 12, 2))  # its warnings are no longer today's
    file = kept.cache.private_dir() / kept._name(path, path.read_bytes())
    file.chmod(0o660)
    assert not kept.is_kept(path, today=dt.date(2026, 12, 1))  # others may write it: it would not be read


def test_a_partial_file_left_by_a_killed_writer_is_removed_once_old(mini_faq, folder):
    old, recent = folder / "index-aaaa.pickle.12.34.tmp", folder / "index-bbbb.pickle.56.78.tmp"
    for partial in (old, recent):
        partial.write_bytes(b"half an index")
    os.utime(old, (0, time.time() - kept.ABANDONED_SECONDS - 60))
    load_matcher(mini_faq, folder=folder, wait=True)
    assert not old.exists() and recent.exists()  # the recent one may still be being written
