"""Values derived from files, kept between runs in the user's cache directory ($XDG_CACHE_HOME or ~/.cache,
then scenario-runner/), as Python keeps a module's bytecode. A value is found only while what it was made from is
unchanged, under the same Python (marshal's format is Python's):
- `read`/`write`: derived from files, found while every file has the size and modification time it had then;
- `read_parsed`/`write_parsed`: parsed from a text (a scenario file's bytes), found while the text and the code
  that parses it are the same.
Each entry has a slot (what the value is for: a schema file, a scenario's path); writing a slot replaces its older
entries, so editing a file does not pile entries up. A cache that cannot be read or written is not used: the
caller makes the value again."""
from __future__ import annotations

import hashlib
import marshal
import os
import sys
from pathlib import Path
from typing import Any, Iterable

MAX_ENTRIES = 256  # of one kind: scenario files parsed (a library, test folders), schema files inlined


def directory() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "scenario-runner"


def read(kind: str, sources: Iterable[Path], version: int) -> Any | None:
    sources = list(sources)
    return _read(kind, os.path.realpath(sources[0]), _stat_key(kind, sources, version))


def write(kind: str, sources: Iterable[Path], version: int, value: Any) -> None:
    sources = list(sources)
    _write(kind, os.path.realpath(sources[0]), _stat_key(kind, sources, version), value)


def read_parsed(kind: str, name: str, text: bytes, makers: Iterable[Path]) -> Any | None:
    """The value made from `text` by the code in `makers` (their size and modification time are part of the key)."""
    return _read(kind, name, _text_key(kind, name, text, makers))


def write_parsed(kind: str, name: str, text: bytes, makers: Iterable[Path], value: Any) -> None:
    _write(kind, name, _text_key(kind, name, text, makers), value)


def _stamp(paths: Iterable[Path]) -> str:
    """Each file's real path, modification time and size: what a value made from them is found by."""
    stamp = ""
    for path in paths:
        stat = os.stat(path)
        stamp += f"\0{os.path.realpath(path)}\0{stat.st_mtime_ns}\0{stat.st_size}"
    return stamp


def _stat_key(kind: str, sources: list[Path], version: int) -> str:
    return hashlib.sha1(f"{kind}\0{version}\0{sys.version}{_stamp(sources)}".encode()).hexdigest()


def _text_key(kind: str, name: str, text: bytes, makers: Iterable[Path]) -> str:
    return hashlib.sha1(f"{kind}\0{sys.version}\0{name}{_stamp(makers)}\0".encode() + text).hexdigest()


def _entry(kind: str, slot: str, key: str) -> Path:
    """<kind>-<slot>-<key>.marshal: the slot is what the value is for (a schema file, a scenario's path)."""
    return directory() / f"{kind}-{hashlib.sha1(slot.encode()).hexdigest()[:12]}-{key[:20]}.marshal"


def _read(kind: str, slot: str, key: str) -> Any | None:
    try:
        return marshal.loads(_entry(kind, slot, key).read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return None


def _write(kind: str, slot: str, key: str, value: Any) -> None:
    entry = _entry(kind, slot, key)
    try:
        entry.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = entry.with_name(f"{entry.name}.{os.getpid()}")
        partial.write_bytes(marshal.dumps(value))
        os.replace(partial, entry)
        _prune(entry, kind)
    except (OSError, ValueError):
        pass


def _prune(entry: Path, kind: str) -> None:
    """The slot's older entries go; past MAX_ENTRIES of the kind, the least recently written go too."""
    prefix = entry.name.rsplit("-", 1)[0] + "-"  # <kind>-<slot>-
    others = [path for path in entry.parent.glob(f"{kind}-*.marshal") if path != entry]
    for older in [path for path in others if path.name.startswith(prefix)]:
        older.unlink(missing_ok=True)
    others = [path for path in others if not path.name.startswith(prefix)]
    if len(others) >= MAX_ENTRIES:
        others.sort(key=lambda path: path.stat().st_mtime_ns)
        for oldest in others[: len(others) - MAX_ENTRIES + 1]:
            oldest.unlink(missing_ok=True)
