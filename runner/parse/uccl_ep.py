"""UCCL-EP bench/test_low_latency.py: correctness lines and per-rank dispatch/combine bandwidth."""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from runner.base import saferegex
from runner.base.errors import ParseError
from runner.parse._common import int_option, metric_map, summary
from runner.parse.base import Metric, ParseResult, Series, parser
from runner.parse.catalog import Catalog, MetricSpec, OptionSpec

NAME = "uccl-ep"

PASSED = "All correctness tests passed!"
_BOTH = saferegex.compile(
    r"\[rank (\d+)\] Dispatch \+ combine bandwidth: ([\d.]+) GB/s, avg_t=([\d.]+) us, min_t=([\d.]+) us, max_t=([\d.]+) us"
)
_SEPARATE = saferegex.compile(r"\[rank (\d+)\] Dispatch bandwidth: ([\d.]+) GB/s, avg_t=([\d.]+) us \| Combine bandwidth: ([\d.]+) GB/s, avg_t=([\d.]+) us")

BOTH_COLUMNS = ("dispatch_combine_gbps", "dispatch_combine_avg_us", "dispatch_combine_min_us", "dispatch_combine_max_us")
SEPARATE_COLUMNS = ("dispatch_gbps", "dispatch_avg_us", "combine_gbps", "combine_avg_us")
COLUMNS = ("rank", *BOTH_COLUMNS, *SEPARATE_COLUMNS)
def _bandwidth_specs(prefix: str, what: str) -> tuple[MetricSpec, ...]:
    return tuple(MetricSpec(f"{prefix}_{stat}", "GB/s", "higher", "performance", f"{label} over ranks of the {what} bandwidth.")
                 for stat, label in (("min", "Lowest"), ("mean", "Mean"), ("max", "Highest")))


CATALOG = Catalog(
    NAME,
    "UCCL-EP bench/test_low_latency.py: correctness lines and per-rank dispatch/combine bandwidth.",
    metrics=(
        MetricSpec("passed_ranks", "count", "higher", "correctness", f"Lines '{PASSED}' (one per rank that passed).", type="integer"),
        MetricSpec("ranks", "count", "", "info", "Ranks that printed bandwidth lines.", type="integer"),
        *_bandwidth_specs("dispatch_combine_gbps", "dispatch + combine"),
        *_bandwidth_specs("dispatch_gbps", "dispatch"),
        *_bandwidth_specs("combine_gbps", "combine"),
        MetricSpec("dispatch_combine_us_mean", "us", "lower", "performance", "Mean over ranks of the dispatch + combine avg_t."),
        MetricSpec("dispatch_us_mean", "us", "lower", "performance", "Mean over ranks of the dispatch avg_t."),
        MetricSpec("combine_us_mean", "us", "lower", "performance", "Mean over ranks of the combine avg_t."),
    ),
    options=(OptionSpec("expected_ranks", "integer", "fail unless exactly ranks 0..N-1 printed their lines"),),
)
UNITS = ("", "GB/s", "us", "us", "us", "GB/s", "us", "GB/s", "us")
SEPARATE_METRICS = tuple(f"{prefix}_{stat}" for prefix in ("dispatch_gbps", "combine_gbps") for stat in ("min", "mean", "max")) + \
    ("dispatch_us_mean", "combine_us_mean")


def _scan(lines: Iterator[str]) -> tuple[int, dict[int, tuple[float, ...]], dict[int, tuple[float, ...]]]:
    """Pass lines, and per rank the last 'Dispatch + combine' and 'Dispatch | Combine' figures."""
    passed = 0
    both: dict[int, tuple[float, ...]] = {}
    separate: dict[int, tuple[float, ...]] = {}
    for line in lines:
        if PASSED in line:
            passed += 1
        elif "[rank " in line:
            if match := _BOTH.search(line):
                both[int(match.group(1))] = tuple(map(float, match.groups()[1:]))
            elif match := _SEPARATE.search(line):
                separate[int(match.group(1))] = tuple(map(float, match.groups()[1:]))
    return passed, both, separate


# cd4b0f53 ep/bench/test_low_latency.py:451-453: the separate line is skipped when the kineto profile measured nothing.
NO_PROFILE = ("test_low_latency.py prints the 'Dispatch bandwidth ... | Combine bandwidth' line only when its kineto profile "
              "timed the kernels (uccl cd4b0f53 ep/bench/test_low_latency.py:451-453 skips it when that returns 0)")


def _check_ranks(both: dict, separate: dict, expected: int | None, source: str) -> list[int]:
    ranks = sorted(both.keys() | separate.keys())
    if not ranks:
        raise ParseError(NAME, source, "no '[rank r] Dispatch + combine bandwidth' lines found", hint="did test_low_latency.py crash before the benchmark?")
    if missing := [rank for rank in ranks if rank not in both]:
        raise ParseError(NAME, source, f"rank(s) {_listing(missing)} printed no 'Dispatch + combine bandwidth' line: truncated output?")
    if expected is not None and ranks != list(range(expected)):
        missing = sorted(set(range(expected)) - set(ranks))
        extra = sorted(set(ranks) - set(range(expected)))
        problem = f"no bandwidth lines from rank(s) {_listing(missing)}" if missing else f"unexpected rank(s) {_listing(extra)}"
        raise ParseError(NAME, source, f"expected {expected} ranks but found {len(ranks)}: {problem}")
    return ranks


def _listing(ranks: list[int]) -> str:
    return ", ".join(map(str, ranks))


def _stat_metrics(prefix: str, unit: str, better: str, values: list[float], which: tuple[str, ...]) -> list[Metric]:
    low, mean, high = summary(values)
    figures = {"min": low, "mean": mean, "max": high}
    return [Metric(f"{prefix}_{name}", figures[name], unit, better) for name in which]


@parser(NAME, CATALOG)
def parse_uccl_ep(lines: Iterator[str], source: str, options: Mapping[str, Any]) -> ParseResult:
    expected = int_option(NAME, source, options, "expected_ranks")
    passed, both, separate = _scan(lines)
    ranks = _check_ranks(both, separate, expected, source)
    unprofiled = [rank for rank in ranks if rank not in separate]
    rows = tuple((rank, *both[rank], *separate.get(rank, (None,) * len(SEPARATE_COLUMNS))) for rank in ranks)
    column = {name: [row[i] for row in rows] for i, name in enumerate(COLUMNS)}
    metrics = [
        Metric("passed_ranks", passed, "count", "higher"),
        Metric("ranks", len(ranks), "count"),
        *_stat_metrics("dispatch_combine_gbps", "GB/s", "higher", column["dispatch_combine_gbps"], ("min", "mean", "max")),
        *_stat_metrics("dispatch_combine_us", "us", "lower", column["dispatch_combine_avg_us"], ("mean",)),
    ]
    absent = {}
    if unprofiled:
        why = f"rank(s) {_listing(unprofiled)} printed no separate dispatch/combine line: {NO_PROFILE}"
        absent = {name: why for name in SEPARATE_METRICS}
    else:
        metrics += [
            *_stat_metrics("dispatch_gbps", "GB/s", "higher", column["dispatch_gbps"], ("min", "mean", "max")),
            *_stat_metrics("combine_gbps", "GB/s", "higher", column["combine_gbps"], ("min", "mean", "max")),
            *_stat_metrics("dispatch_us", "us", "lower", column["dispatch_avg_us"], ("mean",)),
            *_stat_metrics("combine_us", "us", "lower", column["combine_avg_us"], ("mean",)),
        ]
    series = {"ranks": Series("ranks", COLUMNS, rows, UNITS)}
    return ParseResult(NAME, source, metric_map(metrics), series, {}, absent)
