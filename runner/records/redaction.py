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
import re
import shlex
from dataclasses import fields, is_dataclass, replace
from enum import Enum
from types import MappingProxyType
from typing import Any, Iterable, Mapping

from runner.records.record import REDACTED, is_secret_name, redact_text

MIN_SECRET_LENGTH = 6
_URL_PASSWORD = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^\s:/@]*):(?P<password>[^\s/@]+)@")
_AUTH_HEADER = re.compile(r"(?i)(?P<name>\b(?:proxy-)?authorization\s*[:=]\s*)(?P<scheme>(?:bearer|basic|token|digest)\s+)?(?P<value>[^\s\"',;]+)")
_BEARER = re.compile(r"(?i)(?P<name>\bbearer\s+)(?P<value>[A-Za-z0-9._~+/=-]{6,})")


def redact_credentials(text: str) -> str:
    """Credentials recognisable by their form, whatever their value."""
    if "://" in text:
        text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", text)
    lowered = text.lower()
    if "authorization" in lowered:
        text = _AUTH_HEADER.sub(lambda m: m["name"] + (m["scheme"] or "") + (m["value"] if m["value"] == REDACTED else REDACTED), text)
    if "bearer" in lowered:
        text = _BEARER.sub(lambda m: m["name"] + REDACTED, text)
    if "=" in text or "-" in text:
        text = redact_text(text)
    return text


class Redactor:
    """Replaces a run's secret values (and their escaped forms) and credential-shaped text."""

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

    def is_secret(self, name: Any) -> bool:
        return is_secret_name(name) or str(name) in self.names

    def text(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, REDACTED)
        return redact_credentials(text)

    def arg(self, text: str) -> str:
        """One argument of a command line (the .cmd files stay valid shell: join the redacted arguments)."""
        return self.text(text)

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
