"""Named registries (parsers, executors, reporters) as plain dicts filled by decorators."""
from __future__ import annotations

import difflib
from typing import Callable, Iterable, TypeVar

T = TypeVar("T")


class Registry(dict):
    """A dict of name -> implementation; `register` refuses duplicates."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def register(self, name: str) -> Callable[[T], T]:
        def decorate(obj: T) -> T:
            if name in self:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self[name] = obj
            return obj

        return decorate

    def unknown_message(self, name: str) -> str:
        return unknown_message(self.kind, name, self)


def unknown_message(kind: str, name: str, known: Iterable[str]) -> str:
    """`unknown parser 'ncl-tests'. Did you mean 'nccl-tests'? Known: ...` — the one wording for every registry."""
    known = sorted(known)
    matches = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    guess = f" Did you mean {matches[0]!r}?" if matches else ""
    return f"unknown {kind} {name!r}.{guess} Known: {', '.join(known) or 'none'}."
