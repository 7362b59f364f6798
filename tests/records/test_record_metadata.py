"""run.json says what ran where: versions, commit, executor, facts, images, tool versions, times; records are never overwritten."""
from __future__ import annotations

import os
import stat
import subprocess
from datetime import datetime

import pytest

from runner.flows.run import _image_refs, _tool_versions
from runner.parse.logs import parse_file
from runner.records.record import RunRecord, atomic_write
from runner.verdict.judge import WorkloadMetrics

from .conftest import REPO, needs_mooncake, read_json

FIXTURES = REPO / "tests" / "fixtures"


@needs_mooncake
def test_run_json_describes_the_run(mooncake_run):
    meta = read_json(mooncake_run.record / "run.json")
    assert meta["format"] == "scenario-runner/run/v1"
    assert meta["runner_version"]
    assert meta["scenarios_commit"] == ""  # the test's library is a copy outside any git checkout: no commit to name
    assert meta["executor"] == "local"
    assert meta["facts"]["host"] and meta["facts"]["python"]
    host = meta["facts"]["runner_host"]  # the load the run measured under (compare names a difference)
    assert host["cpus"] >= 1 and host["load_1m_start"] >= 0 and host["load_1m_end"] >= 0
    started, ended = (datetime.fromisoformat(meta[k]) for k in ("started", "ended"))
    assert started <= ended and meta["duration_s"] > 0
    assert meta["overrides"] == ["parameters.duration=2"]
    assert meta["images"] == {} and meta["tool_versions"] == {} and meta["baselines"] == []


def test_the_scenarios_commit_is_the_one_of_the_checkout_holding_the_files(tmp_path):
    from runner.records.record import git_commit

    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    commit = git_commit([str(REPO / "scenarios" / "local" / "mooncake-tcp-loopback.yaml")])
    assert commit.removesuffix("-dirty") == head and len(head) == 40
    copy = tmp_path / "copy.yaml"
    copy.write_text("x: 1\n")
    assert git_commit([str(copy)]) == ""


@needs_mooncake
def test_paths_inside_the_record_are_relative_so_a_copied_record_stays_whole(mooncake_run):
    meta = read_json(mooncake_run.record / "run.json")
    metrics = read_json(mooncake_run.record / "metrics.json")
    logs = meta["facts"]["outcomes"]["initiator"]["logs"]
    assert logs == ["logs/initiator/rank-0.log"]
    assert (mooncake_run.record / logs[0]).is_file()
    assert metrics["workloads"]["initiator"]["source"] == "logs/initiator/rank-0.log"
    assert ".partial" not in (mooncake_run.record / "run.json").read_text()


@needs_mooncake
def test_record_files_are_readable_like_the_logs(mooncake_run):
    for name in ("run.json", "metrics.json", "verdict.json", "scenario.yaml", "junit.xml", "summary.md", "report.html"):
        mode = stat.S_IMODE((mooncake_run.record / name).stat().st_mode)
        assert mode == 0o666 & ~_umask(), (name, oct(mode))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_tool_versions_come_from_the_parsers_info():
    text = parse_file("nccl-tests", FIXTURES / "nccl-tests" / "sample_a_all_reduce_v2.18.2.txt")
    json_run = parse_file("nccl-tests", FIXTURES / "nccl-tests" / "all_gather_perf.json")
    versions = _tool_versions({"ar": WorkloadMetrics("ar", "nccl-tests", "-", text), "ag": WorkloadMetrics("ag", "nccl-tests", "-", json_run)})
    assert versions["nccl-tests"] == "2.18.2"
    assert versions["nccl-library"] == "23007"
    assert versions["ag:nccl-library"] == "22809"  # two workloads disagree: both kept


def test_image_references_are_recorded_with_the_registry_filled_in(lab):
    lab.write("imaged", """\
        registry: registry.example/team
        images:
          tools: "{{ registry }}/nccl-tests:2.19.6"
        workloads:
          - name: probe
            image: tools
            command: [python, -c, "print(1)"]
        checks:
          - {log: probe, contains: "1"}
        """, layer="fabric")
    refs = _image_refs(lab.scenario("imaged"))
    assert refs == {"tools": "registry.example/team/nccl-tests:2.19.6", "workload:probe": "registry.example/team/nccl-tests:2.19.6"}


def test_a_record_is_never_overwritten(tmp_path):
    first = RunRecord(tmp_path, "s", "20260101-000000-aaaa")
    first.finalize()
    with pytest.raises(FileExistsError):
        RunRecord(tmp_path, "s", "20260101-000000-aaaa")
    second = RunRecord(tmp_path, "s", "20260101-000000-bbbb")
    second.final_dir.mkdir()  # appeared while the run was going: rename() would silently replace an empty folder
    with pytest.raises(FileExistsError):
        second.finalize()
    assert second.dir.exists()


def test_atomic_write_leaves_no_temporary_file(tmp_path):
    atomic_write(tmp_path / "a.json", "{}\n")
    atomic_write(tmp_path / "a.json", "{\"x\": 1}\n")
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
    assert (tmp_path / "a.json").read_text() == "{\"x\": 1}\n"
