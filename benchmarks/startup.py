"""Cold start: process start to `/healthz` answering 200 for `trialbot serve`, and the bare import and
`--help` times that bound it; medians of several runs."""

from __future__ import annotations

import subprocess
import time
from typing import Any

from benchmarks.common import PYTHON, ROOT, TRIALBOT, WORK, free_port, median, spawn, wait_healthy
from benchmarks.inbound import trialbot_env
from benchmarks.providers import Providers


def _timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, cwd=ROOT, check=True, capture_output=True)  # noqa: S603 (our own argv)
    return time.perf_counter() - started


def _serve(env: dict[str, str], name: str) -> float:
    port = free_port()
    started = time.perf_counter()
    proc = spawn(name, [TRIALBOT, "serve", "--port", str(port)], env, cwd=ROOT)
    try:
        wait_healthy(proc, f"http://127.0.0.1:{port}", 60.0)
        return time.perf_counter() - started
    finally:
        proc.stop()


def cold_start(providers: Providers, database_url: str, runs: int, small_runs: int) -> dict[str, Any]:
    """`runs` starts of `trialbot serve` to healthy as this environment has it; `small_runs` with a bytecode
    cache (PYTHONDONTWRITEBYTECODE unset, caches under PYTHONPYCACHEPREFIX, warmed once), and of
    `python -c "import bot.cli"`, `trialbot --help` and a bare interpreter."""
    env = trialbot_env(providers, database_url)
    cached = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cached["PYTHONPYCACHEPREFIX"] = str(WORK / "pycache")
    serve = [_serve(env, f"coldstart-{n}") for n in range(runs)]
    _serve(cached, "coldstart-warm")
    serve_cached = [_serve(cached, f"coldstart-cached-{n}") for n in range(small_runs)]
    imports = [_timed([PYTHON, "-c", "import bot.cli"], env) for _ in range(small_runs)]
    helps = [_timed([TRIALBOT, "--help"], env) for _ in range(small_runs)]
    python = [_timed([PYTHON, "-c", "pass"], env) for _ in range(small_runs)]
    return {
        "runs": runs,
        "dont_write_bytecode": env.get("PYTHONDONTWRITEBYTECODE", ""),
        "serve_to_healthy_s": round(median(serve), 3),
        "serve_all_s": [round(x, 3) for x in serve],
        "serve_to_healthy_cached_s": round(median(serve_cached), 3),
        "import_bot_cli_s": round(median(imports), 3),
        "trialbot_help_s": round(median(helps), 3),
        "bare_python_s": round(median(python), 3),
    }
