"""Accuracy floors on labelled question sets, through the same decide() the bot uses.

The starter sets are questions written as enterprise contacts write them (colloquial, typos,
greetings, traditional characters, out-of-scope questions, courtesies). The holdout set and the
`other` … `sixth` FAQs measure generalisation; the models were fitted on the dev set and the
five other FAQs (bench/train_ranker.py). A floor that fails means a change
made the bot worse: look at `python run.py faq eval FILE --misses`.
"""
from pathlib import Path

import pytest

from faq.evaluation import evaluate, load_labelled
from faq.loader import load_faq
from faq.matcher import Matcher

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
STARTER = ROOT / "faq" / "data" / "faq.yaml"

# file, FAQ, floors: right (of answerable), wrong (of all, at most), out-of-scope escalated, courtesies ignored
FLOORS = [
    ("eval_starter_dev.yaml", STARTER, 0.95, 0.03, 0.70, 0.95),
    ("eval_starter_holdout.yaml", STARTER, 0.88, 0.03, 0.95, 0.95),
    ("eval_other.yaml", DATA / "other_faq.yaml", 0.83, 0.01, 0.95, 0.95),
    ("eval_third.yaml", DATA / "third_faq.yaml", 0.67, 0.01, 0.90, 0.95),
    ("eval_fourth.yaml", DATA / "fourth_faq.yaml", 0.76, 0.03, 0.90, 0.95),
    ("eval_fifth.yaml", DATA / "fifth_faq.yaml", 0.87, 0.06, 0.70, 0.95),
    ("eval_sixth.yaml", DATA / "sixth_faq.yaml", 0.77, 0.09, 0.45, 0.95),
]


@pytest.mark.parametrize("questions, faq_path, right, wrong, escalated, ignored", FLOORS, ids=[f[0] for f in FLOORS])
def test_accuracy_floor(questions, faq_path, right, wrong, escalated, ignored):
    report = evaluate(Matcher(load_faq(faq_path)), load_labelled(DATA / questions))
    summary = report.summary()
    assert report.right_rate >= right, summary
    assert report.wrong_rate <= wrong, summary
    assert report.escalated_rate >= escalated, summary
    assert report.ignored_rate >= ignored, summary


def test_labelled_sets_name_real_entries():
    for questions, faq_path, *_ in FLOORS:
        ids = {e.id for e in load_faq(faq_path).entries}
        for item in load_labelled(DATA / questions):
            assert item.expect in ids | {"escalate", "ignore"}, (questions, item)
