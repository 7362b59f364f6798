"""API server semantics on top of the store: the verbs, metadata, admission, deletion and events.

The HTTP handler translates requests into these calls; the scripted
controllers use them too (as the real controllers use the API), so pods they
create from a bad template fail admission exactly like a client's would.
"""
from __future__ import annotations

import json
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

import yaml

from . import admission
from .errors import ApiError
from .patching import ManagedFields, json_patch, merge_patch, strategic_merge_patch
from .resources import CRD, Registry, ResourceType
from .selection import parse_field_selector, parse_label_selector
from .store import Store, clone

APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
JOB_ORPHAN_WARNING = ("child pods are preserved by default when jobs are deleted; set propagationPolicy=Background "
                      "to remove them or set propagationPolicy=Orphan to suppress this warning")
QUANTITY_KINDS = ("pods", "nodes", "jobs.batch", "deployments.apps", "persistentvolumeclaims")
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand alphanums


def random_suffix(n: int = 5) -> str:
    return "".join(random.choice(_NAME_CHARS) for _ in range(n))


def timestamp(t: float | None = None) -> str:
    return datetime.fromtimestamp(t if t is not None else time.time(), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_timestamp(t: float | None = None) -> str:
    return datetime.fromtimestamp(t if t is not None else time.time(), timezone.utc) \
        .strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Clock:
    """Simulated seconds (behaviours, back-offs, deadlines) times `scale` = real seconds."""

    def __init__(self, scale: float):
        self.scale = scale

    @staticmethod
    def now() -> float:
        return time.monotonic()

    def after(self, sim_seconds: float) -> float:
        return time.monotonic() + sim_seconds * self.scale


@dataclass
class Ctx:
    """Who writes and how: one per request (or per controller write)."""
    manager: str = "OpenAPI-Generator"
    dry_run: bool = False
    field_validation: str = "Warn"  # Ignore | Warn | Strict
    force: bool = False
    trusted: bool = False  # controller/kubelet status writes: no validation of immutable fields
    warnings: list[str] = field(default_factory=list)


class Api:
    def __init__(self, store: Store, clock: Clock, check_own_writes: bool = True):
        self.store, self.clock = store, clock
        self.registry = Registry(self._crds)
        self.check_own_writes = check_own_writes
        self.denied: list[dict] = []  # SelfSubjectAccessReview / authorization denials
        self._event_index: dict[tuple, tuple[str, str]] = {}
        self._ip_lock = threading.Lock()
        self._next_ip = 1

    def _crds(self):
        key = CRD.key
        return self.store.key_revision(key), self.store.items(key)

    def rt(self, key: str) -> ResourceType:
        rt = self.registry.by_key(key)
        if rt is None:
            raise ApiError.resource_not_found()
        return rt

    # -- reads ------------------------------------------------------------------------------------

    def get(self, rt: ResourceType, namespace: str, name: str) -> dict:
        obj = self.store.get(rt.key, namespace if rt.namespaced else "", name)
        if obj is None:
            raise ApiError.not_found(rt, name)
        return obj

    def list(self, rt: ResourceType, namespace: str | None, label_selector: str | None = None,
             field_selector: str | None = None, limit: int | None = None, continue_: str | None = None) -> dict:
        labels = parse_label_selector(label_selector)
        fields = parse_field_selector(field_selector, rt.key, rt.is_custom)
        with self.store.lock:
            revision = self.store.revision
            items = [o for o in self.store.items(rt.key, namespace if rt.namespaced else None)
                     if labels.matches(o["metadata"].get("labels")) and fields.matches(o)]
        start = int(continue_) if continue_ else 0
        page = items[start:start + limit] if limit else items[start:]
        meta = {"resourceVersion": str(revision)}
        if limit and start + limit < len(items):
            meta["continue"] = str(start + limit)
            meta["remainingItemCount"] = len(items) - start - limit
        out = [self.render(rt, o, in_list=True) for o in page]
        return {"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": meta, "items": out}

    @staticmethod
    def render(rt: ResourceType, obj: dict, in_list: bool = False) -> dict:
        """Built-in list items come without apiVersion/kind, like the real server's typed lists."""
        if in_list and not rt.is_custom:
            return {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
        return obj

    # -- create -----------------------------------------------------------------------------------

    def create(self, rt: ResourceType, namespace: str, body: dict, ctx: Ctx,
               managed: ManagedFields | None = None, take: bool = False) -> dict:
        """Create an object; take=True hands body over (no copies in or out: the result is read-only)."""
        if "create" not in rt.verbs:
            raise ApiError.method_not_allowed()
        if not isinstance(body, dict):
            raise ApiError.bad_request("the body of the request was in an unknown format")
        obj = body if take else clone(body)
        self._check_type_meta(rt, obj)
        if rt.plural == "selfsubjectaccessreviews":
            return self.review(obj)
        meta = obj.setdefault("metadata", {}) or {}
        obj["metadata"] = meta
        namespace = namespace if rt.namespaced else ""
        if rt.namespaced:
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise ApiError.bad_request("the namespace of the provided object does not match the namespace "
                                           "sent on the request")
            meta["namespace"] = namespace
            self._check_namespace(namespace)
        else:
            meta.pop("namespace", None)
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise ApiError.invalid(rt, "", [admission.required("metadata.name",
                                                                   "name or generateName is required")])
            meta["name"] = meta["generateName"] + random_suffix()
        for system in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp",
                       "deletionGracePeriodSeconds", "managedFields", "generation", "selfLink"):
            meta.pop(system, None)
        self._admit(rt, obj, None, ctx)
        now = timestamp()
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=now, generation=1)
        self._prepare_create(rt, obj, ctx)
        if managed is None:
            managed = ManagedFields(None)
            managed.record_update(None, obj, ctx.manager, "", rt.api_version, now)
        meta["managedFields"] = managed.to_list()
        if not meta["managedFields"]:
            del meta["managedFields"]
        with self.store.lock:
            if self.store.peek(rt.key, namespace, meta["name"]) is not None:
                raise ApiError.already_exists(rt, meta["name"])
            if ctx.dry_run:
                return obj
            stored = self.store.put(rt.key, obj)
            self._after_create(rt, stored)
            return stored if take else clone(stored)

    def _check_type_meta(self, rt: ResourceType, obj: dict) -> None:
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if api_version and api_version != rt.api_version:
            raise ApiError.bad_request(f"the API version in the data ({api_version}) does not match the expected "
                                       f"API version ({rt.api_version})")
        if kind and kind != rt.kind:
            raise ApiError.bad_request(f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})")
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind

    def _check_namespace(self, namespace: str) -> None:
        ns = self.store.peek("namespaces", "", namespace)
        ns_rt = self.registry.by_key("namespaces")
        if ns is None:
            raise ApiError.not_found(ns_rt, namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise ApiError(403, "Forbidden", f"unable to create new content in namespace {namespace} because it "
                                             f"is being terminated",
                           {"name": namespace, "kind": "namespaces",
                            "causes": [{"reason": "NamespaceTerminating",
                                        "message": f"namespace {namespace} is being terminated",
                                        "field": "metadata.namespace"}]})

    def _admit(self, rt: ResourceType, obj: dict, old: dict | None, ctx: Ctx) -> None:
        """Decode (prune unknown fields, type-check), default and validate, like the real server."""
        name = obj["metadata"].get("name", "")
        if rt.is_custom:
            unknown = admission.prune_from_schema(rt.schema, obj)
        else:
            if rt.key in QUANTITY_KINDS:
                admission.normalize_quantities(obj)
            unknown = admission.prune_unknown(obj, rt.model)
        if unknown and ctx.field_validation == "Strict":
            raise ApiError.bad_request("strict decoding error: " + ", ".join(f'unknown field "{u}"'
                                                                              for u in unknown))
        if ctx.field_validation != "Ignore":
            ctx.warnings += [f'unknown field "{u}"' for u in unknown]
        if rt.is_custom:
            admission.default_from_schema(rt.schema, obj)
            causes = admission.validate_against_schema(rt.schema, obj) if rt.schema else []
        else:
            admission.default_object(rt, obj, creating=old is None)
            causes = admission.validate_builtin(rt, obj, old if not ctx.trusted else None)
        if causes:
            raise ApiError.invalid(rt, name, causes)
        if not rt.is_custom and (not ctx.trusted or self.check_own_writes):
            admission.type_check(rt, obj)

    def _prepare_create(self, rt: ResourceType, obj: dict, ctx: Ctx) -> None:
        key, meta = rt.key, obj["metadata"]
        if rt.has_status and key not in ("pods", "namespaces", "nodes"):
            obj.pop("status", None)
        if key == "pods":
            account = obj["spec"].get("serviceAccountName", "default")
            if self.store.peek("serviceaccounts", meta["namespace"], account) is None:
                raise ApiError.forbidden(
                    f'pods "{meta["name"]}" is forbidden: error looking up service account '
                    f'{meta["namespace"]}/{account}: serviceaccount "{account}" not found',
                    rt, meta["name"])
        elif key == "services":
            spec = obj.setdefault("spec", {})
            if spec.get("clusterIP") != "None" and spec.get("type") != "ExternalName":
                spec.setdefault("clusterIP", self._allocate_ip("10.100"))
            if spec.get("clusterIP"):
                spec.setdefault("clusterIPs", [spec["clusterIP"]])
            obj.setdefault("status", {"loadBalancer": {}})
        elif key == CRD.key:
            names = obj["spec"]["names"]
            accepted = {k: v for k, v in names.items()}
            accepted.setdefault("singular", names["kind"].lower())
            accepted.setdefault("listKind", names["kind"] + "List")
            now = timestamp()
            obj["status"] = {"acceptedNames": accepted, "storedVersions": [v["name"] for v in obj["spec"]["versions"]
                                                                           if v.get("storage")],
                             "conditions": [
                                 {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                                  "message": "no conflicts found", "lastTransitionTime": now},
                                 {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                                  "message": "the initial names have been accepted", "lastTransitionTime": now}]}
        if key == "jobs.batch":
            self._default_job_selector(obj)

    def _default_job_selector(self, job: dict) -> None:
        """The Job selector and template labels the real server derives from the (future) uid."""
        uid, name = job["metadata"]["uid"], job["metadata"]["name"]
        spec = job.setdefault("spec", {})
        if not spec.get("manualSelector"):
            spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
            labels = spec.setdefault("template", {}).setdefault("metadata", {}).setdefault("labels", {})
            labels.update({"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
                           "controller-uid": uid, "job-name": name})

    def _allocate_ip(self, prefix: str) -> str:
        with self._ip_lock:
            n = self._next_ip
            self._next_ip += 1
        return f"{prefix}.{n // 250}.{n % 250 + 1}"

    def _after_create(self, rt: ResourceType, obj: dict) -> None:
        if rt.key == "namespaces":
            account = {"apiVersion": "v1", "kind": "ServiceAccount",
                       "metadata": {"name": "default", "namespace": obj["metadata"]["name"]}}
            self.create(self.rt("serviceaccounts"), obj["metadata"]["name"], account,
                        Ctx(manager="kube-controller-manager", trusted=True))

    # -- update / patch / apply -----------------------------------------------------------------

    def update(self, rt: ResourceType, namespace: str, name: str, body: dict, ctx: Ctx,
               subresource: str = "") -> dict:
        if not isinstance(body, dict):
            raise ApiError.bad_request("the body of the request was in an unknown format")
        new = clone(body)
        self._check_type_meta(rt, new)
        body_name = (new.get("metadata") or {}).get("name")
        if body_name and body_name != name:
            raise ApiError.bad_request(f"the name of the object ({body_name}) does not match the name on the URL "
                                       f"({name})")
        with self.store.lock:
            old = self.get(rt, namespace, name)
            expected = (new.get("metadata") or {}).get("resourceVersion")
            if expected and expected != old["metadata"]["resourceVersion"]:
                raise ApiError.conflict(rt, name, "the object has been modified; please apply your changes to "
                                                  "the latest version and try again")
            managed = ManagedFields(old["metadata"].get("managedFields"))
            return self._write(rt, old, new, ctx, subresource, managed, "Update")

    def patch(self, rt: ResourceType, namespace: str, name: str, raw: bytes, content_type: str, ctx: Ctx,
              subresource: str = "") -> tuple[dict, bool]:
        """Returns (object, created)."""
        content_type = (content_type or "").split(";")[0].strip()
        if content_type == APPLY:
            return self.apply(rt, namespace, name, raw, ctx, subresource)
        accepted = [JSON_PATCH, MERGE, APPLY] + ([] if rt.is_custom else [STRATEGIC])
        if content_type not in accepted:
            raise ApiError.unsupported_media_type(content_type, accepted)
        try:
            patch = json.loads(raw or b"null")
        except ValueError as e:
            raise ApiError.bad_request(f"error decoding patch: {e}") from None
        with self.store.lock:
            old = self.get(rt, namespace, name)
            if content_type == JSON_PATCH:
                new = json_patch(old, patch)
            elif content_type == MERGE:
                new = merge_patch(old, patch)
            else:
                new = strategic_merge_patch(old, patch)
            if not isinstance(new, dict):
                raise ApiError.bad_request("the patch did not produce an object")
            expected = (patch.get("metadata") or {}).get("resourceVersion") if isinstance(patch, dict) else None
            if expected and expected != old["metadata"]["resourceVersion"]:
                raise ApiError.conflict(rt, name, "the object has been modified; please apply your changes to "
                                                  "the latest version and try again")
            new.setdefault("metadata", {})["resourceVersion"] = old["metadata"]["resourceVersion"]
            managed = ManagedFields(old["metadata"].get("managedFields"))
            return self._write(rt, old, new, ctx, subresource, managed, "Update"), False

    def apply(self, rt: ResourceType, namespace: str, name: str, raw: bytes, ctx: Ctx,
              subresource: str = "") -> tuple[dict, bool]:
        try:  # JSON is YAML: the runner sends JSON, parsed at JSON speed; anything else as YAML (libyaml where present)
            config = json.loads(raw) if raw and raw.lstrip()[:1] == b"{" else None
        except ValueError:
            config = None
        try:
            if config is None:
                config = yaml.load(raw or b"", Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError as e:
            raise ApiError.bad_request(f"error decoding YAML: {e}") from None
        if not isinstance(config, dict):
            raise ApiError.bad_request("the body of the request was in an unknown format")
        if not config.get("apiVersion") or not config.get("kind"):
            raise ApiError.bad_request("apiVersion and kind must be set for apply requests")
        if ctx.manager in ("", None) or ctx.manager.startswith("<from-user-agent>"):
            raise ApiError.bad_request("PATCH request: fieldManager is required for apply requests")
        self._check_type_meta(rt, config)
        meta = config.get("metadata") or {}
        if meta.get("name") and meta["name"] != name:
            raise ApiError.bad_request(f"the name of the object ({meta['name']}) does not match the name on the "
                                       f"URL ({name})")
        with self.store.lock:
            live = self.store.get(rt.key, namespace if rt.namespaced else "", name)
            managed = ManagedFields(live["metadata"].get("managedFields") if live else None)
            now = timestamp()
            if subresource == "status":
                if live is None:
                    raise ApiError.not_found(rt, name)
                new = clone(live)
                new["status"] = merge_patch(live.get("status") or {}, config.get("status") or {})
                return self._write(rt, live, new, ctx, subresource, managed, "Update"), False
            merged = managed.apply(rt, name, live, config, ctx.manager, ctx.force, rt.api_version, now)
            if live is None:
                merged.setdefault("metadata", {})["name"] = name
                return self.create(rt, namespace, merged, ctx, managed=managed), True
            return self._write(rt, live, merged, ctx, subresource, managed, None), False

    def _write(self, rt: ResourceType, old: dict, new: dict, ctx: Ctx, subresource: str,
               managed: ManagedFields, operation: str | None) -> dict:
        """Common tail of update/patch/apply: keep system fields, admit, bump generation, store."""
        if subresource and subresource not in rt.subresources:
            raise ApiError.resource_not_found()
        meta = new.setdefault("metadata", {}) or {}
        new["metadata"] = meta
        for system in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                       "generation", "namespace", "name", "generateName"):
            if system in old["metadata"]:
                meta[system] = old["metadata"][system]
            else:
                meta.pop(system, None)
        new["apiVersion"], new["kind"] = rt.api_version, rt.kind
        if subresource == "status":
            new = dict(clone(old), status=new.get("status"))
            if new["status"] is None:
                del new["status"]
        elif rt.has_status:
            if "status" in old:
                new["status"] = clone(old["status"])
            else:
                new.pop("status", None)
        if subresource != "status":
            self._admit(rt, new, old, ctx)
        elif not rt.is_custom:
            if rt.key in QUANTITY_KINDS:
                admission.normalize_quantities(new)
            if not ctx.trusted or self.check_own_writes:
                admission.type_check(rt, new)
        if _spec_of(new) != _spec_of(old):
            meta["generation"] = old["metadata"].get("generation", 1) + 1
        now = timestamp()
        if operation == "Update":
            managed.record_update(old, new, ctx.manager, subresource, rt.api_version, now)
        meta["managedFields"] = managed.to_list()
        if not meta["managedFields"]:
            del meta["managedFields"]
        meta["resourceVersion"] = old["metadata"]["resourceVersion"]
        if _without_volatile(new) == _without_volatile(old):
            return old
        if ctx.dry_run:
            return new
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and rt.key not in ("pods", "namespaces"):
            self._remove(rt, new)
            return new
        return clone(self.store.put(rt.key, new))

    def mutate(self, rt: ResourceType, namespace: str, name: str, change, manager: str,
               subresource: str = "status") -> dict | None:
        """Read-modify-write for controllers: change(obj) edits a copy in place; None if the object is gone."""
        with self.store.lock:
            old = self.store.get(rt.key, namespace if rt.namespaced else "", name)
            if old is None:
                return None
            new = clone(old)
            change(new)
            managed = ManagedFields(old["metadata"].get("managedFields"))
            try:
                return self._write(rt, old, new, Ctx(manager=manager, trusted=True), subresource, managed,
                                   "Update")
            except ApiError:
                if self.check_own_writes:
                    raise
                return None

    # -- delete -----------------------------------------------------------------------------------

    def delete(self, rt: ResourceType, namespace: str, name: str, options: dict, ctx: Ctx) -> dict:
        with self.store.lock:
            obj = self.get(rt, namespace, name)
            self._check_preconditions(rt, obj, options)
            policy = self._propagation(rt, options, ctx)
            if ctx.dry_run:
                return obj
            return self._delete_one(rt, obj, policy, options)

    def _check_preconditions(self, rt, obj, options):
        pre = options.get("preconditions") or {}
        meta = obj["metadata"]
        if pre.get("uid") and pre["uid"] != meta["uid"]:
            raise ApiError.conflict(rt, meta["name"], f"Precondition failed: UID in precondition: {pre['uid']}, "
                                                      f"UID in object meta: {meta['uid']}")
        if pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
            raise ApiError.conflict(rt, meta["name"], "Precondition failed: ResourceVersion in precondition: "
                                                      f"{pre['resourceVersion']}, ResourceVersion in object meta: "
                                                      f"{meta['resourceVersion']}")

    def _propagation(self, rt: ResourceType, options: dict, ctx: Ctx) -> str:
        policy = options.get("propagationPolicy")
        if policy is None and options.get("orphanDependents") is not None:
            policy = "Orphan" if options["orphanDependents"] else "Background"
        if policy is None:
            if rt.key == "jobs.batch":  # batch/v1 keeps its historical default: orphan the pods
                ctx.warnings.append(JOB_ORPHAN_WARNING)
                return "Orphan"
            return "Background"
        if policy not in ("Orphan", "Background", "Foreground"):
            raise ApiError.bad_request(f'propagationPolicy: Unsupported value: "{policy}": supported values: '
                                       f'"Foreground", "Background", "Orphan"')
        return policy

    def _delete_one(self, rt: ResourceType, obj: dict, policy: str, options: dict) -> dict:
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            return obj
        if policy == "Orphan":
            self._orphan_dependents(meta["uid"])
        finalizers = list(meta.get("finalizers") or [])
        if policy == "Foreground":
            finalizers.append("foregroundDeletion")
        grace = self._grace_period(rt, obj, options)
        if rt.key == "namespaces":
            return self._mark_deleting(rt, obj, finalizers, 0, phase="Terminating")
        if finalizers or grace:
            return self._mark_deleting(rt, obj, finalizers, grace)
        gone = self._remove(rt, obj)
        if rt.key == "pods" or rt.is_custom:
            return gone
        details = {"name": meta["name"], "kind": rt.plural, "uid": meta["uid"]}
        if rt.group:
            details["group"] = rt.group
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}

    def _grace_period(self, rt: ResourceType, obj: dict, options: dict) -> int:
        if rt.key != "pods":
            return 0
        grace = options.get("gracePeriodSeconds")
        if grace is None:
            grace = obj.get("spec", {}).get("terminationGracePeriodSeconds", 30)
        unscheduled = not obj.get("spec", {}).get("nodeName")
        terminal = obj.get("status", {}).get("phase") in ("Succeeded", "Failed")
        return 0 if unscheduled or terminal else int(grace)

    def _mark_deleting(self, rt, obj, finalizers, grace, phase=None) -> dict:
        new = clone(obj)
        meta = new["metadata"]
        meta["deletionTimestamp"] = timestamp(time.time() + grace)
        meta["deletionGracePeriodSeconds"] = grace
        if finalizers:
            meta["finalizers"] = finalizers
        if phase:
            new.setdefault("status", {})["phase"] = phase
        return clone(self.store.put(rt.key, new))

    def _remove(self, rt: ResourceType, obj: dict) -> dict:
        meta = obj["metadata"]
        gone = self.store.remove(rt.key, meta.get("namespace", ""), meta["name"])
        if rt.key == CRD.key:
            for custom in _crd_types(obj):
                for item in self.store.items(custom):
                    self.store.remove(custom, item["metadata"].get("namespace", ""), item["metadata"]["name"])
        return gone or obj

    def remove_now(self, rt: ResourceType, namespace: str, name: str) -> None:
        """Finish a deletion (kubelet after termination, GC after dependents are gone)."""
        with self.store.lock:
            obj = self.store.peek(rt.key, namespace, name)
            if obj is not None:
                self._remove(rt, obj)

    def _orphan_dependents(self, owner_uid: str) -> None:
        for key, obj in self.store.all_items():
            refs = obj["metadata"].get("ownerReferences") or []
            if any(r.get("uid") == owner_uid for r in refs):
                new = clone(obj)
                new["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != owner_uid]
                if not new["metadata"]["ownerReferences"]:
                    del new["metadata"]["ownerReferences"]
                self.store.put(key, new)

    def delete_collection(self, rt: ResourceType, namespace: str | None, label_selector: str | None,
                          field_selector: str | None, options: dict, ctx: Ctx) -> dict:
        listing = self.list(rt, namespace, label_selector, field_selector)
        policy = self._propagation(rt, options, ctx)
        deleted = []
        with self.store.lock:
            for item in listing["items"]:
                meta = item["metadata"]
                obj = self.store.peek(rt.key, meta.get("namespace", ""), meta["name"])
                if obj is None:
                    continue
                if not ctx.dry_run:
                    self._delete_one(rt, clone(obj), policy, options)
                deleted.append(self.render(rt, obj, in_list=True))
        return {"kind": rt.list_kind, "apiVersion": rt.api_version,
                "metadata": {"resourceVersion": str(self.store.revision)}, "items": deleted}

    # -- authorization ----------------------------------------------------------------------------

    def deny(self, verb: str = "*", resource: str = "*", group: str = "*", namespace: str | None = None,
             subresource: str | None = None, name: str | None = None, enforce: bool = True) -> None:
        self.denied.append(dict(verb=verb, resource=resource, group=group, namespace=namespace,
                                subresource=subresource, name=name, enforce=enforce))

    def is_denied(self, verb, group, resource, subresource, namespace, name, enforced_only=False) -> bool:
        for rule in self.denied:
            if enforced_only and not rule["enforce"]:
                continue
            if rule["verb"] not in ("*", verb) or rule["resource"] not in ("*", resource):
                continue
            if rule["group"] not in ("*", group or ""):
                continue
            if rule["namespace"] not in (None, namespace) or rule["name"] not in (None, name):
                continue
            if rule["subresource"] not in (None, subresource or ""):
                continue
            return True
        return False

    def review(self, review: dict) -> dict:
        attrs = (review.get("spec") or {}).get("resourceAttributes") or {}
        denied = self.is_denied(attrs.get("verb", ""), attrs.get("group", ""), attrs.get("resource", ""),
                                attrs.get("subresource", ""), attrs.get("namespace"), attrs.get("name"))
        review = clone(review)
        review.setdefault("metadata", {}).update(creationTimestamp=None)
        review["status"] = {"allowed": not denied}
        if denied:
            review["status"]["denied"] = True
            review["status"]["reason"] = "denied by the fake API server's script"
        else:
            review["status"]["reason"] = 'RBAC: allowed by ClusterRoleBinding "fake-admin" of ClusterRole ' \
                                         '"cluster-admin" to User "fake-user"'
        return review

    # -- events -----------------------------------------------------------------------------------

    def record_event(self, involved: dict, type_: str, reason: str, message: str, component: str,
                     host: str | None = None, field_path: str | None = None) -> None:
        """A core/v1 Event about `involved`; repeats of the same reason+message bump count."""
        meta = involved["metadata"]
        namespace = meta.get("namespace") or "default"
        if self.store.peek("namespaces", "", namespace) is None:
            return
        key = (meta.get("uid"), reason, message)
        now = timestamp()
        events = self.rt("events")
        with self.store.lock:
            existing = self._event_index.get(key)
            if existing and self.store.peek("events", *existing) is not None:
                def bump(event):
                    event["count"] = event.get("count", 1) + 1
                    event["lastTimestamp"] = now
                self.mutate(events, existing[0], existing[1], bump, component, subresource="")
                return
            reference = {"kind": involved.get("kind"), "namespace": meta.get("namespace"), "name": meta["name"],
                         "uid": meta.get("uid"), "apiVersion": involved.get("apiVersion"),
                         "resourceVersion": meta.get("resourceVersion")}
            if field_path:
                reference["fieldPath"] = field_path
            source = {"component": component}
            if host:
                source["host"] = host
            name = f"{meta['name']}.{time.time_ns():x}"
            event = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": namespace},
                     "involvedObject": {k: v for k, v in reference.items() if v is not None},
                     "reason": reason, "message": message, "source": source, "firstTimestamp": now,
                     "lastTimestamp": now, "count": 1, "type": type_, "eventTime": None,
                     "reportingComponent": component, "reportingInstance": host or ""}
            try:
                self.create(events, namespace, event, Ctx(manager=component, trusted=True), take=True)
            except ApiError:  # e.g. the namespace is terminating: the real recorders drop the event too
                return
            self._event_index[key] = (namespace, name)


def _spec_of(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _without_volatile(obj: dict) -> dict:
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k not in ("managedFields", "resourceVersion")}
    return dict(obj, metadata=meta)


def _crd_types(crd: dict) -> list[str]:
    spec = crd.get("spec", {})
    return [f"{spec['names']['plural']}.{spec['group']}"]
