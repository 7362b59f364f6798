"""The kinds the runner applies, watches and deletes: where they live in the API and, for CRDs, how to install them.

A fixed table instead of API discovery: the runner knows every kind its templates render,
and discovery would cost a dozen requests per run (plus a cache that goes stale when a CRD
is installed between runs). Preflight asks discovery only whether each CRD is served.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from runner.base.errors import ExecutionError


@dataclass(frozen=True)
class Kind:
    kind: str
    group: str
    version: str
    plural: str
    namespaced: bool = True
    install: str = ""  # for custom resources: the commands that install the CRD and its controller

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def resource(self) -> str:
        """`pods`, `jobs.batch`, `mpijobs.kubeflow.org`: the name kubectl and RBAC errors use."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def custom(self) -> bool:
        return bool(self.install)

    def path(self, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
            if sub:
                base += f"/{sub}"
        return base


MPI_OPERATOR = ("kubectl apply --server-side -f "
                "https://raw.githubusercontent.com/kubeflow/mpi-operator/v0.6.0/deploy/v2beta1/mpi-operator.yaml")
# v0.9.0 is the first LWS release with the DisaggregatedSet API (api/disaggregatedset/v1; v0.8.0 has none).
LWS_RELEASE = "kubectl apply --server-side -f https://github.com/kubernetes-sigs/lws/releases/download/v0.9.0/manifests.yaml"
DISAGGREGATED_SET = ("install kubernetes-sigs/lws v0.9.0 or later, the first release with DisaggregatedSet (KEP-766): "
                     "kubectl apply --server-side -f https://github.com/kubernetes-sigs/lws/releases/download/v0.9.0/manifests.yaml")

NAMESPACE = Kind("Namespace", "", "v1", "namespaces", namespaced=False)
NODE = Kind("Node", "", "v1", "nodes", namespaced=False)
POD = Kind("Pod", "", "v1", "pods")
EVENT = Kind("Event", "", "v1", "events")
CONFIGMAP = Kind("ConfigMap", "", "v1", "configmaps")
SECRET = Kind("Secret", "", "v1", "secrets")
SERVICE = Kind("Service", "", "v1", "services")
SERVICE_ACCOUNT = Kind("ServiceAccount", "", "v1", "serviceaccounts")
JOB = Kind("Job", "batch", "v1", "jobs")
DEPLOYMENT = Kind("Deployment", "apps", "v1", "deployments")
STATEFULSET = Kind("StatefulSet", "apps", "v1", "statefulsets")
ROLE = Kind("Role", "rbac.authorization.k8s.io", "v1", "roles")
ROLE_BINDING = Kind("RoleBinding", "rbac.authorization.k8s.io", "v1", "rolebindings")
PDB = Kind("PodDisruptionBudget", "policy", "v1", "poddisruptionbudgets")
MPIJOB = Kind("MPIJob", "kubeflow.org", "v2beta1", "mpijobs", install=MPI_OPERATOR)
LWS = Kind("LeaderWorkerSet", "leaderworkerset.x-k8s.io", "v1", "leaderworkersets", install=LWS_RELEASE)
DSET = Kind("DisaggregatedSet", "disaggregatedset.x-k8s.io", "v1", "disaggregatedsets", install=DISAGGREGATED_SET)
SSAR = Kind("SelfSubjectAccessReview", "authorization.k8s.io", "v1", "selfsubjectaccessreviews", namespaced=False)

KINDS: dict[tuple[str, str], Kind] = {(k.api_version, k.kind): k for k in (
    NAMESPACE, NODE, POD, EVENT, CONFIGMAP, SECRET, SERVICE, SERVICE_ACCOUNT, JOB, DEPLOYMENT, STATEFULSET, ROLE,
    ROLE_BINDING, PDB, MPIJOB, LWS, DSET)}

# Kinds a run may leave behind, in the order cleanup deletes them (owners first, so controllers stop
# re-creating pods), and the order the final check lists them. Namespaces are never deleted.
CLEANUP_ORDER = (DSET, LWS, MPIJOB, JOB, DEPLOYMENT, STATEFULSET, SERVICE, CONFIGMAP, SECRET, PDB, ROLE_BINDING, ROLE,
                 SERVICE_ACCOUNT, POD)
# What controllers make of a workload object, carrying its labels: an owner deleted in the foreground can be gone
# before them (a DisaggregatedSet's LeaderWorkerSets still finalizing, seen on LWS v0.9.0), so cleanup waits on them too.
CHILDREN: dict[Kind, tuple[Kind, ...]] = {
    DSET: (LWS, STATEFULSET, SERVICE), LWS: (STATEFULSET, SERVICE), MPIJOB: (JOB, SERVICE, CONFIGMAP, SECRET),
}
# Kinds that own pods and therefore are workloads to wait on.
WORKLOAD_KINDS = (MPIJOB, LWS, DSET, JOB, DEPLOYMENT, STATEFULSET)


def kind_of(body: Mapping[str, Any]) -> Kind:
    key = (body.get("apiVersion", ""), body.get("kind", ""))
    kind = KINDS.get(key)
    if kind is None:
        known = ", ".join(sorted(f"{k.kind} ({k.api_version})" for k in KINDS.values()))
        raise ExecutionError(f"the kubernetes executor does not know {key[1]} {key[0]}: add it to runner/execute/kubernetes/kinds.py",
                             hint=f"known kinds: {known}")
    return kind
