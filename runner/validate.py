"""Pipeline stage "validate": JSON Schema, then the immutable Scenario, then semantic lints.

Every problem of a file is collected and reported with file:line:col, the JSON
path and a hint, never only the first one.
"""
from __future__ import annotations

import difflib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from .errors import Problem, ScenarioError
from .load import SourceMap, format_path
from .model import (Baseline, Check, Fallback, ParserRef, Platform, Ready, Scenario, Workload, _command, env_str,
                    freeze, seconds)
from .platforms import INSTANCE_TYPES
from .resolve import Library, Resolved, resolve

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schema"
KNOWN_VERSIONS = ("scenarios/v1",)
DEFAULT_CLEANUP_S = 300.0


@lru_cache(maxsize=None)
def schema() -> dict:
    return json.loads((SCHEMA_DIR / "scenario.v1.json").read_text())


@lru_cache(maxsize=None)
def _validator() -> Draft202012Validator:
    return Draft202012Validator(schema())


def validate_scenario(name_or_path: str, library: Library | None = None, overrides: Iterable[str] = ()) -> Scenario:
    library = library or Library()
    return validate_resolved(resolve(name_or_path, library, overrides), library)


def validate_resolved(resolved: Resolved, library: Library | None = None) -> Scenario:
    data, sources = resolved.data, resolved.sources
    _check_version(data, sources)
    problems = schema_problems(data, sources)
    if problems:
        raise ScenarioError(problems)
    scenario = build(resolved)
    problems = _name_problems(scenario, resolved) + lint_problems(scenario, library)
    problems += command_problems(scenario)
    if problems:
        raise ScenarioError(problems)
    return scenario


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
    errors = sorted(_validator().iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    problems = [_problem(_most_specific(error), sources) for error in errors]
    unique: dict[str, Problem] = {}
    for problem in problems:
        unique.setdefault(str(problem), problem)
    return sorted(unique.values(), key=lambda p: (p.location.line, p.location.col, p.message))


def _most_specific(error: ValidationError) -> ValidationError:
    """For oneOf/anyOf, the branch error that explains the most (jsonschema's best_match)."""
    while error.validator in ("oneOf", "anyOf") and error.context:
        candidate = best_match(error.context)
        if candidate is None or candidate.validator in ("oneOf", "anyOf") and candidate is error:
            break
        if error.validator == "oneOf" and _is_check_or_command(error):
            return error
        error = candidate
    return error


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
    return f"missing required key {missing!r}", _REQUIRED_HINTS.get(missing, ""), None


_REQUIRED_HINTS = {
    "metadata": "add `metadata: {name: <file name without .yaml>}`",
    "name": "every workload and the metadata need a `name`",
    "apiVersion": "start the file with `apiVersion: scenarios/v1`",
    "kind": "add `kind: Scenario`",
}


def _type(error: ValidationError, path: tuple):
    expected = error.validator_value
    expected = " or ".join(expected) if isinstance(expected, list) else expected
    found = type(error.instance).__name__.replace("str", "string").replace("dict", "mapping").replace("list", "list").replace("NoneType", "null")
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
    hints = {
        "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$": "use lower-case letters, digits and dashes (a Kubernetes name)",
        "^[0-9]+(\\.[0-9]+)?(ms|s|m|h)$": "durations look like 90s, 20m, 1h or 1500ms",
        "^[a-z0-9][-a-z0-9]*\\.[A-Za-z0-9_.]+$": "metrics are named <workload>.<metric>, e.g. all-reduce.busbw_gbps_max",
    }
    return f"{error.instance!r} does not have the expected form", hints.get(error.validator_value, f"pattern: {error.validator_value}"), None


def _one_of(error: ValidationError, path: tuple):
    if path and path[0] == "checks":
        return ("a check needs either `metric` + `op` + (`value` or `baseline`), or `log` + (`contains` or `regex`)",
                "see the checks section of the README", None)
    return f"{error.instance!r} matches none of the allowed forms", "", None


def _minimum(error: ValidationError, path: tuple):
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
        checks=tuple(_check(raw, i) for i, raw in enumerate(data.get("checks") or ())),
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


def _check(raw: dict, index: int) -> Check:
    baseline = raw.get("baseline")
    if baseline:
        baseline = Baseline(baseline["scenario"], baseline.get("metric", ""), float(baseline.get("factor", 1.0)), baseline.get("run", ""))
    kind = raw.get("kind") or ("correctness" if "log" in raw else "performance")
    return Check(
        name=raw.get("name") or _default_check_name(raw, index),
        kind=kind,
        metric=raw.get("metric", ""),
        op=raw.get("op", ""),
        value=raw.get("value"),
        baseline=baseline,
        log=raw.get("log", ""),
        contains=raw.get("contains", ""),
        regex=raw.get("regex", ""),
        count=raw.get("count", 1),
        absent=bool(raw.get("absent", False)),
        description=raw.get("description", ""),
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


def format_problems(problems: list[Problem]) -> str:
    count = len(problems)
    return "\n".join(str(p) for p in problems) + f"\n{count} problem{'s' if count != 1 else ''} found."


__all__ = ["validate_scenario", "validate_resolved", "schema", "format_path", "build"]


def validate_files(targets: list[str], library: Library, *, render: bool = True) -> tuple[list, list]:
    """Validate many scenarios; returns ([(target, Scenario)], [(target, [Problem])])."""
    ok, invalid = [], []
    for target in targets:
        try:
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

    problems: list[Problem] = []
    for name in scenario.executors:
        try:
            get_executor(name).plan(scenario, None)
        except ScenarioError as error:
            problems.extend(error.problems)
        except RunnerError as error:
            problems.append(Problem(error.message, scenario.sources.with_path(("executors",))))
    if problems:
        raise ScenarioError(problems)
