"""`scenario rehearse` against the real local control plane (tests/control_plane.py): the library passes on its healthy
recorded output, every recorded fault fails naming its cause, the real controllers and scheduler do the work, nothing
labelled with the run is left, and preflight, dry-run and RBAC answer as the real server says."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from runner.base.errors import EXIT_FAIL, EXIT_INFRA, EXIT_PASS, ScenarioError
from runner.execute import get_executor
from runner.execute.progress import QuietProgress
from runner.flows import corpus, rehearse
from runner.flows.check import validate_scenario
from runner.flows.run import run_scenario
from runner.scenario.resolve import Library
from runner.verdict.judge import PROVEN
from tests.control_plane import token_kubeconfig

REPO = Path(__file__).resolve().parents[2]
TRUTH = REPO / "tests" / "truth"
LIBRARY = Library(REPO / "scenarios")
KUBERNETES = sorted(n for n in LIBRARY.names() if "kubernetes" in validate_scenario(n, LIBRARY).executors)
FAULTS = [(name, case.id) for name in KUBERNETES
          for case in corpus.failure_cases(rehearse.for_rehearsal(name, LIBRARY, ()), TRUTH)]
NODE_PREFIX = {"p5.48xlarge": "p5-48xlarge-", "p5en.48xlarge": "p5en-48xlarge-", "p6-b200.48xlarge": "p6-b200-48xlarge-"}


@pytest.fixture(scope="module")
def shared_results(tmp_path_factory):
    """One results folder for the module's rehearsals: a baseline rehearsed once serves every scenario after it."""
    return tmp_path_factory.mktemp("rehearsals")


def _rehearse(control_plane, results, name, case=None, **options):
    return rehearse.rehearse(name, library=LIBRARY, case_name=case, corpus_dir=str(TRUTH), results_dir=results,
                             cluster=control_plane, progress=QuietProgress(), options=options)


def test_the_library_scenarios_on_kubernetes_are_the_twelve():
    assert KUBERNETES == sorted([
        "nccl-allreduce", "nccl-allreduce-p5en", "nccl-allreduce-p6-b200", "nccl-allreduce-intranode", "nccl-alltoall",
        "uccl-ep-low-latency", "mooncake-efa-dram", "mooncake-efa-vram", "sglang-baseline-tp8", "sglang-1p1d",
        "sglang-1p2d", "sglang-1p1d-disaggregatedset"])


@pytest.mark.parametrize("name", KUBERNETES)
def test_every_library_scenario_passes_on_its_healthy_recorded_output(control_plane, shared_results, name):
    done = _rehearse(control_plane, shared_results, name)
    for one in done:  # the baselines its checks need ran first, each with its healthy case
        assert one.kind == "healthy"
        assert one.result.verdict.status == "PASS", f"{one.scenario}: {one.result.verdict.summary}"
        assert one.leftovers == (), one.leftovers
        _placed_by_the_scheduler(one)


def _placed_by_the_scheduler(one: rehearse.Rehearsal) -> None:
    """Every pod ran on a node of the scenario's instance type; the controllers made the pods they own."""
    scenario = one.result.scenario
    for workload in scenario.workloads:
        rows = (one.result.record / "logs" / workload.name / "pods.txt").read_text().splitlines()[1:]
        assert rows, f"{workload.name}: no pods"
        nodes = {row.split()[2] for row in rows}
        wanted = NODE_PREFIX[scenario.platform.instance_type]
        if workload.node != "cpu":
            assert all(n.startswith(wanted) for n in nodes), (workload.name, nodes)
        if workload.kind == "mpi":  # the MPI Operator: its launcher Job's pod, and <job>-worker-<i> on distinct nodes
            pods = {row.split()[0]: row.split()[2] for row in rows}
            assert any("-launcher-" in p for p in pods), pods
            workers = {node for pod, node in pods.items() if "-worker-" in pod}
            assert len(workers) == workload.nodes, pods


@pytest.mark.parametrize("name,case", FAULTS, ids=[f"{n}@{c}" for n, c in FAULTS])
def test_every_recorded_fault_fails_naming_its_cause(control_plane, shared_results, name, case):
    one = _rehearse(control_plane, shared_results, name, case)[-1]
    verdict = one.result.verdict
    failed = [r for r in verdict.results if r.status in PROVEN or r.status == "FAIL"]
    assert one.kind == "failure" and failed and all(r.message for r in failed), verdict.summary
    crashed = [n for n, o in one.result.output.outcomes.items() if o.state == "failed"]
    if any(one.case.exit_codes.values()):
        # the recorded process exited non-zero (its README says so), so its pod fails with that code. The fault is
        # proven (FAIL, exit 1) by a failure line the tool printed (`Unable to get target segment ID`); a process that
        # died without a word leaves nothing proven, and the crash leads (ERROR, exit 3), its FAILs kept
        assert crashed, verdict.summary
        assert any(f"exit code {one.case.exit_codes[n]}" in one.result.output.outcomes[n].message for n in crashed)
        printed = {c.name for c in validate_scenario(name, LIBRARY).checks if c.log and c.absent}
        proven = [r for r in failed if r.name in printed]
        assert verdict.exit_code == (EXIT_FAIL if proven else EXIT_INFRA), verdict.summary
    else:
        assert not crashed and verdict.exit_code == EXIT_FAIL, verdict.summary
    assert one.leftovers == ()


def test_the_cli_prints_the_verdict_and_the_cleanup(control_plane, tmp_path):
    done = subprocess.run([sys.executable, "-m", "runner", "rehearse", "nccl-allreduce", "--no-progress", "--cluster-dir",
                           str(control_plane.directory), "--results", str(tmp_path / "r"), "--corpus", str(TRUTH)],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == EXIT_PASS, done.stderr
    assert "nccl-allreduce: PASS" in done.stdout
    assert "with nccl-tests/v2.19.6/efa-16rank (healthy)" in done.stderr and "is left" in done.stderr


def test_a_scenario_asking_more_gpus_than_the_nodes_have_is_refused_before_anything_is_created(control_plane, tmp_path):
    one = _rehearse(control_plane, tmp_path, "nccl-allreduce-p5en", None)  # 2 p5en nodes in the cluster
    assert one[-1].result.verdict.status == "PASS"
    done = rehearse.rehearse("nccl-allreduce-p5en", library=LIBRARY, corpus_dir=str(TRUTH), results_dir=tmp_path / "big",
                             cluster=control_plane, progress=QuietProgress(), overrides=("workloads[nccl-tests].nodes=3", "workloads[nccl-tests].ranks=24"))
    result = done[-1].result
    assert result.verdict.status == "ERROR"
    message = result.output.message
    assert "p5en.48xlarge" in message and "3" in message, message
    facts = json.loads((result.record / "run.json").read_text())["facts"]
    assert facts["api_requests"].get("patch", 0) == 0  # nothing was applied
    assert not (result.record / "logs" / "nccl-tests" / "pods.txt").exists()  # no pod ever existed
    assert done[-1].leftovers == ()


@pytest.mark.parametrize("name", KUBERNETES)
def test_server_dry_run_accepts_the_library(control_plane, tmp_path, name):
    one = _rehearse(control_plane, tmp_path, name, dry_run="server")[-1]
    assert one.result.output.state == "completed", one.result.output.message
    assert "objects accepted; nothing was created" in one.result.output.message


def test_a_wrong_mpijob_field_is_refused_with_the_servers_own_message(control_plane, tmp_path):
    scenario = rehearse.for_rehearsal("nccl-allreduce", LIBRARY, ())

    def misspell(plan):
        objects = []
        for obj in plan.objects:
            if obj.kind == "MPIJob":
                body = json.loads(json.dumps(obj.body, default=dict))
                body["spec"]["slotsPerWorkers"] = 8  # slotsPerWorker
                obj = type(obj)(obj.order, obj.workload, obj.template, body)
            objects.append(obj)
        return type(plan)(plan.executor, plan.documents, plan.files, tuple(objects))

    result = run_scenario(scenario, executor_name="kubernetes", results_dir=tmp_path, library=LIBRARY, plan_hook=misspell,
                          options={"kubeconfig": str(control_plane.kubeconfig), "dry_run": "server"})
    assert result.output.state == "error"
    # server-side apply's own words (with fieldValidation=Strict; the default, Warn, would prune the field and accept)
    assert "rejected MPIJob/nccl-tests" in result.output.message
    assert ".spec.slotsPerWorkers: field not declared in schema" in result.output.message, result.output.message


def test_preflight_with_a_token_that_cannot_create_mpijobs_names_the_permission(control_plane, tmp_path):
    api = k8s_config.new_client_from_config(config_file=str(control_plane.kubeconfig))
    core, rbac = k8s.CoreV1Api(api), k8s.RbacAuthorizationV1Api(api)
    namespace = "scenario-runner"
    try:
        core.create_namespace({"metadata": {"name": namespace}})
    except k8s.ApiException as error:
        assert error.status == 409
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "viewer"}})
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": "viewer-view"}, "subjects": [{"kind": "ServiceAccount", "name": "viewer", "namespace": namespace}],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}})
    try:
        token = core.create_namespaced_service_account_token("viewer", namespace, {"spec": {"expirationSeconds": 600}}).status.token
        kubeconfig = token_kubeconfig(control_plane, token, tmp_path / "viewer.kubeconfig")
        scenario = rehearse.for_rehearsal("nccl-allreduce", LIBRARY, ())
        result = run_scenario(scenario, executor_name="kubernetes", results_dir=tmp_path, library=LIBRARY,
                              options={"kubeconfig": str(kubeconfig)})
        message = result.output.message
        assert result.verdict.status == "ERROR"
        assert "create" in message and "mpijobs" in message, message
    finally:
        rbac.delete_namespaced_role_binding("viewer-view", namespace)
        core.delete_namespaced_service_account("viewer", namespace)
        api.close()


# --- without a cluster: what the rehearsal puts on the plan, and how it picks a case ----------------------------------


def _plan(name):
    scenario = rehearse.for_rehearsal(name, LIBRARY, ())
    return scenario, get_executor("kubernetes").plan(scenario, run_id="r")


def test_the_mpijob_launcher_prints_the_launcher_log_and_workers_print_nothing():
    scenario, plan = _plan("nccl-allreduce")
    case = rehearse.pick_case(scenario, TRUTH, None)
    decorated = rehearse.decorate(plan, scenario, case, lambda *a: pytest.fail("no pod is fed by name"))
    spec = next(o for o in decorated.objects if o.kind == "MPIJob").body["spec"]["mpiReplicaSpecs"]
    assert spec["Launcher"]["template"]["metadata"]["annotations"][rehearse.LOG_FILE] == str(case.path / "launcher.log")
    assert rehearse.LOG_FILE not in (spec["Worker"]["template"].get("metadata") or {}).get("annotations", {})
    assert all(rehearse.LOG_FILE not in str(o.body) for o in plan.objects)  # the plan itself is left as made


def test_leader_pods_of_a_pool_are_fed_by_name_one_replica_its_own_file():
    scenario, plan = _plan("sglang-1p2d")
    case = rehearse.pick_case(scenario, TRUTH, "pd-one-decode-tcp")
    fed = []
    rehearse.decorate(plan, scenario, case, lambda namespace, pod, container, file: fed.append((pod, file.name)))
    assert ("decode-0", "decode.log") in fed and ("decode-1", "decode-1.log") in fed and ("prefill-0", "prefill.log") in fed


def test_a_disaggregatedset_role_prints_its_role_file():
    scenario, plan = _plan("sglang-1p1d-disaggregatedset")
    decorated = rehearse.decorate(plan, scenario, rehearse.pick_case(scenario, TRUTH, None), lambda *a: None)
    roles = next(o for o in decorated.objects if o.kind == "DisaggregatedSet").body["spec"]["roles"]
    files = {r["name"]: Path(r["spec"]["leaderWorkerTemplate"]["workerTemplate"]["metadata"]["annotations"][rehearse.LOG_FILE]).name
             for r in roles}
    assert files == {"prefill": "prefill.log", "decode": "decode.log"}


def test_a_file_with_an_exit_code_ends_its_pods_failed_with_it():
    scenario, plan = _plan("mooncake-efa-dram")
    decorated = rehearse.decorate(plan, scenario, rehearse.pick_case(scenario, TRUTH, "target-missing"), lambda *a: None)
    job = next(o for o in decorated.objects if o.kind == "Job").body["spec"]["template"]["metadata"]["annotations"]
    assert job[rehearse.OUTCOME] == "Failed" and job[rehearse.EXIT_CODE] == "1"  # its README: the real run exited 1


def test_a_case_that_does_not_apply_is_refused_naming_those_that_do():
    scenario = rehearse.for_rehearsal("nccl-allreduce", LIBRARY, ())
    with pytest.raises(ScenarioError) as error:
        rehearse.pick_case(scenario, TRUTH, "pd-kv-timeout")
    assert "names no case that applies" in str(error.value) and "efa-16rank-socket" in str(error.value)


def test_a_local_only_scenario_is_not_rehearsed():
    with pytest.raises(ScenarioError) as error:
        rehearse.for_rehearsal("mooncake-tcp-loopback", LIBRARY, ())
    assert "does not run on Kubernetes" in str(error.value)
