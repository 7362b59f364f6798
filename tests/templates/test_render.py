"""Every Kubernetes scenario renders, its custom resources pass the upstream CRD schemas, and every
object and pod carries what the runner and the cluster rely on."""
from __future__ import annotations

import pytest
from jsonschema import Draft7Validator

from runner.base.resources import template_names

from .helpers import (
    RUN_ID,
    RUN_LABELS,
    containers,
    crd_schemas,
    kubernetes_scenarios,
    objects,
    pod_templates,
    scenario,
    strict,
)

SCENARIOS = kubernetes_scenarios()
CUSTOM_KIND_OF = {"mpi": "MPIJob", "group": "LeaderWorkerSet", "disaggregated": "DisaggregatedSet"}  # by workload kind
CUSTOM_KINDS = set(CUSTOM_KIND_OF.values())


def test_the_library_has_kubernetes_scenarios():
    assert len(SCENARIOS) >= 12


def test_templates_for_every_kind_exist():
    assert {"mpijob", "leaderworkerset", "disaggregatedset", "job", "deployment", "service", "configmap",
            "namespace"} <= set(template_names())
    assert not [name for name in template_names() if name.startswith("_")]


@pytest.mark.parametrize("name", SCENARIOS)
def test_renders(name):
    kinds = {o["kind"] for o in objects(name)}
    assert kinds and "Namespace" in kinds


@pytest.fixture(scope="module")
def upstream():
    return {key: [(file, Draft7Validator(strict(schema))) for file, schema in versions] for key, versions in crd_schemas().items()}


@pytest.mark.parametrize("name", SCENARIOS)
def test_custom_resources_pass_upstream_crd_schemas(name, upstream):
    checked = 0
    problems = []
    for obj in objects(name):
        if obj["kind"] not in CUSTOM_KINDS:
            continue
        validators = upstream.get((obj["apiVersion"], obj["kind"]))
        assert validators, f"no upstream CRD for {obj['apiVersion']} {obj['kind']} in the pinned modules (cluster/versions.env)"
        for file, validator in validators:
            checked += 1
            problems += [f"{obj['kind']}/{obj['metadata']['name']} vs {file}: {'.'.join(map(str, e.absolute_path))}: {e.message}"
                         for e in validator.iter_errors(obj)]
    assert not problems, "\n".join(problems)
    # the custom resources checked are the ones the scenario's workloads call for, no fewer
    wanted = {CUSTOM_KIND_OF[w.kind] for w in scenario(name).workloads if w.kind in CUSTOM_KIND_OF and not w.template}
    assert wanted <= {o["kind"] for o in objects(name) if o["kind"] in CUSTOM_KINDS}, wanted
    assert checked >= len(wanted)


def test_strict_crd_check_catches_a_misspelt_field(upstream):
    mpijob = next(o for o in objects("nccl-allreduce") if o["kind"] == "MPIJob")
    mpijob["spec"]["slotPerWorker"] = 8
    (_, validator), *_ = upstream[("kubeflow.org/v2beta1", "MPIJob")]
    assert any("slotPerWorker" in e.message for e in validator.iter_errors(mpijob))


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_object_and_pod_carries_the_run_labels(name):
    for obj in objects(name):
        labels = obj["metadata"].get("labels", {})
        if obj["kind"] == "Namespace":
            # shared by every run and never deleted: it must not match a run's cleanup selector
            assert "scenario-runner.dev/run-id" not in labels
            continue
        assert {key: labels.get(key) for key in RUN_LABELS} == {
            "app.kubernetes.io/managed-by": "scenario-runner", "scenario-runner.dev/run-id": RUN_ID,
            "scenario-runner.dev/scenario": name}, f"{obj['kind']}/{obj['metadata']['name']}"
        assert labels.get("scenario-runner.dev/workload"), f"{obj['kind']}/{obj['metadata']['name']} has no workload label"
        for path, template in pod_templates(obj):
            pod_labels = template["metadata"]["labels"]
            assert all(pod_labels.get(key) == labels[key] for key in (*RUN_LABELS, "scenario-runner.dev/workload")), path


@pytest.mark.parametrize("name", SCENARIOS)
def test_hugepages_come_with_memory_and_requests_equal_limits(name):
    seen = 0
    for obj in objects(name):
        for path, container in containers(obj):
            requests = container.get("resources", {}).get("requests", {})
            limits = container.get("resources", {}).get("limits", {})
            if "hugepages-2Mi" in requests or "hugepages-2Mi" in limits:
                seen += 1
                assert "memory" in requests and "memory" in limits, f"{obj['kind']}/{obj['metadata']['name']} {path}"
            for resource in ("nvidia.com/gpu", "vpc.amazonaws.com/efa", "hugepages-2Mi", "memory"):
                assert requests.get(resource) == limits.get(resource), f"{obj['kind']}/{obj['metadata']['name']} {path} {resource}"
    if name != "nccl-allreduce-intranode" and any(o["kind"] != "Namespace" for o in objects(name)):
        assert seen, "EFA pods request hugepages"


@pytest.mark.parametrize("name", SCENARIOS)
def test_gpu_pods_tolerate_the_gpu_taint_and_pin_the_instance_type(name):
    from .helpers import scenario

    instance_type = scenario(name).platform.instance_type
    for obj in objects(name):
        for path, template in pod_templates(obj):
            spec = template["spec"]
            assert spec["nodeSelector"]["kubernetes.io/arch"] == "amd64"
            wants_gpu = any("nvidia.com/gpu" in c.get("resources", {}).get("limits", {}) for c in spec["containers"])
            if wants_gpu:
                assert spec["nodeSelector"]["node.kubernetes.io/instance-type"] == instance_type
                assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
                assert spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]["topologyKey"] \
                    == "kubernetes.io/hostname"


def test_upstream_crds_come_from_the_pinned_modules(monkeypatch):
    """The CRDs are the files of the modules cluster/versions.env pins (what the local control plane installs); without
    Go the tests say so instead of skipping silently in a plain clone."""
    from . import helpers

    files = helpers.pinned_crd_files()
    versions = helpers.pinned_versions()
    assert {f.name for f in files} == {"leaderworkerset.x-k8s.io_leaderworkersets.yaml",
                                       "disaggregatedset.x-k8s.io_disaggregatedsets.yaml", "kubeflow.org_mpijobs.yaml"}
    assert all(f.is_file() for f in files)
    assert any(f"@{versions['LWS_VERSION']}" in str(f) for f in files) and any(f"@{versions['MPI_OPERATOR_VERSION']}" in str(f) for f in files)
    helpers.pinned_crd_files.cache_clear()
    monkeypatch.setattr(helpers.shutil, "which", lambda name: None)
    with pytest.raises(pytest.skip.Exception, match="Go is not installed"):
        helpers.pinned_crd_files()
    helpers.pinned_crd_files.cache_clear()
