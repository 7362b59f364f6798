"""Once a run ends its record is `<run-id>/`, not `<run-id>.partial/`: no message, source or path in the record
or on the terminal names the folder that no longer exists."""
from __future__ import annotations

from runner.report import render_report

from .conftest import read_json


def test_messages_name_the_final_record_not_the_partial_one(lab):
    lab.write("unparsable", """\
        workloads:
          - name: w
            kind: job
            command: [python, -c, "print('no nccl-tests table here')"]
            parser: nccl-tests
        checks:
          - {metric: w.busbw_gbps_max, op: ">", value: 0}
        """, layer="fabric")
    result = lab.run("unparsable")
    assert result.verdict.status == "ERROR"
    final = str(result.record)
    [check] = [r for r in result.verdict.results if r.metric == "busbw_gbps_max"]
    assert f"{final}/logs/w/" in check.message, check.message  # the parse error names the log, in its final place
    texts = {name: (result.record / name).read_text() for name in ("verdict.json", "metrics.json", "run.json", "summary.md", "junit.xml")}
    texts["terminal"] = render_report("table", result.report)
    assert {name: ".partial" in text for name, text in texts.items()} == dict.fromkeys(texts, False)
    assert read_json(result.record / "verdict.json")["results"][0]["message"] == check.message
    assert all(path.exists() for outcome in result.output.outcomes.values() for path in outcome.logs)
