"""The sweep: send what is due, re-plan what missed its window, notice missed visits, nudge once.

Due scheduled messages become outbox rows through set-based SQL, one transaction per batch: the
rows are locked (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several workers share the work), copied
to the outbox under the idempotency key `sched:<id>`, and marked sent, all in that transaction. A
worker that dies mid-batch leaves its batch pending for the next sweep; none is sent twice.

Quiet hours are kept twice: a message is planned inside an allowed window, and the sweep only sends
it before that window ends (`send_until`); one that could not go in time moves to the next window.
Caps are counted per participant and local day, with one message per participant per batch, so two
due at once cannot both slip under a cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.clock import Clock
from bot.domain import MessageCreated, Part
from bot.escalation import Alerts
from bot.localtime import local_day, next_allowed
from bot.planning import Planner
from bot.service import Service
from bot.study import Study
from storage.database import Database
from storage.repositories import Caps, Repositories

log = logging.getLogger(__name__)

# Rows per sweep transaction. Each commit costs a sync and, on SQLite, often a WAL checkpoint; 20,000 rows
# take ~0.3 s on SQLite (inbound writers wait that long at most) and sweep 100,000 in ~1.9 s, where 5,000
# took ~3.0 s. PostgreSQL locks only the rows, so inbound turns do not wait for a batch there.
BATCH = 20_000
NUDGE = "common.nudge"


@dataclass(slots=True)
class SweepReport:
    """What one sweep did."""

    sent: int = 0
    skipped: int = 0
    deferred: int = 0
    expired: int = 0
    missed_visits: int = 0
    nudged: int = 0
    alerts: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        """The counts, for printing."""
        return {
            "sent": self.sent, "skipped_opted_out": self.skipped, "deferred": self.deferred,
            "expired": self.expired, "missed_visits": self.missed_visits, "nudged": self.nudged,
            "alert_rounds": self.alerts,
        }  # fmt: skip


class Scheduler:
    """Runs sweeps against the database, as of the clock's time or a given one."""

    def __init__(
        self, database: Database, study: Study, planner: Planner, service: Service, clock: Clock, batch: int = BATCH
    ) -> None:
        """Sweep with these parts; `batch` rows per transaction."""
        self.database = database
        self.study = study
        self.planner = planner
        self.service = service
        self.clock = clock
        self.batch = batch
        caps = study.reminders.caps
        self.caps = Caps(caps.per_day, caps.per_week)
        self.alerts = Alerts(study)

    def sweep(self, now: datetime | None = None) -> SweepReport:
        """One pass over everything that may be due."""
        at = now or self.clock.now()
        report = SweepReport()
        # Missed visits first, so their follow-up goes out in this same sweep.
        self._missed_visits(at, report)
        with self.database.write() as connection:
            schedule = Repositories(connection).schedule
            report.skipped = schedule.skip_opted_out(at)
            schedule.cancel_welcomes(at)
        report.sent = self._send_due(at)
        self._defer_late(at, report)
        with self.database.write() as connection:
            Repositories(connection).schedule.stop_waiting_expired(at)
        self._nudge(at, report)
        report.alerts = self.alerts.tick(self.database, at)
        return report

    def preview(self, now: datetime) -> list[dict[str, object]]:
        """What a sweep at `now` would send (ignoring the caps), without sending it."""
        with self.database.read() as connection:
            repos = Repositories(connection)
            rows = repos.schedule.due(now, Caps(10_000, 10_000), 10_000)
            shown: list[dict[str, object]] = []
            for scheduled_id, participant_id in rows:
                row = repos.schedule.get(scheduled_id)
                participant = repos.participants.get(participant_id)
                assert row is not None
                shown.append(
                    {"participant": participant.code, "kind": row.kind, "channel": row.channel,
                     "due_utc": row.due_at.isoformat(),
                     "due_local": row.due_at.astimezone(ZoneInfo(participant.timezone)).isoformat(),
                     "body": row.body}
                )  # fmt: skip
            return shown

    def _send_due(self, now: datetime) -> int:
        sent = 0
        while True:
            with self.database.write() as connection:
                chosen, queued = Repositories(connection).schedule.send_due(now, self.caps, self.batch)
            if not chosen:
                return sent
            sent += queued

    def _defer_late(self, now: datetime, report: SweepReport) -> None:
        while True:
            with self.database.write() as connection:
                repos = Repositories(connection)
                late = repos.schedule.late(now)
                for row in late:
                    participant = repos.participants.get(row.participant_id)
                    outcome = self.planner.defer(repos, row, participant, now)
                    if outcome == "expired":
                        report.expired += 1
                    else:
                        report.deferred += 1
            if len(late) < 1000:
                return

    def _missed_visits(self, now: datetime, report: SweepReport) -> None:
        """A booked visit with no attendance by the end of its window is missed: a caring follow-up goes out."""
        with self.database.write() as connection:
            repos = Repositories(connection)
            for visit in repos.visits.possibly_missed(now):
                participant = repos.participants.get(visit.participant_id)
                if local_day(now, ZoneInfo(participant.timezone)) <= visit.window_end:
                    continue
                self.planner.set_status(repos, participant, visit.visit_key, "missed", now, actor="system")
                report.missed_visits += 1

    def _nudge(self, now: datetime, report: SweepReport) -> None:
        """One gentle nudge for a question left unanswered; then the conversation waits for the patient."""
        before = now - timedelta(hours=self.study.nudge_after_hours)
        quiet = self.study.quiet_hours
        with self.database.read() as connection:
            waiting = Repositories(connection).conversations.waiting_since(before)
        for row in waiting:
            try:
                with self.database.write() as connection:
                    repos = Repositories(connection)
                    repos.participants.lock(row.participant_id)
                    participant = repos.participants.get(row.participant_id)
                    zone = ZoneInfo(participant.timezone)
                    start, _ = next_allowed(now, zone, quiet.send_from, quiet.send_until)
                    if start > now:
                        continue  # quiet hours: the next sweep in the morning will do it
                    conversation = repos.conversations.load(row.participant_id)
                    if conversation.version != row.version or conversation.flow is None:
                        continue  # the patient wrote in the meantime
                    if repos.schedule.sent_since(row.participant_id, now - timedelta(hours=1)):
                        continue  # a reminder or check-in just went out: one message is enough for now
                    address = self._conversation_address(repos, row.participant_id)
                    if address is None:
                        continue
                    context = self.service.conversations.context(participant.locale, now, participant.timezone)
                    result = self.service.conversations.engine.reprompt(conversation.snapshot, context, (Part(NUDGE),))
                    messages = [
                        MessageCreated(e.parts, e.choices, "nudge", e.instruction)
                        for e in result.events
                        if isinstance(e, MessageCreated)
                    ]
                    repos.conversations.save(
                        row.participant_id, result.snapshot, conversation.version, now, conversation.flow,
                        conversation.state, conversation.burst,
                    )  # fmt: skip
                    repos.conversations.mark_nudged(row.participant_id, conversation.version + 1)
                    channel, to = address
                    self.service.queue_messages(
                        repos, participant, channel, to, messages, f"nudge:{row.participant_id}:{row.version}", now,
                        conversation.version + 1,
                    )  # fmt: skip
                    repos.audit.append(at=now, actor="system", action="nudged", participant_id=row.participant_id)
                    report.nudged += 1
            except Exception as exc:  # one participant's problem must not stop the others' nudges
                log.exception("nudge failed for participant %s", row.participant_id)
                report.errors.append(type(exc).__name__)

    @staticmethod
    def _conversation_address(repos: Repositories, participant_id: int) -> tuple[str, str] | None:
        """Where the conversation is happening: the address of the participant's latest message."""
        addresses = [a for a in repos.participants.addresses(participant_id) if a.unreachable_at is None]
        latest = repos.inbound.latest_channel(participant_id)
        for address in addresses:
            if address.channel == latest:
                return address.channel, address.address
        return (addresses[-1].channel, addresses[-1].address) if addresses else None

    async def run(self, stop: asyncio.Event, every: float = 30.0, wake: object = None) -> None:
        """Sweep every `every` seconds until `stop` is set."""
        while not stop.is_set():
            try:
                report = await asyncio.to_thread(self.sweep)
                if report.sent or report.nudged or report.missed_visits or report.alerts:
                    wake_fn = getattr(wake, "wake", None)
                    if callable(wake_fn):
                        wake_fn()
            except Exception:
                log.exception("scheduler sweep failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
