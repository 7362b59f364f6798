"""Collectives probe: all_reduce / all_gather / all_to_all with torch.distributed, printed as nccl-tests.

Run one process per rank (torchrun, or mpirun plus MASTER_ADDR/MASTER_PORT):

    torchrun --nproc_per_node=4 -m runner.probes.collectives --collective all -b 8K -e 1G -f 2
    python -m runner.probes.collectives --collective all_reduce|all_gather|all_to_all|all \\
        -b 8K -e 64M -f 2 -n 20 -w 5 [--backend auto|gloo|nccl] [--dtype float32] [--check 0|1] [--json PATH]

Rank 0 prints the stdout layout of nccl-tests (all_reduce_perf, all_gather_perf, alltoall_perf:
header, device list, one row per size, footer), so the "nccl-tests" parser reads it unchanged.
The first header line names the probe instead of an nccl-tests version.

Semantics follow nccl-tests:
* sizes go from -b to -e multiplying by -f; counts are rounded down like nccl-tests
  (all_gather: count = per-rank count, size = gathered bytes; alltoall: count = per-peer count);
* time is microseconds per op, the maximum over ranks; algbw = bytes / time (GB = 1e9);
  busbw = algbw * 2(n-1)/n (all_reduce) or (n-1)/n (all_gather, alltoall);
* #wrong is the number of wrong elements summed over ranks; alltoall has no in-place form,
  so its in-place half is timed (as a second out-of-place run) and its #wrong column is N/A;
* torch has no out-of-place all_reduce, so both all_reduce halves reduce in place
  (the out-of-place half on a separate buffer);
* "Avg bus bandwidth" is the mean busbw over every row and both halves;
* the exit status is non-zero when any value is wrong.

On GPU (backend nccl) each rank uses cuda:LOCAL_RANK and times with CUDA events; on CPU
(backend gloo) it times with time.perf_counter around the loop followed by a barrier.
--json PATH writes the nccl-tests -J layout (no environment dump); with --collective all, one file
per collective (PATH.all_reduce.json, ...). Exit status: 0 ok, 1 wrong values, 2 usage or missing
torch, 3 the process group failed (start-up timeout, NCCL error).
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import re
import socket
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any, Callable, Iterator, Mapping, Sequence

TORCH_MISSING_MESSAGE = "the collectives probe needs torch: pip install '.[probes]' (or torch==2.13.0 on CPU machines)"

EXIT_OK = 0
EXIT_WRONG_VALUES = 1
EXIT_USAGE = 2
EXIT_INFRA = 3

DEFAULT_TIMEOUT_S = 300

SIZE_PATTERN = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([kKmMgG]?)\s*$")
SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}

# --dtype value -> (torch dtype attribute, nccl-tests type name)
DTYPES = {
    "float32": ("float32", "float"),
    "float": ("float32", "float"),
    "float16": ("float16", "half"),
    "half": ("float16", "half"),
    "bfloat16": ("bfloat16", "bfloat16"),
    "float64": ("float64", "double"),
    "double": ("float64", "double"),
    "int8": ("int8", "int8"),
    "uint8": ("uint8", "uint8"),
    "int32": ("int32", "int32"),
    "int64": ("int64", "int64"),
}


class ProbeError(Exception):
    """A problem reported as one line (no traceback); carries the exit status."""

    def __init__(self, message: str, exit_code: int = EXIT_INFRA):
        super().__init__(message)
        self.exit_code = exit_code


# ---------------------------------------------------------------------------------------------
# Command line


def parse_size(text: str) -> int:
    """nccl-tests size syntax: a number with an optional binary suffix K, M or G ("8K", "1.5M", "64")."""
    match = SIZE_PATTERN.match(text)
    if not match:
        raise ValueError(f"invalid size {text!r}: use a number with an optional K, M or G suffix, e.g. 8K or 64M")
    number, suffix = match.groups()
    return int(float(number) * SIZE_UNITS[suffix.lower()])


def _size_argument(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def build_argument_parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="python -m runner.probes.collectives",
        description="Measure torch.distributed collectives and print the nccl-tests text format (rank 0).",
    )
    cli.add_argument("--collective", default="all_reduce", choices=[*COLLECTIVE_NAMES, "all"])
    cli.add_argument("-b", "--minbytes", type=_size_argument, default=parse_size("8K"), help="smallest size (default 8K)")
    cli.add_argument("-e", "--maxbytes", type=_size_argument, default=parse_size("64M"), help="largest size (default 64M)")
    cli.add_argument("-f", "--stepfactor", type=int, default=2, help="multiply the size by this each step (default 2)")
    cli.add_argument("-n", "--iters", type=int, default=20, help="timed iterations per size (default 20)")
    cli.add_argument("-w", "--warmup_iters", type=int, default=5, help="warm-up iterations per size (default 5)")
    cli.add_argument("--backend", choices=["auto", "gloo", "nccl"], default="auto",
                     help="auto = nccl when CUDA is available, else gloo")
    cli.add_argument("-d", "--dtype", choices=sorted(DTYPES), default="float32")
    cli.add_argument("-c", "--check", type=int, choices=[0, 1], default=1, help="verify results (default 1)")
    cli.add_argument("--json", metavar="PATH", help="rank 0 also writes the results as JSON in the nccl-tests -J layout; "
                     "with --collective all one file per collective (PATH.all_reduce.json, ...)")
    cli.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                     help=f"seconds to wait for the other ranks, at start-up and in each collective (default {DEFAULT_TIMEOUT_S})")
    return cli


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    cli = build_argument_parser()
    args = cli.parse_args(argv)
    problem = argument_problem(args)
    if problem:
        cli.error(problem)
    return args


def argument_problem(args: argparse.Namespace) -> str:
    if args.minbytes <= 0:
        return "-b must be greater than 0"
    if args.maxbytes < args.minbytes:
        return "-e must not be smaller than -b"
    if args.stepfactor < 2:
        return "-f must be 2 or more"
    if args.iters < 1:
        return "-n must be 1 or more"
    if args.warmup_iters < 0:
        return "-w must not be negative"
    if args.timeout <= 0:
        return "--timeout must be positive"
    return ""


def sweep_sizes(min_bytes: int, max_bytes: int, factor: int) -> Iterator[int]:
    size = min_bytes
    while size <= max_bytes:
        yield size
        size *= factor


# ---------------------------------------------------------------------------------------------
# nccl-tests number formatting and layout (src/util.cu)


def format_float(value: float, width: int) -> str:
    """nccl-tests getFloatStr: two decimals if they fit the width, then one, then none, then exponent."""
    digits = integer_digits(value)
    if digits < width - 2:
        return "%*.2f" % (width, value)
    if digits < width - 1:
        return "%*.1f" % (width, value)
    if digits < width + 1:
        return "%*.0f" % (width, value)
    if width >= 7:
        return "%*.1e" % (width, value)
    return "%*.0e" % (width, value)


def integer_digits(value: float) -> int:
    """How many powers of ten are <= value (the `power` loop of getFloatStr); 0 below 1 and for NaN."""
    digits, power = 0, 1
    while value >= power and digits < 400:
        digits += 1
        power *= 10
    return digits


@dataclass(frozen=True)
class HalfResult:
    """One half (out-of-place or in-place) of a result row. wrong is None when not reported (N/A)."""

    time_us: float
    algbw: float
    busbw: float
    wrong: int | None


@dataclass(frozen=True)
class ResultRow:
    size: int
    count: int
    type_name: str
    redop: str
    root: int
    out_of_place: HalfResult
    in_place: HalfResult


def format_half(half: HalfResult) -> str:
    time_text = format_float(half.time_us, 7)
    algbw_text = format_float(half.algbw, 6)
    busbw_text = format_float(half.busbw, 6)
    if half.wrong is None:
        return "  %7s  %6s  %6s    N/A" % (time_text, algbw_text, busbw_text)
    return "  %7s  %6s  %6s  %6g" % (time_text, algbw_text, busbw_text, float(half.wrong))


def format_row(row: ResultRow) -> str:
    preamble = "%12li  %12li  %8s  %6s  %6s" % (row.size, row.count, row.type_name, row.redop, "%6i" % row.root)
    return preamble + format_half(row.out_of_place) + format_half(row.in_place)


def column_header_lines() -> list[str]:
    empty = ("", "", "", "", "")
    return [
        "# %10s  %12s  %8s  %6s  %6s           out-of-place                       in-place          " % empty,
        "# %10s  %12s  %8s  %6s  %6s  %7s  %6s  %6s  %6s  %7s  %6s  %6s  %6s %s"
        % ("size", "count", "type", "redop", "root", "time", "algbw", "busbw", "#wrong", "time", "algbw", "busbw", "#wrong", ""),
        "# %10s  %12s  %8s  %6s  %6s  %7s  %6s  %6s  %6s  %7s  %6s  %6s  %6s %s"
        % ("(B)", "(elements)", "", "", "", "(us)", "(GB/s)", "(GB/s)", "", "(us)", "(GB/s)", "(GB/s)", "", ""),
    ]


@dataclass(frozen=True)
class DeviceInfo:
    """One `#  Rank ...` line of the device report."""

    rank: int
    group: int
    pid: int
    hostname: str
    device: int
    device_hex: str
    device_info: str


def format_device_line(info: DeviceInfo) -> str:
    return "#  Rank %2d Group %2d Pid %6d on %10s device %2d [%s] %s" % (
        info.rank, info.group, info.pid, info.hostname, info.device, info.device_hex, info.device_info)


@dataclass(frozen=True)
class RunSettings:
    """What the header line `# nThread ...` reports."""

    min_bytes: int
    max_bytes: int
    step_factor: int
    warmup_iters: int
    iters: int
    check: int


def header_lines(probe_line: str, program: str, settings: RunSettings, devices: Sequence[DeviceInfo]) -> list[str]:
    return [
        probe_line,
        "# Collective test starting: %s" % program,
        "# nThread 1 nGpus 1 minBytes %d maxBytes %d step: %d(factor) warmup iters: %d iters: %d agg iters: 1 "
        "validation: %d graph: 0 unalign: 0"
        % (settings.min_bytes, settings.max_bytes, settings.step_factor, settings.warmup_iters, settings.iters, settings.check),
        "#",
        "# Using devices",
        *(format_device_line(device) for device in devices),
        "#",
        *column_header_lines(),
    ]


def average_bus_bandwidth(rows: Sequence[ResultRow]) -> float:
    """Mean busbw over all rows, out-of-place and in-place (nccl-tests bw[0] / bw_count[0])."""
    values = [half.busbw for row in rows for half in (row.out_of_place, row.in_place)]
    return sum(values) / len(values) if values else 0.0


def count_failed_halves(rows: Sequence[ResultRow]) -> int:
    """nccl-tests "Out of bounds values": how many reported halves had wrong elements."""
    return sum(1 for row in rows for half in (row.out_of_place, row.in_place) if half.wrong)


def footer_lines(program: str, rows: Sequence[ResultRow]) -> list[str]:
    failed = count_failed_halves(rows)
    return [
        "# %-20s : %d %s" % ("Out of bounds values", failed, "FAILED" if failed else "OK"),
        "# %-20s : %g %s" % ("Avg bus bandwidth", average_bus_bandwidth(rows), ""),
        "#",
        "# Collective test concluded: %s" % program,
        "#",
        "",
    ]


# ---------------------------------------------------------------------------------------------
# Collectives: counts, bandwidth and the operations themselves


@dataclass(frozen=True)
class Counts:
    """Element counts for one size, as nccl-tests' *GetCollByteCount computes them."""

    param: int  # the count column: per call (all_reduce), per rank (all_gather), per peer (alltoall)
    send: int
    recv: int

    def size_bytes(self, element_size: int) -> int:
        return max(self.send, self.recv) * element_size


@dataclass
class Half:
    """The buffers of one half, ready to run: `refill` writes the input, `expected` builds the right output."""

    run: Callable[[], Any]
    refill: Callable[[], Any]
    output: Any
    expected: Callable[[], Any]


class Collective:
    name = ""
    program = ""
    redop = "none"
    in_place_checked = True

    def counts(self, count: int, ranks: int) -> Counts:
        raise NotImplementedError

    def algbw_bytes(self, counts: Counts, element_size: int, ranks: int) -> int:
        raise NotImplementedError

    def bus_factor(self, ranks: int) -> float:
        return (ranks - 1) / ranks

    def prepare(self, counts: Counts, ctx: "RankContext", in_place: bool) -> Half:
        raise NotImplementedError


class AllReduce(Collective):
    name = "all_reduce"
    program = "all_reduce_perf"
    redop = "sum"

    def counts(self, count: int, ranks: int) -> Counts:
        return Counts(param=count, send=count, recv=count)

    def algbw_bytes(self, counts: Counts, element_size: int, ranks: int) -> int:
        return counts.param * element_size

    def bus_factor(self, ranks: int) -> float:
        return 2 * (ranks - 1) / ranks

    def prepare(self, counts: Counts, ctx: "RankContext", in_place: bool) -> Half:
        # torch only reduces in place; the out-of-place half uses its own buffer all the same.
        buffer = ctx.empty(counts.param)
        world, rank = ctx.world_size, ctx.rank
        rank_sum = world * (world + 1) // 2
        return Half(
            run=lambda: ctx.dist.all_reduce(buffer),
            refill=lambda: buffer.copy_(ctx.pattern(counts.param, base=rank + 1)),
            output=buffer,
            expected=lambda: ctx.pattern(counts.param, base=rank_sum, step_scale=world),
        )


class AllGather(Collective):
    name = "all_gather"
    program = "all_gather_perf"

    def counts(self, count: int, ranks: int) -> Counts:
        per_rank = count // ranks
        return Counts(param=per_rank, send=per_rank, recv=per_rank * ranks)

    def algbw_bytes(self, counts: Counts, element_size: int, ranks: int) -> int:
        return counts.param * element_size * ranks

    def prepare(self, counts: Counts, ctx: "RankContext", in_place: bool) -> Half:
        output = ctx.empty(counts.recv)
        rank = ctx.rank
        send = output.narrow(0, rank * counts.param, counts.param) if in_place else ctx.empty(counts.send)

        def refill() -> None:
            if not in_place:
                output.zero_()
            send.copy_(ctx.pattern(counts.param, base=rank + 1))

        def expected() -> Any:
            blocks = [ctx.pattern(counts.param, base=peer + 1) for peer in range(ctx.world_size)]
            return ctx.torch.cat(blocks)

        gather = gather_into_tensor_function(ctx.dist)
        return Half(run=lambda: gather(output, send), refill=refill, output=output, expected=expected)


class AllToAll(Collective):
    name = "all_to_all"
    program = "alltoall_perf"
    in_place_checked = False  # nccl-tests does not support in-place alltoall: #wrong is N/A

    def counts(self, count: int, ranks: int) -> Counts:
        per_peer = count // ranks
        return Counts(param=per_peer, send=per_peer * ranks, recv=per_peer * ranks)

    def algbw_bytes(self, counts: Counts, element_size: int, ranks: int) -> int:
        return counts.param * ranks * element_size

    def prepare(self, counts: Counts, ctx: "RankContext", in_place: bool) -> Half:
        # The in-place half runs out of place again (torch has no in-place all_to_all); only its time is reported.
        send, output = ctx.empty(counts.send), ctx.empty(counts.recv)
        world, rank, per_peer = ctx.world_size, ctx.rank, counts.param

        def block_value(sender: int, receiver: int) -> int:
            return sender * world + receiver + 1

        def refill() -> None:
            output.zero_()
            blocks = [ctx.pattern(per_peer, base=block_value(rank, peer)) for peer in range(world)]
            send.copy_(ctx.torch.cat(blocks))

        def expected() -> Any:
            return ctx.torch.cat([ctx.pattern(per_peer, base=block_value(peer, rank)) for peer in range(world)])

        return Half(run=lambda: ctx.dist.all_to_all_single(output, send), refill=refill, output=output, expected=expected)


def gather_into_tensor_function(dist: Any) -> Callable[[Any, Any], Any]:
    """all_gather_single (torch >= 2.13) or its older name all_gather_into_tensor."""
    return getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor


COLLECTIVES: dict[str, Collective] = {c.name: c for c in (AllReduce(), AllGather(), AllToAll())}
COLLECTIVE_NAMES = tuple(COLLECTIVES)


def selected_collectives(choice: str) -> list[Collective]:
    return list(COLLECTIVES.values()) if choice == "all" else [COLLECTIVES[choice]]


def bandwidths(collective: Collective, counts: Counts, element_size: int, ranks: int, time_us: float) -> tuple[float, float]:
    """(algbw, busbw) in GB/s (1e9) as nccl-tests *GetBw computes them."""
    if time_us <= 0:
        return 0.0, 0.0
    algbw = collective.algbw_bytes(counts, element_size, ranks) / 1.0e9 / (time_us * 1e-6)
    return algbw, algbw * collective.bus_factor(ranks)


# ---------------------------------------------------------------------------------------------
# Ranks, devices and the process group


@dataclass(frozen=True)
class RankEnvironment:
    rank: int
    world_size: int
    local_rank: int
    local_world_size: int
    master_addr: str
    master_port: int


def _integer_variable(environ: Mapping[str, str], name: str) -> int:
    try:
        return int(environ[name])
    except ValueError as error:
        raise ProbeError(f"{name}={environ[name]!r} is not an integer", EXIT_USAGE) from error


def read_rank_environment(environ: Mapping[str, str]) -> RankEnvironment:
    """Rank layout from torchrun variables (RANK, ...) or, when RANK is absent, from Open MPI's (OMPI_COMM_WORLD_*)."""
    if "RANK" in environ:
        names = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")
    elif "OMPI_COMM_WORLD_RANK" in environ:
        names = ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE")
    else:
        names = ()
    values = {}
    for key, name in zip(("rank", "world_size", "local_rank", "local_world_size"), names):
        if name in environ:
            values[key] = _integer_variable(environ, name)
    rank = values.get("rank", 0)
    world_size = values.get("world_size", 1)
    local_rank = values.get("local_rank", rank)
    local_world_size = values.get("local_world_size", world_size)
    if not 0 <= rank < world_size:
        raise ProbeError(f"rank {rank} is outside the world size {world_size}", EXIT_USAGE)
    if world_size > 1 and not ("MASTER_ADDR" in environ and "MASTER_PORT" in environ):
        raise ProbeError("set MASTER_ADDR and MASTER_PORT (host and free port of rank 0) for a multi-rank run", EXIT_USAGE)
    master_port = _integer_variable(environ, "MASTER_PORT") if "MASTER_PORT" in environ else 29500
    return RankEnvironment(rank, world_size, local_rank, local_world_size,
                           environ.get("MASTER_ADDR", "127.0.0.1"), master_port)


@dataclass
class RankContext:
    """This rank's view of the run: torch modules, process group facts, device and dtype."""

    torch: Any
    dist: Any
    rank: int
    world_size: int
    local_rank: int
    backend: str
    device: Any
    dtype: Any
    type_name: str
    element_size: int = field(init=False)

    def __post_init__(self) -> None:
        self.element_size = self.torch.empty(0, dtype=self.dtype).element_size()

    @property
    def on_gpu(self) -> bool:
        return self.device.type == "cuda"

    def empty(self, count: int) -> Any:
        return self.torch.empty(count, dtype=self.dtype, device=self.device)

    def pattern(self, count: int, base: int, step_scale: int = 1) -> Any:
        """base + step_scale * (i % 3): small integers, exact in every dtype the probe offers."""
        steps = self.torch.arange(count, device=self.device) % 3
        return (steps * step_scale + base).to(self.dtype)

    def synchronize(self) -> None:
        if self.on_gpu:
            self.torch.cuda.synchronize(self.device)

    def max_over_ranks(self, value: float) -> float:
        tensor = self.torch.tensor([value], dtype=self.torch.float64, device=self.device)
        self.dist.all_reduce(tensor, op=self.dist.ReduceOp.MAX)
        return float(tensor.item())

    def sum_over_ranks(self, value: int) -> int:
        tensor = self.torch.tensor([value], dtype=self.torch.int64, device=self.device)
        self.dist.all_reduce(tensor, op=self.dist.ReduceOp.SUM)
        return int(tensor.item())


def import_torch() -> Any:
    try:
        import torch  # the probe imports torch only when it runs, not when --help is read
        import torch.distributed  # noqa: F401
    except ImportError as error:
        raise ProbeError(TORCH_MISSING_MESSAGE, EXIT_USAGE) from error
    if not torch.distributed.is_available():
        raise ProbeError("this torch build has no torch.distributed support", EXIT_USAGE)
    return torch


def choose_backend(torch: Any, requested: str) -> str:
    if requested == "auto":
        return "nccl" if torch.cuda.is_available() else "gloo"
    if requested == "nccl" and not torch.cuda.is_available():
        raise ProbeError("--backend nccl needs a CUDA device, and torch sees none (use --backend gloo)", EXIT_USAGE)
    return requested


def choose_device(torch: Any, backend: str, env: RankEnvironment) -> Any:
    if backend != "nccl":
        return torch.device("cpu")
    visible = torch.cuda.device_count()
    if env.local_rank >= visible:
        raise ProbeError(f"LOCAL_RANK {env.local_rank} has no GPU: this node shows {visible} CUDA device(s)", EXIT_USAGE)
    torch.cuda.set_device(env.local_rank)
    return torch.device("cuda", env.local_rank)


def limit_cpu_threads(torch: Any, env: RankEnvironment) -> None:
    """Ranks sharing a CPU node split its cores rather than each using all of them."""
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(1, env.local_world_size)))


def start_process_group(torch: Any, backend: str, device: Any, env: RankEnvironment, timeout_s: float) -> None:
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = env.master_addr, str(env.master_port)
    options: dict[str, Any] = dict(backend=backend, init_method="env://", rank=env.rank, world_size=env.world_size,
                                   timeout=timedelta(seconds=timeout_s))
    if device.type == "cuda" and accepts_keyword(torch.distributed.init_process_group, "device_id"):
        options["device_id"] = device  # binds the communicator to this GPU at once
    try:
        torch.distributed.init_process_group(**options)
    except Exception as error:  # torch raises several types (RuntimeError, DistNetworkError, TimeoutError)
        raise ProbeError(f"rank {env.rank} could not join the {backend} process group at "
                         f"{env.master_addr}:{env.master_port} within {timeout_s:g}s: {first_line(error)}") from error


def accepts_keyword(function: Callable[..., Any], name: str) -> bool:
    try:
        return name in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


def stop_process_group(torch: Any) -> None:
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


def short_hostname() -> str:
    """The host name up to its first dot, as nccl-tests getHostName prints it."""
    return socket.gethostname().split(".")[0]


def describe_this_rank(ctx: RankContext, pid: int) -> DeviceInfo:
    if not ctx.on_gpu:
        return DeviceInfo(ctx.rank, 0, pid, short_hostname(), -1, "0000:00:00", "cpu")
    properties = ctx.torch.cuda.get_device_properties(ctx.device)
    pci = tuple(getattr(properties, name, 0) for name in ("pci_domain_id", "pci_bus_id", "pci_device_id"))
    return DeviceInfo(ctx.rank, 0, pid, short_hostname(), ctx.device.index, "%04x:%02x:%02x" % pci, properties.name)


def gather_devices(ctx: RankContext) -> list[DeviceInfo]:
    everyone: list[Any] = [None] * ctx.world_size
    ctx.dist.all_gather_object(everyone, describe_this_rank(ctx, os.getpid()))
    return everyone


def probe_description(ctx: RankContext) -> str:
    from runner import (
        __version__,  # the probe runs on nodes from a plain copy of this file too
    )

    text = f"# Collective probe (scenario-runner {__version__}) torch {ctx.torch.__version__} backend {ctx.backend}"
    if ctx.backend == "nccl":
        text += " nccl " + nccl_version_text(ctx.torch.cuda.nccl.version())
    return text


def nccl_version_text(version: Any) -> str:
    """torch gives (2, 21, 5); old releases gave the integer code 2708 / 22105."""
    if isinstance(version, int):
        major, rest = (version // 1000, version % 1000) if version < 10000 else (version // 10000, version % 10000)
        minor, patch = (rest // 100, rest % 100)
        return f"{major}.{minor}.{patch}"
    return ".".join(str(part) for part in version)


# ---------------------------------------------------------------------------------------------
# Measurement


def time_per_op_us(ctx: RankContext, run: Callable[[], Any], iters: int, warmup_iters: int) -> float:
    """Microseconds per op on this rank, after warm-up; ranks start together (barrier)."""
    for _ in range(warmup_iters):
        run()
    ctx.synchronize()
    ctx.dist.barrier()
    ctx.synchronize()
    if ctx.on_gpu:
        return gpu_loop_time_us(ctx, run, iters)
    return cpu_loop_time_us(ctx, run, iters)


def gpu_loop_time_us(ctx: RankContext, run: Callable[[], Any], iters: int) -> float:
    start, end = ctx.torch.cuda.Event(enable_timing=True), ctx.torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iters):
        run()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) * 1000.0 / iters


def cpu_loop_time_us(ctx: RankContext, run: Callable[[], Any], iters: int) -> float:
    started = time.perf_counter()
    for _ in range(iters):
        run()
    ctx.dist.barrier()
    return (time.perf_counter() - started) * 1e6 / iters


def count_wrong_elements(ctx: RankContext, half: Half) -> int:
    """Run once on fresh input and count wrong output elements on this rank."""
    half.refill()
    half.run()
    ctx.synchronize()
    return int((half.output != half.expected()).sum().item())


def measure_half(ctx: RankContext, collective: Collective, counts: Counts, in_place: bool, args: argparse.Namespace) -> HalfResult:
    half = collective.prepare(counts, ctx, in_place)
    half.refill()
    time_us = ctx.max_over_ranks(time_per_op_us(ctx, half.run, args.iters, args.warmup_iters))
    algbw, busbw = bandwidths(collective, counts, ctx.element_size, ctx.world_size, time_us)
    reported = args.check and (collective.in_place_checked or not in_place)
    wrong = ctx.sum_over_ranks(count_wrong_elements(ctx, half)) if reported else None
    return HalfResult(time_us, algbw, busbw, wrong)


def measure_size(ctx: RankContext, collective: Collective, size: int, args: argparse.Namespace) -> ResultRow:
    counts = collective.counts(size // ctx.element_size, ctx.world_size)
    out_of_place = measure_half(ctx, collective, counts, False, args)
    in_place = measure_half(ctx, collective, counts, True, args)
    return ResultRow(counts.size_bytes(ctx.element_size), counts.param, ctx.type_name, collective.redop, -1,
                     out_of_place, in_place)


# ---------------------------------------------------------------------------------------------
# Reporting (rank 0)


class Printer:
    """Writes lines on rank 0 only, flushing each so that a launcher's log streams."""

    def __init__(self, enabled: bool, stream: Any = None):
        self.enabled = enabled
        self.stream = stream or sys.stdout

    def lines(self, lines: Sequence[str]) -> None:
        if self.enabled:
            self.stream.write("".join(line + "\n" for line in lines))
            self.stream.flush()


def json_half(half: HalfResult) -> dict[str, Any]:
    return {"time": half.time_us, "alg_bw": half.algbw, "bus_bw": half.busbw,
            "nwrong": None if half.wrong is None else float(half.wrong)}


def json_row(row: ResultRow, iters: int) -> dict[str, Any]:
    return {"size": row.size, "count": row.count, "type": row.type_name, "redop": row.redop, "root": "%6i" % row.root,
            "out_of_place": json_half(row.out_of_place), "in_place": json_half(row.in_place),
            "actual_iterations": iters, "experiment_name": ""}


def json_report(collective: Collective, settings: RunSettings, devices: Sequence[DeviceInfo], rows: Sequence[ResultRow],
                started: str, probe_line: str) -> dict[str, Any]:
    """One run in the layout of nccl-tests -J (version 3 keys), without the environment dump."""
    failed = count_failed_halves(rows)
    return {
        "version": 3,
        "probe": probe_line.lstrip("# "),
        "program": collective.program,
        "collective": collective.name,
        "start_time": started,
        "args": [collective.program, *sys.argv[1:]],  # argv[0] as nccl-tests has it: readers take the collective from it
        "config": {"nthreads": 1, "ngpus": 1, "minimum_bytes": settings.min_bytes, "maximum_bytes": settings.max_bytes,
                   "step_factor": settings.step_factor, "warmup_iters": settings.warmup_iters,
                   "iterations": settings.iters, "aggregated_iterations": 1, "validation": settings.check, "graph": 0,
                   "devices": [asdict(device) for device in devices]},
        "results": [json_row(row, settings.iters) for row in rows],
        "out_of_bounds": {"count": failed, "okay": failed == 0},
        "average_bus_bandwidth": {"bandwidth": average_bus_bandwidth(rows), "okay": "unchecked"},
        "end_time": now_text(),
    }


def now_text() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")


def json_paths(path: str, collectives: Sequence[Collective]) -> list[str]:
    """PATH for one collective; for several, one file each: results.json -> results.all_reduce.json, ..."""
    if len(collectives) == 1:
        return [path]
    stem, suffix = os.path.splitext(path)
    return [f"{stem}.{collective.name}{suffix or '.json'}" for collective in collectives]


def write_json(path: str, report: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=1)
        handle.write("\n")


def run_collective(ctx: RankContext, collective: Collective, args: argparse.Namespace, printer: Printer,
                   devices: Sequence[DeviceInfo], probe_line: str) -> dict[str, Any]:
    settings = RunSettings(args.minbytes, args.maxbytes, args.stepfactor, args.warmup_iters, args.iters, args.check)
    started = now_text()
    printer.lines(header_lines(probe_line, collective.program, settings, devices))
    rows = []
    for size in sweep_sizes(args.minbytes, args.maxbytes, args.stepfactor):
        row = measure_size(ctx, collective, size, args)
        rows.append(row)
        printer.lines([format_row(row)])
    printer.lines(footer_lines(collective.program, rows))
    return json_report(collective, settings, devices, rows, started, probe_line)


def run_probe(ctx: RankContext, args: argparse.Namespace) -> int:
    printer = Printer(enabled=ctx.rank == 0)
    devices = gather_devices(ctx)
    probe_line = probe_description(ctx)
    collectives = selected_collectives(args.collective)
    reports = [run_collective(ctx, collective, args, printer, devices, probe_line) for collective in collectives]
    if args.json and ctx.rank == 0:
        for path, report in zip(json_paths(args.json, collectives), reports):
            write_json(path, report)
    failed = sum(report["out_of_bounds"]["count"] for report in reports)
    if failed and ctx.rank == 0:
        print(f"error: the collectives probe found wrong values in {failed} result(s); see the #wrong columns", file=sys.stderr)
    return EXIT_WRONG_VALUES if failed else EXIT_OK


def make_context(torch: Any, args: argparse.Namespace, env: RankEnvironment) -> RankContext:
    backend = choose_backend(torch, args.backend)
    device = choose_device(torch, backend, env)
    if device.type == "cpu":
        limit_cpu_threads(torch, env)
    start_process_group(torch, backend, device, env, args.timeout)
    dtype_name, type_name = DTYPES[args.dtype]
    return RankContext(torch, torch.distributed, env.rank, env.world_size, env.local_rank, backend, device,
                       getattr(torch, dtype_name), type_name)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    torch = None
    env = None
    try:
        torch = import_torch()
        env = read_rank_environment(os.environ)
        ctx = make_context(torch, args, env)
        return run_probe(ctx, args)
    except ProbeError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except RuntimeError as error:  # torch.distributed failures (timeouts, NCCL errors) are RuntimeErrors
        rank = env.rank if env else "?"
        print(f"error: collectives probe rank {rank}: {first_line(error)}", file=sys.stderr)
        return EXIT_INFRA
    finally:
        if torch is not None:
            stop_process_group(torch)


if __name__ == "__main__":
    sys.exit(main())
