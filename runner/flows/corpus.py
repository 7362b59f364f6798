"""The tool-truth corpus (tests/truth in a checkout): cases of real (or source-derived) tool output, and which file each
workload of a scenario prints. Read by the conformance tests and by `scenario rehearse`.

A case is a folder `<tool>/<version>/<case>/` with `<role>.log` files, a `case.yaml` and a README.md (provenance).
`healthy_for: [tags]` makes it the healthy corpus of every scenario that has all those tags; `failure: NAME` with
`failure_for: [tags]` makes it a known failure mode of those scenarios, its missing files taken from `base`;
`exit_codes: {<file stem>: N}` says how the process that printed a file ended, where its README records it (absent: 0);
`set: [path=value]` are the `--set` overrides the recorded run was made with (a 4-GPU run of an 8-GPU scenario),
applied to the scenario before its checks judge the case.
A workload reads `<role>.log` (its role, else its name; an MPI launcher reads `launcher.log`); each pod of a pool of
replicas reads `<name>-<i>.log` when the case has one (one replica failing), else the shared file; a DisaggregatedSet
workload gets one file per role.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import yaml

from runner.scenario.model import Scenario, Workload

DISAGGREGATED_POD = "{workload}-6d4f8b9c7-{role}-0"  # a DisaggregatedSet role's leader pod, as the controller names it


@dataclass(frozen=True)
class Case:
    root: Path
    path: Path
    healthy_for: frozenset[str] = frozenset()
    failure: str = ""
    failure_for: frozenset[str] = frozenset()
    base: str = ""
    exit_codes: Mapping[str, int] = field(default_factory=dict)
    overrides: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return self.path.relative_to(self.root).as_posix()

    @property
    def folders(self) -> tuple[Path, ...]:
        return (self.path, self.root / self.base) if self.base else (self.path,)

    def file(self, names: list[str]) -> Path | None:
        for folder in self.folders:
            for name in names:
                if (folder / f"{name}.log").is_file():
                    return folder / f"{name}.log"
        return None

    def own_files(self) -> set[str]:
        return {p.stem for p in self.path.glob("*.log")}

    def exit_code(self, file: Path) -> int:
        """How the process that printed `file` (one of this case's or its base's files) ended."""
        owner = self if file.parent == self.path else load_case(self.root, file.parent)
        return int(owner.exit_codes.get(file.stem, 0))


def load_case(root: Path, folder: Path) -> Case:
    data = yaml.safe_load((folder / "case.yaml").read_text()) or {}
    return Case(root, folder, frozenset(data.get("healthy_for") or ()), data.get("failure", ""),
                frozenset(data.get("failure_for") or ()), data.get("base", ""), dict(data.get("exit_codes") or {}),
                tuple(str(item) for item in data.get("set") or ()))


def cases(root: Path) -> list[Case]:
    return [load_case(root, meta.parent) for meta in sorted(Path(root).glob("*/*/*/case.yaml"))]


def healthy_cases(scenario: Scenario, root: Path) -> list[Case]:
    return [c for c in cases(root) if c.healthy_for and c.healthy_for <= set(scenario.tags)]


def failure_cases(scenario: Scenario, root: Path) -> list[Case]:
    """Failure modes that apply: the scenario has the case's tags and a workload reading one of the case's own files."""
    roles = {name for workload in scenario.workloads for name in names(workload) + roles_of(workload)}
    return [c for c in cases(root) if c.failure and c.failure_for <= set(scenario.tags) and c.own_files() & roles]


def names(workload: Workload) -> list[str]:
    """The file stems a workload's pods may read, most specific last: launcher (MPI), role, name, per-pod names."""
    found = [n for n in (workload.role, workload.name) if n]
    return (["launcher"] if workload.kind == "mpi" else []) + found + pods(workload)


def pods(workload: Workload) -> list[str]:
    """A pool of several replicas has one log per pod, `<name>-<i>`; a case may give one pod its own file."""
    replicas = workload.replicas if workload.kind in ("group", "service") else 1
    return [f"{workload.name}-{i}" for i in range(replicas)] if replicas > 1 else []


def roles_of(workload: Workload) -> list[str]:
    return list((workload.args.get("roles") or {}).keys()) if workload.kind == "disaggregated" else []


def shared_file(case: Case, workload: Workload) -> Path | None:
    """What every primary pod of the workload prints unless the case gives one pod its own file."""
    return case.file([n for n in names(workload) if n not in pods(workload)])


def pod_file(case: Case, workload: Workload, index: int) -> Path | None:
    """What the workload's primary pod number `index` prints (a pool's replica may have its own file)."""
    own = f"{workload.name}-{index}"
    return case.file([own]) if own in pods(workload) and case.file([own]) else shared_file(case, workload)


def role_file(case: Case, role: str) -> Path | None:
    return case.file([role])


def materialize(scenario: Scenario, case: Case, out: Path) -> Path:
    """A logs folder as a run record has it (`<out>/<workload>/*.log`), from the case's files."""
    for workload in scenario.workloads:
        folder = out / workload.name
        if workload.kind == "disaggregated":
            for role in roles_of(workload):
                source = role_file(case, role)
                if source:
                    folder.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(source, folder / f"{DISAGGREGATED_POD.format(workload=workload.name, role=role)}.log")
            continue
        for index, pod in enumerate(pods(workload) or [f"{workload.name}-0"]):
            source = pod_file(case, workload, index)
            if source:
                folder.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, folder / ("launcher.log" if workload.kind == "mpi" else f"{pod}.log"))
    return out
