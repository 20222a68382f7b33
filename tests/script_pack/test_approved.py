"""`trialbot check --approved manifest.json`: passes on a fresh export; fails naming each message whose text
changed (in a catalog or the study file) or that is new; warns about approved messages no longer used."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from babel.messages.pofile import read_po, write_po
from click.testing import CliRunner, Result

from bot.cli import main
from bot.study import demo_study_path


def run(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args), env={"TRIALBOT_STUDY": None})
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


@pytest.fixture
def study_copy(tmp_path: Path) -> Path:
    """The demo study with its own catalogs, copied so a test can change them."""
    folder = tmp_path / "study"
    shutil.copytree(demo_study_path().parent, folder)
    return folder / "study.yaml"


@pytest.fixture
def approved(study_copy: Path, tmp_path: Path) -> Path:
    """The copied study's script pack, as the IRB approved it."""
    result = run("export", "script", "--study", str(study_copy), "--out", str(tmp_path / "approved"))
    assert result.exit_code == 0, result.output
    return tmp_path / "approved" / "manifest.json"


def set_spanish(study_file: Path, context: str, text: str) -> None:
    """Give a message a new Spanish text in the copied study's own catalog (which overrides the shipped one)."""
    po_file = study_file.parent / "locales" / "es" / "LC_MESSAGES" / "study.po"
    with po_file.open("rb") as handle:
        catalog = read_po(handle, locale="es")
    found = [m for m in catalog if m.context == context]
    if found:
        found[0].string = text
    else:
        from bot.engine import load_flows

        catalog.add(load_flows().messages()[context].text, text, context=context)
    with po_file.open("wb") as handle:
        write_po(handle, catalog)


def test_a_fresh_export_is_approved(study_copy: Path, approved: Path) -> None:
    result = run("check", "--study", str(study_copy), "--approved", str(approved))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("OK: study 'sunrise-demo'")
    assert f"OK: every message in use matches the approved script pack {approved}" in result.stdout
    assert result.stderr == ""


def test_the_demo_study_matches_its_own_export(tmp_path: Path) -> None:
    assert run("export", "script", "--out", str(tmp_path)).exit_code == 0
    result = run("check", "--approved", str(tmp_path / "manifest.json"))
    assert result.exit_code == 0, result.output


def test_a_changed_study_catalog_translation_fails(study_copy: Path, approved: Path) -> None:
    set_spanish(study_copy, "study.insulin", "¿Se pone insulina ahora?")
    result = run("check", "--study", str(study_copy), "--approved", str(approved))
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr.splitlines() == ["trialbot: es: message 'study.insulin' differs from the approved script pack"]


def test_a_study_catalog_overriding_core_text_fails(study_copy: Path, approved: Path) -> None:
    set_spanish(study_copy, "onboarding.agree", "¿Quiere recibir mensajes de nosotros?")
    result = run("check", "--study", str(study_copy), "--approved", str(approved))
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines() == [
        "trialbot: es: message 'onboarding.agree' differs from the approved script pack"
    ]


def test_a_changed_english_text_in_the_study_fails(study_copy: Path, approved: Path) -> None:
    data = yaml.safe_load(study_copy.read_text(encoding="utf-8"))
    data["prescreen"]["questions"][0]["text"] = "What is your age?"
    study_copy.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    result = run("check", "--study", str(study_copy), "--approved", str(approved))
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert "trialbot: en: message 'study.age' differs from the approved script pack" in lines
    # The Spanish catalog still translates the old English, so Spanish falls back to the new English.
    assert "trialbot: es: message 'study.age' has no translation" in lines
    assert "trialbot: es: message 'study.age' differs from the approved script pack" in lines


def test_a_message_not_in_the_pack_fails(study_copy: Path, approved: Path) -> None:
    manifest = json.loads(approved.read_text(encoding="utf-8"))
    del manifest["messages"]["es:common.help"]
    approved.write_text(json.dumps(manifest), encoding="utf-8")
    result = run("check", "--study", str(study_copy), "--approved", str(approved))
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines() == [
        "trialbot: es: message 'common.help' is new: it is not in the approved script pack"
    ]


def test_a_pack_without_a_language_fails_for_each_message_of_it(study_copy: Path, tmp_path: Path) -> None:
    exported = run("export", "script", "--study", str(study_copy), "--out", str(tmp_path / "en"), "--locale", "en")
    assert exported.exit_code == 0, exported.output
    result = run("check", "--study", str(study_copy), "--approved", str(tmp_path / "en" / "manifest.json"))
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert lines
    assert all(line.startswith("trialbot: es: message '") for line in lines)
    assert "trialbot: es: message 'onboarding.agree' is new: it is not in the approved script pack" in lines


def test_approved_messages_no_longer_used_are_a_warning(study_copy: Path, approved: Path) -> None:
    manifest = json.loads(approved.read_text(encoding="utf-8"))
    manifest["messages"]["en:onboarding.old_greeting"] = "0" * 64
    approved.write_text(json.dumps(manifest), encoding="utf-8")
    result = run("check", "--study", str(study_copy), "--approved", str(approved))
    assert result.exit_code == 0, result.output
    assert result.stderr == "trialbot: warning: en: approved message 'onboarding.old_greeting' is no longer used\n"


def test_a_pack_of_another_study_fails(study_copy: Path, approved: Path) -> None:
    manifest = json.loads(approved.read_text(encoding="utf-8"))
    manifest["study"] = "other-study"
    approved.write_text(json.dumps(manifest), encoding="utf-8")
    result = run("check", "--study", str(study_copy), "--approved", str(approved))
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines() == [
        "trialbot: the approved script pack is for study 'other-study', not 'sunrise-demo'"
    ]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such manifest"),
        ("{not json", "not valid JSON"),
        ('{"study": "sunrise-demo"}', 'not a script pack manifest (no "messages" of hashes)'),
    ],
)
def test_a_bad_manifest_exits_2_with_one_line(tmp_path: Path, content: str | None, expected: str) -> None:
    path = tmp_path / "manifest.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    result = run("check", "--approved", str(path))
    assert result.exit_code == 2, result.output
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(f"trialbot: {path}: {expected}")


def test_the_manifest_is_stable(study_copy: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    for out in (first, second):
        assert run("export", "script", "--study", str(study_copy), "--out", str(out)).exit_code == 0
    one, two = (json.loads((out / "manifest.json").read_text(encoding="utf-8")) for out in (first, second))
    assert one["messages"] == two["messages"]
    assert one["fingerprint"] == two["fingerprint"]
    assert one["fingerprint"] in (first / "script.md").read_text(encoding="utf-8")


def test_the_manifest_hashes_the_exact_template(approved: Path) -> None:
    import hashlib

    messages = json.loads(approved.read_text(encoding="utf-8"))["messages"]
    expected = hashlib.sha256(b"Do you agree to get texts from us?").hexdigest()
    assert messages["en:onboarding.agree"] == expected
    spanish = hashlib.sha256("¿Acepta recibir mensajes de nosotros?".encode()).hexdigest()
    assert messages["es:onboarding.agree"] == spanish
