"""Shared fixtures: small FAQ files written on the fly, and the bundled one."""
from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import textwrap
from pathlib import Path

import pytest

# The tests' own temporary directory, and so their own cache directory (faq/cache.py), for this
# process and the commands it starts: a test run must neither read what a running bot keeps there
# nor push its FAQ's index out.
# (Test modules import this file again as tests.conftest: the directory is made once.)
TEMPORARY = os.environ.get("FUYI_BOT_TESTS_TMPDIR") or tempfile.mkdtemp(prefix="fuyi-bot-tests-")
os.environ["FUYI_BOT_TESTS_TMPDIR"] = os.environ["TMPDIR"] = tempfile.tempdir = TEMPORARY

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
STARTER_FAQ = ROOT / "faq" / "data" / "faq.yaml"

MINI_FAQ = """\
version: 1
categories:
  - {id: prevention, name: 防控措施, team: 防控指导组}
  - {id: supplies, name: 防控物资, team: 防控物资组}
synonyms:
  - [消毒, 消杀, 杀菌]
entries:
  - id: disinfection.frequency
    category: prevention
    question: 厂区每天需要消毒几次？
    alternates: [车间多久消毒一次, 办公区域消毒频次要求]
    keywords: [消毒]
    answer: |
      公共区域每天至少消毒两次。
    source: 《企事业单位复工复产疫情防控措施指南》
    effective: 2020-02-21
  - id: canteen.staggered-meals
    category: prevention
    question: 员工食堂怎么安排就餐？
    alternates: [吃饭要不要错峰, 食堂能不能堂食]
    answer: 错峰、分餐、同向就座。
  - id: supplies.shortage
    category: supplies
    question: 口罩不够用怎么办？
    alternates: [防疫物资短缺找谁, 买不到消毒液怎么办]
    answer: 请联系防控物资组协调。
  - id: disinfection.method
    category: prevention
    question: 用什么消毒，消毒液怎么配？
    alternates: [消毒液怎么兑水, 用酒精擦可以吗]
    answer: 含氯消毒剂按说明稀释后擦拭。
"""


def pytest_unconfigure(config):
    shutil.rmtree(TEMPORARY, ignore_errors=True)


@pytest.fixture(autouse=True)
def indexes_kept_before_the_next_test():
    """A test's FAQ index is written by a thread: the next test starts without it (it would stop forks)."""
    yield
    from faq.kept import finish_writing
    finish_writing()


def train_ranker():
    """bench/train_ranker.py as a module: which labelled sets the shipped models learned from."""
    spec = importlib.util.spec_from_file_location("train_ranker", ROOT / "bench" / "train_ranker.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_faq(tmp_path: Path, text: str, name: str = "faq.yaml") -> Path:
    """Write an FAQ file into a test's own folder."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def mini_faq(tmp_path) -> Path:
    return write_faq(tmp_path, MINI_FAQ)
