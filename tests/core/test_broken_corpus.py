"""Every file under tests/broken/ is an invalid scenario whose first lines say what `scenario validate` must report.

    # expect: line 7: unknown key 'comand'                 (a problem in this file)
    # expect-file: parent.yaml line 11: did you mean ...    (a problem in another file of the extends chain)

Each expectation must match one reported problem (file:line and a substring of its message or hint), the file
must report exactly as many problems as it expects, exit 2, and never print a traceback. Adding a file adds a case.
"""
from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from runner.cli.main import main

from .conftest import BROKEN, REPO, SCENARIO

CASES = sorted(BROKEN.glob("*.yaml"))
EXPECT = re.compile(r"^# expect(?::|-file: (?P<file>\S+)) line (?P<line>\d+): (?P<text>.+)$")
SUBPROCESS_CASES = ["syntax-tab-indent", "not-utf8", "several-schema-errors", "extends-cycle-a", "unknown-api-version",
                    "undefined-template-variable"]


@dataclass(frozen=True)
class Expectation:
    file: str
    line: int
    text: str


def expectations(path: Path) -> list[Expectation]:
    found = []
    for raw in path.read_bytes().decode("utf-8", "replace").splitlines():
        if not raw.startswith("#"):
            break
        match = EXPECT.match(raw)
        if match:
            found.append(Expectation(match["file"] or path.name, int(match["line"]), match["text"]))
    return found


def problems_of(stderr: str, target: str) -> list[str]:
    """The problems printed under `invalid  <target>`, each with its hint lines."""
    problems: list[str] = []
    inside = False
    for line in stderr.splitlines():
        if not line.startswith(" "):
            inside = line == f"invalid  {target}"
            continue
        if inside and line.startswith("  ") and not line.startswith("   "):
            problems.append(line.strip())
        elif inside and problems:
            problems[-1] += "\n" + line.strip()
    return problems


def assert_reported(path: Path, stderr: str, target: str) -> None:
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    expected = expectations(path)
    assert expected, f"{path.name} has no `# expect:` line"
    problems = problems_of(stderr, target)
    for expectation in expected:
        where = re.compile(rf"(^|[\s/]){re.escape(expectation.file)}:{expectation.line}:\d+\b")
        matching = [p for p in problems if where.search(p.splitlines()[0]) and expectation.text in p]
        assert matching, f"{path.name}: no problem at {expectation.file}:{expectation.line} with {expectation.text!r}:\n{stderr}"
    assert len(problems) == len(expected), f"{path.name}: {len(problems)} problems reported, {len(expected)} expected:\n{stderr}"


def test_corpus_is_big_enough():
    assert len(CASES) >= 40


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_broken_file_in_process(path, monkeypatch):
    target = str(path.relative_to(REPO))
    monkeypatch.chdir(REPO)
    runner = CliRunner()
    with runner.isolation(env={"SCENARIO_PATH": str(BROKEN)}) as (out, err, _):
        code = main(["validate", target])
    stderr = err.getvalue().decode()
    assert code == 2, stderr
    assert_reported(path, stderr, target)


@pytest.fixture(scope="module")
def all_at_once():
    """One real `scenario validate` over the whole corpus: every file must be reported, with exit 2."""
    targets = [str(p.relative_to(REPO)) for p in CASES]
    result = subprocess.run([*SCENARIO, "validate", *targets], cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, "SCENARIO_PATH": str(BROKEN)}, timeout=120)
    return result


def test_whole_corpus_in_one_run(all_at_once):
    assert all_at_once.returncode == 2, all_at_once.stderr
    assert "Traceback" not in all_at_once.stdout + all_at_once.stderr
    assert f"0 valid, {len(CASES)} invalid" in all_at_once.stderr
    for path in CASES:
        assert_reported(path, all_at_once.stderr, str(path.relative_to(REPO)))


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_broken_file_subprocess(name):
    path = BROKEN / f"{name}.yaml"
    target = str(path.relative_to(REPO))
    result = subprocess.run([*SCENARIO, "validate", target], cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, "SCENARIO_PATH": str(BROKEN)}, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert_reported(path, result.stderr, target)
