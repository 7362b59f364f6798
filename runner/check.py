"""`scenario validate` over files: each one validated, then planned (rendered) for every executor it declares,
so template and object errors surface before a run. The layer above both stages: validate never calls render's
plans, render never calls validate."""
from __future__ import annotations

from .delta import expand_attempts, for_executor, runs_on
from .errors import Problem, RunnerError, ScenarioError
from .executors import get_executor
from .model import Scenario
from .resolve import Library
from .sandbox import bounded_rendering
from .validate import validate_scenario


def validate_files(targets: list[str], library: Library, *, render: bool = True) -> tuple[list, list]:
    """Validate many scenarios; returns ([(target, Scenario)], [(target, [Problem])])."""
    ok, invalid = [], []
    for target in targets:
        try:
            with bounded_rendering():
                scenario = validate_scenario(target, library)
                if render:
                    render_check(scenario)
            ok.append((target, scenario))
        except ScenarioError as error:
            invalid.append((target, error.problems))
    return ok, invalid


def render_check(scenario: Scenario) -> None:
    """Render for every executor the scenario declares, so template errors surface at validate time."""
    problems: list[Problem] = []
    for name in dict.fromkeys(scenario.executors + (("local",) if runs_on(scenario, "local") else ())):
        try:
            get_executor(name).plan(expand_attempts(for_executor(scenario, name)), None)
        except ScenarioError as error:
            problems.extend(error.problems)
        except RunnerError as error:
            problems.append(Problem(error.message, scenario.sources.with_path(("executors",))))
    if problems:
        raise ScenarioError(problems)
