"""The IRB script pack (issue 7): every patient-facing message of a study, per flow, for review and approval.

`trialbot export script --out DIR` writes script.md, script.html and manifest.json; `trialbot check
--approved DIR/manifest.json` then fails if any message in use differs from the approved pack.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from bot.bootstrap import Core
from bot.script_pack.build import build_pack
from bot.script_pack.html_page import to_html
from bot.script_pack.manifest import ManifestError, compare, load_manifest, manifest_json
from bot.script_pack.markdown import to_markdown
from bot.script_pack.model import Pack

FILES = ("script.md", "script.html", "manifest.json")

__all__ = ["FILES", "ManifestError", "Pack", "build_pack", "compare", "load_manifest", "write_pack"]


def generated_at() -> str:
    """Now in UTC, or $SOURCE_DATE_EPOCH for a reproducible export."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    moment = datetime.fromtimestamp(int(epoch), UTC) if epoch.isdigit() else datetime.now(UTC)
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def write_pack(core: Core, folder: Path, locales: tuple[str, ...]) -> Pack:
    """Write script.md, script.html and manifest.json into a folder (created if missing)."""
    when = generated_at()
    pack = build_pack(core, locales, when)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "script.md").write_text(to_markdown(pack), encoding="utf-8")
    (folder / "script.html").write_text(to_html(pack), encoding="utf-8")
    (folder / "manifest.json").write_text(manifest_json(core, locales, when), encoding="utf-8")
    return pack
