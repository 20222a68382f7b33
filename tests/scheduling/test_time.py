"""Local time: DST gaps move forward, folds take their first occurrence, quiet hours give the next window."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from bot.localtime import at_local, day_number, local_day, next_allowed

NY = ZoneInfo("America/New_York")
MADRID = ZoneInfo("Europe/Madrid")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")


@pytest.mark.parametrize(
    ("zone", "day", "at", "expected_utc", "expected_local"),
    [
        # An ordinary day.
        (NY, date(2026, 12, 1), time(10, 0), datetime(2026, 12, 1, 15, 0, tzinfo=UTC), "10:00"),
        # Spring forward: 02:30 does not exist in New York on 2027-03-14; it moves on by the gap.
        (NY, date(2027, 3, 14), time(2, 30), datetime(2027, 3, 14, 7, 30, tzinfo=UTC), "03:30"),
        # Fall back: 01:30 happens twice on 2027-11-07; the first one (EDT) is meant.
        (NY, date(2027, 11, 7), time(1, 30), datetime(2027, 11, 7, 5, 30, tzinfo=UTC), "01:30"),
        # Madrid springs forward at 02:00 on 2027-03-28.
        (MADRID, date(2027, 3, 28), time(2, 30), datetime(2027, 3, 28, 1, 30, tzinfo=UTC), "03:30"),
        # Lord Howe moves only 30 minutes: 02:00-02:30 is skipped on 2027-10-03...
        (LORD_HOWE, date(2027, 10, 3), time(2, 15), datetime(2027, 10, 2, 15, 45, tzinfo=UTC), "02:45"),
        # ...and 01:30-02:00 happens twice on 2027-04-04.
        (LORD_HOWE, date(2027, 4, 4), time(1, 45), datetime(2027, 4, 3, 14, 45, tzinfo=UTC), "01:45"),
    ],
)
def test_local_wall_times(zone: ZoneInfo, day: date, at: time, expected_utc: datetime, expected_local: str) -> None:
    moment = at_local(day, at, zone)
    assert moment == expected_utc
    assert moment.astimezone(zone).strftime("%H:%M") == expected_local
    assert local_day(moment, zone) == day


@pytest.mark.parametrize("zone", [NY, MADRID, LORD_HOWE])
def test_quiet_hours_defer_to_the_next_morning(zone: ZoneInfo) -> None:
    late = at_local(date(2026, 12, 2), time(22, 30), zone)
    start, end = next_allowed(late, zone, time(9, 0), time(20, 0))
    assert start.astimezone(zone).replace(tzinfo=None) == datetime(2026, 12, 3, 9, 0)
    assert end.astimezone(zone).replace(tzinfo=None) == datetime(2026, 12, 3, 20, 0)
    early = at_local(date(2026, 12, 2), time(6, 0), zone)
    assert next_allowed(early, zone, time(9, 0), time(20, 0))[0] == at_local(date(2026, 12, 2), time(9, 0), zone)
    inside = at_local(date(2026, 12, 2), time(12, 0), zone)
    assert next_allowed(inside, zone, time(9, 0), time(20, 0))[0] == inside


def test_day_numbers_follow_the_local_calendar() -> None:
    # 03:00 UTC on Dec 2 is still Dec 1 in New York and already Dec 2 in Madrid.
    moment = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    assert day_number(moment, NY) == date(2026, 12, 1).toordinal()
    assert day_number(moment, MADRID) == date(2026, 12, 2).toordinal()
