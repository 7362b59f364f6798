"""Pipeline stage "load": read a scenario file as plain data, keeping where every value came from.

Every key and value is recorded in a SourceMap (JSON path -> Location) so that later
stages (schema, lints, templates) can name file:line:col for any problem.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from runner.base import cache, limits
from runner.base.errors import Location, Problem, ScenarioError
from runner.base.limits import (
    LIMITS_HINT,
    MAX_DEPTH,
    MAX_INT_DIGITS,
    check_shape,
    check_text_size,
    read_scenario_bytes,
)

JsonPath = tuple  # of str | int
_PARSERS = (Path(__file__), Path(limits.__file__), Path(yaml.__file__))  # the code a cached parse was made by


def format_path(path: JsonPath) -> str:
    text = "$"
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


class SourceMap(dict):
    """JSON path (tuple) -> Location of the value; key positions are stored under path + ("<key>",)."""

    def locate(self, path: JsonPath, *, key: bool = False) -> Location:
        """The best known location for `path`: the exact node, else its nearest located ancestor."""
        path = tuple(path)
        if key and path + ("<key>",) in self:
            return self[path + ("<key>",)]
        while path and path not in self:
            path = path[:-1]
        found = self.get(path, Location())
        return Location(found.file, found.line, found.col, format_path(tuple(path)))

    def with_path(self, path: JsonPath, *, key: bool = False) -> Location:
        found = self.locate(path, key=key)
        return Location(found.file, found.line, found.col, format_path(tuple(path)))


@dataclass(frozen=True)
class Document:
    """A loaded YAML file: its data and where each value sits."""

    path: Path
    data: Any
    sources: SourceMap


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps YAML 1.1 quirks out: `on`/`off`/`yes`/`no` and dates stay strings."""


_STR, _SEQ, _MAP = "tag:yaml.org,2002:str", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"
_INT, _NULL, _BOOL = "tag:yaml.org,2002:int", "tag:yaml.org,2002:null", "tag:yaml.org,2002:bool"
_PLAIN_TAGS = ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
_COLLECTION_TAGS = (_MAP, _SEQ)
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _PLAIN_TAGS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    __import__("re").compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


class _RememberedTags:
    """Resolver.resolve (no path resolvers in use) that remembers the tag of each plain scalar it has seen."""

    _tags: dict[str, str]

    def resolve(self, kind, value, implicit):
        if kind is yaml.ScalarNode:
            if not implicit[0]:
                return _STR  # quoted: always a string
            tag = self._tags.get(value)
            if tag is None:
                if len(self._tags) > 100_000:
                    self._tags.clear()
                tag = self._tags[value] = super().resolve(kind, value, implicit)
            return tag
        return _SEQ if kind is yaml.SequenceNode else _MAP


class _FastLoader(_RememberedTags, getattr(yaml, "CSafeLoader", _Loader)):  # libyaml parses ~15x faster than pure Python
    yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers
    _tags: dict[str, str] = {}


class _DocumentLoader(_RememberedTags, getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # yaml.safe_load's typing
    _tags: dict[str, str] = {}


def _location(file: str, node: yaml.Node) -> Location:
    return Location(file, node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    """Turns a composed YAML node tree into plain data and a SourceMap, finding duplicate keys."""

    def __init__(self, file: str, loader: _Loader):
        self.file = file
        self.loader = loader
        self.sources = SourceMap()
        self.problems: list[Problem] = []

    def build(self, node: yaml.Node, path: JsonPath = ()) -> Any:
        self.sources[path] = _location(self.file, node)
        if len(path) > MAX_DEPTH:  # reached through aliases; plain nesting is refused before building
            raise ScenarioError(Problem(f"maps and lists are nested more than {MAX_DEPTH} levels deep", _location(self.file, node),
                                        LIMITS_HINT))
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _COLLECTION_TAGS:
            self.problems.append(Problem(f"unsupported YAML tag {node.tag!r}", _location(self.file, node),
                                         "a scenario is plain data: remove the tag"))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        if node.tag == _STR:
            return node.value
        return self._scalar(node)

    def _scalar(self, node: yaml.Node) -> Any:
        if node.tag == _INT and len(node.value) > MAX_INT_DIGITS:
            self.problems.append(Problem(f"the number has {len(node.value):,} characters; at most {MAX_INT_DIGITS} are allowed",
                                         _location(self.file, node), "quote it if it is meant as text"))
            return 0
        try:
            value = self.loader.construct_object(node, deep=True)
        except (ValueError, OverflowError, TypeError) as error:
            self.problems.append(Problem(f"cannot read the value: {error}", _location(self.file, node), "quote it if it is meant as text"))
            return None
        if isinstance(value, float) and math.isinf(value) and "inf" not in node.value.lower():
            self.problems.append(Problem(f"the number {node.value[:40]} is too large for a float", _location(self.file, node)))
        return value

    def _mapping(self, node: yaml.MappingNode, path: JsonPath) -> dict:
        self.loader.flatten_mapping(node)
        result: dict = {}
        for key_node, value_node in node.value:
            key = key_node.value if key_node.tag == _STR and isinstance(key_node, yaml.ScalarNode) else \
                self._scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, (str, int, float, bool)) or key is None:
                self.problems.append(Problem("mapping keys must be plain scalars", _location(self.file, key_node)))
                continue
            key = str(key) if not isinstance(key, str) else key
            if key in result:
                first = self.sources[path + (key, "<key>")]
                self.problems.append(Problem(
                    f"duplicate key {key!r} (first defined at line {first.line})",
                    _location(self.file, key_node), "YAML keeps only the last value: remove one of them"))
            self.sources[path + (key, "<key>")] = _location(self.file, key_node)
            result[key] = self.build(value_node, path + (key,))
        return result


def _syntax_problem(file: str, error: yaml.YAMLError) -> Problem:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    context = getattr(error, "context", None)
    context_mark = getattr(error, "context_mark", None)
    hint = "check indentation and that `key: value` pairs have a space after the colon"
    if "end of stream" in problem and context_mark:  # an unclosed quote or bracket: point at where it opens
        mark, hint = context_mark, "a quote or bracket opened here is never closed"
    elif context and context_mark and mark and context_mark.line != mark.line:
        context += f" at line {context_mark.line + 1}"
    location = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
    message = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
    if "\\t" in problem or "\t" in problem or "tab" in problem.lower():
        hint = "YAML does not allow tabs for indentation: use spaces"
    return Problem(message, location, hint)


def _reader_problem(file: str, text: str, error: yaml.reader.ReaderError) -> Problem:
    before = text[: error.position]
    where = Location(file, before.count("\n") + 1, error.position - before.rfind("\n"))
    character = error.character if isinstance(error.character, str) else chr(error.character or 0)
    hint = "remove the control character" if character != "\0" else "NUL characters: is the file UTF-16? save it as UTF-8"
    return Problem(f"the file holds a character YAML does not allow ({character!r}, U+{ord(character):04X})", where, hint)


def _compose(text: str, file: str) -> yaml.Node | None:
    loader = None
    try:
        loader = _FastLoader(text)
        return loader.get_single_node()
    except yaml.YAMLError:
        pass  # the pure-Python parser words syntax errors better: parse again with it
    finally:
        if loader is not None:
            loader.dispose()
    loader = None
    try:
        loader = _Loader(text)  # its reader checks every character at construction
        return loader.get_single_node()
    except yaml.reader.ReaderError as error:
        raise ScenarioError(_reader_problem(file, text, error)) from error
    except yaml.YAMLError as error:
        raise ScenarioError(_syntax_problem(file, error)) from error
    except RecursionError as error:
        raise ScenarioError(Problem(f"maps and lists are nested more than {MAX_DEPTH} levels deep", Location(file, 1, 1),
                                    LIMITS_HINT)) from error
    finally:
        if loader is not None:
            loader.dispose()


def load_text(text: str, file: str) -> Document:
    node = _bounded_node(text, file)
    if node is None or isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
        raise ScenarioError(Problem("the file is empty", Location(file, 1, 1), "a scenario starts with `apiVersion: scenarios/v1`"))
    return _document(node, file)


def load_value(text: str, where: str) -> Any:
    """One YAML value given on the command line (`--set`, `--matrix`), under the same bounds as a file."""
    node = _bounded_node(text, where)
    return None if node is None else _document(node, where).data


def _bounded_node(text: str, file: str) -> yaml.Node | None:
    check_text_size(text, file)
    check_shape(text, file)
    return _compose(text, file)


def _document(node: yaml.Node, file: str) -> Document:
    builder = _Builder(file, _Loader(""))
    try:
        data = builder.build(node)
    except yaml.YAMLError as error:
        raise ScenarioError(_syntax_problem(file, error)) from error
    if builder.problems:
        raise ScenarioError(builder.problems)
    return Document(Path(file), data, builder.sources)


def load_documents(text: str) -> list:
    """yaml.safe_load_all(text), about twice as fast: libyaml composes, plain strings, lists and maps are built here,
    and only other scalars (numbers, booleans, null) and unusual nodes go through PyYAML's constructor."""
    loader = _DocumentLoader(text)
    try:
        documents = []
        while loader.check_node():
            node = loader.get_node()
            documents.append(_plain(node, loader.construct_object))
            loader.constructed_objects.clear()
        return documents
    finally:
        loader.dispose()


def _plain(node: yaml.Node, construct) -> Any:
    tag = node.tag
    if isinstance(node, yaml.ScalarNode):
        value = node.value
        if tag == _STR:
            return value
        if tag == _INT and value.isascii() and value.isdigit() and (value[0] != "0" or value == "0"):
            return int(value)
        if tag == _NULL:
            return None
        if tag == _BOOL:
            return yaml.constructor.SafeConstructor.bool_values[value.lower()]
    elif tag == _SEQ:
        return [_plain(item, construct) for item in node.value]
    elif tag == _MAP:
        result = {}
        for key, value in node.value:
            if key.tag != _STR or not isinstance(key, yaml.ScalarNode):
                return construct(node, deep=True)
            result[key.value] = _plain(value, construct)
        return result
    return construct(node, deep=True)  # floats, octal or hex numbers, merge keys, other tags


def load_file(path: str | Path, *, cached: bool = False) -> Document:
    """The file's data and source map. `cached` (a library's files): a file parsed before with the same bytes comes
    from the user's cache, as Python keeps bytecode; its YAML was parsed within the bounds then, and the validation
    that follows runs in full."""
    path = Path(path)
    data = read_scenario_bytes(path)
    parsed = cache.read_parsed("scenario-yaml", str(path), data, _PARSERS) if cached else None
    if parsed is not None:
        return _from_cache(path, parsed)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        before = error.object[: error.start]
        where = Location(str(path), before.count(b"\n") + 1, error.start - before.rfind(b"\n"))
        raise ScenarioError(Problem(f"the file is not UTF-8 text ({error.reason} at byte {error.start})", where,
                                    "save the file as UTF-8")) from error
    document = load_text(text, str(path))
    if cached:
        cache.write_parsed("scenario-yaml", str(path), data, _PARSERS, _for_cache(document))
    return document


def _for_cache(document: Document) -> tuple:
    """The document as marshal keeps it: its data, and each located path as (path, line, column)."""
    return document.data, tuple((path, where.line, where.col) for path, where in document.sources.items())


def _from_cache(path: Path, parsed: tuple) -> Document:
    data, located = parsed
    file = str(path)
    return Document(path, data, SourceMap({at: Location(file, line, col) for at, line, col in located}))
