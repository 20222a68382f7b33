"""Escalations: raised when something needs a person, alerted until someone acknowledges (SAF-01/02).

An escalation has a severity (urgent, high, normal), an acknowledgement deadline (15 minutes,
2 hours, or the end of the next business day by default) and a next alert time kept in the
database, so a restart never loses a timer. Each sweep alerts what is due: the staff Telegram
group (with Acknowledge / Resolve buttons) and, for urgent ones or when the chain moves up, the
on-call phones by SMS. Unacknowledged alerts repeat, and pass to the backup, then to the
principal investigator. If a Telegram alert has not gone out within a minute, it goes by SMS.

Alerts carry no health details (PRIV-07): the participant's code, the category, the severity and
how long it has waited; `trialbot escalation show ID` gives staff the rest.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.study import WEEKDAYS, Study
from storage.database import Database
from storage.repositories import Repositories

FALLBACK_AFTER = timedelta(seconds=60)
ALERT = "alert"
STAFF = "staff"


class EscalationError(Exception):
    """A staff action on an escalation that cannot be done (unknown id, already resolved)."""


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What a staff action did, in a sentence for the person who did it."""

    escalation_id: int
    status: str
    message: str
    changed: bool


def waited(since: datetime, now: datetime) -> str:
    """How long something has waited, for a staff alert: "3 min", "2 h 5 min", "1 d 4 h"."""
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


class Alerts:
    """Deadlines, alert rounds and staff actions for one study's escalations."""

    def __init__(self, study: Study) -> None:
        """Use the study's escalation settings."""
        self.study = study
        self.settings = study.escalation

    # -- deadlines ----------------------------------------------------------------------------

    def ack_due(self, severity: str, created: datetime) -> datetime:
        """When staff must have acknowledged: minutes for urgent and high, the next business day for normal."""
        minutes = self.settings.ack_minutes.get(severity)
        if minutes is not None:
            return created + timedelta(minutes=minutes)
        hours = self.study.contact.hours
        zone = ZoneInfo(self.study.timezone)
        local = created.astimezone(zone)
        day = local.date()
        for _ in range(8):
            day += timedelta(days=1)
            if WEEKDAYS[day.weekday()] in hours.days:
                return datetime.combine(day, hours.closes, tzinfo=zone).astimezone(created.tzinfo)
        return created + timedelta(days=1)

    def level(self, severity: str, created: datetime, now: datetime) -> int:
        """How far up the chain an unacknowledged escalation has gone by now."""
        reached = 0
        for index, step in enumerate(self.settings.chain):
            after = step.after_minutes.get(severity)  # type: ignore[call-overload]
            if index == 0 or (after is not None and now - created >= timedelta(minutes=after)):
                reached = index
        return reached

    def telegram_chats(self) -> set[int]:
        """The staff groups alerts go to."""
        return {step.telegram_chat for step in self.settings.chain if step.telegram_chat is not None}

    # -- alerting -----------------------------------------------------------------------------

    def tick(self, database: Database, now: datetime, limit: int = 200) -> int:
        """Send every alert round that is due, and SMS fallbacks for Telegram alerts that did not go out."""
        rounds = 0
        with database.write() as connection:
            repos = Repositories(connection)
            for escalation in repos.escalations.due_alerts(now, limit):
                self._alert(repos, escalation, now)
                rounds += 1
            self._fallbacks(repos, now)
        return rounds

    def topic(self, category: str) -> str:
        """What a staff message may say the escalation is about: its category if the study allows it, else
        nothing (PRIV-02: SMS and Telegram bodies name no symptom or condition)."""
        return category.replace("_", " ") if self.settings.alerts_name_category else ""

    def _text(self, escalation: Any, code: str, now: datetime, by_sms: bool) -> str:
        severity = str(escalation.severity).upper()
        topic = self.topic(str(escalation.category))
        about = f"{topic} - " if topic else ""
        since = escalation.received_at or escalation.created_at
        line = f"trialbot {severity} #{escalation.id}: {about}participant {code}, waiting {waited(since, now)}."
        later = int(escalation.joined_messages or 0)
        if later:  # the same worry written again since (an auto-reply, or a person who is getting worse)
            line += f" {later} more message{'s' if later > 1 else ''} about it since."
        if by_sms:
            return f"{line} Reply ACK {escalation.id} to acknowledge. Details: trialbot escalation show {escalation.id}"
        return f"{line} Details: trialbot escalation show {escalation.id}"

    def _alert(self, repos: Repositories, escalation: Any, now: datetime) -> None:
        chain = self.settings.chain
        level = self.level(escalation.severity, escalation.created_at, now)
        code = repos.participants.get(escalation.participant_id).code
        alert_round = int(escalation.alerts_sent) + 1
        sent = 0
        chats = [step.telegram_chat for step in chain[: level + 1] if step.telegram_chat is not None]
        for chat in dict.fromkeys(chats):
            tokens = {action: secrets.token_urlsafe(12) for action in ("ack", "resolve")}
            outbox_id = repos.outbox.add(
                key=f"alert:{escalation.id}:{alert_round}:tg:{chat}", participant_id=None, channel="telegram",
                address=str(chat), body=self._text(escalation, code, now, by_sms=False),
                buttons=[{"value": "ack", "label": "Acknowledge", "token": tokens["ack"]},
                         {"value": "resolve", "label": "Resolve", "token": tokens["resolve"]}],
                purpose=ALERT, now=now,
            )  # fmt: skip
            if outbox_id is not None:
                repos.staff_tokens.add(tokens, escalation.id, now)
                sent += 1
        # Phones: every round when urgent, when the chain moves up, and always when no group exists.
        moved_up = level > int(escalation.alert_level)
        if chain and (escalation.severity == "urgent" or moved_up or not chats):
            for phone in chain[level].sms:
                if repos.outbox.add(
                    key=f"alert:{escalation.id}:{alert_round}:sms:{phone}", participant_id=None, channel="sms",
                    address=phone, body=self._text(escalation, code, now, by_sms=True), buttons=None, purpose=ALERT,
                    now=now,
                ) is not None:  # fmt: skip
                    sent += 1
        every = timedelta(minutes=self.settings.realert_minutes.get(escalation.severity, 60))
        repos.escalations.alerted(
            escalation.id, now, level=level, next_alert_at=now + every,
            ack_due_at=escalation.ack_due_at or self.ack_due(escalation.severity, escalation.created_at),
        )  # fmt: skip
        repos.audit.append(
            at=now, actor="system", action="alert_sent", participant_id=escalation.participant_id,
            new={"escalation_id": escalation.id, "round": alert_round, "level": level, "messages": sent},
        )  # fmt: skip

    def _fallbacks(self, repos: Repositories, now: datetime) -> None:
        """A Telegram alert that failed, or has not gone out after a minute, goes by SMS too."""
        chain = self.settings.chain
        if not chain:
            return
        for row in repos.outbox.stuck_alerts(now - FALLBACK_AFTER):
            escalation_id = int(row.idempotency_key.split(":")[1])
            escalation = repos.escalations.get(escalation_id)
            if escalation is None or escalation.status != "open":
                continue
            code = repos.participants.get(escalation.participant_id).code
            phones = dict.fromkeys((*chain[0].sms, *chain[int(escalation.alert_level)].sms))
            for phone in phones:
                repos.outbox.add(
                    key=f"{row.idempotency_key}:fallback:{phone}", participant_id=None, channel="sms", address=phone,
                    body=self._text(escalation, code, now, by_sms=True), buttons=None, purpose=ALERT, now=now,
                )  # fmt: skip

    # -- staff actions ------------------------------------------------------------------------

    def acknowledge(self, repos: Repositories, escalation_id: int, actor: str, now: datetime, via: str) -> ActionResult:
        """Someone has it: the alerts stop."""
        escalation = self._get(repos, escalation_id)
        if escalation.status != "open":
            return ActionResult(
                escalation_id, escalation.status, f"#{escalation_id} is already {escalation.status}.", False
            )
        repos.escalations.acknowledge(escalation_id, now, actor)
        repos.audit.append(
            at=now, actor=actor, action="escalation_acknowledged", participant_id=escalation.participant_id,
            old={"status": "open"}, new={"status": "acknowledged", "escalation_id": escalation_id, "via": via},
        )  # fmt: skip
        late = " (after its deadline)" if escalation.ack_due_at is not None and now > escalation.ack_due_at else ""
        who = actor.removeprefix("staff:")
        return ActionResult(escalation_id, "acknowledged", f"#{escalation_id} acknowledged by {who}{late}.", True)

    def resolve(
        self, repos: Repositories, escalation_id: int, actor: str, now: datetime, note: str, via: str
    ) -> ActionResult:
        """The follow-up is done; the note says how."""
        escalation = self._get(repos, escalation_id)
        if escalation.status == "resolved":
            return ActionResult(escalation_id, "resolved", f"#{escalation_id} is already resolved.", False)
        repos.escalations.resolve(escalation_id, now, actor, note[:1000])
        repos.audit.append(
            at=now, actor=actor, action="escalation_resolved", participant_id=escalation.participant_id,
            old={"status": escalation.status},
            new={"status": "resolved", "escalation_id": escalation_id, "note": note[:1000], "via": via},
        )  # fmt: skip
        return ActionResult(
            escalation_id, "resolved", f"#{escalation_id} resolved by {actor.removeprefix('staff:')}.", True
        )

    @staticmethod
    def _get(repos: Repositories, escalation_id: int) -> Any:
        escalation = repos.escalations.get(escalation_id)
        if escalation is None:
            raise EscalationError(f"no escalation #{escalation_id}")
        return escalation
