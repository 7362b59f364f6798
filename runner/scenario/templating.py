"""Templates inside a scenario: `{{ params.threads }}`, `{{ ports.rpc }}`, `{{ ready.target.rpc_address }}` in
commands and env values, rendered per workload by every executor (sandboxed Jinja2, StrictUndefined). Errors point
at the scenario file and line. `check_commands` renders everything once with placeholder values, for validation."""
from __future__ import annotations

import json
import re
import shlex
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Mapping

import jinja2
import yaml

from runner.base import saferegex
from runner.base.errors import Location, Problem, RenderError
from runner.scenario.model import Scenario, Workload, thaw
from runner.scenario.sandbox import BoundedSandbox, render_bounded


def _quote_shell(value: Any) -> str:
    return shlex.quote(str(value))



def _to_yaml(value: Any) -> str:
    value = thaw(value)
    flow = _flow(value) if isinstance(value, (dict, list)) else None
    if flow is not None:
        return flow
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(value, Dumper=dumper, default_flow_style=True, sort_keys=False, width=10_000).strip()


_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]{0,100}\Z")


_RESOLVER = yaml.resolver.Resolver()



def _flow(value: Any) -> str | None:
    """What yaml.dump(default_flow_style=True) writes, for maps and lists of ints, booleans, null and plain-safe
    strings (labels, selectors, resource counts); None for anything else. Rendering calls `to_yaml` hundreds of
    times, and PyYAML's representer costs ~0.1 ms a call."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        plain = _PLAIN.match(value) and _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) == "tag:yaml.org,2002:str"
        return value if plain else None
    if isinstance(value, dict):
        items = [(_flow(k) if isinstance(k, str) else None, _flow(v)) for k, v in value.items()]
        return None if any(k is None or v is None for k, v in items) else "{" + ", ".join(f"{k}: {v}" for k, v in items) + "}"
    if isinstance(value, list):
        items = [_flow(v) for v in value]
        return None if any(v is None for v in items) else "[" + ", ".join(items) + "]"
    return None



def _to_json(value: Any) -> str:
    return json.dumps(thaw(value))


FILTERS = {"shell": _quote_shell, "to_yaml": _to_yaml, "to_json": _to_json}  # also the object templates' (runner.render)


@lru_cache(maxsize=None)
def _string_environment() -> BoundedSandbox:
    env = BoundedSandbox(undefined=jinja2.StrictUndefined, keep_trailing_newline=False)
    env.filters.update(shell=_quote_shell, to_json=_to_json)
    return env


@lru_cache(maxsize=4096)
def _compile(text: str) -> jinja2.Template:
    return _string_environment().from_string(text)



def _is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


_JINJA_WORDS = {"and", "or", "not", "in", "is", "if", "else", "true", "false", "none", "True", "False", "None"}


_SUBSTITUTION = re.compile(r"\{\{\s*([A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*)\s*\}\}")



def _substitute(text: str, variables: Mapping[str, Any]) -> str | None:
    """`--threads={{ params.threads }}` without Jinja (most command arguments are only that), or None when the text
    needs Jinja: other syntax, several lines, a name that is missing or is also an attribute, a value that is not
    a string or a number. Same result as Jinja where it answers."""
    if "\n" in text or "\r" in text:
        return None
    parts = _SUBSTITUTION.split(text)
    if any("{{" in literal or "{%" in literal or "{#" in literal for literal in parts[0::2]):
        return None
    out = [parts[0]]
    for name, literal in zip(parts[1::2], parts[2::2]):
        value: Any = variables
        for key in name.split("."):
            if key in _JINJA_WORDS or not isinstance(value, (dict, MappingProxyType)) or key not in value or hasattr(value, key):
                return None
            value = value[key]
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            return None
        out += [str(value), literal]
    return "".join(out)



def render_string(text: str, variables: Mapping[str, Any], location: Location) -> str:
    if not _is_template(text):
        return text
    quick = _substitute(text, variables)
    if quick is not None:
        return quick
    try:
        return render_bounded(_compile(text), variables)
    except jinja2.UndefinedError as error:
        raise RenderError(Problem(f"undefined template variable: {_undefined_text(error.message or '', text)}", location,
                                  _variables_hint(variables))) from error
    except jinja2.TemplateSyntaxError as error:
        raise RenderError(Problem(f"template syntax error: {error.message}", location)) from error
    except Exception as error:  # noqa: BLE001  (a template is untrusted input: whatever it raises is its problem)
        raise RenderError(template_failure(error, location)) from error



def template_failure(error: BaseException, location: Location) -> Problem:
    """A template that raised (1/0, a recursive macro, a bound of the sandbox): said plainly, at its location."""
    if isinstance(error, jinja2.exceptions.SecurityError):
        return Problem(f"template not allowed: {error}", location, "templates are sandboxed and bounded (runner/scenario/sandbox.py)")
    if isinstance(error, RecursionError):
        return Problem("the template recurses too deeply (a macro calling itself?)", location)
    if isinstance(error, MemoryError):
        return Problem("the template ran out of memory", location)
    if "no loader" in str(error):
        return Problem("scenario templates cannot include or import files", location, "write the text into the scenario")
    if isinstance(error, jinja2.TemplateError):
        return Problem(f"template error: {error.message or type(error).__name__}", location)
    return Problem(f"the template failed: {type(error).__name__}: {error}", location)



def _undefined_text(message: str, text: str) -> str:
    """Name the expression the user wrote (`params.nope`), not Jinja's "'mappingproxy object' has no attribute 'nope'"."""
    found = re.search(r"has no attribute '([^']+)'|'([^']+)' is undefined", message)
    name = next((g for g in found.groups() if g), "") if found else ""
    for expression in re.findall(r"\{\{\s*(.*?)\s*\}\}", text):
        if name and re.search(rf"(^|\.){re.escape(name)}\b", expression):
            return f"`{expression}` is not defined"
    return message



def _variables_hint(variables: Mapping[str, Any]) -> str:
    parts = []
    for key, value in variables.items():
        if isinstance(value, Mapping) and value:
            parts.append(f"{key}.{{{', '.join(sorted(map(str, value)))}}}")
        elif isinstance(value, Mapping):
            parts.append(f"{key} (empty)")
        else:
            parts.append(key)
    return "available: " + "; ".join(parts)



def command_variables(scenario: Scenario, workload: Workload, *, ports: Mapping[str, int], hosts: Mapping[str, str],
                      peer_ports: Mapping[str, Mapping[str, int]], ready: Mapping[str, Mapping[str, str]],
                      namespace: str = "", run_id: str = "") -> dict[str, Any]:
    return {
        "params": scenario.parameters,
        "args": workload.args,
        "ports": ports,
        "workloads": {name: {"host": host, "ports": peer_ports.get(name, {})} for name, host in hosts.items()},
        "ready": ready,
        "scenario": {"name": scenario.name},
        "workload": {"name": workload.name, "ranks": workload.ranks, "nodes": workload.nodes},
        "platform": {"instanceType": scenario.platform.instance_type, "gpusPerNode": scenario.platform.gpus_per_node,
                     "efaPerNode": scenario.platform.efa_per_node},
        "namespace": namespace,
        "run_id": run_id,
    }



def render_command(scenario: Scenario, workload: Workload, index: int, variables: Mapping[str, Any],
                   command: Any = None, path: tuple = ("command",)) -> list[str] | str:
    command = workload.command if command is None else command
    base = ("workloads", index) + path
    if isinstance(command, str):
        return render_string(command, variables, scenario.sources.with_path(base))
    return [render_string(arg, variables, scenario.sources.with_path(base + (j,))) if _is_template(arg) else arg
            for j, arg in enumerate(command)]



def render_env(scenario: Scenario, workload: Workload, index: int, variables: Mapping[str, Any]) -> dict[str, str]:
    env = {**scenario.env, **workload.env}
    rendered = {}
    for key, value in env.items():
        path = ("workloads", index, "env", key) if key in workload.env else ("env", key)
        rendered[key] = render_string(value, variables, scenario.sources.with_path(path)) if _is_template(value) else value
    return rendered



def placeholder_ready(scenario: Scenario) -> dict[str, dict[str, str]]:
    """What `ready.<workload>.<group>` will hold: the named groups of each readiness regex."""
    ready: dict[str, dict[str, str]] = {}
    for workload in scenario.workloads:
        groups: dict[str, str] = {}
        if workload.ready and workload.ready.log:
            try:
                groups = {name: f"<{workload.name}.{name}>" for name in saferegex.compile(workload.ready.log, multiline=True).groupindex}
            except saferegex.RegexError:
                groups = {}
        ready[workload.name] = groups
    return ready



def check_commands(scenario: Scenario) -> list[Problem]:
    """Render every command and env value with placeholder values; report undefined variables and syntax errors."""
    problems: list[Problem] = []
    hosts = {w.name: f"{w.name}.host" for w in scenario.workloads}
    peer_ports = {w.name: {p: 10000 + i for i, p in enumerate(w.ports)} for w in scenario.workloads}
    ready = placeholder_ready(scenario)
    for index, workload in enumerate(scenario.workloads):
        variables = command_variables(scenario, workload, ports=peer_ports[workload.name], hosts=hosts, peer_ports=peer_ports,
                                      ready=ready, namespace="ns", run_id="run")
        candidates = [(workload.command, ("command",))]
        for executor, override in workload.overrides.items():
            if "command" in override:
                candidates.append((override["command"], (executor, "command")))
        if workload.fallback:
            candidates.append((workload.fallback.command, ("fallback", "command")))
        for command, path in candidates:
            try:
                render_command(scenario, workload, index, variables, command, path)
            except RenderError as error:
                problems.extend(error.problems)
        try:
            render_env(scenario, workload, index, variables)
        except RenderError as error:
            problems.extend(error.problems)
    return problems
