"""The live FAQ: a changed file is swapped in whole, and never while it is still being written."""
import os
import time

import faq.live
from faq.live import LiveFaq
from tests.conftest import MINI_FAQ

NEW_ENTRY = """\
  - id: loan.subsidy
    category: supplies
    question: 小微企业贷款贴息怎么申请？
    answer: 向区金融办提交申请表和贷款合同。
"""


def age(path, seconds):
    """Make the file look modified `seconds` ago."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_an_edit_is_picked_up_once_the_file_has_settled(mini_faq):
    live = LiveFaq(mini_faq, reload_seconds=0)
    mini_faq.write_text(MINI_FAQ + NEW_ENTRY, encoding="utf-8")
    assert not live._reload_if_changed(settle=True)  # written just now: perhaps only half of it
    assert "loan.subsidy" not in live.matcher().faq.by_id
    age(mini_faq, 1)
    assert live._reload_if_changed(settle=True)
    assert "loan.subsidy" in live.matcher().faq.by_id


def test_a_file_that_changes_while_it_is_read_is_read_again(mini_faq, monkeypatch):
    live = LiveFaq(mini_faq, reload_seconds=0)
    prefix = MINI_FAQ[: MINI_FAQ.index("  - id: supplies.shortage")]  # valid YAML, two entries short
    mini_faq.write_text(prefix, encoding="utf-8")
    age(mini_faq, 1)
    real_load = faq.live.load_matcher

    def load_while_the_editor_finishes(path, *args, **kwargs):
        loaded = real_load(path, *args, **kwargs)
        mini_faq.write_text(MINI_FAQ + NEW_ENTRY, encoding="utf-8")  # the rest of the save lands now
        return loaded

    monkeypatch.setattr(faq.live, "load_matcher", load_while_the_editor_finishes)
    assert not live._reload_if_changed(settle=True)  # the half-file is not swapped in
    assert len(live.matcher().faq.entries) == 4
    monkeypatch.setattr(faq.live, "load_matcher", real_load)
    age(mini_faq, 1)
    assert live._reload_if_changed(settle=True)
    assert len(live.matcher().faq.entries) == 5


def test_reload_on_request_does_not_wait_for_the_file_to_settle(mini_faq):
    live = LiveFaq(mini_faq, reload_seconds=0)
    mini_faq.write_text(MINI_FAQ + NEW_ENTRY, encoding="utf-8")
    assert live.reload() and "loan.subsidy" in live.matcher().faq.by_id
