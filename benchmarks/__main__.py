"""`uv run python -m benchmarks [--quick] [--only NAME[,NAME]] [--json FILE]`: run, print a table, write JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import common
from benchmarks.report import render, targets

NAMES = ("inbound", "baseline", "scale", "scheduler", "memory", "coldstart", "kill")


@dataclass(frozen=True)
class Plan:
    """How big each benchmark is."""

    patients: int  # per inbound run (closed loop, then as many again in the open loop)
    flush_conversations: int  # open conversations at the baseline's persistence flush
    scale: tuple[tuple[str, int], ...]  # (backend, open conversations) for the scale runs
    plan_visits: int  # visits actually booked through import_csv (extrapolated to 100,000)
    sweep_due: int
    sweep_backends: tuple[str, ...]
    memory_participants: int
    memory_in_progress: int
    memory_driven: int  # of the in-progress ones, how many opened through the webhooks (the rest in bulk)
    coldstart_runs: int
    kill_patients: int
    kill_after: int  # acknowledged messages before the SIGKILL
    extra_inbound: bool  # also PostgreSQL with 2 processes, and SQLite with Telegram pacing on


QUICK = Plan(
    patients=20,
    flush_conversations=1000,
    scale=(("sqlite", 10_000),),
    plan_visits=100,
    sweep_due=100_000,
    sweep_backends=("sqlite",),
    memory_participants=100_000,
    memory_in_progress=10_000,
    memory_driven=100,
    coldstart_runs=5,
    kill_patients=20,
    kill_after=80,
    extra_inbound=False,
)
FULL = Plan(
    patients=500,
    flush_conversations=2000,
    scale=(("sqlite", 10_000), ("sqlite", 100_000), ("postgresql", 100_000)),
    plan_visits=1000,
    sweep_due=100_000,
    sweep_backends=("sqlite", "postgresql"),
    memory_participants=100_000,
    memory_in_progress=10_000,
    memory_driven=2000,
    coldstart_runs=5,
    kill_patients=200,
    kill_after=1000,
    extra_inbound=True,
)


async def run(plan: Plan, only: set[str], pg: bool, save: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Run the chosen benchmarks; a failing one is recorded and the others go on. `save` gets the results so
    far after each one (so a long run that dies still leaves its figures)."""
    from benchmarks import durability, inbound, memory, scheduling, startup
    from benchmarks.seed import make_template

    results: dict[str, Any] = {}
    backends = ["sqlite", *(["postgresql"] if pg else [])]

    async def guarded(name: str, work: Callable[[], Awaitable[Any]]) -> None:
        started = time.perf_counter()
        print(f"[{time.strftime('%H:%M:%S')}] {name} ...", file=sys.stderr, flush=True)
        try:
            results[name] = await work()
        except Exception as exc:
            traceback.print_exc()
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
        save(results)
        print(
            f"[{time.strftime('%H:%M:%S')}] {name} done in {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
            flush=True,
        )

    # The short, single-process measurements first, on a machine not yet busy with what the long runs leave
    # behind (PostgreSQL vacuuming and checkpointing the bulk-loaded databases).
    if "scheduler" in only:

        async def scheduler_runs() -> dict[str, Any]:
            out: dict[str, Any] = {"plan": [], "sweep": []}
            for kind in plan.sweep_backends:
                if kind in backends:
                    out["sweep"].append(await asyncio.to_thread(scheduling.sweep, kind, plan.sweep_due))
            for kind in plan.sweep_backends:
                if kind in backends:
                    out["plan"].append(
                        await asyncio.to_thread(scheduling.plan_reminders, kind, 100_000, plan.plan_visits)
                    )
            return out

        await guarded("scheduler", scheduler_runs)
    async with inbound.harness() as h:
        if "coldstart" in only:

            async def coldstart_run() -> dict[str, Any]:
                url = common.fresh_database("sqlite", "coldstart")
                return await asyncio.to_thread(
                    startup.cold_start,
                    h.providers,
                    url,
                    plan.coldstart_runs,
                    3 if plan is QUICK else plan.coldstart_runs,
                )

            await guarded("coldstart", coldstart_run)
        if "inbound" in only:

            async def inbound_runs() -> list[dict[str, Any]]:
                runs = [await inbound.trialbot_inbound(h, common.fresh_database("sqlite"), "sqlite", plan.patients)]
                if pg:
                    runs.append(
                        await inbound.trialbot_inbound(
                            h, common.fresh_database("postgresql"), "postgresql", plan.patients
                        )
                    )
                if pg and plan.extra_inbound:
                    runs.append(
                        await inbound.trialbot_inbound(
                            h, common.fresh_database("postgresql"), "postgresql x2", plan.patients, workers=2
                        )
                    )
                if plan.extra_inbound:
                    runs.append(
                        await inbound.trialbot_inbound(
                            h, common.fresh_database("sqlite"), "sqlite, paced", min(plan.patients, 50), paced=True
                        )
                    )
                return runs

            await guarded("inbound", inbound_runs)
        if "baseline" in only:
            await guarded("baseline", lambda: inbound.baseline_inbound(h, plan.patients, plan.flush_conversations))
        if "scale" in only:

            async def scale_runs() -> list[dict[str, Any]]:
                out = []
                for kind, size in plan.scale:
                    if kind not in backends:
                        continue
                    url = common.fresh_database(kind)
                    template = await asyncio.to_thread(make_template, url)
                    out.append(await inbound.trialbot_scale(h, kind, url, size, plan.patients, template))
                return out

            await guarded("scale", scale_runs)
        if "kill" in only:

            async def kill_runs() -> list[dict[str, Any]]:
                out = []
                for kind in backends:
                    url = common.fresh_database(kind)
                    out.append(await durability.kill_check(h, kind, url, plan.kill_patients, plan.kill_after))
                return out

            await guarded("kill", kill_runs)
        if "memory" in only:

            async def memory_run() -> dict[str, Any]:
                url = common.fresh_database("sqlite")
                template = await asyncio.to_thread(make_template, url)
                return await memory.memory(
                    h, "sqlite", url, plan.memory_participants, plan.memory_in_progress, plan.memory_driven, template
                )

            await guarded("memory", memory_run)
    return results


def main() -> None:
    """Parse the options, run, print the table, write the JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (about 2 minutes)")
    parser.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(NAMES)}")
    parser.add_argument("--json", type=Path, default=Path(__file__).with_name("results.json"), help="output file")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--patients", type=int, default=0, help="patients per inbound run (overrides the plan's)")
    parser.add_argument("--keep", action="store_true", help=f"keep the logs and SQLite files (in {common.WORK})")
    args = parser.parse_args()
    only = {n.strip() for n in args.only.split(",") if n.strip()} or set(NAMES)
    unknown = only - set(NAMES)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))} (choose from {', '.join(NAMES)})")
    plan = QUICK if args.quick else FULL
    if args.patients > 0:
        plan = replace(plan, patients=args.patients)
    pg = not args.no_postgres and common.pg_available()
    if not pg and not args.no_postgres:
        print(f"PostgreSQL not reachable at {common.PG_ADMIN}: SQLite only", file=sys.stderr)
    started = time.perf_counter()

    def document(results: dict[str, Any], partial: bool) -> dict[str, Any]:
        machine = {"cpus": common.cpu_count(), "python": platform.python_version(), "load_avg": common.load_avg()}
        return {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "mode": "quick" if args.quick else "full",
            "partial": partial,
            "plan": asdict(plan),
            "machine": machine,
            "postgres": pg,
            "wall_s": round(time.perf_counter() - started, 1),
            "results": results,
            "targets": targets(results),
        }

    def save(results: dict[str, Any], partial: bool = True) -> dict[str, Any]:
        made = document(results, partial)
        args.json.write_text(json.dumps(made, indent=2, default=str) + "\n")
        return made

    try:
        results = asyncio.run(run(plan, only, pg, save))
    finally:
        common.reap_all()
        common.cleanup(args.keep)
    took = time.perf_counter() - started
    print(render(save(results, partial=False)))
    print(f"\nwrote {args.json} ({took / 60:.1f} min)")


if __name__ == "__main__":
    main()
