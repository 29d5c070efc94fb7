"""Schedules: when a rule is active, judged by the image stamp (so recorded footage is judged by when it was
recorded, not by when it is replayed).

    active: ["07:00-19:00"]                       # every day, time zone UTC
    active: ["22:00-06:00", "12:00-12:30"]        # a range may run across midnight
    active:
      hours: ["07:00-19:00"]                      # optional (default: the whole day); HH:MM or HH:MM:SS
      days: [mon-fri, sun]                        # optional (default: every day); names or ranges
      timezone: Europe/Berlin                     # optional (default UTC); IANA names

A range includes its start and excludes its end; "00:00-24:00" is the whole day. A range across midnight
belongs to the day it starts on: days: [fri] with "22:00-06:00" is Friday 22:00 to Saturday 06:00.
Stamps are seconds since 1970-01-01 UTC (ROS header stamps; a rosbag2's own header stamps). Video files and
image folders are stamped from the recording's start time (`vad-video --start-time`, parse_start_time), without
it from 0, so that their clock starts at 1970-01-01 00:00:00 UTC (a Thursday). A frame without a stamp is never
in a schedule.
"""
from __future__ import annotations

import difflib
import re
import zoneinfo
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from vad_ros.limits import excerpt

DAYS = ('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun')
_TIME = re.compile(r'^\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*$')
_KEYS = ('hours', 'days', 'timezone')


class ScheduleError(ValueError):
    """A schedule that does not parse; the message says what to write instead."""


@dataclass(frozen=True)
class Schedule:
    ranges: tuple[tuple[int, int], ...]     # (start, end) seconds of the day; end < start runs past midnight
    days: frozenset[int] | None             # 0 = Monday; None = every day
    timezone: str = 'UTC'
    text: str = ''                          # as written, for sentences

    def active_at(self, weekday: int, second: float) -> bool:
        """Is a moment (weekday 0 = Monday, seconds since local midnight) inside the schedule?"""
        for start, end in self.ranges:
            if start < end:
                if start <= second < end and self._day(weekday):
                    return True
            elif (second >= start and self._day(weekday)) or (second < end and self._day((weekday - 1) % 7)):
                return True
        return False

    def active(self, stamp: float | None) -> bool:
        if stamp is None:
            return False
        weekday, second = local_time(stamp, self.timezone)
        return self.active_at(weekday, second)

    def _day(self, weekday: int) -> bool:
        return self.days is None or weekday in self.days


@lru_cache(maxsize=64)
def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def local_time(stamp: float, timezone: str = 'UTC') -> tuple[int, float]:
    """(weekday 0 = Monday, seconds since local midnight) of a stamp in a time zone."""
    t = datetime.fromtimestamp(float(stamp), _zone(timezone))
    return t.weekday(), t.hour * 3600 + t.minute * 60 + t.second + t.microsecond * 1e-6


def _clock(text: str) -> int:
    m = _TIME.match(text)
    if not m:
        raise ScheduleError(f"'{text}' is not a time of day (write HH:MM or HH:MM:SS, e.g. 07:30)")
    h, mi, s = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    if (h, mi, s) == (24, 0, 0):
        return 86400
    if h > 23 or mi > 59 or s > 59:
        raise ScheduleError(f"'{text}' is not a time of day (hours 0-23, minutes and seconds 0-59; 24:00 ends "
                            f"a day)")
    return h * 3600 + mi * 60 + s


def parse_range(text) -> tuple[int, int]:
    if not isinstance(text, str) or text.count('-') != 1:
        raise ScheduleError(f"{excerpt(text)} is not a time range (write 'HH:MM-HH:MM', e.g. '07:00-19:00' or "
                            f"'22:00-06:00' across midnight)")
    start, end = (_clock(part) for part in text.split('-'))
    if start == 86400:
        raise ScheduleError(f"'{text}': a range cannot start at 24:00 (write 00:00)")
    if start == end:
        raise ScheduleError(f"'{text}': start and end are the same (for the whole day write '00:00-24:00')")
    return start, end


_FULL_DAYS = ('monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday')


def _day_index(name: str) -> int:
    key = name.strip().lower()
    for names in (DAYS, _FULL_DAYS):
        if key in names:
            return names.index(key)
    close = difflib.get_close_matches(key, DAYS + _FULL_DAYS, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ''
    raise ScheduleError(f"'{name}' is not a day (write mon, tue, wed, thu, fri, sat, sun or a range like "
                        f"mon-fri){hint}")


def parse_days(value) -> frozenset[int]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(d, str) for d in items):
        raise ScheduleError(f"'days' must be a list of days, e.g. [mon-fri] or [sat, sun], got {excerpt(value)}")
    days: set[int] = set()
    for item in items:
        if '-' in item:
            first, last = (_day_index(p) for p in item.split('-', 1))
            days.update((first + k) % 7 for k in range((last - first) % 7 + 1))
        else:
            days.add(_day_index(item))
    return frozenset(days)


def parse_timezone(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ScheduleError(f"'timezone' must be an IANA time zone name such as Europe/Berlin, got {excerpt(name)}")
    try:
        _zone(name.strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        close = difflib.get_close_matches(name.strip()[:64], sorted(zoneinfo.available_timezones()), n=3)
        hint = f" (closest known: {', '.join(close)})" if close else ''
        raise ScheduleError(f"unknown time zone {excerpt(name)}{hint}") from None
    return name.strip()


def parse_schedule(value) -> Schedule:
    """A Schedule from a rule's `active:` value (a list of ranges, or a mapping with hours/days/timezone)."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        value = {'hours': value}
    if not isinstance(value, dict):
        raise ScheduleError(f"'active' must be a list of time ranges like ['07:00-19:00'] or a mapping with "
                            f"hours, days and timezone, got {excerpt(value)}")
    for key in value:
        if key not in _KEYS:
            close = difflib.get_close_matches(str(key), _KEYS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(_KEYS)})"
            raise ScheduleError(f"unknown schedule key {excerpt(key)}{hint}")
    hours = value.get('hours', ['00:00-24:00'])
    if isinstance(hours, str):
        hours = [hours]
    if not isinstance(hours, list) or not hours:
        raise ScheduleError(f"'hours' must be a non-empty list of time ranges like '07:00-19:00', got {excerpt(hours)}")
    ranges = tuple(parse_range(h) for h in hours)
    days = parse_days(value['days']) if 'days' in value else None
    tz = parse_timezone(value.get('timezone', 'UTC'))
    text = ', '.join(str(h) for h in hours)
    if days is not None and len(days) < 7:
        text += ' on ' + ', '.join(DAYS[d] for d in sorted(days))
    if tz != 'UTC':
        text += f' ({tz})'
    return Schedule(ranges, days, tz, text)


START_TIME_EXAMPLE = '2026-03-01T22:15:00+01:00'


def parse_start_time(text: str) -> float:
    """A recording's start time, ISO 8601 with its UTC offset ('2026-03-01T22:15:00+01:00', '...Z'), as seconds
    since 1970-01-01 UTC: the stamp of a video's first frame, so that schedules judge the frames by when they were
    recorded. Raises ScheduleError saying what to write; a time without an offset is refused (whose local time
    would it be?)."""
    value = str(text).strip()
    try:
        moment = datetime.fromisoformat(value[:-1] + '+00:00' if value[-1:] in 'zZ' and value else value)
    except ValueError:
        raise ScheduleError(f"start time {excerpt(text)} is not an ISO 8601 date and time (write e.g. "
                            f"{START_TIME_EXAMPLE}, or ...Z for UTC)") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ScheduleError(f"start time {excerpt(text)} has no UTC offset: add the camera's, e.g. "
                            f"{value}+01:00 (or Z for UTC)")
    stamp = moment.timestamp()
    if stamp < 0:
        raise ScheduleError(f"start time {excerpt(text)} is before 1970-01-01 (image stamps cannot be negative)")
    return stamp
