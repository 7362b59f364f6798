"""Issue 11's run-time cases: what validate cannot see is still a verdict that does not lie."""
from __future__ import annotations

import json


def test_a_service_that_exits_before_the_run_ends_is_an_error_with_its_log_tail(lab):
    lab.write("early-exit", """
workloads:
  - name: server
    kind: service
    command: [sh, -c, "echo 'listening, then giving up'; exit 0"]
  - name: client
    after: [server]
    command: [sh, -c, "sleep 1; echo done"]
checks:
  - log: server
    contains: listening
  - log: client
    contains: done
""")
    result = lab.run("early-exit")
    assert result.verdict.status == "ERROR", result.verdict.summary
    assert result.output.outcomes["server"].state == "failed"
    row = next(r for r in result.verdict.results if r.kind == "infrastructure" and r.workload == "server")
    assert "giving up" in row.message  # the log tail says what it printed before it left


def test_a_number_no_tool_prints_is_an_error_and_the_record_stays_json(lab):
    lab.write("huge", """
workloads:
  - name: bench
    command: [sh, -c, "echo 'throughput -0.5 GB/s'"]
    parser:
      name: regex
      options: {patterns: [{regex: 'throughput (?P<throughput>-?[0-9.]+) GB/s', unit: GB/s, better: higher, reduce: max}]}
checks:
  - metric: bench.throughput
    op: ">="
    value: 0.1
""")
    result = lab.run("huge")
    assert result.verdict.status == "ERROR" and "negative" in result.verdict.results[0].message
    json.loads((result.record / "metrics.json").read_text())
