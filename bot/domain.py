"""The domain vocabulary: inbound messages, message parts, choices and the events the engine emits.

Everything here is a frozen dataclass that converts to and from plain JSON, so snapshots and events
can be stored without pickle and compared in golden transcripts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar, TypeAlias

JSON: TypeAlias = dict[str, "JSON"] | list["JSON"] | str | int | float | bool | None
JSONDict: TypeAlias = dict[str, Any]


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One message from a patient, already normalised by its channel adapter."""

    channel: str
    address: str
    text: str
    provider_message_id: str
    received_at: datetime
    media_count: int = 0
    locale_hint: str | None = None
    # What the channel saw: "text", "button" (text is the button's token), "edit" (an edited message),
    # "forward" (forwarded from someone else), "media" (no words), "blocked" (the user blocked the bot).
    kind: str = "text"
    # Channel details kept in the audit trail, e.g. {"start_payload": "flyer-3"} from a Telegram deep link.
    meta: JSONDict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Part:
    """One translatable sentence of an outgoing message: a message id and its parameters."""

    key: str
    params: JSONDict = field(default_factory=dict)

    def to_json(self) -> JSONDict:
        """Return the part as JSON."""
        return {"key": self.key, "params": dict(self.params)}

    @classmethod
    def from_json(cls, data: JSONDict) -> Part:
        """Build a part from JSON."""
        return cls(key=data["key"], params=dict(data.get("params") or {}))


@dataclass(frozen=True, slots=True)
class Choice:
    """An answer the patient can pick: its outcome value and the message id of its label."""

    value: str
    label: str
    keys: tuple[str, ...] = ()  # short replies that pick it ("c" for Confirm)
    # The label's placeholders, like a Part's: a visit offered as "Tuesday, December 22 at 9:30 AM".
    params: JSONDict = field(default_factory=dict, hash=False)

    def to_json(self) -> JSONDict:
        """Return the choice as JSON (params only when there are some)."""
        data: JSONDict = {"value": self.value, "label": self.label, "keys": list(self.keys)}
        if self.params:
            data["params"] = dict(self.params)
        return data

    @classmethod
    def from_json(cls, data: JSONDict) -> Choice:
        """Build a choice from JSON."""
        return cls(
            value=data["value"], label=data["label"], keys=tuple(data.get("keys") or ()),
            params=dict(data.get("params") or {}),
        )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Events. Each has a past-tense `type`; the service turns them into rows after the engine returns.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    """Base class of everything a turn can produce."""

    type: ClassVar[str] = "event"

    def to_json(self) -> JSONDict:
        """Return the event as JSON with its type."""
        data: JSONDict = {"type": self.type}
        for name, value in asdict(self).items():
            data[name] = value
        return data

    def summary(self) -> str:
        """Return a one-line description for golden transcripts."""
        return self.type


@dataclass(frozen=True, slots=True)
class MessageCreated(Event):
    """A message to the patient: translatable parts, then optional choices."""

    type: ClassVar[str] = "message_created"
    parts: tuple[Part, ...]
    choices: tuple[Choice, ...] = ()
    # Why the message exists decides what may block it (opt-out, quiet hours); see bot/service.py.
    purpose: str = "reply"
    # Said on text-only channels instead of numbered choices ("Reply C to confirm, R to reschedule").
    instruction: Part | None = None

    def to_json(self) -> JSONDict:
        """Return the message as JSON."""
        return {
            "type": self.type,
            "parts": [p.to_json() for p in self.parts],
            "choices": [c.to_json() for c in self.choices],
            "purpose": self.purpose,
            "instruction": self.instruction.to_json() if self.instruction else None,
        }

    def summary(self) -> str:
        """Return the message ids it is made of."""
        return f"{self.type} {'+'.join(p.key for p in self.parts)}"


@dataclass(frozen=True, slots=True)
class FlowStarted(Event):
    """A flow began (at the root of a conversation or as a sub-flow)."""

    type: ClassVar[str] = "flow_started"
    flow: str

    def summary(self) -> str:
        """Name the flow."""
        return f"{self.type} {self.flow}"


@dataclass(frozen=True, slots=True)
class FlowEnded(Event):
    """A flow reached a final state."""

    type: ClassVar[str] = "flow_ended"
    flow: str
    state: str

    def summary(self) -> str:
        """Name the flow and where it ended."""
        return f"{self.type} {self.flow}.{self.state}"


@dataclass(frozen=True, slots=True)
class AnswerRecorded(Event):
    """The patient answered a question; `value` is the parsed answer."""

    type: ClassVar[str] = "answer_recorded"
    flow: str
    question: str
    value: JSON

    def summary(self) -> str:
        """Name the question and the value."""
        return f"{self.type} {self.question}={self.value}"


@dataclass(frozen=True, slots=True)
class AnswerUnclear(Event):
    """An answer could not be read; the question is asked again."""

    type: ClassVar[str] = "answer_unclear"
    flow: str
    state: str
    tries: int

    def summary(self) -> str:
        """Name the state and the try number."""
        return f"{self.type} {self.flow}.{self.state} try={self.tries}"


@dataclass(frozen=True, slots=True)
class PrescreenCompleted(Event):
    """The prescreen reached an outcome: eligible, ineligible (with reasons) or needs_review."""

    type: ClassVar[str] = "prescreen_completed"
    outcome: str
    reasons: tuple[str, ...] = ()
    review: tuple[str, ...] = ()
    answers: JSONDict = field(default_factory=dict)

    def to_json(self) -> JSONDict:
        """Return the outcome as JSON."""
        return {
            "type": self.type,
            "outcome": self.outcome,
            "reasons": list(self.reasons),
            "review": list(self.review),
            "answers": dict(self.answers),
        }

    def summary(self) -> str:
        """Name the outcome and reason codes."""
        codes = ",".join(self.reasons or self.review)
        return f"{self.type} {self.outcome}" + (f" {codes}" if codes else "")


@dataclass(frozen=True, slots=True)
class RecontactRecorded(Event):
    """The patient said whether they may be contacted about future studies (PRIV-14)."""

    type: ClassVar[str] = "recontact_recorded"
    granted: bool
    scope: str

    def summary(self) -> str:
        """Name the decision and its scope."""
        return f"{self.type} granted={str(self.granted).lower()} scope={self.scope}"


@dataclass(frozen=True, slots=True)
class OptedOut(Event):
    """The patient asked for no more messages (SMS-01/02)."""

    type: ClassVar[str] = "opted_out"
    keyword: str

    def summary(self) -> str:
        """Name what triggered it."""
        return f"{self.type} {self.keyword}"


@dataclass(frozen=True, slots=True)
class OptedIn(Event):
    """The patient asked for messages again (SMS-06)."""

    type: ClassVar[str] = "opted_in"
    keyword: str

    def summary(self) -> str:
        """Name what triggered it."""
        return f"{self.type} {self.keyword}"


@dataclass(frozen=True, slots=True)
class HelpRequested(Event):
    """The patient asked for HELP or INFO (SMS-07)."""

    type: ClassVar[str] = "help_requested"


@dataclass(frozen=True, slots=True)
class StopQueried(Event):
    """A message that looked like STOP but was not quite it; the patient was asked (RELIABILITY §5 #36)."""

    type: ClassVar[str] = "stop_queried"
    matched: str

    def summary(self) -> str:
        """The event and what was typed (folded: "s t o p", "st0p")."""
        return f"{self.type} {self.matched}"


@dataclass(frozen=True, slots=True)
class LocaleChanged(Event):
    """The patient switched language."""

    type: ClassVar[str] = "locale_changed"
    old: str
    new: str

    def summary(self) -> str:
        """Name both languages."""
        return f"{self.type} {self.old}->{self.new}"


@dataclass(frozen=True, slots=True)
class StaffRequested(Event):
    """Someone on the study team should contact the patient."""

    type: ClassVar[str] = "staff_requested"
    category: str
    severity: str = "normal"
    details: JSONDict = field(default_factory=dict)  # for staff only; never sent to a channel

    def to_json(self) -> JSONDict:
        """Return the request as JSON (details only when there are some)."""
        data: JSONDict = {"type": self.type, "category": self.category, "severity": self.severity}
        if self.details:
            data["details"] = dict(self.details)
        return data

    def summary(self) -> str:
        """Name the category and severity."""
        return f"{self.type} {self.category} {self.severity}"


@dataclass(frozen=True, slots=True)
class SafetyFlagged(Event):
    """A message may be about a crisis or an adverse event (SAF-01, SAF-05, SAF-06).

    `matched` names lexicon entries, never the patient's own words; those stay in the inbound row.
    """

    type: ClassVar[str] = "safety_flagged"
    level: str  # crisis | adverse_event
    category: str
    severity: str
    matched: tuple[str, ...] = ()

    def to_json(self) -> JSONDict:
        """Return the flag as JSON."""
        return {"type": self.type, "level": self.level, "category": self.category, "severity": self.severity,
                "matched": list(self.matched)}  # fmt: skip

    def summary(self) -> str:
        """Name the level and category."""
        return f"{self.type} {self.level} {self.category} {self.severity}"


@dataclass(frozen=True, slots=True)
class TextsAgreed(Event):
    """The person answered the opt-in question (SMS-09): agreed or not, to which disclosure."""

    type: ClassVar[str] = "texts_agreed"
    agreed: bool
    disclosure_version: str
    shown: tuple[str, ...]  # the message ids of the disclosure, rendered into the audit trail
    source: str = ""  # an advertisement's keyword source, or a deep link's payload

    def to_json(self) -> JSONDict:
        """Return the answer as JSON."""
        return {"type": self.type, "agreed": self.agreed, "disclosure_version": self.disclosure_version,
                "shown": list(self.shown), "source": self.source}  # fmt: skip

    def summary(self) -> str:
        """Say whether they agreed."""
        return f"{self.type} {'yes' if self.agreed else 'no'}"


@dataclass(frozen=True, slots=True)
class VisitConfirmed(Event):
    """The patient confirmed a booked visit in reply to its reminder."""

    type: ClassVar[str] = "visit_confirmed"
    visit_id: int

    def summary(self) -> str:
        """Name the visit."""
        return f"{self.type} {self.visit_id}"


@dataclass(frozen=True, slots=True)
class TravelRequested(Event):
    """The patient asked for help with travel to a visit and confirmed the summary (TRV-01)."""

    type: ClassVar[str] = "travel_requested"
    visit_id: int | None
    details: JSONDict = field(default_factory=dict)  # for staff only; never sent to a channel

    def to_json(self) -> JSONDict:
        """Return the request as JSON."""
        return {"type": self.type, "visit_id": self.visit_id, "details": dict(self.details)}

    def summary(self) -> str:
        """Name the visit."""
        return f"{self.type} visit={self.visit_id}"


@dataclass(frozen=True, slots=True)
class OpenerAnswered(Event):
    """The patient replied to a scheduled message (a reminder, a check-in); it no longer waits."""

    type: ClassVar[str] = "opener_answered"
    scheduled_id: int
    flow: str

    def summary(self) -> str:
        """Name the scheduled message."""
        return f"{self.type} {self.flow} {self.scheduled_id}"


@dataclass(frozen=True, slots=True)
class CheckinAnswered(Event):
    """An answer to a check-in question, kept for reporting and for staff."""

    type: ClassVar[str] = "checkin_answered"
    question: str
    value: JSON

    def summary(self) -> str:
        """Name the question and the value."""
        return f"{self.type} {self.question}={self.value}"


@dataclass(frozen=True, slots=True)
class CheckinCompleted(Event):
    """A check-in reached its end: every answer, and the flags that need the study team."""

    type: ClassVar[str] = "checkin_completed"
    answers: JSONDict
    flags: tuple[str, ...] = ()

    def to_json(self) -> JSONDict:
        """Return the check-in as JSON."""
        return {"type": self.type, "answers": dict(self.answers), "flags": list(self.flags)}

    def summary(self) -> str:
        """Name the flags."""
        return f"{self.type} {','.join(self.flags) or 'nothing to flag'}"


@dataclass(frozen=True, slots=True)
class PreferenceRecorded(Event):
    """The patient stated a preference, such as the best time to call."""

    type: ClassVar[str] = "preference_recorded"
    name: str
    value: JSON

    def summary(self) -> str:
        """Name the preference and value."""
        return f"{self.type} {self.name}={self.value}"


PRIVATE_PREFERENCES = frozenset({"first_name"})
"""Preferences whose value never goes into the audit trail, only whether one is set: the audit trail
cannot be changed (CON-08), so a name written there could never be erased (PRIV-12, REM-03)."""


@dataclass(frozen=True, slots=True)
class PurposeChanged(Event):
    """The patient turned one kind of scheduled message on or off (SMS-05): "reminder", "booking", "checkin"."""

    type: ClassVar[str] = "purpose_changed"
    purpose: str
    wanted: bool

    def summary(self) -> str:
        """Name the purpose and whether it is wanted."""
        return f"{self.type} {self.purpose}={'on' if self.wanted else 'off'}"


@dataclass(frozen=True, slots=True)
class RepliesPaused(Event):
    """Too many messages too fast from one person: replies pause (bot/flood.py, RELIABILITY §3.4)."""

    type: ClassVar[str] = "replies_paused"
    count: int  # messages counted in the last minute, this one included

    def summary(self) -> str:
        """The event and the count."""
        return f"{self.type} {self.count}"


@dataclass(frozen=True, slots=True)
class MessageIgnored(Event):
    """An inbound message got no reply on purpose (the patient opted out)."""

    type: ClassVar[str] = "message_ignored"
    reason: str

    def summary(self) -> str:
        """Name the reason."""
        return f"{self.type} {self.reason}"


@dataclass(frozen=True, slots=True)
class MediaReceived(Event):
    """The patient sent a picture or other media without text; we ask for words instead."""

    type: ClassVar[str] = "media_received"
    count: int

    def summary(self) -> str:
        """Name how many items came."""
        return f"{self.type} {self.count}"


@dataclass(frozen=True, slots=True)
class ConsentPointAnswered(Event):
    """One answer to a consent check question (PL-05, CON-05, CON-08): every attempt is kept.

    `result` is set once the point is settled (understood_first_time, understood_after_explaining or
    needs_discussion) and None after a first wrong answer; `shown` names the messages the patient
    saw for this attempt, rendered word for word into the audit trail.
    """

    type: ClassVar[str] = "consent_point_answered"
    form_version: str
    point: str
    attempt: int
    answer: str
    correct: bool
    result: str | None
    shown: tuple[str, ...]

    def to_json(self) -> JSONDict:
        """Return the answer as JSON."""
        return {"type": self.type, "form_version": self.form_version, "point": self.point,
                "attempt": self.attempt, "answer": self.answer, "correct": self.correct, "result": self.result,
                "shown": list(self.shown)}  # fmt: skip

    def summary(self) -> str:
        """Name the point, the attempt and how it went."""
        verdict = self.result or ("right" if self.correct else "wrong")
        return f"{self.type} {self.point} attempt={self.attempt} {verdict}"


@dataclass(frozen=True, slots=True)
class ConsentCheckCompleted(Event):
    """The consent check went through every point: point → result. Consent itself is the study team's."""

    type: ClassVar[str] = "consent_check_completed"
    form_version: str
    results: JSONDict

    def to_json(self) -> JSONDict:
        """Return the results as JSON."""
        return {"type": self.type, "form_version": self.form_version, "results": dict(self.results)}

    def summary(self) -> str:
        """Name the points that need discussion."""
        discuss = [p for p, r in self.results.items() if r == "needs_discussion"]
        return f"{self.type} {self.form_version}" + (f" discuss={','.join(discuss)}" if discuss else "")


# ---------------------------------------------------------------------------------------------
# Records the service reads and writes.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Participant:
    """A participant as the pipeline sees them: pseudonymous code, language, zone and opt-out state."""

    id: int
    code: str
    study_id: str
    locale: str
    timezone: str
    opted_out_at: datetime | None
    purpose_opt_outs: JSONDict = field(default_factory=dict)
    preferences: JSONDict = field(default_factory=dict)
    opted_in_at: datetime | None = None  # agreed to texts at onboarding (SMS-09)
    erased_at: datetime | None = None
    anchor_date: date | None = None  # day 1 of their visit schedule, set when staff enrol them

    @property
    def opted_in(self) -> bool:
        """True once they agreed to get texts, and have not said STOP since."""
        return self.opted_in_at is not None and self.opted_out_at is None

    @property
    def opted_out(self) -> bool:
        """True after STOP and before START."""
        return self.opted_out_at is not None


@dataclass(frozen=True, slots=True)
class Button:
    """A choice as a channel shows it: the value it stands for and its label in the patient's language."""

    value: str
    label: str


@dataclass(frozen=True, slots=True)
class Rendered:
    """A message ready to send: its text for the channel and, where the channel has them, buttons."""

    body: str
    buttons: tuple[Button, ...] = ()
    purpose: str = "reply"
