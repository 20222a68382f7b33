"""Flow loading: the shipped flows load, and each kind of broken flow file is rejected with an error that
names the file, the state and the problem. One shared `transitions` machine per flow, without auto
transitions."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from transitions import Machine

from bot.bootstrap import Core
from bot.engine import Engine, FlowError, flows_dir, load_flows
from bot.engine.spec import ADVANCE

Breakage = Callable[[Path], None]


def replace(file: str, old: str, new: str) -> Breakage:
    """Edit one flow file as text (so comments and quoting stay as written); `old` must occur once."""

    def apply(folder: Path) -> None:
        path = folder / file
        text = path.read_text(encoding="utf-8")
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {file}"
        path.write_text(text.replace(old, new), encoding="utf-8")

    return apply


def rename(file: str, new_name: str) -> Breakage:
    """Move a flow file to another name."""

    def apply(folder: Path) -> None:
        (folder / file).rename(folder / new_name)

    return apply


@pytest.fixture
def flows_copy(tmp_path: Path) -> Path:
    """The shipped flow files, copied so a test can break them."""
    folder = tmp_path / "flows"
    shutil.copytree(flows_dir(), folder, ignore=shutil.ignore_patterns("studies", "__pycache__", "*.py"))
    return folder


def load_error(folder: Path) -> str:
    with pytest.raises(FlowError) as raised:
        load_flows(folder)
    return str(raised.value)


# (case id, breakage, the file named, the words that must appear in the error: state and problem)
CASES: list[tuple[str, Breakage, str, list[str]]] = [
    (
        "unknown_action",
        replace("prescreen.yaml", "do: [start_prescreen]", "do: [start_prescreem]"),
        "prescreen.yaml",
        ["state 'intro'", "unknown action 'start_prescreem'"],
    ),
    (
        "action_without_its_argument",
        replace("prescreen.yaml", 'do: ["request_staff(prescreen_review)"]', 'do: ["request_staff"]'),
        "prescreen.yaml",
        ["state 'outcome'", "action 'request_staff' is written request_staff(...)"],
    ),
    (
        "action_not_a_name",
        replace("prescreen.yaml", '"request_staff(prescreen_review)"', '"request_staff(prescreen review)"'),
        "prescreen.yaml",
        ["state 'outcome'", "'request_staff(prescreen review)' is not an action name"],
    ),
    (
        "unknown_guard",
        replace("prescreen.yaml", "if: has_question", "if: has_questions"),
        "prescreen.yaml",
        ["state 'next_question'", "unknown guard 'has_questions'"],
    ),
    (
        "unknown_parser",
        replace("offer_person.yaml", "expect: yes_no", "expect: yes_or_no"),
        "offer_person.yaml",
        ["state 'offer'", "unknown answer parser 'yes_or_no'"],
    ),
    (
        "unknown_prompt",
        replace("language.yaml", "prompt: language_menu", "prompt: language_menus"),
        "language.yaml",
        ["state 'choose'", "unknown prompt 'language_menus'"],
    ),
    (
        "dangling_route",
        replace("offer_person.yaml", "        to: declined\n", "        to: nowhere\n"),
        "offer_person.yaml",
        ["state 'offer'", "route goes to 'nowhere', which does not exist"],
    ),
    (
        "dangling_retry_state",
        replace("language.yaml", "then: unchanged", "then: unchange"),
        "language.yaml",
        ["state 'choose'", "retry goes to 'unchange', which does not exist"],
    ),
    (
        "dangling_retry_flow",
        replace("offer_person.yaml", "retry: {tries: 2, then: declined}", "retry: {tries: 2, then_flow: nobody}"),
        "offer_person.yaml",
        ["state 'offer'", "retry starts flow 'nobody', which does not exist"],
    ),
    (
        "missing_initial_state",
        replace("language.yaml", "initial: choose", "initial: chose"),
        "language.yaml",
        ["initial state 'chose' does not exist"],
    ),
    (
        "unreachable_state",
        replace("offer_person.yaml", "  requested:\n", "  orphan:\n    final: true\n  requested:\n"),
        "offer_person.yaml",
        ["unreachable states: orphan"],
    ),
    (
        "outcome_without_route",
        replace("prescreen.yaml", '      - when: "no"\n        do: [record_recontact]\n        to: wrap_up\n', ""),
        "prescreen.yaml",
        ["state 'recontact'", "answer 'no' has no route"],
    ),
    (
        "route_for_an_outcome_the_parser_never_gives",
        replace("offer_person.yaml", '- when: "yes"', '- when: "maybe"'),
        "offer_person.yaml",
        ["state 'offer'", "'yes_no' never answers 'maybe'", "answer 'yes' has no route"],
    ),
    (
        "unquoted_yes_key",
        replace(
            "offer_person.yaml",
            "    ask:\n      id: offer_person.offer\n",
            "    yes: [record_answer]\n    ask:\n      id: offer_person.offer\n",
        ),
        "offer_person.yaml",
        ["states.offer", "key True is not text; quote it"],
    ),
    (
        "unquoted_yes_value",
        replace("offer_person.yaml", '- when: "yes"', "- when: yes"),
        "offer_person.yaml",
        ["states.offer.routes.0.when", "valid string"],
    ),
    (
        "guarded_last_route_could_get_stuck",
        replace(
            "prescreen.yaml", "      - to: ineligible\n", "      - if: prescreen_eligible\n        to: ineligible\n"
        ),
        "prescreen.yaml",
        ["state 'outcome'", "the last route for 'advance' has a guard, so the flow could get stuck"],
    ),
    (
        "final_state_missing",
        replace("prescreen.yaml", "  goodbye:\n    final: true\n", "  goodbye:\n"),
        "prescreen.yaml",
        ["states.goodbye", "a state that is not final needs routes"],
    ),
    (
        "message_outside_the_flow_namespace",
        replace("offer_person.yaml", "id: offer_person.declined", "id: prescreen.declined_offer"),
        "offer_person.yaml",
        ["state 'declined'", "message id 'prescreen.declined_offer' must start with 'offer_person.'"],
    ),
    (
        "message_outside_the_book_namespace",
        replace("common.yaml", "id: common.media", "id: media.common"),
        "common.yaml",
        ["message id 'media.common' must start with 'common.'"],
    ),
    (
        "message_id_repeated_in_a_flow",
        replace("offer_person.yaml", "id: offer_person.declined", "id: offer_person.requested"),
        "offer_person.yaml",
        ["state 'declined'", "message id 'offer_person.requested' is also used in", "state 'requested'"],
    ),
    (
        "message_id_repeated_in_a_book",
        replace("common.yaml", "id: common.media", "id: common.idle"),
        "common.yaml",
        ["message book 'common'", "message id 'common.idle' is also used in"],
    ),
    (
        "shared_message_missing",
        replace("language.yaml", "say: [common.language_changed]", "say: [common.language_changd]"),
        "language.yaml",
        ["state 'done'", "no message 'common.language_changd'"],
    ),
    (
        "stray_brace_in_text",
        replace("offer_person.yaml", 'text: "OK. Let\'s try the question again."', 'text: "OK. {name"'),
        "offer_person.yaml",
        ["states.declined", "braces must wrap a simple name"],
    ),
    (
        "file_name_is_not_the_flow_id",
        rename("offer_person.yaml", "offer_person_v2.yaml"),
        "offer_person_v2.yaml",
        ["flow 'offer_person'", "the file must be named offer_person.yaml"],
    ),
    (
        "not_yaml",
        replace("language.yaml", "initial: choose", "initial: [choose"),
        "language.yaml",
        ["cannot read it"],
    ),
]


def test_shipped_flows_load_cleanly() -> None:
    flows = load_flows(flows_dir())
    assert set(flows.flows) == {
        "prescreen", "language", "offer_person", "visit_reminder", "missed_visit", "checkin", "travel", "consent",
        "settings", "onboarding",
    }  # fmt: skip
    assert set(flows.books) == {"common"}
    assert "vocabulary" not in flows.sources


def test_an_unbroken_copy_loads(flows_copy: Path) -> None:
    # Guards the cases below: each error comes from its one breakage, not from copying.
    assert set(load_flows(flows_copy).flows) == set(load_flows(flows_dir()).flows)


@pytest.mark.parametrize(("breakage", "file", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_broken_flow_is_rejected_naming_file_state_and_problem(
    flows_copy: Path, breakage: Breakage, file: str, expected: list[str]
) -> None:
    breakage(flows_copy)
    error = load_error(flows_copy)
    lines = [line for line in error.splitlines() if str(flows_copy / file) in line]
    assert lines, f"no problem names {file}:\n{error}"
    for words in expected:
        assert any(words in line for line in lines), f"{words!r} not in:\n{error}"


def test_message_used_by_code_but_defined_nowhere(flows_copy: Path) -> None:
    replace("common.yaml", '  - id: common.unclear\n    text: "Sorry, I didn\'t catch that."\n', "")(flows_copy)
    assert "message 'common.unclear' is used by trialbot's code but no flow file defines it" in load_error(flows_copy)


def test_every_problem_is_listed_not_just_the_first(flows_copy: Path) -> None:
    replace("prescreen.yaml", "if: has_question", "if: has_questions")(flows_copy)
    replace("language.yaml", "prompt: language_menu", "prompt: language_menus")(flows_copy)
    error = load_error(flows_copy)
    assert "unknown guard 'has_questions'" in error
    assert "unknown prompt 'language_menus'" in error


def test_one_machine_per_flow_without_auto_transitions() -> None:
    flows = load_flows(flows_dir())
    engine = Engine(flows)
    assert set(engine.machines) == set(flows.flows)
    for flow_id, machine in engine.machines.items():
        assert isinstance(machine, Machine)
        assert machine.auto_transitions is False
        assert not [name for name in machine.events if name.startswith("to_")], flow_id
        # Only the routes written in the YAML (plus `unclear` for a retry that goes to a state) exist.
        spec = flows.flows[flow_id]
        written = {route.trigger for state in spec.states.values() for route in state.routes}
        retries = {"unclear" for s in spec.states.values() if s.ask and s.ask.retry and s.ask.retry.then}
        assert set(machine.events) == written | retries, flow_id
        assert set(machine.states) == set(spec.states), flow_id
        # Built with model=None: each turn hands it a model, so none is attached between turns.
        assert machine.models == [], flow_id
    assert ADVANCE in engine.machines["prescreen"].events


def test_turns_share_the_compiled_machines_and_leave_no_model_attached(core: Core) -> None:
    engine = core.conversations.engine
    before = dict(engine.machines)
    context = core.conversations.context("en", datetime(2026, 11, 23, 15, 0, tzinfo=UTC))
    started = engine.start("prescreen", context)
    answered = engine.resume(started.snapshot, "yes", context)
    assert answered.active
    assert answered.snapshot["frames"][-1]["state"] == "question"
    assert engine.machines.keys() == before.keys()
    assert all(engine.machines[flow_id] is machine for flow_id, machine in before.items())
    assert all(machine.models == [] for machine in engine.machines.values())
