"""`scenario rehearse NAME [--case CASE]`: a scenario's run through the normal Kubernetes executor, on the local control
plane (runner.cluster: real kube-apiserver, scheduler, controllers, MPI Operator and LWS; kwok nodes), with every pod
printing recorded real tool output from the tool-truth corpus (runner.flows.corpus) and ending as that output did.

The one hook into the run: `decorate` adds the simulation's pod annotations (runner.cluster: what a pod prints, how it
ends) to the pod templates of the run's plan after the plan is made and before the session applies it. The record's
rendered/ keeps the plan as a real cluster gets it; manifests/ shows what was applied.

What prints what (runner.flows.corpus): an MPIJob's launcher prints the case's launcher log (workers print nothing, as
their sshd says nothing the runner reads); a LeaderWorkerSet's leader pods `<name>-<i>` print the workload's file (or
their own `<name>-<i>.log`); a DisaggregatedSet role's leader template prints `<role>.log`; a Job's or Deployment's
pods print the workload's file. A file with an exit code in the case ends its pods Failed with that code.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

from runner.base.errors import EXIT_INFRA, ExecutionError, Location, Problem, ScenarioError
from runner.cluster import control, feed_log
from runner.execute.kubernetes.cleanup import labelled_anywhere, run_selector
from runner.execute.kubernetes.client import KubeApiError, connect
from runner.execute.plan import Plan
from runner.flows import corpus
from runner.flows.baseline import baseline_scenarios
from runner.flows.check import for_executor, validate_scenario
from runner.flows.run import RunResult, run_scenario
from runner.records.history import latest_passing
from runner.render.kubernetes import RenderedObject
from runner.scenario.model import Scenario, Workload, thaw
from runner.scenario.resolve import Library

EXECUTOR = "kubernetes"
REGISTRY = "rehearsal.invalid"  # images are never pulled (kwok runs no containers); the placeholder must still go
DEFAULT_RESULTS = Path("results-rehearsal")  # apart from results/: a rehearsal is never a real run's baseline
ANNOTATIONS = "sim.scenario-runner.io/"
LOG_FILE, OUTCOME, EXIT_CODE = ANNOTATIONS + "log-file", ANNOTATIONS + "outcome", ANNOTATIONS + "exit-code"


@dataclass(frozen=True)
class Cluster:
    directory: Path
    kubeconfig: Path
    started: bool          # this command started it (it was not up)
    start_s: float         # how long making it ready took (0 when it was up)


@dataclass(frozen=True)
class Rehearsal:
    scenario: str
    case: corpus.Case
    kind: str                    # "healthy" | "failure": how the case applies to the scenario
    result: RunResult
    leftovers: tuple[str, ...]   # anything labelled with the run's id still in the cluster after the run
    seconds: float

    @property
    def exit_code(self) -> int:
        return EXIT_INFRA if self.leftovers else self.result.verdict.exit_code


# --- the corpus ---------------------------------------------------------------------------------------


def corpus_root(explicit: str | os.PathLike | None, library: Library) -> Path:
    """--corpus DIR, else $SCENARIO_CORPUS, else tests/truth of this checkout, else beside the library."""
    candidates = [Path(explicit)] if explicit else []
    if not explicit and os.environ.get("SCENARIO_CORPUS"):
        candidates.append(Path(os.environ["SCENARIO_CORPUS"]))
    if not candidates:
        candidates += [Path("tests/truth"), Path(library.root).resolve().parent / "tests" / "truth"]
    for path in candidates:
        if any(path.glob("*/*/*/case.yaml")):
            return path.resolve()
    raise ScenarioError(Problem(f"no tool-truth corpus at {', '.join(str(p) for p in candidates)} (folders <tool>/<version>/<case>/ "
                                "with case.yaml)", Location("--corpus"),
                                "run from the scenario-runner checkout, or pass --corpus DIR (or set SCENARIO_CORPUS)"))


def applicable_cases(scenario: Scenario, root: Path) -> list[tuple[str, corpus.Case]]:
    """("healthy" | "failure", case) for every case of the corpus that applies to the scenario."""
    return ([("healthy", c) for c in corpus.healthy_cases(scenario, root)]
            + [("failure", c) for c in corpus.failure_cases(scenario, root)])


def pick_case(scenario: Scenario, root: Path, wanted: str | None) -> corpus.Case:
    """The healthy case (the first, by path) or the one named: its id, its folder's name or its failure name."""
    found = applicable_cases(scenario, root)
    listing = "; ".join(f"{c.id} ({c.failure or kind})" for kind, c in found) or "none"
    if not wanted:
        healthy = [c for kind, c in found if kind == "healthy"]
        if healthy:
            return healthy[0]
        raise ScenarioError(Problem(f"the corpus {root} has no healthy case for {scenario.name} (tags {', '.join(scenario.tags)}); "
                                    f"cases that apply: {listing}", Location(str(root)),
                                    "add one (tests/truth/README.md: real output with provenance), or name a case with --case"))
    matches = [c for _, c in found if wanted in (c.id, c.path.name, c.failure)]
    if len({c.id for c in matches}) == 1:
        return matches[0]
    why = "matches several cases" if matches else "names no case that applies to this scenario"
    raise ScenarioError(Problem(f"--case {wanted} {why}; cases for {scenario.name}: {listing}", Location("--case"),
                                "name a case by its id (tool/version/case), as `scenario rehearse NAME --list-cases` prints"))


# --- the control plane ----------------------------------------------------------------------------------


def ensure_cluster(directory: Path, say: Callable[[str], None], bin_dir: str | None = None) -> Cluster:
    """The local control plane in `directory`: reused when up, else built (cached; minutes when cold) and started."""
    directory = Path(directory).resolve()
    if control.is_up(directory):
        return Cluster(directory, directory / "kubeconfig", False, 0.0)
    started = time.monotonic()
    binaries = Path(bin_dir) if bin_dir else _built_binaries(say)
    with contextlib.redirect_stdout(_Lines(say)):
        try:
            code = control.up(directory, binaries, dict(control.DEFAULT_NODES))
        except control.ClusterError as error:
            raise ExecutionError(f"the local control plane did not start: {error}",
                                 hint=f"its components' logs are in {directory / 'logs'}; `make cluster-down` clears a stale one") from error
    if code != 0:
        raise ExecutionError(f"the local control plane did not start (exit {code})", hint=f"see {directory / 'logs'}")
    return Cluster(directory, directory / "kubeconfig", True, time.monotonic() - started)


def _built_binaries(say: Callable[[str], None]) -> Path:
    if os.environ.get("SCENARIO_CLUSTER_BIN"):
        return Path(os.environ["SCENARIO_CLUSTER_BIN"])
    script = control.REPO / "cluster" / "build.sh"
    if not script.is_file():
        raise ExecutionError("the local control plane is built from a scenario-runner checkout: cluster/build.sh is not here",
                             hint="run from the checkout, or set SCENARIO_CLUSTER_BIN to the binaries of `cluster/build.sh`")
    printed = subprocess.run(["bash", str(script), "--print"], capture_output=True, text=True, check=False).stdout.split()
    if printed and not control.missing_binaries(Path(printed[-1])):
        return Path(printed[-1])
    if shutil.which("go") is None:
        raise ExecutionError("the local control plane is not built and Go is not installed (cluster/build.sh builds it from "
                             "Go modules)", hint="install Go (go.dev/dl; the version in cluster/versions.env or newer), then retry")
    say("building the local control plane (cluster/build.sh; cached by version, a cold build takes 15-30 minutes)")
    process = subprocess.Popen(["bash", str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        if line.startswith("[cluster/build"):
            say(line.rstrip("\n"))
    if process.wait() != 0:
        raise ExecutionError("cluster/build.sh failed:\n" + "\n".join(lines[-15:]), hint="its full output: bash cluster/build.sh")
    return Path(lines[-1].strip())


class _Lines:
    """A file-like target for the control plane's progress prints: each line to `say`. A `say` that prints to
    stdout itself (print) would write here again: its lines go to the stdout this replaced."""

    def __init__(self, say: Callable[[str], None]):
        self.say, self.buffer, self.saying, self.outer = say, "", False, sys.stdout

    def write(self, text: str) -> int:
        if self.saying:
            return self.outer.write(text)
        self.buffer += text
        while "\n" in self.buffer:
            line, self.buffer = self.buffer.split("\n", 1)
            if line.strip():
                self.saying = True
                try:
                    self.say(line)
                finally:
                    self.saying = False
        return len(text)

    def flush(self) -> None:
        pass


# --- the run's objects ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Printed:
    """What one pod template's pods print and how they end; or, for pods whose names are known (LWS leaders), per pod."""

    file: Path | None = None
    exit_code: int = 0
    pods: tuple[tuple[str, Path], ...] = ()  # (pod name, file) fed before the pods exist


class Source(Protocol):
    """What each pod prints: a corpus case (CaseSource), or anything else that names files (a test's recorded run)."""

    def workload_file(self, workload: Workload) -> Path | None: ...
    def pod_file(self, workload: Workload, index: int) -> Path | None: ...
    def role_file(self, role: str) -> Path | None: ...
    def exit_code(self, file: Path) -> int: ...


@dataclass(frozen=True)
class CaseSource:
    case: corpus.Case

    def workload_file(self, workload: Workload) -> Path | None:
        return corpus.shared_file(self.case, workload)

    def pod_file(self, workload: Workload, index: int) -> Path | None:
        return corpus.pod_file(self.case, workload, index)

    def role_file(self, role: str) -> Path | None:
        return corpus.role_file(self.case, role)

    def exit_code(self, file: Path) -> int:
        return self.case.exit_code(file)


def decorate(plan: Plan, scenario: Scenario, case: corpus.Case | Source, feed: Callable[[str, str, str, Path], None]) -> Plan:
    """The plan with every pod template annotated as the case (or source) says (feed(namespace, pod, container, file)
    for pods whose names are known in advance)."""
    source = CaseSource(case) if isinstance(case, corpus.Case) else case
    workloads = {w.name: w for w in scenario.workloads}
    objects = []
    for obj in plan.objects:
        body = thaw(obj.body)
        workload = workloads.get(obj.workload)
        if workload is not None:
            for template, printed in _templates(body, workload, source):
                _annotate(template, printed)
                for pod, file in printed.pods:
                    for container in template["spec"]["containers"]:
                        feed(body["metadata"].get("namespace", "default"), pod, container["name"], file)
        objects.append(replace(obj, body=body) if isinstance(obj, RenderedObject) else obj)
    return replace(plan, objects=tuple(objects))


def _templates(body: dict, workload: Workload, source: Source):
    """(pod template, what its pods print) for each pod template of one rendered object."""
    kind, spec, name = body.get("kind"), body.get("spec") or {}, body["metadata"]["name"]
    if kind == "MPIJob":
        launcher = ((spec.get("mpiReplicaSpecs") or {}).get("Launcher") or {}).get("template")
        if launcher:
            yield launcher, _printed(source, source.workload_file(workload))
    elif kind == "LeaderWorkerSet":
        lwt = spec.get("leaderWorkerTemplate") or {}
        leader = lwt.get("leaderTemplate") or lwt.get("workerTemplate")
        if leader:  # leader pods are <name>-<group index>: each is fed its file before it exists
            files = tuple((f"{name}-{i}", source.pod_file(workload, i)) for i in range(int(spec.get("replicas", 1))))
            yield leader, Printed(pods=tuple((pod, f) for pod, f in files if f is not None))
    elif kind == "DisaggregatedSet":
        for role in spec.get("roles") or []:
            lwt = (role.get("spec") or {}).get("leaderWorkerTemplate") or {}
            leader = lwt.get("leaderTemplate") or lwt.get("workerTemplate")
            if leader:
                yield leader, _printed(source, source.role_file(role.get("name", "")))
    elif isinstance(spec.get("template"), dict) and "containers" in (spec["template"].get("spec") or {}):
        yield spec["template"], _printed(source, source.workload_file(workload))


def _printed(source: Source, file: Path | None) -> Printed:
    return Printed(file, source.exit_code(file) if file else 0)


def _annotate(template: dict, printed: Printed) -> None:
    meta = template.setdefault("metadata", {}) or {}
    template["metadata"] = meta
    annotations = dict(meta.get("annotations") or {})
    if printed.file is not None:
        annotations[LOG_FILE] = str(printed.file)
    if printed.exit_code:
        annotations[OUTCOME] = "Failed"
        annotations[EXIT_CODE] = str(printed.exit_code)
    if annotations:
        meta["annotations"] = annotations


# --- the rehearsal ------------------------------------------------------------------------------------------


def rehearse(name: str, *, library: Library, case_name: str | None = None, corpus_dir: str | None = None,
             results_dir: Path | None = None, cluster: Cluster, overrides: tuple[str, ...] = (), timeout_s: float | None = None,
             progress=None, announce: Callable[[str], None] = lambda text: None, options: Mapping[str, Any] | None = None,
             with_baselines: bool = True) -> list[Rehearsal]:
    """The scenario's rehearsal, after those of the baselines its checks need that have no passing rehearsal yet
    (each with its healthy case). Returns every rehearsal that ran, the scenario's last."""
    results_dir = Path(results_dir or DEFAULT_RESULTS)
    root = corpus_root(corpus_dir, library)
    scenario = for_rehearsal(name, library, tuple(overrides))
    case = pick_case(scenario, root, case_name)
    done = []
    if with_baselines:
        for baseline in baseline_scenarios(scenario):
            if latest_passing(results_dir, baseline)[0] is None:
                announce(f"baseline {baseline} has no passing rehearsal in {results_dir}: rehearsing it first")
                base = for_rehearsal(baseline, library, ())
                done.append(_one(base, pick_case(base, root, None), library, results_dir, cluster, (), timeout_s, progress, options))
    done.append(_one(scenario, case, library, results_dir, cluster, tuple(overrides), timeout_s, progress, options))
    return done


def for_rehearsal(name: str, library: Library, overrides: tuple[str, ...]) -> Scenario:
    """The scenario as the Kubernetes executor runs it, its registry set to REGISTRY unless --set names one. The
    rehearsal's registry is not one of the run's overrides: a rehearsed baseline counts as run as written."""
    if not any(o.startswith("registry=") for o in overrides):
        overrides = (*overrides, f"registry={REGISTRY}")
    scenario = validate_scenario(name, library, overrides)
    if EXECUTOR not in scenario.executors:
        raise ScenarioError(Problem(f"scenario {scenario.name} does not run on Kubernetes (it declares {', '.join(scenario.executors)}): "
                                    "there is nothing to rehearse", hint="`scenario run NAME` runs it here"))
    return for_executor(scenario, EXECUTOR, library, overrides)


def _one(scenario: Scenario, case: corpus.Case, library: Library, results_dir: Path, cluster: Cluster,
         overrides: tuple[str, ...], timeout_s: float | None, progress, options: Mapping[str, Any] | None) -> Rehearsal:
    started = time.monotonic()
    result, leftovers = run_rehearsed(scenario, CaseSource(case), cluster, results_dir=results_dir, library=library,
                                      overrides=overrides, timeout_s=timeout_s, progress=progress, options=options)
    kind = "healthy" if case in corpus.healthy_cases(scenario, case.root) else "failure"
    return Rehearsal(scenario.name, case, kind, result, leftovers, time.monotonic() - started)


def run_rehearsed(scenario: Scenario, source: Source, cluster: Cluster, *, results_dir: Path, library: Library | None = None,
                  overrides: tuple[str, ...] = (), timeout_s: float | None = None, progress=None,
                  options: Mapping[str, Any] | None = None) -> tuple[RunResult, tuple[str, ...]]:
    """One run of the scenario on the control plane, its pods printing what `source` names; and what of it is left."""
    fed: list[tuple[str, str]] = []

    def feed(namespace: str, pod: str, container: str, file: Path) -> None:
        feed_log(cluster.kubeconfig, namespace, pod, container, file.read_text(errors="replace"), cluster_dir=cluster.directory)
        fed.append((namespace, pod))

    run_options = {**(options or {}), "kubeconfig": str(cluster.kubeconfig), "context": None}
    try:
        result = run_scenario(scenario, executor_name=EXECUTOR, results_dir=results_dir, timeout_s=timeout_s, progress=progress,
                              overrides=list(overrides), options=run_options, library=library,
                              plan_hook=lambda plan: decorate(plan, scenario, source, feed))
    finally:
        _forget_logs(cluster, fed)
    leftovers = () if run_options.get("keep") or run_options.get("dry_run") else tuple(labelled_leftovers(cluster, result.run_id))
    return result, leftovers


def _forget_logs(cluster: Cluster, fed: list[tuple[str, str]]) -> None:
    """The kwok Logs objects fed for known pod names (not the run's objects: they carry no run label)."""
    if not fed:
        return
    client = connect({"kubeconfig": str(cluster.kubeconfig)})
    try:
        for namespace, pod in sorted(set(fed)):
            try:
                client.delete(f"/apis/kwok.x-k8s.io/v1alpha1/namespaces/{namespace}/logs/{pod}")
            except KubeApiError:
                pass
    finally:
        client.close()


def labelled_leftovers(cluster: Cluster, run_id: str) -> list[str]:
    """Every object of any served, listable kind that still carries the run's label (one list call per kind)."""
    client = connect({"kubeconfig": str(cluster.kubeconfig)})
    try:
        return labelled_anywhere(client, run_selector(run_id))
    finally:
        client.close()


def stop_cluster(cluster: Cluster, say: Callable[[str], None]) -> None:
    with contextlib.redirect_stdout(_Lines(say)):
        control.down(cluster.directory)


def cluster_note(cluster: Cluster) -> str:
    if cluster.started:
        return f"local control plane started in {cluster.start_s:.1f}s ({cluster.directory}); stop it with `make cluster-down`"
    return f"local control plane already up ({cluster.directory})"


def stderr_say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
