"""The collectives probe: nccl-tests number formatting and layout, size parsing, rank environment,
and real multi-rank runs with gloo on CPU (one subprocess per rank, as torchrun would start them)."""
from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from runner.probes import collectives as probe

REPO = Path(__file__).resolve().parents[2]
NCCL_TESTS_FIXTURES = REPO / "tests" / "fixtures" / "nccl-tests"
HAVE_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed (pip install '.[probes]', or torch==2.13.0 on CPU)")

RANK_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "GROUP_RANK",
                  "ROLE_RANK", "TORCHELASTIC_RUN_ID")
SMALL_SWEEP = ("-b", "1K", "-e", "64K", "-f", "2", "-n", "3", "-w", "1")
SMALL_SIZES = [1024 << i for i in range(7)]
PROGRAMS = {"all_reduce": "all_reduce_perf", "all_gather": "all_gather_perf", "all_to_all": "alltoall_perf"}
BUS_FACTORS = {"all_reduce_perf": lambda n: 2 * (n - 1) / n, "all_gather_perf": lambda n: (n - 1) / n,
               "alltoall_perf": lambda n: (n - 1) / n}
LAUNCH_TIMEOUT_S = 240


# ---------------------------------------------------------------------------------------------
# Launching ranks


@dataclass
class Launch:
    returncodes: list[int]
    stdouts: list[str]
    stderrs: list[str]

    @property
    def output(self) -> str:
        return self.stdouts[0]

    def explain(self) -> str:
        return "\n".join(f"--- rank {rank} rc={rc}\n{err[-3000:]}" for rank, (rc, err) in enumerate(zip(self.returncodes, self.stderrs)))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_environment() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if key not in RANK_VARIABLES and not key.startswith("OMPI_COMM_WORLD_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")]))
    env["PYTHONWARNINGS"] = "ignore"
    return env


def rank_environment(rank: int, ranks: int, port: int) -> dict[str, str]:
    env = clean_environment()
    env.update(RANK=str(rank), WORLD_SIZE=str(ranks), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(ranks),
               MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    return env


def launch(ranks: int, *arguments: str, python_args: tuple[str, ...] = ("-m", "runner.probes.collectives")) -> Launch:
    """Start one process per rank with the torchrun variables set; wait for all of them."""
    port = free_port()
    processes = [
        subprocess.Popen([sys.executable, *python_args, *arguments], cwd=REPO, env=rank_environment(rank, ranks, port),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for rank in range(ranks)
    ]
    try:
        outputs = [process.communicate(timeout=LAUNCH_TIMEOUT_S) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    return Launch([p.returncode for p in processes], [out for out, _ in outputs], [err for _, err in outputs])


# ---------------------------------------------------------------------------------------------
# Reading the probe's output back


@dataclass
class Block:
    """One run (one collective) of the printed output."""

    lines: list[str]

    @property
    def program(self) -> str:
        return self.line_after("# Collective test starting: ")

    def line_after(self, prefix: str) -> str:
        return next(line[len(prefix):] for line in self.lines if line.startswith(prefix))

    @property
    def rows(self) -> list[list[str]]:
        return [line.split() for line in self.lines if line.strip() and not line.startswith("#")]

    @property
    def device_lines(self) -> list[str]:
        return [line for line in self.lines if line.startswith("#  Rank ")]

    @property
    def avg_busbw(self) -> float:
        return float(self.line_after("# Avg bus bandwidth    : "))


def split_blocks(output: str) -> list[Block]:
    blocks: list[Block] = []
    for line in output.splitlines():
        if line.startswith("# Collective probe "):
            blocks.append(Block([]))
        if blocks:
            blocks[-1].lines.append(line)
    return blocks


def block_of(output: str, program: str) -> Block:
    return next(block for block in split_blocks(output) if block.program == program)


def rounding_of(text: str) -> float:
    """Half a unit of the last printed digit: the most a printed number can be off by rounding."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return 0.5 * 10.0 ** -decimals


# ---------------------------------------------------------------------------------------------
# Unit tests: sizes, number formatting, layout


@pytest.mark.parametrize("text, expected", [
    ("8", 8), ("1K", 1024), ("8k", 8192), ("64M", 64 << 20), ("1G", 1 << 30), ("16g", 16 << 30),
    ("1.5K", 1536), (" 32M ", 32 << 20), ("0", 0),
])
def test_parse_size_reads_nccl_tests_suffixes(text: str, expected: int) -> None:
    assert probe.parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "K", "8T", "8KB", "-1", "abc"])
def test_parse_size_rejects_other_text(text: str) -> None:
    with pytest.raises(ValueError, match="invalid size"):
        probe.parse_size(text)


@pytest.mark.parametrize("value, width, expected", [
    (0.0, 7, "   0.00"), (47.98, 7, "  47.98"), (1537.62, 7, "1537.62"), (9999.994, 7, "9999.99"),
    (12157.71, 7, "12157.7"), (99284.84, 7, "99284.8"), (199011.3, 7, " 199011"), (9999999.0, 7, "9999999"),
    (12345678.0, 7, "1.2e+07"),
    (0.0, 6, "  0.00"), (0.024, 6, "  0.02"), (3.09, 6, "  3.09"), (469.47, 6, "469.47"), (1234.56, 6, "1234.6"),
    (12345.6, 6, " 12346"), (999999.0, 6, "999999"), (1234567.0, 6, " 1e+06"),
    (float("nan"), 6, "   nan"),
])
def test_format_float_fits_the_width_like_getFloatStr(value: float, width: int, expected: str) -> None:
    assert probe.format_float(value, width) == expected


def fixture_rows() -> list[list[str]]:
    rows = []
    for path in sorted(NCCL_TESTS_FIXTURES.glob("*.txt")):
        rows += [line.split() for line in path.read_text().splitlines() if line[:1] == " " and line.split()[0].isdigit()]
    return rows


@pytest.mark.skipif(not NCCL_TESTS_FIXTURES.is_dir(), reason="no nccl-tests fixtures in tests/fixtures/nccl-tests")
def test_rows_of_real_nccl_tests_logs_format_identically() -> None:
    """Every row of the real 4xH200 logs, rebuilt from its numbers, is the same text."""
    for path in sorted(NCCL_TESTS_FIXTURES.glob("*.txt")):
        for line in path.read_text().splitlines():
            fields = line.split()
            if not fields or not fields[0].isdigit():
                continue
            halves = [probe.HalfResult(float(t), float(a), float(b), None if w == "N/A" else int(w))
                      for t, a, b, w in (fields[5:9], fields[9:13])]
            row = probe.ResultRow(int(fields[0]), int(fields[1]), fields[2], fields[3], int(fields[4]), *halves)
            assert probe.format_row(row) == line, path.name


@pytest.mark.skipif(not NCCL_TESTS_FIXTURES.is_dir(), reason="no nccl-tests fixtures in tests/fixtures/nccl-tests")
def test_column_headers_match_real_nccl_tests_logs() -> None:
    fixture = (NCCL_TESTS_FIXTURES / "alltoall_perf.txt").read_text().splitlines()
    start = fixture.index(next(line for line in fixture if "out-of-place" in line))
    assert probe.column_header_lines() == fixture[start:start + 3]


def half(busbw: float, wrong: int | None = 0) -> probe.HalfResult:
    return probe.HalfResult(time_us=10.0, algbw=busbw, busbw=busbw, wrong=wrong)


def test_footer_averages_busbw_over_rows_and_both_halves() -> None:
    rows = [probe.ResultRow(8, 2, "float", "sum", -1, half(1.0), half(2.0)),
            probe.ResultRow(16, 4, "float", "sum", -1, half(3.0), half(6.0, None))]
    assert probe.footer_lines("all_reduce_perf", rows) == [
        "# Out of bounds values : 0 OK", "# Avg bus bandwidth    : 3 ", "#",
        "# Collective test concluded: all_reduce_perf", "#", ""]


def test_footer_counts_halves_with_wrong_values() -> None:
    rows = [probe.ResultRow(8, 2, "float", "sum", -1, half(1.0, 5), half(1.0, 2))]
    assert probe.footer_lines("all_reduce_perf", rows)[0] == "# Out of bounds values : 2 FAILED"


def test_device_line_has_the_nccl_tests_layout() -> None:
    info = probe.DeviceInfo(3, 0, 1782, "vm", 3, "0000:00:09", "NVIDIA H200")
    assert probe.format_device_line(info) == "#  Rank  3 Group  0 Pid   1782 on         vm device  3 [0000:00:09] NVIDIA H200"


def test_sweep_multiplies_up_to_the_largest_size() -> None:
    assert list(probe.sweep_sizes(8 << 10, 64 << 10, 2)) == [8 << 10, 16 << 10, 32 << 10, 64 << 10]
    assert list(probe.sweep_sizes(1000, 5000, 4)) == [1000, 4000]


@pytest.mark.parametrize("name, count, ranks, expected, size", [
    ("all_reduce", 1000, 4, probe.Counts(1000, 1000, 1000), 4000),
    ("all_gather", 1000, 3, probe.Counts(333, 333, 999), 3996),  # rounded down like nccl-tests
    ("all_to_all", 1000, 3, probe.Counts(333, 999, 999), 3996),
    ("all_to_all", 16, 4, probe.Counts(4, 16, 16), 64),
])
def test_counts_follow_nccl_tests(name: str, count: int, ranks: int, expected: probe.Counts, size: int) -> None:
    counts = probe.COLLECTIVES[name].counts(count, ranks)
    assert counts == expected
    assert counts.size_bytes(4) == size


@pytest.mark.parametrize("name, algbw, busbw", [
    ("all_reduce", 4.0, 6.0),  # 4 GB in 1 s, factor 2(n-1)/n = 1.5
    ("all_gather", 16.0, 12.0),  # gathered bytes 4 x 4 GB, factor (n-1)/n
    ("all_to_all", 16.0, 12.0),  # per-peer count x n
])
def test_bandwidths_use_nccl_tests_bytes_and_factors(name: str, algbw: float, busbw: float) -> None:
    counts = probe.Counts(param=10**9, send=0, recv=0)
    assert probe.bandwidths(probe.COLLECTIVES[name], counts, 4, 4, 1e6) == pytest.approx((algbw, busbw))


def test_rank_environment_from_torchrun_variables() -> None:
    env = {"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "n0", "MASTER_PORT": "1234"}
    assert probe.read_rank_environment(env) == probe.RankEnvironment(3, 8, 1, 2, "n0", 1234)


def test_rank_environment_from_open_mpi_when_rank_is_absent() -> None:
    env = {"OMPI_COMM_WORLD_RANK": "5", "OMPI_COMM_WORLD_SIZE": "16", "OMPI_COMM_WORLD_LOCAL_RANK": "5",
           "OMPI_COMM_WORLD_LOCAL_SIZE": "8", "MASTER_ADDR": "head", "MASTER_PORT": "29501"}
    assert probe.read_rank_environment(env) == probe.RankEnvironment(5, 16, 5, 8, "head", 29501)


def test_rank_environment_defaults_to_one_rank() -> None:
    assert probe.read_rank_environment({}) == probe.RankEnvironment(0, 1, 0, 1, "127.0.0.1", 29500)


@pytest.mark.parametrize("env, message", [
    ({"RANK": "1", "WORLD_SIZE": "2"}, "MASTER_ADDR"),
    ({"RANK": "2", "WORLD_SIZE": "2", "MASTER_ADDR": "h", "MASTER_PORT": "1"}, "outside the world size"),
    ({"RANK": "x", "WORLD_SIZE": "2"}, "not an integer"),
])
def test_rank_environment_problems_are_one_line_errors(env: dict, message: str) -> None:
    with pytest.raises(probe.ProbeError, match=message):
        probe.read_rank_environment(env)


@pytest.mark.parametrize("argv", [["-b", "0"], ["-b", "8M", "-e", "1M"], ["-f", "1"], ["-n", "0"], ["-b", "8X"],
                                  ["--collective", "broadcast"]])
def test_bad_arguments_exit_with_usage_status(argv: list[str], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        probe.parse_arguments(argv)
    assert exit_info.value.code == 2


def test_defaults_match_the_documented_usage() -> None:
    args = probe.parse_arguments([])
    assert (args.collective, args.minbytes, args.maxbytes, args.stepfactor, args.iters, args.warmup_iters,
            args.backend, args.dtype, args.check) == ("all_reduce", 8 << 10, 64 << 20, 2, 20, 5, "auto", "float32", 1)


def test_json_paths_one_file_per_collective() -> None:
    every = probe.selected_collectives("all")
    assert probe.json_paths("out/r.json", every) == ["out/r.all_reduce.json", "out/r.all_gather.json", "out/r.all_to_all.json"]
    assert probe.json_paths("out/r.json", every[:1]) == ["out/r.json"]


def test_missing_torch_is_one_clear_line() -> None:
    code = "import sys; sys.modules['torch'] = None; from runner.probes.collectives import main; sys.exit(main([]))"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=clean_environment(), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr == f"error: {probe.TORCH_MISSING_MESSAGE}\n"


# ---------------------------------------------------------------------------------------------
# Two ranks with gloo, every collective in one run (--collective all)


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory: pytest.TempPathFactory) -> tuple[Launch, Path]:
    if not HAVE_TORCH:
        pytest.skip("torch is not installed (pip install '.[probes]', or torch==2.13.0 on CPU)")
    json_path = tmp_path_factory.mktemp("probe") / "probe.json"
    return launch(2, "--collective", "all", "--backend", "gloo", *SMALL_SWEEP, "--json", str(json_path)), json_path


def json_report(json_path: Path, collective: str) -> dict:
    return json.loads(json_path.with_name(f"probe.{collective}.json").read_text())


@needs_torch
def test_two_ranks_exit_zero_and_only_rank_zero_prints(two_ranks: tuple[Launch, Path]) -> None:
    run, _ = two_ranks
    assert run.returncodes == [0, 0], run.explain()
    assert run.stdouts[1] == ""
    assert [block.program for block in split_blocks(run.output)] == list(PROGRAMS.values())
    assert run.output.endswith("# Collective test concluded: alltoall_perf\n#\n\n")


@needs_torch
@pytest.mark.parametrize("collective", list(PROGRAMS))
def test_header_and_footer_have_the_nccl_tests_layout(two_ranks: tuple[Launch, Path], collective: str) -> None:
    block = block_of(two_ranks[0].output, PROGRAMS[collective])
    assert block.lines[0].startswith("# Collective probe (scenario-runner ") and "backend gloo" in block.lines[0]
    assert block.lines[1] == f"# Collective test starting: {PROGRAMS[collective]}"
    assert block.lines[2] == ("# nThread 1 nGpus 1 minBytes 1024 maxBytes 65536 step: 2(factor) warmup iters: 1 iters: 3 "
                              "agg iters: 1 validation: 1 graph: 0 unalign: 0")
    assert block.lines[3:5] == ["#", "# Using devices"]
    assert [line.split()[2] for line in block.device_lines] == ["0", "1"]
    assert all(" device -1 [0000:00:00] cpu" in line for line in block.device_lines)
    assert block.lines[7:11] == ["#", *probe.column_header_lines()]
    assert block.lines[-6:] == ["# Out of bounds values : 0 OK", block.lines[-5], "#",
                                f"# Collective test concluded: {PROGRAMS[collective]}", "#", ""]


@needs_torch
@pytest.mark.parametrize("collective", list(PROGRAMS))
def test_one_row_per_doubling_size_and_no_wrong_values(two_ranks: tuple[Launch, Path], collective: str) -> None:
    rows = block_of(two_ranks[0].output, PROGRAMS[collective]).rows
    assert [int(row[0]) for row in rows] == SMALL_SIZES
    per_call = 1 if collective == "all_reduce" else 2  # all_gather: per-rank count, alltoall: per-peer count
    assert [int(row[1]) for row in rows] == [size // 4 // per_call for size in SMALL_SIZES]
    assert {tuple(row[2:5]) for row in rows} == {("float", "sum" if collective == "all_reduce" else "none", "-1")}
    assert {row[8] for row in rows} == {"0"}
    assert {row[12] for row in rows} == {"N/A" if collective == "all_to_all" else "0"}


@needs_torch
@pytest.mark.parametrize("collective", list(PROGRAMS))
def test_printed_busbw_is_algbw_times_the_bus_factor(two_ranks: tuple[Launch, Path], collective: str) -> None:
    factor = BUS_FACTORS[PROGRAMS[collective]](2)
    for row in block_of(two_ranks[0].output, PROGRAMS[collective]).rows:
        for algbw, busbw in ((row[6], row[7]), (row[10], row[11])):
            tolerance = rounding_of(busbw) + factor * rounding_of(algbw) + 1e-9
            assert abs(float(busbw) - float(algbw) * factor) <= tolerance, row


@needs_torch
@pytest.mark.parametrize("collective", list(PROGRAMS))
def test_json_numbers_agree_with_the_table(two_ranks: tuple[Launch, Path], collective: str) -> None:
    launch_result, json_path = two_ranks
    report = json_report(json_path, collective)
    factor = BUS_FACTORS[PROGRAMS[collective]](2)
    rows = block_of(launch_result.output, PROGRAMS[collective]).rows
    assert [result["size"] for result in report["results"]] == SMALL_SIZES
    busbws = []
    for result, row in zip(report["results"], rows):
        algbw_bytes = result["size"]  # with 2 ranks and no rounding, every collective moves `size` bytes
        for name, columns in (("out_of_place", row[5:8]), ("in_place", row[9:12])):
            numbers = result[name]
            assert numbers["alg_bw"] == pytest.approx(algbw_bytes / 1e9 / (numbers["time"] * 1e-6), rel=1e-9)
            assert numbers["bus_bw"] == pytest.approx(numbers["alg_bw"] * factor, rel=1e-12)
            assert columns == [probe.format_float(numbers["time"], 7).strip(), probe.format_float(numbers["alg_bw"], 6).strip(),
                               probe.format_float(numbers["bus_bw"], 6).strip()]
            busbws.append(numbers["bus_bw"])
    assert block_of(launch_result.output, PROGRAMS[collective]).avg_busbw == pytest.approx(sum(busbws) / len(busbws), rel=1e-5)
    assert report["average_bus_bandwidth"]["bandwidth"] == pytest.approx(sum(busbws) / len(busbws))
    assert report["args"][0] == PROGRAMS[collective] and len(report["config"]["devices"]) == 2


def project_parser():
    """runner.parse.logs.parse_lines once the "nccl-tests" parser (written elsewhere) imports; else skip the test."""
    try:
        importlib.import_module("runner.parse.nccl_tests")
        return importlib.import_module("runner.parse.logs").parse_lines
    except Exception as error:
        pytest.skip(f"runner.parse.nccl_tests is not importable: {error}")


@needs_torch
def test_the_project_parser_reads_the_probe_output(two_ranks: tuple[Launch, Path]) -> None:
    parse_lines = project_parser()
    launch_result, json_path = two_ranks
    lines = launch_result.output.splitlines()
    last = parse_lines("nccl-tests", lines, "probe")
    first = parse_lines("nccl-tests", lines, "probe", {"run": 0})
    from_json = parse_lines("nccl-tests", json_path.with_name("probe.all_gather.json").read_text().splitlines(), "probe.json")
    for result, collective in ((last, "alltoall"), (first, "all_reduce"), (from_json, "all_gather")):
        assert result.value("ranks") == 2
        assert result.value("collective") == collective
        assert result.value("sizes") == len(SMALL_SIZES)
        assert result.value("wrong_total") == 0


# ---------------------------------------------------------------------------------------------
# Other launches


@needs_torch
def test_four_ranks_all_reduce() -> None:
    run = launch(4, "--collective", "all_reduce", "--backend", "gloo", "-b", "1K", "-e", "16K", "-n", "3", "-w", "1")
    assert run.returncodes == [0, 0, 0, 0], run.explain()
    block = block_of(run.output, "all_reduce_perf")
    assert len(block.device_lines) == 4
    assert [int(row[0]) for row in block.rows] == [1024, 2048, 4096, 8192, 16384]
    assert {(row[8], row[12]) for row in block.rows} == {("0", "0")}
    for row in block.rows:
        assert abs(float(row[7]) - float(row[6]) * 1.5) <= rounding_of(row[7]) + 1.5 * rounding_of(row[6]) + 1e-9


@needs_torch
def test_torchrun_launch_line() -> None:
    """The launch line used on GPU machines, with gloo: torchrun sets RANK, LOCAL_RANK, MASTER_* itself."""
    env = clean_environment()
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "runner.probes.collectives", "--collective", "all_to_all", "--backend", "gloo",
               "-b", "8K", "-e", "32K", "-n", "2", "-w", "1"]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=LAUNCH_TIMEOUT_S)
    assert result.returncode == 0, result.stderr[-3000:]
    block = block_of(result.stdout, "alltoall_perf")
    assert [int(row[0]) for row in block.rows] == [8192, 16384, 32768]
    assert len(block.device_lines) == 2


@needs_torch
def test_without_check_every_wrong_column_is_na() -> None:
    run = launch(2, "--collective", "all_gather", "--backend", "gloo", "-b", "1K", "-e", "2K", "-n", "1", "-w", "0", "--check", "0")
    assert run.returncodes == [0, 0], run.explain()
    block = block_of(run.output, "all_gather_perf")
    assert "validation: 0" in block.lines[2]
    assert {(row[8], row[12]) for row in block.rows} == {("N/A", "N/A")}


BREAK_ALL_REDUCE = """
import sys
from runner.probes import collectives as c
prepare = c.AllReduce.prepare
def broken(self, counts, ctx, in_place):
    half = prepare(self, counts, ctx, in_place)
    half.run = lambda: half.output.fill_(-1)
    return half
c.AllReduce.prepare = broken
sys.exit(c.main(sys.argv[1:]))
"""


@needs_torch
def test_wrong_values_are_counted_and_fail_the_run() -> None:
    run = launch(2, "--backend", "gloo", "-b", "1K", "-e", "2K", "-n", "1", "-w", "0", python_args=("-c", BREAK_ALL_REDUCE))
    assert run.returncodes == [1, 1], run.explain()
    block = block_of(run.output, "all_reduce_perf")
    assert [(row[8], row[12]) for row in block.rows] == [("512", "512"), ("1024", "1024")]  # every element on both ranks
    assert "# Out of bounds values : 4 FAILED" in block.lines
    assert "wrong values" in run.stderrs[0] and "Traceback" not in run.stderrs[0]


# ---------------------------------------------------------------------------------------------
# A recorded GPU run: torchrun --nproc_per_node=4 ... --collective all -b 8K -e 1G --backend nccl on 4x H200

GPU_OUTPUT = Path(__file__).resolve().parent / "fixtures" / "probe-nccl-4xH200.txt"
GPU_JSON = GPU_OUTPUT.with_name("probe-nccl-4xH200.all_to_all.json")


def gpu_blocks() -> list[Block]:
    return split_blocks(GPU_OUTPUT.read_text())


def test_recorded_gpu_run_has_three_complete_blocks() -> None:
    blocks = gpu_blocks()
    assert [block.program for block in blocks] == list(PROGRAMS.values())
    for block in blocks:
        assert "backend nccl" in block.lines[0]
        assert len(block.device_lines) == 4
        assert [int(row[0]) for row in block.rows] == [8192 << i for i in range(18)]
        assert "# Out of bounds values : 0 OK" in block.lines


def test_recorded_gpu_rows_are_consistent() -> None:
    for block in gpu_blocks():
        factor = BUS_FACTORS[block.program](4)
        busbws = []
        for row in block.rows:
            for time_us, algbw, busbw in (row[5:8], row[9:12]):
                assert abs(float(busbw) - float(algbw) * factor) <= rounding_of(busbw) + factor * rounding_of(algbw) + 1e-9
                assert float(algbw) == pytest.approx(int(row[0]) / 1e3 / float(time_us), abs=rounding_of(algbw) + 0.01)
                busbws.append(float(busbw))
        assert block.avg_busbw == pytest.approx(sum(busbws) / len(busbws), abs=0.005)


def test_recorded_gpu_run_reads_with_the_project_parser() -> None:
    parse_lines = project_parser()
    lines = GPU_OUTPUT.read_text().splitlines()
    for index, collective in enumerate(("all_reduce", "all_gather", "alltoall")):
        result = parse_lines("nccl-tests", lines, "probe", {"run": index})
        assert (result.value("collective"), result.value("ranks"), result.value("sizes")) == (collective, 4, 18)
        assert result.value("wrong_total") == 0
    from_json = parse_lines("nccl-tests", GPU_JSON.read_text().splitlines(), "probe.json")
    assert (from_json.value("collective"), from_json.value("ranks"), from_json.value("sizes")) == ("alltoall", 4, 18)
