"""The quick validity check must agree with jsonschema on every document, or validation would miss errors."""
from __future__ import annotations

import copy
import random

import pytest
from jsonschema import Draft7Validator, Draft202012Validator

from runner.base.errors import ScenarioError
from runner.flows.check import validate_scenario
from runner.render.kubernetes import render_kubernetes
from runner.render.objects import _builtin_validator, _crd_validators
from runner.scenario.model import thaw
from runner.scenario.resolve import Library, resolve
from runner.scenario.schemas import QuickValidator, compile_check, scenario_validator

from .conftest import BROKEN, SCENARIOS

VALUES = [None, True, False, 0, 1, -1, 1.0, 2.5, 10**9, "", "x", "Bad_Name", "20m", "efa", [], ["a"], [1, 2], {}, {"k": "v"},
          {"name": "w"}]


def agree(validator, instance) -> None:
    expected = not any(True for _ in validator.validator.iter_errors(instance))
    assert validator.quick(instance) == expected, instance


def paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, prefix + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from paths(item, prefix + (i,))


def mutate(document, rng: random.Random):
    """One random change: a value replaced, a key removed, or an unknown key added."""
    document = copy.deepcopy(document)
    path = rng.choice([p for p in paths(document) if p])
    parent = document
    for part in path[:-1]:
        parent = parent[part]
    action = rng.random()
    if action < 0.7:
        parent[path[-1]] = copy.deepcopy(rng.choice(VALUES))
    elif action < 0.85 and isinstance(parent, dict):
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent["zzUnknown"] = "x"
    return document


def library_documents():
    library = Library(SCENARIOS)
    return [resolve(name, library).data for name in library.names()]


def rendered_objects():
    library = Library(SCENARIOS)
    objects = []
    for name in library.names():
        scenario = validate_scenario(name, library)
        if "kubernetes" in scenario.executors:
            objects += [thaw(o.body) for o in render_kubernetes(scenario, validate=False)]
    return objects


def object_validator(body):
    key = (body["apiVersion"], body["kind"])
    return _crd_validators().get(key) or _builtin_validator(*key)


def test_scenario_schema_is_compiled():
    assert scenario_validator().quick is not None


def test_agrees_on_the_library_and_the_broken_corpus():
    validator = scenario_validator()
    documents = library_documents()
    for path in sorted(BROKEN.glob("*.yaml")):
        try:
            documents.append(resolve(str(path), Library(BROKEN)).data)
        except ScenarioError:
            pass  # broken before the schema stage
    for document in documents:
        agree(validator, document)


def test_agrees_on_mutated_scenarios():
    rng = random.Random(20261127)
    validator = scenario_validator()
    documents = library_documents()
    for _ in range(600):
        agree(validator, mutate(rng.choice(documents), rng))


def test_agrees_on_mutated_kubernetes_objects():
    objects = rendered_objects()
    if not objects:
        pytest.skip("no Kubernetes scenario in the library")
    rng = random.Random(7)
    for body in objects:
        validator = object_validator(body)
        assert validator.quick is not None, (body["apiVersion"], body["kind"])
        agree(validator, body)
    for _ in range(300):
        body = rng.choice(objects)
        agree(object_validator(body), mutate(body, rng))


KEYWORD_CASES = [
    ({"type": "integer"}, [1, 1.0, 1.5, True, "1", None]),
    ({"type": ["string", "null"]}, ["a", None, 1]),
    ({"enum": [1, "a", None]}, [1, True, 1.0, "a", None, "b"]),
    ({"const": False}, [False, 0, None]),
    ({"properties": {"a": {"type": "string"}}, "required": ["a"], "additionalProperties": False},
     [{"a": "x"}, {"a": 1}, {}, {"a": "x", "b": 1}, [], "s"]),
    ({"additionalProperties": {"type": "integer"}}, [{"a": 1}, {"a": "1"}, {}]),
    ({"propertyNames": {"pattern": "^[a-z]+$"}}, [{"ab": 1}, {"A": 1}, {}]),
    ({"items": {"type": "string"}, "minItems": 1, "maxItems": 2, "uniqueItems": True}, [[], ["a"], ["a", "a"], ["a", "b", "c"], [1]]),
    ({"pattern": "^[0-9]+(ms|s)$", "minLength": 2, "maxLength": 4}, ["1s", "10ms", "100ms", "s", 5]),
    ({"minimum": 0, "exclusiveMaximum": 10}, [0, -1, 9.9, 10, "5", True]),
    ({"oneOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "string", "pattern": "^[0-9]+s$"}]}, [1, 0, "5s", "x", None]),
    ({"anyOf": [{"type": "integer"}, {"const": "every-rank"}]}, [3, "every-rank", "x"]),
    ({"not": {"type": "string"}}, ["a", 1]),
    ({"allOf": [{"type": "object"}, {"required": ["k"]}]}, [{"k": 1}, {}, 1]),
    (True, [1, None]),
    ({"if": {"required": ["extends"]}, "then": {"required": ["a"]}, "else": {"required": ["b"]}},
     [{"extends": "p", "a": 1}, {"extends": "p", "b": 1}, {"b": 1}, {"a": 1}, 1]),
    ({"if": {"type": "string"}, "then": {"minLength": 2}}, ["ab", "a", 1]),
    ({"then": {"type": "string"}, "else": {"type": "string"}}, [1, "a"]),
    ({"properties": {"a": False}}, [{"a": 1}, {"b": 1}]),
]


@pytest.mark.parametrize("schema, instances", KEYWORD_CASES)
@pytest.mark.parametrize("draft", [Draft202012Validator, Draft7Validator])
def test_keywords_agree_with_jsonschema(schema, instances, draft):
    quick = compile_check(schema)
    assert quick is not None
    for instance in instances:
        assert quick(instance) == draft(schema).is_valid(instance), (schema, instance)


@pytest.mark.parametrize("schema", [{"$ref": "#/x"}, {"patternProperties": {"a": {}}}, {"contains": {}}, {"items": [{}]},
                                    {"type": "objekt"}, {"dependentRequired": {}}])
def test_unsupported_schemas_are_left_to_jsonschema(schema):
    assert compile_check(schema) is None


def test_unsupported_subschema_found_on_first_use_falls_back_to_jsonschema():
    schema = {"properties": {"a": {"contains": {"const": 1}}, "b": {"type": "string"}}}
    validator = QuickValidator(schema, lambda: Draft202012Validator(schema))
    assert validator.quick is not None
    assert list(validator.iter_errors({"b": "x"})) == []
    assert [e.message for e in validator.iter_errors({"a": [2], "b": 1})] == ["[2] does not contain items matching the given schema",
                                                                              "1 is not of type 'string'"]
    assert validator.quick is None
