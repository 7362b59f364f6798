"""Variants keep what their parent proves: checks merge by identity, removal and replacement are explicit and shown,
a weakened correctness check is warned about, problems blame the file that caused them, `show` prints an invalid one."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from runner.base.errors import ScenarioError
from runner.flows.check import inspect, validate_scenario
from runner.scenario.checks import check_name, weakening
from runner.scenario.resolve import Library

from .conftest import SCENARIO, SCENARIOS

HEAD = "apiVersion: scenarios/v1\nkind: Scenario\nmetadata: {{name: {name}}}\nextends: collectives-loopback\n"
FLOORS = """checks:
  - {metric: all-reduce.busbw_gbps_max, op: ">=", value: 0.5}
  - {metric: all-gather.busbw_gbps_max, op: ">=", value: 0.5}
  - {metric: all-to-all.busbw_gbps_max, op: ">=", value: 0.5}
"""
CORRECTNESS = {"all-reduce.wrong_total ==", "all-reduce.ranks ==", "all-gather.wrong_total ==", "all-to-all.wrong_total =="}


@pytest.fixture
def variants(tmp_path):
    """A library with the real collectives-loopback and the variants written by each test."""
    shutil.copy(SCENARIOS / "local" / "collectives-loopback.yaml", tmp_path)

    def make(name: str, body: str) -> Library:
        (tmp_path / f"{name}.yaml").write_text(HEAD.format(name=name) + body)
        return Library(tmp_path)

    return make


def names(scenario) -> list[str]:
    return [check.name for check in scenario.checks]


def test_a_variant_adding_floors_keeps_every_parent_check(variants):
    library = variants("floors", FLOORS)
    parent, variant = validate_scenario("collectives-loopback", library), validate_scenario("floors", library)
    assert names(variant)[: len(parent.checks)] == names(parent)
    assert CORRECTNESS <= {c.name for c in variant.checks if c.kind == "correctness"}
    assert names(variant)[len(parent.checks):] == [f"{w}.busbw_gbps_max >=" for w in ("all-reduce", "all-gather", "all-to-all")]
    assert not variant.warnings and not variant.check_edits


def test_identity_is_the_name_or_what_the_check_checks_never_its_threshold():
    assert check_name({"name": "ttft", "metric": "bench.ttft_ms_mean", "op": "<="}) == "ttft"
    assert check_name({"metric": "a.x", "op": ">=", "value": 1}) == check_name({"metric": "a.x", "op": ">=", "value": 9}) == "a.x >="
    assert check_name({"metric": "a.x", "op": "<=", "baseline": {"scenario": "b"}}) == "a.x <= baseline"
    assert check_name({"log": "initiator", "contains": "Test completed", "count": 3}) == "initiator log has 'Test completed'"
    assert check_name({"log": "decode", "regex": "KVTransferError", "absent": True}) == "decode log lacks 'KVTransferError'"


def test_a_variant_moving_a_threshold_changes_the_same_check(variants):
    library = variants("tighter", 'checks:\n  - {metric: all-reduce.busbw_gbps_max, op: ">", value: 2}\n')
    variant = validate_scenario("tighter", library)
    assert names(variant) == names(validate_scenario("collectives-loopback", library))
    assert next(c for c in variant.checks if c.name == "all-reduce.busbw_gbps_max >").value == 2
    assert [(e.action, e.name, e.fields) for e in variant.check_edits] == [("changed", "all-reduce.busbw_gbps_max >", ("value",))]


def test_remove_and_replace_are_explicit_and_warned_about_for_correctness_checks(variants):
    library = variants("edits", """checks:
  - {name: "all-gather.wrong_total ==", remove: "gather is not under test here"}
  - {name: "all-reduce.ranks ==", replace: true, metric: all-reduce.ranks, op: ">=", value: 1, kind: correctness}
""")
    variant = validate_scenario("edits", library)
    assert "all-gather.wrong_total ==" not in names(variant)
    assert [(e.action, e.name, e.reason) for e in variant.check_edits] == [
        ("removed", "all-gather.wrong_total ==", "gather is not under test here"), ("replaced", "all-reduce.ranks ==", "")]
    warnings = [str(w) for w in variant.warnings]
    assert len(warnings) == 2 and all("edits.yaml" in w and "variant-weakens-check" in w for w in warnings)
    assert "removes it" in warnings[0] and "changes the bar from == 2 to >= 1" in warnings[1]


def test_remove_naming_no_parent_check_is_refused_with_the_close_name(variants):
    library = variants("typo", 'checks:\n  - {name: "all-reduce.wrong_totl ==", remove: true}\n')
    with pytest.raises(ScenarioError) as error:
        validate_scenario("typo", library)
    [problem] = error.value.problems
    assert problem.location.file.endswith("typo.yaml") and problem.location.line == 6
    assert "did you mean 'all-reduce.wrong_total =='" in problem.hint


@pytest.mark.parametrize("old, new, reason", [
    ({"metric": "a.x", "op": "==", "value": 0, "kind": "correctness"}, {"metric": "a.x", "op": "==", "value": 0, "kind": "correctness"}, ""),
    ({"metric": "a.x", "op": ">=", "value": 8, "kind": "correctness"}, {"metric": "a.x", "op": ">=", "value": 9, "kind": "correctness"}, ""),
    ({"metric": "a.x", "op": ">=", "value": 8, "kind": "correctness"}, {"metric": "a.x", "op": ">=", "value": 4, "kind": "correctness"}, "loosens"),
    ({"metric": "a.x", "op": "<", "value": 8, "kind": "correctness"}, {"metric": "a.x", "op": "<=", "value": 8, "kind": "correctness"}, "loosens"),
    ({"metric": "a.x", "op": ">=", "value": 8, "kind": "correctness"}, {"metric": "a.x", "op": ">=", "value": 8}, "performance"),
    ({"metric": "a.x", "op": ">=", "value": 1}, {"metric": "a.x", "op": ">=", "value": 0}, ""),  # a performance check
    ({"log": "w", "regex": "ok", "count": 8}, {"log": "w", "regex": "ok", "count": 4}, "lowers the count"),
    ({"log": "w", "regex": "ok", "count": "every-rank"}, {"log": "w", "regex": "ok", "count": 1}, "instead of every-rank"),
    ({"log": "w", "regex": "bad", "absent": True}, {"log": "w", "regex": "bad"}, "absent"),
    ({"log": "w", "regex": "ok"}, {"log": "w", "regex": "ok", "skip": "no GPU"}, "skips it"),
    ({"log": "w", "regex": "ok"}, None, "removes it"),
])
def test_weakening(old, new, reason):
    found = weakening(old, new)
    assert (reason in found and found) if reason else found == ""


def test_a_problem_the_variant_causes_in_the_parent_is_blamed_on_the_variant(variants):
    library = variants("drop", 'checks:\n  - {name: "all-gather.busbw_gbps_max >", remove: true}\n'
                               '  - {name: "all-gather.wrong_total ==", remove: true}\n')
    with pytest.raises(ScenarioError) as error:
        validate_scenario("drop", library)
    [problem] = error.value.problems
    assert problem.location.file.endswith("drop.yaml") and problem.location.line == 4  # its `extends:` line
    assert "all-gather" in problem.message and "collectives-loopback.yaml:30" in problem.message


def test_show_prints_an_invalid_variant_resolved_with_its_problems_and_edits(variants, tmp_path):
    variants("bad", 'checks:\n  - {name: "all-gather.wrong_total ==", remove: "flaky"}\n'
                    '  - {metric: all-reduce.busbw_gbps_mx, op: ">=", value: 1}\n')
    done = subprocess.run(SCENARIO + ["show", "--library", str(tmp_path), "bad"], capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "# resolved from: bad <- collectives-loopback" in done.stdout
    assert "# check removed 'all-gather.wrong_total ==' at" in done.stdout and ": flaky" in done.stdout
    assert "name: all-reduce.wrong_total ==" in done.stdout  # identities are shown
    assert "bad.yaml:7" in done.stderr and "busbw_gbps_mx" in done.stderr
    found = inspect("bad", Library(tmp_path))
    assert found.resolved is not None and found.scenario is None and found.problems


def test_a_meant_change_is_waived_with_its_reason(variants):
    body = 'checks:\n  - {name: "all-reduce.ranks ==", value: 4}\n  - {name: "all-gather.wrong_total ==", remove: "gone"}\n'
    waive_one = 'lints:\n  waive:\n    - {lint: variant-weakens-check, check: "all-reduce.ranks ==", reason: "four ranks here"}\n'
    library = variants("waived", body + waive_one)
    warnings = validate_scenario("waived", library).warnings
    assert [w.message.split("check ")[1].split(":")[0] for w in warnings] == ["'all-gather.wrong_total =='"]
    unwaived = [w.message for w in validate_scenario("changed", variants("changed", body)).warnings]
    assert unwaived[0].startswith("this variant changes") and unwaived[1].startswith("this variant weakens")  # == 2 -> 4; removed
    everything = 'lints:\n  waive:\n    - {lint: variant-weakens-check, reason: "a different test by design"}\n'
    assert validate_scenario("all", variants("all", body + everything)).warnings == ()


def test_the_library_warns_about_no_variant():
    from runner.flows.check import validate_scenario as validate

    library = Library(SCENARIOS)
    assert {name: [str(w) for w in validate(name, library).warnings] for name in library.names()
            if validate(name, library).warnings} == {}
