"""Command rendering: Jinja with StrictUndefined, a Jinja-free fast path for plain substitutions that must agree."""
from __future__ import annotations

from types import MappingProxyType

import pytest

from runner.base.errors import Location, RenderError
from runner.scenario.templating import _compile, _substitute, render_string

VARIABLES = {
    "params": MappingProxyType({"threads": 4, "ratio": 1.5, "flag": True, "text": "a b", "none": None, "list": [1],
                                "items": "shadowed by dict.items", "if": "keyword"}),
    "ports": {"rpc": 9000},
    "ready": {"target": {"rpc_address": "127.0.0.1:15000"}},
}


@pytest.mark.parametrize("text", [
    "--threads={{ params.threads }}", "{{params.ratio}}x{{ ports.rpc }}", "{{ params.text }}", "{{ ready.target.rpc_address }}",
    "{{ params.items }}", "{{ params.flag }}", "{{ params.none }}", "{{ params.list }}", "{{ params.threads + 1 }}",
    "a {# note #} {{ params.text }}", "{{ ports.rpc }}\n", "{{ params['threads'] }}", "{{ params.if }}",
])
def test_fast_path_agrees_with_jinja(text):
    fast = _substitute(text, VARIABLES)
    if fast is not None:
        assert fast == _compile(text).render(**VARIABLES)
    assert render_string(text, VARIABLES, Location("x")) == _compile(text).render(**VARIABLES)


@pytest.mark.parametrize("text, message", [
    ("{{ params.missing }}", "undefined template variable"),
    ("{{ nope.x }}", "undefined template variable"),
    ("{{ params.threads + }}", "template syntax error"),
    ("{{ params.__class__ }}", "template not allowed"),
])
def test_errors_name_the_location(text, message):
    with pytest.raises(RenderError) as caught:
        render_string(text, VARIABLES, Location("demo.yaml", 7, 9))
    problem = caught.value.problems[0]
    assert message in problem.message and (problem.location.line, problem.location.col) == (7, 9)


def test_text_without_template_syntax_is_returned_as_is():
    assert render_string("plain {text}\n", VARIABLES, Location()) == "plain {text}\n"


FLOW_VALUES = [
    {"app.kubernetes.io/managed-by": "scenario-runner", "scenario-runner.dev/run-id": "render"}, {"nvidia.com/gpu": 8, "memory": "256Gi"},
    [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}], {"a": "123"}, {"a": "yes"}, {"a": ""}, {"a": "x y"},
    {"a": 1.5}, {"a": None, "b": [True, False, 0]}, ["a:b"], {"k": "-x"}, {"k": "x" * 200}, {}, [], {"a": {"b": []}}, {1: "a"},
    {"a": "2024-01-01"}, {"a": "0x1f"}, {"a": "null"}, {"a": "~"}, {"a": "on"}, {"a": "y"}, {"a": "1_0"}, {"a": "x/y.z-w_1"},
    MappingProxyType({"frozen": ("a", "b")}),
]


@pytest.mark.parametrize("value", FLOW_VALUES)
def test_to_yaml_writes_what_pyyaml_writes(value):
    import yaml

    from runner.scenario.model import thaw
    from runner.scenario.templating import _to_yaml

    expected = yaml.safe_dump(thaw(value), default_flow_style=True, sort_keys=False, width=10_000).strip()
    assert _to_yaml(value) == expected
