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
