"""Memory: the resident size of a `trialbot serve` process over a database of 100,000 participants, after
it has carried 10,000 conversations that are still in progress."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from benchmarks.inbound import Harness, start_trialbot
from benchmarks.load import RunResult
from benchmarks.seed import Template, seed_participants
from storage.database import Database

OPENING = 2  # messages each new patient sends: "Hi", "yes" (then the prescreen waits for "yes" to start)


async def memory(
    h: Harness, kind: str, database_url: str, participants: int, in_progress: int, driven: int, template: Template
) -> dict[str, Any]:
    """Seed `participants - driven` participants in bulk (`in_progress - driven` of them mid-prescreen), start
    the server, then open `driven` new conversations through its webhooks; RSS before and after."""
    database = Database(database_url)
    try:
        started = time.perf_counter()
        seed_participants(
            database,
            template,
            participants - driven,
            in_progress=in_progress - driven,
            with_history=True,
            address_base=1_800_000_000,
        )
        seeded = time.perf_counter() - started
    finally:
        database.dispose()
    proc = await start_trialbot(h.providers, database_url, f"memory-{kind}")
    try:
        await asyncio.sleep(1.0)
        idle = proc.rss_mb()
        await h.calibrate("trialbot", proc.url, ("sms", "telegram"))
        driver = h.conversations("trialbot")
        driver.script, driver.final = driver.script[:OPENING], None
        run = RunResult()
        started = time.perf_counter()
        await driver.closed_loop(h.patients(driven, [proc.url]), run, concurrency=100)
        took = time.perf_counter() - started
        await asyncio.sleep(1.0)
        after = proc.rss_mb()
        h.providers.forget()
        return {
            "backend": kind,
            "participants": participants,
            "in_progress": in_progress,
            "opened_through_webhooks": driven,
            "seeded_in_bulk": participants - driven,
            "setup_s": round(seeded, 1),
            "drive_s": round(took, 1),
            "rss_idle_mb": round(idle, 1),
            "rss_after_mb": round(after, 1),
            "peak_rss_mb": round(proc.peak_rss_mb(), 1),
            "errors": run.errors[:5],
            "error_count": len(run.errors),
        }
    finally:
        proc.stop()
