"""One failure, one message: what the machine lacks is refused before the run; a failure on every rank is printed
once, first, with its own hint; notes are wrapped, never cut; hints never point at lines healthy runs print too."""
from __future__ import annotations

import subprocess
import time

import pytest

import runner.execute.local.needs as needs
from runner.cli.main import main
from runner.execute.evidence import fold_tagged_lines, fold_tails, folded_text
from runner.execute.kubernetes.diagnose import HINTS
from runner.execute.local.needs import refusals
from runner.execute.local.session import KNOWN_LOG_HINTS
from tests.core.conftest import SCENARIO
from tests.truth.corpus import cases

CAUSE = "--backend nccl needs a CUDA device"


def test_nccl_without_a_gpu_is_refused_before_the_run(tmp_path, monkeypatch):
    monkeypatch.setattr(needs, "gpu_devices", lambda: 0)
    started = time.monotonic()
    done = subprocess.run(SCENARIO + ["run", "nccl-allreduce-local", "--results", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 3 and time.monotonic() - started < 10
    assert done.stderr.count(CAUSE) == 1 and "scenario run collectives-loopback" in done.stderr
    assert not list(tmp_path.iterdir())  # refused before a record exists


def test_refusal_reads_the_command_that_would_run():
    plan = {"steps": [{"workload": "w", "command": ["all_reduce_perf", "-g", "8"],
                       "fallback": {"command": ["python", "-m", "runner.probes.collectives", "--backend", "nccl"]}}]}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(needs, "gpu_devices", lambda: 0)
        assert [(w, n.name) for w, n in refusals(plan, found=lambda argv0: False)] == [("w", "cuda-device")]
        assert refusals(plan, found=lambda argv0: True) == []  # all_reduce_perf is there: no probe runs
        gloo = {"steps": [{"workload": "w", "command": ["python", "-m", "runner.probes.collectives", "--backend=gloo"]}]}
        assert refusals(gloo, found=lambda argv0: True) == []


def test_ranks_that_end_alike_are_one_cause(tmp_path):
    logs = []
    for rank in range(8):
        path = tmp_path / f"rank-{rank}.log"
        path.write_text(f"collectives probe: rank {rank} of 8\nerror: {CAUSE}, and torch sees none (use --backend gloo)\n")
        logs.append(path)
    (tmp_path / "rank-8.log").write_text("Traceback (most recent call last):\nRuntimeError: something else\n")
    groups = fold_tails(logs + [tmp_path / "rank-8.log"])
    assert [names for _, names in groups] == [[f"rank-{r}.log" for r in range(8)], ["rank-8.log"]]
    text = folded_text(*groups[0], total=9)
    assert text.startswith("last lines of rank-0.log (and 7 more ranks alike: rank-1.log .. rank-7.log):") and text.count(CAUSE) == 1


def test_a_failure_on_8_ranks_is_printed_once_first_with_its_hint(tmp_path, monkeypatch, capsys):
    """The real probe on 8 ranks with --backend nccl on a machine without CUDA (the refusal told it there is a GPU)."""
    monkeypatch.setattr(needs, "gpu_devices", lambda: 8)
    code = main(["run", "nccl-allreduce-local", "--results", str(tmp_path), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 3
    assert out.count(CAUSE) == 1 and "and 7 more ranks alike" in out
    assert out.index(CAUSE) < out.index("check ") < out.index("nccl-allreduce-local: ERROR")  # the cause first
    assert "hint: torch sees no GPU here" in out and "nccl-tests *_perf" not in out
    assert "…" not in out and "no metrics: all-reduce failed" in out


def test_notes_are_wrapped_not_cut():
    from runner.report.base import RunReport
    from runner.report.table import table
    from runner.verdict.judge import CheckResult, Verdict

    note = "measured 20 ms, needed <= 15; " + "the cause is at the very end of this long note: " * 3 + "THE CAUSE"
    verdict = Verdict("s", "FAIL", (CheckResult("latency", "performance", "w", "FAIL", message=note),), "FAIL: 1 fail")
    text = table(RunReport(verdict, {}))
    assert "…" not in text and note in " ".join(text.split())  # the note column is last: its wrapped lines read on


def test_hints_do_not_point_at_lines_of_healthy_runs():
    """Every log hint's pattern against every line of the healthy corpus (real and source-derived tool output)."""
    healthy = [path for case in cases() if case.healthy_for for path in case.path.glob("*.log")]
    assert healthy
    matched = [f"{pattern.pattern!r} matches {path.relative_to(path.parents[3])}: {line.strip()[:100]}"
               for pattern, _ in tuple(HINTS) + tuple(KNOWN_LOG_HINTS)
               for path in healthy for line in path.read_text(errors="replace").splitlines() if pattern.search(line)]
    assert not matched, "\n".join(matched[:10])


def test_lines_every_mpi_rank_printed_are_shown_once():
    text = "\n".join([f"[1,{r}]<stderr>:error: {CAUSE}, and torch sees none (use --backend gloo)" for r in range(8)]
                     + ["[1,3]<stdout>:only rank 3 says this", "mpirun detected that one or more processes exited"])
    folded = fold_tagged_lines(text).splitlines()
    assert folded == [f"[1,0]<stderr>:error: {CAUSE}, and torch sees none (use --backend gloo)  (and 7 more ranks alike)",
                      "[1,3]<stdout>:only rank 3 says this", "mpirun detected that one or more processes exited"]
