"""Template errors name the template file and line."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from runner.base.errors import RenderError
from runner.render import kubernetes as render
from runner.scenario.resolve import Library, resolve_text
from runner.scenario.validate import validate_resolved

SCENARIO = """\
apiVersion: scenarios/v1
kind: Scenario
metadata: {name: demo}
executors: [kubernetes]
platform: {instanceType: p5.48xlarge}
workloads:
  - {name: client, kind: job, image: busybox:1.36, command: [sleep, "1"]}
checks:
  - {log: client, contains: done}
"""


@pytest.fixture
def demo(tmp_path):
    return validate_resolved(resolve_text(SCENARIO, str(tmp_path / "demo.yaml"), Library(tmp_path)), None)


@pytest.fixture
def template_dir(tmp_path, monkeypatch):
    """A temporary templates/kubernetes. render.environment() binds its default search path at import
    time, so the function is redirected as well as TEMPLATE_DIR."""
    directory = tmp_path / "templates"
    directory.mkdir()
    (directory / "namespace.yaml.j2").write_text((render.TEMPLATE_DIR / "namespace.yaml.j2").read_text())
    original = render.environment
    monkeypatch.setattr(render, "TEMPLATE_DIR", directory)
    monkeypatch.setattr(render, "environment", lambda search_path=str(directory): original(search_path))
    yield directory
    original.cache_clear()


def _problem(scenario) -> "render.Problem":
    with pytest.raises(RenderError) as caught:
        render.render_kubernetes(scenario)
    (problem,) = caught.value.problems
    return problem


def test_undefined_variable_names_template_file_and_line(demo, template_dir):
    (template_dir / "job.yaml.j2").write_text("apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {{ no_such_variable }}\n")
    problem = _problem(demo)
    assert "no_such_variable" in problem.message
    assert (Path(problem.location.file), problem.location.line) == (template_dir / "job.yaml.j2", 4)


def test_undefined_attribute_of_a_known_variable_too(demo, template_dir):
    (template_dir / "job.yaml.j2").write_text("apiVersion: batch/v1\nkind: Job\n\nmetadata: {name: '{{ spec.replica }}'}\n")
    problem = _problem(demo)
    assert "replica" in problem.message
    assert (Path(problem.location.file), problem.location.line) == (template_dir / "job.yaml.j2", 4)


def test_undefined_variable_in_a_macro_names_the_macro_file(demo, template_dir):
    (template_dir / "_macros.yaml.j2").write_text("{% macro name() %}\n{{ no_such_variable }}\n{% endmacro %}\n")
    (template_dir / "job.yaml.j2").write_text('{% import "_macros.yaml.j2" as m with context %}\napiVersion: batch/v1\n'
                                              "kind: Job\nmetadata: {name: '{{ m.name() }}'}\n")
    problem = _problem(demo)
    assert (Path(problem.location.file), problem.location.line) == (template_dir / "_macros.yaml.j2", 2)


def test_the_real_templates_are_strict(demo):
    """StrictUndefined stays on: the shipped environment raises on an undefined name."""
    import jinja2

    with pytest.raises(jinja2.UndefinedError):
        render.environment().from_string("{{ nothing }}").render()


def test_a_missing_template_is_a_render_error_naming_it(demo, template_dir):
    """It was a NameError (`from error` of an unnamed exception) that surfaced as an internal error."""
    missing = replace(demo, workloads=(replace(demo.workloads[0], template="nope"),))
    with pytest.raises(RenderError) as caught:
        render.render_kubernetes(missing)
    (problem,) = caught.value.problems
    assert "no template nope.yaml.j2" in problem.message and "namespace" in problem.hint
