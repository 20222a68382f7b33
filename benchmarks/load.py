"""Simulated patients: the scripted onboarding + prescreen, sent as signed Twilio webhooks and Telegram
updates, in a closed loop (saturation) or at a fixed offered rate (latency).

A step is done when the patient's expected number of replies has been accepted by the fake provider;
the numbers come from a calibration conversation per channel, so the benchmark follows the product.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp

from benchmarks.common import OUR_NUMBER, PUBLIC, SECRET, percentile
from benchmarks.providers import ReplyHub
from tests.fakes import inbound_sms_params, text_update, twilio_signature

# First contact, agree to texts, then the prescreen (start, age, diabetes, insulin, diagnosed, travel),
# best time to call, future studies, and "not now" to the consent check.
SCRIPT = ("Hi", "yes", "yes", "52", "yes", "no", "3/2019", "1", "morning", "no", "no")
FINAL_REPLY = "No problem. The study team will go over the consent form with you and answer your questions."
REPLY_TIMEOUT = 60.0
STALE_CONNECTION_S = 1.0  # a POST failing this soon on a read error met a connection the server had closed
_update_ids = itertools.count(1_000_000)


@dataclass
class Patient:
    """One simulated patient on one channel, pointed at one server."""

    number: int
    channel: str  # "sms" | "telegram"
    server: str  # base URL of the trialbot (or baseline) process this patient talks to
    step: int = 0

    @property
    def address(self) -> str:
        """Phone number or Telegram chat id."""
        return f"+1555{self.number:07d}" if self.channel == "sms" else str(700_000_000 + self.number)

    @property
    def key(self) -> str:
        """The reply hub's key for this patient."""
        return f"{self.channel}:{self.address}"


def make_patients(
    count: int, servers: Sequence[str], channels: Sequence[str] = ("sms", "telegram"), first: int = 1
) -> list[Patient]:
    """`count` patients, alternating channels, split over the servers round-robin."""
    return [
        Patient(first + i, channels[i % len(channels)], servers[(i // len(channels)) % len(servers)])
        for i in range(count)
    ]


@dataclass
class Sample:
    """One message: when it was posted, how the webhook answered, when its last reply was accepted."""

    patient: int
    step: int
    channel: str
    posted: float
    acked: float = 0.0
    status: int = 0
    replied: float | None = None
    provider_id: str = ""
    failure: str = ""  # why the POST got no answer (the exception's class), when status is 0
    retried: bool = False  # posted a second time after a stale kept-alive connection failed at once

    @property
    def latency(self) -> float | None:
        """Webhook POST to last reply accepted, in seconds."""
        return None if self.replied is None else self.replied - self.posted


@dataclass
class RunResult:
    """Samples of one load run, and its wall time."""

    samples: list[Sample] = field(default_factory=list)
    wall: float = 0.0
    missed_slots: int = 0
    errors: list[str] = field(default_factory=list)

    def completed(self) -> list[Sample]:
        """Messages whose reply arrived."""
        return [s for s in self.samples if s.replied is not None]

    def throughput(self) -> float:
        """Completed messages per second of wall time."""
        return len(self.completed()) / self.wall if self.wall else 0.0

    def latencies_ms(self) -> list[float]:
        """Latencies of completed messages in ms."""
        return [s.latency * 1000 for s in self.samples if s.latency is not None]

    def summary(self) -> dict[str, Any]:
        """The figures for the table and the JSON."""
        lat = self.latencies_ms()
        # Where the time goes: the webhook's own answer (storing and acting), and sending after it.
        acks = [(s.acked - s.posted) * 1000 for s in self.samples if s.status == 200]
        after = [(s.replied - s.acked) * 1000 for s in self.samples if s.replied is not None and s.status == 200]
        return {
            "messages": len(self.samples),
            "completed": len(self.completed()),
            "non_200": sum(1 for s in self.samples if s.status != 200),
            "reposted": sum(1 for s in self.samples if s.retried),
            "wall_s": round(self.wall, 2),
            "msgs_per_s": round(self.throughput(), 1),
            "p50_ms": round(percentile(lat, 50), 1),
            "p95_ms": round(percentile(lat, 95), 1),
            "p99_ms": round(percentile(lat, 99), 1),
            "max_ms": round(max(lat), 1) if lat else None,
            "ack_p50_ms": round(percentile(acks, 50), 1),
            "ack_p99_ms": round(percentile(acks, 99), 1),
            "after_ack_p50_ms": round(percentile(after, 50), 1),
            "after_ack_p99_ms": round(percentile(after, 99), 1),
            "missed_slots": self.missed_slots,
            "errors": self.errors[:10],
            "error_count": len(self.errors),
        }


class Sender:
    """Posts a patient's next message the way Twilio and Telegram post webhooks."""

    def __init__(self, twilio_sid: str, twilio_token: str) -> None:
        self.sid = twilio_sid
        self.token = twilio_token
        # aiohttp, not httpx: httpcore's pool costs ~2.4 ms of CPU per request with dozens in flight, which
        # made this process, not the server under test, the bottleneck of the closed loop. Opened on first
        # use, inside the running loop.
        self._client: aiohttp.ClientSession | None = None

    @property
    def client(self) -> aiohttp.ClientSession:
        """The pooled session (up to 1,000 connections)."""
        if self._client is None:
            # Idle connections are dropped here after 3 s, before uvicorn drops them after 5 s: otherwise a
            # connection left idle between phases may be closed under a request (seen as ClientOSError).
            connector = aiohttp.TCPConnector(limit=1000, limit_per_host=1000, keepalive_timeout=3.0)
            self._client = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=30.0), cookie_jar=aiohttp.DummyCookieJar()
            )
        return self._client

    async def close(self) -> None:
        """Close connections."""
        if self._client is not None:
            await self._client.close()

    def build(self, patient: Patient, text: str) -> tuple[str, bytes, dict[str, str], str]:
        """(url, body, headers, provider id) of the webhook for this message."""
        if patient.channel == "sms":
            params = inbound_sms_params(patient.address, OUR_NUMBER, text, account_sid=self.sid)
            signature = twilio_signature(self.token, f"{PUBLIC}/twilio/sms", params)
            headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
            sid = dict(params)["MessageSid"]
            return f"{patient.server}/twilio/sms", urlencode(params).encode(), headers, sid
        update_id = next(_update_ids)
        update = text_update(update_id, int(patient.address), text)
        headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}
        return f"{patient.server}/telegram/webhook", json.dumps(update).encode(), headers, str(update_id)

    async def post(self, patient: Patient, text: str, sample: Sample) -> None:
        """Post; fill in the status and the time of the answer (0 if the connection failed)."""
        url, body, headers, provider_id = self.build(patient, text)
        sample.provider_id = provider_id
        sample.posted = time.perf_counter()
        for attempt in range(2):
            try:
                async with self.client.post(url, data=body, headers=headers) as response:
                    await response.read()
                    sample.status = response.status
                break
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                # A kept-alive connection the server closed while idle fails at once: post again on a fresh
                # one, as the providers do (the webhook is deduplicated by its provider id if it did land).
                if attempt == 0 and time.perf_counter() - sample.posted < STALE_CONNECTION_S:
                    sample.retried = True
                    continue
                sample.status, sample.failure = 0, self._failure(exc, sample)
            except (aiohttp.ClientError, TimeoutError) as exc:
                sample.status, sample.failure = 0, self._failure(exc, sample)
                break
        sample.acked = time.perf_counter()

    @staticmethod
    def _failure(exc: Exception, sample: Sample) -> str:
        return f" ({type(exc).__name__} after {time.perf_counter() - sample.posted:.1f} s)"


class Conversations:
    """Drives patients through SCRIPT, knowing how many replies each step brings per channel."""

    def __init__(
        self, hub: ReplyHub, sender: Sender, replies: dict[str, list[int]], script: Sequence[str] = SCRIPT
    ) -> None:
        self.hub = hub
        self.sender = sender
        self.replies = replies
        self.script = tuple(script)
        self.final: str | None = FINAL_REPLY if self.script == SCRIPT else None
        self.expected: dict[str, int] = {}

    async def step(self, patient: Patient, result: RunResult) -> Sample:
        """Send the patient's next message and wait for all its replies."""
        index = patient.step
        patient.step += 1
        wanted = self.expected.get(patient.key, self.hub.counts[patient.key]) + self.replies[patient.channel][index]
        self.expected[patient.key] = wanted
        sample = Sample(patient.number, index, patient.channel, 0.0)
        result.samples.append(sample)
        await self.sender.post(patient, self.script[index], sample)
        if sample.status != 200:
            result.errors.append(f"{patient.key} step {index}: HTTP {sample.status}{sample.failure}")
            return sample
        sample.replied = await self.hub.wait(patient.key, wanted, REPLY_TIMEOUT)
        if sample.replied is None:
            result.errors.append(f"{patient.key} step {index}: no reply in {REPLY_TIMEOUT:g} s")
        return sample

    def check_final(self, patients: Sequence[Patient], result: RunResult) -> None:
        """Every patient that finished the script got the last reply of the script."""
        if self.final is None:
            return
        for patient in patients:
            if patient.step == len(self.script) and self.hub.last_text.get(patient.key) != self.final:
                result.errors.append(f"{patient.key}: last reply {self.hub.last_text.get(patient.key)!r}")

    async def closed_loop(
        self, patients: Sequence[Patient], result: RunResult | None = None, concurrency: int = 0
    ) -> RunResult:
        """Every patient at once (or `concurrency` at a time), each sending its next message as soon as the
        previous one's replies are in. `result` fills while it runs (for the kill check)."""
        result = result if result is not None else RunResult()
        gate = asyncio.Semaphore(concurrency or len(patients) or 1)

        async def run(patient: Patient) -> None:
            async with gate:
                while patient.step < len(self.script):
                    sample = await self.step(patient, result)
                    if sample.replied is None:
                        return

        started = time.perf_counter()
        await asyncio.gather(*(run(p) for p in patients))
        result.wall = time.perf_counter() - started
        self.check_final(patients, result)
        return result

    async def open_loop(self, patients: Sequence[Patient], rate: float, limit: int = 0) -> RunResult:
        """Offer `rate` messages a second: at each arrival slot the longest-waiting ready patient (one whose
        previous replies are in) sends its next message. A slot with nobody ready is counted as missed."""
        result = RunResult()
        ready: asyncio.Queue[Patient] = asyncio.Queue()
        for patient in patients:
            ready.put_nowait(patient)
        total = len(patients) * len(self.script)
        total = min(total, limit) if limit else total  # at most `limit` messages (a fixed duration of offered load)
        tasks: set[asyncio.Task[None]] = set()

        async def one(patient: Patient) -> None:
            sample = await self.step(patient, result)
            if sample.replied is not None and patient.step < len(self.script):
                ready.put_nowait(patient)

        started = time.perf_counter()
        sent, slot = 0, 0
        while sent < total:
            target = started + slot / rate
            slot += 1
            delay = target - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if ready.empty():
                result.missed_slots += 1
                if not tasks and ready.empty():
                    break  # every remaining patient failed
                continue
            task = asyncio.create_task(one(ready.get_nowait()))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += 1
        if tasks:
            await asyncio.gather(*tasks)
        result.wall = time.perf_counter() - started
        self.check_final(patients, result)
        return result


async def calibrate(
    hub: ReplyHub, sender: Sender, patients: Sequence[Patient], settle: float = 0.6, script: Sequence[str] = SCRIPT
) -> dict[str, list[int]]:
    """Talk the script through once per channel, counting the replies of each step (a step is over when
    nothing more arrived for `settle` s)."""
    counts: dict[str, list[int]] = {}
    for patient in patients:
        per_step: list[int] = []
        for text in script:
            before = hub.counts[patient.key]
            sample = Sample(patient.number, patient.step, patient.channel, 0.0)
            await sender.post(patient, text, sample)
            if sample.status != 200:
                raise RuntimeError(f"calibration: {patient.key} got HTTP {sample.status} for {text!r}")
            if await hub.wait(patient.key, before + 1, 30.0) is None:
                raise RuntimeError(f"calibration: no reply to {text!r} on {patient.channel}")
            while True:
                seen = hub.counts[patient.key]
                await asyncio.sleep(settle)
                if hub.counts[patient.key] == seen:
                    break
            per_step.append(hub.counts[patient.key] - before)
            patient.step += 1
        if hub.last_text.get(patient.key) != FINAL_REPLY:
            raise RuntimeError(f"calibration on {patient.channel} ended with {hub.last_text.get(patient.key)!r}")
        counts[patient.channel] = per_step
    return counts
