"""The hostile corpus (tests/hostile/, written by make_corpus.py): scenarios built to exhaust the validator.

Each must exit 2 naming a file:line:col and the bound it breaks, in at most 5 s and 500 MB, never with an
internal error; the same hostile values given through `--set` must not cause one either.
"""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from runner.cli.main import main

from .conftest import REPO, SCENARIO

HOSTILE = REPO / "tests" / "hostile"
_spec = importlib.util.spec_from_file_location("make_corpus", HOSTILE / "make_corpus.py")
corpus = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(corpus)

CASES = {name: expect for name, expect, _ in corpus.cases()}
LOCATION = re.compile(r"\.yaml:\d+:\d+")
MAX_SECONDS = 5.0
MAX_RSS_MB = 500


def run_validate(target: str, library: Path) -> tuple[int, str, float]:
    started = time.monotonic()
    with CliRunner().isolation(env={"SCENARIO_PATH": str(library)}) as (out, err, _):
        code = main(["validate", target])
    return code, out.getvalue().decode() + err.getvalue().decode(), time.monotonic() - started


def assert_refused(name: str, code: int, output: str, expect: str) -> None:
    assert "internal error" not in output and "Traceback" not in output, output
    assert code == 2, output
    assert LOCATION.search(output), f"{name}: no file:line:col in\n{output}"
    assert expect in output, f"{name}: {expect!r} not in\n{output}"


def test_corpus_is_big_enough_and_committed():
    assert len(CASES) >= 60
    assert sorted(p.stem for p in HOSTILE.glob("*.yaml")) == sorted(CASES), "run python tests/hostile/make_corpus.py"
    for name, _, body in corpus.cases():
        assert (HOSTILE / f"{name}.yaml").read_bytes() == body, f"{name}.yaml differs from make_corpus.py"


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_file(name, monkeypatch):
    monkeypatch.chdir(REPO)
    code, output, seconds = run_validate(f"tests/hostile/{name}.yaml", HOSTILE)
    assert_refused(name, code, output, CASES[name])
    assert seconds < MAX_SECONDS, f"{name}: {seconds:.1f} s"


# Linux keeps a process's peak RSS across exec, so a process forked from this (large) test process would report at
# least this one's RSS: the command is started from a small launcher, which reports its child's own peak.
LAUNCHER = """import os, subprocess, sys
process = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(process.pid, 0)
print(f"\\nexit {os.waitstatus_to_exitcode(status)} peak-kb {usage.ru_maxrss}")
"""


def _measured(command: list[str], env: dict, cwd: Path) -> tuple[int, str, float, float]:
    """Exit code, output, seconds and peak RSS (MB) of a real `scenario` process."""
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", LAUNCHER, *command], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    output, _, last = result.stdout.decode("utf-8", "replace").rstrip().rpartition("\n")
    _, code, _, peak_kb = last.split()
    return int(code), output, time.monotonic() - started, int(peak_kb) / 1024


def test_whole_corpus_in_one_process_is_bounded():
    """Every committed case in one real process: peak memory under 500 MB for all of them together."""
    targets = [f"tests/hostile/{name}.yaml" for name in sorted(CASES)]
    code, output, seconds, rss = _measured([*SCENARIO, "validate", *targets],
                                           {**os.environ, "SCENARIO_PATH": str(HOSTILE)}, REPO)
    assert code == 2 and "internal error" not in output and "Traceback" not in output, output[-3000:]
    assert f"0 valid, {len(CASES)} invalid" in output
    assert rss < MAX_RSS_MB, f"{rss:.0f} MB"


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    directory = tmp_path_factory.mktemp("hostile")
    return directory, corpus.generated_cases(directory)


def test_generated_cases(generated):
    """Cases too big for git, FIFOs and links to devices, each in its own real process."""
    directory, cases = generated
    assert len(cases) >= 8
    for path, expect in cases:
        code, output, seconds, rss = _measured([*SCENARIO, "validate", path.name],
                                               {**os.environ, "SCENARIO_PATH": str(directory)}, directory)
        assert_refused(path.name, code, output[-5000:], expect)
        assert seconds < MAX_SECONDS and rss < MAX_RSS_MB, f"{path.name}: {seconds:.1f} s, {rss:.0f} MB"


SET_CASES = {
    "alias bomb": "parameters.x=" + corpus.laughs(9, 10).replace("parameters:\n  ", "{").replace("\n  ", ", ").rstrip("\n") + "}",
    "self alias": "parameters.x=&a [1, *a]",
    "deep nesting": "parameters.x=" + "[" * 5000 + "]" * 5000,
    "NUL": "parameters.x=a\x00b",
    "ESC": "workloads.bench.command=[echo, \"\x1b[31m\"]",
    "5000 digits": "parameters.x=" + "9" * 5000,
    "float overflow": "parameters.x=1.0e+400",
    "integer key on a mapping": "workloads.0.0=x",
    "integer path into a scalar": "metadata.name.0=x",
    "template bomb": "workloads.bench.command=[echo, \"{{ 'A' * 10**9 }}\"]",
    "template recursion": "workloads.bench.command=[echo, \"{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}\"]",
    "template include": "workloads.bench.command=[echo, \"{% include 'x' %}\"]",
    "template zero division": "workloads.bench.command=[echo, \"{{ 1 / 0 }}\"]",
    "template slow": "workloads.bench.command=[echo, \"{% for a in 'x'*99999 %}{% for b in 'x'*99999 %}{% endfor %}{% endfor %}\"]",
    "ranks": "workloads.bench.ranks=1000000000",
    "workloads": "workloads=[" + ", ".join(f"{{name: w{i}, kind: job, command: [echo]}}" for i in range(200)) + "]",
    "matrix": "matrix={" + ", ".join(f"parameters.{k}: [1, 2, 3, 4, 5, 6, 7]" for k in "abcd") + "}",
    "regex": "checks=[{log: bench, regex: '(a)\\1'}]",
    "extends": "extends=/etc/passwd",
    "huge value": "parameters.x=" + "y" * (2 << 20),
}


@pytest.mark.parametrize("case", sorted(SET_CASES))
def test_hostile_values_through_set(case, make_library, monkeypatch):
    from tests.core.conftest import JOB, scenario_text

    library = make_library({"demo": scenario_text("demo", JOB)})
    started = time.monotonic()
    with CliRunner().isolation(env={"SCENARIO_PATH": str(library.root)}) as (out, err, _):
        code = main(["render", "demo", "--set", SET_CASES[case]])
    output = out.getvalue().decode() + err.getvalue().decode()
    assert "internal error" not in output and "Traceback" not in output, output
    assert code in (0, 2), output
    assert time.monotonic() - started < MAX_SECONDS
