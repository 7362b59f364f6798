"""One small exception hierarchy; exit codes are decided from it in exactly one place (cli.main)."""
from __future__ import annotations

from dataclasses import dataclass

EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_INVALID = 2
EXIT_INFRA = 3
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class Location:
    """Where a problem is: a file, a 1-based line and column, and a JSON path inside the document."""

    file: str = ""
    line: int = 0
    col: int = 0
    path: str = ""

    def __str__(self) -> str:
        where = self.file or "<input>"
        if self.line:
            where += f":{self.line}:{self.col or 1}"
        return where


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario, with its place and a hint."""

    message: str
    location: Location = Location()
    hint: str = ""
    code: str = ""  # lint name, e.g. "env-fi-provider"; empty for schema/syntax problems

    def __str__(self) -> str:
        text = f"{self.location}"
        if self.location.path:
            text += f"  {self.location.path}"
        text += f": {self.message}"
        if self.code:
            text += f" [{self.code}]"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text


class RunnerError(Exception):
    """Base of every error the runner reports to users. Never shown with a traceback."""

    exit_code = EXIT_INFRA

    def __init__(self, message: str, *, location: Location | None = None, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.location = location
        self.hint = hint

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}" if self.location else self.message
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text


class ScenarioError(RunnerError):
    """The scenario is invalid; nothing ran. Carries every problem found, not only the first."""

    exit_code = EXIT_INVALID

    def __init__(self, problems: list[Problem] | Problem | str, *, location: Location | None = None, hint: str = ""):
        if isinstance(problems, str):
            problems = [Problem(problems, location or Location(), hint)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


class RenderError(ScenarioError):
    """A template failed to render or a rendered object is invalid."""


class ParseError(RunnerError):
    """A tool's output could not be turned into metrics (malformed, truncated, empty)."""

    def __init__(self, parser: str, source: str, reason: str, *, hint: str = ""):
        super().__init__(f"parser {parser!r} could not read {source}: {reason}", hint=hint)
        self.parser = parser
        self.source = source
        self.reason = reason


class ExecutionError(RunnerError):
    """An executor could not run a workload (missing binary, crash, cluster error)."""

