"""`--chart FILE.png` draws a real PNG for every report; matplotlib loads only then."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reports.conftest import cli

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (the first one, right after the signature)."""
    assert data[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR"
    assert length == 13
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.parametrize("name", ["funnel", "retention", "escalations", "engagement"])
def test_each_report_draws_a_png(small_study: str, tmp_path: Path, name: str) -> None:
    chart = tmp_path / f"{name}.png"
    result = cli(small_study, "report", name, "--chart", str(chart))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(("Recruitment funnel", "Retention", "Escalations", "Engagement"))
    assert result.stderr.strip() == f"chart written to {chart}"
    data = chart.read_bytes()
    width, height = png_size(data)
    assert 400 <= width <= 4000, width
    assert 300 <= height <= 4000, height
    assert 5_000 <= len(data) <= 2_000_000, len(data)


def test_an_empty_database_still_draws_every_chart(sqlite_url: str, tmp_path: Path) -> None:
    for name in ("funnel", "retention", "escalations", "engagement"):
        chart = tmp_path / f"{name}.png"
        assert cli(sqlite_url, "report", name, "--chart", str(chart)).exit_code == 0
        assert png_size(chart.read_bytes()) >= (400, 300)


def test_matplotlib_is_not_imported_without_a_chart(sqlite_url: str) -> None:
    code = (
        "import sys; from click.testing import CliRunner; from bot.cli import main; "
        f"r = CliRunner().invoke(main, ['report', 'funnel', '--db', {sqlite_url!r}]); "
        "assert r.exit_code == 0, r.output; print('matplotlib' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "False"
