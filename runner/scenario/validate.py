"""Pipeline stage "validate": JSON Schema, then the immutable Scenario, then semantic lints.

Every problem of a file is collected and reported with file:line:col, the JSON
path and a hint, never only the first one.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

import yaml

from runner.base.errors import Location, Problem, ScenarioError
from runner.base.platforms import INSTANCE_TYPES
from runner.base.resources import template_names
from runner.parse.logs import parser_names
from runner.scenario.checks import check_name
from runner.scenario.lints import run_lints
from runner.scenario.load import SourceMap, format_path
from runner.scenario.meaning import meaning_problems
from runner.scenario.model import (
    Baseline,
    Check,
    Fallback,
    ParserRef,
    Platform,
    Ready,
    Scenario,
    Workload,
    _command,
    env_str,
    freeze,
    seconds,
)
from runner.scenario.resolve import Library, Resolved, resolve
from runner.scenario.sandbox import bounded_rendering
from runner.scenario.schemas import scenario_validator
from runner.scenario.templating import check_commands, render_string

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

KNOWN_VERSIONS = ("scenarios/v1",)
DEFAULT_CLEANUP_S = 300.0


@dataclass(frozen=True)
class Plugins:
    """What the layers above the scenario language add to its validation: the executors that exist, and checks of
    blocks they own (the `triage:` block). runner.flows.check.validate_scenario passes them; nothing else should."""

    executors: tuple[str, ...] = ()
    checks: tuple[Callable[[Scenario], list[Problem]], ...] = ()


def validate_scenario(name_or_path: str, library: Library | None = None, overrides: Iterable[str] = (),
                      plugins: Plugins = Plugins()) -> Scenario:
    library = library or Library()
    with bounded_rendering():  # one time budget for every template of the file
        return validate_resolved(resolve(name_or_path, library, overrides), library, plugins=plugins)


def validate_resolved(resolved: Resolved, library: Library | None = None, *, executor_view: bool = False,
                      plugins: Plugins = Plugins()) -> Scenario:
    """`executor_view`: this is an executor's view of an already valid scenario (runner.scenario.overlay): its overlay
    may replace what reads a parameter, so unused parameters are not its problem."""
    data, sources = resolved.data, resolved.sources
    _check_version(data, sources)
    # the merged document is complete: checked as a scenario without `extends` (an overlay file may be partial)
    problems = schema_problems({key: value for key, value in data.items() if key != "extends"}, sources)
    problems = problems or _duplicate_checks(data, sources)
    if problems:
        raise ScenarioError(problems)
    scenario = build(resolved)
    problems = _name_problems(scenario, resolved) + meaning_problems(scenario, executor_view)
    problems += run_lints(scenario, known_names(library, plugins.executors)) + check_commands(scenario)
    problems += [problem for check in plugins.checks for problem in check(scenario)]
    if problems:
        problems = blame_variant(problems, resolved, library, plugins) if not executor_view else problems
        raise ScenarioError(sorted(problems, key=lambda p: (p.location.file != str(resolved.files[0]), p.location.line, p.location.col)))
    return scenario


def blame_variant(problems: list[Problem], resolved: Resolved, library: Library | None, plugins: Plugins) -> list[Problem]:
    """A problem that sits in a parent file which is valid on its own was caused by the variant: it is reported at the
    variant's `extends:` line, naming where it shows in the parent. A parent that is itself invalid keeps the blame."""
    parents = [str(path) for path in resolved.files[1:]]
    if not parents or not any(p.location.file in parents for p in problems):
        return problems
    try:
        validate_scenario(parents[0], library, plugins=plugins)
    except ScenarioError:
        return problems
    at = resolved.sources.with_path(("extends",))
    return [Problem(f"{p.message} (at {p.location}{'  ' + p.location.path if p.location.path else ''}, "
                    f"which this file's changes to {Path(p.location.file).stem} break)",
                    Location(at.file, at.line, at.col, p.location.path), p.hint, p.code)
            if p.location.file in parents else p for p in problems]


def _duplicate_checks(data: dict, sources: SourceMap) -> list[Problem]:
    """Two checks with one identity would share a name in every report and merge into one in a variant."""
    first: dict[str, int] = {}
    problems = []
    for index, raw in enumerate(data.get("checks") or ()):
        name = check_name(raw)
        if name in first:
            problems.append(Problem(f"two checks are both {name!r} (checks[{first[name]}] and checks[{index}])",
                                    sources.with_path(("checks", index)),
                                    "a check's identity is its name, or its metric and op / its log and evidence: give one a `name`"))
        first.setdefault(name, index)
    return problems


def _check_version(data: dict, sources: SourceMap) -> None:
    version = data.get("apiVersion")
    if version in KNOWN_VERSIONS:
        return
    location = sources.with_path(("apiVersion",)) if "apiVersion" in data else sources.with_path(())
    found = f"found {version!r}" if version is not None else "it is missing"
    raise ScenarioError(Problem(f"unknown scenario format version: {found}", location,
                                f"this build knows {', '.join(KNOWN_VERSIONS)}; start the file with `apiVersion: {KNOWN_VERSIONS[-1]}`"))




# --- schema --------------------------------------------------------------------------------


def schema_problems(data: Any, sources: SourceMap) -> list[Problem]:
    errors = sorted(scenario_validator().iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    errors = [e for e in errors if not _typo_explains(e)]
    problems = [_problem(specific, sources) for error in errors for specific in _most_specific(error)]
    unique: dict[str, Problem] = {}
    for problem in problems:
        unique.setdefault(str(problem), problem)
    return sorted(unique.values(), key=lambda p: (p.location.line, p.location.col, p.message))


def _typo_explains(error: ValidationError) -> bool:
    """`missing required key 'command'` beside `unknown key 'comand'` says the same thing twice: keep the typo."""
    if error.validator != "required" or not isinstance(error.instance, dict) or "'" not in error.message:
        return False
    missing = error.message.split("'")[1]
    unknown = [key for key in error.instance if key not in (error.schema.get("properties") or {})]
    return bool(difflib.get_close_matches(missing, unknown, n=1, cutoff=0.75))


def _most_specific(error: ValidationError) -> list[ValidationError]:
    """For oneOf/anyOf, the errors of the branch whose type fits the value (best_match among those branches).

    When no branch has the value's type, the oneOf error itself is kept: `_one_of` lists the accepted types.
    """
    from jsonschema.exceptions import (
        best_match,  # jsonschema costs ~60 ms: only to explain an invalid scenario
    )

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
    "command": "the program the workload runs, e.g. `command: [all_reduce_perf, -b, 8, -e, 1G]`",
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
        checks=tuple(_check(raw, i, data.get("parameters") or {}, resolved.sources, platform) for i, raw in enumerate(data.get("checks") or ())),
        run_timeout_s=seconds(timeouts.get("run")),
        ready_timeout_s=seconds(timeouts.get("ready")),
        cleanup_timeout_s=seconds(timeouts.get("cleanup"), DEFAULT_CLEANUP_S),
        matrix=freeze(data.get("matrix") or {}),
        waivers=freeze((data.get("lints") or {}).get("waive") or ()),
        extends=data.get("extends") or "",
        files=resolved.files,
        data=freeze(data),
        sources=resolved.sources,
        repeat=data.get("repeat", 1),
        check_edits=resolved.edits,
        warnings=resolved.warnings,
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
        nodes=tuple(raw.get("nodes") or ()),
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
        repeat=raw.get("repeat", 1),
        overrides=freeze(overrides),
        informational=raw.get("informational", ""),
    )


def _threshold_value(value: Any, variables: dict, sources: SourceMap, index: int, field: str = "value", typed: bool = True) -> Any:
    """A threshold may be a parameter (`value: "{{ params.min_busbw }}"`) or a fact of the platform
    (`{{ platform.efaPerNode }}`): render it and read it as YAML, so it is a number. Text fields (contains, regex) are
    rendered the same way and stay text."""
    if not isinstance(value, str) or "{{" not in value:
        return value

    text = render_string(value, variables, sources.with_path(("checks", index, field)))
    if not typed:
        return text
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _count(value: Any, variables: dict, sources: SourceMap, index: int) -> int | str:
    """A count may follow the parameters (`count: "{{ params.num_prompts }}"`): the rendered whole number, else the
    rendered text (runner.scenario.meaning says it is not a count)."""
    rendered = _threshold_value(value, variables, sources, index, "count")
    if isinstance(rendered, float) and rendered.is_integer():
        return int(rendered)
    return rendered


def check_variables(parameters: dict, platform: Platform | None) -> dict:
    """What a check's value, contains, regex and count may name: the parameters and the platform's per-node counts."""
    facts = {"instanceType": platform.instance_type, "gpusPerNode": platform.gpus_per_node,
             "efaPerNode": platform.efa_per_node} if platform else {}
    return {"params": parameters, "platform": facts}


def _check(raw: dict, index: int, parameters: dict | None = None, sources: SourceMap | None = None,
           platform: Platform | None = None) -> Check:
    baseline = raw.get("baseline")
    if baseline:
        baseline = Baseline(baseline["scenario"], baseline.get("metric", ""), float(baseline.get("factor", 1.0)), baseline.get("run", ""))
    kind = raw.get("kind") or ("correctness" if "log" in raw else "performance")
    variables, sources = check_variables(parameters or {}, platform), sources or SourceMap()
    return Check(
        name=check_name(raw),
        kind=kind,
        metric=raw.get("metric", ""),
        op=raw.get("op", ""),
        value=_threshold_value(raw.get("value"), variables, sources, index),
        baseline=baseline,
        log=raw.get("log", ""),
        contains=_threshold_value(raw.get("contains", ""), variables, sources, index, "contains", typed=False),
        regex=_threshold_value(raw.get("regex", ""), variables, sources, index, "regex", typed=False),
        count=_count(raw.get("count", 1), variables, sources, index),
        absent=bool(raw.get("absent", False)),
        description=raw.get("description", ""),
        skip=raw.get("skip", ""),
        role=raw.get("role", ""),
        statistic=raw.get("statistic", "median"),
        fallback=raw.get("fallback", ""),
    )


# --- lints -------------------------------------------------------------------------------------


def _name_problems(scenario: Scenario, resolved: Resolved) -> list[Problem]:
    stem = resolved.files[0].stem
    if stem.startswith("<") or stem == scenario.name:
        return []
    return [Problem(f"metadata.name {scenario.name!r} does not match the file name {stem!r}",
                    resolved.sources.with_path(("metadata", "name")), f"rename the file to {scenario.name}.yaml or the scenario to {stem}",
                    "name-matches-file")]


def known_names(library: Library | None, executors: Iterable[str] = ()) -> dict[str, set[str]]:
    return {
        "executors": set(executors),
        "parsers": set(parser_names()),
        "templates": set(template_names()),
        "scenarios": set(library.names()) if library else set(),
    }


__all__ = ["validate_scenario", "validate_resolved", "format_path", "build"]
