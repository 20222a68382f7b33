"""Escalations: how many, of what kind, how fast staff acknowledged them, and the deadlines missed.

Time to acknowledge runs from when the message behind an escalation arrived (SAF-01) to when
someone acknowledged it (resolving an escalation nobody acknowledged counts as acknowledging it).
The deadline is the one the alerts used, or, if no alert round ran yet, the study's own rule for
that severity (bot/escalation.py: minutes for urgent and high, the next business day for normal).
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from typing import Any

from bot.escalation import Alerts
from bot.reports.events import EventLog
from bot.reports.metrics import Metric, Report, count, median_of, minutes, p90_of, rate
from bot.study import Study

SEVERITIES = ("urgent", "high", "normal")


def build(log: EventLog, study: Study, now: datetime, since: date | None) -> Report:
    """The escalation report for the cohort, as of `now`."""
    alerts = Alerts(study)
    rows = log.escalations()
    total = len(rows)
    severities = list(SEVERITIES) + sorted({r.severity for r in rows} - set(SEVERITIES))
    waits: dict[str, list[float]] = {severity: [] for severity in severities}
    judged: Counter[str] = Counter()
    breached: Counter[str] = Counter()
    for row in rows:
        deadline = row.ack_due_at or alerts.ack_due(row.severity, row.created_at)
        acknowledged = row.acknowledged_at
        if acknowledged is not None:
            waits[row.severity].append(minutes(row.received_at or row.created_at, acknowledged))
        if acknowledged is not None or now > deadline:
            judged[row.severity] += 1
            breached[row.severity] += (acknowledged or now) > deadline
    by_severity = Counter(r.severity for r in rows)
    by_category = Counter(r.category for r in rows)
    every_wait = [w for severity in severities for w in waits[severity]]
    metrics: list[Metric] = [
        count("escalations", total, "escalations", "escalations raised for the cohort"),
        *[rate(f"escalations.{s}", by_severity[s], total, f"{s} escalations ÷ escalations") for s in severities],
        *[
            rate(f"escalations_by_category.{c}", n, total, f"escalations of category {c} ÷ escalations")
            for c, n in sorted(by_category.items())
        ],
        median_of("median_minutes_to_acknowledge", every_wait, "minutes",
                  "median time from the message behind it to the acknowledgement, over acknowledged escalations"),
        p90_of("p90_minutes_to_acknowledge", every_wait, "minutes",
               "90th percentile (nearest rank) of the time to acknowledge, over acknowledged escalations"),
    ]  # fmt: skip
    for s in severities:
        metrics += [
            median_of(f"median_minutes_to_acknowledge.{s}", waits[s], "minutes",
                      f"median time to acknowledge, over acknowledged {s} escalations"),
            p90_of(f"p90_minutes_to_acknowledge.{s}", waits[s], "minutes",
                   f"90th percentile (nearest rank) of the time to acknowledge, over acknowledged {s} escalations"),
        ]  # fmt: skip
    metrics.append(
        rate("sla_breaches", sum(breached.values()), sum(judged.values()),
             "acknowledged after the deadline, or still unacknowledged past it ÷ escalations acknowledged or past "
             "their deadline")
    )  # fmt: skip
    metrics += [
        rate(f"sla_breaches.{s}", breached[s], judged[s], f"{s} escalations that missed the deadline ÷ {s} ones "
             "acknowledged or past it")
        for s in severities
    ]  # fmt: skip
    metrics += [
        rate("open_now", sum(r.status == "open" for r in rows), total, "not yet acknowledged ÷ escalations"),
        rate("unresolved_now", sum(r.status != "resolved" for r in rows), total, "not yet resolved ÷ escalations"),
    ]
    series: dict[str, Any] = {
        "minutes_to_acknowledge": {s: sorted(round(w, 2) for w in waits[s]) for s in severities},
        "deadline_minutes": {s: study.escalation.ack_minutes.get(s) for s in severities},  # None: next business day
    }
    return Report("escalations", now, since, tuple(metrics), series, {})
