"""Inbound figures: trialbot (`trialbot serve` processes) and the PTB baseline under the same load."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from benchmarks.common import (
    OUR_NUMBER,
    PUBLIC,
    PYTHON,
    ROOT,
    SECRET,
    WORK,
    Proc,
    Watchdog,
    clean_env,
    free_port,
    spawn,
    wait_healthy,
)
from benchmarks.load import Conversations, Patient, RunResult, Sender, calibrate, make_patients
from benchmarks.providers import Providers

RATE = 100.0  # offered load of the latency runs, messages a second
OPEN_LOOP_LIMIT = 3000  # messages: 30 s of offered load at RATE


@dataclass
class Harness:
    """The fake providers, the webhook sender and the per-channel reply counts, shared by every run."""

    providers: Providers
    sender: Sender
    replies: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # per kind of server
    next_patient: int = 1

    def patients(
        self, count: int, servers: Sequence[str], channels: Sequence[str] = ("sms", "telegram")
    ) -> list[Patient]:
        """Fresh patients (never seen by any server in this run)."""
        made = make_patients(count, servers, channels, first=self.next_patient)
        self.next_patient += count
        return made

    def conversations(self, kind: str) -> Conversations:
        """A driver using the reply counts calibrated for this kind of server."""
        return Conversations(self.providers.hub, self.sender, self.replies[kind])

    async def calibrate(self, kind: str, server: str, channels: Sequence[str]) -> None:
        """Count the replies of each step once for this kind of server."""
        if kind not in self.replies:
            self.replies[kind] = await calibrate(
                self.providers.hub, self.sender, self.patients(len(channels), [server], channels), settle=0.4
            )


@contextlib.asynccontextmanager
async def harness() -> AsyncIterator[Harness]:
    """Start the fake providers in this loop."""
    providers = Providers()
    await providers.start()
    sender = Sender(providers.twilio.account_sid, providers.twilio.auth_token)
    try:
        yield Harness(providers, sender)
    finally:
        await sender.close()
        await providers.stop()


def trialbot_env(providers: Providers, database_url: str) -> dict[str, str]:
    """The environment `trialbot serve` reads: both channels pointed at the fakes."""
    return clean_env() | {
        "TRIALBOT_DATABASE_URL": database_url,
        "TRIALBOT_PUBLIC_URL": PUBLIC,
        "TWILIO_ACCOUNT_SID": providers.twilio.account_sid,
        "TWILIO_AUTH_TOKEN": providers.twilio.auth_token,
        "TWILIO_FROM_NUMBER": OUR_NUMBER,
        "TWILIO_API_URL": providers.twilio_url,
        "TELEGRAM_BOT_TOKEN": providers.telegram.token,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "TELEGRAM_API_URL": providers.telegram_url,
    }


async def start_trialbot(
    providers: Providers,
    database_url: str,
    name: str,
    *,
    paced: bool = False,
    sweeper: bool = True,
    env: dict[str, str] | None = None,
) -> Proc:
    """One `trialbot serve` process on a free port (through benchmarks.serve_app, which can turn off the
    Telegram pacing), healthy when this returns."""
    port = free_port()
    argv = [PYTHON, "-m", "benchmarks.serve_app", *([] if paced else ["--no-pacing"]), "--", "--port", str(port)]
    if not sweeper:
        argv.append("--no-worker")
    proc = spawn(name, argv, trialbot_env(providers, database_url) | (env or {}), cwd=ROOT)
    proc.url = f"http://127.0.0.1:{port}"
    await asyncio.to_thread(wait_healthy, proc, proc.url, 60.0)
    return proc


async def start_baseline(providers: Providers, name: str = "baseline") -> Proc:
    """The PTB baseline bot on a free port, healthy when this returns."""
    port = free_port()
    pickle = WORK / f"{name}.pickle"
    pickle.unlink(missing_ok=True)
    argv = [
        PYTHON,
        "-m",
        "benchmarks.baseline_ptb",
        "--port",
        str(port),
        "--api-url",
        providers.telegram_url,
        "--token",
        providers.telegram.token,
        "--secret",
        SECRET,
        "--pickle",
        str(pickle),
    ]
    proc = spawn(name, argv, clean_env(), cwd=ROOT)
    proc.url = f"http://127.0.0.1:{port}"
    await asyncio.to_thread(wait_healthy, proc, proc.url, 60.0)
    return proc


async def measure(
    h: Harness, kind: str, procs: Sequence[Proc], patients: int, channels: Sequence[str]
) -> dict[str, Any]:
    """Closed loop with `patients` patients (throughput), then the open loop at RATE with as many new ones
    (latency); with the servers' peak RSS and CPU."""
    servers = [p.url for p in procs]
    await h.calibrate(kind, servers[0], channels)
    driver = h.conversations(kind)
    for proc in procs:
        proc.mark_cpu()
    harness_cpu = time.process_time()
    watched = [p.pid for p in procs] if kind == "trialbot" else []
    with Watchdog(lambda: h.providers.hub.total, watched) as watchdog:
        closed = await driver.closed_loop(h.patients(patients, servers, channels))
        closed_cpu = sum(p.cpu() for p in procs)
        await asyncio.sleep(0.5)
        opened = await driver.open_loop(h.patients(patients, servers, channels), RATE, OPEN_LOOP_LIMIT)
    harness_cpu = time.process_time() - harness_cpu
    h.providers.forget()
    return {
        "saturation": closed.summary(),
        "at_100_per_s": opened.summary() | {"offered_per_s": RATE},
        "server_cpu_s_closed_loop": round(closed_cpu, 1),
        "harness_cpu_s": round(harness_cpu, 1),
        "peak_rss_mb": [round(p.peak_rss_mb(), 1) for p in procs],
        "stalls": watchdog.stalls,
    }


async def trialbot_inbound(
    h: Harness, backend_url: str, label: str, patients: int, workers: int = 1, paced: bool = False
) -> dict[str, Any]:
    """Start `workers` serve processes on one database, measure, stop them."""
    procs: list[Proc] = []
    try:
        for n in range(workers):
            procs.append(
                await start_trialbot(h.providers, backend_url, f"{label}-{n + 1}", paced=paced, sweeper=n == 0)
            )
        result = await measure(h, "trialbot", procs, patients, ("sms", "telegram"))
    finally:
        for proc in procs:
            proc.stop()
    return {"config": label, "workers": workers, "paced": paced} | result


async def baseline_inbound(h: Harness, patients: int, flush_conversations: int) -> dict[str, Any]:
    """The PTB baseline: same load (Telegram only: it has no SMS), then one persistence flush with
    `flush_conversations` conversations opened since the last one."""
    proc = await start_baseline(h.providers)
    try:
        result = await measure(h, "baseline", [proc], patients, ("telegram",))
        # Open conversations: new patients each send their first message (the disclosure state).
        driver = h.conversations("baseline")
        openers = h.patients(flush_conversations, [proc.url], ("telegram",))
        run = RunResult()
        gate = asyncio.Semaphore(64)

        async def first(patient: Patient) -> None:
            async with gate:
                await driver.step(patient, run)

        await asyncio.gather(*(first(p) for p in openers))
        async with httpx.AsyncClient(timeout=600) as client:
            flush = (await client.post(f"{proc.url}/bench/flush")).json()
        result["flush"] = {
            "open_conversations": flush_conversations,
            "seconds": round(flush["seconds"], 3),
            "conversation_keys": flush["conversations"],
            "pickle_bytes": flush["pickle_bytes"],
            "errors": run.errors[:5],
        }
        result["peak_rss_mb"] = [round(proc.peak_rss_mb(), 1)]
        h.providers.forget()
    finally:
        proc.stop()
    return {"config": "baseline PTB (Telegram only, PicklePersistence)", "workers": 1, "paced": False} | result


async def trialbot_scale(
    h: Harness, kind: str, database_url: str, open_conversations: int, patients: int, template: Any
) -> dict[str, Any]:
    """Throughput (closed loop) with `open_conversations` other conversations in progress in the database,
    each with its messages and audit trail (copied in bulk from a real one)."""
    from benchmarks.seed import seed_participants
    from storage.database import Database

    database = Database(database_url)
    try:
        started = time.perf_counter()
        seed_participants(database, template, open_conversations, in_progress=open_conversations, with_history=True)
        seeded = time.perf_counter() - started
    finally:
        database.dispose()
    proc = await start_trialbot(h.providers, database_url, f"scale-{kind}-{open_conversations}")
    try:
        await h.calibrate("trialbot", proc.url, ("sms", "telegram"))
        proc.mark_cpu()
        closed = await h.conversations("trialbot").closed_loop(h.patients(patients, [proc.url]))
        h.providers.forget()
        return {
            "backend": kind,
            "open_conversations": open_conversations,
            "setup_s": round(seeded, 1),
            "saturation": closed.summary(),
            "server_cpu_s": round(proc.cpu(), 1),
            "peak_rss_mb": round(proc.peak_rss_mb(), 1),
        }
    finally:
        proc.stop()
