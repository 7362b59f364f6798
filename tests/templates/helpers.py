"""Rendering scenarios for the template tests, and walking the objects they give."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from runner.flows.check import validate_scenario
from runner.render.kubernetes import render_kubernetes
from runner.scenario.model import thaw
from runner.scenario.resolve import Library

RUN_ID = "test-run"
REPO_ROOT = Path(__file__).resolve().parents[2]
VERSIONS_ENV = REPO_ROOT / "cluster" / "versions.env"   # the pins of the local control plane (issue 25)
# The upstream CRDs the rendered objects are checked against: files of the Go modules pinned in cluster/versions.env
# (the same the control plane installs, cluster/build.sh), fetched into GOMODCACHE by `go mod download`.
CRD_MODULES = {
    "sigs.k8s.io/lws": ("LWS_VERSION", ("config/crd/bases/leaderworkerset.x-k8s.io_leaderworkersets.yaml",
                                        "config/crd/bases/disaggregatedset.x-k8s.io_disaggregatedsets.yaml")),
    "github.com/kubeflow/mpi-operator": ("MPI_OPERATOR_VERSION", ("manifests/base/kubeflow.org_mpijobs.yaml",)),
}
GO_DOWNLOAD_TIMEOUT_S = 600
RUN_LABELS = ("app.kubernetes.io/managed-by", "scenario-runner.dev/run-id", "scenario-runner.dev/scenario")


@lru_cache(maxsize=None)
def library() -> Library:
    return Library(REPO_ROOT / "scenarios")


def kubernetes_scenarios() -> list[str]:
    return [name for name in library().names() if "kubernetes" in validate_scenario(name, library()).executors]


@lru_cache(maxsize=None)
def scenario(name: str, *overrides: str):
    return validate_scenario(name, library(), overrides)


@lru_cache(maxsize=None)
def _rendered(name: str, overrides: tuple[str, ...]) -> tuple:
    return tuple((o.workload, thaw(o.body)) for o in render_kubernetes(scenario(name, *overrides), RUN_ID))


def objects(name: str, *overrides: str) -> list[dict]:
    """The rendered objects of a scenario (plain dicts, a fresh copy each call)."""
    return [yaml.safe_load(yaml.safe_dump(body)) for _, body in _rendered(name, overrides)]


def by_kind_name(name: str, *overrides: str) -> dict[tuple[str, str], dict]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects(name, *overrides)}


def get(obj: Any, path: str) -> Any:
    """get(obj, "spec.mpiReplicaSpecs.Worker.replicas"); numbers index lists."""
    for part in path.split("."):
        obj = obj[int(part)] if isinstance(obj, list) else obj[part]
    return obj


def pod_templates(node: Any, path: tuple = ()) -> Iterator[tuple[tuple, dict]]:
    """Every PodTemplateSpec inside an object: a mapping whose spec has containers."""
    if isinstance(node, dict):
        if isinstance(node.get("spec"), dict) and "containers" in node["spec"]:
            yield path, node
            return
        for key, value in node.items():
            yield from pod_templates(value, path + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from pod_templates(value, path + (index,))


def containers(obj: dict) -> Iterator[tuple[tuple, dict]]:
    for path, template in pod_templates(obj):
        for kind in ("initContainers", "containers"):
            for index, container in enumerate(template["spec"].get(kind, [])):
                yield path + ("spec", kind, index), container


def flatten(node: Any, path: tuple = ()) -> dict[tuple, Any]:
    """{path: leaf value} of a nested structure (empty dicts and lists are leaves too)."""
    if isinstance(node, dict) and node:
        return {p: v for key, value in node.items() for p, v in flatten(value, path + (key,)).items()}
    if isinstance(node, list) and node:
        return {p: v for index, value in enumerate(node) for p, v in flatten(value, path + (index,)).items()}
    return {path: node}


def env_of(container: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def script_of(cmd: list[str]) -> str:
    return " ".join(cmd)


def pinned_versions() -> dict[str, str]:
    """cluster/versions.env: KEY=VALUE lines (comments and blank lines aside)."""
    pairs = (line.split("=", 1) for line in VERSIONS_ENV.read_text().splitlines() if "=" in line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def module_dirs(modules: dict[str, str]) -> dict[str, Path]:
    """{module: version} -> {module: its folder in GOMODCACHE}, downloaded by `go mod download -json` when missing.
    Raises LookupError with Go's own message when a module cannot be had (offline and not cached)."""
    argv = ["go", "mod", "download", "-json", *(f"{m}@{v}" for m, v in modules.items())]
    done = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=GO_DOWNLOAD_TIMEOUT_S,
                          env={**os.environ, "GOFLAGS": "-mod=mod"})
    found, decoder, text = {}, json.JSONDecoder(), done.stdout.strip()
    while text:
        entry, end = decoder.raw_decode(text)
        text = text[end:].strip()
        if entry.get("Error"):
            raise LookupError(f"go mod download {entry.get('Path')}@{entry.get('Version')}: {entry['Error']}")
        found[entry["Path"]] = Path(entry["Dir"])
    if done.returncode != 0 or set(found) != set(modules):
        raise LookupError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return found


@lru_cache(maxsize=None)
def pinned_crd_files() -> tuple[Path, ...]:
    """The CRD manifests of the pinned modules; skips (naming why) only when Go is not installed."""
    if shutil.which("go") is None:
        pytest.skip("Go is not installed: the upstream CRDs are read from the Go modules pinned in cluster/versions.env "
                    "(`go mod download`); install Go (https://go.dev/dl/) to run these tests")
    versions = pinned_versions()
    dirs = module_dirs({module: versions[key] for module, (key, _) in CRD_MODULES.items()})
    return tuple(dirs[module] / file for module, (_, files) in CRD_MODULES.items() for file in files)


def crd_schemas(files: tuple[Path, ...] | None = None) -> dict[tuple[str, str], list[tuple[str, dict]]]:
    """(apiVersion, kind) -> [(CRD file, openAPIV3Schema)] of every served version in the pinned modules' CRDs."""
    schemas: dict[tuple[str, str], list[tuple[str, dict]]] = {}
    for path in files if files is not None else pinned_crd_files():
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            spec = crd["spec"]
            for version in spec["versions"]:
                if version.get("served"):
                    key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                    schemas.setdefault(key, []).append((path.name, version["schema"]["openAPIV3Schema"]))
    return schemas


def strict(schema: Any) -> Any:
    """The schema with unknown fields forbidden wherever it lists properties: the API server would prune
    them silently, so a misspelt field would pass plain validation and vanish on apply."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: strict(value) for key, value in schema.items() if key != "properties"}
    if "properties" in schema:
        result["properties"] = {key: strict(value) for key, value in schema["properties"].items()}
        if "additionalProperties" not in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
            result["additionalProperties"] = False
    return result
