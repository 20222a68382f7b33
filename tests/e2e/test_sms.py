"""SMS end to end: signed Twilio webhooks into the real app on uvicorn, replies observed at the fake Twilio."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from storage.repositories import escalation_t, inbound_t
from tests.e2e.conftest import OUR_NUMBER, PUBLIC, Stack, wait_until
from tests.fakes import inbound_sms_params, post_signed, twilio_signature

PATIENT = "+15550142001"


def _bodies(stack: Stack, to: str = PATIENT) -> list[str]:
    return [s.body for s in stack.twilio.sent if s.to == to]


def _inbound_count(stack: Stack) -> int:
    with stack.app.database.read() as connection:
        return int(connection.execute(select(func.count()).select_from(inbound_t)).scalar_one())


def test_a_full_prescreen_over_sms(stack: Stack) -> None:
    script = [
        ("Hi", "Do you agree to get texts from us? Reply YES or NO. You can reply STOP at any time."),
        ("1", "Would you like to start?\nReply 1 for Yes, 2 for No."),
        ("1", "How old are you?"),
        ("52", "Has a doctor ever told you that you have type 2 diabetes?\nReply 1 for Yes, 2 for No, 3 for Not sure."),
        ("1", "Do you use insulin now?\nReply 1 for Yes, 2 for No, 3 for Not sure."),
        ("2", "When did a doctor first tell you that you have diabetes? A month and year is fine, like 3/2024."),
        ("3/2019", None),
        ("1", "What is the best time for us to call you?\nReply 1 for Morning, 2 for Afternoon, 3 for Evening, 4 for Any time."),
        ("2", "May the Sunrise Study team contact you about other studies in the future?\nReply 1 for Yes, 2 for No."),
        ("1", "Are you ready to start? Reply YES or NO."),  # the consent check follows an eligible prescreen
        ("2", "No problem. The study team will go over the consent form with you and answer your questions."),
    ]  # fmt: skip
    for text, last_reply in script:
        before = len(_bodies(stack))
        response = stack.sms(PATIENT, text)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/xml")
        assert "<Response/>" in response.text, "replies go by the REST API, never inline as TwiML"
        wait_until(lambda before=before: len(_bodies(stack)) > before)
        stack.settle()
        if last_reply is not None:
            assert _bodies(stack)[-1] == last_reply
    sent = stack.twilio.sent
    assert all(s.from_ == OUR_NUMBER for s in sent)
    assert all(s.status_callback.startswith(f"{PUBLIC}/twilio/status?oid=") for s in sent)
    participant = stack.participant("sms", PATIENT)
    assert participant is not None
    with stack.app.database.read() as connection:
        from storage.repositories import Repositories

        outcome = Repositories(connection).outcomes.latest_prescreen(participant.id)
    assert outcome is not None
    assert outcome.outcome == "eligible"


def _signature_cases(stack: Stack) -> list[tuple[str, dict[str, object], bool]]:
    url = f"{PUBLIC}/twilio/sms"
    params = inbound_sms_params(PATIENT, OUR_NUMBER, "Hi", account_sid=stack.twilio.account_sid)
    token = stack.twilio.auth_token
    good = twilio_signature(token, url, params)
    tampered = [(k, "STOP" if k == "Body" else v) for k, v in params]
    added = [*params, ("Extra", "1")]
    removed = [(k, v) for k, v in params if k != "FromCity"]
    return [
        ("valid", {"params": params, "signature": good}, True),
        ("valid, URL signed with :443", {"params": params, "signature": twilio_signature(token, f"{PUBLIC}:443/twilio/sms", params)}, True),
        ("wrong token", {"params": params, "signature": twilio_signature("0" * 32, url, params)}, False),
        ("tampered parameter", {"params": tampered, "signature": good}, False),
        ("added parameter", {"params": added, "signature": good}, False),
        ("removed parameter", {"params": removed, "signature": good}, False),
        ("missing header", {"params": params, "signature": None, "sign": False}, False),
        ("empty header", {"params": params, "signature": ""}, False),
        ("signed for http", {"params": params, "signature": twilio_signature(token, url.replace("https", "http"), params)}, False),
        ("signed for the internal URL", {"params": params, "signature": twilio_signature(token, f"{stack.web.url}/twilio/sms", params)}, False),
        ("another account", {"params": inbound_sms_params(PATIENT, OUR_NUMBER, "Hi", account_sid="AC" + "1" * 32)}, False),
        ("to another number", {"params": inbound_sms_params(PATIENT, "+15550000000", "Hi", account_sid=stack.twilio.account_sid)}, False),
    ]  # fmt: skip


def test_signature_matrix_has_no_false_accepts_or_rejects(stack: Stack) -> None:
    results: list[str] = []
    for name, case, valid in _signature_cases(stack):
        rows_before = _inbound_count(stack)
        params = case["params"]
        response = post_signed(
            f"{PUBLIC}/twilio/sms", stack.web.url, params, stack.twilio.auth_token,  # type: ignore[arg-type]
            signature=case.get("signature"), sign=bool(case.get("sign", True)),  # type: ignore[arg-type]
        )  # fmt: skip
        stack.settle()
        written = _inbound_count(stack) - rows_before
        expected = (200, 1) if valid else (403, 0)
        if (response.status_code, written) != expected and not (valid and written == 0):
            results.append(f"{name}: got {response.status_code}, {written} rows written")
        if valid:
            assert response.status_code == 200, name
    assert results == []
    # The two valid cases carried the same MessageSid: stored once.
    assert _inbound_count(stack) == 1


def test_invalid_utf8_and_oversized_bodies_are_refused_cleanly(stack: Stack) -> None:
    import httpx

    bad = httpx.post(
        f"{stack.web.url}/twilio/sms",
        content=b"Body=%ED%A0%80&From=%2B15550142001&MessageSid=SMx&AccountSid=AC%zz",
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "abc"},
    )
    assert bad.status_code == 403
    huge = httpx.post(
        f"{stack.web.url}/twilio/sms",
        content=b"Body=" + b"a" * (70 * 1024),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert huge.status_code == 413
    assert _inbound_count(stack) == 0


@pytest.mark.parametrize("concurrent", [False, True], ids=["sequential", "concurrent"])
def test_the_same_message_sid_three_times_is_one_row_and_one_reply(stack: Stack, concurrent: bool) -> None:
    def deliver() -> None:
        assert stack.sms(PATIENT, "Hi", sid="SM" + "a" * 32).status_code == 200

    if concurrent:
        threads = [threading.Thread(target=deliver) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    else:
        for _ in range(3):
            deliver()
    stack.settle()
    assert _inbound_count(stack) == 1
    assert len(_bodies(stack)) == 3  # the intro's three messages, once
    assert len({s.status_callback for s in stack.twilio.sent}) == 3


def test_twilio_500s_are_retried_until_delivered(stack: Stack) -> None:
    stack.twilio.fail_next(500, count=2)
    stack.sms(PATIENT, "HELP")
    wait_until(lambda: len(stack.twilio.requests) >= 1)
    for _ in range(4):
        stack.advance(60)
        stack.settle()
    assert len(_bodies(stack)) == 1
    assert _bodies(stack)[0].startswith("Sunrise Study: For help, call")
    row = stack.outbox()[0]
    assert (row.status, row.attempts) == ("sent", 3)


def test_a_timeout_after_twilio_took_the_message_is_not_sent_twice(stack: Stack) -> None:
    stack.twilio.delay_next(2.0, accept=True)  # Twilio has it; our 1 s timeout never hears so
    stack.sms(PATIENT, "HELP")
    wait_until(lambda: len(stack.twilio.sent) == 1)
    wait_until(lambda: stack.outbox()[0].attempts == 1)
    assert stack.outbox()[0].status == "sending"  # held, waiting to learn what happened
    stack.advance(31)  # the hold ran out with no status callback: look it up at Twilio
    wait_until(lambda: stack.outbox()[0].status == "sent")
    assert len(stack.twilio.sent) == 1
    assert stack.outbox()[0].provider_message_id == stack.twilio.sent[0].sid
    assert stack.outbox()[0].possible_duplicate is False


def test_a_timeout_before_twilio_took_the_message_is_sent_once(stack: Stack) -> None:
    stack.twilio.delay_next(2.0, accept=False)
    stack.sms(PATIENT, "HELP")
    wait_until(lambda: stack.outbox() != [] and stack.outbox()[0].attempts == 1)
    assert stack.twilio.sent == []
    stack.advance(31)
    wait_until(lambda: len(stack.twilio.sent) == 1)
    stack.settle()
    assert len(stack.twilio.sent) == 1


def test_a_status_callback_resolves_a_held_message(stack: Stack) -> None:
    stack.twilio.delay_next(2.0, accept=True)
    stack.sms(PATIENT, "HELP")
    wait_until(lambda: len(stack.twilio.sent) == 1)
    wait_until(lambda: stack.outbox()[0].attempts == 1)
    assert stack.twilio.send_status(stack.twilio.sent[0].sid, "delivered", callback_base=stack.web.url) == 204
    row = stack.outbox()[0]
    assert (row.status, row.provider_status, row.provider_message_id) == (
        "delivered",
        "delivered",
        stack.twilio.sent[0].sid,
    )
    stack.advance(31)
    stack.settle()
    assert len(stack.twilio.sent) == 1


def test_status_callbacks_only_move_forward_and_must_be_signed(stack: Stack) -> None:
    stack.sms(PATIENT, "HELP")
    stack.settle()
    sid = stack.twilio.sent[0].sid
    assert stack.twilio.send_status(sid, "delivered", callback_base=stack.web.url) == 204
    assert stack.twilio.send_status(sid, "sent", callback_base=stack.web.url) == 204  # late, out of order
    assert stack.outbox()[0].status == "delivered"
    forged = post_signed(
        f"{PUBLIC}/twilio/status?oid=1", stack.web.url,
        [("MessageSid", sid), ("MessageStatus", "failed"), ("AccountSid", stack.twilio.account_sid)], "0" * 32,
    )  # fmt: skip
    assert forged.status_code == 403
    assert stack.outbox()[0].status == "delivered"


def _refused(stack: Stack) -> int:
    """Creates to the patient that Twilio did not accept."""
    tried = [r for r in stack.twilio.requests if r.method == "POST" and r.params.get("To") == PATIENT]
    return len(tried) - len(_bodies(stack))


def test_error_21610_opts_the_participant_out_and_is_never_retried(stack: Stack) -> None:
    stack.sms(PATIENT, "Hi")
    stack.settle()
    stack.twilio.opt_out(PATIENT)
    stack.sms(PATIENT, "yes")
    stack.settle()
    for _ in range(3):
        stack.advance(600)
        stack.settle()
    assert _refused(stack) == 1, "21610 is permanent"
    participant = stack.participant("sms", PATIENT)
    assert participant.opted_out
    with stack.app.database.read() as connection:
        categories = connection.execute(select(escalation_t.c.category)).scalars().all()
    assert categories == ["unreachable"], "staff learn who can no longer be reached"
    stack.sms(PATIENT, "40")
    stack.settle()
    assert _refused(stack) == 1, "nothing more is tried"


def test_a_picture_without_words_gets_a_polite_request_for_text(stack: Stack) -> None:
    stack.sms(PATIENT, "Hi")
    stack.settle()
    stack.sms(
        PATIENT, "", num_media=1, media_urls=["https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME1"]
    )
    stack.settle()
    assert _bodies(stack)[-1].startswith(
        "Thank you. I can only read words, not pictures or files. Please reply in words."
    )


def test_whatsapp_uses_the_same_adapter(stack: Stack) -> None:
    sender = "whatsapp:+15550142077"
    response = post_signed(
        f"{PUBLIC}/twilio/sms", stack.web.url,
        inbound_sms_params(sender, f"whatsapp:{OUR_NUMBER}", "HELP", account_sid=stack.twilio.account_sid),
        stack.twilio.auth_token,
    )  # fmt: skip
    assert response.status_code == 200
    stack.settle()
    sent = [s for s in stack.twilio.sent if s.to == sender]
    assert len(sent) == 1
    assert sent[0].from_ == f"whatsapp:{OUR_NUMBER}"


def test_health_check(stack: Stack) -> None:
    import httpx

    response = httpx.get(f"{stack.web.url}/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "dispatcher": "ok", "telegram": "ok"}


def test_in_a_burst_messages_are_stored_answered_then_acted_on(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past TAKE_AT_ONCE waiting webhooks (here: at once), a message is stored before the 200 and its turn
    follows the answer; the patient sees the same replies, once, in order, and a redelivery is still a no-op."""
    import bot.web

    monkeypatch.setattr(bot.web, "TAKE_AT_ONCE", 0)
    for text, sid in (("Hi", "SM" + "b" * 32), ("yes", "SM" + "c" * 32), ("yes", "SM" + "c" * 32)):
        assert stack.sms(PATIENT, text, sid=sid).status_code == 200
        stack.settle()
    assert _inbound_count(stack) == 2
    assert _bodies(stack)[-1] == "Would you like to start?\nReply 1 for Yes, 2 for No."
    assert len(_bodies(stack)) == len(set(_bodies(stack)))


def test_webhooks_arriving_together_share_a_commit_and_each_is_answered_after_it(stack: Stack) -> None:
    """On SQLite, messages that arrive while a transaction is open wait for it, then go in the next one
    together (group commit). Every webhook gets its 200 only after its message is committed; every patient
    gets their own reply, once."""
    if not stack.app.database.is_sqlite:
        assert not stack.server.turns.batched, "PostgreSQL commits transactions in parallel"
        return
    patients = [f"+1555080{n:04d}" for n in range(12)]
    answers: list[int] = []
    with stack.app.database.write():  # hold the writer: the first turn waits, the others queue behind it
        threads = [
            threading.Thread(target=lambda p=p: answers.append(stack.sms(p, "Hi").status_code)) for p in patients
        ]
        for thread in threads:
            thread.start()
        turns = stack.server.turns
        wait_until(lambda: turns.running + turns.queued == len(patients))
        assert answers == [], "nothing is answered before it is committed"
    for thread in threads:
        thread.join()
    stack.settle()
    assert answers == [200] * len(patients)
    assert turns.batches == 2, "the first transaction, then one for every message that waited"
    assert turns.largest >= len(patients) // 2
    assert _inbound_count(stack) == len(patients)
    for patient in patients:
        assert _bodies(stack, patient)[-1].startswith("Do you agree to get texts from us?")
        assert len(_bodies(stack, patient)) == len(set(_bodies(stack, patient)))


def test_work_for_when_the_server_is_up_runs_once_after_start_up(stack: Stack) -> None:
    """`serve` freezes its start-up objects this way (bot.runtime), not before it can answer."""
    import bot.web
    from bot.bootstrap import build_server
    from bot.config import ChannelSettings
    from tests.fakes import LocalServer

    calls: list[float] = []
    server = build_server(stack.app, ChannelSettings(None, None), tick=0.05, spool_dir=None)
    server.when_serving = lambda: calls.append(time.monotonic())
    started = time.monotonic()
    with LocalServer(server.asgi()) as web:
        import httpx

        assert httpx.get(f"{web.url}/healthz").status_code == 200
        assert calls == [], "not before the first answers"
        wait_until(lambda: len(calls) == 1, timeout=5)
        time.sleep(0.2)
    assert len(calls) == 1
    assert calls[0] - started >= bot.web.WHEN_SERVING_AFTER
