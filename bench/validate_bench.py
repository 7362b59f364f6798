"""Benchmark of the scenario front half: cold start of `scenario validate` and validate + render of many scenarios.

    python bench/validate_bench.py                     # cold start x10, then 250/500/1,000 generated scenarios
    python bench/validate_bench.py --sizes 100,1000 --runs 5
    python bench/validate_bench.py --profile           # also -X importtime of the cold start and cProfile of the largest size

(a) cold start: `.venv/bin/scenario validate -q` (or $SCENARIO_BIN) over the whole library, a fresh process N times
    (median wall time): as a user's shell runs it (compiled bytecode kept, here under a temporary PYTHONPYCACHEPREFIX)
    and as the current shell runs it (sandboxes often set PYTHONDONTWRITEBYTECODE=1: every module compiled each time).
(b) generated scenarios: variations of the library's scenarios (other parameter values and env, a quarter of them
    tuning variants that `extends` a generated base, a mix of local and kubernetes executors) are written into a
    temporary directory; one process validates and renders all of them, as `scenario validate` does. The cost per
    scenario must stay flat while their number grows (linear).
(c) object validation: Kubernetes built-in kinds are checked against the OpenAPI schemas of kubernetes-validate;
    its `validate()` reloads the schema definitions on every call, runner.render caches one validator per kind.

Targets (issue 2): cold start < 0.5 s, 1,000 scenarios < 5 s.
"""
from __future__ import annotations

import argparse
import copy
import cProfile
import io
import os
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from runner.base.resources import template_names  # noqa: E402
from runner.flows.check import validate_files  # noqa: E402
from runner.render.kubernetes import DEFAULT_TEMPLATES
from runner.scenario.resolve import Library, resolve  # noqa: E402

SCENARIO = Path(os.environ.get("SCENARIO_BIN", REPO / ".venv" / "bin" / "scenario"))
COLD_TARGET_S = 0.5
THOUSAND_TARGET_S = 5.0

# Kubernetes seeds used when the library has no Kubernetes scenario yet (shapes from docs/design: layers 1 and 3).
KUBERNETES_SEEDS = [
    {
        "apiVersion": "scenarios/v1", "kind": "Scenario",
        "metadata": {"name": "seed-nccl-allreduce", "layer": "fabric", "description": "NCCL all-reduce over EFA"},
        "executors": ["kubernetes"],
        "platform": {"instanceType": "p5.48xlarge", "namespace": "efa-validation", "hugepages2Mi": "5120Mi", "memory": "256Gi"},
        "images": {"nccl-tests": "{{ registry }}/efa-validation/nccl-tests:2.19.6-ofi1.19"},
        "registry": "public.ecr.aws/example",
        "parameters": {"max_bytes": "8G", "iters": 20},
        "env": {"FI_PROVIDER": "efa", "NCCL_DEBUG": "INFO", "FI_EFA_USE_DEVICE_RDMA": 1},
        "workloads": [{"name": "all-reduce", "kind": "mpi", "image": "nccl-tests", "nodes": 2, "parser": "nccl-tests",
                       "command": ["all_reduce_perf", "-b", "8K", "-e", "{{ params.max_bytes }}", "-f", "2", "-g", "1",
                                   "-n", "{{ params.iters }}"], "timeout": "20m"}],
        "checks": [{"metric": "all-reduce.busbw_gbps_max", "op": ">=", "value": 320},
                   {"log": "all-reduce", "contains": "Selected provider is efa"}],
    },
    {
        "apiVersion": "scenarios/v1", "kind": "Scenario",
        "metadata": {"name": "seed-mooncake-efa-dram", "layer": "kv-transfer", "description": "Mooncake DRAM to DRAM over EFA"},
        "executors": ["kubernetes"],
        "platform": {"instanceType": "p5en.48xlarge", "namespace": "efa-validation", "hugepages2Mi": "5120Mi", "memory": "256Gi"},
        "images": {"mooncake": "registry.example.com/mooncake:0.3.6"},
        "parameters": {"threads": 16, "block_size": 1048576, "batch_size": 16, "buffer_size": 4294967296},
        "env": {"FI_PROVIDER": "efa", "MC_LOG_LEVEL": "INFO"},
        "workloads": [
            {"name": "target", "kind": "service", "role": "target", "image": "mooncake", "node": "gpu", "ports": {"rpc": 12345},
             "command": ["transfer_engine_bench", "--mode=target", "--protocol=efa", "--metadata_server=P2PHANDSHAKE",
                         "--buffer_size={{ params.buffer_size }}"], "ready": {"port": "rpc"}},
            {"name": "initiator", "kind": "job", "role": "initiator", "image": "mooncake", "node": "gpu", "after": ["target"],
             "parser": "mooncake-bench",
             "command": ["transfer_engine_bench", "--mode=initiator", "--protocol=efa", "--metadata_server=P2PHANDSHAKE",
                         "--segment_id={{ workloads.target.host }}:{{ workloads.target.ports.rpc }}",
                         "--threads={{ params.threads }}", "--block_size={{ params.block_size }}",
                         "--batch_size={{ params.batch_size }}", "--buffer_size={{ params.buffer_size }}"]},
        ],
        "checks": [{"metric": "initiator.throughput_gbps", "op": ">=", "value": 150}],
    },
]


# --- (a) cold start -----------------------------------------------------------------------------


def cold_start(runs: int, env: dict[str, str]) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds (user + system of the child) of each run."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        result = subprocess.run([str(SCENARIO), "validate", "-q"], cwd=REPO, capture_output=True, text=True, env=env)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if result.returncode != 0:
            sys.exit(f"`scenario validate` failed ({result.returncode}):\n{result.stderr}")
    return walls, cpus


def bytecode_env(cache: str) -> dict[str, str]:
    """The environment of a user's shell: Python keeps compiled bytecode (here under `cache`, not in the repo).
    Sandboxes often set PYTHONDONTWRITEBYTECODE=1, which recompiles every runner module at each start."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPYCACHEPREFIX": cache}


def import_profile(top: int = 12) -> str:
    """The slowest imports of a cold `scenario validate` (self + children, ms)."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "runner.cli.main", "validate", "-q"], cwd=REPO,
                            capture_output=True, text=True)
    rows = []
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "cumulative" not in line:
            _, cumulative, name = line.split("|")
            rows.append((int(cumulative.strip()), name.rstrip()))
    rows.sort(reverse=True)
    return "\n".join(f"  {us / 1000:7.1f} ms  {name}" for us, name in rows[:top])


# --- (b) generated scenarios ----------------------------------------------------------------------


def templates_available(data: dict, available: set[str]) -> bool:
    needed = {w.get("template") or DEFAULT_TEMPLATES[w.get("kind", "job")] for w in data.get("workloads") or ()}
    return needed <= available


def seeds() -> tuple[list[dict], list[dict], list[str]]:
    """Fully resolved library scenarios, split into local and kubernetes seeds; notes on what was left out."""
    library = Library(REPO / "scenarios")
    available = set(template_names())
    local, kube, notes = [], [], []
    for name in library.names():
        data = copy.deepcopy(resolve(name, library).data)
        data.pop("extends", None)
        if "kubernetes" in (data.get("executors") or ["local"]):
            if templates_available(data, available):
                kube.append({**data, "executors": ["kubernetes"]})
            else:
                notes.append(f"{name}: templates missing")
        if "local" in (data.get("executors") or ["local"]):
            local.append({**data, "executors": ["local"]})
    if not kube:
        for data in KUBERNETES_SEEDS:
            if templates_available(data, available):
                kube.append(copy.deepcopy(data))
            else:
                notes.append(f"built-in seed {data['metadata']['name']}: templates missing")
    return local, kube, notes


def vary(data: dict, index: int, name: str) -> dict:
    """Another parameter set and env of the same scenario (values stay within what the lints accept)."""
    variant = copy.deepcopy(data)
    variant["metadata"] = {**variant["metadata"], "name": name}
    params = variant.get("parameters") or {}
    for key, value in params.items():
        if isinstance(value, int) and not isinstance(value, bool):
            params[key] = value + index % 3
    env = variant.setdefault("env", {})
    env["NCCL_DEBUG"] = ("INFO", "WARN", "TRACE")[index % 3]
    env[f"BENCH_VARIANT_{index % 7}"] = str(index)
    return variant


def generate(directory: Path, count: int) -> list[str]:
    """Write `count` scenario files; a quarter are small tuning variants extending a generated base."""
    local, kube, _ = seeds()
    pool = [(s, "l") for s in local] + [(s, "k") for s in kube]
    if not pool:
        sys.exit("no seed scenario to vary")
    for seed, _ in pool:  # the seeds themselves, so that checks naming a baseline scenario find it (not timed targets)
        (directory / f"{seed['metadata']['name']}.yaml").write_text(yaml.safe_dump(seed, sort_keys=False))
    paths: list[str] = []
    for index in range(count):
        seed, tag = pool[index % len(pool)]
        stem = seed["metadata"]["name"].removeprefix("seed-")[:36]
        name = f"{stem}-{tag}{index:05d}"
        if index % 4 == 3 and paths:
            parent = Path(paths[-1]).stem
            data = {"apiVersion": "scenarios/v1", "kind": "Scenario", "metadata": {"name": name}, "extends": parent,
                    "env": {"NCCL_DEBUG": "WARN"}}
        else:
            data = vary(seed, index, name)
        path = directory / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        paths.append(str(path))
    return paths


def timed_validation(directory: Path, count: int, profile: bool = False) -> tuple[float, float, int, list]:
    paths = generate(directory, count)
    library = Library(directory)
    profiler = cProfile.Profile() if profile else None
    start, start_cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    ok, invalid = validate_files(paths, library, render=True)
    if profiler:
        profiler.disable()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    if profiler:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(25)
        print(text.getvalue())
    return elapsed, cpu, len(ok), invalid


# --- (c) object validation ------------------------------------------------------------------------

OBJECTS = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "efa-validation", "labels": {"a": "b"}}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "target"},
     "spec": {"selector": {"app": "target"}, "ports": [{"name": "rpc", "port": 12345}]}},
    {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "initiator"},
     "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [
         {"name": "main", "image": "mooncake:0.3.6", "command": ["transfer_engine_bench"],
          "env": [{"name": "FI_PROVIDER", "value": "efa"}],
          "resources": {"limits": {"nvidia.com/gpu": 8, "vpc.amazonaws.com/efa": 16, "hugepages-2Mi": "5120Mi", "memory": "256Gi"}}}]}}}},
]


def object_validation(repeat: int = 30) -> list[list]:
    from runner.render.kubernetes import RenderedObject
    from runner.render.objects import object_problems

    rows = []
    try:
        import kubernetes_validate
    except ImportError:
        return rows
    for body in OBJECTS:
        start = time.perf_counter()
        for _ in range(repeat):
            kubernetes_validate.validate(body, "1.33", strict=True)
        direct = (time.perf_counter() - start) / repeat
        obj = RenderedObject(0, "bench", "bench", body)
        object_problems(obj.body, obj.template)  # first call builds the cached validator
        start = time.perf_counter()
        for _ in range(repeat):
            assert object_problems(obj.body, obj.template) == [], object_problems(obj.body, obj.template)
        cached = (time.perf_counter() - start) / repeat
        rows.append([body["kind"], f"{direct * 1000:.2f}", f"{cached * 1000:.2f}"])
    return rows


# --- main -------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="cold-start runs (median is reported)")
    parser.add_argument("--sizes", default="250,500,1000", help="numbers of generated scenarios")
    parser.add_argument("--profile", action="store_true", help="print -X importtime and cProfile summaries")
    args = parser.parse_args()
    from tabulate import tabulate

    library = Library(REPO / "scenarios")
    print(f"(a) cold start: `scenario validate -q` over the library ({len(library.names())} scenarios), {args.runs} runs each")
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        for label, env in (("bytecode cached (a user's shell)", bytecode_env(cache)), ("as this shell runs it", dict(os.environ))):
            cold_start(1, env)  # warm the file cache; with bytecode kept, this run writes it
            walls, cpus = cold_start(args.runs, env)
            rows.append([label, f"{statistics.median(walls):.3f}", f"{min(walls):.3f}", f"{max(walls):.3f}",
                         f"{statistics.median(cpus):.3f}", f"< {COLD_TARGET_S}", "ok" if statistics.median(walls) < COLD_TARGET_S else "OVER"])
    print(tabulate(rows, headers=["environment", "median s", "min s", "max s", "cpu s", "target s", ""]))
    median = float(rows[0][1])
    if args.profile or median >= COLD_TARGET_S:
        print("slowest imports (cumulative):\n" + import_profile())

    local, kube, notes = seeds()
    print(f"\n(b) validate + render of generated scenarios in one process "
          f"(seeds: {len(local)} local, {len(kube)} kubernetes: {', '.join(s['metadata']['name'] for s in kube) or 'none'})")
    for note in notes:
        print(f"    note: {note}")
    sizes = [int(s) for s in args.sizes.split(",")]
    cold_over = rows[0][-1] == "OVER"  # judged as a user's shell runs it
    rows = []
    with tempfile.TemporaryDirectory() as warm:
        timed_validation(Path(warm), 8)  # imports and one-time caches, which (a) already measures
    for size in sizes:
        with tempfile.TemporaryDirectory() as directory:
            elapsed, cpu, valid, invalid = timed_validation(Path(directory), size, args.profile and size == max(sizes))
        target = f"< {THOUSAND_TARGET_S * size / 1000:g}"
        rows.append([size, valid, len(invalid), f"{elapsed:.2f}", f"{cpu:.2f}", f"{elapsed / size * 1000:.2f}", target,
                     "ok" if elapsed < THOUSAND_TARGET_S * size / 1000 else "OVER"])
        for target_file, problems in invalid[:3]:
            print(f"    invalid {Path(target_file).name}: {problems[0]}")
    print(tabulate(rows, headers=["scenarios", "valid", "invalid", "seconds", "cpu s", "ms / scenario", "target s", ""]))
    per = [float(r[5]) for r in rows]
    if len(per) > 1:
        print(f"linearity: ms/scenario spread {min(per):.2f}..{max(per):.2f} ({max(per) / min(per):.2f}x)")

    over = cold_over or any(r[-1] == "OVER" for r in rows)
    objects = object_validation()
    if objects:
        print("\n(c) Kubernetes built-in object validation, ms per object")
        print(tabulate(objects, headers=["kind", "kubernetes_validate.validate", "runner.render.objects.object_problems"]))
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
