"""Engagement: do people answer what we send them, how fast, how much is said, and who opts out.

A scheduled message (a check-in, a reminder, a booking note, a missed-visit follow-up) counts as
answered when the participant's reply was taken as its answer (opener_answered), which happens only
while it is still waiting for one (the reply window: 2 days for a check-in).
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime

from bot.reports.events import EventLog
from bot.reports.metrics import Metric, Report, count, median_of, minutes, p90_of, rate
from bot.study import Study


def build(log: EventLog, study: Study, now: datetime, since: date | None) -> Report:
    """The engagement report for the cohort."""
    sent = {row.id: row for row in log.scheduled_sent()}
    answered: dict[int, datetime] = {}
    opted_out: set[int] = set()
    for entry in log.entries("opener_answered", "opted_out"):
        if entry.action == "opted_out":
            opted_out.add(entry.participant_id)
            continue
        scheduled_id = (entry.new or {}).get("scheduled_id")
        if isinstance(scheduled_id, int) and scheduled_id in sent:
            answered.setdefault(scheduled_id, entry.at)
    waits = [minutes(sent[sid].sent_at, at) for sid, at in answered.items()]
    kinds = Counter(row.kind for row in sent.values())
    replies = Counter(sent[sid].kind for sid in answered)
    participants = log.participants()
    metrics: list[Metric] = [
        rate("checkin_response_rate", replies["checkin"], kinds["checkin"],
             "check-ins answered ÷ check-ins sent"),
        *[
            rate(f"reply_rate.{kind}", replies[kind], n, f"scheduled {kind} messages answered ÷ sent")
            for kind, n in sorted(kinds.items())
        ],
        median_of("median_minutes_to_reply", waits, "minutes",
                  "median time from a scheduled message going out to the reply taken as its answer, over those "
                  "answered"),
        p90_of("p90_minutes_to_reply", waits, "minutes",
               "90th percentile (nearest rank) of the same times, over answered scheduled messages"),
        count("messages_in", log.messages_in(), "messages", "messages participants sent us"),
        count("messages_out", log.messages_out(), "messages",
              "messages queued for participants (replies, scheduled messages, nudges), whatever their delivery; "
              "staff alerts not included"),
        rate("opt_outs", len(opted_out & participants.keys()), len(participants),
             "participants who opted out at least once (STOP, or the carrier says they unsubscribed) ÷ participants"),
    ]  # fmt: skip
    return Report("engagement", now, since, tuple(metrics), {}, {})
