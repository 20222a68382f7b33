"""Process-wide settings of the long-running commands."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from bot.runtime import limit_malloc_arenas


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_malloc_arenas_are_capped_on_glibc() -> None:
    # In a child process: the cap is process-wide and this test process has its threads already.
    code = "from bot.runtime import limit_malloc_arenas; print(limit_malloc_arenas(2))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "True"


def test_without_glibc_the_cap_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.runtime.sys.platform", "darwin")
    assert limit_malloc_arenas() is False


def test_start_up_objects_are_frozen_so_full_collections_skip_them() -> None:
    # In a child process: freezing is process-wide. A full collection there must walk far fewer objects.
    code = (
        "import gc, time\n"
        "from bot.bootstrap import build_app\n"
        "app = build_app('sqlite://')\n"
        "from bot.runtime import freeze_startup_objects\n"
        "frozen = freeze_startup_objects()\n"
        "print(frozen, len(gc.get_objects()), gc.get_freeze_count() == frozen)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    frozen, tracked, same = done.stdout.split()
    assert int(frozen) > 100_000, "the modules, the study and the flows"
    assert int(tracked) < int(frozen) // 10, "what a full collection still walks"
    assert same == "True"
