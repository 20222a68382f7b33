"""Escalation SLAs on a settable clock, staff authorisation, and the staff CLI (SAF-02, RELIABILITY §3.3, T9)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bot.bootstrap import App, build_app, build_desk, build_scheduler
from bot.cli import main
from bot.clock import SettableClock
from bot.escalation import Alerts
from bot.ids import SequentialIds
from bot.staff_desk import ANONYMOUS_ADMIN, StaffMessage
from storage.repositories import Repositories, audit_t, outbox_t
from tests.helpers import Patient

GROUP = "-1001234567890"
DANA, SAM = 111111111, 222222222
ON_CALL, BACKUP, PI = "+15550100101", "+15550100102", "+15550100103"


def _open(app: App, severity: str = "urgent", category: str = "crisis") -> int:
    patient = Patient(app, address="+15550400001")
    patient.send("Hi")
    participant = patient.participant()
    with app.database.write() as connection:
        return Repositories(connection).escalations.open(
            participant_id=participant.id, category=category, severity=severity, at=app.clock.now(), inbound_id=None
        )


def _alerts(app: App) -> list[tuple[str, str, str]]:
    with app.database.read() as connection:
        rows = connection.execute(
            select(outbox_t.c.channel, outbox_t.c.address, outbox_t.c.body)
            .where(outbox_t.c.purpose == "alert")
            .order_by(outbox_t.c.id)
        ).all()
    return [(r.channel, r.address, r.body) for r in rows]


def _delivered(app: App) -> None:
    """What a dispatcher would do: the Telegram group took every alert (so no SMS fallback is needed)."""
    with app.database.write() as connection:
        repos = Repositories(connection)
        for row in connection.execute(select(outbox_t.c.id).where(outbox_t.c.status == "pending")):
            repos.outbox.sent(row.id, app.clock.now(), "tg-1")


def _escalation(app: App, escalation_id: int) -> Any:
    with app.database.read() as connection:
        return Repositories(connection).escalations.get(escalation_id)


def test_an_urgent_alert_repeats_then_goes_up_the_chain_until_acknowledged(app: App, clock: SettableClock) -> None:
    escalation_id = _open(app)
    scheduler = build_scheduler(app)
    start = clock.now()
    targets: list[list[str]] = []
    for minute in range(0, 41):
        clock.set(start + timedelta(minutes=minute))
        before = len(_alerts(app))
        scheduler.alerts.tick(app.database, clock.now())
        _delivered(app)
        new = _alerts(app)[before:]
        if new:
            targets.append([f"{minute}:{channel}:{address}" for channel, address, _ in new])
        if minute == 32:
            desk = build_desk(app)
            desk.handle(StaffMessage("telegram", GROUP, DANA, text="/ack " + str(escalation_id)))
    assert targets == [
        [f"0:telegram:{GROUP}", f"0:sms:{ON_CALL}"],
        [f"5:telegram:{GROUP}", f"5:sms:{ON_CALL}"],
        [f"10:telegram:{GROUP}", f"10:sms:{ON_CALL}"],
        [f"15:telegram:{GROUP}", f"15:sms:{BACKUP}"],  # 15 minutes unacknowledged: the backup
        [f"20:telegram:{GROUP}", f"20:sms:{BACKUP}"],
        [f"25:telegram:{GROUP}", f"25:sms:{BACKUP}"],
        [f"30:telegram:{GROUP}", f"30:sms:{PI}"],  # 30 minutes: the principal investigator
    ]
    escalation = _escalation(app, escalation_id)
    assert (escalation.status, escalation.acknowledged_by, escalation.next_alert_at) == (
        "acknowledged", "staff:Dana Reyes (coordinator)", None,
    )  # fmt: skip
    assert escalation.acknowledged_at - escalation.created_at > timedelta(minutes=15), "acknowledged late"


def test_alerts_carry_no_health_details(app: App) -> None:
    patient = Patient(app, address="+15550400002")
    patient.send("Hi")
    patient.send("can I talk to a person, I have a rash and a fever CANARY-PHI-123")
    build_scheduler(app).alerts.tick(app.database, app.clock.now())
    bodies = [body for _, _, body in _alerts(app)]
    assert bodies, "a staff request is alerted"
    for body in bodies:
        assert "CANARY" not in body
        assert "rash" not in body
        assert "+15550400002" not in body
        assert "P-000001" in body


def test_alerts_name_the_worry_only_when_the_study_allows_it(app: App) -> None:
    """PRIV-02/07: staff phones and the staff group see the severity and the code, not "pregnancy", unless the
    study turns `alerts_name_category` on; the CLI on the host always shows it."""
    escalation_id = _open(app, severity="high", category="pregnancy")
    build_scheduler(app).alerts.tick(app.database, app.clock.now())
    default = [body for _, _, body in _alerts(app)]
    assert default
    assert all("pregnancy" not in body for body in default), default
    assert default[0].startswith(f"trialbot HIGH #{escalation_id}: participant P-000001, waiting")
    desk = build_desk(app)
    with app.database.read() as connection:
        assert "pregnancy" not in desk.summary(Repositories(connection), app.clock.now())

    study = app.study.study
    allowed = study.model_copy(
        update={"escalation": study.escalation.model_copy(update={"alerts_name_category": True})}
    )
    alerts = Alerts(allowed)
    second = _open(app, severity="high", category="medication_error")
    alerts.tick(app.database, app.clock.now())
    named = [body for _, _, body in _alerts(app) if f"#{second}:" in body]
    assert named
    assert all(
        body.startswith(f"trialbot HIGH #{second}: medication error - participant P-000001, waiting") for body in named
    ), named
    assert alerts.topic("er_or_hospital") == "er or hospital"


def test_a_restart_keeps_every_timer(database_url: str, core: Any, clock: SettableClock) -> None:
    first = build_app(database_url, core=core, clock=clock, ids=SequentialIds())
    escalation_id = _open(first)
    build_scheduler(first).alerts.tick(first.database, clock.now())
    first.database.dispose()
    clock.advance(timedelta(minutes=6))
    restarted = build_app(database_url, core=core, clock=clock, ids=SequentialIds(100))
    with restarted.database.read() as connection:
        assert Repositories(connection).escalations.without_timer() == 0
    assert build_scheduler(restarted).alerts.tick(restarted.database, clock.now()) == 1
    assert _escalation(restarted, escalation_id).alerts_sent == 2
    restarted.database.dispose()


def test_a_telegram_alert_that_does_not_go_out_goes_by_sms(app: App, clock: SettableClock) -> None:
    _open(app, severity="high", category="adverse_event")
    scheduler = build_scheduler(app)
    scheduler.alerts.tick(app.database, clock.now())
    assert [(c, a) for c, a, _ in _alerts(app)] == [("telegram", GROUP)], "high: the group first"
    with app.database.write() as connection:
        row = connection.execute(select(outbox_t.c.id).where(outbox_t.c.channel == "telegram")).scalar_one()
        Repositories(connection).outbox.failed(row, clock.now(), "telegram 403")
    clock.advance(timedelta(seconds=30))
    scheduler.alerts.tick(app.database, clock.now())
    assert len(_alerts(app)) == 1, "not before a minute"
    clock.advance(timedelta(seconds=31))
    scheduler.alerts.tick(app.database, clock.now())
    scheduler.alerts.tick(app.database, clock.now())
    assert [(c, a) for c, a, _ in _alerts(app)] == [("telegram", GROUP), ("sms", ON_CALL)], "once"


@pytest.fixture
def alerted(app: App) -> tuple[App, int]:
    escalation_id = _open(app)
    build_scheduler(app).alerts.tick(app.database, app.clock.now())
    return app, escalation_id


def _tokens(app: App) -> dict[str, str]:
    with app.database.read() as connection:
        buttons = connection.execute(
            select(outbox_t.c.buttons).where(outbox_t.c.channel == "telegram", outbox_t.c.purpose == "alert")
        ).scalar_one()
    return {b["value"]: b["token"] for b in buttons}


def _refusals(app: App) -> list[dict[str, Any]]:
    with app.database.read() as connection:
        return [r.new for r in connection.execute(select(audit_t).where(audit_t.c.action == "staff_action_refused"))]


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (lambda t: StaffMessage("telegram", GROUP, 999, token=t["ack"]), "a group member not on the staff list"),
        (lambda t: StaffMessage("telegram", "-100999", DANA, token=t["ack"]), "staff, but in another chat"),
        (lambda t: StaffMessage("telegram", GROUP, ANONYMOUS_ADMIN, token=t["ack"]), "an anonymous admin"),
        (lambda t: StaffMessage("telegram", GROUP, DANA, text="/ack 1", anonymous=True), "posted as the group"),
        (lambda t: StaffMessage("sms", "+15559999999", text="ACK 1"), "an unknown phone"),
    ],
)
def test_only_allow_listed_staff_can_act(alerted: tuple[App, int], message: Any, reason: str) -> None:
    app, escalation_id = alerted
    reply = build_desk(app).handle(message(_tokens(app)))
    assert reply.toast == "Sorry, only study staff can do that.", reason
    assert _escalation(app, escalation_id).status == "open"
    assert len(_refusals(app)) == 1


def test_a_forged_button_is_refused_and_audited(alerted: tuple[App, int]) -> None:
    app, escalation_id = alerted
    reply = build_desk(app).handle(StaffMessage("telegram", GROUP, DANA, token="forged-token-123"))
    assert reply.toast == "That button is not valid."
    assert _escalation(app, escalation_id).status == "open"
    assert _refusals(app)[0]["reason"] == "unknown button"


def test_a_stale_button_changes_nothing(alerted: tuple[App, int]) -> None:
    app, escalation_id = alerted
    tokens = _tokens(app)
    desk = build_desk(app)
    assert desk.handle(StaffMessage("telegram", GROUP, DANA, token=tokens["ack"])).toast == (
        f"#{escalation_id} acknowledged by Dana Reyes (coordinator)."
    )
    again = desk.handle(StaffMessage("telegram", GROUP, SAM, token=tokens["ack"]))
    assert again.toast == f"#{escalation_id} is already acknowledged."
    assert _escalation(app, escalation_id).acknowledged_by == "staff:Dana Reyes (coordinator)"
    resolved = desk.handle(StaffMessage("telegram", GROUP, SAM, token=tokens["resolve"]))
    assert resolved.toast == f"#{escalation_id} resolved by Sam Okafor (backup)."
    with app.database.read() as connection:
        actions = [(r.actor, r.action) for r in connection.execute(select(audit_t).order_by(audit_t.c.id))]
    assert ("staff:Dana Reyes (coordinator)", "escalation_acknowledged") in actions
    assert ("staff:Sam Okafor (backup)", "escalation_resolved") in actions


def test_on_call_phones_acknowledge_by_sms_and_the_group_can_list(alerted: tuple[App, int]) -> None:
    app, escalation_id = alerted
    desk = build_desk(app)
    desk.handle(StaffMessage("telegram", GROUP, DANA, text="/list"))
    with app.database.read() as connection:
        listed = connection.execute(select(outbox_t.c.body).where(outbox_t.c.purpose == "staff")).scalars().all()
    assert listed[-1].startswith(f"#{escalation_id} URGENT P-000001 open, waiting")  # no category by default
    desk.handle(StaffMessage("sms", ON_CALL, text=f"ACK {escalation_id}"))
    assert _escalation(app, escalation_id).status == "acknowledged"
    desk.handle(StaffMessage("sms", BACKUP, text=f"resolve {escalation_id} called her back, she is fine"))
    escalation = _escalation(app, escalation_id)
    assert (escalation.status, escalation.resolution_note) == ("resolved", "called her back, she is fine")


def test_staff_commands_on_the_cli(alerted: tuple[App, int], database_url: str) -> None:
    app, escalation_id = alerted
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(main, [*args, "--db", database_url])

    listed = run("escalation", "list", "--open")
    assert listed.exit_code == 0, listed.output
    assert f"#{escalation_id} URGENT crisis P-000001 open" in listed.output
    shown = run("escalation", "show", str(escalation_id), "--json")
    assert '"participant": "P-000001"' in shown.output
    assert run("escalation", "ack", str(escalation_id), "--by", "pat").output.startswith(
        f"#{escalation_id} acknowledged by pat"
    )
    replied = run(
        "escalation", "reply", str(escalation_id), "--text", "Hi, this is Pat from the study. I will call you at 3."
    )
    assert replied.exit_code == 0, replied.output
    with app.database.read() as connection:
        body = connection.execute(select(outbox_t.c.body).where(outbox_t.c.purpose == "staff_reply")).scalar_one()
    assert body == "Message from the study team: Hi, this is Pat from the study. I will call you at 3."
    resolved = run("escalation", "resolve", str(escalation_id), "--note", "Called; all fine.", "--by", "pat")
    assert resolved.output.startswith(f"#{escalation_id} resolved by pat")
    missing = run("escalation", "ack", "999")
    assert missing.exit_code == 1
    assert "no escalation #999" in missing.output
