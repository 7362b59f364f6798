"""Pipeline stage "load": read a scenario file as plain data, keeping where every value came from.

Every key and value is recorded in a SourceMap (JSON path -> Location) so that later
stages (schema, lints, templates) can name file:line:col for any problem.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import Location, Problem, ScenarioError

JsonPath = tuple  # of str | int


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
    """SafeLoader that keeps YAML 1.1 quirks out: `on`/`off`/`yes`/`no` stay strings."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    __import__("re").compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


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
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        return self.loader.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, path: JsonPath) -> dict:
        self.loader.flatten_mapping(node)
        result: dict = {}
        for key_node, value_node in node.value:
            key = self.loader.construct_object(key_node, deep=True)
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
    location = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
    problem = getattr(error, "problem", None) or str(error)
    context = getattr(error, "context", None)
    message = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
    hint = "check indentation and that `key: value` pairs have a space after the colon"
    if "\t" in problem or "tab" in problem.lower():
        hint = "YAML does not allow tabs for indentation: use spaces"
    return Problem(message, location, hint)


def load_text(text: str, file: str) -> Document:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.YAMLError as error:
        raise ScenarioError(_syntax_problem(file, error)) from None
    finally:
        loader.dispose()
    if node is None:
        raise ScenarioError(Problem("the file is empty", Location(file, 1, 1), "a scenario starts with `apiVersion: scenarios/v1`"))
    builder = _Builder(file, _Loader(""))
    try:
        data = builder.build(node)
    except yaml.YAMLError as error:
        raise ScenarioError(_syntax_problem(file, error)) from None
    if builder.problems:
        raise ScenarioError(builder.problems)
    return Document(Path(file), data, builder.sources)


def load_file(path: str | Path) -> Document:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"no such scenario file: {path}") from None
    except UnicodeDecodeError as error:
        raise ScenarioError(Problem(f"the file is not UTF-8 text ({error.reason} at byte {error.start})", Location(str(path)))) from None
    except OSError as error:
        raise ScenarioError(Problem(f"cannot read the file: {error.strerror}", Location(str(path)))) from None
    return load_text(text, str(path))
