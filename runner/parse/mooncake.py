"""Mooncake transfer_engine_bench: the glog lines of an initiator (the result) or a target (its RPC address)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from runner.base import saferegex
from runner.base.errors import ParseError
from runner.parse._common import excerpt, metric_map
from runner.parse.base import Metric, ParseResult, parser
from runner.parse.catalog import Catalog, MetricSpec, OptionSpec

NAME = "mooncake-bench"

# --report_unit values and their size in bytes (mooncake-transfer-engine/example/transfer_engine_bench.cpp RATE_UNIT_MP)
UNIT_BYTES = {"GB": 1e9, "GiB": 2**30, "Gb": 1e9 / 8, "MB": 1e6, "MiB": 2**20, "Mb": 1e6 / 8, "KB": 1e3, "KiB": 2**10, "Kb": 1e3 / 8}
OLD_BUILD_UNIT = "GB"  # builds before --report_unit print the number alone, in GB/s

_COMPLETED = saferegex.compile(r"Test completed: duration ([\d.]+), batch count (\d+), throughput ([\d.]+)(?: (\w+)/s)?\s*$")
# transfer_engine_impl.cpp (v0.3.10.post2:174) names how the RPC port was chosen: "P2P handshake" (random port,
# P2PHANDSHAKE metadata), "legacy/P2P" (the --local_server_name port: MC_LEGACY_RPC_PORT_BINDING with a metadata
# server) or "new RPC mapping" (a random port on the first LAN address, with a metadata server).
_RPC_ADDRESS = saferegex.compile(r"Transfer Engine RPC using (?:P2P handshake|legacy/P2P|new RPC mapping), listening on (\S+)")
_GLOG = saferegex.compile(r"([IWEF])\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ \S+:\d+\] (.*)")
_WORKER_FAILED = saferegex.compile(r"^(?:FAILED|Transfer failed)\b")
_PROTOCOL_MARKERS = (("TcpTransport:", "tcp"), ("EFA device (libfabric)", "efa"), ("RDMA device:", "rdma"))
ROLES = ("initiator", "target")

CATALOG = Catalog(
    NAME,
    "Mooncake transfer_engine_bench: the initiator's 'Test completed' line, or the target's RPC address.",
    metrics=(
        MetricSpec("throughput_gbps", "GB/s", "higher", "performance",
                   "Bytes the initiator moved per second over the test, converted from --report_unit to GB/s."),
        MetricSpec("batch_count", "count", "", "correctness", type="integer", description=
                   "Batches completed in the test. Above zero means data moved; not a speed: with bigger blocks or batches "
                   "there are fewer of them, so it has no better direction."),
        MetricSpec("duration_s", "s", "", "info", "The test's measured duration, as the initiator printed it."),
        MetricSpec("protocol", "", "", "correctness",
                   "The transport the engine selected (tcp, rdma, efa), from its startup log.", type="string"),
        MetricSpec("rpc_address", "", "", "info", "host:port the engine's RPC listens on (random unless legacy binding).", type="string"),
    ),
    options=(OptionSpec("role", "choice", "which side's log this is: initiator (the result) or target", ROLES, "initiator"),),
)


@dataclass
class _Seen:
    """What the scan of a transfer_engine_bench log found so far."""

    completed: Any = None  # the 'Test completed' match
    rpc_address: str | None = None
    protocol: str | None = None
    failed_line: str = ""
    last_error: str = ""
    lines: int = 0


def _scan(lines: Iterator[str], source: str) -> _Seen:
    seen = _Seen()
    for line_no, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        seen.lines += 1
        if "Test completed:" in line:
            seen.completed = _COMPLETED.search(line)
            if not seen.completed:
                raise ParseError(NAME, source, f"line {line_no}: the 'Test completed' line could not be read: {excerpt(line)}")
        elif match := _RPC_ADDRESS.search(line):
            seen.rpc_address = match.group(1)
        elif glog := _GLOG.search(line):
            _glog_line(seen, glog, line)
        _note_protocol(seen, line)
    return seen


def _glog_line(seen: _Seen, glog: Any, line: str) -> None:
    severity, message = glog.groups()
    if _WORKER_FAILED.match(message):
        seen.failed_line = line
    elif severity in "EF":
        seen.last_error = line


def _note_protocol(seen: _Seen, line: str) -> None:
    if seen.protocol is None:
        seen.protocol = next((name for marker, name in _PROTOCOL_MARKERS if marker in line), None)


def _throughput_gbps(completed: Any, source: str) -> float:
    number, unit = completed.group(3), completed.group(4) or OLD_BUILD_UNIT
    if unit not in UNIT_BYTES:
        raise ParseError(NAME, source, f"unknown throughput unit {unit!r}/s", hint=f"known units: {', '.join(UNIT_BYTES)}")
    return float(number) * UNIT_BYTES[unit] / 1e9


def _role(options: Mapping[str, Any], source: str) -> str:
    role = options.get("role", "initiator")
    if role not in ROLES:
        raise ParseError(NAME, source, f"option 'role' must be one of {', '.join(ROLES)}, got {role!r}")
    return role


def _check(seen: _Seen, role: str, source: str) -> None:
    if not seen.lines:
        raise ParseError(NAME, source, "the output is empty", hint="glog writes to stderr: was stderr captured?")
    if seen.failed_line:
        raise ParseError(NAME, source, f"a worker reported a failed transfer: {excerpt(seen.failed_line)}")
    hint = f"last error logged: {seen.last_error}" if seen.last_error else ""
    if role == "target" and not seen.rpc_address:
        raise ParseError(
            NAME, source, "the target log has no 'Transfer Engine RPC using <method>, listening on <host>:<port>' line",
            hint=hint or "the engine prints it when it starts: did the target start?",
        )
    if role == "initiator" and not seen.completed:
        raise ParseError(
            NAME, source, "no 'Test completed' line: the initiator did not finish",
            hint=hint or "for the target's log, set the parser option role: target",
        )


@parser(NAME, CATALOG)
def parse_mooncake_bench(lines: Iterator[str], source: str, options: Mapping[str, Any]) -> ParseResult:
    role = _role(options, source)
    seen = _scan(lines, source)
    _check(seen, role, source)
    metrics = [
        Metric("rpc_address", seen.rpc_address),
        Metric("protocol", seen.protocol),
    ]
    info = {"role": role}
    if seen.completed:
        duration, batches, _, unit = seen.completed.groups()
        metrics += [
            Metric("throughput_gbps", _throughput_gbps(seen.completed, source), "GB/s", "higher"),
            Metric("duration_s", float(duration), "s"),
            Metric("batch_count", int(batches), "count", "higher"),
        ]
        info["report_unit"] = unit or f"{OLD_BUILD_UNIT} (no unit printed)"
    return ParseResult(NAME, source, metric_map(metrics), {}, info)
