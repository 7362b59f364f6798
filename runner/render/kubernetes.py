"""Pipeline stage "render": a scenario becomes Kubernetes objects.

The object templates under templates/kubernetes/<name>.yaml.j2 (sandboxed Jinja2, StrictUndefined) are rendered
with each workload's variables (its commands rendered by runner.scenario.templating) into objects that are
validated (built-in kinds against the Kubernetes OpenAPI schemas, CRD kinds against the schema subsets in
schema/crds) before anything touches a cluster.
"""
from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

import jinja2
import yaml

from runner.base.errors import Location, Problem, RenderError
from runner.base.platforms import INSTANCE_TYPES
from runner.base.resources import TEMPLATE_SUFFIX, template_dir, template_names
from runner.render.labels import LABEL_PREFIX, dns_name, run_labels
from runner.render.objects import object_problems
from runner.scenario.load import load_documents
from runner.scenario.model import Scenario, Workload, thaw
from runner.scenario.sandbox import BoundedSandbox, render_bounded
from runner.scenario.templating import (
    FILTERS,
    command_variables,
    render_command,
    render_env,
    template_failure,
)

TEMPLATE_DIR = template_dir()
DEFAULT_TEMPLATES = {
    "mpi": "mpijob", "group": "leaderworkerset", "job": "job", "service": "deployment", "disaggregated": "disaggregatedset",
}


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
    env.filters.update(FILTERS, dns=dns_name)
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
    settings = (jinja2.__version__, type(env).__name__, env.trim_blocks, env.lstrip_blocks, env.keep_trailing_newline,
                env.newline_sequence, env.block_start_string, env.variable_start_string, env.comment_start_string,
                env.line_statement_prefix, env.line_comment_prefix, env.optimized, tuple(sorted(env.extensions)))
    key = hashlib.sha1(repr(settings).encode()).hexdigest()[:16]  # compiled code depends on these, not only on the source
    try:
        return _BytecodeCache(pattern=f"__scenario_runner_{key}_%s.cache")
    except (OSError, RuntimeError):
        return None


# --- commands ----------------------------------------------------------------------------------


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


def namespace_for(scenario: Scenario, options: Mapping[str, Any]) -> str:
    return options.get("namespace") or scenario.platform.namespace


def with_namespace(scenario: Scenario, namespace: str) -> Scenario:
    if namespace == scenario.platform.namespace:
        return scenario
    return replace(scenario, platform=replace(scenario.platform, namespace=namespace))


def render_kubernetes(scenario: Scenario, run_id: str = "render", *, validate: bool = True) -> list[RenderedObject]:
    env = environment()
    objects: list[RenderedObject] = []
    namespace_vars = {"namespace": scenario.platform.namespace, "labels": run_labels(scenario, run_id), "scenario": {"name": scenario.name}}
    objects += _render_template(env, "namespace", namespace_vars, "")
    for index, workload in enumerate(scenario.workloads):
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
    except jinja2.TemplateNotFound as error:
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
