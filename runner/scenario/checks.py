"""A check's identity, and how a variant edits the checks it inherits.

Every check has one stable name: its `name`, or one derived once from what it checks (the metric and the
comparison, or the workload's log and the evidence), never from its threshold or from how it ended. A variant's
checks merge with its parent's by that name, so adding a check never drops one. Replacing or removing a parent's
check is said in so many words:

    checks:
      - {name: prefill-served, count: 4}                      # changes one field of the parent's check
      - {name: completed, replace: true, metric: ..., ...}    # the parent's check, replaced whole
      - {name: "all-reduce.ranks ==", remove: "the probe runs one rank here"}   # gone, with the reason

`edits` keeps what a file did to its parent's checks (shown by `scenario show` and `scenario diff`); `weakening`
says when an edit loosens a correctness check (`scenario validate` warns).
"""
from __future__ import annotations

import copy
import difflib
from dataclasses import dataclass
from typing import Any

from runner.base.errors import Location, Problem

EDIT_KEYS = ("remove", "replace")
WEAKENS = "variant-weakens-check"   # the warning's code; `lints.waive` takes it like a lint's name
WARNING_CODES = (WEAKENS,)
LOWER_BOUNDS, UPPER_BOUNDS = (">=", ">"), ("<=", "<")


def check_name(raw: Any) -> str:
    """The check's identity: its `name`, else what it checks."""
    if not isinstance(raw, dict):
        return ""
    if raw.get("name"):
        return str(raw["name"])
    return derived_name(raw)


def derived_name(raw: dict) -> str:
    """`all-reduce.busbw_gbps_max >=`, `bench.ttft_ms_mean <= baseline`, `initiator log has 'Test completed'`,
    `decode log lacks 'KVTransferError'`, `disagg log (decode) has '...'`. The threshold (value, factor, count) is not
    part of it: a variant that only moves a threshold changes the same check."""
    if "metric" in raw:
        return f"{raw['metric']} {raw.get('op', '?')}" + (" baseline" if raw.get("baseline") else "")
    evidence = raw.get("regex") or raw.get("contains") or ""
    role = f" ({raw['role']})" if raw.get("role") else ""
    return f"{raw.get('log', '?')} log{role} {'lacks' if raw.get('absent') else 'has'} {str(evidence)!r}"


def is_checks_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


@dataclass(frozen=True)
class CheckEdit:
    """What a file did to a check of its parent: removed, replaced or changed (some fields); `reason` from `remove`."""

    action: str
    name: str
    location: Location
    fields: tuple[str, ...] = ()
    reason: str = ""

    def __str__(self) -> str:
        what = f" ({', '.join(self.fields)})" if self.fields else ""
        why = f": {self.reason}" if self.reason else ""
        return f"{self.action} {self.name!r}{what} at {self.location}{why}"


def merge_checks(base: list, overlay: list, merge_item) -> list:
    """The parent's checks with the overlay's merged in by identity: same name merges (or is replaced/removed when the
    overlay says so), a new name is appended. `merge_item(old, new)` merges two checks field by field."""
    merged: list = [copy.deepcopy(item) for item in base]
    index = {check_name(item): i for i, item in enumerate(merged)}
    for item in overlay:
        name = check_name(item)
        at = index.get(name)
        plain = {key: value for key, value in item.items() if key not in EDIT_KEYS}
        if at is not None and merged[at] is None:
            at = None  # removed earlier in this overlay
        if item.get("remove"):
            if at is not None:
                merged[at] = None
        elif at is None:
            index[name] = len(merged)
            merged.append(copy.deepcopy(plain))
        elif item.get("replace"):
            merged[at] = copy.deepcopy(plain)
        else:
            merged[at] = merge_item(merged[at], plain)
    return [item for item in merged if item is not None]


def edit_problems(base: list, overlay: list, locate) -> list[Problem]:
    """`remove`/`replace` must name a check of the parent; one name twice in the overlay is ambiguous.
    `locate(index, key)` gives the location of overlay item `index` (its key `key`)."""
    names = [check_name(item) for item in base if isinstance(item, dict)]
    known = set(names)
    problems, seen = [], set()
    for index, item in enumerate(overlay):
        if not isinstance(item, dict):
            continue
        name = check_name(item)
        if name in seen:
            problems.append(Problem(f"check {name!r} appears twice in this file", locate(index, "name"),
                                    "checks merge into the parent's by name: give each a distinct `name`"))
        seen.add(name)
        edit = next((key for key in EDIT_KEYS if item.get(key)), "")
        if edit and not item.get("name"):
            problems.append(Problem(f"`{edit}` needs the `name` of the parent's check", locate(index, edit),
                                    f"the parent's checks: {', '.join(map(repr, names)) or 'none'}"))
        elif edit and name not in known:
            close = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}? " if close else ""
            problems.append(Problem(f"`{edit}`: the parent has no check named {name!r}", locate(index, "name"),
                                    hint + f"the parent's checks: {', '.join(map(repr, names)) or 'none'}"))
        if item.get("remove") and set(item) - {"name", "remove"}:
            extra = sorted(set(item) - {"name", "remove"})
            problems.append(Problem(f"a removed check holds nothing else (found {', '.join(extra)})", locate(index, "remove"),
                                    "write `{name: <check>, remove: <why>}`"))
    return problems


def edits_of(base: list, overlay: list, locate) -> tuple[CheckEdit, ...]:
    """What the overlay does to the parent's checks, in its order; new checks are not edits."""
    parent = {check_name(item): item for item in base if isinstance(item, dict)}
    edits = []
    for index, item in enumerate(overlay):
        name = check_name(item) if isinstance(item, dict) else ""
        if name not in parent:
            continue
        if item.get("remove"):
            reason = item["remove"] if isinstance(item["remove"], str) else ""
            edits.append(CheckEdit("removed", name, locate(index, "remove"), reason=reason))
        elif item.get("replace"):
            edits.append(CheckEdit("replaced", name, locate(index, "replace")))
        else:
            changed = tuple(key for key, value in item.items() if key != "name" and parent[name].get(key) != value)
            if changed:
                edits.append(CheckEdit("changed", name, locate(index, changed[0]), changed))
    return tuple(edits)


# --- weakening ---------------------------------------------------------------------------------


def is_correctness(raw: dict) -> bool:
    return (raw.get("kind") or ("correctness" if "log" in raw else "performance")) == "correctness"


def waived(waivers: Any, code: str, check: str) -> bool:
    """A `lints.waive` entry for this warning (and this check, when the entry names one)."""
    return any(isinstance(w, dict) and w.get("lint") == code and w.get("check") in (None, check) for w in waivers or ())


def weakening(old: dict, new: dict | None) -> str:
    """Why `new` (None: removed) proves less than the correctness check `old`; "" when it does not (or is not one).
    Values are compared as written; a template threshold that changes is named, not judged."""
    if not is_correctness(old):
        return ""
    if new is None:
        return "removes it"
    if not is_correctness(new):
        return "makes it a performance check"
    if new.get("skip") and not old.get("skip"):
        return f"skips it ({new['skip']})"
    if "log" in old:
        return _weaker_evidence(old, new)
    return _weaker_threshold(old, new)


def _weaker_evidence(old: dict, new: dict) -> str:
    if "log" not in new:
        return "turns it from log evidence into a metric"
    if old.get("absent") and not new.get("absent"):
        return "no longer requires the evidence to be absent"
    if (old.get("regex"), old.get("contains"), old.get("log"), old.get("role")) != \
            (new.get("regex"), new.get("contains"), new.get("log"), new.get("role")):
        return f"looks for other evidence ({derived_name(new)} instead of {derived_name(old)})"
    before, after = old.get("count", 1), new.get("count", 1)
    if before != after and not old.get("absent"):
        if isinstance(before, str) and not isinstance(after, str):
            return f"asks for {after} line(s) instead of {before}"
        if isinstance(before, int) and isinstance(after, int) and after < before:
            return f"lowers the count from {before} to {after}"
    return ""


def _weaker_threshold(old: dict, new: dict) -> str:
    before, after = (old.get("op"), old.get("value")), (new.get("op"), new.get("value"))
    if old.get("metric") != new.get("metric"):
        return f"checks {new.get('metric')} instead of {old.get('metric')}"
    if before == after or old.get("baseline") != new.get("baseline"):
        return "" if before == after else f"changes the bar from {_bar(old)} to {_bar(new)}"
    if not all(_is_number(v) for v in (before[1], after[1])):
        return f"changes the bar from {_bar(old)} to {_bar(new)}"
    if not _same_side(before[0], after[0]):
        return f"changes the bar from {_bar(old)} to {_bar(new)}"
    if before[0] in LOWER_BOUNDS:
        looser = after[1] < before[1] or (after[1] == before[1] and after[0] == ">=" != before[0])
    else:
        looser = after[1] > before[1] or (after[1] == before[1] and after[0] == "<=" != before[0])
    return f"loosens the bar from {_bar(old)} to {_bar(new)}" if looser else ""


def _same_side(a: str, b: str) -> bool:
    return (a in LOWER_BOUNDS and b in LOWER_BOUNDS) or (a in UPPER_BOUNDS and b in UPPER_BOUNDS)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _bar(raw: dict) -> str:
    return f"{raw.get('op')} {raw.get('value')}"
