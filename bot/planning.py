"""Plan what goes out later: visit booking notes, reminders, check-ins and missed-visit follow-ups.

Everything staff do to a participant's visits comes through here (enrol, book, move, cancel,
attended, missed), each with its audit entry, and every change re-plans that participant's
scheduled messages. A scheduled message is rendered when it is planned, in the participant's
language, zone and channel, so the sweep can send a hundred thousand of them with one INSERT.

Times: a reminder falls due at the study's `send_at` local time on its day; anything that would
fall in quiet hours moves to the start of the next allowed window (SMS-13) and is never dropped.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.channels.rendering import ChoiceStyle, Renderer
from bot.channels.segments import count_segments
from bot.conversation import Conversations
from bot.domain import JSONDict, MessageCreated, Part, Participant
from bot.engine import REGISTRY
from bot.localtime import at_local, day_number, local_day, next_allowed
from bot.study import Study
from storage.repositories import Repositories, participant_t

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CHECKIN_REPLY_WINDOW = timedelta(days=2)
MISSED_REPLY_WINDOW = timedelta(days=7)
OPENER_REPLY_WINDOW = timedelta(days=7)  # a message staff send now (a consent check) waits a week
VISIT_KINDS = ("booking", "reminder", "missed")
PURPOSE_KINDS: dict[str, tuple[str, ...]] = {"booking": ("booking",), "reminder": ("reminder", "missed"),
                                             "checkin": ("checkin",)}  # fmt: skip
"""The kinds of scheduled message each purpose covers, for turning a purpose off (SMS-05)."""
GREETING = "common.greeting"
SMS = "sms"
MAX_SMS_SEGMENTS = 3  # CONVERSATION-STYLE rule 2

REGISTRY.uses(GREETING)


class PlanningError(Exception):
    """A staff action that cannot be done as asked (no anchor date, unknown visit, no address)."""


@dataclass(frozen=True, slots=True)
class Booked:
    """The result of booking or moving a visit."""

    visit_id: int
    scheduled_at: datetime
    window_start: date
    window_end: date
    out_of_window: bool
    planned: int


def _iso(moment: datetime) -> str:
    return moment.isoformat()


class Planner:
    """Staff actions on visits, and the planning of scheduled messages that follows them."""

    def __init__(
        self, study: Study, conversations: Conversations, renderer: Renderer, styles: dict[str, ChoiceStyle]
    ) -> None:
        """Plan for one study, rendering with its flows and catalogs."""
        self.study = study
        self.conversations = conversations
        self.renderer = renderer
        self.styles = styles

    # -- staff actions ------------------------------------------------------------------------

    def enrol(self, repos: Repositories, participant: Participant, anchor: date, now: datetime, actor: str) -> int:
        """Set day 1 of the participant's schedule and plan their check-ins; return how many were planned."""
        old = repos.participants.get_anchor(participant.id)
        repos.participants.update(participant.id, now, anchor_date=anchor, enrolled_at=now)
        repos.audit.append(
            at=now, actor=actor, action="anchor_set", participant_id=participant.id,
            old={"anchor_date": old.isoformat() if old else None}, new={"anchor_date": anchor.isoformat()},
        )  # fmt: skip
        return self.plan_checkins(repos, participant, anchor, now)

    def book(
        self, repos: Repositories, participant: Participant, visit_key: str, local: datetime, now: datetime,
        actor: str, site_id: str | None = None,
    ) -> Booked:  # fmt: skip
        """Book (or move) a visit at a local date and time; flag it if it is outside its window (VIS-01)."""
        try:
            spec = self.study.visit(visit_key)
        except KeyError:
            known = ", ".join(v.id for v in self.study.schedule.visits) or "none"
            raise PlanningError(f"no visit {visit_key!r} in the schedule (visits: {known})") from None
        anchor = repos.participants.get_anchor(participant.id)
        if anchor is None:
            raise PlanningError(f"{participant.code} has no day 1 yet: set it with `trialbot enroll --anchor`")
        site = site_id or spec.site
        if site is not None:
            try:
                self.study.site(site)
            except KeyError:
                raise PlanningError(f"no site {site!r} in the study") from None
        zone = ZoneInfo(participant.timezone)
        when = at_local(local.date(), local.time(), zone) if local.tzinfo is None else local.astimezone(ZoneInfo("UTC"))
        target = anchor + timedelta(days=spec.day - 1)
        window_start = target - timedelta(days=spec.window.before)
        window_end = target + timedelta(days=spec.window.after)
        booked_day = local_day(when, zone)
        out_of_window = not (window_start <= booked_day <= window_end)
        existing = repos.visits.get(participant.id, visit_key)
        visit_id = repos.visits.save(
            participant.id, visit_key, now, type=spec.type, site_id=site, scheduled_at=when,
            window_start=window_start, window_end=window_end, out_of_window=out_of_window, status="booked",
            confirmed_at=None,
        )  # fmt: skip
        old = None
        if existing is not None:
            old = {"scheduled_at": _iso(existing.scheduled_at), "status": existing.status}
        moved = existing is not None and existing.status == "booked"
        repos.audit.append(
            at=now, actor=actor, action="visit_moved" if moved else "visit_booked",
            participant_id=participant.id, old=old,
            new={"visit": visit_key, "scheduled_at": _iso(when), "site": site, "out_of_window": out_of_window},
        )  # fmt: skip
        repos.schedule.stop_waiting(now, participant_id=participant.id, visit_id=visit_id)
        planned = self.plan_visit(repos, participant, visit_id, now)
        return Booked(visit_id, when, window_start, window_end, out_of_window, planned)

    def set_status(
        self, repos: Repositories, participant: Participant, visit_key: str, status: str, now: datetime, actor: str
    ) -> int:
        """Mark a visit cancelled, attended or missed; stop or add the messages that go with it."""
        visit = repos.visits.get(participant.id, visit_key)
        if visit is None:
            raise PlanningError(f"{participant.code} has no booked visit {visit_key!r}")
        if visit.status == status:
            return int(visit.id)
        if status in ("attended", "missed") and visit.scheduled_at > now:
            raise PlanningError(f"{participant.code}'s {visit_key} visit is not until {_iso(visit.scheduled_at)}")
        repos.visits.update(visit.id, now, status=status)
        repos.audit.append(
            at=now, actor=actor, action=f"visit_{status}", participant_id=participant.id,
            old={"visit": visit_key, "status": visit.status}, new={"visit": visit_key, "status": status},
        )  # fmt: skip
        repos.schedule.cancel(now, participant_id=participant.id, visit_id=visit.id)
        repos.schedule.stop_waiting(now, participant_id=participant.id, visit_id=visit.id)
        if status == "missed":
            self._plan_missed(repos, participant, visit.id, visit.scheduled_at, now)
        elif status == "attended":
            self._plan_after_visit(repos, participant, visit.id, visit.scheduled_at, now)
        return int(visit.id)

    # -- planning -----------------------------------------------------------------------------

    def plan_visit(self, repos: Repositories, participant: Participant, visit_id: int, now: datetime) -> int:
        """(Re)plan a booked visit's booking note and reminders (after-visit check-ins follow attendance)."""
        visit = repos.visits.by_id(visit_id)
        assert visit is not None
        repos.schedule.cancel(now, participant_id=participant.id, visit_id=visit_id)
        if visit.status != "booked" or visit.scheduled_at <= now:
            return 0
        address = self._address(repos, participant)  # once for the visit, not once per message
        if address is None:
            return 0
        zone = ZoneInfo(participant.timezone)
        stamp = visit.scheduled_at.strftime("%Y%m%dT%H%M")
        data = {
            "visit_id": visit.id, "visit_type": visit.type, "when": _iso(visit.scheduled_at),
            "site": f"study.site.{visit.site_id}" if visit.site_id else None,
        }  # fmt: skip
        settings = self.study.reminders
        planned = 0
        if settings.at_booking:
            planned += self._plan(
                repos, participant, key=f"booking:{visit.id}:{stamp}", kind="booking", flow="visit_reminder",
                data={**data, "kind": "booking"}, due=now, purpose="booking", capped=False,
                reply_until=visit.scheduled_at, visit_id=visit.id, now=now, before=visit.scheduled_at,
                destination=address,
            )  # fmt: skip
        visit_day = local_day(visit.scheduled_at, zone)
        for days in settings.days_before:
            due = at_local(visit_day - timedelta(days=days), settings.send_at, zone)
            if due <= now:
                continue  # booked too late for this one; the booking note says it all
            planned += self._plan(
                repos, participant, key=f"reminder:{visit.id}:{stamp}:{days}", kind="reminder", flow="visit_reminder",
                data={**data, "kind": "reminder"}, due=due, purpose="reminder", capped=True,
                reply_until=visit.scheduled_at, visit_id=visit.id, now=now, before=visit.scheduled_at,
                destination=address,
            )  # fmt: skip
        return planned

    def _plan_after_visit(
        self, repos: Repositories, participant: Participant, visit_id: int, visit_at: datetime, now: datetime,
        replanning: bool = False,
    ) -> int:  # fmt: skip
        zone = ZoneInfo(participant.timezone)
        planned = 0
        for checkin in self.study.checkins:
            if checkin.days_after_visit is None:
                continue
            key = f"checkin:{participant.id}:{checkin.id}:v{visit_id}"
            # Counted from the visit day, or from today when staff mark it attended late.
            day = max(local_day(visit_at, zone), local_day(now, zone)) + timedelta(days=checkin.days_after_visit)
            if replanning:
                # Planned again (a new language, check-ins turned back on), it keeps the day it was
                # first planned for, or the visit's: a check-in whose day has passed is not asked late.
                existing = repos.schedule.by_key(key)
                if existing is not None and existing.status == "sent":
                    continue
                planned_for = (existing.data or {}).get("planned_for") if existing is not None else None
                day = (
                    local_day(datetime.fromisoformat(str(planned_for)), zone) if planned_for
                    else local_day(visit_at, zone) + timedelta(days=checkin.days_after_visit)
                )  # fmt: skip
            due = at_local(day, checkin.at, zone)
            if due <= now:
                continue
            planned += self._plan(
                repos, participant, key=key, kind="checkin",
                flow="checkin", data={"checkin": checkin.id, "planned_for": _iso(due)}, due=due, purpose="checkin",
                capped=True, reply_until=None, visit_id=visit_id, now=now,
            )  # fmt: skip
        return planned

    def plan_checkins(
        self, repos: Repositories, participant: Participant, anchor: date, now: datetime, since: date | None = None
    ) -> int:
        """Plan the weekly check-ins from day 1 (or from today, if day 1 has passed; or from `since`)."""
        zone = ZoneInfo(participant.timezone)
        planned = 0
        for checkin in self.study.checkins:
            if checkin.every_week_on is None:
                continue
            start = max(anchor, since if since is not None else local_day(now, zone))
            first = start + timedelta(days=(WEEKDAYS.index(checkin.every_week_on) - start.weekday()) % 7)
            keys: list[str] = []
            for week in range(checkin.weeks):
                day = first + timedelta(weeks=week)
                due = at_local(day, checkin.at, zone)
                if due <= now:
                    continue
                key = f"checkin:{participant.id}:{checkin.id}:{day.isoformat()}"
                keys.append(key)
                planned += self._plan(
                    repos, participant, key=key, kind="checkin", flow="checkin",
                    data={"checkin": checkin.id, "planned_for": _iso(due)}, due=due, purpose="checkin", capped=True,
                    reply_until=None, visit_id=None, now=now,
                )  # fmt: skip
        return planned

    def _plan_missed(
        self, repos: Repositories, participant: Participant, visit_id: int, visit_at: datetime, now: datetime
    ) -> int:
        return self._plan(
            repos, participant, key=f"missed:{visit_id}", kind="missed", flow="missed_visit",
            data={"visit_id": visit_id, "when": _iso(visit_at)}, due=now, purpose="reminder", capped=False,
            reply_until=None, visit_id=visit_id, now=now,
        )  # fmt: skip

    def plan_opener(
        self, repos: Repositories, participant: Participant, *, flow: str, kind: str, now: datetime,
        data: JSONDict | None = None,
    ) -> int:  # fmt: skip
        """Plan a message that opens a flow, due now (after quiet hours), for staff to start a conversation
        such as a consent check; the patient's reply within 7 days enters the flow. Return 1, or 0 if it
        cannot go (no address, or one with the same key went out already)."""
        # Staff asked for this one message, so it does not count against the reminder caps.
        return self._plan(
            repos, participant, key=f"{kind}:{participant.id}:{now:%Y%m%dT%H%M%S}", kind=kind, flow=flow,
            data=dict(data or {}), due=now, purpose=kind, capped=False, reply_until=None, visit_id=None, now=now,
            reply_window=OPENER_REPLY_WINDOW,
        )  # fmt: skip

    def replan(self, repos: Repositories, participant: Participant, now: datetime) -> int:
        """Render every pending message again (new language, zone, channel or name; back after STOP;
        a kind of message turned on or off)."""
        self.cancel_unwanted(repos, participant, now)
        planned = 0
        for visit in repos.visits.for_participant(participant.id):
            if visit.status == "booked":
                planned += self.plan_visit(repos, participant, visit.id, now)
            elif visit.status == "attended":
                planned += self._plan_after_visit(
                    repos, participant, visit.id, visit.scheduled_at, now, replanning=True
                )
        anchor = repos.participants.get_anchor(participant.id)
        if anchor is not None:
            # The same weeks as when they were enrolled, not 12 more from today: those already past
            # are skipped, none is added at the end.
            enrolled_at = repos.connection.execute(
                select(participant_t.c.enrolled_at).where(participant_t.c.id == participant.id)
            ).scalar()
            since = local_day(enrolled_at, ZoneInfo(participant.timezone)) if enrolled_at is not None else None
            planned += self.plan_checkins(repos, participant, anchor, now, since)
        return planned

    def cancel_unwanted(self, repos: Repositories, participant: Participant, now: datetime) -> int:
        """Cancel pending messages of the purposes the participant turned off (SMS-05); return how many."""
        kinds = [kind for purpose in participant.purpose_opt_outs for kind in PURPOSE_KINDS.get(purpose, ())]
        return repos.schedule.cancel(now, participant_id=participant.id, kinds=kinds) if kinds else 0

    @staticmethod
    def _greeted(messages: list[MessageCreated], participant: Participant) -> list[MessageCreated]:
        """Lead with "Hi <first name>." only when the participant allowed it (REM-03).

        The name is a parameter of the greeting, never part of a template, so nothing in it is read
        as a {placeholder}.
        """
        name = participant.preferences.get("first_name")
        allowed = participant.preferences.get("use_first_name") is True
        if not messages or not allowed or not isinstance(name, str) or not name.strip():
            return messages
        first = messages[0]
        return [replace(first, parts=(Part(GREETING, {"name": name.strip()}), *first.parts)), *messages[1:]]

    def _address(self, repos: Repositories, participant: Participant) -> tuple[str, str] | None:
        reachable = [a for a in repos.participants.addresses(participant.id) if a.unreachable_at is None]
        preferred = participant.preferences.get("channel")
        for address in reversed(reachable):
            if preferred is None or address.channel == preferred:
                return address.channel, address.address
        return (reachable[-1].channel, reachable[-1].address) if reachable else None

    def _plan(
        self, repos: Repositories, participant: Participant, *, key: str, kind: str, flow: str, data: JSONDict,
        due: datetime, purpose: str, capped: bool, reply_until: datetime | None, visit_id: int | None,
        now: datetime, before: datetime | None = None, reply_window: timedelta | None = None,
        destination: tuple[str, str] | None = None,
    ) -> int:  # fmt: skip
        """Render and store one scheduled message; 0 if it cannot go (turned off, no address, no window
        before `before`). `destination` is the (channel, address) when the caller looked it up already."""
        if purpose in participant.purpose_opt_outs:
            return 0  # the participant does not want this kind of message (SMS-05)
        address = destination or self._address(repos, participant)
        if address is None:
            return 0
        channel, to = address
        zone = ZoneInfo(participant.timezone)
        quiet = self.study.quiet_hours
        due_at, send_until = next_allowed(max(due, now), zone, quiet.send_from, quiet.send_until)
        if before is not None and due_at >= before:
            return 0
        context = self.conversations.context(participant.locale, now, participant.timezone)
        messages = self.conversations.engine.preview(flow, data, context)
        style = self.styles.get(channel, ChoiceStyle.NUMBERED)
        rendered = [self.renderer.render(m, participant.locale, style, participant.timezone) for m in messages]
        body = "\n\n".join(r.body for r in rendered)
        greeted = self._greeted(messages, participant)
        if greeted is not messages:
            named = [self.renderer.render(m, participant.locale, style, participant.timezone) for m in greeted]
            named_body = "\n\n".join(r.body for r in named)
            # REM-03 allows the name; a text message still never needs a 4th segment (CONVERSATION-STYLE
            # rule 2), so where the name would tip it over (long Spanish reminders), it goes without.
            if channel != SMS or count_segments(named_body).segments <= MAX_SMS_SEGMENTS:
                rendered, body = named, named_body
        buttons: list[dict[str, Any]] = []
        choices = rendered[-1].buttons if rendered else ()
        tokens = [secrets.token_urlsafe(12) for _ in choices]
        buttons = [{"value": b.value, "label": b.label, "token": t} for b, t in zip(choices, tokens, strict=True)]
        if reply_until is None:
            window = reply_window or (MISSED_REPLY_WINDOW if kind == "missed" else CHECKIN_REPLY_WINDOW)
            reply_until = due_at + window
        scheduled_id = repos.schedule.put(
            key, now, participant_id=participant.id, kind=kind, visit_id=visit_id, flow=flow, data=data,
            channel=channel, address=to, body=body, buttons=buttons or None, purpose=purpose, capped=capped,
            due_at=due_at, send_until=send_until, day_number=day_number(due_at, zone), reply_until=reply_until,
        )  # fmt: skip
        if scheduled_id is None:
            return 0
        repos.buttons.add_many(
            [
                {"token": t, "participant_id": participant.id, "scheduled_id": scheduled_id, "choice_number": n,
                 "created_at": now}
                for n, t in enumerate(tokens, start=1)
            ]
        )  # fmt: skip
        return 1

    def defer(self, repos: Repositories, row: Any, participant: Participant, now: datetime) -> str:
        """A row that missed its window: move it to the next one, or let it expire if its visit has passed."""
        if row.kind in ("booking", "reminder") and row.visit_id is not None:
            visit = repos.visits.by_id(row.visit_id)
            if visit is None or visit.status != "booked" or visit.scheduled_at <= now:
                repos.schedule.finish(row.id, now, "expired")
                return "expired"
        planned_for = (row.data or {}).get("planned_for")
        if row.kind == "checkin" and planned_for and now - datetime.fromisoformat(planned_for) > CHECKIN_REPLY_WINDOW:
            repos.schedule.finish(row.id, now, "expired")  # a check-in days late asks about the wrong days
            return "expired"
        zone = ZoneInfo(participant.timezone)
        quiet = self.study.quiet_hours
        # The window it missed is over (quiet hours, or the day's cap was used): the next one starts
        # at the earliest tomorrow morning, local time.
        due_at, send_until = next_allowed(max(now, row.send_until), zone, quiet.send_from, quiet.send_until)
        if row.kind in ("booking", "reminder") and row.visit_id is not None:
            visit = repos.visits.by_id(row.visit_id)
            if visit is not None and due_at >= visit.scheduled_at:
                repos.schedule.finish(row.id, now, "expired")
                return "expired"
        repos.schedule.move(row.id, now, due_at=due_at, send_until=send_until, day_number=day_number(due_at, zone))
        return "deferred"
