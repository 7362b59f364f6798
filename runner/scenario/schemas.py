"""Schema compilation: the published scenario schema as shipped, $ref inlining, and the quick validity check
that lets valid documents skip jsonschema's iter_errors. Used by validate (scenarios) and kube.objects (rendered
objects); it imports neither."""
from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any, Callable

from runner.base.resources import schema_dir


@lru_cache(maxsize=None)
def schema() -> dict:
    return json.loads(schema_text())


def schema_text() -> str:
    """The published scenario schema, as shipped in the package."""
    return (schema_dir() / "scenario.v1.json").read_text()


@lru_cache(maxsize=None)
def scenario_validator() -> "QuickValidator":
    """The scenario schema, $refs inlined, behind the quick check."""
    document = schema()
    inlined = inline_refs(document, lambda ref: _local_ref(document, ref))
    return QuickValidator(inlined, lambda: jsonschema_validator("Draft202012Validator", inlined))


def jsonschema_validator(draft: str, schema: Any, **options: Any) -> Any:
    import jsonschema  # ~60 ms to import: only when a document is invalid and its errors must be explained

    return getattr(jsonschema, draft)(schema, **options)


class QuickValidator:
    """A jsonschema validator behind a quick validity check: most documents are valid, and for them a compiled
    check is ~10x faster than jsonschema's iter_errors; only invalid ones pay for jsonschema (made by `make`,
    on first need) and its error details."""

    def __init__(self, schema: Any, make: Callable[[], Any]):
        self.schema = schema
        self.quick = compile_check(schema)
        self._make = make
        self._validator = None

    @property
    def validator(self) -> Any:
        if self._validator is None:
            self._validator = self._make()
        return self._validator

    def iter_errors(self, instance: Any):
        try:
            if self.quick is not None and self.quick(instance):
                return iter(())
        except _Unsupported:  # found in a part of the schema compiled on first use
            self.quick = None
        return self.validator.iter_errors(instance)


def _local_ref(document: dict, ref: str) -> tuple[str, Any] | None:
    return (ref, document["$defs"][ref[len("#/$defs/"):]]) if ref.startswith("#/$defs/") else None


_ANNOTATIONS = {"description", "title", "default", "examples", "$comment"}


def inline_refs(node: Any, lookup, memo: dict | None = None, seen: tuple = ()) -> Any:
    """A copy of a JSON Schema with each `$ref` replaced by its target: jsonschema then skips a reference
    lookup per use (~20% of validation time). `lookup(ref)` gives (canonical ref, target) or None to keep the
    reference; a recursive reference stays a `$ref`, in its canonical form."""
    memo = {} if memo is None else memo
    if isinstance(node, list):
        return [inline_refs(item, lookup, memo, seen) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    found = lookup(ref) if isinstance(ref, str) else None
    if found is None or found[0] in seen:
        copied = {key: inline_refs(value, lookup, memo, seen) for key, value in node.items()}
        return {**copied, "$ref": found[0]} if found else copied
    canonical, target = found
    if canonical not in memo:
        memo[canonical] = inline_refs(target, lookup, memo, seen + (canonical,))
    rest = {key: inline_refs(value, lookup, memo, seen) for key, value in node.items() if key != "$ref" and key not in _ANNOTATIONS}
    if not rest:
        return memo[canonical]
    return {**rest, "allOf": [memo[canonical], *rest.get("allOf", ())]}

# --- quick validity check -------------------------------------------------------------------
# The keywords below are checked exactly as jsonschema does; a schema using any other validation keyword is not
# compiled (jsonschema alone decides). Other keys (description, format without a format checker, x-*) are ignored,
# as jsonschema ignores them.

_VALIDATION_KEYWORDS = {
    "$ref", "$dynamicRef", "$recursiveRef", "allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentSchemas",
    "dependencies", "prefixItems", "items", "additionalItems", "contains", "minContains", "maxContains", "properties",
    "patternProperties", "additionalProperties", "propertyNames", "unevaluatedItems", "unevaluatedProperties", "type",
    "enum", "const", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength",
    "minLength", "pattern", "maxItems", "minItems", "uniqueItems", "maxProperties", "minProperties", "required",
    "dependentRequired",
}
_TYPE_CHECKS = {
    "object": lambda x: isinstance(x, dict),
    "array": lambda x: isinstance(x, list),
    "string": lambda x: isinstance(x, str),
    "integer": lambda x: (isinstance(x, int) and not isinstance(x, bool)) or (isinstance(x, float) and x.is_integer()),
    "number": lambda x: isinstance(x, (int, float)) and not isinstance(x, bool),
    "boolean": lambda x: isinstance(x, bool),
    "null": lambda x: x is None,
}


class _Unsupported(Exception):
    pass


def compile_check(schema: Any):
    """A function instance -> bool that agrees with jsonschema's is_valid, or None if the schema is not supported.
    Subschemas are compiled when first reached (big CRD schemas are mostly never reached); one found unsupported
    then raises _Unsupported from the check."""
    try:
        return _compile(schema, {})
    except _Unsupported:
        return None


def _equal(one: Any, two: Any) -> bool:
    """jsonschema's equality: booleans are not numbers."""
    if isinstance(one, bool) or isinstance(two, bool):
        return isinstance(one, bool) and isinstance(two, bool) and one == two
    if isinstance(one, dict) and isinstance(two, dict):
        return one.keys() == two.keys() and all(_equal(one[k], two[k]) for k in one)
    if isinstance(one, list) and isinstance(two, list):
        return len(one) == len(two) and all(map(_equal, one, two))
    return one == two


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _lazy(schema: Any, memo: dict):
    """The check of a subschema, compiled on its first call."""
    if id(schema) in memo:
        return memo[id(schema)]
    compiled = None

    def check(x: Any) -> bool:
        nonlocal compiled
        if compiled is None:
            compiled = _compile(schema, memo)
        return compiled(x)

    memo[id(schema)] = check
    return check


def _compile(schema: Any, memo: dict):
    try:
        return _compile_keywords(schema, memo)
    except (KeyError, TypeError, re.error) as error:
        raise _Unsupported from error


def _compile_keywords(schema: Any, memo: dict):
    if schema is True:
        return lambda x: True
    if schema is False:
        return lambda x: False
    if not isinstance(schema, dict):
        raise _Unsupported
    checks = []
    for keyword, value in schema.items():
        if keyword in _VALIDATION_KEYWORDS:
            checks.append(_keyword(keyword, value, schema, memo))
    checks = [c for c in checks if c is not None]

    def check(x: Any) -> bool:
        for one in checks:
            if not one(x):
                return False
        return True

    return check


def _object_check(properties: dict, additional: Any, memo: dict):
    other = None if additional is True else _lazy(additional, memo)

    def check(x: Any) -> bool:
        if isinstance(x, dict):
            for key, item in x.items():
                sub = properties.get(key, other)
                if sub is not None and not sub(item):
                    return False
        return True

    return check


def _keyword(keyword: str, value: Any, schema: dict, memo: dict):
    if keyword == "type":
        tests = [_TYPE_CHECKS[t] for t in ([value] if isinstance(value, str) else value)]
        return tests[0] if len(tests) == 1 else lambda x: any(test(x) for test in tests)
    if keyword == "properties":  # with additionalProperties: one pass over the keys the instance has
        if "patternProperties" in schema:
            raise _Unsupported
        return _object_check({name: _lazy(sub, memo) for name, sub in value.items()}, schema.get("additionalProperties", True), memo)
    if keyword == "additionalProperties":
        if "patternProperties" in schema:
            raise _Unsupported
        return None if "properties" in schema else _object_check({}, value, memo)
    if keyword == "required":
        return lambda x: not isinstance(x, dict) or all(name in x for name in value)
    if keyword == "propertyNames":
        sub = _lazy(value, memo)
        return lambda x: not isinstance(x, dict) or all(sub(k) for k in x)
    if keyword == "items":
        if isinstance(value, list) or "prefixItems" in schema or "additionalItems" in schema:
            raise _Unsupported
        sub = _lazy(value, memo)
        return lambda x: not isinstance(x, list) or all(sub(item) for item in x)
    if keyword in ("minItems", "maxItems", "minLength", "maxLength"):
        kind, bound = (list, keyword.startswith("min")) if keyword.endswith("Items") else (str, keyword.startswith("min"))
        return (lambda x: not isinstance(x, kind) or len(x) >= value) if bound else (lambda x: not isinstance(x, kind) or len(x) <= value)
    if keyword == "uniqueItems":
        if not value:
            return None
        return lambda x: not isinstance(x, list) or all(not _equal(a, b) for i, a in enumerate(x) for b in x[i + 1:])
    if keyword == "pattern":
        compiled = re.compile(value)
        return lambda x: not isinstance(x, str) or compiled.search(x) is not None
    if keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        if not _is_number(value):
            raise _Unsupported  # draft 4's boolean exclusiveMinimum
        # as jsonschema words them (fail when `x < minimum`, ...), so that NaN agrees: it fails no comparison
        compare = {"minimum": lambda x: not x < value, "maximum": lambda x: not x > value,
                   "exclusiveMinimum": lambda x: not x <= value, "exclusiveMaximum": lambda x: not x >= value}[keyword]
        return lambda x: not _is_number(x) or compare(x)
    if keyword == "enum":
        return lambda x: any(_equal(x, allowed) for allowed in value)
    if keyword == "const":
        return lambda x: _equal(x, value)
    if keyword in ("allOf", "anyOf", "oneOf"):
        subs = [_lazy(sub, memo) for sub in value]
        if keyword == "allOf":
            return lambda x: all(sub(x) for sub in subs)
        if keyword == "anyOf":
            return lambda x: any(sub(x) for sub in subs)
        return lambda x: sum(1 for sub in subs if sub(x)) == 1
    if keyword == "if":
        condition, then = _lazy(value, memo), _lazy(schema.get("then", True), memo)
        otherwise = _lazy(schema.get("else", True), memo)
        return lambda x: then(x) if condition(x) else otherwise(x)
    if keyword in ("then", "else"):
        return None  # checked with "if"; without one they mean nothing
    if keyword == "not":
        sub = _lazy(value, memo)
        return lambda x: not sub(x)
    raise _Unsupported
