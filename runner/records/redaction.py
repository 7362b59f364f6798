"""Secrets never reach a file of the record or the terminal: everything the runner writes or prints about a run
goes through the run's Redactor.

The secret rule:
- a *secret name* is one whose words include TOKEN, SECRET, PASSWORD, PASSWD, PASS, PASSPHRASE, CREDENTIAL(S),
  AUTH, AUTHORIZATION, BEARER, COOKIE, APIKEY/ACCESSKEY/PRIVATEKEY, or KEY after API, ACCESS, PRIVATE, SECRET, SSH,
  SIGNING, ENCRYPTION, LICENSE, MASTER, CLIENT or SERVICE (record.is_secret_name: HF_TOKEN, hfToken, db_password,
  AWS_SECRET_ACCESS_KEY, --api-key; not total_input_tokens, PWD, author);
- a scenario names more with `secrets: [NAME, ...]` (env variables, parameters or args, by name);
- the *secret values* of a run are the values (6 characters or more) of secret-named env variables (every env
  block, the runner's own environment included), parameters and workload args; they are replaced wherever they
  appear, also JSON-, HTML- and shell-escaped;
- whatever the value, these are redacted in text: the value of `NAME=value` and `--name value` for secret names,
  the password in `scheme://user:password@host`, and the credentials after `Authorization:` / `Bearer`.
A value a template transforms (`{{ params.token | upper }}`) is not recognised: keep secrets out of templates.
"""
from __future__ import annotations

import html
import json
import shlex
from dataclasses import fields, is_dataclass, replace
from enum import Enum
from types import MappingProxyType
from typing import Any, Iterable, Mapping

from runner.base.saferegex import engine
from runner.records.record import REDACTED, is_secret_name, redact
from runner.records.scrub import scrub, scrub_text

MIN_SECRET_LENGTH = 6
_REDACTED_BYTES = REDACTED.encode()


def redact_credentials(text: str) -> str:
    """Credentials recognisable by their form, whatever their value (runner.records.scrub)."""
    return scrub_text(text)


class Redactor:
    """Replaces a run's secret values (and their escaped forms) and credential-shaped text.

    `block(bytes)` is the one rule, used for everything written into a record: workload output as it streams (in
    blocks of whole lines), files workloads write, command lines, the runner's own documents. Known values are found
    by one RE2 pass over the block (an alternation of the literal values), credential-shaped text by another."""

    def __init__(self, values: Iterable[str] = (), names: Iterable[str] = ()):
        self.names = frozenset(names)
        variants: set[str] = set()
        for value in values:
            value = str(value)
            if len(value) < MIN_SECRET_LENGTH:
                continue
            variants.update({value, json.dumps(value)[1:-1], html.escape(value), html.escape(value, quote=False),
                             shlex.quote(value)})
        self.values = tuple(sorted((v for v in variants if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True))
        self._known = _literal_alternation(self.values) if self.values else None

    def block(self, data: bytes) -> bytes:
        """Bytes of whole lines with every secret value and credential-shaped value replaced by <redacted>."""
        if self._known is not None:
            data = _replace_all(self._known, data)
        return scrub(data)

    def is_secret(self, name: Any) -> bool:
        return is_secret_name(name) or str(name) in self.names

    def text(self, text: str) -> str:
        return self.block(text.encode("utf-8", "surrogateescape")).decode("utf-8", "surrogateescape")

    def argv(self, argv: list[str]) -> list[str]:
        """A command line, argument by argument, and `--secret-opt value` pairs across two arguments."""
        return [self.text(arg) for arg in redact(list(argv))]

    def data(self, value: Any) -> Any:
        """A copy of plain data, dataclasses included, with every string redacted and secret-named keys' values gone."""
        if isinstance(value, Enum):
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, (Mapping, MappingProxyType)):
            return {k: (REDACTED if self.is_secret(k) and isinstance(v, (str, int, float)) and not isinstance(v, bool)
                        else self.data(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.data(v) for v in value]
        if isinstance(value, tuple) and not hasattr(value, "_fields"):
            return tuple(self.data(v) for v in value)
        if is_dataclass(value) and not isinstance(value, type):
            try:
                return replace(value, **{f.name: self.data(getattr(value, f.name)) for f in fields(value) if f.init})
            except (TypeError, ValueError):
                return value
        return value


def extra_secret_names(data: Mapping[str, Any]) -> tuple[str, ...]:
    names = data.get("secrets") if isinstance(data, Mapping) else None
    return tuple(str(n) for n in names) if isinstance(names, (list, tuple)) else ()


def for_scenario(scenario: Any, environ: Mapping[str, str]) -> Redactor:
    """The run's Redactor: secret values from every env block, the parameters, workload args and the environment."""
    names = extra_secret_names(scenario.data)
    secret = lambda name: is_secret_name(name) or name in names  # noqa: E731
    values: list[str] = []

    def take(mapping: Any) -> None:
        if isinstance(mapping, (Mapping, MappingProxyType)):
            for key, value in mapping.items():
                if secret(key) and isinstance(value, (str, int, float)) and not isinstance(value, bool):
                    values.append(str(value))

    take(environ)
    take(scenario.env)
    take(scenario.parameters)
    for workload in scenario.workloads:
        take(workload.env)
        take(workload.args)
        for block in dict(workload.overrides).values():
            if isinstance(block, (Mapping, MappingProxyType)):
                take(block.get("env"))
    return Redactor(values, names)


def _literal_alternation(values: tuple[str, ...]) -> Any:
    """One RE2 pattern for all the literal values, longest first (at one position the longest wins)."""
    re2 = engine()
    options = re2.Options()
    options.log_errors = False
    options.max_mem = 256 << 20
    options.never_capture = True
    return re2.compile(b"|".join(re2.escape(v.encode("utf-8", "surrogateescape")) for v in values), options)


def _replace_all(pattern: Any, data: bytes) -> bytes:
    pieces, done = [], 0
    for match in pattern.finditer(data):
        pieces += [data[done:match.start()], _REDACTED_BYTES]
        done = match.end()
    if not pieces:
        return data
    pieces.append(data[done:])
    return b"".join(pieces)
