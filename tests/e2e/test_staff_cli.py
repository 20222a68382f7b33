"""Staff commands end to end: enroll, visit book/move/cancel/attended/missed/list/import, worker, report visits.

A few checks run the real `trialbot` executable as a subprocess; the rest use click's CliRunner on
`bot.cli.main` (the same code, in-process, much faster). Both work on the test database.

The staff commands plan from the real clock, so day 1 is chosen ahead of today (the first Tuesday at
least 8 days ahead: 2026-12-01 when these tests were written); the worker is given its time with `--at`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select, update

from bot.cli import main
from storage.database import Database
from storage.migrate import ensure_current
from storage.repositories import address_t, audit_t, outbox_t, participant_t, scheduled_t, visit_t

TRIALBOT = str(Path(sys.executable).with_name("trialbot"))
pytestmark = pytest.mark.slow

NEW_YORK = ZoneInfo("America/New_York")
PHONE = "+15550123001"
REF = f"sms:{PHONE}"
REMINDER_TEXT = "Reminder: your study visit at Riverside Clinic is"
# Settings from whoever runs the tests must not leak into the commands.
CLEAN_ENV: dict[str, str | None] = {
    "TRIALBOT_DATABASE_URL": None, "TRIALBOT_STUDY": None, "TRIALBOT_SWEEP_BATCH": None, "TRIALBOT_LOG_LEVEL": None,
}  # fmt: skip


def _first_tuesday_from(day: date) -> date:
    return day + timedelta(days=(1 - day.weekday()) % 7)


ANCHOR = _first_tuesday_from(datetime.now(NEW_YORK).date() + timedelta(days=8))
WEEK_4 = ANCHOR + timedelta(days=28)  # day 29, a Tuesday; its window is day 26 to day 32
# Attendance is recorded for visits that have happened: for those tests, day 1 was 40 days ago.
PAST = _first_tuesday_from(datetime.now(NEW_YORK).date() - timedelta(days=46))


# -- running the commands ----------------------------------------------------------------------


def run(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The real `trialbot` executable, as staff would run it."""
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    env["TRIALBOT_DATABASE_URL"] = database_url
    done = subprocess.run([TRIALBOT, *args], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def cli(database_url: str, *args: str, input: str | None = None) -> Result:
    """The same command in-process, with `--db`."""
    result = CliRunner().invoke(main, [*args, "--db", database_url], env=CLEAN_ENV, input=input)
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def error_line(result: Result) -> str:
    """The one line a failed command printed (click usage errors end with their `Error:` line)."""
    assert result.exit_code != 0, result.output
    assert result.stdout == "", result.stdout
    lines = result.stderr.strip().splitlines()
    assert lines, "no error message"
    if lines[-1].startswith("Error: "):
        return lines[-1]
    assert len(lines) == 1, result.stderr
    return lines[0]


def enroll(database_url: str, reference: str = REF, *extra: str, anchor: date = ANCHOR) -> str:
    """Enrol with day 1 = ANCHOR (or another day); the participant's code."""
    result = ok(cli(database_url, "enroll", reference, "--anchor", anchor.isoformat(), *extra))
    return result.stdout.split(":")[0]


def agree_to_texts(url: str, code: str) -> None:
    """What the participant's YES to the welcome does (tested on its own in tests/onboarding)."""
    db = Database(url)
    try:
        with db.write() as connection:
            now = datetime.now(UTC)
            connection.execute(update(participant_t).where(participant_t.c.code == code).values(opted_in_at=now))
            connection.execute(
                update(scheduled_t).where(scheduled_t.c.kind == "welcome").values(status="cancelled", updated_at=now)
            )
    finally:
        db.dispose()


def visits(database_url: str, reference: str = REF) -> dict[str, Any]:
    """`visit list --json`."""
    listed: dict[str, Any] = json.loads(ok(cli(database_url, "visit", "list", reference, "--json")).stdout)
    return listed


def visit_named(listed: dict[str, Any], key: str) -> dict[str, Any]:
    [found] = [v for v in listed["visits"] if v["visit"] == key]
    return found


def planned_for(listed: dict[str, Any], visit_id: int) -> list[tuple[str, datetime]]:
    """(kind, local due time) of the messages planned for one visit."""
    return [
        (u["kind"], datetime.fromisoformat(u["due_local"])) for u in listed["upcoming"] if u["visit_id"] == visit_id
    ]


def at_ten(day: date) -> datetime:
    """10:00 in New York on a day: when the demo study's reminders and check-ins go out."""
    return datetime.combine(day, time(10, 0), NEW_YORK)


def reminder_times(visit_day: date) -> list[datetime]:
    return [at_ten(visit_day - timedelta(days=n)) for n in (7, 2, 1)]


@contextmanager
def database(url: str) -> Iterator[Any]:
    """A read transaction on the test database, to check what the commands stored (or did not)."""
    db = Database(url)
    try:
        ensure_current(db)  # a command refused before it opened the database leaves a new SQLite file empty
        with db.read() as connection:
            yield connection
    finally:
        db.dispose()


def count(url: str, table: Any, *where: Any) -> int:
    with database(url) as connection:
        return int(connection.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


# -- enroll ------------------------------------------------------------------------------------


def test_enroll_creates_the_participant_and_plans_weekly_checkins(database_url: str) -> None:
    enrolled = run(database_url, "enroll", REF, "--anchor", ANCHOR.isoformat())
    assert enrolled.returncode == 0, enrolled.stderr
    match = re.fullmatch(r"(P-[A-Z0-9]{6}): day 1 is (\S+); (\d+) check-ins planned\n", enrolled.stdout)
    assert match is not None, enrolled.stdout
    code, day_1, planned = match[1], match[2], int(match[3])
    assert day_1 == ANCHOR.isoformat()
    assert planned == 12  # weekly on Wednesdays, 12 weeks

    shown = run(database_url, "participant", "show", REF, "--json")
    assert shown.returncode == 0, shown.stderr
    view = json.loads(shown.stdout)
    assert view["id"] == code
    assert view["anchor_date"] == ANCHOR.isoformat()
    assert view["timezone"] == "America/New_York"
    assert view["channels"] == [{"channel": "sms", "address": PHONE, "unreachable": False}]
    checkins = [u for u in view["upcoming"] if u["kind"] == "checkin"]
    assert len(checkins) == planned
    for week, item in enumerate(checkins):
        local = datetime.fromisoformat(item["due_local"])
        assert local == at_ten(ANCHOR + timedelta(days=1 + 7 * week))  # Wednesdays at 10:00, from day 2
        assert local.weekday() == 2
        assert local.utcoffset() == NEW_YORK.utcoffset(local.replace(tzinfo=None))
        assert datetime.fromisoformat(item["due_utc"]) == local
        assert datetime.fromisoformat(item["due_utc"]).utcoffset() == timedelta(0)
        assert item["channel"] == "sms"

    by_code = run(database_url, "participant", "show", code, "--json")
    assert json.loads(by_code.stdout)["anchor_date"] == ANCHOR.isoformat()


def test_enroll_again_changes_time_zone_and_language_and_replans(database_url: str) -> None:
    code = enroll(database_url)
    result = ok(cli(database_url, "enroll", REF, "--anchor", ANCHOR.isoformat(), "--timezone", "Europe/Madrid",
                    "--locale", "es", "--by", "nurse.kim"))  # fmt: skip
    assert result.stdout.startswith(f"{code}: day 1 is {ANCHOR.isoformat()}")
    view = json.loads(ok(cli(database_url, "participant", "show", REF, "--json")).stdout)
    assert (view["id"], view["timezone"], view["locale"]) == (code, "Europe/Madrid", "es")
    madrid = ZoneInfo("Europe/Madrid")
    checkins = [datetime.fromisoformat(u["due_local"]) for u in view["upcoming"] if u["kind"] == "checkin"]
    assert len(checkins) == 12  # replanned, not added to the New York ones
    assert checkins[0] == datetime.combine(ANCHOR + timedelta(days=1), time(10, 0), madrid)
    assert all(c.time() == time(10, 0) and c.weekday() == 2 for c in checkins)
    with database(database_url) as connection:
        actions = connection.execute(select(audit_t.c.action, audit_t.c.actor).order_by(audit_t.c.id)).all()
    assert ("participant_updated", "staff:nurse.kim") in actions


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--anchor", "2026-12-01", "--timezone", "Mars/Olympus_Mons"],
         "trialbot: unknown time zone 'Mars/Olympus_Mons' (use a name like America/New_York)"),
        (["--anchor", "2026-02-30"], "Error: Invalid value for '--anchor': '2026-02-30' does not match the format"),
        (["--anchor", "next tuesday"], "Error: Invalid value for '--anchor': 'next tuesday' does not match"),
    ],
)  # fmt: skip
def test_enroll_refuses_bad_input_in_one_line(database_url: str, args: list[str], message: str) -> None:
    result = cli(database_url, "enroll", REF, *args)
    assert error_line(result).startswith(message)
    assert count(database_url, participant_t) == 0


def test_unknown_participant_code_is_a_clear_error(database_url: str) -> None:
    enrolled = cli(database_url, "enroll", "P-NOPE00", "--anchor", "2026-12-01")
    assert error_line(enrolled) == (
        "trialbot: no participant 'P-NOPE00'; to enrol someone new give sms:+15550100199 or telegram:<chat id>"
    )
    assert count(database_url, participant_t) == 0
    for args in (["participant", "show", "P-NOPE00"], ["visit", "list", "P-NOPE00"],
                 ["visit", "book", "P-NOPE00", "week_4", "--at", "2026-12-29 09:30"],
                 ["visit", "attended", "P-NOPE00", "week_4"]):  # fmt: skip
        result = cli(database_url, *args)
        assert result.exit_code == 1
        assert error_line(result).startswith("trialbot: no participant 'P-NOPE00'"), args
    assert error_line(cli(database_url, "enroll", "sms:5550123", "--anchor", "2026-12-01")) == (
        "trialbot: '5550123' is not a phone number like +15550100199"
    )


# -- visits ------------------------------------------------------------------------------------


def test_book_week_4_shows_its_window_and_its_messages(database_url: str) -> None:
    code = enroll(database_url)
    booked = ok(cli(database_url, "visit", "book", REF, "week_4", "--at", f"{WEEK_4} 09:30"))
    assert booked.stdout.startswith(f"{code}: week_4 booked for {WEEK_4} 09:30 (")
    assert booked.stderr == ""

    listed = visits(database_url)
    assert listed["id"] == code
    week_4 = visit_named(listed, "week_4")
    assert week_4["window"] == [(ANCHOR + timedelta(days=25)).isoformat(), (ANCHOR + timedelta(days=31)).isoformat()]
    assert week_4["out_of_window"] is False
    assert week_4["status"] == "booked"
    assert (week_4["type"], week_4["site"]) == ("on_site", "riverside")
    assert datetime.fromisoformat(week_4["scheduled_local"]) == datetime.combine(WEEK_4, time(9, 30), NEW_YORK)
    planned = planned_for(listed, week_4["id"])
    assert [kind for kind, _ in planned if kind == "booking"] == ["booking"]  # the booking note, due now
    assert [when for kind, when in planned if kind == "reminder"] == reminder_times(WEEK_4)


def test_the_window_of_week_4_for_day_1_on_2026_12_01(database_url: str) -> None:
    """The example from the issue, with fixed dates (the window does not depend on today)."""
    ok(cli(database_url, "enroll", REF, "--anchor", "2026-12-01"))
    ok(cli(database_url, "visit", "book", REF, "week_4", "--at", "2026-12-29 09:30"))
    week_4 = visit_named(visits(database_url), "week_4")
    assert week_4["window"] == ["2026-12-26", "2027-01-01"]
    assert week_4["out_of_window"] is False
    assert week_4["scheduled_local"] == "2026-12-29T09:30:00-05:00"
    assert week_4["scheduled_utc"] == "2026-12-29T14:30:00+00:00"


def test_booking_outside_the_window_warns(database_url: str) -> None:
    enroll(database_url)
    late = WEEK_4 + timedelta(days=4)  # the window ends 3 days after
    booked = ok(cli(database_url, "visit", "book", REF, "week_4", "--at", f"{late} 14:00"))
    window = f"{ANCHOR + timedelta(days=25)} to {ANCHOR + timedelta(days=31)}"
    assert booked.stderr == f"WARNING: outside the visit's window ({window}): a possible protocol deviation\n"
    week_4 = visit_named(visits(database_url), "week_4")
    assert week_4["out_of_window"] is True
    assert week_4["status"] == "booked"
    with database(database_url) as connection:
        entry = connection.execute(select(audit_t.c.new).where(audit_t.c.action == "visit_booked")).scalar_one()
    assert entry["out_of_window"] is True


def test_move_replans_the_reminders(database_url: str) -> None:
    enroll(database_url)
    ok(cli(database_url, "visit", "book", REF, "week_4", "--at", f"{WEEK_4} 09:30"))
    before = visits(database_url)
    visit_id = visit_named(before, "week_4")["id"]
    new_day = WEEK_4 + timedelta(days=2)
    moved = ok(cli(database_url, "visit", "move", REF, "week_4", "--at", f"{new_day} 15:45"))
    assert "week_4 moved to" in moved.stdout

    after = visits(database_url)
    week_4 = visit_named(after, "week_4")
    assert week_4["id"] == visit_id
    assert datetime.fromisoformat(week_4["scheduled_local"]) == datetime.combine(new_day, time(15, 45), NEW_YORK)
    old = {when for kind, when in planned_for(before, visit_id) if kind == "reminder"}
    new = {when for kind, when in planned_for(after, visit_id) if kind == "reminder"}
    assert old == set(reminder_times(WEEK_4))
    assert new == set(reminder_times(new_day))
    assert not old & new  # the old ones are gone
    assert [kind for kind, _ in planned_for(after, visit_id)].count("booking") == 1  # a new note, not two
    with database(database_url) as connection:
        actions = list(connection.execute(select(audit_t.c.action)).scalars())
        pending = connection.execute(
            select(func.count()).where(scheduled_t.c.visit_id == visit_id, scheduled_t.c.status == "pending")
        ).scalar_one()
    assert actions.count("visit_moved") == 1
    assert pending == len(planned_for(after, visit_id))


def test_cancel_removes_the_planned_messages(database_url: str) -> None:
    code = enroll(database_url)
    ok(cli(database_url, "visit", "book", REF, "week_4", "--at", f"{WEEK_4} 09:30"))
    ok(cli(database_url, "visit", "book", REF, "week_2_call", "--at", f"{ANCHOR + timedelta(days=14)} 11:00"))
    listed = visits(database_url)
    week_4, call = visit_named(listed, "week_4")["id"], visit_named(listed, "week_2_call")["id"]
    assert planned_for(listed, week_4)

    cancelled = ok(cli(database_url, "visit", "cancel", REF, "week_4"))
    assert cancelled.stdout == f"{code}: week_4 cancelled\n"
    after = visits(database_url)
    assert visit_named(after, "week_4")["status"] == "cancelled"
    assert planned_for(after, week_4) == []
    assert planned_for(after, call) == planned_for(listed, call)  # the other visit keeps its reminders
    assert count(database_url, scheduled_t, scheduled_t.c.visit_id == week_4, scheduled_t.c.status == "pending") == 0
    assert len([u for u in after["upcoming"] if u["kind"] == "checkin"]) == 12


def test_attended_and_missed_change_the_status(database_url: str) -> None:
    code = enroll(database_url, anchor=PAST)
    ok(cli(database_url, "visit", "book", REF, "baseline", "--at", f"{PAST} 09:00"))
    ok(cli(database_url, "visit", "book", REF, "week_4", "--at", f"{PAST + timedelta(days=28)} 09:30"))
    assert ok(cli(database_url, "visit", "attended", REF, "baseline")).stdout == f"{code}: baseline attended\n"
    assert ok(cli(database_url, "visit", "missed", REF, "week_4", "--by", "dr.ames")).stdout == (
        f"{code}: week_4 missed\n"
    )
    listed = visits(database_url)
    assert visit_named(listed, "baseline")["status"] == "attended"
    assert visit_named(listed, "week_4")["status"] == "missed"
    week_4 = visit_named(listed, "week_4")["id"]
    assert "reminder" not in [kind for kind, _ in planned_for(listed, week_4)]
    with database(database_url) as connection:
        rows = connection.execute(
            select(audit_t.c.action, audit_t.c.actor, audit_t.c.new).where(audit_t.c.action == "visit_missed")
        ).all()
    assert [(r.actor, r.new) for r in rows] == [("staff:dr.ames", {"visit": "week_4", "status": "missed"})]


def test_visit_errors_are_clear(database_url: str) -> None:
    # A participant who chatted but has no day 1 yet.
    ok(cli(database_url, "chat", "--as", "alex", input="Hi\n"))
    code = json.loads(ok(cli(database_url, "participant", "show", "console:alex", "--json")).stdout)["id"]
    no_anchor = cli(database_url, "visit", "book", "console:alex", "week_4", "--at", "2026-12-29 09:30")
    assert error_line(no_anchor) == f"trialbot: {code} has no day 1 yet: set it with `trialbot enroll --anchor`"

    enroll(database_url)
    unknown = cli(database_url, "visit", "book", REF, "week_5", "--at", f"{WEEK_4} 09:30")
    assert error_line(unknown) == (
        "trialbot: no visit 'week_5' in the schedule "
        "(visits: baseline, week_2_call, week_4, week_8_video, week_12_home)"
    )
    for at, message in [
        ("2026-02-30 09:30", "trialbot: date '2026-02-30' is not like 2026-12-03"),
        (f"{WEEK_4} 25:00", "trialbot: time '25:00' is not like 09:30"),
        (f"{WEEK_4}", f"trialbot: --at '{WEEK_4}' needs a local date and a time, e.g. \"2026-12-03 09:30\""),
    ]:
        assert error_line(cli(database_url, "visit", "book", REF, "week_4", "--at", at)) == message
    site = cli(database_url, "visit", "book", REF, "week_4", "--at", f"{WEEK_4} 09:30", "--site", "uptown")
    assert error_line(site) == "trialbot: no site 'uptown' in the study"
    not_booked = cli(database_url, "visit", "attended", REF, "week_8_video")
    assert error_line(not_booked).endswith("has no booked visit 'week_8_video'")
    assert count(database_url, visit_t) == 0


# -- CSV import --------------------------------------------------------------------------------


def test_import_books_the_good_rows_and_lists_every_bad_one(database_url: str, tmp_path: Path) -> None:
    first = enroll(database_url, "sms:+15550123001")
    second = enroll(database_url, "sms:+15550123002")
    call_day = ANCHOR + timedelta(days=14)
    lines = [
        "participant,visit,date,time,site",  # line 1
        f"sms:+15550123001,week_4,{WEEK_4},09:30,riverside",  # 2: good
        f"{second},week_4,{WEEK_4 - timedelta(days=1)},10:00,",  # 3: good, by code, default site
        f"sms:+15550123099,week_4,{WEEK_4},09:30,riverside",  # 4: unknown participant
        f"sms:+15550123001,week_5,{WEEK_4},09:30,",  # 5: unknown visit
        "sms:+15550123002,week_8_video,2026-02-30,09:30,",  # 6: bad date
        f"sms:+15550123002,week_12_home,{ANCHOR + timedelta(days=84)},25:00,",  # 7: bad time
        ",,,,",  # 8: empty fields
        "",  # 9: a blank line, skipped but counted
        f"sms:+15550123001,week_2_call,{call_day},11:00",  # 10: good, no site field at all
        f"sms:+15550123002,baseline,{ANCHOR},09:00,uptown",  # 11: unknown site
    ]
    csv_file = tmp_path / "appointments.csv"
    csv_file.write_text("\n".join(lines) + "\n", encoding="utf-8")

    imported = run(database_url, "visit", "import", str(csv_file))
    assert imported.returncode == 1
    assert imported.stdout == "3 booked, 6 refused\n"
    refused = [line for line in imported.stderr.splitlines() if line.startswith("line ")]
    assert refused == [
        "line 4: no participant 'sms:+15550123099' (give a code like P-7K3QX9 or channel:address)",
        "line 5: no visit 'week_5' in the schedule (visits: baseline, week_2_call, week_4, week_8_video, week_12_home)",
        "line 6: date '2026-02-30' is not like 2026-12-03",
        "line 7: time '25:00' is not like 09:30",
        "line 8: date '' is not like 2026-12-03",
        "line 11: no site 'uptown' in the study",
    ]

    with database(database_url) as connection:
        codes = dict(connection.execute(select(participant_t.c.id, participant_t.c.code)).all())
        booked = {(codes[r.participant_id], r.visit_key) for r in connection.execute(select(visit_t))}
        planned_visits = set(
            connection.execute(select(scheduled_t.c.visit_id).where(scheduled_t.c.visit_id.is_not(None))).scalars()
        )
        visit_ids = set(connection.execute(select(visit_t.c.id)).scalars())
        unknown_address = connection.execute(
            select(func.count()).where(address_t.c.address == "+15550123099")
        ).scalar_one()
        bookings = connection.execute(
            select(func.count()).where(audit_t.c.action.in_(["visit_booked", "visit_moved"]))
        ).scalar_one()
    assert booked == {(first, "week_4"), (second, "week_4"), (first, "week_2_call")}  # nothing for lines 4-11
    assert planned_visits <= visit_ids
    assert len(codes) == 2  # an import never creates participants
    assert unknown_address == 0
    assert bookings == 3

    listed = visits(database_url, second)
    week_4 = visit_named(listed, "week_4")
    assert (week_4["site"], week_4["out_of_window"]) == ("riverside", False)
    assert [when for kind, when in planned_for(listed, week_4["id"]) if kind == "reminder"] == reminder_times(
        WEEK_4 - timedelta(days=1)
    )


def test_import_warns_about_rows_outside_the_window(database_url: str, tmp_path: Path) -> None:
    code = enroll(database_url)
    csv_file = tmp_path / "late.csv"
    csv_file.write_text(f"Participant,Visit,Date,Time\n{REF},week_4,{WEEK_4 + timedelta(days=10)},09:30\n")
    imported = cli(database_url, "visit", "import", str(csv_file))
    assert imported.exit_code == 0, imported.output
    assert imported.stdout == "1 booked, 0 refused\n"
    assert f"WARNING: outside the visit's window: line 2: {code} week_4" in imported.stderr
    assert visit_named(visits(database_url), "week_4")["out_of_window"] is True


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"who,when\nP-1,2026-12-01\n",
         "the header needs columns participant, visit, date, time (missing: participant, visit, date, time)"),
        (b"participant,visit,date\nsms:+15550123001,week_4,2026-12-29\n",
         "the header needs columns participant, visit, date, time (missing: time)"),
        (b"", "the header needs columns participant, visit, date, time"),
        ("participant,visit,date,time\nsms:+15550123001,week_4,2026-12-29,09:30,Düsseldorf\n".encode("latin-1"),
         "cannot read it ('utf-8' codec can't decode byte 0xfc"),
        (b"participant,visit,date,time\nsms:+15550123001,week_4,2026-12-29,09:30,riverside\n",
         "line 2 has more fields than the header's 4 columns (quote a value that contains a comma)"),
    ],
    ids=["wrong-header", "missing-column", "empty", "not-utf8", "extra-field"],
)  # fmt: skip
def test_import_refuses_a_bad_file_cleanly(database_url: str, tmp_path: Path, content: bytes, message: str) -> None:
    enroll(database_url)
    csv_file = tmp_path / "bad.csv"
    csv_file.write_bytes(content)
    result = cli(database_url, "visit", "import", str(csv_file))
    assert result.exit_code == 1
    assert error_line(result).startswith(f"trialbot: {csv_file}: {message}")
    assert count(database_url, visit_t) == 0


def test_import_of_a_missing_file(database_url: str, tmp_path: Path) -> None:
    result = cli(database_url, "visit", "import", str(tmp_path / "nowhere.csv"))
    assert result.exit_code == 2
    assert "does not exist" in error_line(result)


def test_import_accepts_trailing_commas_and_a_byte_order_mark(database_url: str, tmp_path: Path) -> None:
    enroll(database_url)
    csv_file = tmp_path / "excel.csv"
    csv_file.write_bytes(f"\ufeffparticipant,visit,date,time\r\n{REF},week_4,{WEEK_4},09:30,,\r\n".encode())
    imported = ok(cli(database_url, "visit", "import", str(csv_file)))
    assert imported.stdout == "1 booked, 0 refused\n"
    assert count(database_url, visit_t) == 1


# -- worker ------------------------------------------------------------------------------------


def test_worker_sends_the_welcome_and_nothing_else_until_they_agree(database_url: str) -> None:
    code = enroll(database_url)
    ok(cli(database_url, "visit", "book", REF, "week_4", "--at", f"{WEEK_4} 09:30"))
    with database(database_url) as connection:
        welcome_due = connection.execute(
            select(scheduled_t.c.due_at).where(scheduled_t.c.kind == "welcome")
        ).scalar_one()
    at = (welcome_due if welcome_due.tzinfo else welcome_due.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    preview = [
        json.loads(line) for line in ok(cli(database_url, "worker", "--dry-run", "--at", at)).stdout.splitlines()
    ]
    assert [(row["participant"], row["kind"]) for row in preview] == [(code, "welcome")]
    assert preview[0]["body"].startswith("Hi! This is the Sunrise Study team.")
    due = at_ten(WEEK_4 - timedelta(days=7)).astimezone(UTC)
    report = json.loads(ok(cli(database_url, "worker", "--once", "--at", due.isoformat())).stdout)
    assert report["sent"] == 0, "no reminder to someone who has not agreed to texts"
    assert count(database_url, outbox_t) == 0


def test_worker_sends_the_7_day_reminder(database_url: str) -> None:
    code = enroll(database_url)
    agree_to_texts(database_url, code)
    ok(cli(database_url, "visit", "book", REF, "week_4", "--at", f"{WEEK_4} 09:30"))
    due = at_ten(WEEK_4 - timedelta(days=7)).astimezone(UTC)
    with database(database_url) as connection:
        before = connection.execute(select(scheduled_t).order_by(scheduled_t.c.id)).all()

    preview = run(database_url, "worker", "--dry-run", "--at", due.isoformat())
    assert preview.returncode == 0, preview.stderr
    shown = [json.loads(line) for line in preview.stdout.splitlines()]
    reminders = [row for row in shown if row["kind"] == "reminder"]
    assert len(reminders) == 1
    assert reminders[0]["participant"] == code
    assert reminders[0]["channel"] == "sms"
    assert reminders[0]["body"].startswith(REMINDER_TEXT)
    assert datetime.fromisoformat(reminders[0]["due_utc"]) == due
    assert all(row.keys() >= {"participant", "kind", "body"} for row in shown)
    with database(database_url) as connection:
        assert connection.execute(select(scheduled_t).order_by(scheduled_t.c.id)).all() == before  # nothing changed
    assert count(database_url, outbox_t) == 0

    swept = run(database_url, "worker", "--once", "--at", due.isoformat())
    assert swept.returncode == 0, swept.stderr
    report = json.loads(swept.stdout)
    assert report["sent"] >= 1
    with database(database_url) as connection:
        outbox = connection.execute(select(outbox_t).order_by(outbox_t.c.id)).all()
        sent_keys = {
            f"sched:{r.id}": r.kind
            for r in connection.execute(select(scheduled_t).where(scheduled_t.c.status == "sent"))
        }
    assert len(outbox) == report["sent"]
    [reminder] = [r for r in outbox if r.body.startswith(REMINDER_TEXT)]
    assert (reminder.channel, reminder.address, reminder.purpose, reminder.status) == (
        "sms",
        PHONE,
        "reminder",
        "pending",
    )
    assert WEEK_4.strftime("%B") in reminder.body
    assert "9:30 AM" in reminder.body
    assert sent_keys[reminder.idempotency_key] == "reminder"
    assert {r.idempotency_key for r in outbox} == set(sent_keys)

    ok(cli(database_url, "worker", "--once", "--at", due.isoformat()))  # a second sweep at the same time
    assert count(database_url, outbox_t, outbox_t.c.body.startswith(REMINDER_TEXT)) == 1  # never twice


@pytest.mark.parametrize(
    ("at", "message"),
    [
        ("2026-12-22T15:00:00", "trialbot: --at needs an offset or Z, e.g. 2026-12-01T14:00:00Z"),
        ("next tuesday", "trialbot: --at 'next tuesday' is not an ISO time like 2026-12-01T09:00:00-05:00"),
    ],
)
def test_worker_refuses_a_bad_time(database_url: str, at: str, message: str) -> None:
    result = cli(database_url, "worker", "--once", "--at", at)
    assert result.exit_code == 1
    assert error_line(result) == message


def test_worker_at_z_time_with_nothing_due(database_url: str) -> None:
    agree_to_texts(database_url, enroll(database_url))
    day_1 = at_ten(ANCHOR).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    report = json.loads(ok(cli(database_url, "worker", "--once", "--at", day_1)).stdout)
    assert report == {
        "sent": 0, "skipped_opted_out": 0, "deferred": 0, "expired": 0, "missed_visits": 0, "nudged": 0,
        "alert_rounds": 0,
    }  # fmt: skip
    assert ok(cli(database_url, "worker", "--dry-run", "--at", day_1)).stdout == ""


# -- report ------------------------------------------------------------------------------------


def test_report_visits_after_attended_and_missed(database_url: str) -> None:
    enroll(database_url, anchor=PAST)
    ok(cli(database_url, "visit", "book", REF, "baseline", "--at", f"{PAST} 09:00"))
    ok(cli(database_url, "visit", "book", REF, "week_2_call", "--at", f"{PAST + timedelta(days=14)} 11:00"))
    ok(cli(database_url, "visit", "book", REF, "week_4", "--at", f"{PAST + timedelta(days=28)} 09:30"))
    ok(cli(database_url, "visit", "book", REF, "week_8_video", "--at", f"{PAST + timedelta(days=56)} 09:30"))
    ok(cli(database_url, "visit", "attended", REF, "baseline"))
    ok(cli(database_url, "visit", "attended", REF, "week_2_call"))
    ok(cli(database_url, "visit", "missed", REF, "week_4"))

    figures = json.loads(ok(cli(database_url, "report", "visits", "--json")).stdout)
    assert figures["visits_due"] == 3
    assert figures["visits_attended"] == 2
    assert figures["visits_attended_within_window"] == 2
    assert figures["visit_adherence"] == 0.6667
    assert figures["visits_missed"] == 1
    assert figures["visits_booked"] == 1
    assert figures["visits_cancelled"] == 0
    assert figures["visits_out_of_window"] == 0

    text = ok(cli(database_url, "report", "visits")).stdout  # the retention report, as a table
    assert any(line.split()[:5] == ["visit_adherence", "2", "/", "3", "="] and "0.6667" in line
               for line in text.splitlines())  # fmt: skip


def test_a_visit_not_booked_cannot_be_moved_and_a_future_one_not_attended(database_url: str) -> None:
    code = enroll(database_url)
    moved = cli(database_url, "visit", "move", REF, "week_4", "--at", f"{WEEK_4} 09:30")
    assert moved.exit_code == 1
    assert f"{code} has no booked visit 'week_4' to move; book it instead" in moved.output
    ok(cli(database_url, "visit", "book", REF, "week_4", "--at", f"{WEEK_4} 09:30"))
    early = cli(database_url, "visit", "attended", REF, "week_4")
    assert early.exit_code == 1
    assert "visit is not until" in early.output
