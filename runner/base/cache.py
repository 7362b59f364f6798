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
    return _read(_entry(kind, os.path.realpath(sources[0]), _stat_key(kind, sources, version)))


def write(kind: str, sources: Iterable[Path], version: int, value: Any) -> None:
    sources = list(sources)
    _write(_entry(kind, os.path.realpath(sources[0]), _stat_key(kind, sources, version)), value)


def read_parsed(kind: str, name: str, text: bytes, makers: Iterable[Path]) -> Any | None:
    """The value made from `text` by the code in `makers` (their size and modification time are part of the key)."""
    return _read(_entry(kind, name, _text_key(kind, name, text, makers)))


def write_parsed(kind: str, name: str, text: bytes, makers: Iterable[Path], value: Any) -> None:
    _write(_entry(kind, name, _text_key(kind, name, text, makers)), value)


def _stat_key(kind: str, sources: list[Path], version: int) -> str:
    key = hashlib.sha1(f"{kind}\0{version}\0{sys.version}".encode())
    for source in sources:
        stat = os.stat(source)
        key.update(f"\0{os.path.realpath(source)}\0{stat.st_mtime_ns}\0{stat.st_size}".encode())
    return key.hexdigest()


def _text_key(kind: str, name: str, text: bytes, makers: Iterable[Path]) -> str:
    key = hashlib.sha1(f"{kind}\0{sys.version}\0{name}".encode())
    for maker in makers:
        stat = os.stat(maker)
        key.update(f"\0{os.path.realpath(maker)}\0{stat.st_mtime_ns}\0{stat.st_size}".encode())
    key.update(b"\0" + text)
    return key.hexdigest()


def _entry(kind: str, slot: str, key: str) -> Path:
    return directory() / f"{kind}-{hashlib.sha1(slot.encode()).hexdigest()[:12]}-{key[:20]}.marshal"


def _read(entry: Path) -> Any | None:
    try:
        return marshal.loads(entry.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return None


def _write(entry: Path, value: Any) -> None:
    try:
        entry.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = entry.with_name(f"{entry.name}.{os.getpid()}")
        partial.write_bytes(marshal.dumps(value))
        os.replace(partial, entry)
        _prune(entry)
    except (OSError, ValueError):
        pass


def _prune(entry: Path) -> None:
    """The slot's older entries go; past MAX_ENTRIES of the kind, the least recently written go too."""
    slot = entry.name.rsplit("-", 1)[0]
    kind = slot.rsplit("-", 1)[0]
    others = [path for path in entry.parent.glob(f"{kind}-*.marshal") if path != entry]
    for older in others:
        if older.name.startswith(f"{slot}-"):
            older.unlink(missing_ok=True)
    others = [path for path in others if path.exists()]
    if len(others) >= MAX_ENTRIES:
        others.sort(key=lambda path: path.stat().st_mtime_ns)
        for oldest in others[: len(others) - MAX_ENTRIES + 1]:
            oldest.unlink(missing_ok=True)
