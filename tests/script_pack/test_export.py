"""`trialbot export script`: the script pack in Markdown and HTML, with a section and a diagram per flow,
every patient-facing message in every language, SMS segments as count_segments counts them, and
clear one-line errors for bad input."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from bot.bootstrap import Core
from bot.channels.segments import count_segments
from bot.cli import main
from bot.domain import Part
from bot.engine.spec import PLACEHOLDER
from bot.script_pack.build import build_pack
from bot.script_pack.diagram import mermaid
from bot.script_pack.markdown import cost, escape
from bot.study import demo_study_path

STUDY_PLACEHOLDERS = {"study_name", "contact_phone", "contact_hours", "emergency_number", "crisis_number"}


def export(*args: str) -> Result:
    result = CliRunner().invoke(main, ["export", "script", *args], env={"TRIALBOT_STUDY": None})
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


@pytest.fixture(scope="module")
def pack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo study's script pack, exported once."""
    out = tmp_path_factory.mktemp("pack") / "irb"
    result = export("--out", str(out))
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def study_copy(tmp_path: Path) -> Path:
    """The demo study with its own catalogs, copied so a test can change them."""
    folder = tmp_path / "study"
    shutil.copytree(demo_study_path().parent, folder)
    return folder / "study.yaml"


def _mermaid_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```mermaid\n(.*?)\n```$", markdown, flags=re.MULTILINE | re.DOTALL)


def test_export_writes_the_three_files(pack_dir: Path, core: Core) -> None:
    assert sorted(p.name for p in pack_dir.iterdir()) == ["manifest.json", "script.html", "script.md"]
    manifest = json.loads((pack_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["study"] == "sunrise-demo"
    assert manifest["locales"] == ["en", "es"]
    assert len(manifest["messages"]) == 2 * len(core.translator.messages)
    assert list(manifest["messages"]) == sorted(manifest["messages"])


def test_the_summary_line_counts_flows_messages_and_languages(tmp_path: Path, core: Core) -> None:
    result = export("--out", str(tmp_path / "new" / "folder"))
    assert result.exit_code == 0, result.output
    assert f"{len(core.flows.flows)} flows, {len(core.translator.messages)} messages, languages en, es" in result.stdout


def test_markdown_has_a_section_and_a_diagram_per_flow_in_reading_order(pack_dir: Path, core: Core) -> None:
    markdown = (pack_dir / "script.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## \d+\. (?:Flow|Shared messages): `([a-z_]+)`$", markdown, flags=re.MULTILINE)
    assert headings[:4] == ["onboarding", "prescreen", "consent", "visit_reminder"]
    assert headings[-1] == "common"
    assert set(headings) == set(core.flows.flows) | {"common"}
    blocks = _mermaid_blocks(markdown)
    assert len(blocks) == len(core.flows.flows)
    for block in blocks:
        assert block.startswith("stateDiagram-v2\n")
        assert "[*] --> " in block
        assert " --> [*]" in block


def test_diagrams_follow_the_flow_definition(core: Core) -> None:
    onboarding = mermaid(core.flows.flows["onboarding"]).splitlines()
    assert "    [*] --> agree" in onboarding
    assert "    agree --> confirmed: yes" in onboarding
    assert "    agree --> declined: 3 unclear answers" in onboarding  # retry: {then: declined}
    assert "    confirmed --> all_set: if already_enrolled" in onboarding
    assert "    prescreen --> flow_prescreen: next flow" in onboarding  # a hand-off to the prescreen flow
    assert "    declined --> [*]" in onboarding
    consent = mermaid(core.flows.flows["consent"])
    assert "check --> explain: wrong, if consent_first_attempt" in consent
    assert "note right of check: 3 unclear answers start offer_person, then it asks again" in consent


def test_every_message_appears_with_where_it_is_used(pack_dir: Path, core: Core) -> None:
    markdown = (pack_dir / "script.md").read_text(encoding="utf-8")
    headings = re.findall(r"^### `([^`]+)`$", markdown, flags=re.MULTILINE)
    assert sorted(headings) == sorted(core.translator.messages)  # each exactly once
    assert "Used in: `onboarding.agree`: ask" in markdown
    assert "Used in: `prescreen.question`: ask (INC-01-AGE)" in markdown  # the study's own question
    assert "`consent.point`: say" in markdown  # a consent point's summary
    assert "`visit_reminder.ask`: value of {site}" in markdown  # the site's name


def test_every_message_is_shown_in_each_language_with_its_template(pack_dir: Path, core: Core) -> None:
    markdown = (pack_dir / "script.md").read_text(encoding="utf-8")
    for key in ("onboarding.agree", "study.insulin", "common.help"):
        section = markdown.split(f"### `{key}`\n", 1)[1].split("\n### ", 1)[0]
        for locale in ("en", "es"):
            assert f"**{locale}**: " in section
            template = core.translator.text(key, locale)
            assert f"Template: `{template}`" in section
    help_en = core.renderer.part(Part("common.help"), "en")
    assert f"> {escape(help_en)}" in markdown  # study details filled in
    assert "Template: `{study_name}: For help, call {contact_phone}" in markdown


def test_segment_counts_match_count_segments(pack_dir: Path, core: Core) -> None:
    markdown = (pack_dir / "script.md").read_text(encoding="utf-8")
    checked = 0
    for key in core.translator.messages:
        if not set(PLACEHOLDER.findall(core.translator.source(key))) <= STUDY_PLACEHOLDERS:
            continue
        section = markdown.split(f"### `{key}`\n", 1)[1].split("\n### ", 1)[0]
        for locale in ("en", "es"):
            counted = count_segments(core.renderer.part(Part(key), locale))
            unit = "characters" if counted.encoding == "GSM-7" else "UTF-16 units"
            segments = f"{counted.segments} SMS segment{'' if counted.segments == 1 else 's'}"
            assert f"**{locale}**: {segments}" in section, (key, locale)
            assert f", {counted.encoding}, {counted.units} {unit};" in section, (key, locale)
            checked += 1
    assert checked > 300


def test_every_rendering_in_the_pack_is_counted_like_an_sms(core: Core) -> None:
    pack = build_pack(core, ("en", "es"), "2026-01-01T00:00:00Z", grade=lambda _text, _locale: 5.0)
    renderings = [r for entry in pack.entries() for r in (*entry.texts, *entry.sent)]
    assert len(renderings) > 2 * len(core.translator.messages)
    for rendering in renderings:
        counted = count_segments(rendering.example)
        assert (rendering.encoding, rendering.units, rendering.segments) == (
            counted.encoding, counted.units, counted.segments,
        )  # fmt: skip
        assert "{" not in rendering.example  # every placeholder has an example value
    markdown_costs = [cost(r) for r in renderings]
    assert any("UCS-2" in c for c in markdown_costs)
    assert any("GSM-7" in c for c in markdown_costs)


def test_questions_and_scheduled_messages_are_shown_as_sent(pack_dir: Path) -> None:
    markdown = (pack_dir / "script.md").read_text(encoding="utf-8")
    assert "> Do you agree to get texts from us? Reply YES or NO. You can reply STOP at any time." in markdown
    assert "> How old are you?" in markdown
    assert "_Sent by the scheduler (reminder, on\\_site visit):_" in markdown
    assert "> Reminder: your study visit at Riverside Clinic is Wednesday, December 2 at 9:30 AM." in markdown
    assert "> We missed you at your visit on Wednesday, December 2. We hope you are well." in markdown


def test_reading_grades_come_from_bot_readability(pack_dir: Path) -> None:
    from bot.readability import grade

    markdown = (pack_dir / "script.md").read_text(encoding="utf-8")
    text = "Do you agree to get texts from us?"
    assert f"reading grade {grade(text, 'en'):.1f}" in markdown.split("### `onboarding.agree`", 1)[1]
    assert re.search(r"^Messages: \d+\. Reading grade of its sentences together: en \d+\.\d, es \d+\.\d\.$",
                     markdown, flags=re.MULTILINE)  # fmt: skip


def test_one_language_only(tmp_path: Path) -> None:
    result = export("--out", str(tmp_path), "--locale", "es")
    assert result.exit_code == 0, result.output
    markdown = (tmp_path / "script.md").read_text(encoding="utf-8")
    assert "**es**: " in markdown
    assert "**en**: " not in markdown
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["locales"] == ["es"]
    assert all(key.startswith("es:") for key in manifest["messages"])


def test_patient_text_is_escaped(tmp_path: Path, study_copy: Path) -> None:
    data = yaml.safe_load(study_copy.read_text(encoding="utf-8"))
    data["sites"][0]["name"] = "Riverside <b>Clinic</b> & *Lab* [1](x)"
    study_copy.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    result = export("--study", str(study_copy), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    page = (tmp_path / "out" / "script.html").read_text(encoding="utf-8")
    assert "Riverside &lt;b&gt;Clinic&lt;/b&gt; &amp; *Lab*" in page
    assert "<b>" not in page
    markdown = (tmp_path / "out" / "script.md").read_text(encoding="utf-8")
    assert "> Riverside \\<b\\>Clinic\\</b\\> & \\*Lab\\* \\[1\\](x)" in markdown
    assert "Template: `Riverside <b>Clinic</b> & *Lab* [1](x)`" in markdown  # code is shown as it is


def test_markdown_escape() -> None:
    assert escape("a *b* _c_ <d> [e](f) `g` |h| ~i~") == "a \\*b\\* \\_c\\_ \\<d\\> \\[e\\](f) \\`g\\` \\|h\\| \\~i\\~"
    assert escape("1. first\n- second\n# third") == "1\\. first\n\\- second\n\\# third"
    assert escape("Msg & data; &amp;") == "Msg & data; \\&amp;"


def test_out_is_a_file(tmp_path: Path) -> None:
    target = tmp_path / "script.md"
    target.write_text("not a folder", encoding="utf-8")
    result = export("--out", str(target))
    assert result.exit_code == 1
    assert result.stderr == f"trialbot: --out {target} is a file, not a folder\n"
    assert target.read_text(encoding="utf-8") == "not a folder"


def test_an_unknown_locale(tmp_path: Path) -> None:
    result = export("--out", str(tmp_path / "out"), "--locale", "en", "--locale", "fr")
    assert result.exit_code == 1
    assert result.stderr == "trialbot: unknown --locale 'fr': the study's languages are en, es\n"
    assert not (tmp_path / "out").exists()


def test_out_is_required() -> None:
    result = export()
    assert result.exit_code == 2
    assert "Missing option '--out'" in result.stderr


def test_a_broken_study_exits_2(tmp_path: Path) -> None:
    result = export("--study", str(tmp_path / "absent.yaml"), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert "no such study file" in result.stderr


# -- the HTML page -----------------------------------------------------------------------------


class _Page(HTMLParser):
    """Collects what the tests look at: tags with their attributes, ids, the title and the text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.ids: set[str] = set()
        self.title = ""
        self.text: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append((tag, found))
        if found.get("id"):
            self.ids.add(str(found["id"]))
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        self.text.append(data)


@pytest.fixture(scope="module")
def page(pack_dir: Path) -> _Page:
    parsed = _Page()
    parsed.feed((pack_dir / "script.html").read_text(encoding="utf-8"))
    parsed.close()
    return parsed


def test_html_is_self_contained(page: _Page, pack_dir: Path) -> None:
    source = (pack_dir / "script.html").read_text(encoding="utf-8")
    assert source.startswith("<!DOCTYPE html>")
    assert "<script src=" not in source.lower()
    for tag, attrs in page.tags:
        assert tag not in ("script", "img", "iframe", "object", "embed", "link"), tag
        for name in ("src", "href"):
            value = attrs.get(name) or ""
            assert not re.match(r"(https?:)?//", value), (tag, name, value)
    assert "@import" not in source
    assert "url(" not in source


def test_html_has_the_title_every_message_and_a_diagram_per_flow(page: _Page, core: Core) -> None:
    assert page.title == "Script pack: Sunrise Study (sunrise-demo)"
    assert {f"msg-{key}" for key in core.translator.messages} <= page.ids
    assert {f"section-{flow}" for flow in core.flows.flows} <= page.ids
    mermaid_blocks = [a for tag, a in page.tags if tag == "pre" and a.get("class") == "mermaid"]
    assert len(mermaid_blocks) == len(core.flows.flows)
    text = "".join(page.text)
    assert 'stateDiagram-v2\n    state "prescreen flow" as flow_prescreen\n    [*] --> agree' in text
    assert "Msg & data rates may apply." in text  # & escaped in the source, read back as &


def test_html_links_point_inside_the_page(page: _Page) -> None:
    links = [a["href"] for tag, a in page.tags if tag == "a" and a.get("href")]
    assert links
    for link in links:
        assert link is not None
        assert link.startswith("#"), link
        assert link[1:] in page.ids, link


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.mark.slow
@pytest.mark.skipif(_browser() is None, reason="no headless Chromium on this machine (chromium, chromium-browser or "
                    "google-chrome on PATH); the HTML is still checked with html.parser")  # fmt: skip
def test_html_opens_in_headless_chromium(pack_dir: Path, core: Core) -> None:
    browser = _browser()
    assert browser is not None
    done = subprocess.run(
        [browser, "--headless", "--disable-gpu", "--no-sandbox", "--dump-dom", (pack_dir / "script.html").as_uri()],
        capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert "<title>Script pack: Sunrise Study (sunrise-demo)</title>" in dom
    for key in core.translator.messages:
        assert f'id="msg-{key}"' in dom, key
