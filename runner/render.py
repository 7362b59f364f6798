"""Pipeline stage "render": Jinja2 (sandboxed, StrictUndefined) turns a scenario into what an executor runs.

Two kinds of templates:
- commands inside the scenario (`{{ params.threads }}`, `{{ ports.rpc }}`, `{{ ready.target.rpc_address }}`),
  rendered per workload by every executor; errors point at the scenario file and line;
- Kubernetes object templates under templates/kubernetes/<name>.yaml.j2, rendered into
  objects that are validated (built-in kinds against the Kubernetes OpenAPI schemas,
  CRD kinds against the schema subsets in schema/crds) before anything touches a cluster.
"""
from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Mapping

import jinja2
import yaml

from . import saferegex
from .errors import Location, Problem, RenderError
from .load import load_documents
from .model import Scenario, Workload, thaw
from .platforms import INSTANCE_TYPES
from .kube.labels import LABEL_PREFIX, dns_name, run_labels
from .kube.objects import object_problems
from .resources import template_dir
from .sandbox import BoundedSandbox, render_bounded

TEMPLATE_DIR = template_dir()
TEMPLATE_SUFFIX = ".yaml.j2"
DEFAULT_TEMPLATES = {
    "mpi": "mpijob", "group": "leaderworkerset", "job": "job", "service": "deployment", "disaggregated": "disaggregatedset",
}


def _quote_shell(value: Any) -> str:
    import shlex

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


@lru_cache(maxsize=None)
def environment(search_path: str = str(TEMPLATE_DIR)) -> BoundedSandbox:
    env = BoundedSandbox(
        loader=jinja2.FileSystemLoader(search_path),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters.update(shell=_quote_shell, to_yaml=_to_yaml, to_json=_to_json, dns=dns_name)
    env.bytecode_cache = _bytecode_cache(env)
    return env


class _BytecodeCache(jinja2.FileSystemBytecodeCache):
    """Compiled templates kept between runs, so that a cold `scenario validate` does not compile every template
    again (~50 ms). Jinja's private per-user temp directory; the source checksum guards edits; a cache that
    cannot be read or written is not used."""

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except OSError:
            pass

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


def _bytecode_cache(env: jinja2.Environment) -> jinja2.BytecodeCache | None:
    import hashlib

    settings = (jinja2.__version__, type(env).__name__, env.trim_blocks, env.lstrip_blocks, env.keep_trailing_newline,
                env.newline_sequence, env.block_start_string, env.variable_start_string, env.comment_start_string,
                env.line_statement_prefix, env.line_comment_prefix, env.optimized, tuple(sorted(env.extensions)))
    key = hashlib.sha1(repr(settings).encode()).hexdigest()[:16]  # compiled code depends on these, not only on the source
    try:
        return _BytecodeCache(pattern=f"__scenario_runner_{key}_%s.cache")
    except (OSError, RuntimeError):
        return None


@lru_cache(maxsize=None)
def _string_environment() -> BoundedSandbox:
    env = BoundedSandbox(undefined=jinja2.StrictUndefined, keep_trailing_newline=False)
    env.filters.update(shell=_quote_shell, to_json=_to_json)
    return env


def template_names() -> list[str]:
    try:
        stamp = TEMPLATE_DIR.stat().st_mtime_ns  # changes when a template is added, removed or renamed
    except OSError:
        return []
    return list(_template_names(TEMPLATE_DIR, stamp))


@lru_cache(maxsize=8)
def _template_names(directory: Path, stamp: int) -> tuple[str, ...]:
    return tuple(sorted(p.name[: -len(TEMPLATE_SUFFIX)] for p in directory.glob(f"*{TEMPLATE_SUFFIX}") if not p.name.startswith("_")))


# --- commands ----------------------------------------------------------------------------------


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
        return Problem(f"template not allowed: {error}", location, "templates are sandboxed and bounded (runner/sandbox.py)")
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


# --- Kubernetes objects ------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedObject:
    """One Kubernetes object with the template it came from; `filename` is stable for readable PR diffs."""

    order: int
    workload: str
    template: str
    body: Mapping[str, Any]

    @property
    def kind(self) -> str:
        return self.body.get("kind", "")

    @property
    def name(self) -> str:
        return self.body.get("metadata", {}).get("name", "")

    @property
    def filename(self) -> str:
        return f"{self.order:02d}-{self.kind.lower()}-{self.name}.yaml"


KIND_ORDER = {"Namespace": 0, "ServiceAccount": 1, "Role": 1, "RoleBinding": 1, "ConfigMap": 2, "Secret": 2, "Service": 3}


def object_name(scenario: Scenario | None, workload: str) -> str:
    """The workload's object name; a run pinned to nodes (platform.nodes) adds a suffix of them, so that runs
    pinned to different node sets (triage's parallel sets) can share a namespace."""
    nodes = scenario.platform.nodes if scenario is not None else ()
    if not nodes:
        return dns_name(workload, 50)
    return f"{dns_name(workload, 43)}-{nodes_suffix(nodes)}"


def nodes_suffix(nodes: Iterable[str]) -> str:
    import hashlib

    return hashlib.sha1(",".join(sorted(nodes)).encode()).hexdigest()[:6]


def resources_for(scenario: Scenario, workload: Workload) -> dict[str, Any]:
    """Per-pod resources: GPU and EFA counts follow the instance type on GPU nodes unless stated."""
    platform = scenario.platform
    instance = INSTANCE_TYPES.get(platform.instance_type)
    stated = dict(workload.resources)
    gpu_node = workload.node == "gpu"
    gpus = stated.get("gpus", platform.gpus_per_node if gpu_node else 0)
    efa = stated.get("efa", platform.efa_per_node if gpu_node else 0)
    return {
        "gpus": gpus,
        "efa": efa,
        "cpu": stated.get("cpu", ""),
        "memory": stated.get("memory", platform.memory if gpu_node else ""),
        "hugepages2Mi": stated.get("hugepages2Mi", platform.hugepages_2mi if gpu_node and efa else ""),
        "shmSize": platform.shm_size if gpu_node else "",
        "arch": instance.arch if instance else platform.arch,
    }


def kubernetes_variables(scenario: Scenario, workload: Workload, index: int, run_id: str) -> dict[str, Any]:
    namespace = scenario.platform.namespace
    hosts = {w.name: f"{object_name(scenario, w.name)}.{namespace}.svc" for w in scenario.workloads}
    peer_ports = {w.name: dict(w.ports) for w in scenario.workloads}
    ready = {w.name: {} for w in scenario.workloads}
    variables = command_variables(scenario, workload, ports=dict(workload.ports), hosts=hosts, peer_ports=peer_ports,
                                  ready=ready, namespace=namespace, run_id=run_id)
    command = render_command(scenario, workload, index, variables)
    env = render_env(scenario, workload, index, variables)
    return {
        **variables,
        "name": object_name(scenario, workload.name),
        "labels": run_labels(scenario, run_id, workload.name),
        "selector": {f"{LABEL_PREFIX}/run-id": run_id, f"{LABEL_PREFIX}/workload": dns_name(workload.name)},
        "image": scenario.image_ref(workload.image) if workload.image else "",
        "command": command,
        "env": env,
        "resources": resources_for(scenario, workload),
        "spec": workload,  # the whole workload record (kind, role, ranks, nodes, replicas, group_size, ...)
        "platform_spec": scenario.platform,
        "pinned_nodes": list(scenario.platform.nodes),
        "node_selector": {"node.kubernetes.io/instance-type": scenario.platform.instance_type, **scenario.platform.node_selector}
        if workload.node == "gpu" else dict(scenario.platform.node_selector),
        "peers": {w.name: {"name": object_name(scenario, w.name), "host": hosts[w.name], "ports": dict(w.ports), "role": w.role,
                           "kind": w.kind} for w in scenario.workloads},
        "after": [{"name": object_name(scenario, d), "host": hosts[d], "ports": peer_ports[d],
                   "ready": _ready_dict(scenario.workload(d)),
                   # kind and args let a template wait on each role of a DisaggregatedSet dependency
                   "kind": scenario.workload(d).kind, "args": scenario.workload(d).args}
                  for d in workload.after if d in hosts],
    }


def _ready_dict(workload: Workload) -> dict[str, Any]:
    ready = workload.ready
    if not ready:
        return {}
    return {"port": ready.port, "log": ready.log, "http_port": ready.http_port, "http_path": ready.http_path}


def render_kubernetes(scenario: Scenario, run_id: str = "render", *, validate: bool = True) -> list[RenderedObject]:
    env = environment()
    objects: list[RenderedObject] = []
    namespace_vars = {"namespace": scenario.platform.namespace, "labels": run_labels(scenario, run_id), "scenario": {"name": scenario.name}}
    objects += _render_template(env, "namespace", namespace_vars, "")
    for index, raw_workload in enumerate(scenario.workloads):
        workload = raw_workload.for_executor("kubernetes")
        template = workload.template or DEFAULT_TEMPLATES[workload.kind]
        variables = kubernetes_variables(scenario, workload, index, run_id)
        objects += _render_template(env, template, variables, workload.name, scenario.sources.with_path(("workloads", index)))
    ordered = sorted(objects, key=lambda o: (KIND_ORDER.get(o.kind, 5), o.order))
    numbered = [RenderedObject(i, o.workload, o.template, o.body) for i, o in enumerate(ordered)]
    if validate:
        problems = [p for o in numbered for p in object_problems(o.body, f"{o.template}{TEMPLATE_SUFFIX}")]
        if problems:
            raise RenderError(problems)
    return numbered


def _render_template(env, template: str, variables: Mapping[str, Any], workload: str, location: Location | None = None) -> list[RenderedObject]:
    filename = f"{template}{TEMPLATE_SUFFIX}"
    try:
        text = render_bounded(env.get_template(filename), variables)
    except jinja2.TemplateNotFound:
        raise RenderError(Problem(f"no template {filename} under {TEMPLATE_DIR}", location or Location(),
                                  f"templates: {', '.join(template_names())}")) from error
    except jinja2.UndefinedError as error:
        raise RenderError(Problem(f"undefined variable in template: {error.message}", _template_location(error, filename),
                                  f"rendering workload {workload or '(namespace)'}; variables: {', '.join(sorted(variables))}")) from error
    except jinja2.TemplateSyntaxError as error:
        raise RenderError(Problem(f"template syntax error: {error.message}", Location(str(TEMPLATE_DIR / filename), error.lineno or 0, 1))) from error
    except Exception as error:  # noqa: BLE001  (values from the scenario reach the template)
        raise RenderError(template_failure(error, _template_location(error, filename))) from error
    try:
        documents = [d for d in load_documents(text) if d]
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise RenderError(Problem(f"template {filename} rendered invalid YAML: {getattr(error, 'problem', error)}",
                                  Location(f"{filename} (rendered)", mark.line + 1 if mark else 0, mark.column + 1 if mark else 0),
                                  "values that may hold `:` or `#` need the `to_yaml` filter: {{ value | to_yaml }}")) from error
    return [RenderedObject(i, workload, template, d) for i, d in enumerate(documents)]


def _template_location(error: Exception, filename: str) -> Location:
    """Jinja rewrites tracebacks so template frames carry the template file and line."""
    tb = sys.exc_info()[2] or error.__traceback__
    line, where = 0, str(TEMPLATE_DIR / filename)
    while tb is not None:  # the innermost template frame: a macro's own file, not the template that imported it
        if tb.tb_frame.f_code.co_filename.endswith(TEMPLATE_SUFFIX):
            line, where = tb.tb_lineno, tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    return Location(where, line, 1)


class _ReadableDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):
    """Multi-line strings (launcher scripts, init scripts) as literal blocks, so a PR diff shows them line by line.
    libyaml's emitter where it is there: the same text, several times faster (every run writes its objects)."""


def _string(dumper: yaml.SafeDumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_ReadableDumper.add_representer(str, _string)


def readable_yaml(body: Any) -> str:
    return yaml.dump(thaw(body), Dumper=_ReadableDumper, sort_keys=False, width=120)


def write_objects(objects: Iterable[RenderedObject], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("*.yaml"):
        stale.unlink()
    written = []
    for obj in objects:
        path = out_dir / obj.filename
        path.write_text(readable_yaml(obj.body))
        written.append(path)
    return written
