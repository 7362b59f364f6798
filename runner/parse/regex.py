"""A parser declared in the scenario: regular expressions whose named groups become metrics.

    parser: regex
    parser_options:
      patterns:
        - {regex: "throughput (?P<throughput_gbps>[0-9.]+) GB/s", unit: GB/s, better: higher, reduce: max}
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

from runner.base import saferegex
from runner.base.errors import ParseError
from runner.parse._common import as_number, excerpt
from runner.parse.base import Metric, ParseResult, parser
from runner.parse.catalog import (
    KINDS,
    NONNEGATIVE_UNITS,
    Catalog,
    MetricSpec,
    OptionSpec,
)

NAME = "regex"
REDUCERS = ("last", "first", "max", "min", "sum", "count", "mean")
NUMERIC_REDUCERS = ("max", "min", "sum", "mean")
BETTER = ("higher", "lower", "")


@dataclass
class Tally:
    """Everything a reducer may ask for, kept as the matches stream by."""

    first: Any = None
    last: Any = None
    count: int = 0
    total: float = 0
    low: float | None = None
    high: float | None = None
    first_text: str | None = None  # the first capture that is not a number

    def add(self, value: Any) -> None:
        if self.count == 0:
            self.first = value
        self.last = value
        self.count += 1
        if isinstance(value, (int, float)):
            self.total += value
            self.low = value if self.low is None else min(self.low, value)
            self.high = value if self.high is None else max(self.high, value)
        elif self.first_text is None:
            self.first_text = value

    def reduce(self, how: str) -> Any:
        return {
            "first": self.first, "last": self.last, "count": self.count, "sum": self.total,
            "min": self.low, "max": self.high, "mean": self.total / self.count if self.count else None,
        }[how]


@dataclass
class Pattern:
    """One `patterns:` entry of the regex parser and what its matches added up to."""

    regex: saferegex.SafePattern
    unit: str
    better: str
    reduce: str
    matches: int = 0
    tallies: dict[str, Tally] = field(default_factory=dict)

    def feed(self, line: str) -> None:
        match = self.regex.search(line.rstrip("\r\n"))
        if not match:
            return
        self.matches += 1
        for name, text in match.groupdict().items():
            if text is not None:
                number = as_number(text)
                self.tallies.setdefault(name, Tally()).add(text if number is None else number)


def _compile(index: int, spec: Any, source: str) -> Pattern:
    where = f"patterns[{index}]"
    if not isinstance(spec, Mapping) or not isinstance(spec.get("regex"), str):
        raise ParseError(NAME, source, f"{where} must be a mapping with a 'regex' string, got {spec!r}")
    try:
        regex = saferegex.compile(spec["regex"])
    except saferegex.RegexError as error:
        raise ParseError(NAME, source, f"{where} regex {spec['regex']!r} is invalid: {error}", hint=saferegex.RE2_HINT) from error
    if not regex.groupindex:
        raise ParseError(NAME, source, f"{where} regex {spec['regex']!r} has no named group", hint="name what to keep: (?P<busbw_gbps>[0-9.]+)")
    reduce, better = spec.get("reduce", "last"), spec.get("better", "")
    if reduce not in REDUCERS:
        raise ParseError(NAME, source, f"{where} reduce must be one of {', '.join(REDUCERS)}, got {reduce!r}")
    if better not in BETTER:
        raise ParseError(NAME, source, f"{where} better must be 'higher', 'lower' or '', got {better!r}")
    return Pattern(regex, str(spec.get("unit", "")), better, reduce)


def _patterns(options: Mapping[str, Any], source: str) -> list[Pattern]:
    specs = options.get("patterns")
    if not isinstance(specs, list) or not specs:
        raise ParseError(NAME, source, "option 'patterns' must be a non-empty list of {regex, unit, better, reduce}")
    patterns = [_compile(i, spec, source) for i, spec in enumerate(specs)]
    names = [name for pattern in patterns for name in pattern.regex.groupindex]
    if duplicates := sorted({name for name in names if names.count(name) > 1}):
        raise ParseError(NAME, source, f"metric name(s) {', '.join(duplicates)} appear in more than one named group")
    return patterns


def _metrics(pattern: Pattern, source: str) -> list[Metric]:
    if not pattern.matches:
        raise ParseError(NAME, source, f"pattern {pattern.regex.pattern!r} never matched")
    metrics = []
    for name in pattern.regex.groupindex:
        tally = pattern.tallies.get(name)
        if tally is None:
            raise ParseError(NAME, source, f"group {name!r} of pattern {pattern.regex.pattern!r} never captured a value")
        if pattern.reduce in NUMERIC_REDUCERS and tally.first_text is not None:
            raise ParseError(
                NAME, source,
                f"group {name!r} of pattern {pattern.regex.pattern!r} captured {excerpt(tally.first_text)}, not a number, but reduce {pattern.reduce!r} needs numbers",
            )
        unit = "count" if pattern.reduce == "count" else pattern.unit
        metrics.append(Metric(name, tally.reduce(pattern.reduce), unit, pattern.better))
    return metrics


PATTERN_KEYS = ("regex", "unit", "better", "reduce", "kind", "description")


def _kind(spec: Mapping[str, Any]) -> str:
    return spec.get("kind") or ("performance" if spec.get("better") else "info")


def _declared(options: Mapping[str, Any]) -> tuple[MetricSpec, ...]:
    """One metric per named group of each pattern, as the pattern declares it."""
    specs = []
    for spec in options.get("patterns") or ():
        reduce, better = spec.get("reduce", "last"), spec.get("better", "")
        unit = "count" if reduce == "count" else str(spec.get("unit", ""))
        # first/last keep text as well as numbers; a direction makes sense only for numbers
        value_type = "integer" if reduce == "count" else "number" if reduce in NUMERIC_REDUCERS else "any"
        for name in _group_names(spec.get("regex")):
            description = str(spec.get("description") or f"group {name!r} of {spec['regex']!r}, reduce {reduce}")
            specs.append(MetricSpec(name, unit, better, _kind(spec), description, type=value_type, signed=unit not in NONNEGATIVE_UNITS))
    return tuple(specs)


def _group_names(pattern: Any) -> tuple[str, ...]:
    try:
        return tuple(saferegex.compile(pattern).groupindex) if isinstance(pattern, str) else ()
    except saferegex.RegexError:
        return ()  # reported where the pattern is compiled for matching


def _pattern_problems(options: Mapping[str, Any]) -> list[str]:
    problems = []
    for index, spec in enumerate(options.get("patterns") or ()):
        if isinstance(spec, Mapping):
            for key in spec:
                if key not in PATTERN_KEYS:
                    problems.append(f"patterns[{index}] has no key {key!r} (keys: {', '.join(PATTERN_KEYS)})")
            if spec.get("kind", "performance") not in KINDS:
                problems.append(f"patterns[{index}] kind must be one of {', '.join(KINDS)}, got {spec.get('kind')!r}")
        try:
            _patterns({"patterns": [spec]}, "<options>")
        except ParseError as error:
            problems.append(error.reason.replace("patterns[0]", f"patterns[{index}]"))
    if not problems:
        try:
            _patterns(options, "<options>")
        except ParseError as error:
            problems.append(error.reason)
    return problems


CATALOG = Catalog(
    NAME,
    "Regular expressions declared in the scenario: each named group becomes a metric.",
    options=(OptionSpec("patterns", "list", "a list of {regex, unit, better, reduce, kind, description}; each named group is a metric"),),
    dynamic=_declared,
    dynamic_note="one metric per named group of the `patterns` option, with the unit, better direction and kind the pattern declares",
    check_options=_pattern_problems,
)


@parser(NAME, CATALOG)
def parse_regex(lines: Iterator[str], source: str, options: Mapping[str, Any]) -> ParseResult:
    patterns = _patterns(options, source)
    for line in lines:
        for pattern in patterns:
            pattern.feed(line)
    metrics = {metric.name: metric for pattern in patterns for metric in _metrics(pattern, source)}
    return ParseResult(NAME, source, metrics)
