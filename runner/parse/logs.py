"""Pipeline stage "parse": a tool's output becomes named metrics with units.

Parsers live in runner/parse/, one module per tool, registered by name with
`@parser("nccl-tests")`. A parser takes an iterator of text lines (streamed, so
memory stays bounded however big the log) and returns a ParseResult. It raises
ParseError when the output is malformed or truncated: a wrong number is worse
than no number.
"""
from __future__ import annotations

import os
import stat
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable, Mapping

from runner.base import budget
from runner.base.errors import ParseError, ScenarioError
from runner.base.limits import file_kind
from runner.base.saferegex import bounded_lines
from runner.parse import mooncake, nccl_tests, regex, sglang_bench_serving, uccl_ep  # noqa: F401  (importing registers them)
from runner.parse.base import (  # noqa: F401  (the stage's types)
    CATALOGS,
    PARSERS,
    Metric,
    ParseResult,
    ParserFn,
    Series,
    Value,
    parser,
)
from runner.parse.catalog import Catalog, option_problems


def catalog_of(name: str) -> Catalog | None:
    """The metric catalog of a parser, None for an unknown parser."""
    return CATALOGS.get(name)


def parser_names() -> list[str]:
    return sorted(PARSERS)


def get_parser(name: str) -> ParserFn:
    if name not in PARSERS:
        raise ScenarioError(PARSERS.unknown_message(name))
    return PARSERS[name]


def get_catalog(name: str) -> Catalog:
    get_parser(name)
    return CATALOGS[name]


def parse_lines(name: str, lines: Iterable[str], source: str = "<stdin>", options: Mapping[str, Any] | None = None) -> ParseResult:
    options = dict(options or {})
    catalog = get_catalog(name)
    for _, problem, hint in option_problems(catalog, options):
        raise ParseError(name, source, problem, hint=hint)
    counted = CountedLines(lines, source)
    try:
        result = get_parser(name)(counted, source, options)
    except ParseError:
        raise
    except budget.BudgetSpent as spent:
        raise ParseError(name, f"{source}:{counted.line}", f"{spent} (at line {counted.line})",
                         hint="parsing is linear in the log's size: a log this big is not what the tool prints") from None
    except Exception as error:  # noqa: BLE001  (a log is untrusted input: whatever a parser trips on, name the place)
        where = f"{source}:{counted.line}" if counted.line else source
        raise ParseError(name, where, f"unexpected content near line {counted.line} ({type(error).__name__}: {error})"[:2000],
                         hint="the log is not what this parser knows; `scenario parse` on it shows the same") from None
    return declared_only(result, catalog, options)


class CountedLines:
    """The lines of a log, counted so that a parser failure names the line it was at; every SPEND_EVERY lines
    (at most that many MiB: lines come in pieces of MAX_LINE) the time budget is checked."""

    SPEND_EVERY = 64

    def __init__(self, lines: Iterable[str], source: str = ""):
        self._lines = iter(lines)
        self.line = 0
        self.source = source

    def __iter__(self) -> "CountedLines":
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.line += 1
        if self.line % self.SPEND_EVERY == 1:
            budget.spend(self.source)
        return line


def declared_only(result: ParseResult, catalog: Catalog, options: Mapping[str, Any]) -> ParseResult:
    """The result with each metric's unit, direction and kind from the catalog. A value outside its domain (NaN, an
    infinity, a negative time, a bandwidth above what any hardware reaches) is no measurement: the metric goes to
    `implausible` with the reason, and a check on it is an ERROR that says so (never a PASS, never silently missing)."""
    declared = catalog.metrics_for(options)
    metrics, implausible = {}, dict(result.implausible)
    for name, metric in result.metrics.items():
        spec = declared.get(name)
        if spec is None:  # a parser bug: say so rather than hand on a metric nobody described
            raise ParseError(result.parser, result.source, f"the parser yielded {name!r}, which its catalog does not declare")
        if problem := spec.domain_problem(metric.value):
            implausible[name] = f"{name} {problem}"
            continue
        metrics[name] = Metric(name, metric.value, spec.unit, spec.better, spec.kind)
    return replace(result, metrics=metrics, implausible=implausible)


def parse_file(name: str, path: str | Path, options: Mapping[str, Any] | None = None) -> ParseResult:
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ParseError(name, str(path), "the log file does not exist", hint="did the workload run and write its output?") from None
    except OSError as error:
        raise ParseError(name, str(path), f"cannot read the log: {error.strerror or error}") from None
    if not stat.S_ISREG(info.st_mode):  # a FIFO would block and /dev/zero never ends: refused unread
        raise ParseError(name, str(path), f"not a regular file ({file_kind(info.st_mode)})",
                         hint="a log is a regular file; devices, FIFOs, sockets and directories are refused")

    try:
        handle = path.open("r", encoding="utf-8", errors="replace")
    except OSError as error:
        raise ParseError(name, str(path), f"cannot read the log: {error.strerror or error}") from None
    with handle:
        return parse_lines(name, bounded_lines(handle), str(path), options)
