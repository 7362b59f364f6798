"""The one entry every command and flow validates a scenario through, and `scenario validate` over files.

A scenario is validated by its own language's rules (runner.scenario: schema, meaning, lints, commands) plus what
the layers above it own: the executors that exist and the `triage:` block. Files are then planned (rendered) for
every executor they declare, so template and object errors surface before a run."""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Iterable

from runner.base.errors import Problem, RunnerError, ScenarioError
from runner.execute import executor_names, get_executor
from runner.flows.triage.settings import triage_problems
from runner.scenario import overlay
from runner.scenario import validate as language
from runner.scenario.model import Scenario
from runner.scenario.resolve import Library, Resolved, apply_overrides, resolve
from runner.scenario.sandbox import bounded_rendering

PLUGINS = language.Plugins(executors=tuple(executor_names()), checks=(triage_problems,))


def validate_scenario(name_or_path: str, library: Library | None = None, overrides: Iterable[str] = ()) -> Scenario:
    """The scenario, resolved and validated, or ScenarioError with every problem."""
    return language.validate_scenario(name_or_path, library or Library(), overrides, PLUGINS)


@dataclass(frozen=True)
class Inspection:
    """A scenario as far as it resolves: the merged document (None when even that failed), the validated scenario
    (None when invalid) and every problem. For `scenario show` and `scenario diff`, which print an invalid scenario too."""

    resolved: Resolved | None
    scenario: Scenario | None
    problems: tuple[Problem, ...] = ()


def inspect(name_or_path: str, library: Library | None = None, overrides: Iterable[str] = ()) -> Inspection:
    library = library or Library()
    try:
        with bounded_rendering():
            resolved = resolve(name_or_path, library, overrides)
    except ScenarioError as error:
        return Inspection(None, None, tuple(error.problems))
    try:
        with bounded_rendering():
            return Inspection(resolved, language.validate_resolved(resolved, library, plugins=PLUGINS))
    except ScenarioError as error:
        return Inspection(resolved, None, tuple(error.problems))


def for_executor(scenario: Scenario, executor: str, library: Library | None = None, overrides: Iterable[str] = ()) -> Scenario:
    """The scenario as `executor` runs it (its `local:` overlay merged and validated against the same library)."""
    return overlay.for_executor(scenario, executor, library or Library(), overrides, PLUGINS)


def validate_files(targets: list[str], library: Library, *, render: bool = True) -> tuple[list, list]:
    """Validate many scenarios; returns ([(target, Scenario)], [(target, [Problem])])."""
    ok, invalid = [], []
    for target in targets:
        try:
            with bounded_rendering():
                scenario = validate_scenario(target, library)
                if render:
                    render_check(scenario, library)
                    matrix_check(scenario, target, library)
            ok.append((target, scenario))
        except ScenarioError as error:
            invalid.append((target, error.problems))
    return ok, invalid


def matrix_check(scenario: Scenario, target: str, library: Library) -> None:
    """What `run` refuses in a `matrix:`: each value of each axis validated as a sweep validates its variants
    (`--set path=value`), so an unknown path or a value the scenario cannot take is an error before anything runs."""
    problems: list[Problem] = []
    base = resolve(target, library) if scenario.matrix else None  # once: each value is a --set on the same document
    for key, values in scenario.matrix.items():
        found: dict[str, Problem] = {}
        for value in values:
            try:
                data, sources = apply_overrides(base.data, base.sources, [f"{key}={json.dumps(value)}", "matrix={}"])
                language.validate_resolved(replace(base, data=data, sources=sources), library, plugins=PLUGINS)
            except ScenarioError as error:
                for problem in error.problems:
                    text = problem.message.replace(f"--set {f'{key}={json.dumps(value)}'!r}: ", "")
                    found.setdefault(text, Problem(f"matrix {key}: {text}", scenario.sources.with_path(("matrix", key), key=True),
                                                   problem.hint))
        problems += found.values()
    if problems:
        raise ScenarioError(problems)


def render_check(scenario: Scenario, library: Library | None = None) -> None:
    """Render for every executor the scenario declares, so template errors surface at validate time."""
    problems: list[Problem] = []
    for name in dict.fromkeys(scenario.executors + (("local",) if overlay.runs_on(scenario, "local") else ())):
        try:
            get_executor(name).plan(overlay.expand_attempts(for_executor(scenario, name, library)), None)
        except ScenarioError as error:
            problems.extend(error.problems)
        except RunnerError as error:
            problems.append(Problem(error.message, scenario.sources.with_path(("executors",))))
    if problems:
        raise ScenarioError(problems)
