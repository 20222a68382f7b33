"""`trialbot serve` as a real process: start-up checks, webhook set-up, polling, and a SIGKILL mid-burst."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from storage.database import Database
from storage.repositories import inbound_t, outbox_t
from tests.e2e.conftest import OUR_NUMBER, PUBLIC, SECRET, wait_until
from tests.fakes import FakeTelegram, FakeTwilio, inbound_sms_params, post_signed, text_update

TRIALBOT = str(Path(sys.executable).with_name("trialbot"))
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _env(database_url: str, twilio: FakeTwilio | None, telegram: FakeTelegram | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRIALBOT_", "TWILIO_", "TELEGRAM_"))}
    env.update(TRIALBOT_DATABASE_URL=database_url, TRIALBOT_PUBLIC_URL=PUBLIC, TRIALBOT_LOG_LEVEL="INFO")
    if twilio is not None:
        env.update(
            TWILIO_ACCOUNT_SID=twilio.account_sid, TWILIO_AUTH_TOKEN=twilio.auth_token,
            TWILIO_FROM_NUMBER=OUR_NUMBER, TWILIO_API_URL=twilio.url,
        )  # fmt: skip
    if telegram is not None:
        env.update(TELEGRAM_BOT_TOKEN=telegram.token, TELEGRAM_WEBHOOK_SECRET=SECRET, TELEGRAM_API_URL=telegram.url)
    env.update(extra)
    return env


class Serve:
    """A `trialbot serve` process on a free port."""

    def __init__(self, env: dict[str, str], port: int, *args: str) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = Path(env["TRIALBOT_TEST_LOG"]) if "TRIALBOT_TEST_LOG" in env else None
        self.process = subprocess.Popen(
            [TRIALBOT, "serve", "--port", str(port), *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stderr = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                _, self.stderr = self.process.communicate()
                raise AssertionError(f"trialbot serve exited: {self.stderr}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("trialbot serve did not become healthy")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        _, self.stderr = self.process.communicate(timeout=10)

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            _, err = self.process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        self.stderr += err or ""
        return self.stderr


@pytest.fixture
def fakes() -> Iterator[tuple[FakeTwilio, FakeTelegram]]:
    with FakeTwilio() as twilio, FakeTelegram() as telegram:
        yield twilio, telegram


BAD_SETTINGS = {
    "sid without token": ({"TWILIO_ACCOUNT_SID": "AC" + "0" * 32}, "needs both TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"),
    "malformed sid": ({"TWILIO_ACCOUNT_SID": "XX1", "TWILIO_AUTH_TOKEN": "t" * 32, "TWILIO_FROM_NUMBER": "+15550100199"}, "AC followed by 32 hex"),
    "two senders": (
        {"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "t" * 32, "TWILIO_FROM_NUMBER": "+15550100199",
         "TWILIO_MESSAGING_SERVICE_SID": "MG" + "0" * 32},
        "exactly one of TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID",
    ),
    "no public url": (
        {"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "t" * 32, "TWILIO_FROM_NUMBER": "+15550100199",
         "TRIALBOT_PUBLIC_URL": ""},
        "SMS needs TRIALBOT_PUBLIC_URL",
    ),
    "bad public url": ({"TELEGRAM_BOT_TOKEN": "123456:" + "A" * 35, "TELEGRAM_WEBHOOK_SECRET": "abc", "TRIALBOT_PUBLIC_URL": "ftp://x"}, "TRIALBOT_PUBLIC_URL must be a base URL"),
    "malformed bot token": ({"TELEGRAM_BOT_TOKEN": "not-a-token"}, "TELEGRAM_BOT_TOKEN must look like"),
    "webhook without secret": ({"TELEGRAM_BOT_TOKEN": "123456:" + "A" * 35}, "Telegram webhooks need TELEGRAM_WEBHOOK_SECRET"),
    "bad secret": ({"TELEGRAM_BOT_TOKEN": "123456:" + "A" * 35, "TELEGRAM_WEBHOOK_SECRET": "has spaces"}, "1-256 characters"),
    "lease not a number": ({"TRIALBOT_SEND_LEASE_SECONDS": "soon"}, "TRIALBOT_SEND_LEASE_SECONDS"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_SETTINGS), ids=list(BAD_SETTINGS))
def test_bad_settings_stop_start_up_with_one_clear_line(case: str, database_url: str) -> None:
    settings, expected = BAD_SETTINGS[case]
    env = _env(database_url, None, None, **settings)
    result = subprocess.run(
        [TRIALBOT, "serve", "--port", str(_free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.stderr
    for secret in ("t" * 32, "A" * 35):
        assert secret not in result.stderr


def test_set_webhook_registers_the_secret(database_url: str, fakes: tuple[FakeTwilio, FakeTelegram]) -> None:
    _, telegram = fakes
    telegram.require_https_webhook = True
    env = _env(database_url, None, telegram)
    result = subprocess.run(
        [TRIALBOT, "telegram", "set-webhook"], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    assert telegram.webhook is not None
    assert telegram.webhook.url == f"{PUBLIC}/telegram/webhook"
    assert telegram.webhook.secret_token == SECRET
    assert telegram.token not in result.stdout + result.stderr


def test_polling_mode_answers_over_telegram(database_url: str, fakes: tuple[FakeTwilio, FakeTelegram]) -> None:
    _, telegram = fakes
    env = _env(database_url, None, telegram)
    server = Serve(env, _free_port(), "--telegram-polling")
    try:
        telegram.push_update(text_update(9001, 4242, "HELP"))
        sent = telegram.wait_for_sent(1, timeout=15)
        assert sent[0].text.startswith("Sunrise Study: For help, call")
        telegram.push_update(text_update(9001, 4242, "HELP"))  # a replay of the same update
        telegram.push_update(text_update(9002, 4242, "Hi"))
        telegram.wait_for_sent(4, timeout=15)
        time.sleep(0.5)
        assert len(telegram.sent) == 4
    finally:
        log = server.stop()
    assert telegram.token not in log
    assert "deleteWebhook" in [c.method for c in telegram.calls]


def test_sigkill_mid_burst_loses_nothing_and_sends_nothing_twice(
    database_url: str, fakes: tuple[FakeTwilio, FakeTelegram]
) -> None:
    twilio, _ = fakes
    port = _free_port()
    env = _env(database_url, twilio, None, TRIALBOT_SEND_LEASE_SECONDS="2")
    patients = [f"+1555015{n:04d}" for n in range(30)]
    # 3 messages ask for the opt-in; YES gets 4 (confirmation, not watched, the prescreen's intro and
    # question); "40" is not an answer to "Would you like to start?": 1 re-ask. 8 replies.
    script = ["Hi", "yes", "40"]
    sids = {(p, i): f"SM{n:04d}{i}" + "0" * 27 for n, p in enumerate(patients) for i in range(len(script))}
    acknowledged: set[str] = set()
    lock = threading.Lock()

    def deliver(patient: str, step: int) -> bool:
        params = inbound_sms_params(
            patient, OUR_NUMBER, script[step], message_sid=sids[(patient, step)], account_sid=twilio.account_sid
        )
        try:
            response = post_signed(
                f"{PUBLIC}/twilio/sms", f"http://127.0.0.1:{port}", params, twilio.auth_token, timeout=5
            )
        except httpx.HTTPError:
            return False
        if response.status_code == 200:
            with lock:
                acknowledged.add(sids[(patient, step)])
            return True
        return False

    def patient_burst(patient: str, done: list[int]) -> None:
        for step in range(len(script)):
            if not deliver(patient, step):
                return
            done.append(step)

    first = Serve(env, port)
    progress: dict[str, list[int]] = {p: [] for p in patients}
    threads = [threading.Thread(target=patient_burst, args=(p, progress[p])) for p in patients]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(acknowledged) >= 25, timeout=30)
    first.kill()  # mid-burst: some messages acknowledged and not yet acted on, some sends in flight
    for thread in threads:
        thread.join()
    killed_at = len(acknowledged)
    assert 25 <= killed_at < len(sids), "the kill must land in the middle of the burst"

    second = Serve(env, port)
    try:
        # Twilio retries what it could not deliver; patients go on with their script.
        for patient in patients:
            for step in range(len(script)):
                if sids[(patient, step)] not in acknowledged:
                    wait_until(lambda p=patient, s=step: deliver(p, s), timeout=10)
        database = Database(database_url)
        try:

            def drained() -> bool:
                with database.read() as connection:
                    waiting = connection.execute(select(inbound_t.c.id).where(inbound_t.c.status != "processed")).all()
                    unsent = connection.execute(select(outbox_t.c.id).where(outbox_t.c.status != "sent")).all()
                return not waiting and not unsent

            wait_until(drained, timeout=60)
            with database.read() as connection:
                stored = set(connection.execute(select(inbound_t.c.provider_message_id)).scalars())
        finally:
            database.dispose()
    finally:
        log = first.stderr + second.stop()
    assert twilio.auth_token not in log
    assert "+1555015" not in log, "no phone numbers in the logs"
    assert acknowledged <= stored, "every acknowledged message was kept"
    assert stored == set(sids.values())
    oids = Counter(parse_qs(urlsplit(s.status_callback).query)["oid"][0] for s in twilio.sent)
    assert [oid for oid, times in oids.items() if times > 1] == [], "no reply was sent twice"
    per_patient = Counter(s.to for s in twilio.sent)
    assert per_patient == dict.fromkeys(patients, 8), "every patient got every reply exactly once"
