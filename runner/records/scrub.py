"""Credential-shaped text, redacted whatever the value: the rule every byte written into a record goes through.

- `NAME=value` and `--name value` (also `--name=value`) where NAME is a secret name (is_secret_name);
- `"NAME": value` in JSON, for a secret NAME;
- the password of `scheme://user:password@host`;
- the credentials after `Authorization:` (or `Proxy-Authorization:`) and after `Bearer`.

A value ends at whitespace or a quote (`"HF_TOKEN=abc",` in a JSON list stays JSON); a quoted value is replaced whole.
Nothing spans a line: text is matched in blocks of whole lines, and every pattern stops at a newline.

Speed: one RE2 pass (linear, a DFA) over a block finds the candidates: names holding a secret word, URLs with a
password, authorization headers, bearer tokens. Only candidates reach Python, where the exact name rule decides.
A log without candidates costs one scan, hundreds of MB/s; the usual log holds a few candidates per megabyte.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from runner.base.saferegex import engine

REDACTED = "<redacted>"
_REDACTED_BYTES = REDACTED.encode()

_WORDS = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")
_SECRET_WORDS = {"TOKEN", "SECRET", "SECRETS", "PASSWORD", "PASSWD", "PASS", "PASSPHRASE", "CREDENTIAL", "CREDENTIALS",
                 "AUTH", "AUTHORIZATION", "BEARER", "COOKIE", "APIKEY", "ACCESSKEY", "PRIVATEKEY"}
_KEY_QUALIFIERS = {"API", "ACCESS", "PRIVATE", "SECRET", "SSH", "SIGNING", "ENCRYPTION", "LICENSE", "MASTER", "CLIENT", "SERVICE"}


def is_secret_name(name: Any) -> bool:
    """HF_TOKEN, hfToken, AWS_SECRET_ACCESS_KEY, api-key, env.DB_PASSWORD: yes. total_input_tokens, PWD, author: no."""
    return _is_secret_name(str(name))


@lru_cache(maxsize=1 << 16)  # asked for every key of every document a record holds: the same few hundred names
def _is_secret_name(name: str) -> bool:
    words = [w.upper() for w in _WORDS.split(name) if w]
    if any(w in _SECRET_WORDS for w in words):
        return True
    return any(w == "KEY" and i > 0 and words[i - 1] in _KEY_QUALIFIERS for i, w in enumerate(words))


# every secret name holds one of these (case aside): the candidates a block is searched for
_WORD = r"(?:token|secret|pass|auth|bearer|cookie|credential|key)"
_NAME = rf"(?:[a-z_][\w.-]*)?{_WORD}[\w.-]*"
_VALUE = r"""(?:"[^"\n]*"|'[^'\n]*'|[^\s"']+)"""
# three passes, each a small DFA (one pattern of all six is three times slower: its DFA states multiply)
_SHAPES = (
    "|".join((
        r"(?P<header>\b(?:proxy-)?authorization[ \t]*[:=][ \t]*)(?P<scheme>(?:bearer|basic|token|digest)[ \t]+)?(?P<credential>[^\s\"',;]+)",
        r"(?P<bearer>\bbearer[ \t]+)(?P<token>[a-z0-9._~+/=-]{6,})",
        r"(?P<url>[a-z][a-z0-9+.-]*://[^\s:/@]*:)(?P<password>[^\s/@]+)@",
    )),
    "|".join((
        rf"(?P<name>-{{0,2}}{_NAME})=(?P<value>{_VALUE})",
        rf"""(?P<option>--?{_NAME})(?P<space>[ \t]+)(?P<argument>"[^"\n]*"|'[^'\n]*'|[^\s"'-][^\s"']*)""",
    )),
    rf"""(?P<key>"[^"\n]*{_WORD}[^"\n]*")(?P<colon>[ \t]*:[ \t]*)(?P<json>"(?:[^"\\\n]|\\.)*"|[^\s,}}\]"]+)""",
)
_GATES = (  # a pass runs only when its shape can be in the block
    lambda block, lowered: b"://" in block or b"authorization" in lowered or b"bearer" in lowered,
    lambda block, lowered: b"=" in block or b"-" in block,
    lambda block, lowered: b'":' in block or b'" :' in block,
)
_NAME_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


@lru_cache(maxsize=None)
def _pattern(shape: int, capture: bool) -> Any:
    re2 = engine()
    options = re2.Options()
    options.log_errors = False
    options.max_mem = 64 << 20
    options.never_capture = not capture
    return re2.compile(f"(?i){_SHAPES[shape]}".encode(), options)


class _Found:
    """A credential candidate matched again with captures over its own span (finding it without captures is twice as
    fast); groups by name (a bytes pattern numbers its groups by bytes names)."""

    __slots__ = ("match", "index")

    def __init__(self, match: Any, index: dict[str, int]):
        self.match, self.index = match, index

    def group(self, name: str) -> bytes | None:
        number = self.index.get(name)
        return None if number is None else self.match.group(number)

    def start(self, name: str) -> int:
        return self.match.start(self.index[name])

    def end(self, name: str) -> int:
        return self.match.end(self.index[name])


@lru_cache(maxsize=None)
def _index(shape: int) -> dict[str, int]:
    return {key.decode() if isinstance(key, bytes) else key: number for key, number in _pattern(shape, True).groupindex.items()}


def scrub(block: bytes) -> bytes:
    """The block with every credential-shaped value replaced by <redacted>."""
    lowered = block.lower()
    for shape, gate in enumerate(_GATES):
        if gate(block, lowered):
            block = _scrub_shape(block, shape)
    return block


def _scrub_shape(block: bytes, shape: int) -> bytes:
    pieces: list[bytes] = []
    done = 0
    for candidate in _pattern(shape, False).finditer(block):
        replacement = _REPLACEMENTS[shape](block, candidate.start(), candidate.end())
        if replacement is None or replacement[0] < done:
            continue
        start, end, text = replacement
        pieces += [block[done:start], text]
        done = end
    if not pieces:
        return block
    pieces.append(block[done:])
    return b"".join(pieces)


def _credential(block: bytes, start: int, end: int) -> tuple[int, int, bytes] | None:
    """A header, a bearer token or a URL password: matched again with captures over the candidate's span."""
    found = _Found(_pattern(0, True).match(block, start, end), _index(0))
    if found.group("header") is not None:
        return _keep_redacted(found, "credential")
    if found.group("bearer") is not None:
        return _keep_redacted(found, "token")
    return found.start("password"), found.end("password"), _REDACTED_BYTES


def _assignment(block: bytes, start: int, end: int) -> tuple[int, int, bytes] | None:
    """`NAME=value` or `--name value`: the name runs to the first `=` or blank (neither is a name character)."""
    if start > 0 and block[start - 1] in _NAME_CHARS:  # inside a longer word: `1token=x`, `my-token x`
        return None
    span = block[start:end]
    cut = _name_end(span)
    if not is_secret_name(span[:cut].decode("utf-8", "replace")):
        return None
    value = cut + 1 if span[cut:cut + 1] == b"=" else len(span) - len(span[cut:].lstrip(b" \t"))
    if span[value:] == _REDACTED_BYTES:
        return None
    return start + value, end, _REDACTED_BYTES


def _name_end(span: bytes) -> int:
    cut = len(span)
    for stop in (b"=", b" ", b"\t"):
        found = span.find(stop)
        if 0 <= found < cut:
            cut = found
    return cut


def _json_key(block: bytes, start: int, end: int) -> tuple[int, int, bytes] | None:
    """`"NAME": value`: the key has no quote inside; the value follows the colon and its blanks."""
    span = block[start:end]
    close = span.index(b'"', 1)
    if not is_secret_name(span[1:close].decode("utf-8", "replace")):
        return None
    colon = span.index(b":", close)
    value = len(span) - len(span[colon + 1:].lstrip(b" \t"))
    if span[value:] == b'"' + _REDACTED_BYTES + b'"':
        return None
    return start + value, end, b'"' + _REDACTED_BYTES + b'"'


_REPLACEMENTS = (_credential, _assignment, _json_key)


def scrub_text(text: str) -> str:
    return scrub(text.encode("utf-8", "surrogateescape")).decode("utf-8", "surrogateescape")


def _keep_redacted(match: Any, group: str) -> tuple[int, int, bytes] | None:
    if match.group(group) == _REDACTED_BYTES:
        return None
    return match.start(group), match.end(group), _REDACTED_BYTES
