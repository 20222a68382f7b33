"""`trialbot check`: OK for the demo study, exit 2 with a readable message for a broken study file, and
exit 1 naming the message for a translation problem. No stack traces."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from babel.messages.pofile import read_po, write_po
from click.testing import CliRunner, Result

from bot.cli import main
from bot.engine import load_flows
from bot.study import demo_study_path


@pytest.fixture
def study_copy(tmp_path: Path) -> Path:
    """The demo study with its own catalogs, copied so a test can change them."""
    folder = tmp_path / "study"
    shutil.copytree(demo_study_path().parent, folder)
    return folder / "study.yaml"


def check(*args: str, env: dict[str, str | None] | None = None) -> Result:
    # No TRIALBOT_STUDY from the environment of whoever runs the tests, unless a test sets it.
    result = CliRunner().invoke(main, ["check", *args], env={"TRIALBOT_STUDY": None, **(env or {})})
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def edit_catalog(study_file: Path, change: str, context: str, text: str | None = None) -> Path:
    """Change the copied study's Spanish catalog: delete a message, or add one with a translation."""
    po_file = study_file.parent / "locales" / "es" / "LC_MESSAGES" / "study.po"
    with po_file.open("rb") as handle:
        catalog = read_po(handle, locale="es")
    if change == "delete":
        found = [m for m in catalog if m.context == context]
        assert len(found) == 1, context
        catalog.delete(found[0].id, context=context)
    else:
        assert text is not None
        source = load_flows().messages()[context].text
        catalog.add(source, text, context=context)
    with po_file.open("wb") as handle:
        write_po(handle, catalog)
    return po_file


def test_the_demo_study_is_ok() -> None:
    result = check()
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("OK: study 'sunrise-demo'")
    assert str(demo_study_path()) in result.stdout
    assert "10 flows" in result.stdout
    assert "languages en, es" in result.stdout


def test_a_copied_study_is_ok(study_copy: Path) -> None:
    result = check("--study", str(study_copy))
    assert result.exit_code == 0, result.output
    assert str(study_copy) in result.stdout


def test_a_broken_study_exits_2_naming_the_key(study_copy: Path) -> None:
    data = yaml.safe_load(study_copy.read_text(encoding="utf-8"))
    data["prescreen"]["questions"][1].pop("eligible_answer")
    study_copy.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    result = check("--study", str(study_copy))
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith(f"trialbot: {study_copy}: the study configuration has problems")
    assert "prescreen.questions[1]: a yes_no question needs eligible_answer" in result.stderr


def test_a_study_file_that_is_not_yaml_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "study.yaml"
    path.write_text("id: [sunrise\n", encoding="utf-8")
    result = check("--study", str(path))
    assert result.exit_code == 2, result.output
    assert f"trialbot: {path}: not valid YAML" in result.stderr


def test_a_missing_study_file_exits_2(tmp_path: Path) -> None:
    result = check("--study", str(tmp_path / "absent.yaml"))
    assert result.exit_code == 2, result.output
    assert "no such study file" in result.stderr


def test_a_missing_translation_exits_1_naming_the_message(study_copy: Path) -> None:
    edit_catalog(study_copy, "delete", "study.insulin")
    result = check("--study", str(study_copy))
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr.splitlines() == ["trialbot: es: message 'study.insulin' has no translation"]


def test_a_changed_placeholder_exits_1_naming_the_message(study_copy: Path) -> None:
    # A study catalog may override core text; a misspelt placeholder would fail when the message is sent.
    edit_catalog(study_copy, "add", "common.stopped", "No recibirá más mensajes de {study_nam}.")
    result = check("--study", str(study_copy))
    assert result.exit_code == 1, result.output
    assert "message 'common.stopped' has placeholders ['study_nam'], expected ['study_name']" in result.stderr


def test_an_english_only_study_needs_no_catalog(study_copy: Path) -> None:
    data = yaml.safe_load(study_copy.read_text(encoding="utf-8"))
    data["languages"] = ["en"]
    del data["translations"]
    del data["onboarding"]["keywords"]["SOL"]  # a Spanish advertisement's keyword needs Spanish
    study_copy.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    shutil.rmtree(study_copy.parent / "locales")
    result = check("--study", str(study_copy))
    assert result.exit_code == 0, result.output
    assert "languages en" in result.stdout


def test_trialbot_study_environment_variable(study_copy: Path) -> None:
    edit_catalog(study_copy, "delete", "study.travel.over_60")
    result = check(env={"TRIALBOT_STUDY": str(study_copy)})
    assert result.exit_code == 1, result.output
    assert "message 'study.travel.over_60' has no translation" in result.stderr


def test_the_study_option_wins_over_the_environment(study_copy: Path, tmp_path: Path) -> None:
    result = check("--study", str(study_copy), env={"TRIALBOT_STUDY": str(tmp_path / "absent.yaml")})
    assert result.exit_code == 0, result.output
    assert str(study_copy) in result.stdout
