"""Pipeline stage "parse": a tool's output becomes named metrics with units.

Parsers live in runner/parsers/, one module per tool, registered by name with
`@parser("nccl-tests")`. A parser takes an iterator of text lines (streamed, so
memory stays bounded however big the log) and returns a ParseResult. It raises
ParseError when the output is malformed or truncated: a wrong number is worse
than no number.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from .errors import ParseError, ScenarioError
from .registry import Registry

Value = float | int | str | None


@dataclass(frozen=True)
class Metric:
    """One measured value. `better` says which direction is an improvement ("higher", "lower" or "")."""

    name: str
    value: Value
    unit: str = ""
    better: str = ""


@dataclass(frozen=True)
class Series:
    """A table of rows for plots, e.g. the per-size rows of nccl-tests."""

    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Value, ...], ...]
    units: tuple[str, ...] = ()

    def column(self, name: str) -> list[Value]:
        """The values of one column, in row order."""
        index = self.columns.index(name)
        return [row[index] for row in self.rows]


@dataclass(frozen=True)
class ParseResult:
    parser: str
    source: str
    metrics: Mapping[str, Metric]
    series: Mapping[str, Series] = field(default_factory=dict)
    info: Mapping[str, str] = field(default_factory=dict)  # tool versions and other facts read from the log

    def value(self, name: str) -> Value:
        return self.metrics[name].value


ParserFn = Callable[[Iterator[str], str, Mapping[str, Any]], ParseResult]

PARSERS: Registry = Registry("parser")
parser = PARSERS.register


def _load_parsers() -> None:
    from . import parsers  # noqa: F401  (importing fills PARSERS)


def parser_names() -> list[str]:
    _load_parsers()
    return sorted(PARSERS)


def get_parser(name: str) -> ParserFn:
    _load_parsers()
    if name not in PARSERS:
        raise ScenarioError(PARSERS.unknown_message(name))
    return PARSERS[name]


def parse_lines(name: str, lines: Iterable[str], source: str = "<stdin>", options: Mapping[str, Any] | None = None) -> ParseResult:
    return get_parser(name)(iter(lines), source, dict(options or {}))


def parse_file(name: str, path: str | Path, options: Mapping[str, Any] | None = None) -> ParseResult:
    path = Path(path)
    if not path.exists():
        raise ParseError(name, str(path), "the log file does not exist", hint="did the workload run and write its output?")
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        return parse_lines(name, handle, str(path), options)
