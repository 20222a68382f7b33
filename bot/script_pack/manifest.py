"""The approval manifest: a SHA-256 of every message's exact template, per language (CON-12).

`trialbot check --approved manifest.json` compares the messages in use with it, so a sentence that
changed after the IRB approved the pack (in a flow, the study file or a catalog) is caught before it
is sent.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.bootstrap import Core

FORMAT = 1


class ManifestError(Exception):
    """A manifest file that cannot be read or is not a script pack's manifest."""


@dataclass(frozen=True, slots=True)
class Manifest:
    """An approved pack: its study and the hash of each "<locale>:<message id>"."""

    study: str
    messages: dict[str, str]


def digest(text: str) -> str:
    """The SHA-256 of a template, as hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def message_hashes(core: Core, locales: tuple[str, ...]) -> dict[str, str]:
    """ "<locale>:<id>" → the hash of the exact template a patient in that language gets, sorted."""
    translator = core.translator
    found = {f"{loc}:{key}": digest(translator.text(key, loc)) for loc in locales for key in translator.messages}
    return dict(sorted(found.items()))


def fingerprint(hashes: dict[str, str]) -> str:
    """One hash for the whole set of approved texts, to quote in an approval letter."""
    return digest(json.dumps(hashes, sort_keys=True, separators=(",", ":")))


def manifest_json(core: Core, locales: tuple[str, ...], generated_at: str) -> str:
    """The manifest as stable JSON: sorted keys; the date is informational and not part of any hash."""
    hashes = message_hashes(core, locales)
    data: dict[str, Any] = {
        "format": FORMAT,
        "study": core.loaded.study.id,
        "locales": list(locales),
        "generated_at": generated_at,
        "fingerprint": fingerprint(hashes),
        "messages": hashes,
    }
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def load_manifest(path: Path) -> Manifest:
    """Read a manifest.json; raise ManifestError with a one-line reason if it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"{path}: no such manifest") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read it ({exc})") from None
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    messages = data.get("messages") if isinstance(data, dict) else None
    if not isinstance(messages, dict) or not all(isinstance(v, str) for v in messages.values()):
        raise ManifestError(f'{path}: not a script pack manifest (no "messages" of hashes)')
    return Manifest(str(data.get("study", "")), {str(k): v for k, v in messages.items()})


def compare(core: Core, approved: Manifest) -> tuple[list[str], list[str]]:
    """Problems (changed or new messages, another study) and warnings (approved messages no longer used)."""
    problems: list[str] = []
    study = core.loaded.study
    if approved.study and approved.study != study.id:
        problems.append(f"the approved script pack is for study {approved.study!r}, not {study.id!r}")
    current = message_hashes(core, tuple(study.languages))
    for locale in study.languages:
        for key in sorted(core.translator.messages):
            wanted = approved.messages.get(f"{locale}:{key}")
            if wanted is None:
                problems.append(f"{locale}: message {key!r} is new: it is not in the approved script pack")
            elif wanted != current[f"{locale}:{key}"]:
                problems.append(f"{locale}: message {key!r} differs from the approved script pack")
    warnings = []
    for entry in sorted(set(approved.messages) - set(current)):
        language, _, key = entry.partition(":")
        warnings.append(f"{language}: approved message {key!r} is no longer used")
    return problems, warnings
