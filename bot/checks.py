"""Checks a study team runs before going live: every message translated, placeholders intact."""

from __future__ import annotations

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
