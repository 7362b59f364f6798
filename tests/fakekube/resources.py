"""Resource descriptors: what the fake API server serves, and its discovery documents.

A ResourceType says where a resource lives (group/version/plural), what it is
called (kind, shortNames), whether it is namespaced, which subresources it has
and which python-client model describes it (used to type-check built-in objects
the way the real server's Go decoder does). Custom resources get their
ResourceType from the CustomResourceDefinitions held in the store, so a test can
make `mpijobs.kubeflow.org` appear or disappear by seeding or deleting its CRD.
"""
from __future__ import annotations

from dataclasses import dataclass, field

VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = VERBS
    model: str | None = None  # kubernetes.client.models class used to type-check built-ins
    schema: dict | None = field(default=None, compare=False, hash=False)  # CRD openAPIV3Schema
    categories: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        """Store key and the name used in error messages: `pods`, `jobs.batch`."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def is_custom(self) -> bool:
        return self.model is None

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources


def _core(plural, kind, namespaced=True, short=(), sub=("status",), model=None, verbs=VERBS, cats=()):
    return ResourceType("", "v1", plural, kind, namespaced, kind.lower(), short, sub, verbs,
                        model or f"V1{kind}", categories=cats)


BUILTINS: tuple[ResourceType, ...] = (
    _core("namespaces", "Namespace", namespaced=False, short=("ns",)),
    _core("nodes", "Node", namespaced=False, short=("no",)),
    _core("pods", "Pod", short=("po",), sub=("status", "log"), cats=("all",)),
    _core("events", "Event", short=("ev",), sub=(), model="CoreV1Event"),
    _core("configmaps", "ConfigMap", short=("cm",), sub=()),
    _core("secrets", "Secret", sub=()),
    _core("services", "Service", short=("svc",), cats=("all",)),
    _core("serviceaccounts", "ServiceAccount", short=("sa",), sub=()),
    _core("persistentvolumeclaims", "PersistentVolumeClaim", short=("pvc",)),
    ResourceType("batch", "v1", "jobs", "Job", True, "job", (), ("status",), model="V1Job", categories=("all",)),
    ResourceType("apps", "v1", "deployments", "Deployment", True, "deployment", ("deploy",), ("status",),
                 model="V1Deployment", categories=("all",)),
    ResourceType("rbac.authorization.k8s.io", "v1", "roles", "Role", True, "role", model="V1Role"),
    ResourceType("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True, "rolebinding",
                 model="V1RoleBinding"),
    ResourceType("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False, "clusterrole",
                 model="V1ClusterRole"),
    ResourceType("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False,
                 "clusterrolebinding", model="V1ClusterRoleBinding"),
    ResourceType("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False,
                 "customresourcedefinition", ("crd", "crds"), ("status",), model="V1CustomResourceDefinition"),
    ResourceType("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", False,
                 "selfsubjectaccessreview", verbs=("create",), model="V1SelfSubjectAccessReview"),
)

CRD = next(r for r in BUILTINS if r.plural == "customresourcedefinitions")


def from_crd(crd: dict) -> list[ResourceType]:
    """The ResourceTypes one CustomResourceDefinition serves (one per served version)."""
    spec = crd.get("spec", {})
    names = spec.get("names", {})
    types = []
    for version in spec.get("versions", []):
        if not version.get("served", True):
            continue
        subresources = tuple(sorted((version.get("subresources") or {}).keys()))
        types.append(ResourceType(
            group=spec["group"], version=version["name"], plural=names["plural"], kind=names["kind"],
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            singular=names.get("singular", names["kind"].lower()),
            short_names=tuple(names.get("shortNames", ())), subresources=subresources,
            schema=(version.get("schema") or {}).get("openAPIV3Schema"),
            categories=tuple(names.get("categories", ())),
        ))
    return types


class Registry:
    """Built-in resource types plus those of the CRDs currently in the store."""

    def __init__(self, crds_provider):
        self._crds_provider = crds_provider  # () -> (revision, [crd dicts])
        self._cache_revision = None
        self._custom: tuple[ResourceType, ...] = ()

    def all(self) -> tuple[ResourceType, ...]:
        return BUILTINS + self._custom_types()

    def _custom_types(self) -> tuple[ResourceType, ...]:
        revision, crds = self._crds_provider()
        if revision != self._cache_revision:
            types = []
            for crd in crds:
                if crd.get("metadata", {}).get("deletionTimestamp"):
                    continue
                types.extend(from_crd(crd))
            self._custom, self._cache_revision = tuple(types), revision
        return self._custom

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        for rt in self.all():
            if rt.group == group and rt.version == version and rt.plural == plural:
                return rt
        return None

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        for rt in self.all():
            if rt.api_version == api_version and rt.kind == kind:
                return rt
        return None

    def by_key(self, key: str) -> ResourceType | None:
        """`pods`, `jobs.batch`, `mpijobs.kubeflow.org` (first served version)."""
        for rt in self.all():
            if rt.key == key:
                return rt
        return None

    def resolve(self, name: str) -> ResourceType:
        """A resource named like kubectl does: plural, singular, kind, short name or `plural.group`."""
        lowered = name.lower()
        for rt in self.all():
            if lowered in (rt.key, rt.plural, rt.singular, rt.kind.lower(), *rt.short_names):
                return rt
        raise KeyError(f"the server doesn't have a resource type {name!r}")

    # -- discovery ---------------------------------------------------------------------------

    def group_versions(self) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        for rt in self.all():
            if rt.group and rt.version not in groups.setdefault(rt.group, []):
                groups[rt.group].append(rt.version)
        return groups

    def api_group_list(self) -> dict:
        return {"kind": "APIGroupList", "apiVersion": "v1",
                "groups": [self.api_group(g) for g in self.group_versions()]}

    def api_group(self, group: str) -> dict | None:
        versions = self.group_versions().get(group)
        if not versions:
            return None
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": entries,
                "preferredVersion": entries[0]}

    def api_resource_list(self, group: str, version: str) -> dict | None:
        types = [rt for rt in self.all() if rt.group == group and rt.version == version]
        if not types:
            return None
        resources = []
        for rt in types:
            entry = {"name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced,
                     "kind": rt.kind, "verbs": list(rt.verbs)}
            if rt.short_names:
                entry["shortNames"] = list(rt.short_names)
            if rt.categories:
                entry["categories"] = list(rt.categories)
            resources.append(entry)
            for sub in rt.subresources:
                verbs = ["get"] if sub == "log" else ["get", "patch", "update"]
                resources.append({"name": f"{rt.plural}/{sub}", "singularName": "", "namespaced": rt.namespaced,
                                  "kind": "Scale" if sub == "scale" else rt.kind, "verbs": verbs})
        return {"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": f"{group}/{version}" if group else version, "resources": resources}
