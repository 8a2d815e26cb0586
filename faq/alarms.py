"""Health alarms in a message that otherwise reads as a courtesy: "收到，有员工体温37.8" is a report.

Read on the message as sent (simplified), clause by clause: punctuation and spaces end a clause,
an enumeration comma (、) does not, so "员工均无发热、咳嗽" denies both and "没发热，下午发热了"
does not.
"""
from __future__ import annotations

import re

from faq import lexicon

_CLAUSES = re.compile(r"[，,。；;！!？?\s]+|(?<!\d)\.|\.(?!\d)")
_ALARM = re.compile("|".join(sorted(lexicon.ALARMS, key=len, reverse=True)))
_DENIAL = re.compile("|".join(sorted(lexicon.DENIALS + lexicon.NOT_DENIALS, key=len, reverse=True)))
_AFFIRMED = re.compile("(?<!没)有")
_LIST_ITEM = re.compile("(?:" + _ALARM.pattern + ")(?:[、和及或与/]|等?$)")
_ZERO_AFTER = re.compile(r"^\D{0,4}?(?:为|是)?(?:0|零)(?![\d.])")
DENIAL_REACH = 6  # characters between a denial and its alarm word: "没有员工出现发热"
# 38度, 37.5, 38.2℃, 37度5, 三十八度.
_DIGITS = re.compile(r"(?<![\d.])(3[5-9]|4[0-2])(?:\.(\d)|度(\d)(?!\d))?\s*(度|°c|°|℃)?")
_CHINESE = re.compile("三十([五六七八九])度([一二三四五六七八九])?|四十(?:一|二)?度")
_DUTY = re.compile("(?<!已)(?:" + "|".join(lexicon.ALARM_DUTIES) + ")")
_BODY_BEFORE = re.compile("(?:" + "|".join(lexicon.BODY_TEMPERATURE) + ")(?:是|为|:|：|有)?$")
_CHINESE_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九")}


def raises_alarm(message: str) -> bool:
    """Whether a message (simplified, punctuation kept) reports a health alarm it does not deny."""
    return any(_clause_alarm(clause) for clause in _CLAUSES.split(message) if clause)


def _clause_alarm(clause: str) -> bool:
    if _DUTY.search(clause):
        return False  # a rule passed on: "有发热症状的及时上报"
    for found in _ALARM.finditer(clause):
        before, after = clause[: found.start()], clause[found.end() :]
        if before.endswith(lexicon.ALARM_WORK_BEFORE) or after.startswith(lexicon.ALARM_WORK_AFTER):
            continue
        if any(condition in before for condition in lexicon.ALARM_CONDITIONS):
            continue  # "如有发热"
        if before.endswith(("不", "非", "零", "0")) or _ZERO_AFTER.search(after):
            continue  # 不发烧, 零发热, 发热0人, 体温异常人数为0
        if not _denied(before):
            return True
    return _fever(clause)


def _denied(before: str) -> bool:
    """Whether the clause up to an alarm word ends in the reach of a denial."""
    denial = None
    for denial in _DENIAL.finditer(before):
        pass
    if denial is None or denial.group() in lexicon.NOT_DENIALS:
        return False
    # Alarm words since the denial keep it only as items of one list: 无发热、咳嗽 / 无发热咳嗽.
    between = _LIST_ITEM.sub("", before[denial.end() :])
    if _ALARM.search(between) or _AFFIRMED.search(between) or any(end in between for end in lexicon.DENIAL_ENDS):
        return False
    return len(between) <= DENIAL_REACH


def _fever(clause: str) -> bool:
    """A body temperature of 37.3 or more, not said of the weather nor as a line to stay under."""
    if any(word in clause for word in lexicon.NOT_A_FEVER):
        return False
    about_body = any(word in clause for word in lexicon.BODY_TEMPERATURE)
    for found in _DIGITS.finditer(clause):
        whole, tenth = int(found.group(1)), int(found.group(2) or found.group(3) or 0)
        # A unit, 37度5, a decimal in a clause about someone's temperature, or a bare number right after
        # the word for it ("体温38"; "40人" is no temperature).
        said_right_after = _BODY_BEFORE.search(clause[: found.start()]) is not None
        written_as_temperature = (found.group(4) is not None or found.group(3) is not None
                                  or (found.group(2) is not None and about_body) or said_right_after)
        if written_as_temperature and whole * 10 + tenth >= 373:
            return True
    for found in _CHINESE.finditer(clause):
        if found.group().startswith("四十"):
            return True
        whole = 30 + _CHINESE_DIGITS[found.group(1)]
        tenth = _CHINESE_DIGITS[found.group(2)] if found.group(2) else 0
        if whole * 10 + tenth >= 373:
            return True
    return False
