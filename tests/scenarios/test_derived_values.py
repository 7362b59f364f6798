"""Values derived from parameters stay derived: a variant that sends 256 prompts expects 256 completed requests and
twice the prefill batches, and no check of the library restates a number a parameter of its scenario defines."""
from __future__ import annotations

import re

import pytest

from runner.flows.check import validate_scenario
from runner.scenario.resolve import Library
from tests.core.conftest import SCENARIOS

SERVING = ["sglang-baseline-tp8", "sglang-1p1d", "sglang-1p2d", "sglang-1p1d-disaggregatedset"]


def checks(name: str, *overrides: str) -> dict:
    return {check.name: check for check in validate_scenario(name, Library(SCENARIOS), overrides).checks}


@pytest.mark.parametrize("name", SERVING)
def test_completed_follows_num_prompts(name):
    assert checks(name)["completed"].value == 128
    assert checks(name, "parameters.num_prompts=256")["completed"].value == 256


@pytest.mark.parametrize("name", [n for n in SERVING if n != "sglang-baseline-tp8"])
def test_prefill_batches_follow_the_prompts(name):
    assert checks(name)["prefill-served"].count == 8                                          # 128 x 1024 tokens, 16 a batch
    assert checks(name, "parameters.num_prompts=256")["prefill-served"].count == 16
    assert checks(name, "parameters.input_len=32768")["prefill-served"].count == 128           # one prompt a batch at most


def test_no_check_restates_a_parameter():
    """A literal threshold equal to a parameter whose name its description cites (`(= num_prompts)`) would go stale
    as soon as a variant changes the parameter."""
    library = Library(SCENARIOS)
    stale = []
    for name in library.names():
        scenario = validate_scenario(name, library)
        for check, raw in zip(scenario.checks, scenario.data.get("checks") or ()):
            for field in ("value", "count"):
                literal = raw.get(field)
                if not isinstance(literal, (int, float)) or isinstance(literal, bool):
                    continue
                cited = [p for p, v in scenario.parameters.items() if v == literal and re.search(rf"\b{p}\b", check.description)]
                stale += [f"{name}: {check.name}.{field} = {literal} restates parameter {p}" for p in cited]
    assert not stale
