"""Study files: the demo study loads, and each kind of mistake a study team can make is reported with
the file, the key and the problem."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.study import StudyError, demo_study_path, load_study

Mutation = Callable[[dict[str, Any]], None]


def demo_data() -> dict[str, Any]:
    """The demo study as plain data, to change and write back."""
    data = yaml.safe_load(demo_study_path().read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return copy.deepcopy(data)


def write_study(folder: Path, data: dict[str, Any]) -> Path:
    """Write a study file (with an empty translations folder, so only the change under test is wrong)."""
    (folder / "locales").mkdir(exist_ok=True)
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def study_error(path: Path) -> str:
    with pytest.raises(StudyError) as raised:
        load_study(path)
    return str(raised.value)


def question(index: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda data: data["prescreen"]["questions"][index]


def _set_default_locale_outside_languages(data: dict[str, Any]) -> None:
    data["languages"] = ["en"]
    data["default_locale"] = "es"


def _one_option(data: dict[str, Any]) -> None:
    travel = data["prescreen"]["questions"][4]
    assert travel["type"] == "choice"
    travel["options"] = travel["options"][:1]


# (case id, change to the demo study, key path named, problem named)
CASES: list[tuple[str, Mutation, str, str]] = [
    ("missing_required_key", lambda d: d.pop("contact"), "contact", "required key is missing"),
    ("missing_nested_key", lambda d: d["emergency"].pop("number"), "emergency.number", "required key is missing"),
    ("unknown_key", lambda d: d.update(timezon="America/Chicago"), "timezon", "unknown key (check the spelling)"),
    (
        "unknown_nested_key",
        lambda d: d["contact"]["hours"].update(open="09:00"),
        "contact.hours.open",
        "unknown key (check the spelling)",
    ),
    ("bad_time_zone", lambda d: d.update(timezone="Mars/Olympus_Mons"), "timezone", "unknown time zone 'Mars/Olympus"),
    (
        "bad_time",
        lambda d: d["quiet_hours"].update(send_from="25:00"),
        "quiet_hours.send_from",
        "must be a time like \"09:00\" (got '25:00')",
    ),
    (
        "closes_before_opens",
        lambda d: d["contact"]["hours"].update(opens="18:00"),
        "contact.hours",
        "opens must be before closes",
    ),
    (
        "default_locale_not_in_languages",
        _set_default_locale_outside_languages,
        "(top level)",
        "default_locale 'es' is not in languages",
    ),
    ("unsupported_language", lambda d: d.update(languages=["en", "fr"]), "languages[1]", "'en' or 'es'"),
    (
        "yes_no_without_eligible_answer",
        lambda d: question(1)(d).pop("eligible_answer"),
        "prescreen.questions[1]",
        "a yes_no question needs eligible_answer",
    ),
    (
        "eligible_range_outside_accept",
        lambda d: question(0)(d).update(eligible_range={"min": 18, "max": 130}),
        "prescreen.questions[0]",
        "eligible_range must lie inside accept",
    ),
    (
        "key_of_another_question_type",
        lambda d: question(2)(d).update(accept={"min": 0, "max": 1}),
        "prescreen.questions[2]",
        "accept does not apply to a yes_no question",
    ),
    (
        "duplicate_question_ids",
        lambda d: question(2)(d).update(id="diabetes"),
        "prescreen",
        "question ids must be unique (repeated: diabetes)",
    ),
    ("choice_with_one_option", _one_option, "prescreen.questions[4]", "a choice question needs at least 2 options"),
    (
        "bad_option_result",
        lambda d: question(4)(d)["options"][0].update(result="maybe"),
        "prescreen.questions[4].options[0].result",
        "'eligible', 'ineligible' or 'review'",
    ),
    ("no_questions", lambda d: d["prescreen"].update(questions=[]), "prescreen.questions", "at least 1 item"),
    (
        "pacing_too_strict",
        lambda d: d.update(pacing={"messages_per_minute": 2}),
        "pacing.messages_per_minute",
        "greater than or equal to 5",
    ),
    ("pacing_unknown_key", lambda d: d.update(pacing={"pause_minutes": 2}), "pacing.pause_minutes", "unknown key"),
]


def test_the_demo_study_loads() -> None:
    loaded = load_study(demo_study_path())
    study = loaded.study
    assert study.id == "sunrise-demo"
    assert study.languages == ("en", "es")
    assert [q.id for q in study.prescreen.questions] == ["age", "diabetes", "insulin", "diagnosed", "travel"]
    assert study.contact.hours.opens == time(9, 0)
    assert loaded.translations_dir == demo_study_path().parent / "locales"


def test_an_unchanged_copy_loads(tmp_path: Path) -> None:
    # Guards the cases below: each error comes from its one change, not from rewriting the file.
    assert load_study(write_study(tmp_path, demo_data())).study == load_study(demo_study_path()).study


@pytest.mark.parametrize(("mutate", "key", "problem"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_broken_study_names_file_key_and_problem(tmp_path: Path, mutate: Mutation, key: str, problem: str) -> None:
    data = demo_data()
    mutate(data)
    path = write_study(tmp_path, data)
    error = study_error(path)
    assert error.startswith(f"{path}:"), error
    assert f"  {key}: " in error, error
    assert problem in error, error


def test_every_problem_is_listed_not_just_the_first(tmp_path: Path) -> None:
    data = demo_data()
    data["timezone"] = "Nowhere/Special"
    data["prescreen"]["questions"][1].pop("eligible_answer")
    error = study_error(write_study(tmp_path, data))
    assert "  timezone: unknown time zone" in error
    assert "  prescreen.questions[1]: a yes_no question needs eligible_answer" in error


def test_not_yaml(tmp_path: Path) -> None:
    path = tmp_path / "study.yaml"
    path.write_text("id: [sunrise\nname: {", encoding="utf-8")
    error = study_error(path)
    assert error.startswith(f"{path}: not valid YAML")
    assert "line 2" in error


def test_yaml_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "study.yaml"
    path.write_text("- id: sunrise\n", encoding="utf-8")
    assert study_error(path) == f"{path}: expected a mapping of keys at the top level"


def test_a_file_that_does_not_exist(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "study.yaml"
    assert study_error(path) == f"{path}: no such study file"


def test_a_translations_folder_that_does_not_exist(tmp_path: Path) -> None:
    data = demo_data()
    data["translations"] = "locale"
    path = write_study(tmp_path, data)
    assert study_error(path) == f"{path}: translations: folder 'locale' does not exist"


def test_translations_folder_is_relative_to_the_study_file(tmp_path: Path) -> None:
    data = demo_data()
    data["translations"] = "../shared-catalogs"
    (tmp_path / "shared-catalogs").mkdir()
    (tmp_path / "study").mkdir()
    loaded = load_study(write_study(tmp_path / "study", data))
    assert loaded.translations_dir == (tmp_path / "shared-catalogs").resolve()


def test_unquoted_yaml_times(tmp_path: Path) -> None:
    # YAML 1.1 reads an unquoted 17:30 as the base-60 number 1050; 09:00 (a leading zero) stays text.
    text = demo_study_path().read_text(encoding="utf-8")
    for quoted in ('"09:00"', '"17:00"', '"20:00"'):
        assert quoted in text
    text = text.replace('opens: "09:00"', "opens: 08:00").replace('closes: "17:00"', "closes: 17:30")
    text = text.replace('send_until: "20:00"', "send_until: 20:00")
    path = tmp_path / "study.yaml"
    path.write_text(text, encoding="utf-8")
    (tmp_path / "locales").mkdir()
    raw = yaml.safe_load(text)
    assert raw["contact"]["hours"]["closes"] == 1050
    assert raw["quiet_hours"]["send_until"] == 1200
    assert raw["contact"]["hours"]["opens"] == "08:00"

    study = load_study(path).study
    assert study.contact.hours.opens == time(8, 0)
    assert study.contact.hours.closes == time(17, 30)
    assert study.quiet_hours.send_until == time(20, 0)


@pytest.mark.parametrize(
    ("written", "shown"),
    [("25:00", "'25:00'"), ("yes", "True"), ("9.5", "9.5"), ('"9am"', "'9am'"), ('"12:60"', "'12:60'")],
)
def test_unquoted_values_that_are_not_times(tmp_path: Path, written: str, shown: str) -> None:
    # An unquoted 25:00 is the number 1500 and an unquoted yes is True (an int in Python too):
    # both must be refused, showing what was written rather than being read as some other time.
    text = demo_study_path().read_text(encoding="utf-8").replace('opens: "09:00"', f"opens: {written}")
    path = tmp_path / "study.yaml"
    path.write_text(text, encoding="utf-8")
    (tmp_path / "locales").mkdir()
    error = study_error(path)
    assert f'  contact.hours.opens: must be a time like "09:00" (got {shown})' in error, error
