"""`trialbot export`: documents for the study team and the IRB, such as the script pack of every message."""

from __future__ import annotations

from pathlib import Path

import click

from bot.commands import fail, resolve, study_option


@click.group()
def export() -> None:
    """Export documents for the study team and the IRB."""


@export.command("script")
@study_option
@click.option(
    "--out", "out", required=True, type=click.Path(path_type=Path),
    help="Folder for script.md, script.html and manifest.json (created if missing; those files are replaced).",
)  # fmt: skip
@click.option(
    "--locale", "locales", multiple=True, metavar="LANG",
    help="A language to include; repeat for more (default: every language of the study).",
)  # fmt: skip
def export_script(study_path: Path | None, out: Path, locales: tuple[str, ...]) -> None:
    """Write the script pack: every patient-facing message per flow, with diagrams, SMS segments and grades."""
    from bot.bootstrap import build_core
    from bot.script_pack import FILES, write_pack

    if out.exists() and not out.is_dir():
        fail(f"--out {out} is a file, not a folder")
    study, _ = resolve(study_path, None)
    core = build_core(study)
    languages = tuple(core.loaded.study.languages)
    for locale in locales:
        if locale not in languages:
            fail(f"unknown --locale {locale!r}: the study's languages are {', '.join(languages)}")
    chosen = tuple(dict.fromkeys(locales)) or languages
    try:
        pack = write_pack(core, out, chosen)
    except OSError as exc:
        fail(f"cannot write the script pack to {out}: {exc.strerror or exc}")
    flows = sum(1 for s in pack.sections if s.kind == "flow")
    click.echo(
        f"wrote {', '.join(str(out / name) for name in FILES)}: study {pack.study_id!r}, {flows} flows, "
        f"{len(pack.entries())} messages, languages {', '.join(chosen)}"
    )
