"""Workload output reaches the record redacted, as it is written.

Processes never write into the record: their stdout and stderr, mpirun's per-rank files and whatever files they
write in their working directory go to the run's private staging folder (mode 0700, beside the record, readable by
the runner's user alone). A mirror thread copies what they wrote into the record every INTERVAL_S, in blocks of whole
lines, each block through the run's redactor; the last unfinished line waits for its newline (or for the end of the
workload). So the `.partial` record, which anyone may read, never holds a known secret; the raw bytes live only in
the staging folder, which the run deletes at its end.

Only regular files are copied (a symlink to /etc/shadow or a FIFO a workload leaves is not followed); a file that is
replaced or truncated is copied again from its start.
"""
from __future__ import annotations

import os
import shutil
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

INTERVAL_S = 0.05           # how often new output is copied into the record
MAX_READ = 8 << 20          # bytes of one file copied per pass (the next pass goes on), so one chatty file cannot stall the others
MAX_PENDING = 1 << 20       # an unfinished line longer than this is copied without waiting for its newline
STAGING_MODE = 0o700


@dataclass
class _Copy:
    target: Path
    inode: int = 0
    offset: int = 0          # bytes of the source copied so far
    pending: bytes = b""     # the unfinished last line, held back until its newline comes


class Mirror:
    """Copies every regular file under each followed staging folder to the same place under its record folder."""

    def __init__(self, redact: Callable[[bytes], bytes], interval_s: float = INTERVAL_S):
        self.redact = redact
        self.interval_s = interval_s
        self.folders: list[tuple[Path, Path]] = []
        self.copies: dict[Path, _Copy] = {}
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def follow(self, staging: Path, record: Path) -> None:
        with self._lock:
            if (staging, record) not in self.folders:
                self.folders.append((staging, record))
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="record-mirror", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self.sync():  # a file with more than MAX_READ new bytes: the next pass at once
                self._stop.wait(self.interval_s)

    def sync(self, final: bool = False) -> bool:
        """Copy what was written since the last pass; `final`: the unfinished last lines too (the writers are gone).
        Returns whether a file has more to copy than one pass took."""
        behind = False
        with self._lock:
            for staging, record in list(self.folders):
                for source in regular_files(staging):
                    copy = self.copies.get(source)
                    if copy is None:
                        copy = self.copies[source] = _Copy(record / source.relative_to(staging))
                    try:
                        behind = self._copy_new(source, copy, final) or behind
                    except OSError as error:
                        note = f"{source.name}: {error.strerror or error}"
                        if note not in self.errors:
                            self.errors.append(note)
        return behind

    def close(self) -> None:
        """Stop the thread and copy everything that is left."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.sync(final=True)

    def _copy_new(self, source: Path, copy: _Copy, final: bool) -> bool:
        """Copy the file's new bytes (all of them when final, else at most MAX_READ); True when more are waiting."""
        info = os.lstat(source)
        if not stat.S_ISREG(info.st_mode):
            return False
        if info.st_ino != copy.inode or info.st_size < copy.offset:  # a new file, or replaced or truncated: from its start
            copy.inode, copy.offset, copy.pending = info.st_ino, 0, b""
            copy.target.parent.mkdir(parents=True, exist_ok=True)
            copy.target.write_bytes(b"")
        while True:
            with source.open("rb") as handle:
                handle.seek(copy.offset)
                data = handle.read(MAX_READ)
            copy.offset += len(data)
            self._append(copy, data, final)
            if len(data) < MAX_READ:
                return False
            if not final:
                return True

    def _append(self, copy: _Copy, data: bytes, final: bool) -> None:
        data = copy.pending + data
        cut = len(data) if final or len(data) - data.rfind(b"\n") > MAX_PENDING else data.rfind(b"\n") + 1
        complete, copy.pending = data[:cut], data[cut:]
        if complete:
            with copy.target.open("ab") as handle:
                handle.write(self.redact(complete))


def regular_files(folder: Path) -> list[Path]:
    """The regular files under a folder, not following symlinks."""
    found = []
    for root, folders, files in os.walk(folder):
        folders[:] = [f for f in folders if not os.path.islink(os.path.join(root, f))]
        for name in files:
            path = Path(root) / name
            try:
                if stat.S_ISREG(os.lstat(path).st_mode):
                    found.append(path)
            except OSError:
                continue
    return sorted(found)


def make_private(folder: Path) -> Path:
    """A folder only the runner's user can enter (its parents made as usual)."""
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, STAGING_MODE)
    return folder


def copy_all(staging: Path, record: Path, redact: Callable[[bytes], bytes]) -> list[Path]:
    """Copy every staged file into the record from its start, redacted: a killed runner's staging folder, recovered.
    Returns the record files written."""
    mirror = Mirror(redact)
    mirror.folders.append((staging, record))
    mirror.sync(final=True)
    return [copy.target for copy in mirror.copies.values()]


def remove(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)
