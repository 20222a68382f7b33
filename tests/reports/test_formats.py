"""`trialbot report ...`: the table, CSV and JSON formats, --json, --since, and bad input."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest

from tests.reports.conftest import cli

REPORTS = ("funnel", "retention", "escalations", "engagement")
HEADER = ["report", "metric", "numerator", "denominator", "value", "unit", "definition"]
METRIC_KEYS = {"numerator", "denominator", "value", "unit", "definition"}
# The metrics every report has, whatever the data (the demo study's criteria and the three severities).
STABLE = {
    "funnel": [
        "first_contacts", "agreed_to_texts", "prescreens_started", "prescreens_completed", "pass_rate",
        "screen_fail_rate", "screen_fail_rate.INC-01-AGE", "screen_fail_rate.INC-02-T2D",
        "screen_fail_rate.EXC-01-INSULIN", "screen_fail_rate.INC-03-DURATION", "needs_review",
        "consent_check_completed", "referred_to_site", "recontact_permission_rate", "opt_outs",
        "median_hours_to_prescreen_complete", "median_hours_prescreen_to_referral",
    ],
    "retention": [
        "participants_enrolled", "visits", "visits_due", "visit_adherence", "visits_missed",
        "reminder_confirmation_rate", "dropout", "dropout.asked_to_leave", "dropout.opted_out",
    ],
    "escalations": [
        "escalations", "escalations.urgent", "escalations.high", "escalations.normal",
        "median_minutes_to_acknowledge", "p90_minutes_to_acknowledge",
        "median_minutes_to_acknowledge.urgent", "p90_minutes_to_acknowledge.urgent",
        "median_minutes_to_acknowledge.high", "p90_minutes_to_acknowledge.high",
        "median_minutes_to_acknowledge.normal", "p90_minutes_to_acknowledge.normal",
        "sla_breaches", "sla_breaches.urgent", "sla_breaches.high", "sla_breaches.normal", "open_now",
        "unresolved_now",
    ],
    "engagement": [
        "checkin_response_rate", "median_minutes_to_reply", "p90_minutes_to_reply", "messages_in", "messages_out",
        "opt_outs",
    ],
}  # fmt: skip


def _json(url: str, name: str, *extra: str) -> dict[str, object]:
    result = cli(url, "report", name, "--format", "json", *extra)
    assert result.exit_code == 0, result.output
    figures: dict[str, object] = json.loads(result.stdout)
    return figures


@pytest.mark.parametrize("name", REPORTS)
def test_json_has_stable_keys_and_every_metric_its_fields(small_study: str, name: str) -> None:
    figures = _json(small_study, name)
    assert list(figures)[:5] == ["report", "as_of", "since", "metrics", "series"]
    assert figures["report"] == name
    assert figures["since"] is None
    metrics = figures["metrics"]
    assert isinstance(metrics, dict)
    assert all(set(m) == METRIC_KEYS for m in metrics.values())
    names = [n for n in metrics if not n.startswith(("escalations_by_category.", "reply_rate."))]
    assert names == STABLE[name]
    for m in metrics.values():
        if m["numerator"] is not None and m["denominator"]:
            assert m["value"] == round(m["numerator"] / m["denominator"], 4)


def test_json_is_what_format_json_prints_and_keeps_the_earlier_keys(small_study: str) -> None:
    alias = json.loads(cli(small_study, "report", "funnel", "--json").stdout)
    assert {k: v for k, v in alias.items() if k != "as_of"} == {
        k: v for k, v in _json(small_study, "funnel").items() if k != "as_of"
    }
    assert {"prescreens_started", "eligible", "ineligible_by_reason", "needs_review", "opted_out"} <= alias.keys()
    assert alias["ineligible_by_reason"] == {"EXC-01-INSULIN": 1, "INC-01-AGE": 1}
    visits = json.loads(cli(small_study, "report", "visits", "--json").stdout)
    assert visits["report"] == "retention"
    assert {"visits_due", "visit_adherence", "visits_booked"} <= visits.keys()


@pytest.mark.parametrize("name", REPORTS)
def test_csv_is_one_row_per_metric_under_the_header(small_study: str, name: str) -> None:
    result = cli(small_study, "report", name, "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == HEADER
    metrics = _json(small_study, name)["metrics"]
    assert isinstance(metrics, dict)
    assert [r[1] for r in rows[1:]] == list(metrics)
    for report, metric, numerator, denominator, value, unit, definition in rows[1:]:
        assert report == name
        assert unit
        assert definition
        shown = metrics[metric]
        assert numerator == ("" if shown["numerator"] is None else str(shown["numerator"]))
        assert denominator == ("" if shown["denominator"] is None else str(shown["denominator"]))
        assert value == ("" if shown["value"] is None else str(shown["value"]))


@pytest.mark.parametrize("name", REPORTS)
def test_the_table_names_each_metric_with_its_denominator(small_study: str, name: str) -> None:
    result = cli(small_study, "report", name)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    metrics = _json(small_study, name)["metrics"]
    assert isinstance(metrics, dict)
    for metric, shown in metrics.items():
        [line] = [line for line in lines if line.split(" ", 1)[0] == metric]
        if shown["denominator"] is None:
            assert f" {shown['value']} " in f"{line} "
        elif shown["numerator"] is None:
            assert f"over {shown['denominator']} = " in line
        else:
            assert f"{shown['numerator']} / {shown['denominator']} = " in line
        assert f"  {metric}: {shown['definition']}" in lines


def test_the_funnel_table_shows_the_small_study(small_study: str) -> None:
    lines = cli(small_study, "report", "funnel").stdout.splitlines()
    assert lines[0].startswith("Recruitment funnel (as of ")
    assert lines[0].endswith(", all participants)")
    assert [line.split()[:6] for line in lines if line.startswith("pass_rate ")] == [
        ["pass_rate", "1", "/", "4", "=", "0.25"]
    ]


def test_since_counts_participants_first_seen_from_that_day(small_study: str) -> None:
    figures = _json(small_study, "funnel", "--since", "2099-01-01")
    assert figures["since"] == "2099-01-01"
    assert figures["metrics"]["first_contacts"]["value"] == 0  # type: ignore[index]
    assert _json(small_study, "funnel", "--since", "2000-01-01")["metrics"]["first_contacts"]["value"] == 8  # type: ignore[index]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "last tuesday"], "trialbot: --since 'last tuesday' is not a date like 2026-11-01"),
        (["--since", "2026-02-30"], "trialbot: --since '2026-02-30' is not a date like 2026-11-01"),
        (["--json", "--format", "csv"], "trialbot: --json and --format csv ask for different formats: give one"),
    ],
)
def test_bad_options_are_one_line_and_exit_1(sqlite_url: str, args: list[str], message: str) -> None:
    result = cli(sqlite_url, "report", "funnel", *args)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.strip() == message


def test_bad_chart_paths_are_one_line_and_exit_1(sqlite_url: str, tmp_path: Path) -> None:
    cases = {
        "chart.jpg": "must be a .png file",
        "missing/chart.png": "does not exist",
        "folder.png": "is not a file",
    }
    (tmp_path / "folder.png").mkdir()
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        cases["locked/chart.png"] = "cannot be written"
    for path, reason in cases.items():
        result = cli(sqlite_url, "report", "funnel", "--chart", str(tmp_path / path))
        assert result.exit_code == 1, path
        assert result.stdout == "", path
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("trialbot: --chart "), line
        assert reason in line, line
    assert not (tmp_path / "chart.jpg").exists()
