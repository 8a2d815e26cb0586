"""When a ticket is due ("复核不过夜"): per-team rules from config, in local time, with an injected clock.

Two kinds of rule (config `[[queue.deadlines]]`):
- clock times: asked on a workday before `before` -> due at `due_same_day` that day; otherwise at
  `due_next_day` on the next workday;
- `working_hours = N`: due after N hours inside `workday_start`..`workday_end` on workdays.
A workday is one of the rule's weekdays that is not a holiday, or an extra workday (调休上班).
"""
from __future__ import annotations

import datetime as dt

from bot.config import DeadlineRule

WEEKDAYS = "一二三四五六日"
_MAX_DAYS = 400  # a rule with no workdays at all cannot loop forever


def zone(utc_offset_hours: float) -> dt.tzinfo:
    """The local time zone (China has one fixed offset, no daylight saving)."""
    return dt.timezone(dt.timedelta(hours=utc_offset_hours))


def _at(day: dt.date, hhmm: str, tz: dt.tzinfo) -> dt.datetime:
    hour, minute = (int(p) for p in hhmm.split(":"))
    return dt.datetime.combine(day, dt.time(hour, minute), tz)


def _next_workday(day: dt.date, rule: DeadlineRule) -> dt.date:
    for _ in range(_MAX_DAYS):
        day += dt.timedelta(days=1)
        if rule.is_workday(day):
            return day
    raise ValueError("deadline rule has no workdays")


def due_at(rule: DeadlineRule, asked_at: float, tz: dt.tzinfo) -> float:
    """The deadline (unix time) for a question asked at `asked_at` under `rule`."""
    local = dt.datetime.fromtimestamp(asked_at, tz)
    if rule.working_hours is not None:
        return _after_working_hours(rule, local).timestamp()
    today = local.date()
    if rule.is_workday(today) and local < _at(today, rule.before, tz):
        due = _at(today, rule.due_same_day, tz)
        if due > local:
            return due.timestamp()
    return _at(_next_workday(today, rule), rule.due_next_day, tz).timestamp()


def _after_working_hours(rule: DeadlineRule, local: dt.datetime) -> dt.datetime:
    tz = local.tzinfo
    remaining = dt.timedelta(hours=rule.working_hours or 0)
    cursor = local
    for _ in range(_MAX_DAYS):
        day = cursor.date()
        if rule.is_workday(day):
            start, end = _at(day, rule.workday_start, tz), _at(day, rule.workday_end, tz)
            cursor = max(cursor, start)
            if cursor < end:
                if cursor + remaining <= end:
                    return cursor + remaining
                remaining -= end - cursor
        cursor = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0, 0), tz)
    raise ValueError("deadline rule has no working hours")


def describe_due(due: float, now: float, tz: dt.tzinfo) -> str:
    """"今天 21:00", "明天 10:00", "后天 10:00" or "3月2日（周一）10:00", as seen at `now`."""
    due_local, now_local = dt.datetime.fromtimestamp(due, tz), dt.datetime.fromtimestamp(now, tz)
    days = (due_local.date() - now_local.date()).days
    clock = f"{due_local.hour:02d}:{due_local.minute:02d}"  # strftime costs an acknowledgement 4 us
    if days == 0:
        return f"今天 {clock}"
    if days == 1:
        return f"明天 {clock}"
    if days == 2:
        return f"后天 {clock}"
    return f"{due_local.month}月{due_local.day}日（周{WEEKDAYS[due_local.weekday()]}）{clock}"


def iso(ts: float | None, tz: dt.tzinfo) -> str | None:
    """A unix time as local ISO 8601 with its offset, for JSON output."""
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, tz).isoformat(timespec="seconds")


def short(ts: float | None, tz: dt.tzinfo) -> str:
    """A unix time as "02-21 16:05" for tables."""
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, tz).strftime("%m-%d %H:%M")
