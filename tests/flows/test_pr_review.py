"""The pull-request review (.github/scripts/scenario_review.py, run by .github/workflows/scenario-review.yml): the
scenarios a change touches and the variants that extend them are validated and diffed against the base revision."""
from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.core.conftest import REPO, SCENARIOS

SCRIPT = REPO / ".github" / "scripts" / "scenario_review.py"
WORKFLOW = REPO / ".github" / "workflows" / "scenario-review.yml"
pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=t", *args], check=True,
                   capture_output=True)


@pytest.fixture
def repo(tmp_path) -> Path:
    repo = tmp_path / "repo"
    (repo / "scenarios").mkdir(parents=True)
    for name in ("mooncake-tcp-loopback", "mooncake-tcp-loopback-threads4", "collectives-loopback"):
        shutil.copy(SCENARIOS / "local" / f"{name}.yaml", repo / "scenarios")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    return repo


def review(repo: Path) -> subprocess.CompletedProcess:
    scenario = shlex.join([sys.executable, "-m", "runner"])
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, str(SCRIPT), "HEAD", "--scenario", scenario], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=300)


def test_a_changed_parent_reviews_its_variants_too(repo):
    parent = repo / "scenarios" / "mooncake-tcp-loopback.yaml"
    parent.write_text(parent.read_text().replace("block_size: 65536", "block_size: 131072"))
    done = review(repo)
    assert done.returncode == 0, done.stdout + done.stderr
    text = done.stdout
    assert "### `mooncake-tcp-loopback`" in text and "### `mooncake-tcp-loopback-threads4`" in text
    assert "collectives-loopback" not in text
    assert "| settings | parameters.block_size | 65536 | 131072 |" in text
    assert "Rehearsal: not run (not a Kubernetes scenario)" in text or "Rehearsal: not run (this runner has no" in text


def test_an_invalid_or_weakening_variant_is_reported_and_fails(repo):
    (repo / "scenarios" / "floors.yaml").write_text(
        "apiVersion: scenarios/v1\nkind: Scenario\nmetadata: {name: floors}\nextends: collectives-loopback\nchecks:\n"
        '  - {name: "all-reduce.ranks ==", remove: true}\n  - {metric: all-reduce.busbw_gbps_mx, op: ">=", value: 1}\n')
    done = review(repo)
    assert done.returncode == 1
    assert "### `floors`" in done.stdout and "❌ invalid" in done.stdout and "New scenario, extending `collectives-loopback`." in done.stdout
    assert "busbw_gbps_mx" in done.stdout


def test_the_workflow_runs_the_script_and_posts_it():
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["review"]["steps"]
    scripts = "\n".join(step.get("run", "") for step in steps)
    assert ".github/scripts/scenario_review.py" in scripts and "github.event.pull_request.base.sha" in scripts
    assert "gh pr comment" in scripts and "GITHUB_STEP_SUMMARY" in scripts and "scenario rehearse --help" in scripts


def test_a_kubernetes_scenario_is_rehearsed_when_the_command_exists(tmp_path):
    """A stand-in `scenario` that answers `rehearse` records the call: the review rehearses what runs on Kubernetes."""
    repo = tmp_path / "repo"
    (repo / "scenarios").mkdir(parents=True)
    shutil.copy(SCENARIOS / "fabric" / "nccl-allreduce.yaml", repo / "scenarios")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    path = repo / "scenarios" / "nccl-allreduce.yaml"
    path.write_text(path.read_text().replace("iters: 20", "iters: 30", 1))
    calls = tmp_path / "calls"
    stand_in = tmp_path / "scenario"
    stand_in.write_text(f"#!/bin/sh\nif [ \"$1\" = rehearse ]; then echo \"$@\" >> {calls}; echo PASS; exit 0; fi\n"
                        f"exec {sys.executable} -m runner \"$@\"\n")
    stand_in.chmod(0o755)
    done = subprocess.run([sys.executable, str(SCRIPT), "HEAD", "--scenario", str(stand_in)], cwd=repo,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Rehearsal: ✅ passed" in done.stdout
    assert calls.read_text().split()[-1] == "nccl-allreduce"
    skipped = subprocess.run([sys.executable, str(SCRIPT), "HEAD", "--scenario", str(stand_in), "--no-rehearse"], cwd=repo,
                             env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=300)
    assert "Rehearsal: not run (--no-rehearse)" in skipped.stdout
