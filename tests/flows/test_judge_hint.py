"""`scenario judge` offers only what judge can do: it has no --with-baseline, so its hint for a missing baseline run
names the baseline's own run (and `scenario run` keeps offering --with-baseline, which it has)."""
from __future__ import annotations

import json

from runner.cli.main import main
from runner.flows.check import validate_scenario
from runner.scenario.resolve import Library
from tests.truth.corpus import cases, materialize


def test_a_missing_baseline_in_judge_does_not_offer_run_options(tmp_path, capsys):
    case = next(c for c in cases() if c.id == "sglang/0.5.10.post1/pd-healthy")
    logs = materialize(validate_scenario("sglang-1p1d", Library()), case, tmp_path / "logs")
    main(["judge", "sglang-1p1d", "--logs", str(logs), "-o", "json", "--results", str(tmp_path / "results")])
    ttft = next(r for r in json.loads(capsys.readouterr().out)["results"] if r["name"] == "ttft")
    assert ttft["status"] == "ERROR"
    assert "--with-baseline" not in ttft["message"]
    assert "run `scenario run sglang-baseline-tp8` first" in ttft["message"] and "then judge again" in ttft["message"]
