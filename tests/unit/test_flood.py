"""The pace of one person's messages: when replies pause, for how long, and when they come back (bot/flood.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain import MessageCreated, Part
from bot.flood import (
    LIMIT,
    PAUSE,
    REMEMBERED,
    REPEAT_LIMIT,
    REPEAT_WINDOW,
    WINDOW,
    Limits,
    Replies,
    hold_repeats,
    pace,
)
from storage.repositories import Pace

T0 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def _run(times: list[datetime], start: Pace | None = None) -> tuple[Pace, list[Replies]]:
    burst = start or Pace()
    verdicts = []
    for at in times:
        burst, verdict = pace(burst, at)
        verdicts.append(verdict)
    return burst, verdicts


def test_up_to_the_limit_in_a_minute_every_message_is_answered() -> None:
    burst, verdicts = _run([T0 + timedelta(seconds=2 * n) for n in range(LIMIT)])
    assert verdicts == [Replies.ANSWER] * LIMIT
    assert burst == Pace(T0, LIMIT, None)


def test_the_first_message_over_the_limit_starts_the_pause_and_the_rest_wait_quietly() -> None:
    times = [T0 + timedelta(seconds=n) for n in range(LIMIT + 5)]
    burst, verdicts = _run(times)
    assert verdicts == [Replies.ANSWER] * LIMIT + [Replies.PAUSE] + [Replies.PAUSED] * 4
    assert burst.paused_until == times[-1] + PAUSE  # a flood that goes on keeps replies paused


def test_a_steady_pace_never_pauses() -> None:
    # One message every 4 seconds for an hour: 15 a minute.
    _, verdicts = _run([T0 + timedelta(seconds=4 * n) for n in range(900)])
    assert set(verdicts) == {Replies.ANSWER}


def test_after_the_pause_answers_come_back_and_a_slow_message_in_the_pause_does_not_extend_it() -> None:
    burst, _ = _run([T0] * (LIMIT + 1))
    until = burst.paused_until
    assert until == T0 + PAUSE
    burst, quiet = pace(burst, T0 + WINDOW + timedelta(seconds=5))  # a new minute, still inside the pause
    assert quiet is Replies.PAUSED
    assert burst.paused_until == until
    assert burst.count == 1
    burst, back = pace(burst, until)
    assert back is Replies.ANSWER


def test_a_message_received_earlier_than_the_window_opens_a_new_one() -> None:
    # Acted on late (after a restart) and out of order: counted in a window of its own, not as a flood.
    burst, _ = _run([T0 + timedelta(seconds=30)] * 5)
    burst, verdict = pace(burst, T0)
    assert verdict is Replies.ANSWER
    assert burst == Pace(T0, 1, None)


def test_a_flood_in_the_next_minute_extends_the_pause_without_a_second_note() -> None:
    burst, _ = _run([T0] * (LIMIT + 1))
    later = T0 + timedelta(minutes=5)
    burst, verdicts = _run([later] * (LIMIT + 1), burst)
    assert Replies.PAUSE not in verdicts
    assert burst.paused_until == later + PAUSE


# -- the same reply again and again (hold_repeats) ------------------------------------------------------

REASK = [MessageCreated((Part("common.unclear"), Part("prescreen.ready")))]
HELP = MessageCreated((Part("common.help"),), purpose="compliance")


def _always(reply: MessageCreated) -> bool:
    return reply.purpose == "compliance"


def _held(
    turns: list[list[MessageCreated]], times: list[datetime], start: Pace | None = None
) -> tuple[Pace, list[int]]:
    burst = start or Pace()
    held = []
    for replies, at in zip(turns, times, strict=True):
        burst, kept, count = hold_repeats(burst, replies, at, _always)
        assert len(kept) + count == len(replies)
        held.append(count)
    return burst, held


def test_the_same_turn_goes_five_times_in_half_an_hour_then_says_nothing() -> None:
    times = [T0 + timedelta(minutes=n) for n in range(REPEAT_LIMIT + 3)]
    _, held = _held([REASK] * len(times), times)
    assert held == [0] * REPEAT_LIMIT + [1, 1, 1]


def test_half_an_hour_after_the_first_it_goes_again() -> None:
    times = [T0 + timedelta(minutes=n) for n in range(REPEAT_LIMIT)] + [T0 + REPEAT_WINDOW]
    _, held = _held([REASK] * len(times), times)
    assert held == [0] * (REPEAT_LIMIT + 1)


def test_a_short_message_before_a_different_question_is_not_a_repeat() -> None:
    turns = [
        [MessageCreated((Part("consent.right"),)), MessageCreated((Part(f"consent.point_{n}"),))] for n in range(9)
    ]
    _, held = _held(turns, [T0 + timedelta(seconds=n) for n in range(9)])
    assert held == [0] * 9


def test_what_must_always_go_goes_and_is_not_held_with_the_rest() -> None:
    times = [T0 + timedelta(seconds=n) for n in range(REPEAT_LIMIT + 2)]
    burst, _ = _held([REASK] * REPEAT_LIMIT, times[:REPEAT_LIMIT])
    burst, kept, held = hold_repeats(burst, [HELP, *REASK], times[-1], _always)
    assert (kept, held) == ([HELP], 1)
    burst, kept, held = hold_repeats(burst, [HELP] * 9, times[-1], _always)
    assert (kept, held) == ([HELP] * 9, 0)


def test_only_the_most_recent_replies_are_remembered() -> None:
    turns = [[MessageCreated((Part("x"), Part("y", {"n": n})))] for n in range(REMEMBERED + 10)]
    burst, _ = _held(turns, [T0 + timedelta(seconds=n) for n in range(len(turns))])
    assert len(burst.recent_replies) == REMEMBERED


def test_other_limits_pause_sooner_and_hold_sooner() -> None:
    limits = Limits(per_window=3, repeat_times=2, repeat_window=timedelta(minutes=10))
    burst, verdicts = Pace(), []
    for n in range(5):
        burst, verdict = pace(burst, T0 + timedelta(seconds=n), limits)
        verdicts.append(verdict)
    assert verdicts == [Replies.ANSWER] * 3 + [Replies.PAUSE, Replies.PAUSED]

    reply = [MessageCreated((Part("common.unclear"),))]
    burst, went = Pace(), []
    for minutes in (0, 1, 2, 11):
        burst, sent, held = hold_repeats(burst, reply, T0 + timedelta(minutes=minutes), lambda _: False, limits)
        went.append((len(sent), held))
    assert went == [(1, 0), (1, 0), (0, 1), (1, 0)], "twice in ten minutes, then again once they have passed"
    assert limits.held_because() == "the same reply went 2 times in 10 minutes"
    assert Limits().held_because() == f"the same reply went {REPEAT_LIMIT} times in 30 minutes"
