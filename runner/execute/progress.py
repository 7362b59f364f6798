"""Progress on the terminal: which workload is starting/ready/running/done, elapsed and remaining time.

TerminalProgress redraws one status line on a TTY and prints a line per state change;
on a non-TTY it prints only the state changes; QuietProgress prints nothing.
"""
from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}:{seconds % 60:02d}"


class QuietProgress:
    def start(self, title: str, timeout_s: float | None) -> None: ...
    def workload(self, name: str, state: str, detail: str = "") -> None: ...
    def tick(self, detail: str = "") -> None: ...
    def finish(self) -> None: ...


class TerminalProgress:
    def __init__(self, stream: TextIO | None = None, live: bool | None = None):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.started = time.monotonic()
        self.timeout_s: float | None = None
        self.states: dict[str, str] = {}
        self.title = ""
        self._lock = threading.Lock()
        self._last_draw = 0.0

    def start(self, title: str, timeout_s: float | None) -> None:
        self.started = time.monotonic()
        self.timeout_s = timeout_s
        self.title = title
        self._print(f"{title} (timeout {_clock(timeout_s) if timeout_s else 'none'})")

    def _elapsed(self) -> str:
        elapsed = time.monotonic() - self.started
        if self.timeout_s:
            return f"{_clock(elapsed)} elapsed, {_clock(self.timeout_s - elapsed)} left"
        return f"{_clock(elapsed)} elapsed"

    def workload(self, name: str, state: str, detail: str = "") -> None:
        self.states[name] = state
        text = f"[{_clock(time.monotonic() - self.started)}] {name}: {state}" + (f" ({detail})" if detail else "")
        self._print(text)

    def tick(self, detail: str = "") -> None:
        if not self.live or time.monotonic() - self._last_draw < 0.5:
            return
        self._last_draw = time.monotonic()
        running = ", ".join(f"{n}={s}" for n, s in self.states.items() if s not in ("done", "failed", "skipped"))
        line = f"  {self._elapsed()} | {running or 'waiting'}" + (f" | {detail}" if detail else "")
        with self._lock:
            self.stream.write("\r\033[K" + line[:160])
            self.stream.flush()

    def _print(self, text: str) -> None:
        with self._lock:
            if self.live:
                self.stream.write("\r\033[K")
            self.stream.write(text + "\n")
            self.stream.flush()

    def finish(self) -> None:
        if self.live:
            with self._lock:
                self.stream.write("\r\033[K")
                self.stream.flush()
