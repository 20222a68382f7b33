"""Build one report from the database: the event log for one cohort, as of one moment."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from sqlalchemy import Connection

from bot.reports import engagement, escalations, funnel, retention
from bot.reports.events import EventLog, since_start
from bot.reports.metrics import Report
from bot.study import Study

Builder = Callable[[EventLog, Study, datetime, date | None], Report]
BUILDERS: dict[str, Builder] = {
    "funnel": funnel.build,
    "retention": retention.build,
    "escalations": escalations.build,
    "engagement": engagement.build,
}


def build_report(name: str, connection: Connection, study: Study, now: datetime, since: date | None = None) -> Report:
    """One report as of `now`, for participants first seen on or after `since` (a study-local day), or everyone."""
    log = EventLog(connection, since_start(since, study.zone))
    return BUILDERS[name](log, study, now, since)
