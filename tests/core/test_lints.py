"""Each lint fires on a minimal bad scenario, stays quiet on the corrected one, and a waiver silences exactly it."""
from __future__ import annotations

from pathlib import Path

import pytest

from runner.base.errors import ScenarioError
from runner.flows.check import PLUGINS
from runner.scenario.lints import LINTS, parse_size, run_lints
from runner.scenario.resolve import Library, resolve_text
from runner.scenario.validate import (
    build,
    known_names,
    schema_problems,
    validate_resolved,
)

from .conftest import JOB, JUDGED, scenario_text

P5 = "platform: {instanceType: p5.48xlarge}\n"


def job(command: str = "[echo, hi]", extra: str = "", name: str = "bench") -> str:
    return f"  - name: {name}\n    kind: job\n    command: {command}\n" + extra


# lint -> (executor, bad body, good body)
CASES = {
    "unknown-executor": (None, "executors: [locl]\nworkloads:\n" + job(), "executors: [local]\nworkloads:\n" + job()),
    "unknown-parser": ("local", "workloads:\n" + job(extra="    parser: nccl-test\n"), "workloads:\n" + job(extra="    parser: nccl-tests\n")),
    "unknown-template": ("local", "workloads:\n" + job(extra="    template: nope\n"), "workloads:\n" + job(extra="    template: namespace\n")),
    "unknown-image": ("local", "images: {tools: reg/tools:1}\nworkloads:\n" + job(extra="    image: tool\n"),
                      "images: {tools: reg/tools:1}\nworkloads:\n" + job(extra="    image: tools\n")),
    "duplicate-workload": ("local", "workloads:\n" + job() + job(), "workloads:\n" + job() + job(name="other")),
    "unknown-workload": ("local", "workloads:\n" + job() + "checks:\n  - {log: bnch, contains: hi}\n",
                         "workloads:\n" + job() + "checks:\n  - {log: bench, contains: hi}\n"),
    "unparsed-metric": ("local", "workloads:\n" + job() + "checks:\n  - {metric: bench.x, op: '>', value: 0}\n",
                        "workloads:\n" + job(extra="    parser: nccl-tests\n") + "checks:\n  - {metric: bench.x, op: '>', value: 0}\n"),
    "dependency-cycle": ("local", "workloads:\n" + job(extra="    after: [b]\n", name="a") + job(extra="    after: [a]\n", name="b"),
                         "workloads:\n" + job(name="a") + job(extra="    after: [a]\n", name="b")),
    "platform-counts": ("kubernetes", "platform: {instanceType: p5.48xlarge, efaPerNode: 16}\nworkloads:\n" + job(),
                        "platform: {instanceType: p5en.48xlarge, efaPerNode: 16}\nworkloads:\n" + job()),
    "unknown-instance-type": ("kubernetes", "platform: {instanceType: p9.huge}\nworkloads:\n" + job(), P5 + "workloads:\n" + job()),
    "resource-counts": ("kubernetes", P5 + "workloads:\n" + job(extra="    resources: {gpus: 16}\n"),
                        P5 + "workloads:\n" + job(extra="    resources: {gpus: 8}\n")),
    "env-fi-provider": ("local", "env: {FI_PROVIDER: efaa}\n", "env: {FI_PROVIDER: 'efa,^shm'}\n"),
    "env-boolean": ("local", "env: {NCCL_IB_DISABLE: 'yes'}\n", "env: {NCCL_IB_DISABLE: 1}\n"),
    "env-nccl-debug": ("local", "env: {NCCL_DEBUG: LOUD}\n", "env: {NCCL_DEBUG: info}\n"),
    "env-size": ("local", "env: {MOONCAKE_GLOBAL_SEGMENT_SIZE: lots}\n", "env: {MOONCAKE_GLOBAL_SEGMENT_SIZE: 4gb}\n"),
    "env-nccl-net-plugin": ("local", "env: {NCCL_NET_PLUGIN: /opt/aws-ofi-nccl/lib}\n",
                            "env: {NCCL_NET_PLUGIN: /opt/aws-ofi-nccl/lib/libnccl-net.so}\n"),
    "efa-provider-on-efa-platform": ("kubernetes", P5 + "env: {FI_PROVIDER: tcp}\n", P5 + "env: {FI_PROVIDER: efa}\n"),
    "mooncake-metadata-url": ("local", "workloads:\n" + job("[transfer_engine_bench, --metadata_server=http://meta:8080]"),
                              "workloads:\n" + job("[transfer_engine_bench, --metadata_server=http://meta:8080/metadata]")),
    "mooncake-bench-sizing": (
        "local", "parameters: {threads: 8}\nworkloads:\n" + job("[transfer_engine_bench, '--threads={{ params.threads }}', "
                                                                "--block_size=1M, --batch_size, '16', --buffer_size=64M]"),
        "parameters: {threads: 4}\nworkloads:\n" + job("[transfer_engine_bench, '--threads={{ params.threads }}', "
                                                       "--block_size=1M, --batch_size, '16', --buffer_size=64M]")),
    "sglang-router-bootstrap-port": (
        "local", "workloads:\n" + job("[python, -m, sglang_router.launch_router, --pd-disaggregation, --prefill, 'http://p:30000', "
                                      "--decode, 'http://d:30000']"),
        "workloads:\n" + job("[python, -m, sglang_router.launch_router, --pd-disaggregation, --prefill, 'http://p:30000', '8998', "
                             "--decode, 'http://d:30000']")),
    "sglang-fake-flag": ("local", "workloads:\n" + job("[python, -m, sglang.launch_server, --disaggregation-prefill-addr, p]"),
                         "workloads:\n" + job("[python, -m, sglang.launch_server]")),
    "sglang-mooncake-protocol": (
        "kubernetes", P5 + "env: {FI_PROVIDER: efa}\nworkloads:\n" + job("[python, -m, sglang.launch_server, --disaggregation-mode, prefill]"),
        P5 + "env: {FI_PROVIDER: efa, MOONCAKE_PROTOCOL: efa}\nworkloads:\n" + job("[python, -m, sglang.launch_server, --disaggregation-mode, prefill]")),
    "hugepages-need-memory": ("kubernetes", "platform: {instanceType: p5.48xlarge, hugepages2Mi: 5120Mi}\nworkloads:\n" + job(extra="    node: gpu\n"),
                              "platform: {instanceType: p5.48xlarge, hugepages2Mi: 5120Mi, memory: 256Gi}\nworkloads:\n" + job(extra="    node: gpu\n")),
    "local-port-clash": ("local", "workloads:\n" + job(extra="    ports: {rpc: 9000}\n") + job(extra="    ports: {rpc: 9000}\n", name="other"),
                         "workloads:\n" + job(extra="    ports: {rpc: 9000}\n") + job(extra="    ports: {rpc: 9001}\n", name="other")),
    "ready-port-unknown": ("local", "workloads:\n" + job(extra="    ports: {http: 8000}\n    ready: {port: rpc}\n"),
                           "workloads:\n" + job(extra="    ports: {http: 8000}\n    ready: {port: http}\n")),
    "regex-invalid": ("local", "workloads:\n" + job() + "checks:\n  - {log: bench, regex: '(open'}\n",
                      "workloads:\n" + job() + "checks:\n  - {log: bench, regex: '(closed)'}\n"),
    "baseline-self": ("local", "workloads:\n" + job(extra="    parser: nccl-tests\n") +
                      "checks:\n  - {metric: bench.x, op: '<=', baseline: {scenario: demo, factor: 1.3}}\n",
                      "workloads:\n" + job(extra="    parser: nccl-tests\n") +
                      "checks:\n  - {metric: bench.x, op: '<=', baseline: {scenario: other, factor: 1.3}}\n"),
    "waiver-unknown": ("local", "lints: {waive: [{lint: env-fi-providr, reason: testing}]}\n",
                       "lints: {waive: [{lint: env-fi-provider, reason: testing}]}\n"),
}

# tool-truth lints (issue 10)
_TAG = next(line.split("=", 1)[1] for line in (Path(__file__).resolve().parents[2] / "images" / "versions.env").read_text().splitlines()
            if line.startswith("IMAGE_TAG="))
_UCCL = f"images: {{uccl-ep: 'reg/uccl-ep:{_TAG}'}}\nworkloads:\n" + job(extra="    image: uccl-ep\n")
_MPI = "workloads:\n  - name: bench\n    kind: mpi\n    ranks: 4\n    command: [echo, hi]\n"
CASES.update({
    "image-cuda-arch": ("kubernetes", "platform: {instanceType: p6-b200.48xlarge}\n" + _UCCL, P5 + _UCCL),
    "bench-dataset-download": (
        "local", "workloads:\n" + job("[python3, -m, sglang.bench_serving, --dataset-name, random, --num-prompts, '8']"),
        "workloads:\n" + job("[python3, -m, sglang.bench_serving, --dataset-name, random-ids, --num-prompts, '8']")),
    "every-rank-needs-rank-group": (
        "local", _MPI + "checks:\n  - {log: bench, regex: 'Selected provider is efa', count: every-rank}\n",
        _MPI + "checks:\n  - {log: bench, regex: '^\\[1,(?P<rank>\\d+)\\]<stdout>:.*Selected provider is efa', count: every-rank}\n"),
})


def text_of(executor: str | None, body: str) -> str:
    text = scenario_text("demo", body, executor or "local")
    return text.replace("executors: [local]\n", "", 1) if executor is None else text


def lint_codes(text: str, tmp_path) -> list[str]:
    (tmp_path / "other.yaml").write_text(scenario_text("other"))
    library = Library(tmp_path)
    resolved = resolve_text(text, "demo.yaml", library)
    assert schema_problems(resolved.data, resolved.sources) == []
    return [p.code for p in run_lints(build(resolved), known_names(library, PLUGINS.executors))]


def test_every_lint_has_a_case():
    assert sorted(CASES) == sorted(LINTS)


@pytest.mark.parametrize("name", sorted(CASES))
def test_lint_fires_on_bad_scenario(name, tmp_path):
    executor, bad, _ = CASES[name]
    assert name in lint_codes(text_of(executor, bad), tmp_path)


@pytest.mark.parametrize("name", sorted(CASES))
def test_lint_is_quiet_on_good_scenario(name, tmp_path):
    executor, _, good = CASES[name]
    assert lint_codes(text_of(executor, good), tmp_path) == []


@pytest.mark.parametrize("name", sorted(set(CASES) - {"waiver-unknown"}))
def test_a_waiver_silences_exactly_that_lint(name, tmp_path):
    executor, bad, _ = CASES[name]
    waived = text_of(executor, bad + f"lints:\n  waive:\n    - {{lint: {name}, reason: deliberately tested}}\n")
    assert name not in lint_codes(waived, tmp_path)


def test_waiver_keeps_other_lints(tmp_path):
    text = scenario_text("demo", "env: {FI_PROVIDER: efaa, NCCL_IB_DISABLE: 'yes'}\nlints:\n  waive:\n    - {lint: env-fi-provider, reason: x-y-z}\n")
    assert lint_codes(text, tmp_path) == ["env-boolean"]


def test_waiver_for_one_workload(tmp_path):
    body = ("workloads:\n" + job(extra="    env: {NCCL_DEBUG: LOUD}\n", name="a") + job(extra="    env: {NCCL_DEBUG: LOUD}\n", name="b")
            + "lints:\n  waive:\n    - {lint: env-nccl-debug, workload: a, reason: testing}\n")
    problems = run_lints(build(resolve_text(scenario_text("demo", body), "demo.yaml", Library(tmp_path))), known_names(None))
    assert [(p.code, p.location.path) for p in problems] == [("env-nccl-debug", "$.workloads[1].env.NCCL_DEBUG")]


def test_lints_are_errors_by_default(tmp_path):
    with pytest.raises(ScenarioError) as caught:
        validate_resolved(resolve_text(scenario_text("demo", "env: {FI_PROVIDER: efaa}\n" + JOB + JUDGED), "demo.yaml", Library(tmp_path)), None)
    assert caught.value.exit_code == 2
    assert str(caught.value).startswith("demo.yaml:6:20  $.env.FI_PROVIDER: FI_PROVIDER='efaa': 'efaa' is not a libfabric provider [env-fi-provider]")


def test_lint_on_executor_override_env(tmp_path):
    body = "workloads:\n" + job(extra="    local:\n      env: {FI_PROVIDER: efaa}\n")
    problems = run_lints(build(resolve_text(scenario_text("demo", body), "demo.yaml", Library(tmp_path))), known_names(None))
    assert [(p.code, p.location.line) for p in problems] == [("env-fi-provider", 11)]


@pytest.mark.parametrize("text, size", [("4096", 4096), ("4gb", 4 << 30), ("64M", 64 << 20), ("1GiB", 1 << 30), ("$((1 << 30))", 1 << 30),
                                        ("lots", None), ("", None)])
def test_parse_size(text, size):
    assert parse_size(text) == size
