"""Erasure on request (PRIV-12): remove or anonymise what is outside the trial record, keep what is in it.

Erasure is not leaving the study (PRIV-13): nobody is withdrawn, and visits stay as they are. It is
one transaction, audited ("erasure_requested" with who and why, then "erased" with what was done),
and it is done once: a second request is refused.

Every table, and what erasure does to it (`TABLES`; a test fails when a table has no decision):

Removed or anonymised, because it is not part of the trial record:
- inbound_message: the texts become "[erased]". Chat messages are not the trial record. Except a
  message an escalation was opened for: it is the source of a safety report, a withdrawal request
  or a question staff had to answer, and the escalation is kept (below), so its words are too.
- outbox_message: bodies, buttons and addresses erased; messages not sent yet never will be.
- scheduled_message: pending ones cancelled; bodies, buttons and addresses of all erased. What kind
  of message went when stays: that is how visit reminders are counted.
- channel_address: the phone number or chat id becomes `erased:<row id>` and is marked unreachable,
  so nobody can message them and a new message from that number is a stranger's.
- participant: preferences cleared (first name, best time to call, channel); opted out, so nothing
  more is sent; `erased_at` set. The pseudonymous code, language and time zone stay: the kept
  records hang on them.
- conversation: the snapshot emptied (it may hold answers in progress, a first name).
- prescreen_outcome: the answers are cleared for people who never enrolled (PRIV-09: destroy the
  answers of people who do not go on); outcome and reason codes stay, for the screen-fail counts.
  For enrolled participants the answers are kept: they are part of the trial record.
- recontact_permission: a new row saying no (granted=False); earlier rows stay, so the history of
  what they allowed, and when, can be shown (PRIV-14).

Kept, because it is the trial record or held under a legal obligation:
- audit_log: append-only by design (CON-08/09); it is the record of who did what. It can hold words
  the participant typed (check-in notes, SAF-03 "kept verbatim") and prescreen answers. Those are
  safety and trial data, and after erasure they are tied only to a pseudonymous code.
- escalation: safety reports and staff follow-up (SAF-01/02; a legal obligation, PRIV-11/12).
- visit: the trial's schedule and what happened at each visit.
- travel_request: what was arranged for trial visits and the basis of any reimbursement the sponsor
  must account for (TRV-02/03); the same details are in the audit trail.
- button_token, staff_token: opaque tokens, nothing about the person.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from bot.engine import empty_snapshot
from bot.staff_views import ParticipantNotFoundError, find_participant
from storage.erasure import Erasure
from storage.repositories import Repositories, audit_t, escalation_t, visit_t
from storage.travel import travel_t

if TYPE_CHECKING:
    from bot.bootstrap import App

MAX_REASON = 200  # the audit trail's reason column
TABLES: dict[str, str] = {
    "participant": "anonymised: preferences cleared, opted out, erased_at set",
    "channel_address": "anonymised: erased:<id>, unreachable",
    "conversation": "emptied",
    "inbound_message": "texts erased, except those behind an escalation",
    "outbox_message": "bodies, buttons and addresses erased; unsent ones stopped",
    "scheduled_message": "pending cancelled; bodies, buttons and addresses erased",
    "prescreen_outcome": "answers cleared unless enrolled; outcome and reasons kept",
    "recontact_permission": "a new row granted=False; history kept",
    "audit_log": "kept (append-only, CON-08)",
    "escalation": "kept (safety reports, legal obligation)",
    "visit": "kept (trial record)",
    "travel_request": "kept (trial visits and reimbursement)",
    "button_token": "kept (opaque tokens)",
    "staff_token": "kept (opaque tokens)",
}
"""What erasure does to each table; see the module docstring for why."""


class ErasureError(Exception):
    """An erasure that cannot be done as asked; the message says why."""


@dataclass(frozen=True)
class ErasureReport:
    """What an erasure removed and what it kept."""

    code: str
    enrolled: bool
    inbound_erased: int
    inbound_kept: int
    outbox_erased: int
    outbox_stopped: int
    addresses: int
    scheduled_cancelled: int
    scheduled_erased: int
    prescreen_answers_cleared: int
    kept: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (also the "erased" audit entry)."""
        return asdict(self)


def erase_participant(app: App, reference: str, actor: str, reason: str) -> ErasureReport:
    """Erase what is outside the trial record for one participant (PRIV-12), in one transaction."""
    reason = " ".join(reason.split())
    if not reason:
        raise ErasureError("give a reason for the audit trail")
    if len(reason) > MAX_REASON:
        raise ErasureError(f"the reason is {len(reason)} characters; keep it under {MAX_REASON}")
    now = app.clock.now()
    with app.database.write() as connection:
        repos = Repositories(connection)
        try:
            participant = find_participant(repos, reference)
        except ParticipantNotFoundError as exc:
            raise ErasureError(str(exc)) from None
        repos.participants.lock(participant.id)
        participant = repos.participants.get(participant.id)
        if participant.erased_at is not None:
            raise ErasureError(f"{participant.code} was already erased on {participant.erased_at.isoformat()}")
        erase = Erasure(connection)
        if erase.waiting_inbound(participant.id):
            # A message not acted on yet may be a safety report: it is read (and escalated) first.
            raise ErasureError(f"{participant.code} has messages not handled yet; try again in a minute")
        repos.audit.append(
            at=now, actor=actor, action="erasure_requested", participant_id=participant.id, reason=reason
        )
        enrolled = repos.participants.get_anchor(participant.id) is not None
        # Chat is not the trial record; the words behind an escalation are part of a kept report.
        inbound_erased, inbound_kept = erase.inbound_texts(participant.id)
        # What we sent them can hold their first name, visit times, an address: copies, not the record.
        outbox_erased, outbox_stopped = erase.outbox(participant.id, now)
        scheduled_cancelled, scheduled_erased = erase.scheduled(participant.id, now)
        # The number or chat id is what identifies them; without it nobody can message them again.
        addresses = erase.addresses(participant.id, now)
        # PRIV-09: answers of people who never enrolled are not kept; an enrolled participant's are
        # part of the trial record.
        answers_cleared = 0 if enrolled else erase.prescreen_answers(participant.id)
        # PRIV-14: a dated "no" on top of the history; earlier answers stay to show what was allowed when.
        latest = repos.outcomes.latest_recontact(participant.id)
        scope = latest.scope if latest is not None else app.study.study.prescreen.recontact_scope
        repos.outcomes.record_recontact(participant_id=participant.id, scope=scope, granted=False, at=now)
        # A conversation in progress may hold answers or a first name.
        conversation = repos.conversations.load(participant.id)
        repos.conversations.save(
            participant.id, empty_snapshot(), conversation.version, now, None, None, conversation.burst
        )
        # Preferences (first name, best time, channel) are not the record; opted out, so nothing more
        # goes out even if an address reappears. Consent to texts and per-purpose choices stay: evidence.
        repos.participants.update(
            participant.id, now, preferences={}, erased_at=now, opted_out_at=participant.opted_out_at or now
        )
        report = ErasureReport(
            code=participant.code, enrolled=enrolled, inbound_erased=inbound_erased, inbound_kept=inbound_kept,
            outbox_erased=outbox_erased, outbox_stopped=outbox_stopped, addresses=addresses,
            scheduled_cancelled=scheduled_cancelled, scheduled_erased=scheduled_erased,
            prescreen_answers_cleared=answers_cleared, kept=_kept(repos, participant.id),
        )  # fmt: skip
        repos.audit.append(
            at=now, actor=actor, action="erased", participant_id=participant.id, reason=reason,
            old={"opted_out": participant.opted_out, "erased_at": None},
            new={k: v for k, v in report.as_dict().items() if k != "code"},
        )  # fmt: skip
    return report


def _kept(repos: Repositories, participant_id: int) -> dict[str, int]:
    """How many rows of the trial record stay, table by table."""
    c = repos.connection

    def count(table: Any) -> int:
        return int(c.execute(select(func.count()).where(table.c.participant_id == participant_id)).scalar_one())

    return {
        "audit_entries": count(audit_t),
        "escalations": count(escalation_t),
        "visits": count(visit_t),
        "travel_requests": count(travel_t),
    }
