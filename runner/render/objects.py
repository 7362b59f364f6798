"""Rendered Kubernetes objects checked against schemas before anything is applied: CRD subsets shipped in
schema/crds (MPIJob, LeaderWorkerSet, DisaggregatedSet) and kubernetes-validate's strict OpenAPI schemas for
built-in kinds."""
from __future__ import annotations

import importlib.util
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from runner.base import cache
from runner.base.errors import Location, Problem, RunnerError
from runner.base.resources import schema_dir
from runner.scenario import schemas
from runner.scenario.model import thaw
from runner.scenario.schemas import QuickValidator, inline_refs, jsonschema_validator

K8S_VERSION = "1.33"
CACHE_FORMAT = 1  # bump when the cached tuple's shape changes


@lru_cache(maxsize=None)
def _crd_validators() -> dict[tuple[str, str], Any]:
    validators = {}
    for path in (schema_dir() / "crds").glob("*.json"):
        group, version, kind = path.stem.split("_")
        schema = json.loads(path.read_text())
        validators[(f"{group}/{version}", kind)] = QuickValidator(schema, lambda schema=schema: jsonschema_validator("Draft7Validator", schema))
    return validators


def object_problems(body: Mapping[str, Any], template_file: str) -> list[Problem]:
    """What is wrong with one rendered object: checked against its CRD subset (schema/crds) or, for built-in
    kinds, kubernetes-validate's strict schema of K8S_VERSION."""
    body = thaw(body)
    api_version, kind = body.get("apiVersion", ""), body.get("kind", "")
    where = Location(f"{template_file} -> {kind}/{(body.get('metadata') or {}).get('name', '')}")
    validator = _crd_validators().get((api_version, kind))
    if validator is not None:
        return [Problem(f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}", where, f"checked against schema/crds ({api_version} {kind})")
                for e in validator.iter_errors(body)]
    return _validate_builtin(body, where)


def _validate_builtin(body: dict, where: Location) -> list[Problem]:
    try:
        validator = _builtin_validator(str(body.get("apiVersion", "")), str(body.get("kind", "")))
        if validator is None:
            return [Problem(f"no schema for {body.get('apiVersion')} {body.get('kind')}", where,
                            "add its CRD subset to schema/crds with schema/crds/extract.py")]
        errors = list(validator.iter_errors(body))
        if errors:
            from jsonschema.exceptions import (
                best_match,  # jsonschema costs ~60 ms: only to explain an invalid object
            )

            errors = [best_match([error]) for error in errors]
    except ImportError as error:  # a dependency of the package: its absence is a broken install, not a valid object
        raise RunnerError(f"rendered objects cannot be checked: {error}",
                          hint="install the package's dependencies again (`make setup`, or `pip install kubernetes-validate`)") from error
    except Exception as error:  # unreadable schema files, unresolvable references
        return [Problem(f"could not validate: {error}", where)]
    hint = f"checked against the Kubernetes {K8S_VERSION} OpenAPI schema"
    return [Problem(f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}", where, hint) for e in errors]


@lru_cache(maxsize=None)
def _builtin_validator(api_version: str, kind: str):
    """One validator per (apiVersion, kind), built once from kubernetes-validate's strict schemas (its validate()
    re-reads the 1.4 MB definitions file on every call, ~15 ms per object). None when there is no schema for the
    kind; ImportError when kubernetes-validate is not installed."""
    directory = _builtin_schema_dir()
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)  # rbac.authorization.k8s.io/v1 -> rbac-v1
    path = directory / f"{kind.lower()}-{group}.json"
    if not kind or not path.is_file():
        return None
    schema, inlined = _inlined_schema(path, directory)

    def make():  # leftover (recursive) references resolve through the registry, as kubernetes-validate does it
        from referencing import (  # with jsonschema: only for an object whose kind has recursive references
            Registry,
            Resource,
        )

        registry = Resource.from_contents(_builtin_definitions(directory)) @ (Resource.from_contents(schema) @ Registry())
        return jsonschema_validator("Draft202012Validator", inlined, registry=registry)

    return QuickValidator(inlined, make)


def _inlined_schema(path: Path, directory: Path) -> tuple[dict, dict]:
    """The kind's schema and its copy with references inlined, from the cache when kubernetes-validate's files are
    those it was made from: inlining reads the 1.4 MB definitions (~15 ms of each `scenario validate`)."""
    sources = [path, directory / "_definitions.json", Path(__file__), Path(schemas.__file__)]  # the code that inlines
    cached = cache.read("k8s-schema", sources, CACHE_FORMAT)
    if cached is not None:
        return cached
    schema = json.loads(path.read_text())
    definitions = _builtin_definitions(directory)

    def lookup(ref: str):  # "/api/_definitions.json#/$defs/X" from a kind, "#/$defs/X" inside the definitions
        name = ref.rpartition("#/$defs/")[2] if "#/$defs/" in ref else None
        return (f"/api/_definitions.json#/$defs/{name}", definitions["$defs"][name]) if name in definitions["$defs"] else None

    made = (schema, inline_refs(schema, lookup))
    cache.write("k8s-schema", sources, CACHE_FORMAT, made)
    return made


@lru_cache(maxsize=None)
def _builtin_schema_dir() -> Path:
    """kubernetes-validate's strict schemas for K8S_VERSION (the newest version not above it), found without
    importing the package (it imports jsonschema, ~60 ms)."""

    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("kubernetes-validate is not installed")
    root = Path(list(spec.submodule_search_locations)[0]) / "kubernetes-json-schema"
    wanted = tuple(int(part) for part in K8S_VERSION.split("."))
    versions = []
    for candidate in root.iterdir():
        match = re.fullmatch(r"v(\d+)\.(\d+)\.(\d+)-local-strict", candidate.name)
        if match and (int(match[1]), int(match[2])) <= wanted:
            versions.append(((int(match[1]), int(match[2]), int(match[3])), candidate))
    if not versions:
        raise ImportError(f"kubernetes-validate has no schemas for Kubernetes {K8S_VERSION}")
    return max(versions)[1]


@lru_cache(maxsize=None)
def _builtin_definitions(directory: Path) -> dict:
    return json.loads((directory / "_definitions.json").read_text())
