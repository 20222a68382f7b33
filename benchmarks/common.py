"""What the benchmarks share: processes and their memory, databases, ports, waiting and percentiles."""

from __future__ import annotations

import contextlib
import faulthandler
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
TRIALBOT = str(Path(sys.executable).with_name("trialbot"))
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_TEMPLATE = "bench_template"
PG_DB = os.environ.get("BENCH_PG_DB", "bench")
# Each run has its own folder: a server left over from another run must not find this run's SQLite files.
WORK = Path(tempfile.gettempdir()) / "trialbot-bench" / f"run-{os.getpid()}"

# What the providers see: the public URL Twilio signs over, our number, the Telegram webhook secret.
PUBLIC = "https://trialbot.example.org"
OUR_NUMBER = "+15550100199"
SECRET = "bench_Secret-token_0123456789"  # noqa: S105 (the fake Telegram webhook secret, not a credential)


def free_port() -> int:
    """A TCP port free right now on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: Sequence[float]) -> float:
    """The median (NaN for none)."""
    return percentile(values, 50)


# -- processes ---------------------------------------------------------------------------------


def _status_kb(pid: int, key: str) -> int:
    """A `VmHWM`/`VmRSS` line of /proc/PID/status in kB (0 if the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc/PID/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Proc:
    """A child process we started, with its memory and CPU readings."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    url: str = ""
    cpu_start: float = 0.0
    peak_kb: int = field(default=0)

    @property
    def pid(self) -> int:
        """The process id."""
        return self.popen.pid

    def rss_mb(self) -> float:
        """Resident memory now, in MB."""
        return _status_kb(self.pid, "VmRSS") / 1024

    def peak_rss_mb(self) -> float:
        """The kernel's high-water mark of resident memory (VmHWM), in MB; kept after the process ends."""
        self.peak_kb = max(self.peak_kb, _status_kb(self.pid, "VmHWM"))
        return self.peak_kb / 1024

    def cpu(self) -> float:
        """CPU seconds used since `mark_cpu`."""
        return cpu_seconds(self.pid) - self.cpu_start

    def mark_cpu(self) -> None:
        """Start counting CPU from now."""
        self.cpu_start = cpu_seconds(self.pid)

    def alive(self) -> bool:
        """True while it runs."""
        return self.popen.poll() is None

    def kill9(self) -> None:
        """SIGKILL it and reap it."""
        self.peak_rss_mb()
        with contextlib.suppress(ProcessLookupError):
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(10)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (uvicorn finishes what it is doing), then SIGKILL if it does not end."""
        if not self.alive():
            return
        self.peak_rss_mb()
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()

    def tail(self, lines: int = 20) -> str:
        """The end of its log."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


_spawned: list[Proc] = []


def reap_all() -> None:
    """SIGKILL every child this run started that still runs (after a failure, nothing may be left behind)."""
    for proc in _spawned:
        if proc.alive():
            proc.kill9()


def spawn(name: str, argv: list[str], env: dict[str, str], cwd: Path | None = None) -> Proc:
    """Start a child process with stdout and stderr in WORK/<name>.log, in its own process group."""
    WORK.mkdir(parents=True, exist_ok=True)
    log = WORK / f"{name}.log"
    handle = log.open("wb")
    popen = subprocess.Popen(  # noqa: S603 (argv is built here from this interpreter and fixed options)
        argv, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=cwd or WORK, start_new_session=True
    )
    handle.close()
    proc = Proc(name, popen, log)
    _spawned.append(proc)
    return proc


def wait_healthy(proc: Proc, url: str, timeout: float = 30.0) -> float:
    """Poll `url`/healthz until it answers 200; return the seconds it took. Raises if the process dies."""
    started = time.monotonic()
    with httpx.Client(timeout=2.0) as client:
        while True:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if client.get(f"{url}/healthz").status_code == 200:
                    return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"{proc.name} not healthy after {timeout} s:\n{proc.tail()}")
            time.sleep(0.01)


def clean_env() -> dict[str, str]:
    """This environment without any trialbot, Twilio or Telegram settings."""
    prefixes = ("TRIALBOT_", "TWILIO_", "TELEGRAM_")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


# -- databases ---------------------------------------------------------------------------------


def pg_available() -> bool:
    """True if the PostgreSQL admin URL answers."""
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_ADMIN.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
    finally:
        engine.dispose()


def _pg_admin(*statements: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_ADMIN.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            for statement in statements:
                connection.execute(text(statement))
    finally:
        engine.dispose()


def pg_url(name: str = PG_DB) -> str:
    """The URL of a benchmark database on the server of PG_ADMIN."""
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


def _migrated(url: str) -> None:
    from storage.database import Database
    from storage.migrate import ensure_current

    database = Database(url)
    try:
        ensure_current(database)
    finally:
        database.dispose()


_templates: set[str] = set()


def fresh_database(kind: str, name: str = "") -> str:
    """An empty, migrated database of `kind` ("sqlite" or "postgresql"), made from a template migrated once
    per run (creating from a template takes milliseconds; migrating takes seconds)."""
    if kind == "sqlite":
        template = WORK / "template.db"
        if "sqlite" not in _templates:
            WORK.mkdir(parents=True, exist_ok=True)
            for suffix in ("", "-wal", "-shm"):
                Path(f"{template}{suffix}").unlink(missing_ok=True)
            _migrated(f"sqlite:///{template}")
            _templates.add("sqlite")
        target = WORK / f"{name or 'bench'}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(template, target)
        return f"sqlite:///{target}"
    database = name or PG_DB
    if "postgresql" not in _templates:
        _pg_admin(f'DROP DATABASE IF EXISTS "{PG_TEMPLATE}" WITH (FORCE)', f'CREATE DATABASE "{PG_TEMPLATE}"')
        _migrated(pg_url(PG_TEMPLATE))
        _templates.add("postgresql")
    _pg_admin(
        f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)', f'CREATE DATABASE "{database}" TEMPLATE "{PG_TEMPLATE}"'
    )
    return pg_url(database)


def cleanup(keep: bool) -> None:
    """Drop this run's PostgreSQL databases; remove WORK (logs and SQLite files) unless `keep`."""
    if "postgresql" in _templates:
        with contextlib.suppress(Exception):
            _pg_admin(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)', f'DROP DATABASE IF EXISTS "{PG_TEMPLATE}"')
    if not keep:
        shutil.rmtree(WORK, ignore_errors=True)


@contextlib.contextmanager
def timer() -> Iterator[list[float]]:
    """`with timer() as t: ...` then t[0] is the elapsed seconds."""
    out: list[float] = []
    started = time.perf_counter()
    try:
        yield out
    finally:
        out.append(time.perf_counter() - started)


def cpu_count() -> int:
    """CPUs this process may use."""
    return len(os.sched_getaffinity(0))


def load_avg() -> list[float]:
    """The 1, 5 and 15 minute load averages (other people's work counts too)."""
    return [round(x, 2) for x in os.getloadavg()]


class Watchdog:
    """A thread that notices a run making no progress for `after` s (a stall, not slowness) and then
    dumps every thread's stack: the harness's into WORK/stall-harness.txt, and each trialbot process's
    into its log (benchmarks.serve_app registers SIGUSR1 with faulthandler)."""

    def __init__(self, progress: Callable[[], int], pids: Sequence[int], after: float = 20.0) -> None:
        self.progress = progress
        self.pids = list(pids)
        self.after = after
        self.stalls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> Watchdog:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _watch(self) -> None:
        last, since = self.progress(), time.monotonic()
        while not self._stop.wait(1.0):
            now = self.progress()
            if now != last:
                last, since = now, time.monotonic()
                continue
            if time.monotonic() - since >= self.after:
                self.stalls += 1
                with (WORK / "stall-harness.txt").open("a") as out:
                    out.write(f"--- stall {self.stalls} at {time.strftime('%H:%M:%S')}, progress {now}\n")
                    faulthandler.dump_traceback(out, all_threads=True)
                for pid in self.pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGUSR1)
                since = time.monotonic()
