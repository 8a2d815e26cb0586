"""The live FAQ: a changed file is swapped in whole, and never while it is still being written."""
import os
import time

import pytest

import faq.live
from faq.kept import finish_writing
from faq.live import LiveFaq
from faq.loader import FaqError
from tests.conftest import MINI_FAQ

NEW_ENTRY = """\
  - id: loan.subsidy
    category: supplies
    question: 小微企业贷款贴息怎么申请？
    answer: 向区金融办提交申请表和贷款合同。
"""


def served(live):
    """What the bot serves now; matcher() would start a reload in a thread of its own."""
    return live._matcher


@pytest.fixture(autouse=True)
def settle_quickly(monkeypatch):
    monkeypatch.setattr(faq.live, "SETTLE_SECONDS", 0.05)


def test_an_edit_is_picked_up_once_the_file_has_stayed_the_same_for_a_while(mini_faq):
    live = LiveFaq(mini_faq, reload_seconds=0)
    half = MINI_FAQ + NEW_ENTRY[: NEW_ENTRY.index("    answer:")]  # valid YAML: an entry without its answer
    mini_faq.write_text(half, encoding="utf-8")
    live._wait_to_settle = lambda: mini_faq.write_text(MINI_FAQ + NEW_ENTRY, encoding="utf-8")  # the rest lands
    assert not live._reload_if_changed(settle=True)  # still being written: not read, not refused
    assert "loan.subsidy" not in served(live).faq.by_id and live.status()["error"] is None
    del live._wait_to_settle
    assert live._reload_if_changed(settle=True)
    assert "loan.subsidy" in served(live).faq.by_id


def test_an_edit_dated_in_the_future_is_picked_up(mini_faq):
    # Copied with its time (rsync -a, scp -p) from a machine whose clock runs ahead.
    live = LiveFaq(mini_faq, reload_seconds=0)
    mini_faq.write_text(MINI_FAQ + NEW_ENTRY, encoding="utf-8")
    later = time.time() + 600
    os.utime(mini_faq, (later, later))
    assert live._reload_if_changed(settle=True)
    assert "loan.subsidy" in served(live).faq.by_id


def test_a_file_that_changes_while_it_is_read_is_read_again(mini_faq, monkeypatch):
    live = LiveFaq(mini_faq, reload_seconds=0)
    prefix = MINI_FAQ[: MINI_FAQ.index("  - id: supplies.shortage")]  # valid YAML, two entries short
    mini_faq.write_text(prefix, encoding="utf-8")
    real_load = faq.live.load_matcher

    def load_while_the_editor_finishes(path, *args, **kwargs):
        loaded = real_load(path, *args, **kwargs)
        mini_faq.write_text(MINI_FAQ + NEW_ENTRY, encoding="utf-8")  # the rest of the save lands now
        return loaded

    monkeypatch.setattr(faq.live, "load_matcher", load_while_the_editor_finishes)
    assert not live._reload_if_changed(settle=True)  # the half-file is not swapped in
    assert len(served(live).faq.entries) == 4
    monkeypatch.setattr(faq.live, "load_matcher", real_load)
    assert live._reload_if_changed(settle=True)
    assert len(served(live).faq.entries) == 5


def test_a_process_started_while_the_file_is_broken_serves_the_last_version_that_loaded(mini_faq):
    LiveFaq(mini_faq, reload_seconds=0)  # the running bot: its index is kept
    finish_writing()
    mini_faq.write_text(MINI_FAQ + NEW_ENTRY + NEW_ENTRY, encoding="utf-8")  # an admin's edit: a duplicate id
    started = LiveFaq(mini_faq, reload_seconds=0)  # a worker restarted meanwhile
    assert len(served(started).entries) == 4 and "duplicate id 'loan.subsidy'" in started.status()["error"]
    assert served(started).decide("车间多久消毒一次").faq_id == "disinfection.frequency"
    with pytest.raises(FaqError, match="duplicate id"):
        LiveFaq(mini_faq, reload_seconds=0, keep_index=False)  # nothing kept to fall back on
    mini_faq.write_text(MINI_FAQ + NEW_ENTRY, encoding="utf-8")  # fixed
    assert started._reload_if_changed(settle=True) and started.status()["error"] is None
    assert len(served(started).entries) == 5


def test_reload_on_request_does_not_wait_for_the_file_to_settle(mini_faq):
    live = LiveFaq(mini_faq, reload_seconds=0)
    mini_faq.write_text(MINI_FAQ + NEW_ENTRY, encoding="utf-8")
    assert live.reload() and "loan.subsidy" in served(live).faq.by_id
