"""junit.xml: valid XML, one testcase per check, failure/error/skipped counted, measured and threshold as properties."""
from __future__ import annotations

import xml.etree.ElementTree as ET

from runner.report import REPORTERS
from runner.report.junit import junit_report
from runner.verdict.judge import Verdict

from .conftest import every_status_verdict, report_of, write_record


def parse(xml: str) -> ET.Element:
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(xml.encode("utf-8"))


def test_registered_as_a_record_file():
    assert REPORTERS["junit"] is junit_report and junit_report.record_file == "junit.xml"


def test_counts_and_elements_per_status(tmp_path):
    verdict = every_status_verdict()
    record = write_record(tmp_path / "r", verdict, {"duration_s": 12.25, "started": "2026-01-01T00:00:00+00:00",
                                                    "facts": {"host": "node-a"}, "variant": {"parameters.threads": 4}}, {})
    root = parse(junit_report(report_of(verdict, {}, record, "20260101-000000-aaaa")))
    suite = root.find("testsuite")
    assert root.tag == "testsuites" and suite.get("name") == "every-status"
    assert {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped", "time", "hostname")} == {
        "tests": "5", "failures": "1", "errors": "2", "skipped": "1", "time": "12.250", "hostname": "node-a"}
    assert root.get("tests") == "5" and root.get("errors") == "2"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["w.throughput", "w.latency", "w.wrong", "v ran", "u.x"]
    assert [[child.tag for child in c if child.tag != "properties"] for c in cases] == [[], ["failure"], ["error"], ["error"], ["skipped"]]
    failure = cases[1].find("failure")
    assert failure.get("type") == "FAIL" and "needed <= 15" in failure.get("message")
    assert "\x1b" not in failure.text and "\x07" not in failure.text and "colour" in failure.text
    assert cases[2].find("error").text.endswith("line 2 of the reason")
    assert cases[3].find("error").get("type") == "TIMEOUT"
    properties = {p.get("name"): p.get("value") for p in cases[0].find("properties")}
    assert properties["measured"] == "12.5 GB/s" and properties["threshold"] == ">= 10" and properties["margin"] == "+2.5 (+25.0%)"
    suite_properties = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert suite_properties["run_id"] == "20260101-000000-aaaa" and suite_properties["variant parameters.threads"] == "4"


def test_a_run_that_broke_before_any_check_is_not_green():
    verdict = Verdict("broken", "ERROR", (), "ERROR: no checks — the executor could not reach the cluster")
    suite = parse(junit_report(report_of(verdict))).find("testsuite")
    assert suite.get("tests") == "1" and suite.get("errors") == "1"
    assert "could not reach the cluster" in suite.find("testcase/error").get("message")


def test_a_run_timeout_worse_than_its_passing_checks_adds_a_case(tmp_path):
    verdict = Verdict("slow", "TIMEOUT", every_status_verdict().results[:1], "TIMEOUT: 1 pass — the run hit its 5m limit")
    suite = parse(junit_report(report_of(verdict))).find("testsuite")
    assert suite.get("tests") == "2" and suite.get("errors") == "1"


def test_real_record_has_junit_xml(mooncake_record):
    root = parse((mooncake_record.record / "junit.xml").read_text())
    suite = root.find("testsuite")
    assert suite.get("tests") == "4" and suite.get("failures") == "0" and suite.get("errors") == "0"
    assert len(suite.findall("testcase")) == len(mooncake_record.verdict.results)
