"""Values derived from files, kept between runs in the user's cache directory ($XDG_CACHE_HOME or ~/.cache,
then scenario-runner/). A value is found only while every file it was made from has the size and modification
time it had then, under the same Python (marshal's format is Python's). A cache that cannot be read or written is
not used: the caller makes the value again."""
from __future__ import annotations

import hashlib
import marshal
import os
import sys
from pathlib import Path
from typing import Any, Iterable


def directory() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "scenario-runner"


def _file(kind: str, sources: Iterable[Path], version: int) -> Path:
    key = hashlib.sha1(f"{kind}\0{version}\0{sys.version}".encode())
    for source in sources:
        stat = os.stat(source)
        key.update(f"\0{os.path.realpath(source)}\0{stat.st_mtime_ns}\0{stat.st_size}".encode())
    return directory() / f"{kind}-{key.hexdigest()[:24]}.marshal"


def read(kind: str, sources: Iterable[Path], version: int) -> Any | None:
    try:
        return marshal.loads(_file(kind, sources, version).read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return None


def write(kind: str, sources: Iterable[Path], version: int, value: Any) -> None:
    try:
        target = _file(kind, sources, version)
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = target.with_name(f"{target.name}.{os.getpid()}")
        partial.write_bytes(marshal.dumps(value))
        os.replace(partial, target)
    except (OSError, ValueError):
        pass
