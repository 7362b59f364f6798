"""`scenario judge NAME --logs DIR` through the real CLI, on corpus logs laid out as a record's logs/."""
from __future__ import annotations

import json

from runner.cli.main import main
from runner.flows.check import validate_scenario
from runner.scenario.resolve import Library

from .corpus import ROOT, Case, materialize


def _case(rel: str) -> Case:
    from .corpus import cases

    return next(c for c in cases() if c.id == rel)


def _judge(capsys, name: str, logs) -> tuple[int, dict]:
    code = main(["judge", name, "--logs", str(logs), "-o", "json", "--results", str(logs.parent / "results")])
    out = capsys.readouterr().out
    return code, {r["name"]: r for r in json.loads(out)["results"]}


def _logs(tmp_path, name, rel):
    return materialize(validate_scenario(name, Library()), _case(rel), tmp_path / "logs")


def test_healthy_pd_logs_pass_every_log_check(tmp_path, capsys):
    code, results = _judge(capsys, "sglang-1p1d", _logs(tmp_path, "sglang-1p1d", "sglang/0.5.10.post1/pd-healthy"))
    logs = {n: r for n, r in results.items() if r["metric"].startswith("log:")}
    assert logs and all(r["status"] == "PASS" for r in logs.values()), logs
    assert results["completed"]["status"] == "PASS" and results["completed"]["measured"] == 128
    assert results["ttft"]["status"] == "ERROR"  # no sglang-baseline-tp8 record to compare with
    assert code == 3


def test_decode_on_mooncake_tcp_fails_kv_over_efa(tmp_path, capsys):
    code, results = _judge(capsys, "sglang-1p1d", _logs(tmp_path, "sglang-1p1d", "sglang/0.5.10.post1/pd-decode-tcp"))
    assert results["kv-over-efa"]["status"] == "FAIL" and results["kv-not-over-tcp"]["status"] == "FALLBACK"
    assert results["kv-over-efa-prefill"]["status"] == "PASS"
    assert results["ttft"]["status"] == "ERROR"  # no baseline record: still listed, and the proven fallback decides
    assert code == 1


def test_disaggregatedset_decode_role_on_tcp_fails_although_prefill_role_used_efa(tmp_path, capsys):
    logs = _logs(tmp_path, "sglang-1p1d-disaggregatedset", "sglang/0.5.10.post1/pd-decode-tcp")
    assert {p.name for p in (logs / "pd").iterdir()} == {"pd-6d4f8b9c7-prefill-0.log", "pd-6d4f8b9c7-decode-0.log"}
    code, results = _judge(capsys, "sglang-1p1d-disaggregatedset", logs)
    assert results["kv-over-efa"]["status"] == "FAIL", results["kv-over-efa"]
    assert results["kv-over-efa-prefill"]["status"] == "PASS"
    healthy = _logs(tmp_path / "h", "sglang-1p1d-disaggregatedset", "sglang/0.5.10.post1/pd-healthy")
    _, results = _judge(capsys, "sglang-1p1d-disaggregatedset", healthy)
    assert results["kv-over-efa"]["status"] == "PASS"


def test_judge_an_existing_record_again(tmp_path, capsys):
    record = tmp_path / "results" / "mooncake-tcp-loopback" / "20261201-201134-abcd"
    materialize(validate_scenario("mooncake-tcp-loopback", Library()), _case("mooncake/v0.3.10.post2/tcp-p2p"), record / "logs")
    (record / "run.json").write_text(json.dumps({"scenario": "mooncake-tcp-loopback", "run_id": record.name, "status": "PASS"}))
    code = main(["judge", "mooncake-tcp-loopback", "--record", str(record), "--results", str(tmp_path / "results"), "-o", "json"])
    verdict = json.loads(capsys.readouterr().out)
    assert code == 0 and verdict["status"] == "PASS"
    code = main(["judge", "mooncake-tcp-loopback", "--record", str(record), "--results", str(tmp_path / "results"),
                 "--set", "parameters.min_throughput_gbps=5", "-o", "json"])
    assert code == 1, "a raised threshold re-judges the same logs to FAIL (0.83 GB/s < 5)"


def test_logs_folder_that_fits_no_workload_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "elsewhere" / "nope").mkdir(parents=True)
    (tmp_path / "elsewhere" / "server.txt").write_text("x\n")
    code = main(["judge", "sglang-1p1d", "--logs", str(tmp_path / "elsewhere")])
    err = capsys.readouterr().err
    assert code == 2 and "no folder for any workload" in err and "nope/" in err and "Traceback" not in err
    assert "prefill/" in err and "prefill.log, decode.log, router.log, bench.log" in err, err
    assert ROOT.is_dir()


def _flat(tmp_path, rel, files):
    """A folder as a user hands logs over: one <workload>.log per workload, no record layout."""
    folder = tmp_path / "handed-over"
    folder.mkdir(parents=True)
    case = ROOT / rel
    for target, source in files.items():
        found = case / f"{source}.log"
        if not found.is_file():
            found = ROOT / _case(rel).base / f"{source}.log"
        (folder / f"{target}.log").write_bytes(found.read_bytes())
    return folder


def test_flat_folder_of_a_tcp_fallback_pd_run_exits_1_naming_the_transport(tmp_path, capsys):
    logs = _flat(tmp_path, "sglang/0.5.10.post1/pd-decode-tcp", {"prefill": "prefill", "decode": "decode", "bench": "bench"})
    code = main(["judge", "sglang-1p1d", "--logs", str(logs), "--results", str(tmp_path / "results")])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "FALLBACK" in out and "Mooncake's TCP transport instead of EFA" in out, out
    assert "ERROR" in out  # the baseline checks that could not be judged are still listed


def test_flat_folder_of_a_healthy_pd_run_has_no_failure(tmp_path, capsys):
    logs = _flat(tmp_path, "sglang/0.5.10.post1/pd-healthy", {"prefill": "prefill", "decode": "decode", "bench": "bench"})
    code, results = _judge(capsys, "sglang-1p1d", logs)
    assert [n for n, r in results.items() if r["status"] in ("FAIL", "FALLBACK")] == []
    assert code == 3  # only the baseline ratios are left unjudged (no sglang-baseline-tp8 record)


def test_the_same_log_for_both_roles_exits_1(tmp_path, capsys):
    for name, source in (("prefill-twice", "prefill"), ("decode-twice", "decode")):
        logs = _flat(tmp_path / name, "sglang/0.5.10.post1/pd-healthy", {"prefill": source, "decode": source, "bench": "bench"})
        code, results = _judge(capsys, "sglang-1p1d", logs)
        assert code == 1, name
        role = "decode-role" if source == "prefill" else "prefill-role"
        assert results[role]["status"] == "FAIL", (name, results[role])


def test_disaggregatedset_roles_as_flat_files(tmp_path, capsys):
    logs = _flat(tmp_path, "sglang/0.5.10.post1/pd-healthy", {"prefill": "prefill", "decode": "decode", "bench": "bench"})
    code, results = _judge(capsys, "sglang-1p1d-disaggregatedset", logs)
    assert results["kv-over-efa"]["status"] == "PASS" and results["decode-role"]["status"] == "PASS"
    assert [n for n, r in results.items() if r["status"] in ("FAIL", "FALLBACK")] == []
