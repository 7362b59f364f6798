"""Pipeline stage "resolve": find scenarios, apply `extends` overlays, `--set` overrides and matrix variants.

The result is one fully resolved document (plain data plus its SourceMap); the
validate stage turns it into an immutable Scenario.
"""
from __future__ import annotations

import copy
import difflib
import itertools
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable

from runner.base.errors import Location, Problem, ScenarioError
from runner.base.limits import LIMITS_HINT, MAX_EXTENDS, check_counts, check_variants
from runner.scenario.checks import (
    EDIT_KEYS,
    WEAKENS,
    CheckEdit,
    check_name,
    edit_problems,
    edits_of,
    is_checks_list,
    merge_checks,
    waived,
    weakening,
)
from runner.scenario.load import Document, SourceMap, load_file, load_text, load_value

MERGE_KEY = "name"
LIBRARY_HINT = "point at the scenario library with --library DIR or $SCENARIO_PATH, or run from the folder that holds scenarios/"


def scenarios_dir(library: str | Path | None = None) -> Path:
    """Where the scenario library is: `--library DIR`, else $SCENARIO_PATH, else ./scenarios.
    ($SCENARIO_DIR, the older name, is still read after $SCENARIO_PATH.)"""
    chosen = library or os.environ.get("SCENARIO_PATH") or os.environ.get("SCENARIO_DIR") or "scenarios"
    return Path(chosen)


def extends_roots() -> list[Path]:
    """Directories outside the library whose files `extends:` may name by path: $SCENARIO_EXTENDS_PATH, colon-separated."""
    return [Path(p) for p in os.environ.get("SCENARIO_EXTENDS_PATH", "").split(os.pathsep) if p]


@dataclass(frozen=True)
class Resolved:
    """A scenario after overlays: data, sources, and the chain of files it came from (child first)."""

    name: str
    data: dict
    sources: SourceMap
    files: tuple[Path, ...]
    edits: tuple[CheckEdit, ...] = ()     # what each file of the chain did to its parent's checks, child first
    warnings: tuple[Problem, ...] = ()    # a variant that weakens a correctness check of its parent


class Library:
    """The scenario files under a directory, indexed by name (= file stem)."""

    def __init__(self, root: Path | None = None):
        self.root = Path(root or scenarios_dir())
        self.paths: dict[str, Path] = {}
        self.duplicates: list[Problem] = []
        for path in sorted(self.root.rglob("*.yaml")) if self.root.is_dir() else []:
            name = path.stem
            if name in self.paths:
                self.duplicates.append(Problem(
                    f"scenario name {name!r} is used twice (also {self.paths[name]})", Location(str(path), 1, 1),
                    "scenario names are unique across scenarios/: rename one file and its metadata.name"))
                continue
            self.paths[name] = path
        self._documents: dict[Path, Document] = {}
        self._resolved_root = self.root.resolve()  # its files are parsed through the user's cache (runner.base.cache)

    def names(self) -> list[str]:
        return sorted(self.paths)

    def find(self, name_or_path: str) -> Path:
        candidate = Path(name_or_path)
        if candidate.suffix in (".yaml", ".yml") or os.sep in name_or_path:
            if candidate.exists():
                return candidate
            raise ScenarioError(f"no such scenario file: {name_or_path}")
        if name_or_path in self.paths:
            self._refuse_duplicate(name_or_path)
            return self.paths[name_or_path]
        close = difflib.get_close_matches(name_or_path, self.names(), n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "`scenario list` shows the scenarios"
        if not self.root.is_dir():
            hint = f"{self.root} is not a folder: {LIBRARY_HINT}"
        raise ScenarioError(Problem(f"no scenario named {name_or_path!r} under {self.root}", Location(), hint))

    def find_parent(self, name: str, child: Path) -> Path:
        """The file an `extends:` names: a scenario of the library by name, or a path (relative to the child's
        folder) to a regular file inside the library or a directory of $SCENARIO_EXTENDS_PATH. Never a device, a
        FIFO or a file elsewhere."""
        looks_like_path = name.endswith((".yaml", ".yml")) or os.sep in name
        path = self.find(str(Path(child).parent / name) if looks_like_path and not os.path.isabs(name) else name)
        resolved = path.resolve()
        roots = [self.root.resolve()] + [root.resolve() for root in extends_roots()]
        if not any(resolved.is_relative_to(root) for root in roots):
            raise ScenarioError(Problem(f"`extends: {name}` is outside the scenario library ({self.root})", Location(),
                                        "extend a scenario by name; other directories are allowed with SCENARIO_EXTENDS_PATH"))
        if not resolved.is_file():
            raise ScenarioError(Problem(f"`extends: {name}` is not a regular file", Location(), "extend a scenario by name"))
        return path

    def _refuse_duplicate(self, name: str) -> None:
        """A name two files share is ambiguous: running either one would be a guess."""
        for problem in self.duplicates:
            if problem.location.file and Path(problem.location.file).stem == name:
                raise ScenarioError(Problem(f"scenario name {name!r} is ambiguous: {self.paths[name]} and {problem.location.file}",
                                            Location(problem.location.file, 1, 1), problem.hint))

    def document(self, path: Path) -> Document:
        path = Path(path)
        if path not in self._documents:
            self._documents[path] = load_file(path, cached=path.resolve().is_relative_to(self._resolved_root))
        return self._documents[path]


def merge(base: Any, overlay: Any, key: Any = None) -> Any:
    """Maps merge deeply; `checks` merge by check identity (runner.scenario.checks); lists of named maps merge by
    name; other lists and scalars replace."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        merged = dict(base)
        for name, value in overlay.items():
            merged[name] = merge(base[name], value, name) if name in base else _fresh(value, name)
        return merged
    if key == "checks" and is_checks_list(base) and is_checks_list(overlay):
        return merge_checks(base, overlay, merge)
    if _named_list(base) and _named_list(overlay):
        merged = list(base)
        index = {item[MERGE_KEY]: i for i, item in enumerate(merged)}
        for item in overlay:
            if item[MERGE_KEY] in index:
                merged[index[item[MERGE_KEY]]] = merge(merged[index[item[MERGE_KEY]]], item)
            else:
                merged.append(copy.deepcopy(item))
        return merged
    return copy.deepcopy(overlay)


def _fresh(value: Any, key: Any) -> Any:
    """A value the parent lacks, as it will stand in the merged document (a new `checks` list holds no edit keys)."""
    if key == "checks" and is_checks_list(value):
        return merge_checks([], value, merge)
    return copy.deepcopy(value)


def _named_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(i, dict) and MERGE_KEY in i for i in value)


def merge_sources(base_data: Any, base: SourceMap, overlay_data: Any, overlay: SourceMap, merged: Any) -> SourceMap:
    """Locations follow the data: each path points at the file that last set it."""
    result = SourceMap()

    def walk(value: Any, path: tuple, source_paths: list[tuple[SourceMap, tuple]]) -> None:
        for sources, original in reversed(source_paths):
            if original in sources:
                result[path] = sources[original]
                if original + ("<key>",) in sources:
                    result[path + ("<key>",)] = sources[original + ("<key>",)]
                break
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, path + (key,), [(s, p + (key,)) for s, p in source_paths])
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, path + (i,), [(s, p) for s, p in _list_origins(source_paths, path, i, item)])

    def _list_origins(source_paths, path, i, item):
        origins = []
        for sources, original in source_paths:
            data = base_data if sources is base else overlay_data
            container = _get(data, original)
            if not isinstance(container, list):
                continue
            if path[-1:] == ("checks",) and is_checks_list(container) and isinstance(item, dict):
                origins += [(sources, original + (j,)) for j, candidate in enumerate(container)
                            if check_name(candidate) == check_name(item)]
            elif isinstance(item, dict) and MERGE_KEY in item and _named_list(container):
                for j, candidate in enumerate(container):
                    if candidate.get(MERGE_KEY) == item[MERGE_KEY]:
                        origins.append((sources, original + (j,)))
            elif sources is overlay or i < len(container):
                origins.append((sources, original + (i,)))
        return origins

    walk(merged, (), [(base, ()), (overlay, ())])
    return result


def _get(data: Any, path: tuple) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def resolve(name_or_path: str, library: Library | None = None, overrides: Iterable[str] = ()) -> Resolved:
    library = library or Library()
    path = library.find(name_or_path)
    chain = _resolve_chain(library, path, ())
    data, sources = apply_overrides(chain.data, chain.sources, overrides)
    check_counts(data, sources.with_path)
    return replace(chain, name=_name_of(data, path), data=data, sources=sources)


def _name_of(data: dict, path: Path) -> str:
    name = data.get("metadata", {}).get("name") if isinstance(data.get("metadata"), dict) else None
    return str(name or path.stem)


def _resolve_chain(library: Library, path: Path, seen: tuple[Path, ...]) -> Resolved:
    document = library.document(path)
    if not isinstance(document.data, dict):
        raise ScenarioError(Problem("a scenario file must be a mapping (key: value pairs)", document.sources.locate(())))
    parent_name = document.data.get("extends")
    if not parent_name:
        _refuse_edits_without_parent(document)
        return Resolved(_name_of(document.data, path), document.data, document.sources, (path,))
    location = document.sources.with_path(("extends",))
    if not isinstance(parent_name, str):
        raise ScenarioError(Problem("`extends` must be the name of a scenario", location))
    try:
        parent_path = library.find_parent(parent_name, path)
    except ScenarioError as error:
        first = error.problems[0]
        message = first.message if first.message.startswith("`extends") else f"`extends: {parent_name}`: no such scenario"
        raise ScenarioError(Problem(message, location, first.hint)) from error
    chain = seen + (path,)
    if len(chain) >= MAX_EXTENDS:
        raise ScenarioError(Problem(f"the `extends` chain is longer than {MAX_EXTENDS} files", location, LIMITS_HINT))
    if parent_path.resolve() in [p.resolve() for p in chain]:
        cycle = " -> ".join(p.stem for p in chain + (parent_path,))
        raise ScenarioError(Problem(f"`extends` makes a cycle: {cycle}", location, "a scenario cannot extend itself, directly or through others"))
    parent = _resolve_chain(library, parent_path, chain)
    _refuse_duplicate_names(document)
    overlay = {k: v for k, v in document.data.items() if k != "extends"}
    edits = _check_edits(parent.data, overlay, document)
    merged = merge(parent.data, overlay)
    merged_sources = merge_sources(parent.data, parent.sources, overlay, document.sources, merged)
    merged["extends"] = parent_name
    merged_sources[("extends",)] = document.sources.get(("extends",), location)
    warnings = tuple(_weakened(parent.data, merged, overlay, document, parent_path))
    return Resolved(_name_of(merged, path), merged, merged_sources, (path,) + parent.files, edits + parent.edits,
                    warnings + parent.warnings)


def _check_edits(base: dict, overlay: dict, document: Document) -> tuple[CheckEdit, ...]:
    """What the file does to its parent's checks; a `remove`/`replace` naming no check of the parent is refused."""
    return check_edits(base.get("checks"), overlay.get("checks"), document.sources, ("checks",))


def check_edits(parent_checks: Any, own: Any, sources: SourceMap, at: tuple) -> tuple[CheckEdit, ...]:
    """The edits of `own` (an overlay's checks, at path `at` in `sources`) to `parent_checks`; ScenarioError when one
    names no check of the parent (also used by the `local:` overlay)."""
    if not (is_checks_list(own) and is_checks_list(parent_checks or [])):
        return ()

    def locate(index: int, key: str):
        return sources.with_path(at + ((index, key) if key in own[index] else (index,)))

    problems = edit_problems(parent_checks or [], own, locate)
    if problems:
        raise ScenarioError(problems)
    return edits_of(parent_checks or [], own, locate)


def _weakened(base: dict, merged: dict, overlay: dict, document: Document, parent_path: Path) -> list[Problem]:
    """A warning per correctness check of the parent that this file removes, skips or loosens."""
    own = overlay.get("checks") if is_checks_list(overlay.get("checks")) else []
    result = {check_name(item): item for item in merged.get("checks") or [] if isinstance(item, dict)}
    parent = {check_name(item): item for item in base.get("checks") or [] if isinstance(item, dict)}
    warnings = []
    for index, item in enumerate(own):
        name = check_name(item)
        old = parent.get(name)
        reason = weakening(old, result.get(name)) if old is not None else ""
        if reason and not waived((merged.get("lints") or {}).get("waive") if isinstance(merged.get("lints"), dict) else (),
                                 WEAKENS, name):
            key = next((k for k in ("remove", "replace", "skip", "value", "op", "count", "absent", "kind") if k in item), "name")
            verb = "changes" if reason.startswith(("changes", "looks for other", "checks ")) else "weakens"
            warnings.append(Problem(f"this variant {verb} {parent_path.stem}'s correctness check {name!r}: it {reason}",
                                    document.sources.with_path(("checks", index, key)),
                                    "keep the parent's check and add the new one beside it; when the change is meant, waive "
                                    f"it with its reason: `lints: {{waive: [{{lint: {WEAKENS}, check: <name>, reason: ...}}]}}`",
                                    WEAKENS))
    return warnings


def _refuse_edits_without_parent(document: Document) -> None:
    """`remove`/`replace` edit a parent's checks: in a file that extends nothing they would be silently meaningless."""
    checks = document.data.get("checks")
    problems = [Problem(f"`{key}` edits a parent's check, but this file has no `extends`", document.sources.with_path(("checks", i, key)),
                        "remove the key, or add `extends: <parent>`")
                for i, item in enumerate(checks if is_checks_list(checks) else []) for key in EDIT_KEYS if key in item]
    if problems:
        raise ScenarioError(problems)


def _refuse_duplicate_names(document: Document) -> None:
    """A child listing one name twice would merge the two into its parent's item silently."""
    problems = []
    for key, items in document.data.items():
        if not _named_list(items) or key == "checks":  # checks: runner.scenario.checks.edit_problems
            continue
        seen: set = set()
        for index, item in enumerate(items):
            if item[MERGE_KEY] in seen:
                problems.append(Problem(f"{key} name {item[MERGE_KEY]!r} is used twice in this file", document.sources.with_path((key, index, MERGE_KEY)),
                                        f"items of `{key}` merge into the parent's by name: give each a distinct name"))
            seen.add(item[MERGE_KEY])
    if problems:
        raise ScenarioError(problems)


def parse_override(text: str) -> tuple[list[str | int], Any]:
    """`a.b.0.c=value`; a segment in brackets is taken whole, dots and `=` included: `checks[all-reduce.wrong_total ==].value=1`
    (an item of a named list by its name, a check by its identity)."""
    split = _assignment(text)
    if split is None:
        raise ScenarioError(Problem(f"--set {text!r}: expected dotted.path=value", Location("--set"), "for example --set parameters.threads=8"))
    path_text, value_text = split
    value = _override_value(text, value_text)
    path: list[str | int] = []
    for part, bracketed in _segments(path_text.strip(), text):
        if not part:
            raise ScenarioError(Problem(f"--set {text!r}: empty path segment", Location("--set")))
        path.append(int(part) if part.isdigit() and not bracketed else part)
    return path, value


def _assignment(text: str) -> tuple[str, str] | None:
    """(path, value) split at the first `=` outside brackets."""
    depth = 0
    for index, char in enumerate(text):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "=" and depth == 0:
            return text[:index], text[index + 1:]
    if depth:
        raise ScenarioError(Problem(f"--set {text!r}: '[' without ']'", Location("--set"), "e.g. checks[all-reduce.wrong_total ==].value=0"))
    return None


def _segments(path_text: str, text: str) -> list[tuple[str, bool]]:
    """`checks[x.y >].value` -> [("checks", False), ("x.y >", True), ("value", False)]."""
    segments, current, index = [], "", 0
    while index < len(path_text):
        char = path_text[index]
        if char == "[":
            end = path_text.find("]", index)
            if end < 0:
                raise ScenarioError(Problem(f"--set {text!r}: '[' without ']'", Location("--set")))
            if current:
                segments.append((current, False))
            segments.append((path_text[index + 1:end], True))
            current, index = "", end + 1
            if index < len(path_text) and path_text[index] == ".":
                index += 1
            continue
        if char == ".":
            segments.append((current, False))
            current = ""
        else:
            current += char
        index += 1
    if current or not segments or path_text.endswith("."):
        segments.append((current, False))
    return segments


def _override_value(text: str, value_text: str) -> Any:
    """Typed like the scenario files (numbers and true/false, but `on`/`yes` stay strings), with their bounds."""
    if not value_text.strip():
        return ""
    try:
        return load_value(value_text, f"--set {text}")
    except ScenarioError as error:
        if all("syntax error" in p.message for p in error.problems):
            return value_text  # not YAML: the text as it is
        raise


def apply_overrides(data: dict, sources: SourceMap, overrides: Iterable[str]) -> tuple[dict, SourceMap]:
    overrides = list(overrides)
    if not overrides:
        return data, sources
    data = copy.deepcopy(data)
    sources = SourceMap(sources)
    for text in overrides:
        path, value = parse_override(text)
        _refuse_undefined_parameter(data, path, text)
        concrete = _set_path(data, path, value, text)
        for key in [k for k in sources if k[: len(concrete)] == concrete]:
            del sources[key]  # the value and everything under it now come from --set
        sources[concrete] = Location(f"--set {text}")
        for depth in range(1, len(concrete)):  # mappings the --set created (a typo's new key) come from it too
            sources.setdefault(concrete[:depth], Location(f"--set {text}"))
    return data, sources


def _refuse_undefined_parameter(data: dict, path: list, text: str) -> None:
    """`--set parameters.thread=8` for `threads` would add a parameter nothing reads, and the run would use the default."""
    if len(path) < 2 or path[0] != "parameters":
        return
    defined = data.get("parameters") if isinstance(data.get("parameters"), dict) else {}
    if path[1] not in defined:
        close = difflib.get_close_matches(str(path[1]), [str(k) for k in defined], n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ScenarioError(Problem(f"--set {text!r}: the scenario has no parameter {path[1]!r}", Location("--set"),
                                    hint + f"its parameters: {', '.join(map(str, defined)) or 'none'}"))


def _set_path(data: Any, path: list, value: Any, text: str) -> tuple:
    """Set the value; returns the path with list items named by index (as the SourceMap keys them)."""
    node, concrete = data, []
    for depth, part in enumerate(path[:-1]):
        nxt = path[depth + 1]
        key = path[depth - 1] if depth else None
        concrete.append(_list_index(node, part, text, key) if isinstance(node, list) else part)
        node = _step(node, part, nxt, text, key)
    last = path[-1]
    if isinstance(node, list):
        last = _list_index(node, last, text, path[-2] if len(path) > 1 else None)
    elif isinstance(node, dict):
        last = str(last)  # mapping keys are strings: `workloads.0.0=x` sets key "0", which the schema then names
    else:
        raise ScenarioError(Problem(f"--set {text!r}: {path[-2] if len(path) > 1 else '$'!r} is not a mapping", Location("--set")))
    node[last] = value
    return tuple(concrete) + (last,)


def _step(node: Any, part: Any, nxt: Any, text: str, key: Any = None) -> Any:
    if isinstance(node, list):
        return node[_list_index(node, part, text, key)]
    if not isinstance(node, dict):
        raise ScenarioError(Problem(f"--set {text!r}: {part!r} is not inside a mapping", Location("--set")))
    part = str(part)
    if part not in node or node[part] is None:
        node[part] = [] if isinstance(nxt, int) else {}
    return node[part]


def _list_index(node: list, part: Any, text: str, key: Any = None) -> int:
    """`part` as an index of the list `node` (under mapping key `key`): a number, an item's name, a check's identity."""
    if isinstance(part, int):
        if part >= len(node):
            raise ScenarioError(Problem(f"--set {text!r}: index {part} is out of range (the list has {len(node)} items)", Location("--set")))
        return part
    for i, item in enumerate(node):
        if isinstance(item, dict) and item.get(MERGE_KEY) == part:
            return i
    if key == "checks" and is_checks_list(node):  # a check without a name, by its identity: checks[all-reduce.wrong_total ==]
        for i, item in enumerate(node):
            if check_name(item) == part:
                return i
        names = [check_name(item) for item in node]
        raise ScenarioError(Problem(f"--set {text!r}: no check named {part!r}", Location("--set"),
                                    f"checks here: {', '.join(map(repr, names))}; a name with dots or spaces goes in brackets: "
                                    f"checks[{names[0] if names else 'NAME'}].value=..."))
    names = [item.get(MERGE_KEY) for item in node if isinstance(item, dict)]
    raise ScenarioError(Problem(f"--set {text!r}: no item named {part!r}", Location("--set"), f"items here: {', '.join(map(str, names))}"))


def matrix_variants(matrix: dict[str, list], extra: dict[str, list] | None = None) -> list[dict[str, Any]]:
    """Every combination of the matrix as {dotted.path: value}, in a stable order."""
    axes = dict(matrix or {})
    axes.update(extra or {})
    if not axes:
        return []
    check_variants(axes.values(), Location("matrix"))
    keys = list(axes)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(axes[k] for k in keys))]


def variant_suffix(variant: dict[str, Any]) -> str:
    return ",".join(f"{key.split('.')[-1]}={value}" for key, value in variant.items())


def resolve_text(text: str, file: str = "<text>", library: Library | None = None) -> Resolved:
    """Resolve a scenario given as text (tests, generated scenarios)."""
    document = load_text(text, file)
    library = library or Library()
    library._documents[Path(file)] = document
    return _resolve_chain(library, Path(file), ())
