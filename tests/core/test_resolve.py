from __future__ import annotations

import pytest

from runner.base.errors import ScenarioError
from runner.scenario.resolve import (
    Library,
    apply_overrides,
    matrix_variants,
    merge,
    parse_override,
    resolve,
    scenarios_dir,
    variant_suffix,
)

from .conftest import scenario_text

PARENT = scenario_text("parent", """\
parameters:
  threads: 2
  sizes: [1, 2, 4]
env:
  FI_PROVIDER: efa
  NCCL_DEBUG: INFO
workloads:
  - name: target
    kind: service
    command: [bench, --mode=target]
    args: {buffer: 64, protocol: tcp}
  - name: initiator
    kind: job
    command: [bench, --mode=initiator]
    after: [target]
""")

CHILD = """\
apiVersion: scenarios/v1
kind: Scenario
metadata:
  name: child
extends: parent
parameters:
  threads: 24
  sizes: [8]
env:
  NCCL_DEBUG: WARN
workloads:
  - name: initiator
    args: {threads: 24}
  - name: extra
    command: [echo, extra]
"""


@pytest.fixture
def family(make_library) -> Library:
    grandchild = scenario_text("grandchild", "extends: child\nenv:\n  FI_PROVIDER: tcp\n").replace("executors: [local]\n", "")
    return make_library({"parent": PARENT, "child": CHILD, "grandchild": grandchild})


# --- merge semantics ------------------------------------------------------------------------


def test_maps_merge_deeply():
    assert merge({"a": {"b": 1, "c": 2}, "d": 0}, {"a": {"c": 3, "e": 4}}) == {"a": {"b": 1, "c": 3, "e": 4}, "d": 0}


def test_named_lists_merge_by_name_and_new_items_append():
    base = [{"name": "a", "x": 1, "env": {"A": "1"}}, {"name": "b", "x": 2}]
    overlay = [{"name": "b", "x": 20}, {"name": "c"}, {"name": "a", "env": {"B": "2"}}]
    assert merge(base, overlay) == [{"name": "a", "x": 1, "env": {"A": "1", "B": "2"}}, {"name": "b", "x": 20}, {"name": "c"}]


def test_other_lists_and_scalars_replace():
    assert merge({"l": [1, 2, 3], "s": "x"}, {"l": [9], "s": "y"}) == {"l": [9], "s": "y"}
    assert merge([{"name": "a"}], []) == []


def test_merge_does_not_modify_its_inputs():
    base, overlay = {"a": {"b": [1]}}, {"a": {"c": {"d": 1}}}
    merged = merge(base, overlay)
    merged["a"]["c"]["d"] = 2
    assert base == {"a": {"b": [1]}} and overlay == {"a": {"c": {"d": 1}}}


def test_extends_applies_the_child_delta(family):
    data = resolve("child", family).data
    assert data["parameters"] == {"threads": 24, "sizes": [8]}
    assert data["env"] == {"FI_PROVIDER": "efa", "NCCL_DEBUG": "WARN"}
    assert [w["name"] for w in data["workloads"]] == ["target", "initiator", "extra"]
    initiator = data["workloads"][1]
    assert initiator == {"name": "initiator", "kind": "job", "command": ["bench", "--mode=initiator"], "after": ["target"], "args": {"threads": 24}}
    assert data["metadata"] == {"name": "child"}
    assert data["executors"] == ["local"]
    assert data["extends"] == "parent"


def test_chain_of_three(family):
    resolved = resolve("grandchild", family)
    assert [p.stem for p in resolved.files] == ["grandchild", "child", "parent"]
    assert resolved.data["env"] == {"FI_PROVIDER": "tcp", "NCCL_DEBUG": "WARN"}
    assert resolved.name == "grandchild"


def test_sources_point_at_the_file_that_set_each_value(family):
    sources = resolve("grandchild", family).sources

    def where(*path):
        location = sources.with_path(path)
        return location.file.rsplit("/", 1)[-1], location.line

    assert where("env", "FI_PROVIDER") == ("grandchild.yaml", 7)
    assert where("env", "NCCL_DEBUG") == ("child.yaml", 10)
    assert where("parameters", "threads") == ("child.yaml", 7)
    assert where("workloads", 0, "args", "protocol") == ("parent.yaml", 16)
    assert where("workloads", 1, "args", "threads") == ("child.yaml", 13)
    assert where("workloads", 1, "command", 1) == ("parent.yaml", 19)
    assert where("workloads", 2, "command", 0) == ("child.yaml", 15)
    assert where("parameters", "sizes", 0) == ("child.yaml", 8)
    assert where("metadata", "name") == ("grandchild.yaml", 4)


def test_replaced_list_has_no_stale_parent_locations(family):
    sources = resolve("child", family).sources
    assert ("parameters", "sizes", 2) not in sources


def test_missing_parent_names_the_extends_line(make_library):
    library = make_library({"orphan": scenario_text("orphan", "extends: parnet\n"), "parent": PARENT})
    with pytest.raises(ScenarioError) as caught:
        resolve("orphan", library)
    problem = caught.value.problems[0]
    assert (problem.location.line, problem.hint) == (6, "did you mean parent?")
    assert "no such scenario" in problem.message


@pytest.mark.parametrize("files, start, cycle", [
    ({"a": "b", "b": "a"}, "a", "a -> b -> a"),
    ({"a": "a"}, "a", "a -> a"),
    ({"a": "b", "b": "c", "c": "b"}, "a", "a -> b -> c -> b"),
])
def test_extends_cycles_are_clear_errors(make_library, files, start, cycle):
    library = make_library({name: scenario_text(name, f"extends: {parent}\n") for name, parent in files.items()})
    with pytest.raises(ScenarioError, match=f"`extends` makes a cycle: {cycle}"):
        resolve(start, library)


def test_library_finds_by_name_and_by_path(make_library, tmp_path):
    library = make_library({"parent": PARENT})
    assert library.find("parent") == tmp_path / "parent.yaml"
    assert library.find(str(tmp_path / "parent.yaml")) == tmp_path / "parent.yaml"
    with pytest.raises(ScenarioError, match="did you mean parent"):
        library.find("parnt")
    with pytest.raises(ScenarioError, match="no such scenario file"):
        library.find("missing.yaml")


def test_library_reports_duplicate_names_across_directories(tmp_path):
    for sub in ("fabric", "serving"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "same.yaml").write_text(scenario_text("same"))
    library = Library(tmp_path)
    assert library.names() == ["same"]
    assert len(library.duplicates) == 1 and "used twice" in library.duplicates[0].message


def test_the_library_is_the_option_then_scenario_path_then_the_scenarios_folder(monkeypatch, tmp_path):
    for name in ("option", "env", "legacy", "cwd"):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{name}.yaml").write_text(scenario_text(name))
    (tmp_path / "cwd").rename(tmp_path / "scenarios")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SCENARIO_PATH", raising=False)
    monkeypatch.delenv("SCENARIO_DIR", raising=False)
    assert Library(scenarios_dir()).names() == ["cwd"]
    monkeypatch.setenv("SCENARIO_DIR", str(tmp_path / "legacy"))
    assert Library(scenarios_dir()).names() == ["legacy"]
    monkeypatch.setenv("SCENARIO_PATH", str(tmp_path / "env"))
    assert Library(scenarios_dir()).names() == ["env"]
    assert Library(scenarios_dir(tmp_path / "option")).names() == ["option"]


def test_a_missing_library_says_how_to_point_at_one(tmp_path):
    with pytest.raises(ScenarioError) as error:
        Library(tmp_path / "nowhere").find("mooncake-tcp-loopback")
    assert "is not a folder: point at the scenario library with --library DIR or $SCENARIO_PATH" in str(error.value)


# --- --set --------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, value", [
    ("parameters.threads=8", 8),
    ("parameters.ratio=1.5", 1.5),
    ("parameters.flag=true", True),
    ("env.NCCL_IB_DISABLE=on", "on"),
    ("env.NCCL_DEBUG=INFO", "INFO"),
    ("parameters.sizes=[1, 2]", [1, 2]),
    ("parameters.empty=", ""),
    ("parameters.url=http://h:80/x=y", "http://h:80/x=y"),
    ("parameters.bad=[unclosed", "[unclosed"),
])
def test_override_values_are_yaml_typed(text, value):
    assert parse_override(text)[1] == value


def test_override_paths_split_on_dots_with_indices():
    assert parse_override("workloads.0.args.threads=1")[0] == ["workloads", 0, "args", "threads"]


def test_set_overrides_by_list_item_name_and_index(family):
    resolved = resolve("child", family, ["workloads.initiator.args.threads=8", "workloads.0.kind=job", "parameters.threads=x"])
    assert resolved.data["workloads"][1]["args"] == {"threads": 8}
    assert resolved.data["workloads"][0]["kind"] == "job"
    assert resolved.data["parameters"]["threads"] == "x"
    with pytest.raises(ScenarioError, match="the scenario has no parameter 'thread'"):
        resolve("child", family, ["parameters.thread=8"])  # a typo is not a new parameter
    assert resolved.sources.with_path(("workloads", 1, "args", "threads")).file == "--set workloads.initiator.args.threads=8"


def test_set_creates_missing_maps_and_leaves_the_input_alone(family):
    resolved = resolve("child", family)
    data, sources = apply_overrides(resolved.data, resolved.sources, ["timeouts.run=5m"])
    assert data["timeouts"] == {"run": "5m"} and "timeouts" not in resolved.data
    assert sources[("timeouts", "run")].file == "--set timeouts.run=5m"


@pytest.mark.parametrize("text, message", [
    ("parameters.threads", "expected dotted.path=value"),
    ("parameters..threads=1", "empty path segment"),
    ("workloads.nobody.kind=job", "no item named 'nobody'"),
    ("workloads.9.kind=job", "index 9 is out of range"),
    ("metadata.name.first=x", "is not a mapping"),
    ("parameters.threads.deep.er=1", "not inside a mapping"),
])
def test_set_errors_are_scenario_errors(family, text, message):
    with pytest.raises(ScenarioError, match=message):
        resolve("child", family, [text])


# --- matrix -----------------------------------------------------------------------------------


def test_matrix_variants_are_every_combination_in_order():
    variants = matrix_variants({"parameters.threads": [1, 2], "env.NCCL_ALGO": ["ring", "tree"]})
    assert variants == [
        {"parameters.threads": 1, "env.NCCL_ALGO": "ring"}, {"parameters.threads": 1, "env.NCCL_ALGO": "tree"},
        {"parameters.threads": 2, "env.NCCL_ALGO": "ring"}, {"parameters.threads": 2, "env.NCCL_ALGO": "tree"},
    ]
    assert variant_suffix(variants[1]) == "threads=1,NCCL_ALGO=tree"


def test_matrix_extra_axes_override_and_empty_matrix():
    assert matrix_variants({"parameters.threads": [1, 2]}, {"parameters.threads": [4]}) == [{"parameters.threads": 4}]
    assert matrix_variants({}) == []
