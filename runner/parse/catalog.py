"""What each parser declares: every metric it can yield and every option it takes.

A metric's declaration says its unit, which direction is better (or none), its kind and what it means:

- performance: a measured speed or latency; `compare` and `history` gate on these, in their `better` direction.
- correctness: a fact that must hold (wrong results, ranks that passed, the transport in use); checked, never trended.
- info: a setting or an identifier read from the log (a count of sizes, an RPC address); shown, never judged.

Values outside a metric's domain are parse errors, not metrics: every number must be finite, and numbers are
non-negative unless the declaration says `signed` (no negative time, bandwidth or count is ever a measurement).
Options are typed; `option_problems` is what validate and the parse stage both use to refuse bad ones.
"""
from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from runner.base import saferegex

KINDS = ("performance", "correctness", "info")
BETTER = ("higher", "lower", "")
METRIC_TYPES = ("number", "integer", "string", "any")  # any: text or a number (a regex capture)
NONNEGATIVE_UNITS = {"s", "ms", "us", "ns", "B", "KB", "MB", "GB", "KiB", "MiB", "GiB", "GB/s", "Gb/s", "MB/s", "GiB/s", "count",
                     "tok/s", "req/s", "lines", "%"}
# What no bandwidth a tool prints here can exceed: the memory bandwidth of the fastest GPU of runner/base/platforms.py
# (B200, HBM3e 8 TB/s: NVIDIA's B200 datasheet; NVLink 5 gives a GPU 1.8 TB/s in both directions together, EFA on
# p5 3.2 Tb/s). Every byte a collective, an expert-parallel exchange or a KV transfer moves passes through some memory,
# so a figure above 10 TB/s is a corrupted log (or a parser fooled by one), never a measurement.
BANDWIDTH_CEILING_SOURCE = "no GPU's memory moves more than 8 TB/s (B200 HBM3e, NVIDIA's datasheet)"
BANDWIDTH_CEILINGS = {"GB/s": 10_000.0, "GiB/s": 10_000.0 / 1.073741824, "Gb/s": 80_000.0, "MB/s": 10_000_000.0}
OPTION_TYPES = ("integer", "string", "size", "list", "choice")
_SIZE = saferegex.compile(r"\s*\d+\s*[KMGT]?B?\s*", ignorecase=True)


@dataclass(frozen=True)
class MetricSpec:
    """One metric a parser can report: its unit, which direction is better, and what it measures."""

    name: str
    unit: str
    better: str
    kind: str
    description: str
    type: str = "number"
    signed: bool = False  # may a value be negative?

    def __post_init__(self) -> None:
        assert self.kind in KINDS and self.better in BETTER and self.type in METRIC_TYPES, self
        assert not (self.better and self.type == "string"), self

    def domain_problem(self, value: Any) -> str:
        """Why `value` cannot be this metric ("" when it can)."""
        if self.type == "string" or (self.type == "any" and isinstance(value, str)):
            return "" if isinstance(value, str) else f"is {value!r}, not text"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"is {value!r}, not a number"
        if not math.isfinite(value):
            return f"is {value!r}, not a finite number"
        if self.type == "integer" and not float(value).is_integer():
            return f"is {value!r}, not a whole number"
        if value < 0 and not self.signed:
            return f"is negative ({value!r}): a {self.unit or 'value'} of this kind cannot be"
        ceiling = BANDWIDTH_CEILINGS.get(self.unit)
        if ceiling is not None and value > ceiling:
            return f"is {value:g} {self.unit}, above the {ceiling:g} {self.unit} no hardware reaches: {BANDWIDTH_CEILING_SOURCE}"
        return ""

    def accepts_threshold(self, value: Any) -> bool:
        """Can a check compare this metric with `value`?"""
        if self.type == "string":
            return isinstance(value, str)
        if self.type == "any":
            return isinstance(value, (str, int, float)) and not isinstance(value, bool)
        return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class OptionSpec:
    """One option a parser accepts from a scenario's `parser.options`."""

    name: str
    type: str
    description: str
    choices: tuple[str, ...] = ()
    default: Any = None

    def __post_init__(self) -> None:
        assert self.type in OPTION_TYPES and (self.type != "choice" or self.choices), self

    def problem(self, value: Any) -> str:
        """Why `value` is not a valid value of this option ("" when it is)."""
        if self.type == "integer" and (isinstance(value, bool) or not isinstance(value, int)):
            return f"must be an integer, got {value!r}"
        if self.type == "string" and not isinstance(value, str):
            return f"must be text, got {value!r}"
        if self.type == "size" and not ((isinstance(value, int) and not isinstance(value, bool) and value >= 0)
                                        or (isinstance(value, str) and _SIZE.fullmatch(value))):
            return f"must be a byte count such as 268435456 or '256M', got {value!r}"
        if self.type == "list" and (not isinstance(value, list) or not value):
            return f"must be a non-empty list, got {value!r}"
        if self.type == "choice" and value not in self.choices:
            return f"must be one of {', '.join(self.choices)}, got {value!r}"
        return ""


@dataclass(frozen=True)
class Catalog:
    """A parser's declarations. `dynamic` gives the metrics of parsers whose options name them (regex)."""

    parser: str
    description: str
    metrics: tuple[MetricSpec, ...] = ()
    options: tuple[OptionSpec, ...] = ()
    dynamic: Callable[[Mapping[str, Any]], tuple[MetricSpec, ...]] | None = None
    dynamic_note: str = ""
    check_options: Callable[[Mapping[str, Any]], list[str]] | None = None  # deeper checks of the options' content

    def __post_init__(self) -> None:
        names = [m.name for m in self.metrics]
        assert len(names) == len(set(names)), f"{self.parser} declares a metric twice"

    def metrics_for(self, options: Mapping[str, Any] | None = None) -> dict[str, MetricSpec]:
        """The metrics the parser can yield with these options."""
        declared = {m.name: m for m in self.metrics}
        if self.dynamic is not None:
            try:
                declared.update({m.name: m for m in self.dynamic(dict(options or {}))})
            except (TypeError, ValueError, KeyError, AttributeError, re.error):
                pass  # invalid options: option_problems says why
        return declared

    def option(self, name: str) -> OptionSpec | None:
        return next((o for o in self.options if o.name == name), None)


def option_problems(catalog: Catalog, options: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(option name, problem, hint) for each option that the parser does not declare or whose value is wrong."""
    problems = []
    known = [o.name for o in catalog.options]
    for name, value in (options or {}).items():
        spec = catalog.option(str(name))
        if spec is None:
            close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            problems.append((str(name), f"no option {name!r}",
                             hint + (f"its options: {', '.join(known)}" if known else "it takes no options")))
        elif problem := spec.problem(value):
            problems.append((str(name), f"option {name!r} {problem}", spec.description))
    if not problems and catalog.check_options is not None:
        problems += [("", text, "") for text in catalog.check_options(dict(options or {}))]
    return problems


def unknown_metric_hint(name: str, known: Iterable[str]) -> str:
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    guess = f"did you mean {close[0]!r}? " if close else ""
    return guess + f"it yields: {', '.join(known) or 'none'}"


def catalog_rows(catalog: Catalog) -> list[list[str]]:
    return [[m.name, m.unit or "-", m.better or "-", m.kind, m.type, m.description] for m in catalog.metrics]
