"""The SIGKILL check: kill -9 `trialbot serve` mid-load, restart it, and count acknowledged messages that
were lost (no stored inbound row) or left unanswered (no reply sent) once the restarted server settles."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import func, select

from benchmarks.inbound import Harness, start_trialbot
from benchmarks.load import RunResult
from storage.database import Database
from storage.repositories import inbound_t, outbox_t

LEASE = "5"  # seconds: a send claimed when the process died is retried after this (default 60)


def _pending(database: Database) -> tuple[int, int]:
    with database.read() as connection:
        waiting = connection.execute(
            select(func.count()).select_from(inbound_t).where(inbound_t.c.status == "pending")
        ).scalar_one()
        unsent = connection.execute(
            select(func.count()).select_from(outbox_t).where(outbox_t.c.status.in_(["pending", "sending"]))
        ).scalar_one()
    return int(waiting), int(unsent)


async def kill_check(h: Harness, kind: str, database_url: str, patients: int, kill_after: int) -> dict[str, Any]:
    """Load `patients` patients in a closed loop, SIGKILL the server after `kill_after` acknowledged messages,
    restart it, wait until it settles, and check every acknowledged message."""
    lease = {"TRIALBOT_SEND_LEASE_SECONDS": LEASE}
    proc = await start_trialbot(h.providers, database_url, f"kill-{kind}-1", env=lease)
    run = RunResult()
    try:
        await h.calibrate("trialbot", proc.url, ("sms", "telegram"))
        driver = h.conversations("trialbot")
        task = asyncio.create_task(driver.closed_loop(h.patients(patients, [proc.url]), run))
        started = time.perf_counter()
        while sum(1 for s in run.samples if s.status == 200) < kill_after and not task.done():
            if time.perf_counter() - started > 120:
                break
            await asyncio.sleep(0.005)
    finally:
        proc.kill9()
    killed_at = time.perf_counter() - started
    await asyncio.sleep(0.5)  # let the posts in flight fail
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    acked = [s for s in run.samples if s.status == 200]
    failed = [s for s in run.samples if s.status != 200]
    restarted = await start_trialbot(h.providers, database_url, f"kill-{kind}-2", env=lease)
    database = Database(database_url)
    try:
        deadline = time.perf_counter() + 90
        settled = False
        while time.perf_counter() < deadline:
            if _pending(database) == (0, 0):
                settled = True
                break
            await asyncio.sleep(0.2)
        settle_s = time.perf_counter() - started - killed_at
        lost, unanswered = [], []
        with database.read() as connection:
            for sample in acked:
                row = connection.execute(
                    select(inbound_t.c.id, inbound_t.c.status).where(
                        inbound_t.c.channel == sample.channel,
                        inbound_t.c.provider_message_id == sample.provider_id,
                    )
                ).first()
                if row is None:
                    lost.append(sample.provider_id)
                    continue
                sent = connection.execute(
                    select(func.count())
                    .select_from(outbox_t)
                    .where(outbox_t.c.inbound_id == row.id, outbox_t.c.status.in_(["sent", "delivered"]))
                ).scalar_one()
                if row.status != "processed" or not sent:
                    unanswered.append(sample.provider_id)
            flagged = connection.execute(
                select(func.count()).select_from(outbox_t).where(outbox_t.c.possible_duplicate)
            ).scalar_one()
    finally:
        database.dispose()
        restarted.stop()
        h.providers.forget()
    return {
        "backend": kind,
        "killed_after_s": round(killed_at, 2),
        "acknowledged": len(acked),
        "not_acknowledged": len(failed),
        "lost_inbound": len(lost),
        "unanswered": len(unanswered),
        "settled": settled,
        "settle_s": round(settle_s, 1),
        "possible_duplicates_flagged": int(flagged),
        "examples": (lost + unanswered)[:5],
    }
