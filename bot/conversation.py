"""Decide one turn of a conversation: global keywords first, then the active flow. Pure: no I/O.

The order is the pipeline's (ARCHITECTURE rule 6): STOP, START, HELP, "a person" and language work in
every state; an opted-out participant gets nothing but the single STOP confirmation and HELP; any
other message goes to the flow waiting for an answer, or starts the study's entry flow.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.domain import (
    Event,
    HelpRequested,
    JSONDict,
    LocaleChanged,
    MediaReceived,
    MessageCreated,
    MessageIgnored,
    OpenerAnswered,
    OptedIn,
    OptedOut,
    Part,
    Participant,
    RepliesPaused,
    SafetyFlagged,
    StaffRequested,
    StopQueried,
)
from bot.engine import REGISTRY, Engine, TurnContext, TurnResult, empty_snapshot
from bot.flood import Replies
from bot.keywords import Intent, KeywordMatch, classify
from bot.safety import SafetyLexicon, SafetyMatch, assess, shipped_safety_lexicon
from bot.study import Study
from bot.text import fold
from bot.vocabulary import Vocabulary

log = logging.getLogger(__name__)

COMPLIANCE = "compliance"
"""Purpose of STOP, START and HELP replies: sent even though the participant opted out."""

REGISTRY.uses(
    "common.help", "common.stopped", "common.started", "common.person", "common.idle", "common.media",
    "common.edited", "common.forwarded", "common.stale_button", "common.leave_study", "common.nudge",
    "common.crisis", "common.adverse_event", "common.red_flag",
)  # fmt: skip
ONBOARDING = "onboarding"
SAFETY = "safety"
"""Purpose of crisis and adverse-event replies: sent whatever the opt-out or the quiet hours."""
CRISIS_REPLY = "common.crisis"
"""The crisis line reply: it goes every time, however often it went before."""
OPEN_TO_ALL = frozenset({"settings"})
"""Flows a keyword starts for anyone who agreed to texts; the others are for people in the study."""
NOTES = {"edit": "common.edited", "forward": "common.forwarded", "button_stale": "common.stale_button"}
"""Messages that are not answers, and what we say back before asking the question again."""


@dataclass(frozen=True, slots=True)
class Opener:
    """A scheduled message waiting for its answer: which flow takes the reply, with what data."""

    scheduled_id: int
    flow: str
    data: JSONDict


@dataclass(frozen=True, slots=True)
class Incoming:
    """What the turn needs to know about the message and its sender."""

    text: str
    media_count: int
    participant: Participant
    snapshot: JSONDict
    # Whether a prescreen outcome is recorded: asked only when nothing is waiting (a read most turns skip).
    has_outcome: Callable[[], bool]
    first_message: bool = False
    kind: str = "text"
    enrolled: bool = False  # in the study already (staff set day 1): no prescreen for them
    opener: Opener | None = None  # set when this message answers a reminder or a check-in
    facts: Mapping[str, Any] = field(default_factory=dict)  # see TurnContext.facts
    replies: Replies = Replies.ANSWER  # the pace of the person's messages allows an answer (bot/flood.py)
    burst_count: int = 0  # messages from them in the current minute, this one included


class Conversations:
    """Takes turns for one study's flows."""

    def __init__(
        self, engine: Engine, study: Study, vocabulary: Vocabulary, label_texts: object,
        lexicon: SafetyLexicon | None = None,
    ) -> None:  # fmt: skip
        """Use this engine and study; `label_texts` gives a message in every language (for parsing)."""
        self.engine = engine
        self.study = study
        self.vocabulary = vocabulary
        self.label_texts = label_texts
        self.lexicon = lexicon or shipped_safety_lexicon()

    def context(
        self, locale: str, now: datetime, timezone: str | None = None, facts: Mapping[str, Any] | None = None
    ) -> TurnContext:
        """What flows may read during a turn."""
        return TurnContext(
            self.study, locale, now, self.vocabulary, self.label_texts,  # type: ignore[arg-type]
            timezone or self.study.timezone, facts or {},
        )  # fmt: skip

    def take_turn(self, incoming: Incoming, now: datetime) -> TurnResult:
        """Decide the reply to one message."""
        participant = incoming.participant
        locale = participant.locale
        guessed = self.guess_locale(incoming.text) if incoming.first_message else None
        if guessed is not None and guessed != locale:
            result = self._decide(incoming, self.context(guessed, now, participant.timezone, incoming.facts))
            return self._with_events([LocaleChanged(locale, guessed)], result)
        return self._decide(incoming, self.context(locale, now, participant.timezone, incoming.facts))

    def _decide(self, incoming: Incoming, context: TurnContext) -> TurnResult:
        snapshot = incoming.snapshot or empty_snapshot()
        # The safety check comes first, in every state, even after STOP (SAF-05, ARCHITECTURE rule 6).
        flag = self._assess(incoming)
        if flag is not None and (flag.level == "crisis" or not self._asks_about_health(snapshot)):
            # Whatever the pace: a reply repeated too often is held by the service (flood.hold_repeats), never
            # the crisis line, and staff are asked for every time.
            return self._safety(flag, incoming, snapshot, context)
        # Blocking the bot (Telegram) is an opt-out with nothing to send: honoured whatever the pace.
        if incoming.replies is not Replies.ANSWER and incoming.kind != "blocked":
            return self._flooded(incoming, snapshot, context)
        # A possible adverse event in answer to a question about health is the answer itself: the flow
        # records it and raises its own escalation (a check-in), so it is not interrupted.
        return self._respond(incoming, snapshot, context)

    def _assess(self, incoming: Incoming) -> SafetyMatch | None:
        if incoming.kind in ("button", "blocked") or not incoming.text.strip():
            return None
        try:
            return assess(incoming.text, self.lexicon)
        except Exception:  # a bug in the check must not hide a message that may matter: a person looks
            log.exception("the safety check failed; escalating for a person to read the message")
            return SafetyMatch("adverse_event", "high", "safety_check_failed", ())

    def _asks_about_health(self, snapshot: JSONDict) -> bool:
        frames = snapshot.get("frames") or []
        if not frames:
            return False
        top = frames[-1]
        return self.engine.flows.flows[top["flow"]].states[top["state"]].health_details

    def _safety(self, flag: SafetyMatch, incoming: Incoming, snapshot: JSONDict, context: TurnContext) -> TurnResult:
        """Reply at once with what to do in an emergency, and get a person (SAF-04, SAF-06).

        A crisis leaves whatever flow was running: no more questions. An adverse event leaves the
        question waiting, unasked: the reply says only who will call and what to do in an emergency.
        STOP in the same message is still honoured.
        """
        reply = {"crisis": CRISIS_REPLY, "red_flag": "common.red_flag"}.get(
            flag.level if flag.level == "crisis" else flag.category, "common.adverse_event"
        )
        events: list[Event] = [
            SafetyFlagged(flag.level, flag.category, flag.severity, flag.matched),
            StaffRequested(flag.category, flag.severity, details={"matched": list(flag.matched)}),
            MessageCreated((Part(reply),), purpose=SAFETY),
        ]
        after = empty_snapshot() if flag.level == "crisis" else snapshot
        match = classify(incoming.text, self.vocabulary, opted_out=incoming.participant.opted_out)
        if match is not None and match.intent is Intent.STOP and not incoming.participant.opted_out:
            events += [OptedOut(match.matched), MessageCreated((Part("common.stopped"),), purpose=COMPLIANCE)]
        return TurnResult(events, after, context.locale)

    def _flooded(self, incoming: Incoming, snapshot: JSONDict, context: TurnContext) -> TurnResult:
        """Too many messages too fast: STOP and START still act at once (with their one confirmation); the
        message that starts the pause gets one note; anything else waits unanswered. The flow is left where
        it was, so the next message after the pause goes to the question that was waiting."""
        participant = incoming.participant
        locale = context.locale
        match = classify(incoming.text, self.vocabulary, opted_out=participant.opted_out)
        if match is not None and match.intent is Intent.STOP and not participant.opted_out:
            return self._keyword(match, incoming, snapshot, context)
        if match is not None and match.intent is Intent.START and participant.opted_out:
            back: list[Event] = [OptedIn(match.matched), MessageCreated((Part("common.started"),), purpose=COMPLIANCE)]
            return TurnResult(back, snapshot, locale)
        if incoming.replies is Replies.PAUSE and not participant.opted_out:
            paused: list[Event] = [RepliesPaused(incoming.burst_count), MessageCreated((Part("common.paused"),))]
            return TurnResult(paused, snapshot, locale)
        return TurnResult([MessageIgnored("replies_paused")], snapshot, locale)

    def _respond(self, incoming: Incoming, snapshot: JSONDict, context: TurnContext) -> TurnResult:
        participant = incoming.participant
        locale = context.locale
        if incoming.kind == "blocked":
            # The person blocked the bot on Telegram: a channel opt-out (TG-01), with nothing to send.
            if participant.opted_out:
                return TurnResult([MessageIgnored("already_opted_out")], snapshot, locale)
            return TurnResult([OptedOut("blocked")], snapshot, locale)
        if incoming.kind in NOTES:
            if participant.opted_out:
                return TurnResult([MessageIgnored("opted_out")], snapshot, locale)
            note: list[Event] = [MessageCreated((Part(NOTES[incoming.kind]),))]
            return self._resume_question(note, snapshot, context)
        match = classify(incoming.text, self.vocabulary, opted_out=participant.opted_out)
        if match is not None:
            return self._keyword(match, incoming, snapshot, context)
        if participant.opted_out:
            return TurnResult([MessageIgnored("opted_out")], snapshot, locale)
        if incoming.media_count and not incoming.text.strip():
            lead = (Part("common.media"),)
            if self._waiting(snapshot):
                return self._with_events(
                    [MediaReceived(incoming.media_count)], self.engine.reprompt(snapshot, context, lead)
                )
            return TurnResult([MediaReceived(incoming.media_count), MessageCreated(lead)], snapshot, locale)
        if incoming.opener is not None:
            opener = incoming.opener
            answered = self.engine.answer_opener(opener.flow, opener.data, incoming.text, context, snapshot)
            return self._with_events([OpenerAnswered(opener.scheduled_id, opener.flow)], answered)
        if not participant.opted_in and not self._in_flow(snapshot, ONBOARDING):
            # No study text before the person agrees to texts (SMS-09, SMS-16): every first contact,
            # and every message after a NO, goes to the opt-in question.
            return self.engine.start(ONBOARDING, context, empty_snapshot())
        if self._waiting(snapshot):
            return self.engine.resume(snapshot, incoming.text, context)
        return self._entry(incoming, snapshot, context)

    def _entry(self, incoming: Incoming, snapshot: JSONDict, context: TurnContext) -> TurnResult:
        """Nothing is waiting: agree to texts first, then the prescreen; for everyone else, the idle note."""
        if not incoming.participant.opted_in:
            return self.engine.start(ONBOARDING, context, empty_snapshot())
        if not incoming.enrolled and not incoming.has_outcome():
            return self.engine.start(self.study.entry_flow, context, snapshot)
        return TurnResult([MessageCreated((Part("common.idle"),))], snapshot, context.locale)

    @staticmethod
    def _in_flow(snapshot: JSONDict, flow: str) -> bool:
        return any(frame["flow"] == flow for frame in snapshot.get("frames") or [])

    def _not_a_keyword(self, incoming: Incoming, snapshot: JSONDict, context: TurnContext) -> TurnResult:
        """A word that starts a conversation only for people in the study: for others it is an answer."""
        if self._waiting(snapshot):
            return self.engine.resume(snapshot, incoming.text, context)
        return self._entry(incoming, snapshot, context)

    def guess_locale(self, text: str) -> str | None:
        """The study language a first message is written in, when its words say so ("Hola" → es)."""
        folded = fold(text[:200])
        keyword = self.study.onboarding.keyword(folded)
        if keyword is not None and keyword.language is not None:
            return keyword.language  # the language of the advertisement they answered
        for locale, words in self.vocabulary.greetings.items():
            if locale in self.study.languages and folded in words:
                return locale
        return None

    @staticmethod
    def _waiting(snapshot: JSONDict) -> bool:
        return bool(snapshot.get("frames"))

    @staticmethod
    def _with_events(events: list[Event], result: TurnResult) -> TurnResult:
        return TurnResult(events + result.events, result.snapshot, result.locale)

    def _resume_question(self, lead: list[Event], snapshot: JSONDict, context: TurnContext) -> TurnResult:
        """Send the lead messages, then ask the waiting question again (if one is waiting)."""
        if self._waiting(snapshot):
            return self._with_events(lead, self.engine.reprompt(snapshot, context))
        return TurnResult(lead, snapshot, context.locale)

    def _keyword(self, match: KeywordMatch, incoming: Incoming, snapshot: JSONDict, context: TurnContext) -> TurnResult:
        participant = incoming.participant
        locale = context.locale
        if match.intent is Intent.STOP:
            if participant.opted_out:
                # SMS-04: one confirmation only; a second STOP gets silence.
                return TurnResult([MessageIgnored("already_opted_out")], snapshot, locale)
            events: list[Event] = [
                OptedOut(match.matched),
                MessageCreated((Part("common.stopped"),), purpose=COMPLIANCE),
            ]
            return TurnResult(events, snapshot, locale)
        if match.intent is Intent.START:
            if participant.opted_out:
                started: list[Event] = [
                    OptedIn(match.matched),
                    MessageCreated((Part("common.started"),), purpose=COMPLIANCE),
                ]
                return self._resume_question(started, snapshot, context)
            if self._waiting(snapshot):
                return self.engine.reprompt(snapshot, context)
            return self._entry(incoming, snapshot, context)
        if match.intent is Intent.MAYBE_STOP:
            # Not an opt-out, and not an answer either: ask. The waiting question is not asked again in the
            # same turn (one ask per message); their next answer still goes to it, and STOP stops.
            queried: list[Event] = [
                StopQueried(match.matched),
                MessageCreated((Part("common.maybe_stop"),), purpose=COMPLIANCE),
            ]
            return TurnResult(queried, snapshot, locale)
        if match.intent is Intent.HELP:
            helped: list[Event] = [
                HelpRequested(),
                MessageCreated((Part("common.help"),), purpose=COMPLIANCE),
            ]
            if participant.opted_out:
                return TurnResult(helped, snapshot, locale)
            return self._resume_question(helped, snapshot, context)
        if match.intent is Intent.FLOW:
            if participant.opted_out:
                return TurnResult([MessageIgnored("opted_out")], snapshot, locale)
            running = {frame["flow"] for frame in snapshot.get("frames") or []}
            allowed = participant.opted_in if match.flow in OPEN_TO_ALL else incoming.enrolled
            if not allowed or match.flow not in self.engine.flows.flows or match.flow in running:
                # "travel" while the travel questions are running is an answer, not a second request.
                return self._not_a_keyword(incoming, snapshot, context)
            return self.engine.start(str(match.flow), context, snapshot)
        if match.intent is Intent.LEAVE:
            # Not an opt-out and never a withdrawal: a person talks it through with them (PRIV-13).
            leaving: list[Event] = [StaffRequested("leave_study")]
            if participant.opted_out:
                return TurnResult(leaving, snapshot, locale)
            leaving.append(MessageCreated((Part("common.leave_study"),)))
            return self._resume_question(leaving, snapshot, context)
        if match.intent is Intent.PERSON:
            asked: list[Event] = [StaffRequested("talk_to_person")]
            if participant.opted_out:
                return TurnResult(asked, snapshot, locale)
            asked.append(MessageCreated((Part("common.person"),)))
            return self._resume_question(asked, snapshot, context)
        # Language.
        if participant.opted_out:
            return TurnResult([MessageIgnored("opted_out")], snapshot, locale)
        if match.locale is None or match.locale not in self.study.languages:
            return self.engine.start("language", context, snapshot)
        context = self.context(match.locale, context.now, context.timezone, context.facts)
        changed: list[Event] = [MessageCreated((Part("common.language_changed"),))]
        if match.locale != locale:
            changed.insert(0, LocaleChanged(locale, match.locale))
        return self._resume_question(changed, snapshot, context)
