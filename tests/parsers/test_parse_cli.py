"""`scenario parse`: the command users run on old logs; text and -J JSON of one run agree."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from runner.cli.main import cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def parse_json(*args: str) -> dict:
    result = CliRunner().invoke(cli, ["parse", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_text_and_json_output_of_the_same_run_give_the_same_figures():
    text = parse_json("nccl-tests", str(FIXTURES / "nccl-tests" / "all_gather_perf.txt"))
    from_json = parse_json("nccl-tests", str(FIXTURES / "nccl-tests" / "all_gather_perf.json"))
    assert text["metrics"].keys() == from_json["metrics"].keys()
    for name, metric in text["metrics"].items():
        other = from_json["metrics"][name]["value"]
        if isinstance(metric["value"], float):
            assert abs(metric["value"] - other) <= 0.005, name
        else:
            assert metric["value"] == other, name
    assert text["metrics"]["busbw_gbps_max"]["value"] == 351.54


def test_parser_options_and_table_output():
    result = CliRunner().invoke(cli, ["parse", "nccl-tests", str(FIXTURES / "nccl-tests" / "all_gather_perf.txt"),
                                      "--option", "min_bytes=268435456"])
    assert result.exit_code == 0, result.output
    line = next(l for l in result.output.splitlines() if l.startswith("busbw_gbps_min_at_or_above"))
    assert "304.95" in line


def test_truncated_log_is_an_error_with_the_reason_not_a_number():
    result = CliRunner().invoke(cli, ["parse", "nccl-tests", str(FIXTURES / "nccl-tests" / "truncated_no_footer.txt")])
    assert result.exit_code != 0
    assert result.exception is None or not isinstance(result.exception, (KeyError, ValueError, IndexError))


def test_parse_cli_exit_codes_through_main(tmp_path, capsys):
    from runner.cli.main import main

    code = main(["parse", "nccl-tests", str(FIXTURES / "nccl-tests" / "truncated_no_footer.txt")])
    captured = capsys.readouterr()
    assert code == 3
    assert "parser 'nccl-tests' could not read" in captured.err
    assert "Traceback" not in captured.err
    log = tmp_path / "x.log"
    log.write_text("hello\n")
    assert main(["parse", "no-such-parser", str(log)]) == 2
    assert "unknown parser 'no-such-parser'" in capsys.readouterr().err


def test_a_device_or_fifo_is_refused_unread(tmp_path, capsys):
    """/dev/zero never ends and a FIFO blocks until a writer comes: both are refused before they are opened."""
    import os

    from runner.cli.main import main

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path, kind in (("/dev/zero", "a character device"), (str(fifo), "a FIFO")):
        assert main(["parse", "nccl-tests", path]) == 3
        err = capsys.readouterr().err
        assert f"could not read {path}: not a regular file ({kind})" in err, err
