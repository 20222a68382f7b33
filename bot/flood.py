"""Replies pause when one person sends too many messages too fast (RELIABILITY P7 and §3.4).

An auto-responder ("I am away from my phone") answering our every reply, a stuck phone re-sending, or
someone pasting a page line by line would otherwise get a reply to each message: a loop that costs
money on SMS and buries the conversation. Past `LIMIT` messages within `WINDOW`, replies pause for
`PAUSE`; a flood that goes on keeps them paused. Every message is still stored and checked for safety
first (a flagged message reaches staff every time and gets its reply, within the repeat limit below), STOP
and START are still honoured at once, and the message that starts a pause gets one note.

A loop slower than that (an auto-reply every few seconds) is caught by content instead: the same reply
goes to one person at most `REPEAT_LIMIT` times within `REPEAT_WINDOW` (CHT's duplicate limit, RELIABILITY
§3.4): a turn that would say exactly the same again says nothing, except for STOP/START/HELP confirmations
and the crisis line.

Pure: the counts live on the conversation row (`Pace`); the service passes them in and stores what comes out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum

from bot.domain import MessageCreated
from storage.repositories import Pace

LIMIT = 20  # messages from one person within WINDOW before replies pause ("more than 20 a minute")
WINDOW = timedelta(minutes=1)
PAUSE = timedelta(minutes=10)
REPEAT_LIMIT = 5  # times the same reply may go to one person within REPEAT_WINDOW
REPEAT_WINDOW = timedelta(minutes=30)
REMEMBERED = 32  # replies remembered per conversation (the most recently first sent)


@dataclass(frozen=True, slots=True)
class Limits:
    """How fast one person may write before replies pause, and how often the same reply may go to them;
    trialbot's defaults unless the study's `pacing` says otherwise."""

    per_window: int = LIMIT
    repeat_times: int = REPEAT_LIMIT
    repeat_window: timedelta = REPEAT_WINDOW

    def held_because(self) -> str:
        """Why a repeated reply was held, for the audit trail."""
        return f"the same reply went {self.repeat_times} times in {self.repeat_window.total_seconds() / 60:g} minutes"


DEFAULT_LIMITS = Limits()


class Replies(Enum):
    """What a message gets, as far as the pace of messages goes."""

    ANSWER = "answer"  # the usual turn
    PAUSE = "pause"  # this message starts a pause: it gets one note, nothing else
    PAUSED = "paused"  # a pause is on: stored and checked, not answered


def pace(burst: Pace, at: datetime, limits: Limits = DEFAULT_LIMITS) -> tuple[Pace, Replies]:
    """Count a message received `at`; the new counts, and what the message gets."""
    if burst.started_at is None or not burst.started_at <= at < burst.started_at + WINDOW:
        burst = replace(burst, started_at=at, count=1)
    else:
        burst = replace(burst, count=burst.count + 1)
    paused = burst.paused_until is not None and at < burst.paused_until
    if burst.count <= limits.per_window:
        return burst, Replies.PAUSED if paused else Replies.ANSWER
    # Still flooding: the pause runs from this message on. Only the first message over the limit gets
    # the note; a pause that is already on is extended quietly.
    return replace(burst, paused_until=at + PAUSE), Replies.PAUSED if paused else Replies.PAUSE


def _digest(replies: Sequence[MessageCreated]) -> str:
    """The same sentences, parameters and choices make the same digest (what the person would read)."""
    seen = tuple((r.parts, r.choices, r.instruction) for r in replies)
    return hashlib.blake2b(repr(seen).encode(), digest_size=8).hexdigest()


def hold_repeats(
    burst: Pace,
    replies: Sequence[MessageCreated],
    at: datetime,
    always: Callable[[MessageCreated], bool],
    limits: Limits = DEFAULT_LIMITS,
) -> tuple[Pace, list[MessageCreated], int]:
    """Count a turn's replies about to go to this person at `at`. A turn that would say exactly what it said
    `repeat_times` within `repeat_window` says nothing this time, but for the replies `always` lets through.
    Whole turns are compared, not single messages, so "That's right." before a different next question is
    not a repeat. The new counts, the replies that go, and how many were held."""
    capped = [r for r in replies if not always(r)]
    if not capped:
        return burst, list(replies), 0
    recent = {
        digest: seen for digest, seen in burst.recent_replies.items()
        if at < datetime.fromisoformat(seen[0]) + limits.repeat_window
    }  # fmt: skip
    digest = _digest(capped)
    first, times = recent.get(digest, (at.isoformat(), 0))
    if times >= limits.repeat_times:
        return replace(burst, recent_replies=recent), [r for r in replies if always(r)], len(capped)
    recent[digest] = [first, times + 1]
    if len(recent) > REMEMBERED:
        recent = dict(sorted(recent.items(), key=lambda item: item[1][0])[-REMEMBERED:])
    return replace(burst, recent_replies=recent), list(replies), 0
