"""Label and field selectors with the grammar and error messages of the real API server."""
from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ApiError

_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_SET = re.compile(rf"^\s*(?P<key>{_KEY})\s+(?P<op>in|notin)\s*\((?P<values>[^)]*)\)\s*$")
_EXISTS = re.compile(rf"^\s*(?P<neg>!?)\s*(?P<key>{_KEY})\s*$")
_CMP = re.compile(rf"^\s*(?P<key>{_KEY})\s*(?P<op>==|=|!=|>|<)\s*(?P<value>[^=!<>]*?)\s*$")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # exists, !, =, !=, in, notin, >, <
    values: tuple[str, ...] = ()

    def matches(self, labels: dict) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        if not present:
            return False
        try:
            number, bound = int(value), int(self.values[0])
        except ValueError:
            return False
        return number > bound if self.op == ">" else number < bound


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: dict | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def parse_label_selector(text: str | None) -> LabelSelector:
    if not text or not text.strip():
        return LabelSelector()
    requirements = []
    for part in _split_top_level(text):
        if not part.strip():
            raise ApiError.bad_request(f"unable to parse requirement: found '', expected: identifier in {text!r}")
        if m := _SET.match(part):
            values = tuple(v.strip() for v in m["values"].split(",") if v.strip())
            requirements.append(Requirement(m["key"], m["op"], values))
        elif m := _EXISTS.match(part):
            requirements.append(Requirement(m["key"], "!" if m["neg"] else "exists"))
        elif m := _CMP.match(part):
            op = "=" if m["op"] == "==" else m["op"]
            if op in (">", "<") and not m["value"].lstrip("-").isdigit():
                raise ApiError.bad_request(
                    "unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer")
            requirements.append(Requirement(m["key"], op, (m["value"],)))
        else:
            raise ApiError.bad_request(f"unable to parse requirement: {part.strip()!r} in selector {text!r}")
    return LabelSelector(tuple(requirements))


def selector_from_dict(selector: dict | None) -> LabelSelector:
    """A metav1.LabelSelector (matchLabels/matchExpressions) as a LabelSelector."""
    if not selector:
        return LabelSelector()
    requirements = [Requirement(k, "=", (str(v),)) for k, v in (selector.get("matchLabels") or {}).items()]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expr in selector.get("matchExpressions") or []:
        requirements.append(Requirement(expr["key"], ops[expr["operator"]], tuple(expr.get("values") or ())))
    return LabelSelector(tuple(requirements))


def format_label_selector(labels: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


# -- field selectors ---------------------------------------------------------------------------

COMMON_FIELDS = ("metadata.name", "metadata.namespace")
FIELDS_BY_KEY = {
    "pods": ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
             "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"),
    "events": ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
               "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
               "reason", "reportingComponent", "source", "type"),
    "namespaces": ("status.phase",),
    "nodes": ("spec.unschedulable",),
    "secrets": ("type",),
    "jobs.batch": ("status.successful",),
}
_FIELD_REQ = re.compile(r"^\s*(?P<field>[A-Za-z0-9_.]+)\s*(?P<op>==|=|!=)\s*(?P<value>.*?)\s*$")


@dataclass(frozen=True)
class FieldSelector:
    requirements: tuple[tuple[str, str, str], ...] = ()

    def matches(self, obj: dict) -> bool:
        for path, op, value in self.requirements:
            actual = field_value(obj, path)
            if (actual == value) != (op == "="):
                return False
        return True


def field_value(obj: dict, path: str) -> str:
    if path == "source":
        return (obj.get("source") or {}).get("component", "")
    node = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if node is None:
        return ""
    if isinstance(node, bool):
        return str(node).lower()
    return str(node)


def parse_field_selector(text: str | None, resource_key: str, custom: bool = False) -> FieldSelector:
    if not text or not text.strip():
        return FieldSelector()
    allowed = COMMON_FIELDS + FIELDS_BY_KEY.get(resource_key, ())
    requirements = []
    for part in text.split(","):
        m = _FIELD_REQ.match(part)
        if not m:
            raise ApiError.bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        if m["field"] not in allowed:
            if custom:
                raise ApiError.bad_request(
                    f'"{m["field"]}" is not a known field selector: only "metadata.name", "metadata.namespace"')
            raise ApiError.bad_request(f'field label not supported: {m["field"]}')
        requirements.append((m["field"], "!=" if m["op"] == "!=" else "=", m["value"]))
    return FieldSelector(tuple(requirements))
