"""The `scenario` command line, driven in-process through the real entry point (exit codes are decided in cli.main)."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import yaml
from click.testing import CliRunner

from runner.cli.main import cli, main
from runner.scenario.resolve import Library

from .conftest import REPO, SCENARIOS, scenario_text

LIBRARY = Library(SCENARIOS)
KUBERNETES = [n for n in LIBRARY.names() if "kubernetes" in (yaml.safe_load(LIBRARY.paths[n].read_text()).get("executors") or [])]


def invoke(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    with CliRunner().isolation(env=env) as (out, err, _):
        code = main(args)
    return code, out.getvalue().decode(), err.getvalue().decode()


@pytest.fixture(autouse=True)
def library_of_the_repo(monkeypatch):
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("SCENARIO_PATH", raising=False)
    monkeypatch.delenv("SCENARIO_DIR", raising=False)


def test_list_shows_every_scenario():
    code, out, _ = invoke(["list"])
    assert code == 0
    for name in LIBRARY.names():
        assert re.search(rf"^{re.escape(name)}\s", out, re.M), name
    code, out, _ = invoke(["list", "-o", "json"])
    rows = json.loads(out)
    assert [r["name"] for r in rows] == LIBRARY.names()
    assert all(r["layer"] != "?" for r in rows), [r for r in rows if r["layer"] == "?"]


def test_validate_passes_on_the_whole_library():
    code, out, err = invoke(["validate"])
    assert code == 0, err
    assert f"{len(LIBRARY.names())} valid, 0 invalid" in out


def test_validate_reports_every_invalid_file_and_exits_2(tmp_path):
    (tmp_path / "good.yaml").write_text(scenario_text("good", "workloads:\n  - {name: w, command: [echo]}\nchecks:\n  - {log: w, contains: ''}\n"))
    (tmp_path / "bad.yaml").write_text(scenario_text("bad", "workloads:\n  - {name: w, comand: [echo]}\n"))
    code, out, err = invoke(["validate", str(tmp_path)], env={"SCENARIO_PATH": str(tmp_path)})
    assert code == 2
    assert f"ok       {tmp_path / 'good.yaml'}" in out
    assert f"{tmp_path / 'bad.yaml'}:7:15  $.workloads[0].comand: unknown key 'comand'" in err
    assert "1 valid, 1 invalid (1 problem)" in err


def test_validate_refuses_duplicate_names(tmp_path):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "same.yaml").write_text(scenario_text("same"))
    code, _, err = invoke(["validate"], env={"SCENARIO_PATH": str(tmp_path)})
    assert code == 2 and "scenario name 'same' is used twice" in err


def test_show_prints_the_merged_variant():
    code, out, _ = invoke(["show", "mooncake-tcp-loopback-threads4"])
    assert code == 0
    assert out.startswith("# resolved from: mooncake-tcp-loopback-threads4 <- mooncake-tcp-loopback\n")
    data = yaml.safe_load(out)
    assert data["metadata"]["name"] == "mooncake-tcp-loopback-threads4"
    assert data["parameters"]["threads"] == 4
    assert data["parameters"]["block_size"] == 65536  # from the parent
    assert [w["name"] for w in data["workloads"]] == ["target", "initiator"]


def test_show_with_set_is_typed_and_json():
    code, out, _ = invoke(["show", "mooncake-tcp-loopback", "--set", "parameters.threads=8", "--set", "env.MC_LOG_LEVEL=on",
                           "-o", "json"])
    assert code == 0
    data = json.loads(out)
    assert data["parameters"]["threads"] == 8 and data["env"]["MC_LOG_LEVEL"] == "on"


@pytest.mark.parametrize("args, message", [
    (["show", "mooncake-tcp-loopbak"], "did you mean mooncake-tcp-loopback"),
    (["show", "mooncake-tcp-loopback", "--set", "parameters.threads"], "expected dotted.path=value"),
    (["show", "mooncake-tcp-loopback", "--set", "workloads.nobody.kind=job"], "no item named 'nobody'"),
    (["show", "mooncake-tcp-loopback", "--set", "workloads.target.kind=jbo"], "did you mean 'job'?"),
    (["render", "mooncake-tcp-loopback", "--executor", "kubernetes"], "does not run on 'kubernetes'"),
    (["render", "mooncake-tcp-loopback", "--executor", "bogus"], "does not run on 'bogus'; it declares local"),
    (["run", "mooncake-tcp-loopback", "--executor", "bogus"], "does not run on 'bogus'; it declares local"),
    (["run", "sglang-1p1d", "--executor", "local"], "cannot run on the local executor: needs 16 GPUs"),  # the refusal, not "undeclared"
    (["run", "mooncake-tcp-loopback", "-o", "bogus"], "'bogus' is not one of 'html', 'json', 'junit', 'markdown', 'table'"),
    (["run", "mooncake-tcp-loopback", "--timeout", "soon"], "--timeout 'soon' is not a duration"),
    (["history", "mooncake-tcp-loopback", "--limit", "0"], "Invalid value for '--limit'"),
    (["validate", "no/such/file.yaml"], "no such scenario file"),
    (["parse", "mooncake-bench", "no/such.log"], "'no/such.log' does not exist"),
])
def test_errors_exit_2_without_traceback(args, message):
    code, out, err = invoke(args)
    assert code == 2, (out, err)
    assert message in err and "Traceback" not in err


def test_render_local_writes_the_process_plan(tmp_path):
    code, out, _ = invoke(["render", "mooncake-tcp-loopback", "--out", str(tmp_path)])
    assert code == 0
    assert [p.name for p in tmp_path.iterdir()] == ["process-plan.yaml"]
    plan = yaml.safe_load((tmp_path / "process-plan.yaml").read_text())
    assert plan["start_order"] == ["target", "initiator"]


@pytest.mark.skipif(not KUBERNETES, reason="no Kubernetes scenario in the library")
@pytest.mark.parametrize("name", KUBERNETES[:3])
def test_render_kubernetes_writes_stable_file_names(name, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    assert invoke(["render", name, "--out", str(first)])[0] == 0
    (first / "99-stale-object.yaml").write_text("stale: true\n")
    assert invoke(["render", name, "--out", str(first)])[0] == 0
    assert invoke(["render", name, "--out", str(second)])[0] == 0
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())  # same names every time, no stale files
    assert all(re.fullmatch(r"\d\d-[a-z]+-[a-z0-9-]+\.yaml", n) for n in names), names
    assert names[0].startswith("00-namespace-")
    for path in first.iterdir():
        assert path.read_text() == (second / path.name).read_text()
        assert yaml.safe_load(path.read_text())["kind"]


def test_render_to_stdout_is_yaml():
    code, out, _ = invoke(["render", "mooncake-tcp-loopback"])
    assert code == 0 and yaml.safe_load(out)["executor"] == "local"


def test_schema_prints_the_json_schema():
    code, out, _ = invoke(["schema"])
    assert code == 0
    assert json.loads(out) == json.loads((REPO / "schema" / "scenario.v1.json").read_text())


@pytest.mark.parametrize("command", [[]] + [[name] for name in sorted(cli.commands)])
def test_help_exits_0(command):
    code, out, _ = invoke(command + ["--help"])
    assert code == 0 and "Usage: scenario" in out


def test_version():
    code, out, _ = invoke(["--version"])
    assert code == 0 and "scenario" in out


@pytest.mark.parametrize("words, cword, expected", [
    ("scenario show mooncake", "2", {"mooncake-tcp-loopback", "mooncake-tcp-loopback-threads4"}),
    ("scenario render ", "2", set(LIBRARY.names())),
    ("scenario va", "1", {"validate"}),
])
def test_shell_completion_of_scenario_names(words, cword, expected):
    env = {"_SCENARIO_COMPLETE": "zsh_complete", "COMP_WORDS": words, "COMP_CWORD": cword}
    code, out, _ = invoke([], env=env)
    assert code == 0
    values = set(out.splitlines()[1::3])  # zsh protocol: type, value, help per item
    assert expected <= values, out
    if "mooncake" in words:
        assert all(v.startswith("mooncake") for v in values)



def test_the_command_line_collects_rarely():
    """`scenario validate` allocates ~100,000 objects in a burst; the default threshold (700) ran ~150 collections."""
    probe = "import gc, runner.cli; print(gc.get_threshold()[0])"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO).stdout
    assert int(out) >= 50_000



def test_the_command_line_leaves_its_objects_to_the_os_at_exit():
    """A full collection at shutdown cost 20-60 ms of a 250 ms `scenario validate`: entry() freezes instead."""
    probe = ("import atexit, gc, sys\nfrom runner.cli import main\n"
             "atexit.register(lambda: print('frozen', gc.get_freeze_count()))\n"
             "sys.argv = ['scenario', 'validate', '-q', 'mooncake-tcp-loopback']\nmain.entry()")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.split("frozen")[-1]) > 10_000