"""Regular expressions from scenarios, matched in linear time: RE2 (google-re2), never Python's backtracking `re`.

A scenario's `ready.log`, `checks[].regex` and the `regex` parser's patterns come from pull requests; with a
backtracking engine `^(a+)+$` against 37 a's runs for minutes and the runner cannot even answer Ctrl-C. RE2
guarantees time linear in the text, so no worker or deadline is needed. The price is RE2's syntax: no
lookarounds (`(?=`, `(?<=`), no backreferences (`\\1`), repetition counts at most 1000. `validate` refuses such
patterns (lint regex-invalid) with that hint.

Logs are read in bounded pieces: a line longer than MAX_LINE (or, for log checks, one that does not fit a block of
BLOCK bytes) is matched piece by piece (a match spanning two pieces of one giant line is not found; no tool prints
such lines on purpose).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, Iterator, Mapping

from runner.base import budget

MAX_LINE = 1 << 20          # characters of one line matched at once
READ_CHUNK = 1 << 20        # bytes a LogWatch reads per poll
RE2_HINT = ("the runner matches regular expressions with RE2, in linear time: lookarounds (?=...) (?<=...) and "
            "backreferences \\1 are not supported, and a repetition count is at most 1000")


class RegexError(ValueError):
    """The pattern is not valid RE2."""


def _re2():
    try:
        import re2  # a missing or broken wheel is reported on first use, with what to do
    except ImportError as error:  # declared in pyproject.toml; say what to do rather than fall back to `re`
        raise RegexError("the google-re2 package is not installed (pip install google-re2)") from error
    return re2


def engine():
    """The re2 module, for code that compiles its own patterns (bytes patterns, literal sets)."""
    return _re2()


@dataclass(frozen=True)
class SafePattern:
    """A user's regex compiled by RE2 (linear time), with the text it came from."""

    pattern: str
    compiled: Any

    @property
    def groupindex(self) -> Mapping[str, int]:
        return self.compiled.groupindex

    def search(self, text: str):
        return self.compiled.search(text)

    def match(self, text: str):
        """A match at the start of the text (None when there is none)."""
        return self.compiled.match(text)

    def fullmatch(self, text: str):
        return self.compiled.fullmatch(text)

    def groups_of(self, text: str) -> dict[str, str] | None:
        """Named groups of the first match (None when there is none)."""
        match = self.compiled.search(text)
        if match is None:
            return None
        return {k: v for k, v in match.groupdict().items() if v is not None}


@lru_cache(maxsize=1024)
def compile(pattern: str, *, multiline: bool = False, ignorecase: bool = False, capture: bool = True) -> SafePattern:  # noqa: A001
    """`capture=False` when only "does it match" counts: RE2 is ~15x faster without submatches."""
    re2 = _re2()
    options = re2.Options()
    options.log_errors = False  # RE2 would print every refused pattern on stderr
    options.max_mem = 64 << 20
    options.never_capture = not capture
    flags = ("m" if multiline else "") + ("i" if ignorecase else "")
    try:
        compiled = re2.compile(f"(?{flags}){pattern}" if flags else pattern, options)
    except (re2.error, TypeError, ValueError) as error:
        raise RegexError(_reason(error)) from None
    return SafePattern(pattern, compiled)


def _reason(error: Exception) -> str:
    text = error.args[0] if error.args else str(error)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return str(text)


def literal(text: str) -> SafePattern:
    return compile(_re2().escape(text))


def bounded_lines(handle: IO[str], limit: int = MAX_LINE) -> Iterator[str]:
    """The lines of a text file, a line over `limit` characters coming in pieces: memory stays bounded."""
    while True:
        piece = handle.readline(limit)
        if not piece:
            return
        yield piece


BLOCK = 4 << 20  # bytes of complete lines matched at once by the log checks


def count_matching_lines(path: Path, pattern: SafePattern) -> int:
    """Lines of the file that match; OSError when it cannot be read (never 0 for an unreadable file)."""
    return sum(1 for _ in matching_lines(path, pattern, capture=False))


def matching_lines(path: Path, pattern: SafePattern, capture: bool = True) -> Iterator[Any]:
    """The first match of each matching line of a file, line by line as if each line were matched alone, but in
    blocks of BLOCK bytes: one RE2 search per matching line, none per other line (hundreds of MB/s). The pattern is
    compiled multi-line and with RE2's never_nl, so no match spans a newline. Captured groups are bytes. Spends the
    current time budget (runner.base.budget); OSError when the file cannot be read."""
    if _ANCHORS_TEXT in pattern.pattern or _ANCHORS_END in pattern.pattern:
        yield from _matching_lines_one_by_one(path, pattern)
        return
    compiled = _block_pattern(pattern.pattern, capture)
    with Path(path).open("rb") as handle:
        for block in line_blocks(handle):
            budget.spend(path)
            position, end = 0, len(block)
            while position < end:
                match = compiled.search(block, position)
                if match is None or (match.start() == end and block.endswith(b"\n")):  # past the last line
                    break
                yield match
                newline = block.find(b"\n", match.start())
                position = end if newline < 0 else newline + 1


_ANCHORS_TEXT, _ANCHORS_END = "\\A", "\\z"  # the text's start and end: a block is not a line, match line by line


def _matching_lines_one_by_one(path: Path, pattern: SafePattern) -> Iterator[Any]:
    with Path(path).open("r", encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(bounded_lines(handle)):
            if number % 4096 == 0:
                budget.spend(path)
            if match := pattern.search(line.rstrip("\r\n")):  # RE2's `$` is the end of the text, not before a final newline
                yield match


@lru_cache(maxsize=256)
def _block_pattern(pattern: str, capture: bool) -> Any:
    re2 = _re2()
    options = re2.Options()
    options.log_errors = False
    options.max_mem = 64 << 20
    options.never_capture = not capture
    options.never_nl = True
    return re2.compile(f"(?m){pattern}", options)


def line_blocks(handle: IO[bytes], size: int = BLOCK, limit: int = MAX_LINE) -> Iterator[bytes]:
    """A binary file as blocks of complete lines (CRLF and CR read as LF), each block ending with a newline except the
    file's last; a line longer than `limit` bytes comes in pieces, each piece a line of its own."""
    pending = b""
    while True:
        data = handle.read(size)
        if not data:
            break
        data = pending + data
        cut = data.rfind(b"\n") + 1
        pending = data[cut:]
        block = data[:cut]
        while len(pending) > limit:  # an endless line: its pieces are lines
            block += pending[:limit] + b"\n"
            pending = pending[limit:]
        if block:
            yield _universal(block)
    if pending:
        yield _universal(pending)


class LogWatch:
    """Readiness on a growing log: each match() reads only the bytes written since the last one, in READ_CHUNK
    pieces, matches complete lines with RE2, and keeps at most MAX_LINE bytes of an unfinished line. Memory per
    call is bounded and the time is linear in the new bytes, whatever the log holds."""

    def __init__(self, pattern: SafePattern | str):
        self.pattern = compile(pattern, multiline=True) if isinstance(pattern, str) else pattern
        self.path: Path | None = None
        self.offset = 0
        self.pending = b""

    def match(self, path: Path | None) -> dict[str, str] | None:
        """The named groups of the first match in the lines completed since the last call, or None.
        Raises OSError when the log exists but cannot be read."""
        if path is None:
            return None
        if path != self.path:
            self.path, self.offset, self.pending = Path(path), 0, b""
        try:
            handle = open(path, "rb")
        except FileNotFoundError:
            return None
        with handle:
            handle.seek(self.offset)
            while True:
                chunk = handle.read(READ_CHUNK)
                if not chunk:
                    return None
                self.offset += len(chunk)
                found = self._feed(chunk)
                if found is not None:
                    return found

    def _feed(self, chunk: bytes) -> dict[str, str] | None:
        data = self.pending + chunk
        end = data.rfind(b"\n") + 1
        complete, self.pending = data[:end], data[end:]
        if len(self.pending) > MAX_LINE:  # an endless line: match its start once, then keep only its newest bytes
            complete, self.pending = complete + self.pending[:MAX_LINE], self.pending[-MAX_LINE:]
        if not complete:
            return None
        return self.pattern.groups_of(complete.decode("utf-8", "replace"))


def _universal(block: bytes) -> bytes:
    """Lines as Python's text mode reads them: CRLF and a lone CR (a progress bar redrawing its line) end a line as
    LF does (universal newlines), and bytes that are not UTF-8 read as U+FFFD (errors="replace")."""
    try:
        block.decode("utf-8")
    except UnicodeDecodeError:
        block = block.decode("utf-8", "replace").encode("utf-8")
    return block.replace(b"\r\n", b"\n").replace(b"\r", b"\n") if b"\r" in block else block
