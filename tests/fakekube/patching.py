"""Patches and server-side apply.

* JSON merge patch (RFC 7386), strategic merge patch (lists merged by their
  Kubernetes merge keys; built-in types only, like the real server), JSON patch
  (RFC 6902).
* Server-side apply with field ownership: each manager owns a set of leaf
  paths (lists are atomic leaves), recorded in metadata.managedFields in the
  real FieldsV1 format. Applying a value that another manager owns with a
  different value is a 409 conflict unless force=true; fields a manager applied
  before and omits now are removed unless someone else also owns them.
"""
from __future__ import annotations

from .errors import ApiError
from .store import clone

Path = tuple[str, ...]

_SYSTEM_METADATA = {"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
                    "managedFields", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "generateName"}


# -- JSON merge patch / strategic merge patch ---------------------------------------------------

def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return clone(patch)
    result = clone(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "env": "name",
    "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath", "imagePullSecrets": "name",
    "conditions": "type", "ownerReferences": "uid", "hostAliases": "ip", "topologySpreadConstraints": "topologyKey",
}
SET_LISTS = {"finalizers"}


def strategic_merge_patch(target, patch, key: str | None = None):
    if isinstance(patch, dict):
        if patch.get("$patch") == "replace":
            return {k: clone(v) for k, v in patch.items() if k != "$patch"}
        result = clone(target) if isinstance(target, dict) else {}
        for k, value in patch.items():
            if k.startswith("$"):
                continue
            if value is None:
                result.pop(k, None)
            else:
                result[k] = strategic_merge_patch(result.get(k), value, k)
        return result
    if isinstance(patch, list) and isinstance(target, list):
        if key in SET_LISTS:
            return target + [v for v in patch if v not in target]
        merge_key = MERGE_KEYS.get(key) or ("containerPort" if key == "ports" and _has(patch, "containerPort")
                                            else "port" if key == "ports" else None)
        if merge_key and all(isinstance(i, dict) and merge_key in i for i in patch):
            result = clone(target)
            for item in patch:
                index = next((n for n, t in enumerate(result) if isinstance(t, dict)
                              and t.get(merge_key) == item[merge_key]), None)
                if item.get("$patch") == "delete":
                    if index is not None:
                        result.pop(index)
                elif index is None:
                    result.append(clone(item))
                else:
                    result[index] = strategic_merge_patch(result[index], item)
            return result
    return clone(patch)


def _has(items, key):
    return any(isinstance(i, dict) and key in i for i in items)


# -- JSON patch -----------------------------------------------------------------------------------

def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise ApiError.bad_request(f"invalid JSON pointer: {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc, parts):
    node = doc
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def json_patch(target, operations):
    if not isinstance(operations, list):
        raise ApiError.bad_request("json patch must be a list of operations")
    doc = clone(target)
    for op in operations:
        try:
            kind, parts = op["op"], _pointer(op["path"])
            if kind == "test":
                node = doc
                for part in parts:
                    node = node[int(part)] if isinstance(node, list) else node[part]
                if node != op.get("value"):
                    raise ApiError(422, "Invalid", f"testing value {op['path']} failed")
                continue
            if kind in ("move", "copy"):
                source = _pointer(op["from"])
                node = _parent(doc, source)
                last = source[-1]
                value = node[int(last)] if isinstance(node, list) else node[last]
                if kind == "move":
                    del node[int(last) if isinstance(node, list) else last]
                kind, op = "add", {"value": clone(value)}
            parent, last = _parent(doc, parts), parts[-1]
            if isinstance(parent, list):
                index = len(parent) if last == "-" else int(last)
                if kind == "add":
                    parent.insert(index, clone(op["value"]))
                elif kind == "remove":
                    parent.pop(index)
                elif kind == "replace":
                    parent[index] = clone(op["value"])
            else:
                if kind in ("remove", "replace") and last not in parent:
                    raise ApiError(422, "Invalid",
                                   f"the server rejected our request due to an error in our request: "
                                   f"{kind} operation does not apply: doc is missing path: {op['path']}")
                if kind == "remove":
                    del parent[last]
                else:
                    parent[last] = clone(op["value"])
        except (KeyError, IndexError, ValueError, TypeError) as e:
            if isinstance(e, ApiError):
                raise
            raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: {e}")
    return doc


# -- field ownership --------------------------------------------------------------------------------

def owned_paths(obj: dict, subresource: str = "") -> set[Path]:
    """Leaf paths a write of obj sets: lists and scalars are leaves; system metadata is not owned."""
    if subresource == "status":
        return _leaves({"status": obj.get("status")}) if obj.get("status") is not None else set()
    view = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "status")}
    if "metadata" in view:
        view["metadata"] = {k: v for k, v in (view["metadata"] or {}).items() if k not in _SYSTEM_METADATA}
        if not view["metadata"]:
            del view["metadata"]
    return _leaves(view)


def _leaves(node, prefix: Path = ()) -> set[Path]:
    if isinstance(node, dict):  # an empty map owns nothing
        paths = set()
        for key, value in node.items():
            paths |= _leaves(value, prefix + (key,))
        return paths
    return {prefix} if prefix else set()


_MISSING = object()


def value_at(obj, path: Path):
    node = obj
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def remove_path(obj: dict, path: Path) -> None:
    parents = []
    node = obj
    for part in path[:-1]:
        if not isinstance(node, dict) or part not in node:
            return
        parents.append((node, part))
        node = node[part]
    if isinstance(node, dict):
        node.pop(path[-1], None)
    for parent, part in reversed(parents):  # drop dicts emptied by the removal
        if parent[part] == {}:
            del parent[part]
        else:
            break


def to_fields_v1(paths: set[Path]) -> dict:
    tree: dict = {}
    for path in sorted(paths):
        node = tree
        for part in path:
            node = node.setdefault(f"f:{part}", {})
    return tree


def from_fields_v1(tree: dict, prefix: Path = ()) -> set[Path]:
    paths = set()
    for key, child in (tree or {}).items():
        if not key.startswith("f:"):
            continue
        path = prefix + (key[2:],)
        paths |= from_fields_v1(child, path) if child else {path}
    return paths


def _related(a: Path, b: Path) -> bool:
    shorter = min(len(a), len(b))
    return a[:shorter] == b[:shorter]


class ManagedFields:
    """metadata.managedFields as {(manager, operation, subresource): (apiVersion, time, paths)}."""

    def __init__(self, entries: list[dict] | None):
        self.entries: dict[tuple[str, str, str], list] = {}
        for e in entries or []:
            key = (e.get("manager", ""), e.get("operation", "Update"), e.get("subresource", ""))
            self.entries[key] = [e.get("apiVersion", ""), e.get("time", ""), from_fields_v1(e.get("fieldsV1"))]

    def to_list(self) -> list[dict]:
        out = []
        for (manager, operation, subresource), (api_version, time, paths) in self.entries.items():
            if not paths:
                continue
            entry = {"manager": manager, "operation": operation, "apiVersion": api_version, "time": time,
                     "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(paths)}
            if subresource:
                entry["subresource"] = subresource
            out.append(entry)
        return out

    def record_update(self, old: dict | None, new: dict, manager: str, subresource: str,
                      api_version: str, now: str) -> None:
        """An Update operation takes ownership of every leaf it changed."""
        new_paths = owned_paths(new, subresource)
        changed = {p for p in new_paths if old is None or value_at(old, p) != value_at(new, p)}
        self._drop_vanished(new)
        if not changed:
            return
        for key, entry in self.entries.items():
            if key[2] == subresource:
                entry[2] -= changed
        entry = self.entries.setdefault((manager, "Update", subresource), [api_version, now, set()])
        entry[0], entry[1] = api_version, now
        entry[2] |= changed

    def _drop_vanished(self, obj: dict) -> None:
        for entry in self.entries.values():
            entry[2] = {p for p in entry[2] if value_at(obj, p) is not _MISSING}

    def apply(self, rt, name: str, live: dict | None, config: dict, manager: str, force: bool,
              api_version: str, now: str) -> dict:
        """Server-side apply of config over live; returns the merged object."""
        live = clone(live) if live else {}
        config_paths = owned_paths(config)
        conflicts, taken = [], []
        for (other, operation, subresource), entry in self.entries.items():
            if subresource or (other == manager and operation == "Apply"):
                continue
            for owned in entry[2]:
                for path in config_paths:
                    if not _related(owned, path):
                        continue
                    shorter = owned if len(owned) <= len(path) else path
                    if value_at(live, shorter) != value_at(config, shorter):
                        conflicts.append((other, "." + ".".join(shorter)))
                        taken.append(((other, operation, subresource), owned))
        if conflicts and not force:
            raise ApiError.apply_conflict(rt, name, sorted(set(conflicts)))
        for key, owned in taken:
            self.entries[key][2].discard(owned)
        previous = self.entries.get((manager, "Apply", ""), [None, None, set()])[2]
        kept_by_others = set().union(*(e[2] for k, e in self.entries.items()
                                       if k != (manager, "Apply", "") and not k[2]), set())
        for path in previous - config_paths:
            if not any(_related(path, other) for other in kept_by_others):
                remove_path(live, path)
        merged = merge_patch(live, _strip_system(config))
        self.entries[(manager, "Apply", "")] = [api_version, now, config_paths]
        return merged


def _strip_system(config: dict) -> dict:
    out = {k: v for k, v in config.items() if k != "status"}
    if isinstance(out.get("metadata"), dict):
        out["metadata"] = {k: v for k, v in out["metadata"].items()
                           if k not in _SYSTEM_METADATA or k in ("name", "namespace")}
    return out
