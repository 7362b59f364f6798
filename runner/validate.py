"""Pipeline stage "validate": JSON Schema, then the immutable Scenario, then semantic lints.

Every problem of a file is collected and reported with file:line:col, the JSON
path and a hint, never only the first one.
"""
from __future__ import annotations

import difflib
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from .errors import Problem, ScenarioError
from .load import SourceMap, format_path
from .model import (Baseline, Check, Fallback, ParserRef, Platform, Ready, Scenario, Workload, _command, env_str,
                    freeze, seconds)
from .platforms import INSTANCE_TYPES
from .resolve import Library, Resolved, resolve

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

KNOWN_VERSIONS = ("scenarios/v1",)
DEFAULT_CLEANUP_S = 300.0


@lru_cache(maxsize=None)
def schema() -> dict:
    return json.loads(schema_text())


def schema_text() -> str:
    """The published scenario schema, as shipped in the package."""
    from .resources import schema_dir

    return (schema_dir() / "scenario.v1.json").read_text()


@lru_cache(maxsize=None)
def _validator() -> "QuickValidator":
    document = schema()
    inlined = inline_refs(document, lambda ref: _local_ref(document, ref))
    return QuickValidator(inlined, lambda: jsonschema_validator("Draft202012Validator", inlined))


def jsonschema_validator(draft: str, schema: Any, **options: Any) -> Any:
    import jsonschema  # ~60 ms to import: only when a document is invalid and its errors must be explained

    return getattr(jsonschema, draft)(schema, **options)


class QuickValidator:
    """A jsonschema validator behind a quick validity check: most documents are valid, and for them a compiled
    check is ~10x faster than jsonschema's iter_errors; only invalid ones pay for jsonschema (made by `make`,
    on first need) and its error details."""

    def __init__(self, schema: Any, make: Callable[[], Any]):
        self.schema = schema
        self.quick = compile_check(schema)
        self._make = make
        self._validator = None

    @property
    def validator(self) -> Any:
        if self._validator is None:
            self._validator = self._make()
        return self._validator

    def iter_errors(self, instance: Any):
        try:
            if self.quick is not None and self.quick(instance):
                return iter(())
        except _Unsupported:  # found in a part of the schema compiled on first use
            self.quick = None
        return self.validator.iter_errors(instance)


def _local_ref(document: dict, ref: str) -> tuple[str, Any] | None:
    return (ref, document["$defs"][ref[len("#/$defs/"):]]) if ref.startswith("#/$defs/") else None


_ANNOTATIONS = {"description", "title", "default", "examples", "$comment"}


def inline_refs(node: Any, lookup, memo: dict | None = None, seen: tuple = ()) -> Any:
    """A copy of a JSON Schema with each `$ref` replaced by its target: jsonschema then skips a reference
    lookup per use (~20% of validation time). `lookup(ref)` gives (canonical ref, target) or None to keep the
    reference; a recursive reference stays a `$ref`, in its canonical form."""
    memo = {} if memo is None else memo
    if isinstance(node, list):
        return [inline_refs(item, lookup, memo, seen) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    found = lookup(ref) if isinstance(ref, str) else None
    if found is None or found[0] in seen:
        copied = {key: inline_refs(value, lookup, memo, seen) for key, value in node.items()}
        return {**copied, "$ref": found[0]} if found else copied
    canonical, target = found
    if canonical not in memo:
        memo[canonical] = inline_refs(target, lookup, memo, seen + (canonical,))
    rest = {key: inline_refs(value, lookup, memo, seen) for key, value in node.items() if key != "$ref" and key not in _ANNOTATIONS}
    if not rest:
        return memo[canonical]
    return {**rest, "allOf": [memo[canonical], *rest.get("allOf", ())]}


def validate_scenario(name_or_path: str, library: Library | None = None, overrides: Iterable[str] = ()) -> Scenario:
    from .sandbox import bounded_rendering

    library = library or Library()
    with bounded_rendering():  # one time budget for every template of the file
        return validate_resolved(resolve(name_or_path, library, overrides), library)


def validate_resolved(resolved: Resolved, library: Library | None = None) -> Scenario:
    data, sources = resolved.data, resolved.sources
    _check_version(data, sources)
    # the merged document is complete: checked as a scenario without `extends` (an overlay file may be partial)
    problems = schema_problems({key: value for key, value in data.items() if key != "extends"}, sources)
    if problems:
        raise ScenarioError(problems)
    scenario = build(resolved)
    problems = _name_problems(scenario, resolved) + lint_problems(scenario, library)
    problems += command_problems(scenario)
    if problems:
        raise ScenarioError(sorted(problems, key=lambda p: (p.location.file != str(resolved.files[0]), p.location.line, p.location.col)))
    return scenario


def _check_version(data: dict, sources: SourceMap) -> None:
    version = data.get("apiVersion")
    if version in KNOWN_VERSIONS:
        return
    location = sources.with_path(("apiVersion",)) if "apiVersion" in data else sources.with_path(())
    found = f"found {version!r}" if version is not None else "it is missing"
    raise ScenarioError(Problem(f"unknown scenario format version: {found}", location,
                                f"this build knows {', '.join(KNOWN_VERSIONS)}; start the file with `apiVersion: {KNOWN_VERSIONS[-1]}`"))


# --- quick validity check -------------------------------------------------------------------
# The keywords below are checked exactly as jsonschema does; a schema using any other validation keyword is not
# compiled (jsonschema alone decides). Other keys (description, format without a format checker, x-*) are ignored,
# as jsonschema ignores them.

_VALIDATION_KEYWORDS = {
    "$ref", "$dynamicRef", "$recursiveRef", "allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentSchemas",
    "dependencies", "prefixItems", "items", "additionalItems", "contains", "minContains", "maxContains", "properties",
    "patternProperties", "additionalProperties", "propertyNames", "unevaluatedItems", "unevaluatedProperties", "type",
    "enum", "const", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength",
    "minLength", "pattern", "maxItems", "minItems", "uniqueItems", "maxProperties", "minProperties", "required",
    "dependentRequired",
}
_TYPE_CHECKS = {
    "object": lambda x: isinstance(x, dict),
    "array": lambda x: isinstance(x, list),
    "string": lambda x: isinstance(x, str),
    "integer": lambda x: (isinstance(x, int) and not isinstance(x, bool)) or (isinstance(x, float) and x.is_integer()),
    "number": lambda x: isinstance(x, (int, float)) and not isinstance(x, bool),
    "boolean": lambda x: isinstance(x, bool),
    "null": lambda x: x is None,
}


class _Unsupported(Exception):
    pass


def compile_check(schema: Any):
    """A function instance -> bool that agrees with jsonschema's is_valid, or None if the schema is not supported.
    Subschemas are compiled when first reached (big CRD schemas are mostly never reached); one found unsupported
    then raises _Unsupported from the check."""
    try:
        return _compile(schema, {})
    except _Unsupported:
        return None


def _equal(one: Any, two: Any) -> bool:
    """jsonschema's equality: booleans are not numbers."""
    if isinstance(one, bool) or isinstance(two, bool):
        return isinstance(one, bool) and isinstance(two, bool) and one == two
    if isinstance(one, dict) and isinstance(two, dict):
        return one.keys() == two.keys() and all(_equal(one[k], two[k]) for k in one)
    if isinstance(one, list) and isinstance(two, list):
        return len(one) == len(two) and all(map(_equal, one, two))
    return one == two


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _lazy(schema: Any, memo: dict):
    """The check of a subschema, compiled on its first call."""
    if id(schema) in memo:
        return memo[id(schema)]
    compiled = None

    def check(x: Any) -> bool:
        nonlocal compiled
        if compiled is None:
            compiled = _compile(schema, memo)
        return compiled(x)

    memo[id(schema)] = check
    return check


def _compile(schema: Any, memo: dict):
    try:
        return _compile_keywords(schema, memo)
    except (KeyError, TypeError, re.error) as error:
        raise _Unsupported from error


def _compile_keywords(schema: Any, memo: dict):
    if schema is True:
        return lambda x: True
    if schema is False:
        return lambda x: False
    if not isinstance(schema, dict):
        raise _Unsupported
    checks = []
    for keyword, value in schema.items():
        if keyword in _VALIDATION_KEYWORDS:
            checks.append(_keyword(keyword, value, schema, memo))
    checks = [c for c in checks if c is not None]

    def check(x: Any) -> bool:
        for one in checks:
            if not one(x):
                return False
        return True

    return check


def _object_check(properties: dict, additional: Any, memo: dict):
    other = None if additional is True else _lazy(additional, memo)

    def check(x: Any) -> bool:
        if isinstance(x, dict):
            for key, item in x.items():
                sub = properties.get(key, other)
                if sub is not None and not sub(item):
                    return False
        return True

    return check


def _keyword(keyword: str, value: Any, schema: dict, memo: dict):
    if keyword == "type":
        tests = [_TYPE_CHECKS[t] for t in ([value] if isinstance(value, str) else value)]
        return tests[0] if len(tests) == 1 else lambda x: any(test(x) for test in tests)
    if keyword == "properties":  # with additionalProperties: one pass over the keys the instance has
        if "patternProperties" in schema:
            raise _Unsupported
        return _object_check({name: _lazy(sub, memo) for name, sub in value.items()}, schema.get("additionalProperties", True), memo)
    if keyword == "additionalProperties":
        if "patternProperties" in schema:
            raise _Unsupported
        return None if "properties" in schema else _object_check({}, value, memo)
    if keyword == "required":
        return lambda x: not isinstance(x, dict) or all(name in x for name in value)
    if keyword == "propertyNames":
        sub = _lazy(value, memo)
        return lambda x: not isinstance(x, dict) or all(sub(k) for k in x)
    if keyword == "items":
        if isinstance(value, list) or "prefixItems" in schema or "additionalItems" in schema:
            raise _Unsupported
        sub = _lazy(value, memo)
        return lambda x: not isinstance(x, list) or all(sub(item) for item in x)
    if keyword in ("minItems", "maxItems", "minLength", "maxLength"):
        kind, bound = (list, keyword.startswith("min")) if keyword.endswith("Items") else (str, keyword.startswith("min"))
        return (lambda x: not isinstance(x, kind) or len(x) >= value) if bound else (lambda x: not isinstance(x, kind) or len(x) <= value)
    if keyword == "uniqueItems":
        if not value:
            return None
        return lambda x: not isinstance(x, list) or all(not _equal(a, b) for i, a in enumerate(x) for b in x[i + 1:])
    if keyword == "pattern":
        compiled = re.compile(value)
        return lambda x: not isinstance(x, str) or compiled.search(x) is not None
    if keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        if not _is_number(value):
            raise _Unsupported  # draft 4's boolean exclusiveMinimum
        compare = {"minimum": lambda x: x >= value, "maximum": lambda x: x <= value,
                   "exclusiveMinimum": lambda x: x > value, "exclusiveMaximum": lambda x: x < value}[keyword]
        return lambda x: not _is_number(x) or compare(x)
    if keyword == "enum":
        return lambda x: any(_equal(x, allowed) for allowed in value)
    if keyword == "const":
        return lambda x: _equal(x, value)
    if keyword in ("allOf", "anyOf", "oneOf"):
        subs = [_lazy(sub, memo) for sub in value]
        if keyword == "allOf":
            return lambda x: all(sub(x) for sub in subs)
        if keyword == "anyOf":
            return lambda x: any(sub(x) for sub in subs)
        return lambda x: sum(1 for sub in subs if sub(x)) == 1
    if keyword == "if":
        condition, then = _lazy(value, memo), _lazy(schema.get("then", True), memo)
        otherwise = _lazy(schema.get("else", True), memo)
        return lambda x: then(x) if condition(x) else otherwise(x)
    if keyword in ("then", "else"):
        return None  # checked with "if"; without one they mean nothing
    if keyword == "not":
        sub = _lazy(value, memo)
        return lambda x: not sub(x)
    raise _Unsupported


# --- schema --------------------------------------------------------------------------------


def schema_problems(data: Any, sources: SourceMap) -> list[Problem]:
    errors = sorted(_validator().iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    problems = [_problem(specific, sources) for error in errors for specific in _most_specific(error)]
    unique: dict[str, Problem] = {}
    for problem in problems:
        unique.setdefault(str(problem), problem)
    return sorted(unique.values(), key=lambda p: (p.location.line, p.location.col, p.message))


def _most_specific(error: ValidationError) -> list[ValidationError]:
    """For oneOf/anyOf, the errors of the branch whose type fits the value (best_match among those branches).

    When no branch has the value's type, the oneOf error itself is kept: `_one_of` lists the accepted types.
    """
    from jsonschema.exceptions import best_match

    if error.validator not in ("oneOf", "anyOf") or not error.context or _is_check_or_command(error):
        return [error]
    fitting = [e for e in error.context if e.validator != "type" or e.relative_path]
    if not fitting:
        return [error]
    branch = best_match(fitting).relative_schema_path[0]
    return [specific for e in fitting if e.relative_schema_path[0] == branch for specific in _most_specific(e)]


def _is_check_or_command(error: ValidationError) -> bool:
    path = list(error.absolute_path)
    return bool(path) and path[0] == "checks" and len(path) == 2


def _problem(error: ValidationError, sources: SourceMap) -> Problem:
    path = tuple(error.absolute_path)
    handler = _MESSAGES.get(error.validator, _generic)
    message, hint, key_path = handler(error, path)
    location = sources.with_path(key_path if key_path is not None else path, key=key_path is not None)
    return Problem(message, location, hint)


def _generic(error: ValidationError, path: tuple):
    return f"{error.message}", "", None


def _additional(error: ValidationError, path: tuple):
    allowed = sorted((error.schema.get("properties") or {}).keys())
    extras = [key for key in error.instance if key not in allowed] if isinstance(error.instance, dict) else []
    key = extras[0] if extras else "?"
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}?" if close else f"allowed keys here: {', '.join(allowed)}"
    others = f" (and {', '.join(map(repr, extras[1:]))})" if len(extras) > 1 else ""
    return f"unknown key {key!r}{others}", hint, path + (key,)


def _required(error: ValidationError, path: tuple):
    missing = error.message.split("'")[1] if "'" in error.message else error.message
    return f"missing required key {missing!r}", _REQUIRED_HINTS.get(missing, ""), path


_REQUIRED_HINTS = {
    "metadata": "add `metadata: {name: <file name without .yaml>}`",
    "name": "every workload and the metadata need a `name`",
    "apiVersion": "start the file with `apiVersion: scenarios/v1`",
    "kind": "add `kind: Scenario`",
}


_TYPE_NAMES = {"object": "mapping", "array": "list", "dict": "mapping", "str": "string", "int": "integer", "float": "number",
               "bool": "boolean", "NoneType": "null"}


def _type(error: ValidationError, path: tuple):
    expected = error.validator_value
    expected = " or ".join(_TYPE_NAMES.get(t, t) for t in expected) if isinstance(expected, list) else _TYPE_NAMES.get(expected, expected)
    found = _TYPE_NAMES.get(type(error.instance).__name__, type(error.instance).__name__)
    hint = ""
    if expected in ("integer", "number") and isinstance(error.instance, str):
        hint = "write the number without quotes"
    elif "string" in str(expected) and isinstance(error.instance, (list, dict)):
        hint = "quote the value if it is meant as text"
    return f"expected {expected}, found {found} {error.instance!r}", hint, None


def _enum(error: ValidationError, path: tuple):
    allowed = [str(v) for v in error.validator_value]
    close = difflib.get_close_matches(str(error.instance), allowed, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}?" if close else ""
    return f"{error.instance!r} is not one of {', '.join(allowed)}", hint, None


def _const(error: ValidationError, path: tuple):
    return f"expected {error.validator_value!r}, found {error.instance!r}", "", None


def _pattern(error: ValidationError, path: tuple):
    if "propertyNames" in error.relative_schema_path:
        hint = _NAME_HINTS.get(path[-1] if path else "", f"pattern: {error.validator_value}")
        return f"{error.instance!r} is not a valid name here", hint, path + (error.instance,)
    hints = {
        "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$": "use lower-case letters, digits and dashes (a Kubernetes name)",
        "^[0-9]+(\\.[0-9]+)?(ms|s|m|h)$": "durations look like 90s, 20m, 1h or 1500ms",
        "^[a-z0-9][-a-z0-9]*\\.[A-Za-z0-9_.]+$": "metrics are named <workload>.<metric>, e.g. all-reduce.busbw_gbps_max",
    }
    return f"{error.instance!r} does not have the expected form", hints.get(error.validator_value, f"pattern: {error.validator_value}"), None


_NAME_HINTS = {
    "env": "environment variable names are letters, digits and underscores, not starting with a digit",
    "ports": "port names are lower-case letters, digits and underscores, starting with a letter",
}


def _one_of(error: ValidationError, path: tuple):
    if path and path[0] == "checks":
        return ("a check needs either `metric` + `op` + (`value` or `baseline`), or `log` + (`contains` or `regex`)",
                "see the checks section of the README", None)
    types = [e.validator_value for e in error.context if e.validator == "type" and not e.relative_path]
    if types and len(types) == len({e.relative_schema_path[0] for e in error.context}):
        expected = " or ".join(_TYPE_NAMES.get(t, t) for t in types if isinstance(t, str))
        found = _TYPE_NAMES.get(type(error.instance).__name__, type(error.instance).__name__)
        return f"expected {expected}, found {found} {error.instance!r}", "", None
    return f"{error.instance!r} matches none of the allowed forms", "", None


def _minimum(error: ValidationError, path: tuple):
    if error.validator == "exclusiveMinimum":
        return f"{error.instance!r} must be greater than {error.validator_value}", "", None
    return f"{error.instance!r} is below the minimum {error.validator_value}", "", None


def _min_items(error: ValidationError, path: tuple):
    return "the list must not be empty", "", None


_MESSAGES = {
    "additionalProperties": _additional,
    "required": _required,
    "type": _type,
    "enum": _enum,
    "const": _const,
    "pattern": _pattern,
    "oneOf": _one_of,
    "minimum": _minimum,
    "exclusiveMinimum": _minimum,
    "minItems": _min_items,
}


# --- building the immutable scenario -----------------------------------------------------------


def build(resolved: Resolved) -> Scenario:
    data = resolved.data
    metadata = data["metadata"]
    timeouts = data.get("timeouts") or {}
    platform = _platform(data.get("platform") or {})
    workloads = tuple(_workload(raw, platform) for raw in data.get("workloads") or ())
    return Scenario(
        name=metadata["name"],
        layer=metadata.get("layer", ""),
        description=metadata.get("description", ""),
        proves=metadata.get("proves", ""),
        tags=tuple(metadata.get("tags") or ()),
        executors=tuple(data.get("executors") or ("local",)),
        platform=platform,
        parameters=freeze(data.get("parameters") or {}),
        images=freeze(data.get("images") or {}),
        registry=data.get("registry", ""),
        env=freeze({k: env_str(v) for k, v in (data.get("env") or {}).items()}),
        workloads=workloads,
        checks=tuple(_check(raw, i, data.get("parameters") or {}, resolved.sources) for i, raw in enumerate(data.get("checks") or ())),
        run_timeout_s=seconds(timeouts.get("run")),
        ready_timeout_s=seconds(timeouts.get("ready")),
        cleanup_timeout_s=seconds(timeouts.get("cleanup"), DEFAULT_CLEANUP_S),
        matrix=freeze(data.get("matrix") or {}),
        waivers=freeze((data.get("lints") or {}).get("waive") or ()),
        extends=data.get("extends") or "",
        files=resolved.files,
        data=freeze(data),
        sources=resolved.sources,
    )


def _platform(raw: dict) -> Platform:
    known = INSTANCE_TYPES.get(raw.get("instanceType", "local"))
    return Platform(
        instance_type=raw.get("instanceType", "local"),
        gpus_per_node=raw.get("gpusPerNode", known.gpus if known else 0),
        efa_per_node=raw.get("efaPerNode", known.efa if known else 0),
        arch=raw.get("arch", known.arch if known else "amd64"),
        namespace=raw.get("namespace", "scenario-runner"),
        node_selector=freeze(raw.get("nodeSelector") or {}),
        tolerations=freeze(raw.get("tolerations") or ()),
        hugepages_2mi=raw.get("hugepages2Mi", ""),
        memory=raw.get("memory", ""),
        shm_size=raw.get("shmSize", ""),
    )


def _workload(raw: dict, platform: Platform) -> Workload:
    kind = raw.get("kind", "job")
    node = raw.get("node", "gpu" if kind in ("mpi", "group", "disaggregated") else "cpu")
    nodes = raw.get("nodes", 1)
    ranks = raw.get("ranks", nodes * platform.gpus_per_node if kind == "mpi" and platform.gpus_per_node else 1)
    parser = raw.get("parser")
    if isinstance(parser, str):
        parser = ParserRef(parser)
    elif isinstance(parser, dict):
        parser = ParserRef(parser["name"], freeze(parser.get("options") or {}), parser.get("file", ""))
    ready = raw.get("ready")
    if ready is not None:
        http = ready.get("http") or {}
        ready = Ready(ready.get("port", ""), ready.get("log", ""), http.get("port", ""), http.get("path", "/health"), seconds(ready.get("timeout")))
    fallback = raw.get("fallback")
    overrides = {executor: raw[executor] for executor in ("local", "kubernetes") if raw.get(executor)}
    return Workload(
        name=raw["name"],
        kind=kind,
        template=raw.get("template", ""),
        role=raw.get("role", ""),
        description=raw.get("description", ""),
        image=raw.get("image", ""),
        command=_command(raw.get("command")),
        shell=bool(raw.get("shell", False)),
        fallback=Fallback(_command(fallback["command"]), fallback.get("ranks")) if fallback else None,
        env=freeze({k: env_str(v) for k, v in (raw.get("env") or {}).items()}),
        args=freeze(raw.get("args") or {}),
        ranks=ranks,
        nodes=nodes,
        replicas=raw.get("replicas", 1),
        group_size=raw.get("groupSize", 1),
        node=node,
        resources=freeze(raw.get("resources") or {}),
        ports=freeze(raw.get("ports") or {}),
        ready=ready,
        after=tuple(raw.get("after") or ()),
        parser=parser,
        timeout_s=seconds(raw.get("timeout")),
        overrides=freeze(overrides),
    )


def _threshold_value(value: Any, parameters: dict, sources: SourceMap, index: int) -> Any:
    """A threshold may be a parameter (`value: "{{ params.min_busbw }}"`): render it and read it as YAML, so it is a number."""
    if not isinstance(value, str) or "{{" not in value:
        return value
    import yaml

    from .render import render_string

    text = render_string(value, {"params": parameters}, sources.with_path(("checks", index, "value")))
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _check(raw: dict, index: int, parameters: dict | None = None, sources: SourceMap | None = None) -> Check:
    baseline = raw.get("baseline")
    if baseline:
        baseline = Baseline(baseline["scenario"], baseline.get("metric", ""), float(baseline.get("factor", 1.0)), baseline.get("run", ""))
    kind = raw.get("kind") or ("correctness" if "log" in raw else "performance")
    return Check(
        name=raw.get("name") or _default_check_name(raw, index),
        kind=kind,
        metric=raw.get("metric", ""),
        op=raw.get("op", ""),
        value=_threshold_value(raw.get("value"), parameters or {}, sources or SourceMap(), index),
        baseline=baseline,
        log=raw.get("log", ""),
        contains=raw.get("contains", ""),
        regex=raw.get("regex", ""),
        count=raw.get("count", 1),
        absent=bool(raw.get("absent", False)),
        description=raw.get("description", ""),
        skip=raw.get("skip", ""),
        role=raw.get("role", ""),
    )


def _default_check_name(raw: dict, index: int) -> str:
    if "metric" in raw:
        return raw["metric"]
    return f"{raw.get('log')}.log[{index}]"


# --- lints -------------------------------------------------------------------------------------


def _name_problems(scenario: Scenario, resolved: Resolved) -> list[Problem]:
    stem = resolved.files[0].stem
    if stem.startswith("<") or stem == scenario.name:
        return []
    return [Problem(f"metadata.name {scenario.name!r} does not match the file name {stem!r}",
                    resolved.sources.with_path(("metadata", "name")), f"rename the file to {scenario.name}.yaml or the scenario to {stem}",
                    "name-matches-file")]


def known_names(library: Library | None) -> dict[str, set[str]]:
    from .executors import executor_names
    from .parse import parser_names
    from .render import template_names

    return {
        "executors": set(executor_names()),
        "parsers": set(parser_names()),
        "templates": set(template_names()),
        "scenarios": set(library.names()) if library else set(),
    }


def lint_problems(scenario: Scenario, library: Library | None) -> list[Problem]:
    from .lints import run_lints

    return run_lints(scenario, known_names(library))


def command_problems(scenario: Scenario) -> list[Problem]:
    """Commands are Jinja templates: render each with placeholder values to find undefined variables."""
    from .render import check_commands

    return check_commands(scenario)


__all__ = ["validate_scenario", "validate_resolved", "schema", "format_path", "build"]


def validate_files(targets: list[str], library: Library, *, render: bool = True) -> tuple[list, list]:
    """Validate many scenarios; returns ([(target, Scenario)], [(target, [Problem])])."""
    ok, invalid = [], []
    from .sandbox import bounded_rendering

    for target in targets:
        try:
            with bounded_rendering():
                scenario = validate_scenario(target, library)
                if render:
                    render_check(scenario)
            ok.append((target, scenario))
        except ScenarioError as error:
            invalid.append((target, error.problems))
    return ok, invalid


def render_check(scenario: Scenario) -> None:
    """Render for every executor the scenario declares, so template errors surface at validate time."""
    from .executors import get_executor
    from .errors import RunnerError

    from .delta import for_executor, runs_on

    problems: list[Problem] = []
    for name in dict.fromkeys(scenario.executors + (("local",) if runs_on(scenario, "local") else ())):
        try:
            get_executor(name).plan(for_executor(scenario, name), None)
        except ScenarioError as error:
            problems.extend(error.problems)
        except RunnerError as error:
            problems.append(Problem(error.message, scenario.sources.with_path(("executors",))))
    if problems:
        raise ScenarioError(problems)
