"""Golden transcripts: patient messages in, expected replies, events and state out, turn by turn.

Each file in transcripts/ is one conversation through the real pipeline and database, with the clock
and participant codes fixed. After a deliberate change of wording or behaviour, rewrite them with
`uv run pytest tests/flows --update-golden` and read the diff before committing it.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from bot import staff_actions
from bot.bootstrap import App, build_scheduler
from bot.clock import SettableClock
from bot.consent import send_consent_check
from bot.domain import InboundMessage
from storage.repositories import Repositories, audit_t, outbox_t
from tests.helpers import Patient, event_line

HERE = Path(__file__).parent / "transcripts"
FILES = sorted(HERE.glob("*.yaml"))


def _load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _snapshot_round_trips(app: App, patient: Patient) -> None:
    with app.database.read() as connection:
        repos = Repositories(connection)
        participant = repos.participants.by_address(patient.channel, patient.address)
        assert participant is not None
        snapshot = repos.conversations.load(participant.id).snapshot
    assert json.loads(json.dumps(snapshot)) == snapshot


class _Since:
    """Outbox rows and audit entries of one participant created after a mark."""

    def __init__(self, app: App, patient: Patient) -> None:
        self.app = app
        self.patient = patient
        self.outbox = 0
        self.audit = 0

    def mark(self) -> None:
        with self.app.database.read() as connection:
            self.outbox = connection.execute(select(func.coalesce(func.max(outbox_t.c.id), 0))).scalar_one()
            self.audit = connection.execute(select(func.coalesce(func.max(audit_t.c.id), 0))).scalar_one()

    def collect(self) -> dict[str, Any]:
        participant = self.patient.participant()
        with self.app.database.read() as connection:
            rows = connection.execute(
                select(outbox_t)
                .where(outbox_t.c.participant_id == participant.id, outbox_t.c.id > self.outbox)
                .order_by(outbox_t.c.id)
            ).all()
            audit = connection.execute(
                select(audit_t)
                .where(audit_t.c.participant_id == participant.id, audit_t.c.id > self.audit)
                .order_by(audit_t.c.id)
            ).all()
        got: dict[str, Any] = {
            "replies": [r.body for r in rows],
            "events": [
                event_line(a.action, a.new) if a.actor == "participant" else f"{a.actor}: {event_line(a.action, a.new)}"
                for a in audit
            ],
            "state": self.patient.turn(None).state,
        }
        buttons = [[b["label"] for b in (r.buttons or [])] for r in rows]
        if any(buttons):
            got["buttons"] = buttons
        return got

    def token(self, label: str) -> str:
        """The token of the newest button with this label sent to the patient."""
        participant = self.patient.participant()
        with self.app.database.read() as connection:
            rows = connection.execute(
                select(outbox_t.c.buttons)
                .where(outbox_t.c.participant_id == participant.id, outbox_t.c.buttons.is_not(None))
                .order_by(outbox_t.c.id.desc())
            ).scalars()
            for buttons in rows:
                for button in buttons or []:
                    if button["label"] == label:
                        return str(button["token"])
        raise AssertionError(f"no button {label!r} was sent")


def _staff(app: App, patient: Patient, action: dict[str, Any]) -> None:
    reference = f"{patient.channel}:{patient.address}"
    (verb, argument), *_ = action.items()
    if verb == "enroll":
        staff_actions.enrol(app, reference, date.fromisoformat(str(argument)), "staff:test", locale=patient.locale)
    elif verb in ("book", "move"):
        day, _, clock = str(argument["at"]).partition(" ")
        staff_actions.book(app, reference, argument["visit"], staff_actions.parse_local(day, clock), "staff:test")
    elif verb in ("cancelled", "attended", "missed"):
        staff_actions.set_status(app, reference, str(argument), verb, "staff:test")
    elif verb == "consent_send":
        send_consent_check(app, reference, "staff:test")
    else:
        raise AssertionError(f"unknown staff action {verb!r}")


def _step(app: App, patient: Patient, clock: SettableClock, since: _Since, turn: dict[str, Any]) -> str:
    """Do one step of a transcript; return how to name it in a failure."""
    if "at" in turn:
        clock.set(datetime.fromisoformat(str(turn["at"])))
    if "staff" in turn:
        _staff(app, patient, turn["staff"])
        return f"staff {turn['staff']}"
    if turn.get("sweep"):
        build_scheduler(app).sweep()
        return f"sweep at {turn.get('at')}"
    if "start" in turn:
        # A Telegram deep link (t.me/<bot>?start=<payload>): the adapter turns it into START and the payload.
        message = InboundMessage(
            patient.channel, patient.address, "START", f"start-{next(patient._ids)}", clock.now(),
            locale_hint=patient.locale, meta={"start_payload": str(turn["start"])},
        )  # fmt: skip
        app.service.handle(message)
        return f"start {turn['start']!r}"
    if "press" in turn:
        message = InboundMessage(
            # A counter in the id: the same button pressed twice at one time is two presses, not a redelivery.
            patient.channel, patient.address, since.token(str(turn["press"])),
            f"press-{turn['press']}-{clock.now()}-{next(patient._ids)}", clock.now(), kind="button",
        )  # fmt: skip
        app.service.handle(message)
        return f"press {turn['press']!r}"
    patient.send(str(turn["send"]), provider_id=turn.get("id"), media_count=int(turn.get("media", 0)))
    return f"send {turn['send']!r}"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_transcript(path: Path, app: App, clock: SettableClock, request: pytest.FixtureRequest) -> None:
    script = _load(path)
    patient = Patient(app, channel=script.get("channel", "sms"), locale=script.get("locale"))
    if patient.channel == "telegram":
        patient.address = "700100"
    update = request.config.getoption("--update-golden")
    since = _Since(app, patient)
    for number, turn in enumerate(script["turns"], start=1):
        since.mark()
        name = _step(app, patient, clock, since, turn)
        _snapshot_round_trips(app, patient)
        actual = since.collect()
        if update:
            for key in ("replies", "events", "state", "buttons"):
                turn.pop(key, None)
            turn.update(actual)
            continue
        expected = {k: turn.get(k) for k in actual}
        if "buttons" in turn and "buttons" not in actual:
            expected["buttons"] = turn["buttons"]
        assert actual == expected, f"{path.name}, turn {number}: {name}"
    if update:
        body = yaml.dump(script, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=1000)
        path.write_text(body, encoding="utf-8")
