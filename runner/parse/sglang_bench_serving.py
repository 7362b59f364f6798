"""sglang bench_serving: the printed "Serving Benchmark Result" block, or the JSONL of --output-file."""
from __future__ import annotations

import json
import math
from typing import Any, Iterator, Mapping

from runner.base import saferegex
from runner.base.errors import ParseError
from runner.parse._common import as_number, metric_map, sniff_first_char
from runner.parse.base import Metric, ParseResult, parser
from runner.parse.catalog import Catalog, MetricSpec, OptionSpec

NAME = "sglang-bench-serving"

# metric name -> (unit, better, printed label, JSONL key)
SCALARS: dict[str, tuple[str, str, str, str]] = {
    "completed": ("count", "higher", "Successful requests", "completed"),
    "duration_s": ("s", "", "Benchmark duration (s)", "duration"),
    "total_input_tokens": ("count", "", "Total input tokens", "total_input_tokens"),
    "total_input_text_tokens": ("count", "", "Total input text tokens", "total_input_text_tokens"),
    "total_input_vision_tokens": ("count", "", "Total input vision tokens", "total_input_vision_tokens"),
    "total_output_tokens": ("count", "", "Total generated tokens", "total_output_tokens"),
    "total_output_tokens_retokenized": ("count", "", "Total generated tokens (retokenized)", "total_output_tokens_retokenized"),
    "request_throughput": ("req/s", "higher", "Request throughput (req/s)", "request_throughput"),
    "input_tok_s": ("tok/s", "higher", "Input token throughput (tok/s)", "input_throughput"),
    "output_tok_s": ("tok/s", "higher", "Output token throughput (tok/s)", "output_throughput"),
    "max_output_tok_s": ("tok/s", "higher", "Peak output token throughput (tok/s)", "max_output_tokens_per_s"),
    "max_concurrent_requests": ("count", "", "Peak concurrent requests", "max_concurrent_requests"),
    "total_tok_s": ("tok/s", "higher", "Total token throughput (tok/s)", "total_throughput"),
    "concurrency": ("", "", "Concurrency", "concurrency"),
    "accept_length": ("", "higher", "Accept length", "accept_length"),
    "max_concurrency": ("count", "", "Max request concurrency", "max_concurrency"),
    "request_rate": ("req/s", "", "Traffic request rate", "request_rate"),
}
LATENCIES = {"E2E Latency": "e2e", "TTFT": "ttft", "TPOT": "tpot", "ITL": "itl"}
JSONL_LATENCY_KEYS = {"e2e": "e2e_latency"}  # "mean_e2e_latency_ms", but "mean_ttft_ms"
STATISTICS = {"Mean": "mean", "Median": "median", "Std": "std", "P90": "p90", "P95": "p95", "P99": "p99", "Max": "max"}
INFO_KEYS = ("backend", "dataset_name", "tag")

# metrics that are neither a speed nor a latency: what was asked for, or the outcome that must hold
_KINDS = {"completed": "correctness", "duration_s": "info", "concurrency": "info", "max_concurrency": "info", "request_rate": "info",
          "max_concurrent_requests": "info", **{name: "info" for name in SCALARS if name.startswith("total_") and "tok_s" not in name}}
_LATENCY_NAMES = {"e2e": "end-to-end latency", "ttft": "time to first token", "tpot": "time per output token",
                  "itl": "inter-token latency"}


def _catalog_metrics() -> tuple[MetricSpec, ...]:
    scalars = [MetricSpec(name, unit, better, _KINDS.get(name, "performance"), f"'{label}' of the result block ({key} in the JSONL).",
                          type="integer" if unit == "count" else "number")
               for name, (unit, better, label, key) in SCALARS.items()]
    latencies = [MetricSpec(f"{latency}_ms_{statistic}", "ms", "lower", "performance", f"{label} of the {_LATENCY_NAMES[latency]}.")
                 for latency in LATENCIES.values() for label, statistic in STATISTICS.items()]
    return (*scalars, *latencies)


CATALOG = Catalog(
    NAME,
    "sglang bench_serving: the printed 'Serving Benchmark Result' block, or the JSONL of --output-file.",
    metrics=_catalog_metrics(),
    options=(OptionSpec("tag", "string", "in a JSONL of several runs, read the last one with this tag"),),
)

_BANNER = "Serving Benchmark Result"
_LATENCY_LABEL = saferegex.compile(r"^(\w+) (E2E Latency|TTFT|TPOT|ITL) \(ms\)$")
_BY_LABEL = {label: name for name, (_, _, label, _) in SCALARS.items()}


def _latency_metric(name: str, value: Any) -> Metric:
    return Metric(name, value, "ms", "lower")


def _scalar_metric(name: str, value: Any) -> Metric:
    unit, better, _, _ = SCALARS[name]
    return Metric(name, value, unit, better)


SETTINGS_MAY_BE_INFINITE = ("request_rate",)  # "Traffic request rate: inf": no rate limit, a setting, not a measurement


def _measured(name: str, value: Any) -> int | float | None:
    """Numbers only ("not set" and null give no metric). NaN and infinities stay, so that the parse stage names them
    as no measurement (a NaN TTFT is an ERROR of its check, not a metric silently gone); only an infinite request
    rate, which means "no limit", gives no metric."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if name in SETTINGS_MAY_BE_INFINITE and math.isinf(value):
        return None
    return value


def _printed_number(text: str) -> int | float | None:
    """A printed value: a number, or nan/inf as Python prints them (numpy's mean of no requests is nan)."""
    value = as_number(text)
    if value is None and text.strip().lower() in ("nan", "inf", "-inf"):
        return float(text)
    return value


# ---------------------------------------------------------------- printed block


def _last_block(lines: Iterator[str], source: str) -> list[tuple[str, str]]:
    """The label/value pairs of the last result block; only one block is held at a time."""
    block: list[tuple[str, str]] | None = None
    last: list[tuple[str, str]] | None = None
    for line in lines:
        text = line.strip()
        if _BANNER in text:
            block = []
        elif block is None:
            continue
        elif text.startswith("=") and text.strip("=") == "":
            last, block = block, None
        elif pair := _labeled(text):
            block.append(pair)
    if block is not None:
        raise ParseError(NAME, source, f"the '{_BANNER}' block has no closing '=====' line: truncated output?")
    if last is None:
        raise ParseError(NAME, source, f"no '{_BANNER}' block found", hint="did bench_serving finish? it prints the block at the end")
    return last


def _labeled(text: str) -> tuple[str, str] | None:
    """'Label:   value' (a stripped line) as (label, value): split at the first colon, which whitespace must follow.
    A split, not a backtracking regex: a megabyte of whitespace costs one pass."""
    label, colon, rest = text.partition(":")
    value = rest.strip()
    if not label or not colon or not rest[:1].isspace() or not value:
        return None
    return label, value


def _block_metric(label: str, text: str) -> Metric | None:
    value = _printed_number(text)
    if match := _LATENCY_LABEL.fullmatch(label):
        statistic, latency = match.groups()
        if statistic in STATISTICS:
            return _latency_metric(f"{LATENCIES[latency]}_ms_{STATISTICS[statistic]}", value)
    if label in _BY_LABEL:
        return _scalar_metric(_BY_LABEL[label], value)
    return None


def _parse_block(lines: Iterator[str], source: str) -> tuple[list[Metric], dict[str, str]]:
    pairs = _last_block(lines, source)
    metrics = [metric for label, text in pairs if (metric := _block_metric(label, text))]
    printed = dict(pairs)
    info = {
        "format": "text",
        "backend": printed.get("Backend", ""),
        "request_rate": printed.get("Traffic request rate", ""),
        "max_concurrency": printed.get("Max request concurrency", ""),
    }
    return metrics, info


# ---------------------------------------------------------------- JSONL


def _chosen_record(lines: Iterator[str], source: str, tag: str | None) -> dict[str, Any]:
    """The last JSONL line, or the last one with the wanted tag; only that line is kept."""
    chosen: str | None = None
    for line_no, line in enumerate(lines, 1):
        text = line.strip()
        if not text:
            continue
        if not text.endswith("}"):
            raise ParseError(NAME, source, f"line {line_no} of the JSONL is not a complete JSON object: truncated output?")
        if tag is None or _has_tag(text, tag, source, line_no):
            chosen = text
    if chosen is None:
        raise ParseError(NAME, source, f"no JSONL record has tag {tag!r}")
    return _load(chosen, source, "the chosen line")


def _has_tag(text: str, tag: str, source: str, line_no: int) -> bool:
    """Records with --output-details are large: decode only those that can hold the tag."""
    return json.dumps(tag) in text and _load(text, source, f"line {line_no}").get("tag") == tag


def _load(text: str, source: str, where: str) -> dict[str, Any]:
    try:
        record = json.loads(text)
    except json.JSONDecodeError as error:
        raise ParseError(NAME, source, f"{where} of the JSONL is not valid JSON: {error}") from error
    if not isinstance(record, dict):
        raise ParseError(NAME, source, f"{where} of the JSONL is not a JSON object")
    return record


def _record_metrics(record: Mapping[str, Any]) -> list[Metric]:
    metrics = [_scalar_metric(name, record.get(key)) for name, (_, _, _, key) in SCALARS.items()]
    for latency in LATENCIES.values():
        key = JSONL_LATENCY_KEYS.get(latency, latency)
        for statistic in STATISTICS.values():
            metrics.append(_latency_metric(f"{latency}_ms_{statistic}", record.get(f"{statistic}_{key}_ms")))
    return metrics


def _parse_jsonl(lines: Iterator[str], source: str, tag: str | None) -> tuple[list[Metric], dict[str, str]]:
    record = _chosen_record(lines, source, tag)
    info = {"format": "jsonl", **{key: str(record[key]) for key in INFO_KEYS if record.get(key) not in (None, "")}}
    info["request_rate"] = _printed_rate(record.get("request_rate"))
    info["max_concurrency"] = "not set" if record.get("max_concurrency") is None else str(record["max_concurrency"])
    return _record_metrics(record), info


def _printed_rate(rate: Any) -> str:
    return "inf" if rate == math.inf else str(rate)


@parser(NAME, CATALOG)
def parse_sglang_bench_serving(lines: Iterator[str], source: str, options: Mapping[str, Any]) -> ParseResult:
    first, lines = sniff_first_char(lines)
    if not first:
        raise ParseError(NAME, source, "the output is empty")
    if first == "{":
        metrics, info = _parse_jsonl(lines, source, options.get("tag"))
    else:
        metrics, info = _parse_block(lines, source)
    kept = metric_map(Metric(m.name, _measured(m.name, m.value), m.unit, m.better) for m in metrics)
    missing = [name for name in ("completed", "duration_s") if name not in kept]
    if missing:
        raise ParseError(NAME, source, f"the result has no {' or '.join(missing)}: not bench_serving output?")
    return ParseResult(NAME, source, kept, {}, info)
