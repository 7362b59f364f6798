"""The tool-truth corpus of this folder, through runner.flows.corpus (the reader `scenario rehearse` uses too).

A case is a folder `<tool>/<version>/<case>/` with `<role>.log` files, a `case.yaml` and a README.md (provenance);
runner/flows/corpus.py says how a case applies to a scenario and which file each workload reads.
"""
from __future__ import annotations

from pathlib import Path

from runner.flows import corpus as _corpus
from runner.flows.corpus import Case, materialize
from runner.scenario.model import Scenario

ROOT = Path(__file__).resolve().parent

__all__ = ["ROOT", "Case", "cases", "healthy_cases", "failure_cases", "materialize"]


def cases() -> list[Case]:
    return _corpus.cases(ROOT)


def healthy_cases(scenario: Scenario) -> list[Case]:
    return _corpus.healthy_cases(scenario, ROOT)


def failure_cases(scenario: Scenario) -> list[Case]:
    return _corpus.failure_cases(scenario, ROOT)
