"""Schedules: ranges, days, time zones, midnight, and the errors of schedules that do not parse."""
from datetime import datetime, timezone

import pytest
from hypothesis import given, strategies as st

from vad_ros.reasoning.schedule import ScheduleError, local_time, parse_schedule


def stamp(text: str, tz=timezone.utc) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()


def test_day_range_includes_start_excludes_end():
    s = parse_schedule(['07:00-19:00'])
    assert not s.active(stamp('2026-11-25 06:59:59'))
    assert s.active(stamp('2026-11-25 07:00:00')) and s.active(stamp('2026-11-25 18:59:59'))
    assert not s.active(stamp('2026-11-25 19:00:00'))


def test_range_across_midnight_belongs_to_the_day_it_starts():
    s = parse_schedule({'hours': ['22:00-06:00'], 'days': ['fri']})        # 2026-11-27 is a Friday
    assert s.active(stamp('2026-11-27 23:30')) and s.active(stamp('2026-11-28 05:59'))   # Fri night, Sat morning
    assert not s.active(stamp('2026-11-27 05:00'))                          # Friday morning = Thursday's night
    assert not s.active(stamp('2026-11-28 22:30'))                          # Saturday night
    assert not s.active(stamp('2026-11-28 06:00'))


def test_days_ranges_and_names():
    s = parse_schedule({'days': ['mon-fri']})
    assert s.active(stamp('2026-11-27 12:00')) and not s.active(stamp('2026-11-29 12:00'))   # Fri, Sun
    wrap = parse_schedule({'days': ['sat-mon'], 'hours': ['00:00-24:00']})
    assert wrap.days == frozenset({5, 6, 0})
    assert parse_schedule({'days': ['Sunday']}).days == frozenset({6})


def test_time_zone_decides_the_local_clock():
    s = parse_schedule({'hours': ['07:00-19:00'], 'timezone': 'Europe/Berlin'})
    assert s.active(stamp('2026-11-25 06:30'))        # 07:30 in Berlin (UTC+1 in November)
    assert not s.active(stamp('2026-11-25 18:30'))    # 19:30 in Berlin
    assert local_time(stamp('2026-11-25 06:30'), 'Europe/Berlin') == (2, 7.5 * 3600)


def test_no_stamp_is_never_active_and_video_stamps_start_on_thursday_1970():
    s = parse_schedule(['00:00:40-24:00'])
    assert not s.active(None)
    assert not s.active(39.9) and s.active(40.0)
    assert local_time(0.0)[0] == 3


@pytest.mark.parametrize('value, error', [
    (['7-19'], "'7' is not a time of day"),
    (['07:00'], 'is not a time range'),
    (['07:00-07:00'], 'start and end are the same'),
    (['25:00-26:00'], 'hours 0-23'),
    (['24:00-01:00'], 'cannot start at 24:00'),
    ({'hours': ['07:00-19:00'], 'day': ['mon']}, "unknown schedule key 'day' \\(did you mean 'days'\\?\\)"),
    ({'days': ['mnday']}, "'mnday' is not a day .*did you mean 'monday'"),
    ({'timezone': 'Europe/Berln'}, "unknown time zone 'Europe/Berln' \\(closest known: Europe/Berlin"),
    (42, "'active' must be a list of time ranges"),
    ({'hours': []}, "'hours' must be a non-empty list"),
    ({'timezone': 'America'}, "unknown time zone 'America'"),          # a folder of the zone database
    ({'timezone': 'Europe/' + 'x' * 300}, "unknown time zone 'Europe/xxx"),   # longer than a file name
])
def test_bad_schedules_say_what_to_write(value, error):
    with pytest.raises(ScheduleError, match=error):
        parse_schedule(value)


@given(st.integers(0, 86399), st.integers(0, 86399), st.integers(0, 6), st.floats(0, 86399.99))
def test_across_midnight_is_the_complement_of_the_day_range_without_days(start, end, weekday, second):
    if start == end:
        return
    def hhmmss(v):
        return f'{v // 3600:02d}:{v // 60 % 60:02d}:{v % 60:02d}'
    forward = parse_schedule([f'{hhmmss(start)}-{hhmmss(end)}'])
    backward = parse_schedule([f'{hhmmss(end)}-{hhmmss(start)}'])
    assert forward.active_at(weekday, second) != backward.active_at(weekday, second)
