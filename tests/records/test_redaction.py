"""Secrets stay out of the record: scenario.yaml, run.json, rendered plans, command lines, and nccl-tests -J env dumps."""
from __future__ import annotations

import json
import shutil

import pytest

from runner.parse.logs import parse_file
from runner.records.record import (
    REDACTED,
    is_secret_name,
    redact,
    redact_record_files,
    redact_text,
)

from .conftest import REPO, read_json

SECRET = "hf_s3cr3t_value_123"


@pytest.mark.parametrize("name", ["HF_TOKEN", "hfToken", "AWS_SECRET_ACCESS_KEY", "OPENAI_API_KEY", "api-key", "--api-key",
                                  "env.DB_PASSWORD", "GITHUB_TOKEN", "ssh_key", "BASIC_AUTH", "MY_CREDENTIALS"])
def test_secret_names(name):
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["total_input_tokens", "max_tokens", "PWD", "author", "NCCL_DEBUG", "cache_key", "tokenizer",
                                  "FI_PROVIDER", "MC_LOG_LEVEL", "random_input_len"])
def test_not_secret_names(name):
    assert not is_secret_name(name)


def test_redact_keeps_the_shape_and_only_loses_secret_values():
    data = {"env": {"HF_TOKEN": SECRET, "NCCL_DEBUG": "INFO"}, "parameters": {"max_tokens": 512},
            "containers": [{"env": [{"name": "HF_TOKEN", "value": SECRET}, {"name": "FI_PROVIDER", "value": "efa"}]}],
            "command": ["sglang", "--api-key", SECRET, "--model", "m", f"--hf-token={SECRET}"],
            "overrides": [f"env.HF_TOKEN={SECRET}", "parameters.threads=4"]}
    redacted = redact(data)
    assert SECRET not in json.dumps(redacted)
    assert redacted["env"] == {"HF_TOKEN": REDACTED, "NCCL_DEBUG": "INFO"}
    assert redacted["parameters"] == {"max_tokens": 512}
    assert redacted["containers"][0]["env"][1] == {"name": "FI_PROVIDER", "value": "efa"}
    assert redacted["command"][:4] == ["sglang", "--api-key", REDACTED, "--model"]
    assert redacted["overrides"] == [f"env.HF_TOKEN={REDACTED}", "parameters.threads=4"]


def test_redact_text_of_a_command_line():
    line = f"env HF_TOKEN={SECRET} python -m sglang.launch_server --api-key {SECRET} --max-total-tokens 4096 --token='{SECRET}'"
    redacted = redact_text(line)
    assert SECRET not in redacted
    assert "--max-total-tokens 4096" in redacted and "python -m sglang.launch_server" in redacted


def test_a_real_run_keeps_secrets_out_of_scenario_run_json_plan_and_command_lines(lab):
    lab.write("leaky", f"""\
        env:
          HF_TOKEN: {SECRET}
          NCCL_DEBUG: INFO
        workloads:
          - name: tool
            command: [python, -c, "import os; print('token length', len(os.environ['HF_TOKEN']))", "--api-key", "{SECRET}"]
        checks:
          - {{log: tool, contains: "token length 19"}}
        """)
    result = lab.run("leaky", overrides=[f"env.AWS_SECRET_ACCESS_KEY={SECRET}"])
    assert result.verdict.status == "PASS", result.verdict.summary  # the process itself got the real value
    leaks = [p.relative_to(result.record) for p in result.record.rglob("*") if p.is_file() and SECRET in p.read_text(errors="replace")]
    assert leaks == []
    assert read_json(result.record / "run.json")["overrides"] == [f"env.AWS_SECRET_ACCESS_KEY={REDACTED}"]
    assert "NCCL_DEBUG: INFO" in (result.record / "scenario.yaml").read_text()


def test_nccl_tests_json_env_dump_in_the_logs_is_redacted_and_still_parses(lab):
    dump = REPO / "tests" / "fixtures" / "nccl-tests" / "all_gather_perf.json"
    lab.write("json-dump", f"""\
        workloads:
          - name: all-gather
            command: [cp, {dump}, all_gather.json]
            parser: {{name: nccl-tests, file: all_gather.json}}
        checks:
          - {{metric: all-gather.busbw_gbps_max, op: ">", value: 0}}
        """, layer="fabric")
    result = lab.run("json-dump")
    assert result.verdict.status == "PASS", result.verdict.summary
    copied = result.record / "logs" / "all-gather" / "all_gather.json"
    document = read_json(copied)
    assert "HF_TOKEN=<redacted>" in document["env"]
    assert "NCCL_DEBUG=WARN" in document["env"] and "hf_abc" not in copied.read_text()
    assert parse_file("nccl-tests", copied).value("busbw_gbps_max") == pytest.approx(351.5375)


def test_redact_record_files_handles_jsonl_and_leaves_text_logs_alone(tmp_path):
    logs = tmp_path / "logs" / "w"
    logs.mkdir(parents=True)
    (logs / "results.jsonl").write_text(json.dumps({"env": [f"HF_TOKEN={SECRET}"], "completed": 3}) + "\n" + json.dumps({"completed": 4}) + "\n")
    (logs / "rank-0.log").write_text(f"[INFO] reading config\nsomething HF_TOKEN={SECRET}\n")
    shutil.copy(REPO / "tests" / "fixtures" / "nccl-tests" / "all_gather_perf.txt", logs / "nccl.txt")
    changed = redact_record_files(tmp_path)
    assert [p.name for p in changed] == ["results.jsonl"]
    lines = (logs / "results.jsonl").read_text().splitlines()
    assert json.loads(lines[0]) == {"env": [f"HF_TOKEN={REDACTED}"], "completed": 3} and json.loads(lines[1]) == {"completed": 4}
