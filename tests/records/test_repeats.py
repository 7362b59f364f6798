"""Repeats: one record, every sample kept, checks judge a statistic of the samples, log checks hold in every repeat."""
from __future__ import annotations

import yaml
from click.testing import CliRunner

from runner.cli.main import cli

from .conftest import needs_mooncake, read_json


def counting_scenario(counter, threshold=10, statistic="", extra_check=""):
    """A job that prints `value 5`, `value 15`, `value 25` in its 1st, 2nd, 3rd repeat (a counter file outlives repeats)."""
    stat = f"\n    statistic: {statistic}" if statistic else ""
    return f"""
workloads:
  - name: count
    command: ["sh", "-c", "n=$(cat {counter} 2>/dev/null || echo 0); echo $((n + 1)) > {counter}; echo value $((n * 10 + 5)); [ $n = 1 ] && echo marker; true"]
    parser:
      name: regex
      options: {{patterns: [{{regex: 'value (?P<value>[0-9]+)', unit: count, better: higher}}]}}
checks:
  - metric: count.value
    op: ">="
    value: {threshold}{stat}
{extra_check}"""


def test_every_sample_is_kept_and_the_median_is_judged(lab, tmp_path):
    lab.write("counting", counting_scenario(tmp_path / "n") + "repeat: 3\n")
    result = lab.run("counting")
    assert result.verdict.status == "PASS", result.verdict.summary
    check = result.verdict.results[0]
    assert (check.measured, check.statistic, check.samples, check.spread) == (15, "median", (5, 15, 25), 20)
    assert "noise could flip this" in check.warning  # margin 5 < spread 20
    entry = read_json(result.record / "metrics.json")["workloads"]["count"]["metrics"]["value"]
    assert entry["samples"] == [5, 15, 25] and entry["value"] == 15
    assert sorted(p.name for p in (result.record / "repeats").iterdir()) == ["1", "2", "3"]
    assert read_json(result.record / "run.json")["facts"]["repeats"] == 3


def test_a_check_may_judge_another_statistic(lab, tmp_path):
    lab.write("counting", counting_scenario(tmp_path / "n", statistic="min") + "repeat: 3\n")
    check = lab.run("counting").verdict.results[0]
    assert (check.status, check.measured, check.statistic) == ("FAIL", 5, "min")


def test_a_log_check_must_hold_in_every_repeat(lab, tmp_path):
    absent = "  - log: count\n    contains: marker\n    absent: true\n"
    lab.write("counting", counting_scenario(tmp_path / "n", extra_check=absent) + "repeat: 3\n")
    result = lab.run("counting")
    log_check = result.verdict.results[1]
    assert log_check.status == "FAIL" and log_check.message.startswith("repeat 2/3:"), log_check


def test_the_repeat_argument_overrides_the_scenario(lab, tmp_path):
    lab.write("counting", counting_scenario(tmp_path / "n"))
    result = lab.run("counting", repeat=2)
    assert result.verdict.results[0].samples == (5, 15)


def test_a_failing_repeat_ends_the_series(lab, tmp_path):
    counter = tmp_path / "n"
    lab.write("flaky", f"""
repeat: 4
workloads:
  - name: count
    command: ["sh", "-c", "n=$(cat {counter} 2>/dev/null || echo 0); echo $((n + 1)) > {counter}; echo value 5; [ $n != 1 ]"]
    parser: {{name: regex, options: {{patterns: [{{regex: 'value (?P<value>[0-9]+)', unit: count}}]}}}}
checks:
  - metric: count.value
    op: ">="
    value: 1
""")
    result = lab.run("flaky")
    assert result.verdict.status == "ERROR"
    assert sorted(p.name for p in (result.record / "repeats").iterdir()) == ["1", "2"]
    assert "repeat 2/2" in result.verdict.results[0].message or "repeat 2" in result.verdict.summary


@needs_mooncake
def test_repeat_on_the_command_line_with_the_real_transfer_engine(tmp_path):
    results = tmp_path / "results"
    outcome = CliRunner().invoke(cli, ["run", "mooncake-tcp-loopback", "--repeat", "2", "--set", "parameters.duration=1",
                                       "--results", str(results), "--no-progress"])
    assert outcome.exit_code == 0, outcome.output
    assert "(median of 2, spread" in outcome.output
    record = next((results / "mooncake-tcp-loopback").iterdir())
    samples = read_json(record / "metrics.json")["workloads"]["initiator"]["metrics"]["throughput_gbps"]["samples"]
    assert len(samples) == 2 and all(s > 0 for s in samples)


# --- `repeat:` on a job: attempts in a row within one run, the services it needs up once ------------------------


def attempts_scenario(counter, repeat=3, fail_on=0, extra_check=""):
    """A service that counts its starts, and a job repeated `repeat` times that prints `value 5, 15, 25...`."""
    last = f"[ $n != {fail_on - 1} ]" if fail_on else "true"
    return f"""
workloads:
  - name: server
    kind: service
    command: ["sh", "-c", "echo start >> {counter}.server; echo listening; sleep 60"]
    ready: {{log: listening}}
  - name: count
    after: [server]
    repeat: {repeat}
    command: ["sh", "-c", "n=$(cat {counter} 2>/dev/null || echo 0); echo $((n + 1)) > {counter}; echo value $((n * 10 + 5)); [ $n = 1 ] && echo marker; {last}"]
    parser:
      name: regex
      options: {{patterns: [{{regex: 'value (?P<value>[0-9]+)', unit: count, better: higher}}]}}
  - name: after-count
    after: [count]
    command: ["sh", "-c", "cat {counter}"]
    informational: shows that it starts after the last attempt
checks:
  - metric: count.value
    op: ">="
    value: 10
{extra_check}"""


def test_a_repeated_job_is_a_set_of_samples_with_its_service_up_once(lab, tmp_path):
    counter = tmp_path / "n"
    lab.write("attempts", attempts_scenario(counter))
    result = lab.run("attempts")
    assert result.verdict.status == "PASS", result.verdict.summary
    check = result.verdict.results[0]
    assert (check.measured, check.samples) == (15, (5, 15, 25))
    assert counter.with_suffix(".server").read_text() == "start\n"  # the service started once for the three attempts
    outcome = read_json(result.record / "run.json")["facts"]["outcomes"]
    assert set(outcome) == {"server", "count", "after-count"}
    assert [a["state"] for a in outcome["count"]["attempts"]] == ["done"] * 3
    assert [a["logs"][0].split("/")[1] for a in outcome["count"]["attempts"]] == ["count-r1", "count-r2", "count-r3"]
    assert (result.record / "logs" / "after-count").exists()
    assert read_json(result.record / "metrics.json")["workloads"]["count"]["metrics"]["value"]["samples"] == [5, 15, 25]
    steps = {s["workload"]: s for s in yaml.safe_load((result.record / "rendered" / "process-plan.yaml").read_text())["steps"]}
    assert steps["count-r2"]["after"] == ["server", "count-r1"] and steps["after-count"]["after"] == ["count-r3"]


def test_a_log_check_must_hold_in_every_attempt(lab, tmp_path):
    absent = "  - log: count\n    contains: marker\n    absent: true\n"
    lab.write("attempts", attempts_scenario(tmp_path / "n", extra_check=absent))
    log_check = lab.run("attempts").verdict.results[1]
    assert log_check.status == "FAIL" and log_check.message.startswith("attempt 2/3:"), log_check


def test_a_failing_attempt_ends_the_series_and_its_dependents(lab, tmp_path):
    lab.write("attempts", attempts_scenario(tmp_path / "n", repeat=4, fail_on=2))
    result = lab.run("attempts")
    assert result.verdict.status == "ERROR"
    row = next(r for r in result.verdict.results if r.name == "count ran")
    assert row.message.startswith("attempt 2/4:"), row
    attempts = read_json(result.record / "run.json")["facts"]["outcomes"]["count"]["attempts"]
    assert [a["state"] for a in attempts] == ["done", "failed", "skipped", "skipped"]
    assert result.output.outcomes["after-count"].state == "skipped"


def test_run_repeats_of_a_repeated_job_keep_every_sample(lab, tmp_path):
    lab.write("attempts", attempts_scenario(tmp_path / "n", repeat=2))
    check = lab.run("attempts", repeat=2).verdict.results[0]
    assert check.samples == (5, 15, 25, 35)


@needs_mooncake
def test_a_repeated_initiator_against_one_real_target(tmp_path):
    results = tmp_path / "results"
    outcome = CliRunner().invoke(cli, ["run", "mooncake-tcp-loopback", "--set", "workloads.initiator.repeat=3",
                                       "--set", "parameters.duration=1", "--results", str(results), "--no-progress"])
    assert outcome.exit_code == 0, outcome.output
    assert "(median of 3, spread" in outcome.output
    record = next((results / "mooncake-tcp-loopback").iterdir())
    samples = read_json(record / "metrics.json")["workloads"]["initiator"]["metrics"]["throughput_gbps"]["samples"]
    assert len(samples) == 3 and all(s > 0 for s in samples)
    assert len(read_json(record / "run.json")["facts"]["outcomes"]["target"]["logs"]) == 1
