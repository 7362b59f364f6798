"""What the real API server does to an object before storing it: decode, default, validate.

* decode: unknown fields are dropped with a warning (fieldValidation=Warn, the
  server default) or rejected with 400 (Strict); built-in objects are then
  type-checked with the python client's own models, so a value the Go decoder
  would refuse (an int env value, a string port) is a 400 here too.
* default: the defaults the real server fills (pod restartPolicy, Job selector
  and labels, Service clusterIP, CRD schema defaults, ...).
* validate: the rules runners trip over (names, labels, restartPolicy of Job
  and Deployment templates, extended resources and hugepages, volume mounts,
  ConfigMap size, immutable Job templates, CRD openAPIV3Schema) as 422 Invalid.
"""
from __future__ import annotations

import base64
import re
from decimal import Decimal
from functools import lru_cache

import jsonschema
from kubernetes.client import models

from .errors import (
    ApiError,
    field_error,
    forbidden,
    invalid_value,
    required,
    too_long,
    unsupported,
)
from .selection import selector_from_dict
from .store import clone

# -- names and labels ------------------------------------------------------------------------------

_LABEL_1123 = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL = re.compile(rf"^{_LABEL_1123}$")
DNS1123_SUBDOMAIN = re.compile(rf"^{_LABEL_1123}(\.{_LABEL_1123})*$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

MSG_SUBDOMAIN = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                 "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                 "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
MSG_LABEL_1123 = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
                  "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
                  "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
MSG_1035 = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
            "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
            "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")
MSG_QUALIFIED = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
                 "an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
                 "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
MSG_LABEL_VALUE = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                   "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
                   "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")


def check_name(name: str, kind: str = "subdomain") -> str | None:
    """The message for an invalid object name, or None."""
    if kind == "1035":
        if len(name) > 63:
            return "must be no more than 63 characters"
        return None if DNS1035_LABEL.match(name) else MSG_1035
    if kind == "label":
        if len(name) > 63:
            return "must be no more than 63 characters"
        return None if DNS1123_LABEL.match(name) else MSG_LABEL_1123
    if len(name) > 253:
        return "must be no more than 253 characters"
    return None if DNS1123_SUBDOMAIN.match(name) else MSG_SUBDOMAIN


def check_qualified_name(key: str) -> str | None:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix)):
        return "prefix part " + MSG_SUBDOMAIN
    if not name:
        return "name part must be non-empty"
    if len(name) > 63:
        return "name part must be no more than 63 characters"
    return None if QUALIFIED_NAME.match(name) else MSG_QUALIFIED


def validate_metadata(meta: dict, name_kind: str, path: str = "metadata") -> list[dict]:
    errors = []
    name = meta.get("name")
    if name:
        if problem := check_name(name, name_kind):
            errors.append(invalid_value(f"{path}.name", name, problem))
    for key, value in (meta.get("labels") or {}).items():
        if problem := check_qualified_name(key):
            errors.append(invalid_value(f"{path}.labels", key, problem))
        if not isinstance(value, str):
            continue
        if len(value) > 63:
            errors.append(invalid_value(f"{path}.labels", value, "must be no more than 63 characters"))
        elif not LABEL_VALUE.match(value):
            errors.append(invalid_value(f"{path}.labels", value, MSG_LABEL_VALUE))
    for key in meta.get("annotations") or {}:
        if problem := check_qualified_name(key):
            errors.append(invalid_value(f"{path}.annotations", key, problem))
    size = sum(len(k) + len(str(v)) for k, v in (meta.get("annotations") or {}).items())
    if size > 256 * 1024:
        errors.append(too_long(f"{path}.annotations", 256 * 1024))
    return errors


# -- quantities --------------------------------------------------------------------------------------

_SUFFIXES = {"": 1, "m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15,
             "E": 10**18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")


def parse_quantity(value) -> Decimal:
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    m = _QUANTITY.match(str(value).strip())
    if not m:
        raise ValueError("quantities must match the regular expression "
                         "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
    return Decimal(m.group(1)) * Decimal(_SUFFIXES[m.group(2) or ""])


def format_quantity(value) -> str:
    """How the server prints a number it was sent as a quantity: 8 -> "8", 0.5 -> "500m"."""
    number = Decimal(str(value))
    if number == number.to_integral_value():
        return str(int(number))
    return f"{int(number * 1000)}m"


_QUANTITY_MAPS = {"limits", "requests", "capacity", "allocatable", "overhead", "hard", "used"}


def normalize_quantities(node) -> None:
    """Numbers sent where the Go type is resource.Quantity come back as strings."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _QUANTITY_MAPS and isinstance(value, dict):
                for name, q in value.items():
                    if isinstance(q, (int, float)) and not isinstance(q, bool):
                        value[name] = format_quantity(q)
            elif key in ("sizeLimit", "storage") and isinstance(value, (int, float)) and not isinstance(value, bool):
                node[key] = format_quantity(value)
            else:
                normalize_quantities(value)
    elif isinstance(node, list):
        for item in node:
            normalize_quantities(item)


def is_extended_resource(name: str) -> bool:
    return name.startswith("hugepages-") or ("/" in name and not name.startswith("kubernetes.io/")
                                             and not name.endswith(".kubernetes.io"))


# -- decoding: unknown fields and types of built-ins ---------------------------------------------------

_LIST = re.compile(r"^(?:List|list)\[(.+)\]$")  # kubernetes>=34 and older swagger-generated clients
_DICT = re.compile(r"^(?:Dict\[str, (.+)\]|dict\(str, (.+)\))$")


@lru_cache(maxsize=None)
def _model_fields(model_name: str) -> dict[str, str]:
    """json key -> openapi type of a python-client model."""
    model = getattr(models, model_name)
    return {model.attribute_map[attr]: typ for attr, typ in model.openapi_types.items()}


def prune_unknown(node, model_name: str, path: str = "") -> list[str]:
    """Drop fields the model does not know (like the Go decoder); return their paths."""
    if not isinstance(node, dict) or not hasattr(models, model_name):
        return []
    fields = _model_fields(model_name)
    unknown = []
    for key in list(node):
        here = f"{path}.{key}" if path else key
        if key not in fields:
            unknown.append(here)
            del node[key]
            continue
        unknown += _prune_typed(node[key], fields[key], here)
    return unknown


def _prune_typed(value, typ: str, path: str) -> list[str]:
    if m := _LIST.match(typ):
        out = []
        for i, item in enumerate(value if isinstance(value, list) else []):
            out += _prune_typed(item, m.group(1), f"{path}[{i}]")
        return out
    if m := _DICT.match(typ):
        out = []
        for k, item in (value.items() if isinstance(value, dict) else []):
            out += _prune_typed(item, m.group(1) or m.group(2), f"{path}[{k}]")
        return out
    if typ.startswith(("V1", "V2", "CoreV1", "EventsV1", "StorageV1", "RbacV1")) and hasattr(models, typ):
        return prune_unknown(value, typ, path)
    return []


def type_check(rt, obj: dict) -> None:
    """400 when the object would not decode into its Go type (checked with the client model)."""
    model = getattr(models, rt.model)
    if not hasattr(model, "from_dict"):  # clients before 34 have no validating models
        return
    try:
        model.from_dict(obj)
    except Exception as e:  # pydantic.ValidationError
        first = getattr(e, "errors", lambda: [])()
        if first:
            loc = ".".join(str(p) for p in first[0].get("loc", ()))
            detail = f"{loc}: {first[0].get('msg')}"
        else:
            detail = str(e).splitlines()[0]
        raise ApiError.bad_request(
            f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: {detail}') from None


# -- defaults ---------------------------------------------------------------------------------------------

def image_pull_policy(image: str) -> str:
    name = image.rsplit("/", 1)[-1]
    if "@" in name:
        return "IfNotPresent"
    tag = name.split(":", 1)[1] if ":" in name else "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def default_pod_spec(spec: dict, template: bool = False) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    for kind in ("initContainers", "containers"):
        for c in spec.get(kind) or []:
            c.setdefault("terminationMessagePath", "/dev/termination-log")
            c.setdefault("terminationMessagePolicy", "File")
            if isinstance(c.get("image"), str):
                c.setdefault("imagePullPolicy", image_pull_policy(c["image"]))
            resources = c.setdefault("resources", {})
            if isinstance(resources, dict) and resources.get("limits"):
                requests = resources.setdefault("requests", {})
                for name, q in resources["limits"].items():
                    requests.setdefault(name, q)
            for port in c.get("ports") or []:
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")
    if not template:
        spec.setdefault("serviceAccountName", spec.get("serviceAccount", "default"))
        spec.setdefault("serviceAccount", spec["serviceAccountName"])
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("priority", 0)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
        tolerations = spec.setdefault("tolerations", [])
        for taint in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
            if not any(t.get("key") == taint for t in tolerations if isinstance(t, dict)):
                tolerations.append({"key": taint, "operator": "Exists", "effect": "NoExecute",
                                    "tolerationSeconds": 300})


def qos_class(spec: dict) -> str:
    containers = spec.get("containers") or []
    any_set, guaranteed = False, True
    for c in containers:
        res = c.get("resources") or {}
        limits, requests = res.get("limits") or {}, res.get("requests") or {}
        if limits or requests:
            any_set = True
        for name in ("cpu", "memory"):
            if name not in limits or requests.get(name, limits[name]) != limits[name]:
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def default_object(rt, obj: dict, creating: bool) -> None:
    """Built-in defaults for a create (and the few that also apply on update)."""
    key, spec = rt.key, obj.get("spec")
    if key == "pods" and isinstance(spec, dict):
        default_pod_spec(spec)
        if creating:
            obj["status"] = {"phase": "Pending", "qosClass": qos_class(spec)}
    elif key in ("jobs.batch", "deployments.apps") and isinstance(spec, dict):
        template = spec.setdefault("template", {})
        if isinstance(template.get("spec"), dict):
            default_pod_spec(template["spec"], template=True)
        if key == "jobs.batch":
            for name, value in (("backoffLimit", 6), ("completions", 1), ("parallelism", 1),
                                ("completionMode", "NonIndexed"), ("suspend", False),
                                ("podReplacementPolicy", "TerminatingOrFailed"), ("manualSelector", None)):
                if value is not None:
                    spec.setdefault(name, value)
        else:
            spec.setdefault("replicas", 1)
            spec.setdefault("revisionHistoryLimit", 10)
            spec.setdefault("progressDeadlineSeconds", 600)
            spec.setdefault("strategy", {"type": "RollingUpdate",
                                         "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    elif key == "services" and isinstance(spec, dict):
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
        for port in spec.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
                port.setdefault("targetPort", port.get("port"))
    elif key == "namespaces":
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj.setdefault("metadata", {}).setdefault("labels", {})["kubernetes.io/metadata.name"] = \
            obj["metadata"].get("name", "")
        if creating:
            obj["status"] = {"phase": "Active"}
    elif key == "secrets":
        obj.setdefault("type", "Opaque")
        string_data = obj.pop("stringData", None) or {}
        data = obj.setdefault("data", {})
        for k, v in string_data.items():
            data[k] = base64.b64encode(str(v).encode()).decode()


def default_from_schema(schema: dict | None, node) -> None:
    """CRD structural defaults: fill `default` of absent properties of present objects."""
    if not schema or not isinstance(node, dict):
        if schema and isinstance(node, list) and isinstance(schema.get("items"), dict):
            for item in node:
                default_from_schema(schema["items"], item)
        return
    props = schema.get("properties") or {}
    for key, sub in props.items():
        if key not in node and "default" in sub:
            node[key] = clone(sub["default"])
        if key in node:
            default_from_schema(sub, node[key])
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key, value in node.items():
            if key not in props:
                default_from_schema(extra, value)


def prune_from_schema(schema: dict | None, node, path: str = "") -> list[str]:
    """CRD structural pruning: drop fields the schema does not declare; return their paths."""
    if not schema or schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    if isinstance(node, list) and isinstance(schema.get("items"), dict):
        out = []
        for i, item in enumerate(node):
            out += prune_from_schema(schema["items"], item, f"{path}[{i}]")
        return out
    if not isinstance(node, dict):
        return []
    props = schema.get("properties")
    extra = schema.get("additionalProperties")
    if props is None and extra is None:
        return []
    unknown = []
    for key in list(node):
        here = f"{path}.{key}" if path else key
        if props is not None and key in props:
            if not (path == "" and key == "metadata"):
                unknown += prune_from_schema(props[key], node[key], here)
        elif isinstance(extra, dict):
            unknown += prune_from_schema(extra, node[key], here)
        elif extra is True:
            continue
        else:
            unknown.append(here)
            del node[key]
    return unknown


_VALIDATORS: dict[int, tuple[dict, jsonschema.Draft7Validator]] = {}


def _validator(schema: dict) -> jsonschema.Draft7Validator:
    hit = _VALIDATORS.get(id(schema))
    if hit is None or hit[0] is not schema:
        hit = _VALIDATORS[id(schema)] = (schema, jsonschema.Draft7Validator(schema))
    return hit[1]


def validate_against_schema(schema: dict, obj: dict) -> list[dict]:
    validator = _validator(schema)
    causes = []
    for error in sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path)):
        path = _dotted(error.absolute_path)
        value = error.instance
        if error.validator == "type":
            shown = type(value).__name__.replace("str", "string").replace("int", "integer") \
                .replace("dict", "object").replace("list", "array").replace("NoneType", "null")
            causes.append(field_error(path, "FieldValueTypeInvalid",
                                      f'Invalid value: "{shown}": {path} in body must be of type '
                                      f'{error.validator_value}: "{shown}"'))
        elif error.validator == "required":
            missing = re.search(r"'(.+?)' is a required property", error.message)
            field = f"{path}.{missing.group(1)}" if path and missing else (missing.group(1) if missing else path)
            causes.append(required(field))
        elif error.validator == "enum":
            causes.append(unsupported(path, value, [str(v) for v in error.validator_value]))
        else:
            causes.append(invalid_value(path, value if isinstance(value, (str, int, float)) else "object",
                                        error.message))
    return causes


def _dotted(parts) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# -- validation of built-ins --------------------------------------------------------------------------------

def validate_pod_spec(spec, path: str, template_of: str | None = None) -> list[dict]:
    if not isinstance(spec, dict):
        return [required(path)]
    errors = []
    containers = spec.get("containers")
    if not containers:
        errors.append(required(f"{path}.containers"))
    volumes = {v.get("name") for v in spec.get("volumes") or [] if isinstance(v, dict)}
    names = set()
    for kind in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(kind) or []):
            cpath = f"{path}.{kind}[{i}]"
            if not isinstance(c, dict):
                continue
            name = c.get("name")
            if not name:
                errors.append(required(f"{cpath}.name"))
            elif problem := check_name(name, "label"):
                errors.append(invalid_value(f"{cpath}.name", name, problem))
            elif name in names:
                errors.append(field_error(f"{cpath}.name", "FieldValueDuplicate", f'Duplicate value: "{name}"'))
            names.add(name)
            if not c.get("image"):
                errors.append(required(f"{cpath}.image"))
            for j, mount in enumerate(c.get("volumeMounts") or []):
                if isinstance(mount, dict) and mount.get("name") not in volumes:
                    errors.append(field_error(f"{cpath}.volumeMounts[{j}].name", "FieldValueNotFound",
                                              f'Not found: "{mount.get("name")}"'))
            for j, port in enumerate(c.get("ports") or []):
                number = port.get("containerPort") if isinstance(port, dict) else None
                if isinstance(number, int) and not 0 < number < 65536:
                    errors.append(invalid_value(f"{cpath}.ports[{j}].containerPort", number,
                                                "must be between 1 and 65535, inclusive"))
            errors += _validate_resources(c.get("resources") or {}, f"{cpath}.resources")
    policy = spec.get("restartPolicy", "Always")
    if template_of == "Job" and policy not in ("OnFailure", "Never"):
        errors.append(unsupported(f"{path}.restartPolicy", policy, ["OnFailure", "Never"]))
    elif template_of == "Deployment" and policy != "Always":
        errors.append(unsupported(f"{path}.restartPolicy", policy, ["Always"]))
    elif policy not in ("Always", "OnFailure", "Never"):
        errors.append(unsupported(f"{path}.restartPolicy", policy, ["Always", "OnFailure", "Never"]))
    return errors


def _validate_resources(res: dict, path: str) -> list[dict]:
    if not isinstance(res, dict):
        return []
    errors = []
    limits, requests = res.get("limits") or {}, res.get("requests") or {}
    parsed = {}
    for which, values in (("limits", limits), ("requests", requests)):
        for name, q in values.items():
            try:
                parsed[(which, name)] = parse_quantity(q)
            except (ValueError, ArithmeticError) as e:
                errors.append(invalid_value(f"{path}.{which}[{name}]", q, str(e)))
    for name, q in requests.items():
        req, lim = parsed.get(("requests", name)), parsed.get(("limits", name))
        if req is None:
            continue
        if is_extended_resource(name):
            if lim is None:
                errors.append(required(f"{path}.limits",
                                       "Limit must be set for non overcommitable resources"))
            elif req != lim:
                errors.append(invalid_value(f"{path}.requests[{name}]", str(q),
                                            f"must be equal to {name} limit of {limits[name]}"))
        elif lim is not None and req > lim:
            errors.append(invalid_value(f"{path}.requests", str(q),
                                        f"must be less than or equal to {name} limit of {limits[name]}"))
    uses_hugepages = any(n.startswith("hugepages-") for n in list(limits) + list(requests))
    if uses_hugepages and not any(n in requests or n in limits for n in ("cpu", "memory")):
        errors.append(forbidden(path, "HugePages require cpu or memory"))
    return errors


def validate_builtin(rt, obj: dict, old: dict | None) -> list[dict]:
    key = rt.key
    meta = obj.get("metadata") or {}
    name_kind = {"namespaces": "label", "services": "1035"}.get(key, "subdomain")
    errors = validate_metadata(meta, name_kind)
    spec = obj.get("spec")
    if key == "pods":
        errors += validate_pod_spec(spec, "spec")
        if old is not None:
            errors += _pod_update_errors(old.get("spec") or {}, spec or {})
    elif key == "jobs.batch":
        template = (spec or {}).get("template") or {}
        errors += validate_metadata(template.get("metadata") or {}, "subdomain", "spec.template.metadata")
        errors += validate_pod_spec(template.get("spec"), "spec.template.spec", "Job")
        if old is not None:
            old_spec = old.get("spec") or {}
            for field in ("template", "selector", "completionMode"):
                if (spec or {}).get(field) != old_spec.get(field):
                    errors.append(invalid_value(f"spec.{field}", "...", "field is immutable"))
    elif key == "deployments.apps":
        spec = spec or {}
        template = spec.get("template") or {}
        selector = spec.get("selector")
        if not selector:
            errors.append(required("spec.selector"))
        elif not selector_from_dict(selector).matches((template.get("metadata") or {}).get("labels")):
            labels = (template.get("metadata") or {}).get("labels") or {}
            errors.append(invalid_value("spec.template.metadata.labels", f"map[string]string{labels}",
                                        "`selector` does not match template `labels`"))
        errors += validate_metadata(template.get("metadata") or {}, "subdomain", "spec.template.metadata")
        errors += validate_pod_spec(template.get("spec"), "spec.template.spec", "Deployment")
        if old is not None and selector != (old.get("spec") or {}).get("selector"):
            errors.append(invalid_value("spec.selector", "...", "field is immutable"))
    elif key == "services":
        spec = spec or {}
        ports = spec.get("ports") or []
        if not ports and spec.get("clusterIP") != "None" and spec.get("type") != "ExternalName":
            errors.append(required("spec.ports"))
        for i, port in enumerate(ports):
            if not isinstance(port, dict):
                continue
            if len(ports) > 1 and not port.get("name"):
                errors.append(required(f"spec.ports[{i}].name"))
            number = port.get("port")
            if not isinstance(number, int) or not 0 < number < 65536:
                errors.append(invalid_value(f"spec.ports[{i}].port", number, "must be between 1 and 65535, "
                                                                            "inclusive"))
    elif key in ("configmaps", "secrets"):
        data = {**(obj.get("data") or {}), **(obj.get("binaryData") or {})}
        for k in data:
            if not re.match(r"^[-._a-zA-Z0-9]+$", k) or len(k) > 253:
                errors.append(invalid_value(f"data[{k}]", k, "a valid config key must consist of alphanumeric "
                                            "characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or "
                                            "'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"))
        if sum(len(k) + len(str(v)) for k, v in data.items()) > 1024 * 1024:
            errors.append(too_long("[]", 1024 * 1024))
    return errors


_MUTABLE_POD_FIELDS = {"activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds", "schedulingGates"}


def _pod_update_errors(old: dict, new: dict) -> list[dict]:
    def comparable(spec):
        out = {k: v for k, v in spec.items() if k not in _MUTABLE_POD_FIELDS}
        for kind in ("containers", "initContainers"):
            out[kind] = [{k: v for k, v in c.items() if k != "image"} for c in spec.get(kind) or []]
        return out

    if comparable(old) != comparable(new):
        return [forbidden("spec", "pod updates may not change fields other than `spec.containers[*].image`,"
                                  "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
                                  "`spec.tolerations` (only additions to existing tolerations),"
                                  "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was "
                                  "previously negative)")]
    return []
