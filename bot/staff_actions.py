"""What staff do from the command line: enrol a participant, book and change visits, import a CSV.

Each action is one transaction with its audit entry, so a failed action leaves nothing half done.
A CSV import books IMPORT_BATCH rows per transaction, each row behind its own savepoint: a bad row is
reported and skipped, never half-imported, and the good rows around it are booked.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import islice
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.bootstrap import App
from bot.domain import InboundMessage, Participant
from bot.planning import Booked, PlanningError
from bot.staff_views import ParticipantNotFoundError, find_participant
from storage.repositories import Repositories
from storage.tables import WELCOME_KIND

CSV_COLUMNS = ("participant", "visit", "date", "time")
MAX_CSV_ROWS = 100_000
# Rows per import transaction: one commit per row was a quarter of an import's time, and a batch this size
# holds SQLite's write lock for about a third of a second, as a sweep's batch does, so patients' messages
# are not held up for long while an import runs.
IMPORT_BATCH = 100
CHANNELS_STAFF_MAY_ENROL = ("sms", "telegram")


class StaffError(Exception):
    """A staff action that cannot be done as asked; the message says what to fix."""


def parse_local(day: str, at: str) -> datetime:
    """A local date and time as typed by staff: 2026-12-03 and 09:30."""
    try:
        when_day = date.fromisoformat(day.strip())
    except ValueError:
        raise StaffError(f"date {day!r} is not like 2026-12-03") from None
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", at.strip())
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise StaffError(f"time {at!r} is not like 09:30")
    return datetime(when_day.year, when_day.month, when_day.day, int(match[1]), int(match[2]))


def _participant(repos: Repositories, reference: str) -> Participant:
    try:
        return find_participant(repos, reference)
    except ParticipantNotFoundError as exc:
        raise StaffError(str(exc)) from None


def enrol(
    app: App, reference: str, anchor: date, actor: str, *, timezone: str | None = None, locale: str | None = None
) -> tuple[Participant, int]:
    """Set a participant's day 1 (creating them first when given a new sms:/telegram: address)."""
    study = app.study.study
    if timezone is not None:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise StaffError(f"unknown time zone {timezone!r} (use a name like America/New_York)") from None
    if locale is not None and locale not in study.languages:
        raise StaffError(f"language {locale!r} is not one of the study's ({', '.join(study.languages)})")
    now = app.clock.now()
    with app.database.write() as connection:
        repos = Repositories(connection)
        try:
            participant = find_participant(repos, reference)
        except ParticipantNotFoundError:
            participant = _create(app, repos, reference, locale, now, actor)
        changes: dict[str, object] = {}
        if timezone is not None and timezone != participant.timezone:
            changes["timezone"] = timezone
        if locale is not None and locale != participant.locale:
            changes["locale"] = locale
        if changes:
            repos.participants.update(participant.id, now, **changes)
            repos.audit.append(
                at=now, actor=actor, action="participant_updated", participant_id=participant.id,
                old={k: getattr(participant, k) for k in changes}, new=dict(changes),
            )  # fmt: skip
            participant = repos.participants.get(participant.id)
        planned = app.planner.enrol(repos, participant, anchor, now, actor)
        app.planner.replan(repos, participant, now)
        _welcome(app, repos, participant, now)
    return participant, planned


def _welcome(app: App, repos: Repositories, participant: Participant, now: datetime) -> None:
    """Ask someone the team enrolled to agree to texts (SMS-08): nothing else goes to them until they do.

    Someone who said STOP gets nothing; someone already asked gets no second welcome.
    """
    if participant.opted_in or participant.opted_out:
        return
    asked = repos.schedule.for_participant(participant.id, statuses=("pending", "sent"))
    if any(row.kind == WELCOME_KIND for row in asked):
        return
    app.planner.plan_opener(
        repos, participant, flow="onboarding", kind=WELCOME_KIND, now=now, data={"source": "staff_enrolment"}
    )


def _create(
    app: App, repos: Repositories, reference: str, locale: str | None, now: datetime, actor: str
) -> Participant:
    channel, _, address = reference.partition(":")
    if channel not in CHANNELS_STAFF_MAY_ENROL or not address:
        raise StaffError(
            f"no participant {reference!r}; to enrol someone new give sms:+15550100199 or telegram:<chat id>"
        )
    if channel == "sms" and not re.fullmatch(r"(whatsapp:)?\+[1-9]\d{6,14}", address):
        raise StaffError(f"{address!r} is not a phone number like +15550100199")
    if channel == "telegram" and not re.fullmatch(r"-?\d{1,20}", address):
        raise StaffError(f"{address!r} is not a Telegram chat id (a number)")
    hint = InboundMessage(channel, address, "", "", now, locale_hint=locale)
    participant = app.service.enrol_address(repos, hint, now)
    repos.audit.append(
        at=now, actor=actor, action="enrolled_by_staff", participant_id=participant.id, new={"channel": channel}
    )
    return participant


def book(
    app: App, reference: str, visit: str, local: datetime, actor: str, site: str | None = None, *, move: bool = False
) -> tuple[Participant, Booked]:
    """Book a visit at a local date and time; with `move`, only a visit that is booked already."""
    with app.database.write() as connection:
        return _book(app, Repositories(connection), reference, visit, local, actor, site, move=move)


def _book(
    app: App, repos: Repositories, reference: str, visit: str, local: datetime, actor: str, site: str | None,
    *, move: bool = False,
) -> tuple[Participant, Booked]:  # fmt: skip
    participant = _participant(repos, reference)
    if move:
        existing = repos.visits.get(participant.id, visit)
        if existing is None or existing.status != "booked":
            raise StaffError(f"{participant.code} has no booked visit {visit!r} to move; book it instead")
    try:
        booked = app.planner.book(repos, participant, visit, local, app.clock.now(), actor, site)
    except PlanningError as exc:
        raise StaffError(str(exc)) from None
    return participant, booked


def set_status(app: App, reference: str, visit: str, status: str, actor: str) -> Participant:
    """Mark a visit cancelled, attended or missed."""
    now = app.clock.now()
    with app.database.write() as connection:
        repos = Repositories(connection)
        participant = _participant(repos, reference)
        try:
            app.planner.set_status(repos, participant, visit, status, now, actor)
        except PlanningError as exc:
            raise StaffError(str(exc)) from None
    return participant


@dataclass
class ImportReport:
    """What a CSV import did: rows booked, and each bad row with its line number and reason."""

    booked: int = 0
    out_of_window: list[str] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)


def read_csv(path: Path) -> list[tuple[int, dict[str, str]]]:
    """The rows of an appointments CSV (participant, visit, date, time[, site]), each with its line in the file.

    Line numbers are the file's own (the header is line 1, blank lines count), so staff find the row
    a message names. StaffError if the file cannot be read, lacks a column, or a row has more fields
    than the header (an unquoted comma shifts every column after it).
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise StaffError(f"{path}: cannot read it ({exc})") from None
    reader = csv.DictReader(text.splitlines())
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise StaffError(f"{path}: the header needs columns {', '.join(CSV_COLUMNS)} (missing: {', '.join(missing)})")
    rows: list[tuple[int, dict[str, str]]] = []
    for row in reader:
        extra = row.pop(None, None)  # DictReader keeps the fields past the header under None
        if isinstance(extra, list) and any(str(value).strip() for value in extra):
            raise StaffError(
                f"{path}: line {reader.line_num} has more fields than the header's {len(header)} columns "
                "(quote a value that contains a comma)"
            )
        rows.append((reader.line_num, {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}))
        if len(rows) > MAX_CSV_ROWS:
            raise StaffError(f"{path}: more than {MAX_CSV_ROWS} rows; split the file")
    return rows


def import_csv(
    app: App, rows: Iterable[tuple[int, dict[str, str]]], actor: str, progress: Callable[[int], None] | None = None
) -> ImportReport:
    """Book every (line, row) from `read_csv`, IMPORT_BATCH rows per transaction and each behind a
    savepoint; report the bad ones by line."""
    report = ImportReport()
    pending = iter(rows)
    while batch := list(islice(pending, IMPORT_BATCH)):
        with app.database.write() as connection:
            repos = Repositories(connection)
            for line, row in batch:
                try:
                    with connection.begin_nested():  # a refused row leaves nothing behind
                        local = parse_local(row.get("date", ""), row.get("time", ""))
                        participant, booked = _book(app, repos, row.get("participant", ""), row.get("visit", ""),
                                                    local, actor, row.get("site") or None)  # fmt: skip
                    report.booked += 1
                    if booked.out_of_window:
                        report.out_of_window.append(f"line {line}: {participant.code} {row.get('visit')}")
                except StaffError as exc:
                    report.errors.append((line, str(exc)))
                if progress is not None:
                    progress(1)
    return report
