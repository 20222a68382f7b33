"""The translation completeness gate (LIBRARIES.md §5): every catalog complete, current and intact.

For every `.po` under `locales/` and `flows/studies/*/locales/`: nothing empty, fuzzy or obsolete,
babel's own checks pass, `{placeholders}` match the English, plural forms are all there, the catalog
has exactly the messages of its template, the templates match what extraction produces today, and
every message the running app can send is translated in every language of its study.
"""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from bot.bootstrap import build_core
from bot.engine import flows_dir
from bot.i18n import SOURCE_LOCALE, locales_dir

CORE_LOCALES = locales_dir()
STUDIES = flows_dir() / "studies"
BABEL_CFG = CORE_LOCALES / "babel.cfg"

Key = tuple[str | None, str]  # (msgctxt, msgid): a message's identity in a catalog


def po_files() -> list[Path]:
    """Every shipped translation catalog."""
    found = sorted(CORE_LOCALES.glob("*/LC_MESSAGES/*.po")) + sorted(STUDIES.glob("*/locales/*/LC_MESSAGES/*.po"))
    assert found, "no catalogs found"
    return found


def templates() -> list[tuple[Path, Path]]:
    """Every .pot with the folder its messages are extracted from: the flows, or one study's folder."""
    found = [(CORE_LOCALES / "messages.pot", flows_dir())]
    found += [(pot, pot.parent) for pot in sorted(STUDIES.glob("*/*.pot"))]
    assert all(pot.is_file() for pot, _ in found)
    return found


def template_for(po_file: Path) -> Path:
    """The template of a catalog: `<domain>.pot` in its locales folder (core) or next to it (a study)."""
    locales = po_file.parents[2]  # <locales>/<lang>/LC_MESSAGES/<domain>.po
    for candidate in (locales / f"{po_file.stem}.pot", locales.parent / f"{po_file.stem}.pot"):
        if candidate.is_file():
            return candidate
    raise AssertionError(f"{po_file}: no {po_file.stem}.pot next to its locales folder")


def read_catalog(path: Path) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle)


def keys(catalog: Catalog) -> list[Key]:
    """The messages of a catalog in file order, without the header."""
    return [(m.context, m.id if isinstance(m.id, str) else m.id[0]) for m in catalog if m.id]


def label(message: Message) -> str:
    """How a problem names a message: its id (the msgctxt), or its English text when it has none."""
    return repr(message.context) if message.context else repr(message.id)


def placeholders(text: str) -> set[str] | str:
    """The {fields} of a text, or a description of why it is not a valid brace format."""
    try:
        return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}
    except ValueError as exc:
        return f"broken braces ({exc})"


def catalog_problems(po_file: Path) -> list[str]:
    """Everything wrong with one translated catalog on its own, each naming the file and the message."""
    catalog = read_catalog(po_file)
    problems: list[str] = []
    if catalog.fuzzy:
        problems.append(f"{po_file}: the header is marked fuzzy")
    folder_locale = po_file.parents[1].name  # <lang>/LC_MESSAGES/<domain>.po
    if str(catalog.locale) != folder_locale:
        # The header's Language picks the plural rules; a catalog copied from another language keeps the wrong ones.
        problems.append(f"{po_file}: the header says Language {catalog.locale}, but the file is in {folder_locale}/")
    for message in catalog.obsolete.values():
        problems.append(f"{po_file}: message {label(message)} is obsolete (#~); delete it or run pybabel update")
    for message in catalog:
        if not message.id:
            continue
        name = f"{po_file}: message {label(message)}"
        if message.fuzzy:
            problems.append(f"{name} is fuzzy; review it and remove the fuzzy flag")
        sources = message.id if isinstance(message.id, tuple) else (message.id,)
        translations = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.pluralizable and len(translations) != catalog.num_plurals:
            problems.append(f"{name} has {len(translations)} plural forms, expected {catalog.num_plurals}")
        for index, translation in enumerate(translations):
            where = f"{name} (plural form {index})" if message.pluralizable else name
            if not translation:
                problems.append(f"{where} has no translation")
                continue
            wanted = placeholders(sources[min(index, len(sources) - 1)])
            found = placeholders(translation)
            if wanted != found:
                shown = sorted(found) if isinstance(found, set) else found
                problems.append(f"{where} has placeholders {shown}, the English has {sorted(wanted)}")
    for message, errors in catalog.check():
        for error in errors:
            problems.append(f"{po_file}: message {label(message)}: {error}")
    return problems


def template_problems(po_file: Path, pot_file: Path) -> list[str]:
    """Messages the template has that the catalog lacks, and the other way round."""
    have, want = set(keys(read_catalog(po_file))), set(keys(read_catalog(pot_file)))
    return [f"{po_file}: message {c!r} ({i!r}) is in {pot_file.name} but not translated" for c, i in want - have] + [
        f"{po_file}: message {c!r} ({i!r}) is not in {pot_file.name} (renamed or removed?)" for c, i in have - want
    ]


def extracted(source: Path) -> list[Key]:
    """What `pybabel extract -F locales/babel.cfg` finds in a folder now, in the order it writes it."""
    with BABEL_CFG.open(encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle, filename=str(BABEL_CFG))
    catalog = Catalog()
    for filename, lineno, message, comments, context in extract_from_dir(source, method_map, options_map):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return keys(catalog)


def po_id(path: Path) -> str:
    return str(path.relative_to(CORE_LOCALES.parent))


@pytest.mark.parametrize("po_file", po_files(), ids=po_id)
def test_catalog_is_complete_and_intact(po_file: Path) -> None:
    problems = catalog_problems(po_file)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("po_file", po_files(), ids=po_id)
def test_catalog_has_exactly_the_messages_of_its_template(po_file: Path) -> None:
    problems = template_problems(po_file, template_for(po_file))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("pot_file", "source"), templates(), ids=[po_id(pot) for pot, _ in templates()])
def test_template_is_up_to_date(pot_file: Path, source: Path) -> None:
    now = extracted(source)
    committed = keys(read_catalog(pot_file))
    assert now, f"extraction found nothing in {source}"
    if committed != now:
        added = [k for k in now if k not in committed]
        removed = [k for k in committed if k not in now]
        pytest.fail(
            f"{pot_file} is stale: re-run pybabel extract -F locales/babel.cfg -o {pot_file} --no-location "
            f"{source}, then pybabel update.\n  new or changed: {added}\n  gone: {removed}\n"
            f"  (or only the order changed)"
        )


@pytest.mark.parametrize("study_file", sorted(STUDIES.glob("*/study.yaml")), ids=lambda p: p.parent.name)
def test_every_message_the_app_sends_is_translated(study_file: Path) -> None:
    core = build_core(study_file)
    translator = core.translator
    assert translator.messages
    missing = [
        f"{locale}: message {key!r} ({translator.source(key)!r}) has no translation in any catalog loaded "
        f"from {CORE_LOCALES} or {core.loaded.translations_dir}"
        for locale in core.loaded.study.languages
        if locale != SOURCE_LOCALE
        for key in translator.messages
        if not translator.translated(key, locale)
    ]
    assert not missing, "\n".join(missing)


BROKEN_PO = r"""
msgid ""
msgstr ""
"Language: es\n"
"Plural-Forms: nplurals=2; plural=(n != 1);\n"
"Content-Type: text/plain; charset=utf-8\n"

msgctxt "demo.greeting"
msgid "Hello {name}!"
msgstr "¡Hola {nam}!"

#, fuzzy
msgctxt "demo.bye"
msgid "Goodbye."
msgstr "Adiós."

msgctxt "demo.thanks"
msgid "Thank you."
msgstr ""

msgctxt "demo.fine"
msgid "See you at {time}."
msgstr "Nos vemos a las {time}."
"""


def test_the_gate_catches_a_broken_placeholder_a_fuzzy_entry_and_an_empty_translation(tmp_path: Path) -> None:
    po_file = tmp_path / "es" / "LC_MESSAGES" / "messages.po"
    po_file.parent.mkdir(parents=True)
    po_file.write_text(BROKEN_PO, encoding="utf-8")
    problems = catalog_problems(po_file)
    assert problems == [
        f"{po_file}: message 'demo.greeting' has placeholders ['nam'], the English has ['name']",
        f"{po_file}: message 'demo.bye' is fuzzy; review it and remove the fuzzy flag",
        f"{po_file}: message 'demo.thanks' has no translation",
    ]


def test_the_gate_catches_a_fuzzy_header_obsolete_entries_and_missing_plural_forms(tmp_path: Path) -> None:
    po_file = tmp_path / "es" / "LC_MESSAGES" / "messages.po"
    po_file.parent.mkdir(parents=True)
    po_file.write_text(
        "#, fuzzy\n"
        'msgid ""\nmsgstr ""\n"Language: es\\n"\n"Plural-Forms: nplurals=2; plural=(n != 1);\\n"\n\n'
        'msgctxt "demo.count"\nmsgid "{n} answer"\nmsgid_plural "{n} answers"\nmsgstr[0] "{n} respuesta"\n'
        'msgstr[1] ""\n\n'
        '#~ msgctxt "demo.old"\n#~ msgid "Old text"\n#~ msgstr "Texto viejo"\n',
        encoding="utf-8",
    )
    assert catalog_problems(po_file) == [
        f"{po_file}: the header is marked fuzzy",
        f"{po_file}: message 'demo.old' is obsolete (#~); delete it or run pybabel update",
        f"{po_file}: message 'demo.count' (plural form 1) has no translation",
    ]


def test_the_gate_catches_a_catalog_in_the_wrong_language_folder(tmp_path: Path) -> None:
    po_file = tmp_path / "fr" / "LC_MESSAGES" / "messages.po"
    po_file.parent.mkdir(parents=True)
    po_file.write_text(BROKEN_PO, encoding="utf-8")
    assert catalog_problems(po_file)[0] == f"{po_file}: the header says Language es, but the file is in fr/"


def test_the_gate_catches_a_catalog_that_differs_from_its_template(tmp_path: Path) -> None:
    pot_file, po_file = tmp_path / "messages.pot", tmp_path / "messages.po"
    pot_file.write_text('msgctxt "a.one"\nmsgid "One"\nmsgstr ""\n\nmsgctxt "a.two"\nmsgid "Two"\nmsgstr ""\n')
    po_file.write_text('msgctxt "a.one"\nmsgid "One"\nmsgstr "Uno"\n\nmsgctxt "a.tres"\nmsgid "Three"\nmsgstr "Tres"\n')
    assert sorted(template_problems(po_file, pot_file)) == [
        f"{po_file}: message 'a.tres' ('Three') is not in messages.pot (renamed or removed?)",
        f"{po_file}: message 'a.two' ('Two') is in messages.pot but not translated",
    ]


def test_the_gate_sees_a_stale_template(tmp_path: Path) -> None:
    study = tmp_path / "study"
    study.mkdir()
    demo = STUDIES / "demo"
    text = (demo / "study.yaml").read_text(encoding="utf-8")
    (study / "study.yaml").write_text(text.replace("Do you use insulin now?", "Do you inject insulin?"), "utf-8")
    committed = keys(read_catalog(demo / "study.pot"))
    assert extracted(demo) == committed
    now = extracted(study)
    assert ("study.insulin", "Do you inject insulin?") in now
    assert ("study.insulin", "Do you use insulin now?") in committed
    assert now != committed
