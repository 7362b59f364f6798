"""What every parser shares: the result types (Metric, Series, ParseResult) and the registries parsers join with
`@parser("nccl-tests", CATALOG)`. Parser modules import this, never runner.parse, so the stage imports them one way."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

from runner.base.registry import Registry
from runner.parse.catalog import Catalog

Value = float | int | str | None


@dataclass(frozen=True)
class Metric:
    """One measured value. `better` says which direction is an improvement ("higher", "lower" or ""); `kind` is
    performance, correctness or info (runner.catalog). The parse stage fills unit, better and kind from the catalog."""

    name: str
    value: Value
    unit: str = ""
    better: str = ""
    kind: str = ""
    samples: tuple = ()  # with repeats: every repeat's value (value is then their median)


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
    """What a parser read from one log: metrics, series, facts, and why any metric is absent or implausible."""

    parser: str
    source: str
    metrics: Mapping[str, Metric]
    series: Mapping[str, Series] = field(default_factory=dict)
    info: Mapping[str, str] = field(default_factory=dict)  # tool versions and other facts read from the log
    absent: Mapping[str, str] = field(default_factory=dict)  # metric -> why the log does not carry it this time
    implausible: Mapping[str, str] = field(default_factory=dict)  # metric -> why its value is no measurement (NaN, above a ceiling)

    def value(self, name: str) -> Value:
        return self.metrics[name].value


ParserFn = Callable[[Iterator[str], str, Mapping[str, Any]], ParseResult]

PARSERS: Registry = Registry("parser")
CATALOGS: Registry = Registry("parser catalog")


def parser(name: str, catalog: Catalog) -> Callable[[ParserFn], ParserFn]:
    """Register a parser with its catalog: every metric it can yield and every option it takes."""
    def decorate(fn: ParserFn) -> ParserFn:
        PARSERS.register(name)(fn)
        CATALOGS.register(name)(catalog)
        return fn

    return decorate
