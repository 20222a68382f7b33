"""Retention: visits kept, reminders confirmed, and who left after enrolment (MET-01, MET-03).

A visit is due once it was marked attended or missed, or while still booked once both its window
has closed (study-local day) and its time has passed: one booked for after its window (a deviation)
is not due before its day. Cancelled visits are never due.

The bot has no "withdrawn" status: withdrawal is the study team's to record (PRIV-13). Dropout here
is the nearest thing the log shows (MET-03: withdrawn or lost ÷ enrolled): an enrolled participant
who asked to leave the study, or who said STOP, so that we can no longer reach them.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

from bot.reports.events import EventLog
from bot.reports.metrics import Metric, Report, count, rate, ratio
from bot.study import Study

REMINDER_KINDS = ("booking", "reminder")


def is_due(visit: Any, now: datetime, today: date) -> bool:
    """True for a visit marked attended or missed, or still booked after its window closed and its time passed."""
    if visit.status in ("attended", "missed"):
        return True
    return bool(visit.status == "booked" and visit.window_end < today and visit.scheduled_at <= now)


def kept(visit: Any) -> bool:
    """True for a visit attended on a day inside its window."""
    return bool(visit.status == "attended" and not visit.out_of_window)


def week_of(moment: datetime, study: Study) -> date:
    """The Monday of the study-local week a moment falls in."""
    day = moment.astimezone(study.zone).date()
    return day - timedelta(days=day.weekday())


def build(log: EventLog, study: Study, now: datetime, since: date | None) -> Report:
    """The retention report for the cohort, as of `now`."""
    today = now.astimezone(study.zone).date()
    visits = log.visits()
    due = [v for v in visits if is_due(v, now, today)]
    sent_rows = log.scheduled_sent()
    reminded_ids = {row.visit_id for row in sent_rows if row.kind in REMINDER_KINDS}
    reminded = [v for v in visits if v.id in reminded_ids]
    enrolled: dict[int, datetime] = {}
    leavers: set[int] = set()
    stopped: set[int] = set()
    for entry in log.entries("anchor_set", "staff_requested", "opted_out"):
        pid = entry.participant_id
        if entry.action == "anchor_set":
            enrolled.setdefault(pid, entry.at)
        elif pid in enrolled and entry.action == "opted_out":
            stopped.add(pid)
        elif pid in enrolled and (entry.new or {}).get("category") == "leave_study":
            leavers.add(pid)
    weeks: dict[date, list[int]] = {}
    for visit in due:
        tally = weeks.setdefault(week_of(visit.scheduled_at, study), [0, 0])
        tally[0] += kept(visit)
        tally[1] += 1
    weekly = [
        {"week": week.isoformat(), "numerator": n, "denominator": d, "value": ratio(n, d)}
        for week, (n, d) in sorted(weeks.items())
    ]
    statuses = Counter(v.status for v in visits)
    within = sum(kept(v) for v in due)
    metrics: list[Metric] = [
        count("participants_enrolled", len(enrolled), "participants", "participants staff gave a day 1 (anchor_set)"),
        count("visits", len(visits), "visits", "visits booked, whatever became of them (attended, missed, cancelled)"),
        count("visits_due", len(due), "visits",
              "visits marked attended or missed, or still booked after their window closed and their time passed"),
        rate("visit_adherence", within, len(due), "visits attended on a day inside their window ÷ visits due"),
        rate("visits_missed", statuses["missed"], len(due),
             "visits marked missed (by staff, or by the sweep when the window closed) ÷ visits due"),
        rate("reminder_confirmation_rate", sum(v.confirmed_at is not None for v in reminded), len(reminded),
             "visits the participant confirmed ÷ visits that got at least one booking note or reminder"),
        rate("dropout", len(leavers | stopped), len(enrolled),
             "enrolled participants who, after enrolment, asked to leave the study or said STOP ÷ enrolled"),
        rate("dropout.asked_to_leave", len(leavers), len(enrolled),
             "enrolled participants who asked to leave the study (a leave_study request) ÷ enrolled"),
        rate("dropout.opted_out", len(stopped), len(enrolled),
             "enrolled participants who said STOP (or were unsubscribed) after enrolment ÷ enrolled"),
    ]  # fmt: skip
    sent = Counter(row.kind for row in sent_rows)
    summary: dict[str, Any] = {
        "visits_booked": statuses["booked"],
        "visits_due": len(due),
        "visits_attended": statuses["attended"],
        "visits_attended_within_window": sum(kept(v) for v in visits),
        "visit_adherence": ratio(within, len(due)),
        "visits_missed": statuses["missed"],
        "visits_cancelled": statuses["cancelled"],
        "visits_out_of_window": sum(1 for v in visits if v.out_of_window and v.status != "cancelled"),
        "scheduled_sent": dict(sorted(sent.items())),
        "visits_reminded": len(reminded),
        "visits_confirmed": sum(v.confirmed_at is not None for v in reminded),
        "reminder_confirmation_rate": ratio(sum(v.confirmed_at is not None for v in reminded), len(reminded)),
    }
    return Report("retention", now, since, tuple(metrics), {"weekly_adherence": weekly}, summary)
