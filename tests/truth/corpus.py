"""The tool-truth corpus: cases of real (or source-derived) tool output, and how a scenario's workloads read them.

A case is a folder `<tool>/<version>/<case>/` with `<role>.log` files, a `case.yaml` and a README.md (provenance).
`healthy_for: [tags]` makes it the healthy corpus of every scenario that has all those tags; `failure: NAME` with
`failure_for: [tags]` makes it a known failure mode of those scenarios, its missing files taken from `base`.
A workload reads `<role>.log` (its role, else its name; an MPI launcher reads `launcher.log`); each pod of a pool of
replicas reads `<name>-<i>.log` when the case has one (one replica failing), else the shared file; a DisaggregatedSet
workload gets one file per role, named as the controller names the pods (`<name>-<revision>-<role>-<group>`).
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from runner.scenario.model import Scenario, Workload

ROOT = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Case:
    path: Path
    healthy_for: frozenset[str] = frozenset()
    failure: str = ""
    failure_for: frozenset[str] = frozenset()
    base: str = ""

    @property
    def id(self) -> str:
        return self.path.relative_to(ROOT).as_posix()

    def file(self, names: list[str]) -> Path | None:
        for folder in (self.path, ROOT / self.base if self.base else None):
            for name in names:
                if folder is not None and (folder / f"{name}.log").is_file():
                    return folder / f"{name}.log"
        return None

    def own_files(self) -> set[str]:
        return {p.stem for p in self.path.glob("*.log")}


def cases() -> list[Case]:
    found = []
    for meta in sorted(ROOT.glob("*/*/*/case.yaml")):
        data = yaml.safe_load(meta.read_text()) or {}
        found.append(Case(meta.parent, frozenset(data.get("healthy_for") or ()), data.get("failure", ""),
                          frozenset(data.get("failure_for") or ()), data.get("base", "")))
    return found


def healthy_cases(scenario: Scenario) -> list[Case]:
    return [c for c in cases() if c.healthy_for and c.healthy_for <= set(scenario.tags)]


def failure_cases(scenario: Scenario) -> list[Case]:
    """Failure modes that apply: the scenario has the case's tags and a workload reading one of the case's own files."""
    roles = {name for workload in scenario.workloads for name in _names(workload) + _roles(workload)}
    return [c for c in cases() if c.failure and c.failure_for <= set(scenario.tags) and c.own_files() & roles]


def _names(workload: Workload) -> list[str]:
    names = [n for n in (workload.role, workload.name) if n]
    return (["launcher"] if workload.kind == "mpi" else []) + names + _pods(workload)


def _pods(workload: Workload) -> list[str]:
    """A pool of several replicas has one log per pod, `<name>-<i>`; a case may give one pod its own file."""
    replicas = workload.replicas if workload.kind in ("group", "service") else 1
    return [f"{workload.name}-{i}" for i in range(replicas)] if replicas > 1 else []


def _roles(workload: Workload) -> list[str]:
    return list((workload.args.get("roles") or {}).keys()) if workload.kind == "disaggregated" else []


def materialize(scenario: Scenario, case: Case, out: Path) -> Path:
    """A logs folder as a run record has it (`<out>/<workload>/*.log`), from the case's files."""
    for workload in scenario.workloads:
        folder = out / workload.name
        if workload.kind == "disaggregated":
            for role in _roles(workload):
                source = case.file([role])
                if source:
                    folder.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(source, folder / f"{workload.name}-6d4f8b9c7-{role}-0.log")
            continue
        shared = [n for n in _names(workload) if n not in _pods(workload)]
        for index, pod in enumerate(_pods(workload) or [f"{workload.name}-0"]):
            source = case.file([pod] + shared)
            if source:
                folder.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, folder / ("launcher.log" if workload.kind == "mpi" else f"{pod}.log"))
    return out
