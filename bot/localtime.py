"""Local time done carefully: wall-clock times in a participant's zone, DST gaps and folds, quiet hours.

A local time that does not exist (the hour skipped when clocks go forward) moves forward by the gap;
a local time that happens twice (when clocks go back) means its first occurrence. So a reminder
planned for a local time falls due exactly once, whatever the zone does (RELIABILITY T6).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def at_local(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time on a local day (gaps move forward, folds take the first)."""
    # zoneinfo reads a non-existent time with fold=0 using the offset from before the gap, which
    # lands that many minutes later on the clock: exactly "move forward by the gap".
    return datetime.combine(day, at).replace(tzinfo=zone, fold=0).astimezone(UTC)


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    """The participant's calendar day at an instant."""
    return moment.astimezone(zone).date()


def day_number(moment: datetime, zone: ZoneInfo) -> int:
    """The local day as a number, for counting messages per day and per week in SQL."""
    return local_day(moment, zone).toordinal()


def allowed_window(day: date, zone: ZoneInfo, send_from: time, send_until: time) -> tuple[datetime, datetime]:
    """The instants between which scheduled messages may go out on a local day (SMS-13)."""
    return at_local(day, send_from, zone), at_local(day, send_until, zone)


def next_allowed(moment: datetime, zone: ZoneInfo, send_from: time, send_until: time) -> tuple[datetime, datetime]:
    """The first instant at or after `moment` outside quiet hours, and the end of that window."""
    day = local_day(moment, zone)
    for offset in range(3):
        start, end = allowed_window(day + timedelta(days=offset), zone, send_from, send_until)
        if moment < end:
            return max(moment, start), end
    raise AssertionError("an allowed window always comes within two days")
