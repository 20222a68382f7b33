"""Travel request behaviour: which visit, where from, how, who and how long, what help, then a summary (TRV-01).

The answers stay in the flow's data until the patient confirms the summary; then one `TravelRequested`
event carries them to staff (bot/travel.py stores it). The summary never repeats the postal code or the
patient's own words, and nothing here speaks of money (CON-11, TRV-04, PRIV-02).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import get_day_names, get_month_names

from bot.behaviour.parsers import NO, UNCLEAR, YES, number_hint, read_number
from bot.domain import Choice, JSONDict, Part, StaffRequested, TravelRequested
from bot.engine.registry import REGISTRY, Answer, ParseResult, ParserFn, Prompt, Turn

ON_SITE = "on_site"
MAX_VISITS = 2  # the soonest, offered at once; a third date does not fit three SMS segments in Spanish
DETAILS = ("origin", "trip", "mode", "companions", "caregiver", "nights", "assistance", "assistance_note")
"""What a request holds for staff, in the order they read it."""
_POSTAL = re.compile(r"[A-Za-z0-9 -]{3,10}")
_US_ZIP = re.compile(r"(?<![\w-])\d{5}(?:-\d{4})?(?![\w-])")

REGISTRY.uses(
    "travel.which_visit", "travel.visit", "travel.caregiver.one", "travel.caregiver.many", "travel.hint.postal_code",
    "travel.summary.round_trip", "travel.summary.one_way", "travel.summary.question",
    *(f"travel.summary.mode.{mode}" for mode in ("own_car", "taxi", "transit", "plane")),
    *(f"travel.summary.people.{n}" for n in ("none", "one", "one_caregiver", "many", "many_caregiver")),
    *(f"travel.summary.nights.{n}" for n in ("none", "one", "many")),
    *(f"travel.summary.help.{h}" for h in ("none", "wheelchair", "oxygen", "other")),
    *(f"travel.status.{s}" for s in ("approved", "booked", "denied")),
)  # fmt: skip


def travel_visits(turn: Turn) -> list[JSONDict]:
    """The participant's clinic visits still ahead, soonest first: the only visits people travel to (VIS-02)."""
    visits = [v for v in turn.context.facts.get("upcoming_visits") or [] if v.get("visit_type") == ON_SITE]
    return sorted(visits, key=lambda v: str(v["when"]))


@REGISTRY.action("travel_start")
def travel_start(turn: Turn) -> None:
    """Begin a request: for the visit a reminder named, else for the only clinic visit ahead."""
    turn.data["correcting"] = False
    if turn.data.get("visit_id") is None:
        visits = travel_visits(turn)
        if len(visits) == 1:
            turn.data["visit_id"] = visits[0]["visit_id"]


@REGISTRY.guard("travel_without_visit")
def travel_without_visit(turn: Turn) -> bool:
    """True when no visit was named and none is booked: a coordinator calls instead."""
    return turn.data.get("visit_id") is None and not travel_visits(turn)


@REGISTRY.guard("travel_choose_visit")
def travel_choose_visit(turn: Turn) -> bool:
    """True when the patient must say which of several visits the request is for."""
    return turn.data.get("visit_id") is None


@REGISTRY.action("travel_offer_visits")
def travel_offer_visits(turn: Turn) -> None:
    """Fix the visits offered, so "2" means the same visit when the answer comes as when it was asked."""
    turn.data["offered"] = [{"visit_id": v["visit_id"], "when": v["when"]} for v in travel_visits(turn)[:MAX_VISITS]]


def _day_words(when: str, zone: str, languages: tuple[str, ...]) -> tuple[str, ...]:
    """Ways to name a visit's day in any shipped language ("December 22", "22 de diciembre", "12/22",
    "Tuesday"), so typing the day picks it; a word that fits two visits picks neither."""
    local = datetime.fromisoformat(when).astimezone(ZoneInfo(zone))
    words = [f"{local.month}/{local.day}", f"{local.day}/{local.month}"]
    for locale in languages:
        day = get_day_names("wide", locale=locale)[local.weekday()]
        for width in ("wide", "abbreviated"):
            month = get_month_names(width, locale=locale)[local.month]
            words += [month, f"{month} {local.day}", f"{local.day} {month}", f"{local.day} de {month}"]
        words.append(day)
    return tuple(dict.fromkeys(words))


@REGISTRY.prompt("travel_which_visit")
def travel_which_visit(turn: Turn) -> Prompt:
    """Which visit is it for? Each choice is a visit's day and time, in the patient's zone and language."""
    zone, languages = turn.context.timezone, tuple(turn.context.study.languages)
    choices = tuple(
        Choice(str(v["visit_id"]), "travel.visit", _day_words(str(v["when"]), zone, languages),
               {"when": {"datetime": v["when"]}})
        for v in turn.data.get("offered") or []
    )  # fmt: skip
    return Prompt((Part("travel.which_visit"),), choices)


@REGISTRY.action("travel_keep_visit")
def travel_keep_visit(turn: Turn) -> None:
    """Keep the visit picked."""
    turn.data["visit_id"] = int(str(turn.answer))


@REGISTRY.parser("postal_code", outcomes=frozenset({"answered"}))
def parse_postal_code(answer: Answer) -> ParseResult:
    """A postal or ZIP code: 3 to 10 letters, digits, spaces or hyphens with a digit among them.

    A reply with one US ZIP code in it ("it's 10001") also counts. The code is kept for staff only.
    """
    hint = ParseResult(None, hint=Part("travel.hint.postal_code"))
    if len(answer.text) > 200:
        return hint
    text = " ".join(unicodedata.normalize("NFKC", answer.text).split())
    if _POSTAL.fullmatch(text) and any(ch.isdigit() for ch in text):
        return ParseResult("answered", text.upper())
    found = set(_US_ZIP.findall(text))
    if len(found) == 1:
        return ParseResult("answered", found.pop())
    return hint


def _count_parser(low: int, high: int) -> ParserFn:
    def parse(answer: Answer) -> ParseResult:
        if len(answer.text) > 200:
            return UNCLEAR
        number = read_number(answer)
        if isinstance(number, int) and low <= number <= high:
            return ParseResult("answered", number)
        return ParseResult(None, hint=number_hint(low, high))

    parse.__doc__ = f"A whole number from {low} to {high}."
    return parse


REGISTRY.parser("count_1_to_4", outcomes=frozenset({"answered"}))(_count_parser(1, 4))  # people with the patient
REGISTRY.parser("count_1_to_14", outcomes=frozenset({"answered"}))(_count_parser(1, 14))  # nights


@REGISTRY.prompt("travel_caregiver")
def travel_caregiver(turn: Turn) -> Prompt:
    """Is this person (or one of them) a caregiver?"""
    size = "one" if turn.data.get("companions") == 1 else "many"
    return Prompt((Part(f"travel.caregiver.{size}"),), (YES, NO))


@REGISTRY.action("travel_keep", takes_argument=True)
def travel_keep(turn: Turn, name: str) -> None:
    """Keep an answer under a name."""
    turn.data[name] = turn.answer


@REGISTRY.action("travel_flag", takes_argument=True)
def travel_flag(turn: Turn, name: str) -> None:
    """Keep a yes or no answer as true or false."""
    turn.data[name] = turn.answer == "yes"


@REGISTRY.action("travel_alone")
def travel_alone(turn: Turn) -> None:
    """Nobody travels with the patient."""
    turn.data["companions"] = 0
    turn.data["caregiver"] = False


@REGISTRY.action("travel_no_stay")
def travel_no_stay(turn: Turn) -> None:
    """No overnight stay."""
    turn.data["nights"] = 0


@REGISTRY.action("travel_help")
def travel_help(turn: Turn) -> None:
    """Keep the help chosen; words about "other help" are asked for next, so earlier ones go."""
    turn.data["assistance"] = turn.answer
    turn.data["assistance_note"] = None


@REGISTRY.guard("travel_correcting")
def travel_correcting(turn: Turn) -> bool:
    """True after the patient asked to change something: the next stop is the summary again."""
    return bool(turn.data.get("correcting"))


@REGISTRY.action("travel_correct")
def travel_correct(turn: Turn) -> None:
    """The summary was wrong: after the question they pick, show it again."""
    turn.data["correcting"] = True


def _people(data: JSONDict) -> Part:
    count = int(data.get("companions") or 0)
    if count == 0:
        return Part("travel.summary.people.none")
    caregiver = "_caregiver" if data.get("caregiver") else ""
    if count == 1:
        return Part(f"travel.summary.people.one{caregiver}")
    return Part(f"travel.summary.people.many{caregiver}", {"count": count})


def _nights(data: JSONDict) -> Part:
    count = int(data.get("nights") or 0)
    if count == 0:
        return Part("travel.summary.nights.none")
    if count == 1:
        return Part("travel.summary.nights.one")
    return Part("travel.summary.nights.many", {"count": count})


@REGISTRY.prompt("travel_summary")
def travel_summary(turn: Turn) -> Prompt:
    """The request in a few neutral sentences, without the postal code or the patient's own words."""
    data = turn.data
    trip = Part(f"travel.summary.{data['trip']}", {"mode": {"message": f"travel.summary.mode.{data['mode']}"}})
    parts = (trip, _people(data), _nights(data), Part(f"travel.summary.help.{data['assistance']}"))
    return Prompt((*parts, Part("travel.summary.question")), (YES, NO))


def request_details(data: JSONDict) -> JSONDict:
    """What staff need from the flow's data, and nothing else (not the offered visits, not the flags)."""
    return {name: data.get(name) for name in DETAILS}


@REGISTRY.action("travel_submit")
def travel_submit(turn: Turn) -> None:
    """The patient confirmed the summary: hand the request to staff."""
    visit_id = turn.data.get("visit_id")
    turn.emit(TravelRequested(int(str(visit_id)) if visit_id is not None else None, request_details(turn.data)))


@REGISTRY.action("travel_no_visit")
def travel_no_visit(turn: Turn) -> None:
    """No visit to travel to: a coordinator calls to sort it out."""
    turn.emit(StaffRequested("travel", details={"reason": "no_upcoming_visit"}))
