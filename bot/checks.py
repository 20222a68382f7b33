"""Checks a study team runs before going live: every message translated, placeholders intact."""

from __future__ import annotations

from pathlib import Path

from bot.bootstrap import Core
from bot.engine.spec import PLACEHOLDER
from bot.i18n import SOURCE_LOCALE


def check_translations(core: Core) -> list[str]:
    """Problems with the catalogs of the study's languages: missing texts, changed {placeholders}."""
    problems: list[str] = []
    translator = core.translator
    for locale in core.loaded.study.languages:
        if locale == SOURCE_LOCALE:
            continue
        for key, message in translator.messages.items():
            if not translator.translated(key, locale):
                problems.append(f"{locale}: message {key!r} has no translation")
                continue
            wanted = set(PLACEHOLDER.findall(message.text))
            found = set(PLACEHOLDER.findall(translator.text(key, locale)))
            if wanted != found:
                problems.append(
                    f"{locale}: message {key!r} has placeholders {sorted(found)}, expected {sorted(wanted)}"
                )
    return problems


def check_approved(core: Core, manifest: Path) -> tuple[list[str], list[str]]:
    """Messages in use that differ from an approved script pack, or are not in it; and approved ones no
    longer used (warnings). Raise ManifestError if the file is not a script pack's manifest."""
    from bot.script_pack.manifest import compare, load_manifest

    return compare(core, load_manifest(manifest))
