"""nccl-tests (all_reduce_perf, alltoall_perf, ...): the text table on stdout, or the `-J` JSON file.

The text log may carry launcher prefixes, NCCL INFO lines and several runs one after another;
it is read once, keeping only the rows of the runs that can still be chosen.
"""
from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Iterator, Mapping, NamedTuple

from runner.base import saferegex
from runner.base.errors import ParseError
from runner.parse._common import (
    excerpt,
    int_option,
    metric_map,
    sniff_first_char,
    strip_launcher_prefix,
)
from runner.parse.base import Metric, ParseResult, Series, parser
from runner.parse.catalog import Catalog, MetricSpec, OptionSpec

NAME = "nccl-tests"


class Row(NamedTuple):
    size_bytes: int
    count: int
    type: str
    redop: str
    root: int | None
    oop_time_us: float
    oop_algbw_gbps: float
    oop_busbw_gbps: float
    oop_wrong: int | None
    ip_time_us: float
    ip_algbw_gbps: float
    ip_busbw_gbps: float
    ip_wrong: int | None


ROW_UNITS = ("B", "count", "", "", "", "us", "GB/s", "GB/s", "count", "us", "GB/s", "GB/s", "count")

_VERSION = saferegex.compile(r"^# nccl-tests version (\S+) nccl-headers=(\d+) nccl-library=(\d+)")
_STARTING = saferegex.compile(r"^# Collective test starting: (\S+)")
_CONCLUDED = saferegex.compile(r"^# Collective test concluded: (\S+)")
_DEVICE = saferegex.compile(r"^#\s+Rank\s+\d+\s+Group\s+\d+(?:\s+Pid\s+\d+\s+on\s+(\S+))?")
_OUT_OF_BOUNDS = saferegex.compile(r"^#\s*Out of bounds values\s*:\s*(\d+)")
_AVG_BUSBW = saferegex.compile(r"^#\s*Avg bus bandwidth\s*:\s*(\S+)")
_NCCL_VERSION = saferegex.compile(r"\bNCCL version (\d+\.\d+\.\d+\S*)")
_TEST_FAILURE = saferegex.compile(r"Test (?:NCCL |CUDA )?failure")
_BYTE_SIZE = saferegex.compile(r"\s*(\d+)\s*([KMGT]?)B?\s*", ignorecase=True)
_TIME_LABELS = ("time", "cputime")
_SIZE_SUFFIXES = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}

CATALOG = Catalog(
    NAME,
    "nccl-tests *_perf binaries: the text table on stdout, or the -J JSON file.",
    metrics=(
        MetricSpec("busbw_gbps_max", "GB/s", "higher", "performance", "Highest bus bandwidth of any row, in-place or out-of-place."),
        MetricSpec("busbw_gbps_avg", "GB/s", "higher", "performance", "The '# Avg bus bandwidth' footer of the run."),
        MetricSpec("busbw_gbps_at_largest", "GB/s", "higher", "performance", "Out-of-place bus bandwidth at the largest message size."),
        MetricSpec("algbw_gbps_max", "GB/s", "higher", "performance", "Highest algorithm bandwidth of any row."),
        MetricSpec("busbw_gbps_min_at_or_above", "GB/s", "higher", "performance",
                   "Lowest out-of-place bus bandwidth among sizes >= the min_bytes option (only with min_bytes)."),
        MetricSpec("wrong_total", "count", "lower", "correctness", "Sum of the #wrong columns (-c 1 validates results)."),
        MetricSpec("validated", "", "", "correctness", "1 when the rows carry #wrong counts (results were checked), else 0.", type="integer"),
        MetricSpec("out_of_bounds", "count", "lower", "correctness", "The '# Out of bounds values' footer."),
        MetricSpec("collective", "", "", "info", "The collective measured (all_reduce, alltoall, ...).", type="string"),
        MetricSpec("ranks", "count", "", "info", "Ranks listed in the device header (JSON: processes x threads x GPUs per "
                   "thread, since -J of v2.19.6 lists one device entry per process).", type="integer"),
        MetricSpec("hosts", "count", "", "correctness", "Distinct host names in the device header: the nodes the ranks ran on "
                   "(two workers on one node show as one).", type="integer"),
        MetricSpec("sizes", "count", "", "info", "Number of message sizes (result rows).", type="integer"),
        MetricSpec("size_bytes_max", "B", "", "info", "The largest message size.", type="integer"),
    ),
    options=(
        OptionSpec("run", "integer", "which complete run of a log holding several to read: 0 the first, -1 the last (default)"),
        OptionSpec("min_bytes", "size", "sizes at or above this give busbw_gbps_min_at_or_above, e.g. 256M"),
        OptionSpec("collective", "string", "the collective's name when the log does not print it"),
    ),
)

MAX_ROWS_PER_RUN = 100_000  # -b 8 -e 16G -f 2 prints 32; even a 1-MiB step from 1 MiB to 64 GiB prints 65,536
_TRUNCATED = "the log ends before the '# Avg bus bandwidth' footer: truncated run?"


@dataclass
class Run:
    """One nccl-tests run as read so far: its rows, summary line, ranks, hosts and header facts."""

    rows: list[Row] = field(default_factory=list)
    avg_busbw: float | None = None
    out_of_bounds: int | None = None
    collective: str = ""
    ranks: int = 0
    hosts: set[str] = field(default_factory=set)
    info: dict[str, str] = field(default_factory=dict)
    failure: str = ""

    @property
    def started(self) -> bool:
        return bool(self.rows) or self.out_of_bounds is not None


def collective_name(program: str) -> str:
    """'/opt/nccl-tests/build/all_reduce_perf_mpi' -> 'all_reduce'."""
    return PurePosixPath(program).name.split("_perf", 1)[0]


def parse_byte_size(text: Any) -> int | None:
    """An int, or a size the way nccl-tests' -b/-e take it: '256M', '8G' (binary suffixes)."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    match = _BYTE_SIZE.fullmatch(str(text))
    return int(match.group(1)) * _SIZE_SUFFIXES[match.group(2).upper()] if match else None


# ---------------------------------------------------------------- text output


@dataclass(frozen=True)
class _Columns:
    """Where root and the two time columns are. Options like -I 1 add columns, very old builds have no root."""

    root: int | None = 4
    oop: int = 5
    ip: int = 9

    @classmethod
    def from_header(cls, labels: list[str]) -> _Columns:
        times = [i for i, label in enumerate(labels) if label in _TIME_LABELS]
        if len(times) != 2:
            return cls()
        return cls(labels.index("root") if "root" in labels else None, *times)


class _TextScanner:
    """Reads the stdout of a *_perf binary line by line and splits it into runs."""

    def __init__(self, source: str, wanted_run: int | None):
        self.source = source
        self.wanted_run = wanted_run
        keep = 1 if wanted_run is None else max(1, -wanted_run)
        self.kept: deque[Run] = deque(maxlen=keep)  # the last complete runs, when counting from the end
        self.chosen: Run | None = None  # the wanted run, when counting from the start
        self.complete = 0
        self.incomplete = 0
        self.current = Run()
        self.last_complete: Run | None = None
        self.columns = _Columns()
        self.line_no = 0

    def feed(self, raw: str) -> None:
        self.line_no += 1
        line = strip_launcher_prefix(raw).strip()
        if not line:
            return
        if line[0] == "#":
            self._comment(line)
        elif line[0].isdigit():
            self._maybe_row(line)
        else:
            self._other(line)

    def _other(self, line: str) -> None:
        """NCCL's own lines and launcher noise: only the NCCL version and failure reports matter."""
        if "NCCL version" in line and (match := _NCCL_VERSION.search(line)):
            self.current.info["nccl"] = match.group(1)
        elif "failure" in line and _TEST_FAILURE.search(line):
            self.current.failure = line

    def _comment(self, line: str) -> None:
        if match := _AVG_BUSBW.match(line):
            self._finish_run(match.group(1))
        elif match := _OUT_OF_BOUNDS.match(line):
            self.current.out_of_bounds = int(match.group(1))
        elif match := _DEVICE.match(line):
            self.current.ranks += 1
            if match.group(1):
                self.current.hosts.add(match.group(1))
        elif match := _VERSION.match(line):
            self._start_run()
            self.current.info.update({"nccl-tests": match.group(1), "nccl-headers": match.group(2), "nccl-library": match.group(3)})
        elif match := _STARTING.match(line):
            self._start_run()
            self.current.collective = collective_name(match.group(1))
        elif line.startswith("# nThread"):
            self._start_run()
        elif match := _CONCLUDED.match(line):
            if self.last_complete and not self.last_complete.collective:
                self.last_complete.collective = collective_name(match.group(1))
        else:
            self._maybe_column_header(line)

    def _maybe_column_header(self, line: str) -> None:
        labels = line.lstrip("#").split()
        if labels[:2] == ["size", "count"]:
            self.columns = _Columns.from_header(labels)

    def _start_run(self) -> None:
        """A header line: whatever run was open and already had rows never reached its footer."""
        if self.current.started:
            self.incomplete += 1
            self.current = Run()

    def _maybe_row(self, line: str) -> None:
        fields = line.split()
        if len(fields) < 5 or not (fields[0].isdigit() and fields[1].isdigit()):
            return
        if len(self.current.rows) >= MAX_ROWS_PER_RUN:  # memory stays bounded whatever the log holds
            raise ParseError(NAME, f"{self.source}:{self.line_no}", f"more than {MAX_ROWS_PER_RUN:,} result rows in one run",
                             hint="nccl-tests prints one row per message size: is this log several runs without headers?")
        try:
            self.current.rows.append(self._row(fields))
        except (ValueError, IndexError) as error:
            raise ParseError(NAME, self.source, f"line {self.line_no} looks like a result row but could not be read: {excerpt(line)}") from error

    def _row(self, fields: list[str]) -> Row:
        root, oop, ip = self.columns.root, self.columns.oop, self.columns.ip
        return Row(
            int(fields[0]), int(fields[1]), fields[2], fields[3], None if root is None else int(fields[root]),
            _bandwidth(fields[oop]), _bandwidth(fields[oop + 1]), _bandwidth(fields[oop + 2]), _wrong(fields[oop + 3]),
            _bandwidth(fields[ip]), _bandwidth(fields[ip + 1]), _bandwidth(fields[ip + 2]), _wrong(fields[ip + 3]),
        )

    def _finish_run(self, avg_text: str) -> None:
        run, self.current = self.current, Run()
        try:
            run.avg_busbw = _bandwidth(avg_text)
        except ValueError as error:
            raise ParseError(NAME, self.source, f"line {self.line_no}: the average bus bandwidth {excerpt(avg_text)} is not a number") from error
        self.last_complete = run
        if self.wanted_run is not None and self.wanted_run >= 0:
            if self.complete == self.wanted_run:
                self.chosen = run
        else:
            self.kept.append(run)
        self.complete += 1

    def result(self) -> tuple[Run, int]:
        """The chosen complete run and its 0-based index, or a ParseError saying why there is none."""
        if self.current.started:
            self.incomplete += 1
        if self.complete == 0:
            raise self._no_complete_run()
        wanted = -1 if self.wanted_run is None else self.wanted_run
        if wanted >= self.complete or -wanted > self.complete:
            raise ParseError(NAME, self.source, f"option 'run' is {wanted} but the log holds {self.complete} complete run(s)")
        run = self.chosen if wanted >= 0 else self.kept[0]
        return run, wanted % self.complete

    def _no_complete_run(self) -> ParseError:
        failure = self.current.failure
        hint = f"the tool reported: {failure}" if failure else ""
        if self.incomplete:
            return ParseError(NAME, self.source, _TRUNCATED, hint=hint or "did the job time out or crash?")
        return ParseError(NAME, self.source, "no result rows found", hint=hint or "is this the stdout of an nccl-tests *_perf binary?")


def _bandwidth(text: str) -> float:
    """A time, bandwidth or count of a row: finite and not negative, or the row is not one nccl-tests printed."""
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise ValueError(text)
    return value


def _wrong(text: str) -> int | None:
    return None if text == "N/A" else int(_bandwidth(text))


def _parse_text(lines: Iterator[str], source: str, wanted_run: int | None) -> tuple[Run, dict[str, str]]:
    scanner = _TextScanner(source, wanted_run)
    for line in lines:
        scanner.feed(line)
    run, index = scanner.result()
    info = {**run.info, "format": "text", "runs": str(scanner.complete), "run": str(index)}
    if scanner.incomplete:
        info["runs_incomplete"] = str(scanner.incomplete)
    return run, info


# ---------------------------------------------------------------- -J JSON output


def _parse_json(lines: Iterator[str], source: str) -> tuple[Run, dict[str, str]]:
    try:
        document = json.loads("".join(lines))
    except json.JSONDecodeError as error:
        raise ParseError(NAME, source, f"the JSON output is not valid JSON: {error}", hint="was the file cut short?") from error
    try:
        run = _json_run(document)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
        raise ParseError(NAME, source, f"the JSON output does not have the nccl-tests -J layout ({type(error).__name__}: {error})") from error
    info = {"format": "json", "runs": "1", "run": "0"}
    if "nccl_version" in document:
        info["nccl-library"] = str(document["nccl_version"])
    return run, info


def _json_run(document: Mapping[str, Any]) -> Run:
    average = document["average_bus_bandwidth"]["bandwidth"]
    args = document.get("args") or []
    config = document.get("config", {})
    processes = config.get("devices", [])
    return Run(
        rows=[_json_row(result) for result in document["results"]],
        avg_busbw=_bandwidth(str(average)),
        out_of_bounds=int(document["out_of_bounds"]["count"]),
        collective=collective_name(args[0]) if args else "",
        ranks=json_ranks(config),
        hosts={str(entry["hostname"]) for entry in processes if isinstance(entry, Mapping) and entry.get("hostname")},
    )


def json_ranks(config: Mapping[str, Any]) -> int:
    """v2.19.6 writes one `devices` entry per process (src/util.cu writeDeviceReport: parseRankInfo reads the first
    device line of each process's block), each process driving nthreads x ngpus ranks."""
    processes = len(config.get("devices", []))
    return processes * int(config.get("nthreads", 1)) * int(config.get("ngpus", 1))


def _json_row(result: Mapping[str, Any]) -> Row:
    oop, ip = result["out_of_place"], result["in_place"]
    return Row(
        int(result["size"]), int(result["count"]), result["type"], result["redop"], int(str(result["root"]).strip()),
        *_json_half(oop), *_json_half(ip),
    )


def _json_half(half: Mapping[str, Any]) -> tuple[float, float, float, int | None]:
    time = half["time"] if "time" in half else half["cpu_time"]
    wrong = half["nwrong"]
    return (
        _bandwidth(str(time)), _bandwidth(str(half["alg_bw"])), _bandwidth(str(half["bus_bw"])),
        None if wrong is None else int(_bandwidth(str(wrong))),
    )


# ---------------------------------------------------------------- metrics


def _metrics(run: Run, source: str, options: Mapping[str, Any]) -> dict[str, Metric]:
    rows = run.rows
    busbw = [bw for row in rows for bw in (row.oop_busbw_gbps, row.ip_busbw_gbps)]
    algbw = [bw for row in rows for bw in (row.oop_algbw_gbps, row.ip_algbw_gbps)]
    wrongs = [w for row in rows for w in (row.oop_wrong, row.ip_wrong) if w is not None]
    largest = max(reversed(rows), key=lambda row: row.size_bytes)  # the last row of the largest size
    collective = run.collective or options.get("collective") or None
    metrics = [
        Metric("busbw_gbps_max", max(busbw), "GB/s", "higher"),
        Metric("busbw_gbps_avg", run.avg_busbw, "GB/s", "higher"),
        Metric("busbw_gbps_at_largest", largest.oop_busbw_gbps, "GB/s", "higher"),
        Metric("algbw_gbps_max", max(algbw), "GB/s", "higher"),
        Metric("wrong_total", sum(wrongs), "count", "lower"),
        Metric("validated", int(bool(wrongs)), ""),
        Metric("out_of_bounds", run.out_of_bounds, "count", "lower"),
        Metric("collective", collective, ""),
        Metric("ranks", run.ranks or None, "count"),
        Metric("hosts", len(run.hosts) or None, "count"),
        Metric("sizes", len(rows), "count"),
        Metric("size_bytes_max", largest.size_bytes, "B"),
    ]
    if "min_bytes" in options:
        metrics.append(_min_busbw_at_or_above(rows, source, options["min_bytes"]))
    return metric_map(metrics)


def _min_busbw_at_or_above(rows: list[Row], source: str, min_bytes_option: Any) -> Metric:
    min_bytes = parse_byte_size(min_bytes_option)
    if min_bytes is None:
        raise ParseError(NAME, source, f"option 'min_bytes' must be a byte count such as 268435456 or '256M', got {min_bytes_option!r}")
    selected = [row.oop_busbw_gbps for row in rows if row.size_bytes >= min_bytes]
    if not selected:
        largest = max(row.size_bytes for row in rows)
        raise ParseError(
            NAME, source, f"no result row has size >= min_bytes {min_bytes} (the largest size is {largest})",
            hint="raise the sweep's -e/maxBytes or lower min_bytes",
        )
    return Metric("busbw_gbps_min_at_or_above", min(selected), "GB/s", "higher")


@parser(NAME, CATALOG)
def parse_nccl_tests(lines: Iterator[str], source: str, options: Mapping[str, Any]) -> ParseResult:
    first, lines = sniff_first_char(lines)
    if not first:
        raise ParseError(NAME, source, "the output is empty", hint="did the binary start? look at the workload's stderr")
    if first == "{":
        run, info = _parse_json(lines, source)
    else:
        run, info = _parse_text(lines, source, int_option(NAME, source, options, "run"))
    if not run.rows:
        raise ParseError(NAME, source, f"no result rows found in run {info['run']}")
    rows = Series("rows", Row._fields, tuple(tuple(row) for row in run.rows), ROW_UNITS)
    return ParseResult(NAME, source, _metrics(run, source, options), {"rows": rows}, info)
