"""Measure the matcher on a labelled question file: how often it is right, wrong, or hands over."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

SPECIAL_LABELS = {"escalate", "ignore"}


@dataclass(frozen=True)
class Labelled:
    question: str
    expect: str  # an FAQ id, "escalate" (out of scope) or "ignore" (a courtesy)


@dataclass
class Report:
    """Counts over one labelled set; rates as the issue defines them."""

    total: int = 0
    answerable: int = 0
    right: int = 0
    wrong: int = 0
    out_of_scope: int = 0
    escalated: int = 0
    courtesies: int = 0
    ignored: int = 0
    outcomes: Counter = field(default_factory=Counter)
    misses: list = field(default_factory=list)

    def rate(self, part: int, whole: int) -> float:
        return part / whole if whole else 1.0

    @property
    def right_rate(self) -> float:
        return self.rate(self.right, self.answerable)

    @property
    def wrong_rate(self) -> float:
        return self.rate(self.wrong, self.total)

    @property
    def escalated_rate(self) -> float:
        return self.rate(self.escalated, self.out_of_scope)

    @property
    def ignored_rate(self) -> float:
        return self.rate(self.ignored, self.courtesies)

    def summary(self) -> str:
        return (
            f"{self.total} questions: right {self.right}/{self.answerable} ({self.right_rate:.1%}), "
            f"wrong {self.wrong}/{self.total} ({self.wrong_rate:.1%}), "
            f"out-of-scope escalated {self.escalated}/{self.out_of_scope} ({self.escalated_rate:.1%}), "
            f"courtesies ignored {self.ignored}/{self.courtesies} ({self.ignored_rate:.1%})"
        )


class LabelledError(Exception):
    """A labelled question file that cannot be read; the message says where."""


def load_labelled(path: str | Path) -> list[Labelled]:
    """Read `questions: [{q: ..., expect: ...}, ...]`."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise LabelledError(f"{path}:{mark.line + 1 if mark else 1}: not valid YAML") from None
    items = data.get("questions") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise LabelledError(f"{path}: expected `questions:` with a list of {{q: ..., expect: ...}}")
    labelled = []
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict) or "q" not in item or "expect" not in item:
            raise LabelledError(f"{path}: question {number} needs both q and expect")
        labelled.append(Labelled(str(item["q"]), str(item["expect"])))
    return labelled


def evaluate(matcher, questions: list[Labelled]) -> Report:
    """Run every question through matcher.decide and count outcomes."""
    report = Report()
    for item in questions:
        decision = matcher.decide(item.question)
        report.total += 1
        outcome = _outcome(item.expect, decision)
        report.outcomes[outcome] += 1
        if item.expect == "escalate":
            report.out_of_scope += 1
            report.escalated += decision.kind == "escalate"
        elif item.expect == "ignore":
            report.courtesies += 1
            report.ignored += decision.kind == "ignore"
        else:
            report.answerable += 1
            report.right += outcome == "right"
        if decision.kind == "answer" and decision.faq_id != item.expect:
            report.wrong += 1
        if outcome != "right":
            report.misses.append((item, decision))
    return report


def _outcome(expect: str, decision) -> str:
    if expect in SPECIAL_LABELS:
        return "right" if decision.kind == expect else f"{expect}->{decision.kind}"
    if decision.kind == "answer":
        return "right" if decision.faq_id == expect else "wrong"
    if decision.kind == "suggest":
        ids = [c.faq_id for c in decision.candidates]
        return "suggested" if expect in ids else "suggested-other"
    return decision.kind
