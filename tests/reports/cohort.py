"""A synthetic cohort driven through the real pipeline, with the test's own record of what each person did.

A seeded random generator picks each person's path: gone after the first message, no to texts, gone
after the opt-in, a screen fail on age, diabetes, insulin or diagnosis date, "not sure", eligible; the
re-contact answer; the consent check done, declined or left; a safety message, AGENT or STOP; for
those staff enrol, three visits attended, missed, skipped, cancelled or confirmed, and check-ins
answered or not. Everything happens in time order on the app's settable clock: messages go through
`app.service.handle` (what Patient.send does, without reading the replies back, which would double
the cost), staff act through bot.staff_actions, sweeps through build_scheduler(app).sweep(), and
escalations are acknowledged or resolved through the staff desk after chosen delays.

What the simulation records comes from its own choices and from what a phone would see (the
replies each message got, the scheduled messages that arrived). bot/reports never reads it.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import count
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from bot.bootstrap import App, build_desk, build_scheduler
from bot.clock import SettableClock
from bot.domain import InboundMessage
from bot.staff_actions import book, enrol, parse_local, set_status
from storage.repositories import Repositories, outbox_t

NY = ZoneInfo("America/New_York")
START = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
DAYS = 45
END = datetime.combine(START.astimezone(NY).date() + timedelta(days=DAYS), time(23, 0), NY).astimezone(UTC)
SWEEPS = (time(9, 30), time(11, 30), time(14, 0), time(19, 30))  # local; replies come before the next one
STAFF = "staff:test"
# The demo study's visits: (day, days before, days after) of its window (flows/studies/demo/study.yaml).
VISITS = {"baseline": (1, 0, 0), "week_2_call": (15, 2, 2), "week_4": (29, 3, 3)}
CONSENT_ANSWERS = ["yes", "no", "no", "yes", "yes", "12 weeks", "no", "no", "study team"]
CHECKIN_WELL = ["5", "no", "yes", "no"]
CHECKIN_LOW = ["2", "no", "yes", "no"]  # wellbeing at or below 2: one normal escalation at the end
PATHS = {  # name: weight
    "silent": 8, "no_texts": 6, "drop_after_optin": 13, "decline_prescreen": 4, "drop_mid": 5, "fail_age": 25,
    "fail_diabetes": 8, "fail_insulin": 9, "fail_duration": 3, "not_sure": 5, "eligible": 14,
}  # fmt: skip
REASONS = {
    "fail_age": "INC-01-AGE", "fail_diabetes": "INC-02-T2D", "fail_insulin": "EXC-01-INSULIN",
    "fail_duration": "INC-03-DURATION",
}  # fmt: skip


@dataclass
class Step:
    """One message a person sends, and what the simulation expects it to cause."""

    text: str
    mark: str | None = None  # "outcome", "consent_done", "stop", "leave"
    escalation: tuple[str, str] | None = None  # (category, severity) it must raise


@dataclass
class Escalation:
    """An escalation the simulation caused, and what staff did about it."""

    person: Person
    index: int  # its place among the person's escalations, to find its id
    category: str
    severity: str
    raised_at: datetime
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None


@dataclass
class Visit:
    """A visit staff booked, and the plan for it."""

    key: str
    at: datetime
    out_of_window: bool
    window_end: date
    fate: str  # attended | missed | no_show | cancelled
    will_confirm: bool
    confirm_on_reminder: bool  # not at the booking note, at the first reminder
    cancelled: bool = False
    confirmed: bool = False
    reminded: bool = False
    status: str = "booked"


@dataclass
class Received:
    """A scheduled message that arrived on a person's phone, and their answer to it if any."""

    person: Person
    kind: str
    sent_at: datetime
    replied_at: datetime | None = None


@dataclass
class Person:
    """One participant: the path chosen for them and what they did."""

    index: int
    address: str
    path: str
    pid: int | None = None
    first_at: datetime | None = None
    agreed: bool = False
    started: bool = False
    outcome: str | None = None
    reason: str | None = None
    outcome_at: datetime | None = None
    recontact: bool | None = None
    consent: str = "none"  # done | declined | none (left waiting)
    consent_done_at: datetime | None = None
    stopped_at: datetime | None = None
    enrolled_at: datetime | None = None
    left_at: datetime | None = None
    escalations: int = 0
    visits: list[Visit] = field(default_factory=list)
    replies: bool = True  # answers scheduled messages (not when left waiting in the consent check)
    messages: int = 0
    anchor: date | None = None


class Cohort:
    """Plays the cohort on one app and keeps the record the expected figures are computed from."""

    def __init__(self, app: App, clock: SettableClock, size: int = 500, seed: int = 20261123) -> None:
        self.app = app
        self.clock = clock
        self.rng = random.Random(seed)
        self.size = size
        self.people: list[Person] = []
        self.escalations: list[Escalation] = []
        self.received: list[Received] = []
        self.messages_in = 0
        self.messages_out = 0
        self.nudges = 0
        self.scheduler = build_scheduler(app)
        self.desk = build_desk(app)
        self._queue: list[tuple[datetime, int, Callable[..., None], tuple[Any, ...]]] = []
        self._order = count()
        self._seen_outbox = 0
        self._by_pid: dict[int, Person] = {}
        self.sweep_times: list[datetime] = []

    # -- the event queue -------------------------------------------------------------------------

    def at(self, when: datetime, action: Callable[..., None], *args: Any) -> None:
        """Do `action` at `when` (nothing after the end of the simulation)."""
        if when <= END:
            heapq.heappush(self._queue, (when, next(self._order), action, args))

    def run(self) -> None:
        """Arrivals over the first week, sweeps every day, then everything in time order up to END."""
        day = START.astimezone(NY).date()
        for offset in range(DAYS + 1):
            for moment in SWEEPS:
                when = datetime.combine(day + timedelta(days=offset), moment, NY).astimezone(UTC)
                if when > START:
                    self.sweep_times.append(when)
                    self.at(when, self.sweep)
        for index in range(self.size):
            person = Person(index, f"+1555030{index:04d}", self._pick_path())
            self.people.append(person)
            arrival = START + timedelta(seconds=self.rng.uniform(0, 7 * 86400))
            self.at(arrival, self._play, person, self._script(person), 0)
        while self._queue:
            when, _, action, args = heapq.heappop(self._queue)
            assert when >= self.clock.now()
            self.clock.set(when)
            action(*args)
        self.clock.set(END)

    # -- recruitment -----------------------------------------------------------------------------

    def _pick_path(self) -> str:
        names = list(PATHS)
        return self.rng.choices(names, weights=[PATHS[n] for n in names])[0]

    def _script(self, person: Person) -> list[Step]:
        rng = self.rng
        age = str(rng.randint(18, 75))
        steps = [Step("Hi")]
        path = person.path
        if path == "silent":
            return steps
        if path == "no_texts":
            return [*steps, Step("no")]
        steps.append(Step("yes"))
        questions = {
            "drop_after_optin": [],
            "decline_prescreen": ["no"],
            "drop_mid": ["yes", age],
            "fail_age": ["yes", str(rng.choice([15, 16, 17, 80, 86]))],
            "fail_diabetes": ["yes", age, "no"],
            "fail_insulin": ["yes", age, "yes", "yes"],
            "fail_duration": ["yes", age, "yes", "no", f"{START.astimezone(NY).month}/2026"],
            "not_sure": ["yes", age, "not sure", "no", "2021", "1"],
            "eligible": ["yes", age, "yes", "no", "march 2019", rng.choice(["1", "2"])],
        }[path]
        steps += [Step(text) for text in questions]
        if path in REASONS or path in ("not_sure", "eligible"):
            steps[-1].mark = "outcome"
            if path == "not_sure":
                steps[-1].escalation = ("prescreen_review", "normal")
            if path in ("not_sure", "eligible"):
                steps.append(Step(rng.choice(["morning", "evenings", "any time"])))
            if rng.random() < 0.8:
                granted = rng.random() < 0.55
                steps.append(Step("yes" if granted else "no", mark="recontact_yes" if granted else "recontact_no"))
                if path == "eligible":
                    steps += self._consent(person)
        agreed_extras = [
            (0.03, Step("I have chest pain", escalation=("red_flag", "urgent"))),
            (0.03, Step("I went to the hospital yesterday", escalation=("er_or_hospital", "high"))),
            (0.03, Step("AGENT", escalation=("talk_to_person", "normal"))),
        ]
        steps += [step for chance, step in agreed_extras if rng.random() < chance]
        if rng.random() < 0.07:
            staff_must_know = path in ("eligible", "not_sure")
            steps.append(Step("STOP", mark="stop", escalation=("opted_out", "normal") if staff_must_know else None))
        return steps

    def _consent(self, person: Person) -> list[Step]:
        choice = self.rng.choices(["done", "declined", "none"], weights=[45, 25, 30])[0]
        person.consent = choice
        if choice == "done":
            steps = [Step(text) for text in CONSENT_ANSWERS]
            steps[-1].mark, steps[-1].escalation = "consent_done", ("consent_ready", "normal")
            return steps
        if choice == "declined":
            return [Step("no", escalation=("consent_ready", "normal"))]
        person.replies = False  # left waiting at "are you ready to start?": a reply would answer that
        return []

    def _gap(self) -> timedelta:
        if self.rng.random() < 0.15:
            return timedelta(hours=self.rng.uniform(2, 40))  # came back later (a sweep may nudge them)
        return timedelta(seconds=self.rng.uniform(20, 480))

    def _play(self, person: Person, steps: list[Step], index: int) -> None:
        step = steps[index]
        now = self.clock.now()
        if person.first_at is None:
            person.first_at = now
        self.send(person, step.text, step.escalation)
        if index == 1 and step.text == "yes":
            person.agreed = person.started = True
        if step.mark == "outcome":
            person.outcome_at = now
            person.outcome = {"not_sure": "needs_review", "eligible": "eligible"}.get(person.path, "ineligible")
            person.reason = REASONS.get(person.path)
        elif step.mark in ("recontact_yes", "recontact_no"):
            person.recontact = step.mark == "recontact_yes"
        elif step.mark == "consent_done":
            person.consent_done_at = now
        elif step.mark == "stop":
            person.stopped_at = now
        if index + 1 < len(steps):
            self.at(now + self._gap(), self._play, person, steps, index + 1)
        elif person.outcome == "eligible" and person.stopped_at is None and person.recontact is not None:
            chance = {"done": 0.85, "declined": 0.4, "none": 0.2}[person.consent]
            if self.rng.random() < chance:
                self.at(now + timedelta(hours=self.rng.uniform(20, 70)), self._enrol, person)

    def send(self, person: Person, text: str, escalation: tuple[str, str] | None = None) -> list[int]:
        """One message from a person through the real pipeline; check it raised the escalation expected, if any."""
        now = self.clock.now()
        person.messages += 1
        message = InboundMessage("sms", person.address, text, f"sms-{person.address}-{person.messages}", now)
        receipt, processed = self.app.service.handle(message)
        assert not processed.failed_ids, (person.path, text)
        person.pid = receipt.participant_id
        self._by_pid[receipt.participant_id] = person
        self.messages_in += 1
        self.messages_out += len(processed.outbox_ids)
        # `escalated` reports a staff request from the conversation; the escalation a STOP opens for
        # someone staff must know about is written by the pipeline itself and does not set it.
        requested = escalation is not None and escalation[0] != "opted_out"
        assert processed.escalated == requested, (person.path, text, escalation)
        if escalation is not None:
            self._escalated(person, *escalation)
        return processed.outbox_ids

    def replies(self, outbox_ids: list[int]) -> str:
        """What the phone showed in answer to a message."""
        with self.app.database.read() as connection:
            bodies = connection.execute(select(outbox_t.c.body).where(outbox_t.c.id.in_(outbox_ids))).scalars()
            return "\n".join(bodies)

    # -- escalations -----------------------------------------------------------------------------

    def _escalated(self, person: Person, category: str, severity: str) -> None:
        now = self.clock.now()
        raised = Escalation(person, person.escalations, category, severity, now)
        person.escalations += 1
        self.escalations.append(raised)
        rng = self.rng
        if severity == "urgent" and rng.random() < 0.85:
            self.at(now + timedelta(minutes=rng.uniform(1, 40)), self._acknowledge, raised)
        elif severity == "high" and rng.random() < 0.85:
            self.at(now + timedelta(minutes=rng.uniform(5, 300)), self._acknowledge, raised)
        elif severity == "normal":
            fate = rng.random()
            if fate < 0.1:
                self.at(now + timedelta(hours=rng.uniform(1, 48)), self._resolve, raised)
            elif fate < 0.85:
                self.at(now + timedelta(hours=rng.uniform(0.5, 72)), self._acknowledge, raised)

    def _escalation_id(self, raised: Escalation) -> int:
        with self.app.database.read() as connection:
            rows = Repositories(connection).escalations.for_participant(raised.person.pid or 0)
        return int(rows[raised.index].id)

    def _acknowledge(self, raised: Escalation) -> None:
        now = self.clock.now()
        with self.app.database.write() as connection:
            result = self.desk.alerts.acknowledge(
                Repositories(connection), self._escalation_id(raised), STAFF, now, "test"
            )
        assert result.changed
        raised.acknowledged_at = now
        if self.rng.random() < 0.5:
            self.at(now + timedelta(hours=self.rng.uniform(1, 24)), self._resolve, raised)

    def _resolve(self, raised: Escalation) -> None:
        now = self.clock.now()
        with self.app.database.write() as connection:
            self.desk.alerts.resolve(Repositories(connection), self._escalation_id(raised), STAFF, now, "done", "test")
        raised.resolved_at = now
        if raised.acknowledged_at is None:
            raised.acknowledged_at = now  # resolving counts as acknowledging

    # -- enrolment and visits ----------------------------------------------------------------------

    def _enrol(self, person: Person) -> None:
        now = self.clock.now()
        anchor = now.astimezone(NY).date() + timedelta(days=7 + self.rng.randint(0, 3))
        enrol(self.app, f"sms:{person.address}", anchor, STAFF)
        person.enrolled_at = now
        person.anchor = anchor
        self._book(person, "baseline")
        days = (END.astimezone(NY).date() - now.astimezone(NY).date()).days
        for event in ("leave", "stop"):
            if self.rng.random() < (0.08 if event == "leave" else 0.06) and days > 1:
                day = now.astimezone(NY).date() + timedelta(days=self.rng.randint(1, days - 1))
                self.at(datetime.combine(day, time(21, 30), NY).astimezone(UTC), self._drop, person, event)

    def _book(self, person: Person, key: str) -> None:
        anchor = person.anchor
        assert anchor is not None
        day, _, after = VISITS[key]
        target = anchor + timedelta(days=day - 1)
        out = key != "baseline" and self.rng.random() < 0.12
        when_day = target + timedelta(days=after + 2 if out else 0)
        clock_time = "10:00" if key == "week_2_call" else "09:30"
        book(self.app, f"sms:{person.address}", key, parse_local(when_day.isoformat(), clock_time), STAFF)
        fate = self.rng.choices(["attended", "missed", "no_show", "cancelled"], weights=[70, 10, 15, 5])[0]
        at = datetime.combine(when_day, time.fromisoformat(clock_time), NY).astimezone(UTC)
        visit = Visit(
            key, at, out, target + timedelta(days=after), fate, self.rng.random() < 0.6, self.rng.random() < 0.4
        )
        person.visits.append(visit)
        if fate == "cancelled":
            self.at(self.clock.now() + timedelta(days=1), self._mark, person, visit, "cancelled")
        elif fate in ("attended", "missed"):
            self.at(at + timedelta(hours=3), self._mark, person, visit, fate)
        following = {"baseline": "week_2_call", "week_2_call": "week_4"}.get(key)
        if following:
            self.at(at + timedelta(hours=4), self._book, person, following)

    def _mark(self, person: Person, visit: Visit, status: str) -> None:
        set_status(self.app, f"sms:{person.address}", visit.key, status, STAFF)
        visit.status = status
        visit.cancelled = status == "cancelled"

    def _drop(self, person: Person, event: str) -> None:
        if person.stopped_at is not None:
            return
        if event == "leave":
            self.send(person, "I want to leave the study", ("leave_study", "normal"))
            person.left_at = self.clock.now()
        else:
            self.send(person, "STOP", ("opted_out", "normal"))
            person.stopped_at = self.clock.now()

    # -- sweeps and the phones -------------------------------------------------------------------

    def sweep(self) -> None:
        """A sweep, then what each phone got from it: the person answers when exactly one message came."""
        now = self.clock.now()
        report = self.scheduler.sweep()
        assert not report.errors, report.errors
        with self.app.database.write() as connection:
            # Staff alerts reached the team's Telegram group (nothing sends the outbox here); left
            # pending, every sweep would add SMS fallbacks for them (bot/escalation.py), and slow down.
            connection.execute(
                update(outbox_t).where(outbox_t.c.purpose == "alert", outbox_t.c.status == "pending")
                .values(status="sent", sent_at=now, updated_at=now)
            )  # fmt: skip
        self.nudges += report.nudged
        self.messages_out += report.sent + report.nudged
        with self.app.database.read() as connection:
            rows = connection.execute(
                select(outbox_t.c.id, outbox_t.c.participant_id, outbox_t.c.idempotency_key, outbox_t.c.body)
                .where(outbox_t.c.id > self._seen_outbox, outbox_t.c.participant_id.is_not(None))
                .order_by(outbox_t.c.id)
            ).all()
        arrived: dict[int, list[Received]] = {}
        for row in rows:
            self._seen_outbox = max(self._seen_outbox, row.id)
            if not row.idempotency_key.startswith("sched:"):
                continue  # a nudge: the phone shows the question again
            person = self._by_pid[row.participant_id]
            message = Received(person, _kind(row.body), now)
            self.received.append(message)
            arrived.setdefault(row.participant_id, []).append(message)
            if message.kind in ("booking", "reminder"):
                person.visits[-1].reminded = True  # one visit is booked ahead at a time: this one
        later = [t for t in self.sweep_times if t > now]
        room = ((later[0] if later else END) - now) - timedelta(minutes=15)
        for pid in sorted(arrived, key=lambda pid: self._by_pid[pid].index):  # not the database's order
            messages = arrived[pid]
            if len(messages) == 1:
                self._maybe_answer(messages[0], min(room, timedelta(minutes=90)))

    def _maybe_answer(self, message: Received, room: timedelta) -> None:
        person = message.person
        if not person.replies or person.stopped_at is not None:
            return
        delay = timedelta(seconds=self.rng.uniform(120, room.total_seconds()))
        if message.kind == "checkin" and self.rng.random() < 0.55:
            low = self.rng.random() < 0.25
            self.at(self.clock.now() + delay, self._checkin, message, CHECKIN_LOW if low else CHECKIN_WELL, 0)
        elif message.kind in ("booking", "reminder"):
            visit = person.visits[-1]
            wait = message.kind == "booking" and visit.confirm_on_reminder
            if visit.will_confirm and not visit.confirmed and visit.fate != "cancelled" and not wait:
                self.at(self.clock.now() + delay, self._confirm, message, visit)

    def _confirm(self, message: Received, visit: Visit) -> None:
        assert "Thank you for confirming" in self.replies(self.send(message.person, "C"))
        message.replied_at = self.clock.now()
        visit.confirmed = True

    def _checkin(self, message: Received, answers: list[str], index: int) -> None:
        last = index == len(answers) - 1
        low = answers is CHECKIN_LOW
        sent = self.send(message.person, answers[index], ("checkin_low_wellbeing", "normal") if last and low else None)
        if index == 0:
            assert "new health problems" in self.replies(sent), "the reply did not start the check-in"
            message.replied_at = self.clock.now()
        if not last:
            self.at(self.clock.now() + timedelta(seconds=self.rng.uniform(20, 120)), self._checkin, message, answers,
                    index + 1)  # fmt: skip


def _kind(body: str) -> str:
    """What a person sees arrive: a check-in, a reminder, a missed-visit follow-up or a booking note."""
    if "your check-in" in body:
        return "checkin"
    if body.startswith("Reminder:"):
        return "reminder"
    if "missed you" in body:
        return "missed"
    assert "Reply C to confirm" in body, body
    return "booking"
