"""`trialbot chat` as a real subprocess with piped stdin, then `trialbot participant show` and `report funnel`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TRIALBOT = str(Path(sys.executable).with_name("trialbot"))
pytestmark = pytest.mark.slow


def _run(
    args: list[str], database_url: str, stdin: str = "", cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRIALBOT_DATABASE_URL": database_url}
    env.pop("TRIALBOT_STUDY", None)
    return subprocess.run(
        [TRIALBOT, *args], input=stdin, capture_output=True, text=True, env=env, timeout=60, check=False, cwd=cwd
    )


def test_scripted_chat_reaches_an_outcome_that_staff_can_see(database_url: str) -> None:
    # Hi, YES to texts, ready, 5 answers, call time, no recontact, not ready for the consent check yet.
    lines = ["Hi", "yes", "yes", "34", "yes", "no", "6/2019", "2", "morning", "no", "no"]
    chat = _run(["chat", "--as", "tester"], database_url, "\n".join(lines) + "\n")
    assert chat.returncode == 0, chat.stderr
    assert "Traceback" not in chat.stderr
    assert chat.stdout.startswith("Hi! This is the Sunrise Study team.")
    assert "You may be a match for this study." in chat.stdout
    assert chat.stdout.rstrip().endswith(
        "The study team will go over the consent form with you and answer your questions."
    )

    shown = _run(["participant", "show", "console:tester", "--json"], database_url)
    assert shown.returncode == 0, shown.stderr
    view = json.loads(shown.stdout)
    assert view["id"].startswith("P-")
    assert view["locale"] == "en"
    assert view["opted_out"] is False
    assert view["prescreen"]["outcome"] == "eligible"
    assert view["prescreen"]["answers"] == {
        "age": 34, "diabetes": "yes", "insulin": "no", "diagnosed": "2019-06", "travel": "under_60",
    }  # fmt: skip
    assert view["recontact"]["granted"] is False
    assert view["preferences"] == {"best_time_to_call": "morning"}

    by_code = _run(["participant", "show", view["id"], "--json"], database_url)
    assert json.loads(by_code.stdout)["id"] == view["id"]

    funnel = _run(["report", "funnel", "--json"], database_url)
    figures = json.loads(funnel.stdout)
    # The plain figures are kept next to the metrics, each of which has its denominator (bot/reports).
    legacy = {key: figures[key] for key in figures if key not in ("report", "as_of", "since", "metrics", "series")}
    assert legacy == {
        "prescreens_started": 1, "prescreens_completed": 1, "eligible": 1, "ineligible": 0,
        "ineligible_by_reason": {}, "needs_review": 0, "recontact_granted": 0, "opted_out": 0,
    }  # fmt: skip
    assert figures["metrics"]["pass_rate"]["numerator"] == figures["metrics"]["pass_rate"]["denominator"] == 1


def test_spanish_chat_with_an_early_fail_and_a_stop(database_url: str) -> None:
    chat = _run(["chat", "--as", "ana", "--locale", "es"], database_url, "hola\nsí\nsí\n15\nno\nSTOP\nhola\n")
    assert chat.returncode == 0, chat.stderr
    assert "¿Cuántos años tiene?" in chat.stdout
    assert "Este estudio no es adecuado para usted" in chat.stdout
    assert chat.stdout.rstrip().endswith("Responda START para recibirlos de nuevo.")
    view = json.loads(_run(["participant", "show", "console:ana", "--json"], database_url).stdout)
    assert view["locale"] == "es"
    assert view["opted_out"] is True
    assert view["prescreen"] == {**view["prescreen"], "outcome": "ineligible", "reasons": ["INC-01-AGE"]}


def test_chat_continues_where_it_left_off(database_url: str) -> None:
    _run(["chat", "--as", "sam"], database_url, "Hi\nyes\nyes\n")
    again = _run(["chat", "--as", "sam"], database_url, "50\n")
    assert again.stdout.startswith("Has a doctor ever told you that you have type 2 diabetes?")


def test_default_database_is_trialbot_db_in_the_working_directory(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIALBOT_")}
    chat = subprocess.run(
        [TRIALBOT, "chat"], input="Hi\n", capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60, check=False
    )
    assert chat.returncode == 0, chat.stderr
    assert (tmp_path / "trialbot.db").is_file()


def test_a_broken_study_is_a_readable_error(tmp_path: Path, database_url: str) -> None:
    study = tmp_path / "study.yaml"
    study.write_text("id: x\nname: X\n", encoding="utf-8")
    chat = _run(["chat", "--study", str(study)], database_url, "Hi\n")
    assert chat.returncode == 2
    assert "study.yaml" in chat.stderr
    assert "contact: required key is missing" in chat.stderr
    assert "Traceback" not in chat.stderr
