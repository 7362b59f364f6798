"""Every threshold of the library names its source, and every description quotes the value its check uses, so the
two cannot drift apart again (issue 24: descriptions said 150 GB/s and 50 GB/s where the checks said 50 and 300)."""
from __future__ import annotations

import re

import pytest

from runner.flows.check import validate_scenario
from runner.flows.docs import generate, threshold_source
from runner.scenario.resolve import Library

PARAMETER = re.compile(r"^\{\{\s*params\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$")
LIBRARY = Library()
SCENARIOS = {name: validate_scenario(name, LIBRARY) for name in LIBRARY.names()}
JUDGED = [(name, check) for name, s in SCENARIOS.items() for check in s.checks if check.metric and not check.skip]


def _parameter_of(name: str, check) -> str:
    """The parameter a templated value comes from (`value: "{{ params.num_prompts }}"`), else ''."""
    scenario = SCENARIOS[name]
    raw = (scenario.data.get("checks") or ())[scenario.checks.index(check)].get("value")
    match = PARAMETER.match(raw) if isinstance(raw, str) else None
    return match.group(1) if match else ""


def _quotes(description: str, number: float) -> bool:
    """The number as the description writes it: 320, 28.8, 5.5, 0 (not as a part of 3200 or 0.5)."""
    forms = {f"{number:g}", str(number)}
    return any(re.search(rf"(?<![\d.]){re.escape(form)}(?![\d]|\.\d)", description) for form in forms)


@pytest.mark.parametrize("name,check", JUDGED, ids=[f"{n}.{c.name}" for n, c in JUDGED])
def test_description_quotes_the_checks_value(name, check):
    description = " ".join(check.description.split())
    assert description, f"{name}: check {check.name} has no description"
    if check.baseline:
        factor = check.baseline.factor
        assert f"{factor:g}x" in description or f"{factor}x" in description, \
            f"{name}: {check.name} compares with {factor:g} x the baseline, its description says: {description}"
    elif isinstance(check.value, (int, float)) and not isinstance(check.value, bool):
        parameter = _parameter_of(name, check)
        # a value derived from a parameter may cite the parameter instead (it follows a --set); else it quotes the number
        assert _quotes(description, check.value) or (parameter and parameter in description), \
            f"{name}: {check.name} is {check.op} {check.value}, its description says: {description}"


@pytest.mark.parametrize("name,check", [(n, c) for n, c in JUDGED if c.kind == "performance"],
                         ids=[f"{n}.{c.name}" for n, c in JUDGED if c.kind == "performance"])
def test_every_performance_threshold_names_its_source_or_why_not(name, check):
    assert threshold_source(check), (f"{name}: {check.name} ({check.op} {check.value or check.baseline}) needs `Source: ...` "
                                     "(public figure, physical limit with the fraction, or a measurement with provenance) "
                                     "or to start `Informational` and say why it has no bar")


def test_a_drifted_description_is_caught():
    assert _quotes("reaches 320 GB/s", 320) and not _quotes("reaches 3200 GB/s", 320)
    assert _quotes("at least 5.5 GB/s", 5.5) and not _quotes("at least 50 GB/s", 5)
    assert not _quotes("at least 0.5 GB/s", 0) and _quotes("0 wrong elements", 0)


def test_threshold_table_lists_every_performance_check_with_its_source():
    text = generate(LIBRARY)
    table = text.split("## Thresholds and their sources", 1)[1].split("\n## ", 1)[0]
    for name, check in JUDGED:
        if check.kind == "performance":
            assert f"| [{name}](#{name}) | {check.name} |" in table, (name, check.name)
    assert "(none stated)" not in table
    assert "| [mooncake-efa-dram](#mooncake-efa-dram) | throughput | `initiator.throughput_gbps` >= 50" in table
    assert "63.60 GB/s" in table and "388.83 GB/s" in table and "36.07 GB/s" in table


def test_the_bars_of_issue_24():
    checks = {n: {c.name: c for c in s.checks} for n, s in SCENARIOS.items()}
    dram, vram = SCENARIOS["mooncake-efa-dram"].parameters, SCENARIOS["mooncake-efa-vram"].parameters
    # the settings of the rows Mooncake published for p5.48xlarge (efa_transport.md, v0.3.11)
    assert (dram["block_size"], dram["threads"], dram["batch_size"], dram["min_throughput_gbps"]) == (1 << 20, 48, 16, 50)
    assert (vram["block_size"], vram["threads"], vram["batch_size"], vram["min_throughput_gbps"]) == (1 << 20, 32, 64, 300)
    assert checks["uccl-ep-low-latency"]["dispatch-combine"].value <= 6.92 * 0.8 + 1e-9
    assert checks["nccl-alltoall"]["collective"].value == "alltoall" and checks["nccl-allreduce"]["collective"].value == "all_reduce"
    assert checks["nccl-allreduce"]["hosts"].value == 2 and checks["nccl-allreduce-intranode"]["hosts"].value == 1
    assert "found 16 nics" in checks["nccl-allreduce-p5en"]["efa-devices"].regex.replace("\\(", "(").replace("\\)", ")")
    assert "found 8 nics" in checks["nccl-allreduce-p6-b200"]["efa-devices"].regex.replace("\\(", "(").replace("\\)", ")")
    assert checks["mooncake-tcp-loopback"]["throughput"].description.startswith("Informational")
