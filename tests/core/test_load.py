from __future__ import annotations

import pytest

from runner.base.errors import ScenarioError
from runner.scenario.load import format_path, load_file, load_text

TEXT = """\
apiVersion: scenarios/v1
metadata:
  name: demo
env:
  NCCL_IB_DISABLE: "1"
  FLAG: on
  OTHER: yes
  OFF: off
  REAL: true
  DATE: 2024-01-02
workloads:
  - name: first
    command: [echo, hi]
  - name: second
"""


def load(text=TEXT):
    return load_text(text, "demo.yaml")


def test_values_and_keys_have_locations():
    sources = load().sources
    assert (sources[("metadata", "name")].line, sources[("metadata", "name")].col) == (3, 9)
    assert (sources[("metadata", "name", "<key>")].line, sources[("metadata", "name", "<key>")].col) == (3, 3)
    assert sources[("workloads", 1, "name")].line == 14
    assert (sources[("workloads", 0, "command", 1)].line, sources[("workloads", 0, "command", 1)].col) == (13, 21)
    assert sources[("workloads", 0, "command", 1)].file == "demo.yaml"


def test_locate_falls_back_to_nearest_ancestor_and_names_the_path():
    sources = load().sources
    location = sources.with_path(("workloads", 1, "ready", "port"))
    assert location.line == 14
    assert location.path == "$.workloads[1].ready.port"
    assert sources.with_path(("metadata", "name"), key=True).col == 3


def test_yaml_1_1_booleans_and_dates_stay_strings():
    env = load().data["env"]
    assert env == {"NCCL_IB_DISABLE": "1", "FLAG": "on", "OTHER": "yes", "OFF": "off", "REAL": True, "DATE": "2024-01-02"}


def test_duplicate_keys_are_reported_with_both_lines():
    with pytest.raises(ScenarioError) as caught:
        load("a: 1\nb:\n  c: 1\n  c: 2\na: 3\n")
    problems = caught.value.problems
    assert [(p.location.line, p.message) for p in problems] == [
        (4, "duplicate key 'c' (first defined at line 3)"),
        (5, "duplicate key 'a' (first defined at line 1)"),
    ]


def test_syntax_error_names_line_and_column():
    with pytest.raises(ScenarioError) as caught:
        load("a: [1, 2\nb: 3\n")
    problem = caught.value.problems[0]
    assert problem.location.file == "demo.yaml"
    assert problem.location.line >= 1 and problem.message.startswith("YAML syntax error")


def test_tab_indentation_has_its_own_hint():
    with pytest.raises(ScenarioError) as caught:
        load("a:\n\tb: 1\n")
    assert (caught.value.problems[0].location.line, caught.value.problems[0].hint) == (2, "YAML does not allow tabs for indentation: use spaces")


def test_unclosed_quote_points_where_it_opens():
    with pytest.raises(ScenarioError) as caught:
        load('a: 1\nb: "open\nc: 2\n')
    assert caught.value.problems[0].location.line == 2


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n"])
def test_empty_file(text):
    with pytest.raises(ScenarioError, match="the file is empty"):
        load(text)


@pytest.mark.parametrize("text", ["a: !!python/object/apply:os.system [true]\n", "a: !!set {x, y}\n", "a: !!python/name:os.system\n"])
def test_unsafe_or_exotic_tags_are_refused(text):
    with pytest.raises(ScenarioError):
        load(text)


def test_load_file_reports_missing_and_non_utf8(tmp_path):
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load_file(tmp_path / "missing.yaml")
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"a: 1\nb: caf\xe9\n")
    with pytest.raises(ScenarioError) as caught:
        load_file(path)
    assert (caught.value.problems[0].location.line, caught.value.problems[0].location.col) == (2, 7)


def test_format_path():
    assert format_path(("workloads", 0, "env", "FI_PROVIDER")) == "$.workloads[0].env.FI_PROVIDER"
    assert format_path(()) == "$"


DOCUMENTS = [
    "a: 1\nb: [yes, no, on, '1', 1.5, ~, null, 2024-01-01, 0x1f, .inf, 0123, 0, -3, +4, 1_000, Null, '', TRUE, Off]\nc: {d: e}\n",
    "---\n- x\n---\n", "a: &x {b: 1}\nc: *x\nd:\n  <<: *x\n  e: 2\n", "1: one\ntrue: t\n", "", "k: !!binary aGVsbG8=\n",
    "x: 'quoted: yes'\ny: !!str 12\nz: !!int '7'\n", "a:\n- b\n- {c: [1, {d: null}]}\n",
]


@pytest.mark.parametrize("text", DOCUMENTS)
def test_load_documents_is_safe_load_all(text):
    import yaml

    from runner.scenario.load import load_documents

    assert repr(load_documents(text)) == repr(list(yaml.safe_load_all(text)))


def test_load_documents_on_rendered_manifests():
    import yaml

    from runner.flows.check import validate_scenario
    from runner.render import kubernetes as render
    from runner.scenario.load import load_documents
    from runner.scenario.resolve import Library

    texts = []
    original = render.load_documents
    render.load_documents = lambda text: texts.append(text) or original(text)
    try:
        library = Library()
        for name in library.names():
            scenario = validate_scenario(name, library)
            if "kubernetes" in scenario.executors:
                render.render_kubernetes(scenario, validate=False)
    finally:
        render.load_documents = original
    for text in texts:
        assert repr(load_documents(text)) == repr(list(yaml.safe_load_all(text)))


@pytest.fixture
def user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "scenario-runner"


def test_a_library_file_parsed_again_comes_from_the_cache_alike(tmp_path, user_cache, monkeypatch):
    from runner.scenario import load as load_module

    parsed = []
    monkeypatch.setattr(load_module, "load_text", lambda *args: parsed.append(args) or load_text(*args))
    path = tmp_path / "demo.yaml"
    path.write_text(TEXT)
    first, again = load_file(path, cached=True), load_file(path, cached=True)
    assert len(parsed) == 1
    assert again.data == first.data and dict(again.sources) == dict(first.sources)
    path.write_text(TEXT.replace("demo", "edited"))
    assert load_file(path, cached=True).data["metadata"]["name"] == "edited" and len(parsed) == 2


def test_only_what_parsed_is_cached_and_only_when_asked(tmp_path, user_cache):
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [1, 2\n")
    for _ in range(2):
        with pytest.raises(ScenarioError, match="YAML syntax error"):
            load_file(broken, cached=True)
    plain = tmp_path / "plain.yaml"
    plain.write_text(TEXT)
    load_file(plain)
    assert not user_cache.exists() or not list(user_cache.iterdir())


def test_a_library_caches_its_own_files_only(tmp_path, user_cache):
    from runner.scenario.resolve import Library

    (tmp_path / "scenarios").mkdir()
    inside = tmp_path / "scenarios" / "demo.yaml"
    inside.write_text(TEXT)
    outside = tmp_path / "record-scenario.yaml"
    outside.write_text(TEXT)
    library = Library(tmp_path / "scenarios")
    library.document(inside), library.document(outside)
    assert len(list(user_cache.glob("scenario-yaml-*"))) == 1
