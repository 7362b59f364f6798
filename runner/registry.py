"""Named registries (parsers, executors, reporters) as plain dicts filled by decorators."""
from __future__ import annotations

import difflib
from typing import Callable, TypeVar

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

    def closest(self, name: str) -> str | None:
        matches = difflib.get_close_matches(name, list(self), n=1, cutoff=0.6)
        return matches[0] if matches else None

    def unknown_message(self, name: str) -> str:
        hint = self.closest(name)
        known = ", ".join(sorted(self)) or "none"
        guess = f" Did you mean {hint!r}?" if hint else ""
        return f"unknown {self.kind} {name!r}.{guess} Known: {known}."
