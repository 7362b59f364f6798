"""Semantic lints: what a JSON Schema cannot express, each named so a scenario can waive it.

Every lint is a function (Scenario) -> iterable of Problem, registered with `@lint(name)`.
Many of them come straight from efa-validation's runbook of failures.
"""
from __future__ import annotations

import re
from difflib import get_close_matches
from typing import Iterable, Iterator

from runner.base.errors import Problem
from runner.base.platforms import INSTANCE_TYPES
from runner.base.registry import Registry, unknown_message
from runner.base.resources import data_dir
from runner.base.saferegex import RE2_HINT, RegexError
from runner.base.saferegex import compile as compile_regex
from runner.scenario.checks import WARNING_CODES
from runner.scenario.model import Scenario, Workload

LINTS: Registry = Registry("lint")
lint = LINTS.register

LIBFABRIC_PROVIDERS = {
    "efa", "tcp", "sockets", "udp", "verbs", "shm", "sm2", "psm2", "psm3", "opx", "rxm", "rxd", "ucx", "cxi",
    "usnic", "lnx", "net", "mrail", "hook_debug", "hook_hmem", "hook_trace", "hook_profile", "hook_noop", "perf", "bgq", "gni",
}
NCCL_BOOLEANS = {
    "NCCL_IB_DISABLE", "NCCL_P2P_DISABLE", "NCCL_SHM_DISABLE", "NCCL_NVLS_ENABLE", "NCCL_COLLNET_ENABLE",
    "NCCL_NET_GDR_READ", "NCCL_CUMEM_ENABLE", "NCCL_IGNORE_CPU_AFFINITY", "NCCL_RUNTIME_CONNECT",
    "NCCL_GRAPH_REGISTER", "NCCL_LOCAL_REGISTER", "NCCL_SET_THREAD_NAME", "NCCL_CHECK_POINTERS",
    "NCCL_P2P_USE_CUDA_MEMCPY", "NCCL_IB_PCI_RELAXED_ORDERING", "NCCL_NET_SHARED_BUFFERS", "NCCL_IGNORE_DISABLED_P2P",
    "NCCL_IB_ADAPTIVE_ROUTING", "NCCL_CUMEM_HOST_ENABLE", "NCCL_NVLS_CHUNKSIZE_AUTO", "NCCL_PXN_DISABLE",
    "NCCL_TESTS_SPLIT_MASK_DISABLE", "FI_EFA_USE_DEVICE_RDMA", "FI_EFA_FORK_SAFE", "FI_EFA_USE_HUGE_PAGE",
    "FI_EFA_ENABLE_SHM_TRANSFER", "FI_EFA_SET_CUDA_SYNC_MEMOPS", "OMPI_ALLOW_RUN_AS_ROOT", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM",
}
NCCL_DEBUG_LEVELS = {"VERSION", "WARN", "INFO", "TRACE", "ABORT"}
SIZE = re.compile(r"^\s*[0-9]+(\.[0-9]+)?\s*([kKmMgGtT]i?[bB]?|[bB])?\s*$")
SIZE_VARIABLE = re.compile(r"^(MOONCAKE_[A-Z_]*SIZE[A-Z_]*|MC_[A-Z_]*SIZE[A-Z_]*|MOONCAKE_[A-Z_]*BUFFER[A-Z_]*|MC_[A-Z_]*BUFFER[A-Z_]*)$")


def run_lints(scenario: Scenario, known: dict[str, Iterable[str]]) -> list[Problem]:
    """All problems of all lints, minus those the scenario waives."""
    problems: list[Problem] = []
    for name, check in LINTS.items():
        for problem in check(scenario, known):
            problems.append(Problem(problem.message, problem.location, problem.hint, name))
    return [p for p in problems if not _waived(scenario, p)]


def _waived(scenario: Scenario, problem: Problem) -> bool:
    for waiver in scenario.waivers:
        if waiver.get("lint") != problem.code:
            continue
        workload = waiver.get("workload")
        if not workload or _path_workload(scenario, problem) == workload:
            return True
    return False


def _path_workload(scenario: Scenario, problem: Problem) -> str:
    match = re.search(r"\.workloads\[(\d+)\]", problem.location.path)
    if match and int(match.group(1)) < len(scenario.workloads):
        return scenario.workloads[int(match.group(1))].name
    return ""


def _at(scenario: Scenario, *path, key: bool = False):
    return scenario.sources.with_path(tuple(path), key=key)


def _env_sources(scenario: Scenario) -> Iterator[tuple[str, str, tuple]]:
    """(name, value, path) of every env entry: scenario env, workload env, executor overrides."""
    data = scenario.data
    for name, value in (data.get("env") or {}).items():
        yield name, str(value), ("env", name)
    for i, workload in enumerate(data.get("workloads") or ()):
        for name, value in (workload.get("env") or {}).items():
            yield name, str(value), ("workloads", i, "env", name)
        for executor in ("local", "kubernetes"):
            for name, value in ((workload.get(executor) or {}).get("env") or {}).items():
                yield name, str(value), ("workloads", i, executor, "env", name)


def _commands(scenario: Scenario) -> Iterator[tuple[Workload, int, list[str], tuple]]:
    for i, workload in enumerate(scenario.workloads):
        for command, path in _workload_commands(scenario, i):
            yield workload, i, command, path


def _workload_commands(scenario: Scenario, index: int) -> Iterator[tuple[list[str], tuple]]:
    raw = scenario.data["workloads"][index]
    candidates = [(raw.get("command"), ("workloads", index, "command"))]
    for executor in ("local", "kubernetes"):
        if (raw.get(executor) or {}).get("command") is not None:
            candidates.append((raw[executor]["command"], ("workloads", index, executor, "command")))
    for command, path in candidates:
        if command is None:
            continue
        yield ([str(c) for c in command] if isinstance(command, (list, tuple)) else str(command).split()), path


def _flag(command: list[str], name: str) -> tuple[str | None, int]:
    """Value of `--name=value` or `--name value` in an argument list, and its index."""
    for i, arg in enumerate(command):
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1], i
        if arg == f"--{name}" and i + 1 < len(command):
            return command[i + 1], i + 1
    return None, -1


# --- names ---------------------------------------------------------------------------------


@lint("unknown-executor")
def unknown_executor(scenario, known):
    for i, name in enumerate(scenario.executors):
        if known["executors"] and name not in known["executors"]:  # empty: the caller did not say which exist
            yield Problem(f"unknown executor {name!r}", _at(scenario, "executors", i), f"known executors: {', '.join(sorted(known['executors']))}")


@lint("unknown-parser")
def unknown_parser(scenario, known):
    for i, workload in enumerate(scenario.workloads):
        if workload.parser and workload.parser.name not in known["parsers"]:
            yield Problem(unknown_message("parser", workload.parser.name, known["parsers"]), _at(scenario, "workloads", i, "parser"))


@lint("unknown-template")
def unknown_template(scenario, known):
    for i, workload in enumerate(scenario.workloads):
        if workload.template and workload.template not in known["templates"]:
            yield Problem(f"unknown template {workload.template!r}", _at(scenario, "workloads", i, "template"),
                          f"templates/kubernetes has: {', '.join(sorted(known['templates']))}")


@lint("unknown-image")
def unknown_image(scenario, known):
    for i, workload in enumerate(scenario.workloads):
        image = workload.image
        if image and image not in scenario.images and not ("/" in image or ":" in image):
            yield Problem(f"image {image!r} is not a key of `images` nor an image reference", _at(scenario, "workloads", i, "image"),
                          f"images defined: {', '.join(scenario.images) or 'none'}")


@lint("duplicate-workload")
def duplicate_workload(scenario, known):
    seen: set[str] = set()
    for i, workload in enumerate(scenario.workloads):
        if workload.name in seen:
            yield Problem(f"workload name {workload.name!r} is used twice", _at(scenario, "workloads", i, "name"), "metrics are named <workload>.<metric>: names must be unique")
        seen.add(workload.name)


@lint("unknown-workload")
def unknown_workload(scenario, known):
    names = {w.name for w in scenario.workloads}
    for i, check in enumerate(scenario.checks):
        if check.workload and check.workload not in names:
            field = "log" if check.log else "metric"
            yield Problem(f"check names workload {check.workload!r}, which does not exist", _at(scenario, "checks", i, field),
                          f"workloads: {', '.join(sorted(names)) or 'none'}")
    for i, workload in enumerate(scenario.workloads):
        for j, dependency in enumerate(workload.after):
            if dependency not in names:
                yield Problem(f"`after` names workload {dependency!r}, which does not exist", _at(scenario, "workloads", i, "after", j))


@lint("unparsed-metric")
def unparsed_metric(scenario, known):
    parsers = {w.name: w.parser for w in scenario.workloads}
    for i, check in enumerate(scenario.checks):
        if check.metric and check.workload in parsers and parsers[check.workload] is None:
            yield Problem(f"check reads metric {check.metric!r} but workload {check.workload!r} has no parser",
                          _at(scenario, "checks", i, "metric"), "add `parser:` to the workload, or check its log instead")


@lint("dependency-cycle")
def dependency_cycle(scenario, known):
    graph = {w.name: set(w.after) for w in scenario.workloads}
    visiting, done = set(), set()

    def visit(name, trail):
        if name in done or name not in graph:
            return None
        if name in visiting:
            return trail[trail.index(name):] + [name]
        visiting.add(name)
        for dependency in sorted(graph[name]):
            cycle = visit(dependency, trail + [name])
            if cycle:
                return cycle
        visiting.discard(name)
        done.add(name)
        return None

    for i, workload in enumerate(scenario.workloads):
        cycle = visit(workload.name, [])
        if cycle:
            yield Problem(f"workloads wait on each other in a cycle: {' -> '.join(cycle)}", _at(scenario, "workloads", i, "after"))
            return


# --- platform ------------------------------------------------------------------------------


@lint("platform-counts")
def platform_counts(scenario, known):
    platform = scenario.platform
    known_type = INSTANCE_TYPES.get(platform.instance_type)
    if not known_type or known_type.name == "local":
        return
    raw = scenario.data.get("platform") or {}
    if "gpusPerNode" in raw and platform.gpus_per_node != known_type.gpus:
        yield Problem(f"{known_type.name} has {known_type.gpus} GPUs per node, not {platform.gpus_per_node}", _at(scenario, "platform", "gpusPerNode"))
    if "efaPerNode" in raw and platform.efa_per_node != known_type.efa:
        yield Problem(f"{known_type.name} has {known_type.efa} EFA interfaces per node, not {platform.efa_per_node}",
                      _at(scenario, "platform", "efaPerNode"), "p5.48xlarge: 32, p5en.48xlarge: 16, p6-b200.48xlarge: 8")
    if "arch" in raw and platform.arch != known_type.arch:
        yield Problem(f"{known_type.name} is {known_type.arch}, not {platform.arch}", _at(scenario, "platform", "arch"))


@lint("unknown-instance-type")
def unknown_instance_type(scenario, known):
    if "kubernetes" in scenario.executors and scenario.platform.instance_type not in INSTANCE_TYPES:
        yield Problem(f"unknown instance type {scenario.platform.instance_type!r}: GPU and EFA counts cannot be checked",
                      _at(scenario, "platform", "instanceType"), f"known: {', '.join(sorted(INSTANCE_TYPES))}; or waive this lint")


@lint("resource-counts")
def resource_counts(scenario, known):
    platform = scenario.platform
    if platform.instance_type == "local":
        return
    for i, workload in enumerate(scenario.workloads):
        gpus = workload.resources.get("gpus")
        efa = workload.resources.get("efa")
        if gpus is not None and gpus > platform.gpus_per_node:
            yield Problem(f"{gpus} GPUs per pod, but a {platform.instance_type} node has {platform.gpus_per_node}", _at(scenario, "workloads", i, "resources", "gpus"))
        if efa is not None and efa > platform.efa_per_node:
            yield Problem(f"{efa} EFA interfaces per pod, but a {platform.instance_type} node has {platform.efa_per_node}", _at(scenario, "workloads", i, "resources", "efa"))
        if workload.kind == "mpi" and "ranks" in scenario.data["workloads"][i]:
            per_node = gpus if gpus is not None else platform.gpus_per_node
            if per_node and workload.ranks != workload.nodes * per_node:
                yield Problem(f"{workload.ranks} ranks on {workload.nodes} node(s) x {per_node} GPUs: one rank per GPU needs {workload.nodes * per_node}",
                              _at(scenario, "workloads", i, "ranks"), "set ranks to nodes x GPUs per node, or resources.gpus")


# --- environment ---------------------------------------------------------------------------


@lint("env-fi-provider")
def env_fi_provider(scenario, known):
    for name, value, path in _env_sources(scenario):
        if name != "FI_PROVIDER":
            continue
        for item in value.replace(";", ",").split(","):
            provider = item.strip().lstrip("^").removeprefix("ofi_")
            if provider and provider not in LIBFABRIC_PROVIDERS:

                close = get_close_matches(provider, sorted(LIBFABRIC_PROVIDERS), n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                yield Problem(f"FI_PROVIDER={value!r}: {provider!r} is not a libfabric provider", _at(scenario, *path),
                              hint + "on EFA use `efa`; `fi_info -l` lists the providers of a build")


@lint("env-boolean")
def env_boolean(scenario, known):
    for name, value, path in _env_sources(scenario):
        if name in NCCL_BOOLEANS and value.strip() not in ("0", "1"):
            yield Problem(f"{name}={value!r} must be 0 or 1", _at(scenario, *path), "NCCL and libfabric read these as integers: quote \"1\" or \"0\"")


@lint("env-nccl-debug")
def env_nccl_debug(scenario, known):
    for name, value, path in _env_sources(scenario):
        if name == "NCCL_DEBUG" and value.upper() not in NCCL_DEBUG_LEVELS:
            yield Problem(f"NCCL_DEBUG={value!r} is not a level", _at(scenario, *path), f"one of {', '.join(sorted(NCCL_DEBUG_LEVELS))}")


@lint("env-size")
def env_size(scenario, known):
    for name, value, path in _env_sources(scenario):
        if SIZE_VARIABLE.match(name) and not SIZE.match(value):
            yield Problem(f"{name}={value!r} is not a size", _at(scenario, *path), "use bytes (4294967296) or a size such as 4gb, 4GiB, 512MB")


@lint("env-nccl-net-plugin")
def env_nccl_net_plugin(scenario, known):
    for name, value, path in _env_sources(scenario):
        if name == "NCCL_NET_PLUGIN" and value.startswith("/") and not value.endswith(".so"):
            yield Problem(f"NCCL_NET_PLUGIN={value!r} is a path but not a shared library", _at(scenario, *path),
                          "point at libnccl-net.so (e.g. /opt/aws-ofi-nccl/lib/libnccl-net.so) or give the plugin name")


@lint("efa-provider-on-efa-platform")
def efa_provider_missing(scenario, known):
    platform = scenario.platform
    if platform.efa_per_node and "kubernetes" in scenario.executors:
        providers = [value for name, value, _ in _env_sources(scenario) if name == "FI_PROVIDER"]
        if providers and not any("efa" in p for p in providers):
            yield Problem(f"the platform has {platform.efa_per_node} EFA interfaces but FI_PROVIDER never selects efa", _at(scenario, "env"),
                          "traffic would go over TCP sockets: set FI_PROVIDER=efa")


# --- tool flags (efa-validation's runbook) -----------------------------------------------------


@lint("mooncake-metadata-url")
def mooncake_metadata_url(scenario, known):
    for workload, i, command, path in _commands(scenario):
        value, index = _flag(command, "metadata_server")
        if value and value.startswith("http") and "{{" not in value and not value.rstrip("/").endswith("/metadata"):
            yield Problem(f"--metadata_server={value}: an HTTP metadata URL must end in /metadata", _at(scenario, *path, index),
                          "Mooncake PUTs /?key=... otherwise and the target fails with `cannot publish segments`")


def parse_size(text: str) -> int | None:
    text = str(text).strip()
    if re.fullmatch(r"[0-9]+", text):
        return int(text)
    match = re.fullmatch(r"\$\(\(\s*([0-9]+)\s*<<\s*([0-9]+)\s*\)\)", text)
    if match:
        return int(match.group(1)) << int(match.group(2))
    match = re.fullmatch(r"([0-9.]+)\s*([kKmMgGtT])(i?)[bB]?", text)
    if match:
        power = "kmgt".index(match.group(2).lower()) + 1
        return int(float(match.group(1)) * 1024 ** power)  # Mooncake and Kubernetes read "4gb" as GiB
    return None


@lint("mooncake-bench-sizing")
def mooncake_bench_sizing(scenario, known):
    for workload, i, command, path in _commands(scenario):
        if not any("transfer_engine_bench" in c for c in command):
            continue
        values = {name: _flag(command, name)[0] for name in ("block_size", "batch_size", "threads", "buffer_size")}
        sizes = {name: parse_size(_render_param(v, scenario)) if v is not None else None for name, v in values.items()}
        if None in sizes.values():
            continue
        need = sizes["block_size"] * sizes["batch_size"] * sizes["threads"]
        if need > sizes["buffer_size"]:
            yield Problem(f"block_size x batch_size x threads = {need} bytes exceeds buffer_size {sizes['buffer_size']}",
                          _at(scenario, *path, _flag(command, "buffer_size")[1]), "the bench fails with `Cannot select device for dest_addr`: raise --buffer_size or lower the others")


def _render_param(value: str, scenario: Scenario) -> str:
    match = re.fullmatch(r"\{\{\s*params\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}", str(value))
    if match and match.group(1) in scenario.parameters:
        return str(scenario.parameters[match.group(1)])
    return str(value)


@lint("sglang-router-bootstrap-port")
def sglang_router_bootstrap_port(scenario, known):
    for workload, i, command, path in _commands(scenario):
        if not any("launch_router" in c for c in command) or "--pd-disaggregation" not in command:
            continue
        for j, arg in enumerate(command):
            if arg == "--prefill":
                following = command[j + 2] if j + 2 < len(command) else ""
                if not (following.isdigit() or following == "none" or "port" in following or "{{" in following):
                    yield Problem("`--prefill URL` without its bootstrap port: the router then assumes none, not 8998",
                                  _at(scenario, *path, j), "write `--prefill http://<prefill>:30000 8998`")


@lint("sglang-fake-flag")
def sglang_fake_flag(scenario, known):
    for workload, i, command, path in _commands(scenario):
        for j, arg in enumerate(command):
            if arg.startswith("--disaggregation-prefill-addr"):
                yield Problem("--disaggregation-prefill-addr is not an sglang flag", _at(scenario, *path, j),
                              "decode finds prefill through the router and the bootstrap port; remove it")


@lint("sglang-mooncake-protocol")
def sglang_mooncake_protocol(scenario, known):
    if not scenario.platform.efa_per_node:
        return
    env_names = {name: value for name, value, _ in _env_sources(scenario)}
    for workload, i, command, path in _commands(scenario):
        if "--disaggregation-mode" in " ".join(command) and "--disaggregation-transfer-backend nixl" not in " ".join(command):
            if env_names.get("MOONCAKE_PROTOCOL") != "efa":
                yield Problem("sglang PD over Mooncake on EFA without MOONCAKE_PROTOCOL=efa", _at(scenario, *path),
                              "sglang defaults Mooncake to protocol rdma and silently falls back to TCP or hangs: set MOONCAKE_PROTOCOL=efa")
                return


@lint("hugepages-need-memory")
def hugepages_need_memory(scenario, known):
    for i, workload in enumerate(scenario.workloads):
        resources = workload.resources
        hugepages = resources.get("hugepages2Mi") or (scenario.platform.hugepages_2mi if workload.node == "gpu" else "")
        memory = resources.get("memory") or (scenario.platform.memory if workload.node == "gpu" else "")
        if hugepages and not memory and "kubernetes" in scenario.executors:
            yield Problem("hugepages-2Mi without a memory request: Kubernetes rejects the pod", _at(scenario, "workloads", i),
                          "set platform.memory or resources.memory")


@lint("local-port-clash")
def local_port_clash(scenario, known):
    owners: dict[int, str] = {}
    for i, workload in enumerate(scenario.workloads):
        for port_name, number in workload.ports.items():
            if number and number in owners and workload.kind in ("service", "job"):
                yield Problem(f"port {number} is used by {owners[number]} and {workload.name}", _at(scenario, "workloads", i, "ports", port_name))
            if number:
                owners.setdefault(number, workload.name)


@lint("ready-port-unknown")
def ready_port_unknown(scenario, known):
    for i, workload in enumerate(scenario.workloads):
        ready = workload.ready
        if not ready:
            continue
        for field, name in (("port", ready.port), ("http", ready.http_port)):
            if name and name not in workload.ports:
                yield Problem(f"ready.{field} names port {name!r}, which the workload does not declare", _at(scenario, "workloads", i, "ready", field),
                              f"ports: {', '.join(workload.ports) or 'none'}")


@lint("regex-invalid")
def regex_invalid(scenario, known):

    for i, check in enumerate(scenario.checks):
        if check.regex:
            try:
                compile_regex(check.regex)
            except RegexError as error:
                yield Problem(f"invalid regular expression: {error}", _at(scenario, "checks", i, "regex"), RE2_HINT)
    for i, workload in enumerate(scenario.workloads):
        if workload.ready and workload.ready.log:
            try:
                compile_regex(workload.ready.log, multiline=True)
            except RegexError as error:
                yield Problem(f"invalid regular expression: {error}", _at(scenario, "workloads", i, "ready", "log"), RE2_HINT)


@lint("baseline-self")
def baseline_self(scenario, known):
    for i, check in enumerate(scenario.checks):
        if check.baseline and check.baseline.scenario == scenario.name:
            yield Problem("a check cannot use its own scenario as baseline", _at(scenario, "checks", i, "baseline", "scenario"))
        elif check.baseline and check.baseline.scenario not in known["scenarios"] and known["scenarios"]:
            yield Problem(f"baseline scenario {check.baseline.scenario!r} does not exist", _at(scenario, "checks", i, "baseline", "scenario"))


@lint("waiver-unknown")
def waiver_unknown(scenario, known):
    for i, waiver in enumerate(scenario.waivers):
        if waiver.get("lint") not in LINTS and waiver.get("lint") not in WARNING_CODES:
            yield Problem(LINTS.unknown_message(str(waiver.get("lint"))), _at(scenario, "lints", "waive", i, "lint"))


# --- tool truth: what the pinned tools and images really do -----------------------------------

# sglang 0.5.10.post1 sglang/benchmark/datasets: these fetch a file at run time unless --dataset-path names one
# (sharegpt.py:73, random.py:87-92 samples ShareGPT text, mooncake.py:40); random-ids draws token ids, no file.
DOWNLOADING_DATASETS = {"sharegpt": "ShareGPT", "random": "ShareGPT (its text is sampled)", "mooncake": "a Mooncake trace"}


def _versions_env() -> dict[str, str]:
    """images/versions.env, shipped in the package (runner/data/images), so an installed wheel lints the same."""
    lines = (data_dir("images") / "versions.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def image_cuda_archs(ref: str, pins: dict[str, str]) -> tuple[str, set[str]] | None:
    """(versions.env key, CUDA architectures) of a reference to an image this repository builds at its IMAGE_TAG."""
    repository, _, tag = ref.rpartition("/")[2].partition(":")
    if not pins or tag != pins.get("IMAGE_TAG"):
        return None  # an image built elsewhere: nothing known about it
    if repository in (pins.get("REPO_NCCL_TESTS"), pins.get("REPO_BASE_CUDA_EFA")):
        return "NCCL_NVCC_GENCODE", set(re.findall(r"code=sm_(\d+)", pins.get("NCCL_NVCC_GENCODE", "")))
    if repository == pins.get("REPO_UCCL_EP"):
        value = pins.get("UCCL_TORCH_CUDA_ARCH_LIST", "")
        return "UCCL_TORCH_CUDA_ARCH_LIST", {v.replace(".", "") for v in re.split(r"[;\s]+", value) if v}
    return None


@lint("image-cuda-arch")
def image_cuda_arch(scenario, known):
    gpu = INSTANCE_TYPES.get(scenario.platform.instance_type)
    if gpu is None or not gpu.cuda_arch:
        return
    pins = _versions_env()
    for key in sorted({w.image for w in scenario.workloads if w.image}):
        built = image_cuda_archs(scenario.image_ref(key), pins)
        if built is None or gpu.cuda_arch in built[1]:
            continue
        yield Problem(
            f"image {key} is built for sm_{', sm_'.join(sorted(built[1])) or '?'} but {gpu.name}'s {gpu.gpu_model} is sm_{gpu.cuda_arch}: "
            f"its kernels would not load (`no kernel image is available for execution on the device`)",
            _at(scenario, "images", key),
            hint=f"add sm_{gpu.cuda_arch} to {built[0]} in images/versions.env, bump IMAGE_TAG and rebuild the images")


@lint("bench-dataset-download")
def bench_dataset_download(scenario, known):
    for workload, index, command, path in _commands(scenario):
        if "sglang.bench_serving" not in command:
            continue
        dataset, _ = _flag(command, "dataset-name")
        dataset_path, _ = _flag(command, "dataset-path")
        dataset = dataset or "sharegpt"
        if dataset in DOWNLOADING_DATASETS and not dataset_path:
            yield Problem(f"workload {workload.name}: bench_serving --dataset-name {dataset} downloads {DOWNLOADING_DATASETS[dataset]} "
                          f"when it starts: a cluster without internet egress fails there", _at(scenario, *path),
                          hint="use --dataset-name random-ids (random token ids, nothing to download) or give "
                               "--dataset-path a file in the image or a volume")


@lint("every-rank-needs-rank-group")
def every_rank_needs_rank_group(scenario, known):
    """Under MPI one launcher log holds every rank's lines: counting lines lets one rank stand in for all."""
    for index, check in enumerate(scenario.checks):
        if check.count != "every-rank" or not check.log or check.absent:
            continue
        workload = next((w for w in scenario.workloads if w.name == check.log), None)
        if workload is None or workload.kind != "mpi" or workload.ranks < 2:
            continue
        if "(?P<rank>" not in (check.regex or ""):
            yield Problem(f"check {check.name}: count every-rank on MPI workload {workload.name} counts lines, not ranks",
                          _at(scenario, "checks", index),
                          hint="name the rank in the regex, e.g. '^\\[1,(?P<rank>\\d+)\\]<stdout>:.*Selected provider is efa' "
                               "(mpirun --tag-output), so distinct ranks are counted")


def placeholder_image_problems(scenario: Scenario) -> list[Problem]:
    """At run time on Kubernetes (not a lint: rendering with the placeholder still works)."""
    return [Problem(f"image {key} is {scenario.image_ref(key)!r}: the registry placeholder is still in it",
                    _at(scenario, "images", key),
                    hint="give the registry the images were pushed to: --set registry=<account>.dkr.ecr.<region>.amazonaws.com/<repo>")
            for key in sorted(scenario.images) if "<registry>" in scenario.image_ref(key)]
