"""Check fields are templated like thresholds: a parameter in `regex` or `contains` is what is searched for."""
from __future__ import annotations


def test_a_templated_absent_regex_finds_the_marker(lab):
    lab.write("marker", """
parameters:
  marker: "fallback to TCP"
  word: one
workloads:
  - name: bench
    command: [sh, -c, "echo 'NET/Socket: fallback to TCP'; echo done; echo done"]
checks:
  - log: bench
    regex: "{{ params.marker }}"
    absent: true
  - log: bench
    contains: "d{{ params.word }}"
    count: 2
""")
    scenario = lab.scenario("marker")
    assert scenario.checks[0].regex == "fallback to TCP" and scenario.checks[1].contains == "done"
    absent, counted = lab.run("marker").verdict.results
    assert absent.status == "FAIL" and "fallback to TCP" in absent.message
    assert counted.status == "PASS" and counted.measured == 2
