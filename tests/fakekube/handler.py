"""The HTTP side: a routing table from URL patterns to resource handlers, watches and log streams.

Wire format as the official client expects it: JSON bodies, Status objects for
errors, `Warning: 299 - "..."` headers, chunked newline-delimited JSON for
watches (`{"type": "ADDED", "object": {...}}`) and chunked text for
`pods/log?follow=true`.
"""
from __future__ import annotations

import json
import re
import select
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from .api import Ctx
from .errors import ApiError
from .resources import ResourceType
from .selection import parse_field_selector, parse_label_selector

if TYPE_CHECKING:
    from .kube import FakeKube

_PREFIX = r"/(?:api|apis/(?P<group>[^/]+))/(?P<version>[^/]+)"
_NS = r"/namespaces/(?P<namespace>[^/]+)"
_RES = r"/(?P<resource>[^/]+)(?:/(?P<name>[^/]+)(?:/(?P<subresource>[^/]+))?)?"

# (pattern, handler method, scope) -- resource routes are tried in order; the first whose
# resource exists with the right scope wins (so /api/v1/namespaces/x/status is a namespace's status).
ROUTES = [
    (re.compile(r"^/version/?$"), "version", None),
    (re.compile(r"^/api/?$"), "core_versions", None),
    (re.compile(r"^/apis/?$"), "group_list", None),
    (re.compile(r"^/api/(?P<version>v1)/?$"), "resource_list", None),
    (re.compile(r"^/apis/(?P<group>[^/]+)/?$"), "group", None),
    (re.compile(r"^/apis/(?P<group>[^/]+)/(?P<version>[^/]+)/?$"), "resource_list", None),
    (re.compile(rf"^{_PREFIX}{_NS}{_RES}$"), "resource", "namespaced"),
    (re.compile(rf"^{_PREFIX}{_RES}$"), "resource", "cluster"),
]


@dataclass(frozen=True)
class Request:
    """One API request as the fake saw it; unpacks as (method, path, query)."""
    method: str
    path: str
    query: dict
    verb: str = ""  # get list watch create update patch delete deletecollection (Kubernetes audit verbs)
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    time: float = 0.0

    def __iter__(self):
        return iter((self.method, self.path, self.query))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    request_queue_size = 512  # listen backlog: triage runs dozens of sets at once, each opening connections (default 5)

    def __init__(self, kube: "FakeKube"):
        self.kube = kube
        super().__init__(("127.0.0.1", 0), Handler)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms delayed-ACK stalls
    server: Server

    def log_message(self, *args):
        pass

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = lambda self: self._dispatch()

    # -- dispatch -------------------------------------------------------------------------------------

    @property
    def kube(self) -> "FakeKube":
        return self.server.kube

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        self.query = dict(parse_qsl(url.query, keep_blank_values=True))
        self.body = self._read_body()
        self.warnings: list[str] = []
        try:
            for pattern, method, scope in ROUTES:
                m = pattern.match(url.path)
                if not m:
                    continue
                params = {k: v for k, v in m.groupdict().items() if v is not None}
                if scope is None:
                    self._record(url.path)
                    return getattr(self, method)(**params)
                rt = self.kube.api.registry.lookup(params.get("group", ""), params["version"], params["resource"])
                if rt is None or (scope == "namespaced" and not rt.namespaced):
                    continue
                if scope == "cluster" and rt.namespaced and "name" in params:
                    continue
                return self._resource(rt, url.path, params.get("namespace"), params.get("name"),
                                      params.get("subresource", ""))
            self._record(url.path)
            if self._known_group_version(url.path):
                raise ApiError.resource_not_found()
            self._send_text(404, "404 page not found\n")
        except ApiError as e:
            self._send_json(e.code, e.status())
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:
            self.kube.server_errors.append(traceback.format_exc())
            error = ApiError(500, "InternalError", "fake API server error: " + traceback.format_exc(limit=3))
            self._send_json(500, error.status())

    def _known_group_version(self, path: str) -> bool:
        m = re.match(rf"^{_PREFIX}", path)
        if not m:
            return False
        group = m.group("group") or ""
        return not group or m.group("version") in self.kube.api.registry.group_versions().get(group, [])

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _json_body(self):
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise ApiError.bad_request(f"couldn't get version/kind; json parse error: {e}") from None

    def _record(self, path, verb="", rt: ResourceType | None = None, namespace="", name="", subresource=""):
        self.kube._record(Request(self.command, path, dict(self.query), verb, rt.group if rt else "",
                                  rt.plural if rt else "", subresource, namespace or "", name or "",
                                  time.monotonic()))

    # -- discovery -----------------------------------------------------------------------------------------

    def version(self):
        self._send_json(200, {"major": "1", "minor": "31", "gitVersion": "v1.31.0-fakekube",
                              "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
                              "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.22.5", "compiler": "gc",
                              "platform": "linux/amd64"})

    def core_versions(self):
        self._send_json(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{self.kube.port}"}]})

    def group_list(self):
        self._send_json(200, self.kube.api.registry.api_group_list())

    def group(self, group):
        doc = self.kube.api.registry.api_group(group)
        if doc is None:
            return self._send_text(404, "404 page not found\n")
        self._send_json(200, doc)

    def resource_list(self, version, group=""):
        doc = self.kube.api.registry.api_resource_list(group, version)
        if doc is None:
            return self._send_text(404, "404 page not found\n")
        self._send_json(200, doc)

    # -- resources ----------------------------------------------------------------------------------------

    def _resource(self, rt: ResourceType, path: str, namespace, name, subresource) -> None:
        method = self.command
        if name is None:
            verb = {"GET": "watch" if self.query.get("watch") in ("true", "1") else "list",
                    "POST": "create", "DELETE": "deletecollection"}.get(method)
        else:
            verb = {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method)
        self._record(path, verb or method.lower(), rt, namespace, name, subresource)
        if rt.namespaced and namespace is None and verb not in ("list", "watch"):
            verb = None
        if verb is None or (subresource and subresource not in rt.subresources):
            raise ApiError.method_not_allowed() if not subresource else ApiError.resource_not_found()
        if subresource == "log" and verb != "get":
            raise ApiError.method_not_allowed()
        self._authorize(verb, rt, namespace, name, subresource)
        if injected := self.kube._take_injected_error(verb, rt.plural, subresource):
            raise injected
        api, ctx = self.kube.api, self._ctx(method)
        if verb in ("list", "watch"):
            if verb == "watch":
                return self._watch(rt, namespace)
            result = api.list(rt, namespace, self.query.get("labelSelector"), self.query.get("fieldSelector"),
                              int(self.query["limit"]) if self.query.get("limit") else None,
                              self.query.get("continue"))
            return self._send_json(200, result)
        if verb == "create":
            result = api.create(rt, namespace, self._json_body(), ctx)
            return self._send_json(201, result, ctx.warnings)
        if verb == "deletecollection":
            result = api.delete_collection(rt, namespace, self.query.get("labelSelector"),
                                           self.query.get("fieldSelector"), self._delete_options(), ctx)
            return self._send_json(200, result, ctx.warnings)
        if subresource == "log":
            return self._logs(api.get(rt, namespace, name))
        if verb == "get":
            return self._send_json(200, api.get(rt, namespace, name))
        if verb == "update":
            result = api.update(rt, namespace, name, self._json_body(), ctx, subresource)
            return self._send_json(200, result, ctx.warnings)
        if verb == "patch":
            content_type = self.headers.get("Content-Type", "")
            if ctx.force and not content_type.startswith("application/apply-patch"):
                raise ApiError.bad_request("force: Forbidden: may not be specified for non-apply patch")
            result, created = api.patch(rt, namespace, name, self.body, content_type, ctx, subresource)
            return self._send_json(201 if created else 200, result, ctx.warnings)
        result = api.delete(rt, namespace, name, self._delete_options(), ctx)
        self._send_json(200, result, ctx.warnings)

    def _ctx(self, method: str) -> Ctx:
        dry_run = self.query.get("dryRun")
        if dry_run not in (None, "", "All"):
            raise ApiError.bad_request(f'Invalid dry run value: "{dry_run}"; supported values: "All"')
        content_type = self.headers.get("Content-Type", "")
        agent = (self.headers.get("User-Agent") or "unknown").split("/")[0]
        manager = self.query.get("fieldManager")
        if manager is None and not content_type.startswith("application/apply-patch"):
            manager = agent
        validation = self.query.get("fieldValidation") or "Warn"
        if validation not in ("Ignore", "Warn", "Strict"):
            raise ApiError.bad_request(f'fieldValidation: Unsupported value: "{validation}"')
        return Ctx(manager=manager or "", dry_run=dry_run == "All", field_validation=validation,
                   force=self.query.get("force") == "true")

    def _delete_options(self) -> dict:
        options = self._json_body() if self.command == "DELETE" else None
        options = dict(options) if isinstance(options, dict) else {}
        if "propagationPolicy" in self.query:
            options["propagationPolicy"] = self.query["propagationPolicy"]
        if "gracePeriodSeconds" in self.query:
            options["gracePeriodSeconds"] = int(self.query["gracePeriodSeconds"])
        if "orphanDependents" in self.query:
            options["orphanDependents"] = self.query["orphanDependents"] == "true"
        return options

    def _authorize(self, verb, rt: ResourceType, namespace, name, subresource) -> None:
        api = self.kube.api
        if rt.plural == "selfsubjectaccessreviews":
            return
        if not api.is_denied(verb, rt.group, rt.plural, subresource, namespace, name, enforced_only=True):
            return
        resource = rt.plural + (f"/{subresource}" if subresource else "")
        subject = f'{rt.key} "{name}"' if name else rt.key
        where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
        raise ApiError.forbidden(f'{subject} is forbidden: User "fake-user" cannot {verb} resource "{resource}" '
                                 f'in API group "{rt.group}" {where}', rt, name or "")

    # -- watch ------------------------------------------------------------------------------------------

    def _watch(self, rt: ResourceType, namespace) -> None:
        labels = parse_label_selector(self.query.get("labelSelector"))
        fields = parse_field_selector(self.query.get("fieldSelector"), rt.key, rt.is_custom)
        rv = self.query.get("resourceVersion")
        since = int(rv) if rv not in (None, "", "0") else None
        timeout = float(self.query["timeoutSeconds"]) if self.query.get("timeoutSeconds") else None
        bookmarks = self.query.get("allowWatchBookmarks") == "true"
        store = self.kube.store
        self._start_stream("application/json")
        try:
            sub, initial = store.subscribe(rt.key, namespace if rt.namespaced else None, since)
        except ApiError as e:
            self._chunk(json.dumps({"type": "ERROR", "object": e.status()}) + "\n")
            return self._end_stream()

        def matches(obj):
            return obj is not None and labels.matches(obj["metadata"].get("labels")) and fields.matches(obj)

        deadline = time.monotonic() + timeout if timeout else None
        last_sent = time.monotonic()
        epoch = store.watch_epoch
        try:
            for obj in initial:
                if matches(obj):
                    self._event("ADDED", obj)
            while not self.kube.stopping and epoch == store.watch_epoch and \
                    (deadline is None or time.monotonic() < deadline):
                event = sub.next(timeout=0.05)
                if event is None:
                    if self._client_gone():
                        return
                    if bookmarks and time.monotonic() - last_sent > 1.0:
                        self._event("BOOKMARK", {"kind": rt.kind, "apiVersion": rt.api_version,
                                                 "metadata": {"resourceVersion": str(store.revision)}})
                        last_sent = time.monotonic()
                    continue
                kind = _watch_type(event.type, matches(event.obj), matches(event.old))
                if kind:
                    self._event(kind, event.obj)
                    last_sent = time.monotonic()
            self._end_stream()
        finally:
            sub.close()

    def _event(self, kind: str, obj: dict) -> None:
        self._chunk(json.dumps({"type": kind, "object": obj}, separators=(",", ":")) + "\n")

    # -- logs -----------------------------------------------------------------------------------------------

    def _logs(self, pod: dict) -> None:
        name, uid = pod["metadata"]["name"], pod["metadata"]["uid"]
        spec = pod.get("spec") or {}
        containers = [c["name"] for c in spec.get("containers") or []]
        every = containers + [c["name"] for c in spec.get("initContainers") or []]
        container = self.query.get("container")
        if not container:
            if len(containers) != 1:
                raise ApiError.bad_request(f"a container name must be specified for pod {name}, choose one of: "
                                           f"[{' '.join(containers)}]")
            container = containers[0]
        elif container not in every:
            raise ApiError.bad_request(f"container {container} is not valid for pod {name}")
        kubelet = self.kube.kubelet
        runs = kubelet.log_runs(uid, container)
        if self.query.get("previous") == "true":
            if len(runs) < 2:
                raise ApiError.bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
            run, follow = runs[-2], False
        else:
            if not runs:
                reason = kubelet.waiting_reason(uid, container)
                if reason in ("ImagePullBackOff", "ErrImagePull"):
                    reason = "trying and failing to pull image"
                raise ApiError.bad_request(f'container "{container}" in pod "{name}" is waiting to start: {reason}')
            run, follow = runs[-1], self.query.get("follow") == "true"
        tail = int(self.query["tailLines"]) if self.query.get("tailLines") else None
        since = float(self.query["sinceSeconds"]) if self.query.get("sinceSeconds") else None
        limit = int(self.query["limitBytes"]) if self.query.get("limitBytes") else None
        stamps = self.query.get("timestamps") == "true"

        def render(lines):
            if since is not None:
                lines = [(w, t) for w, t in lines if w >= time.time() - since]
            if stamps:
                return "".join(f"{_rfc3339nano(w)} {t}" for w, t in lines)
            return "".join(t for _, t in lines)

        emitted = run.emitted(time.monotonic())
        sent = len(emitted)
        lines = (emitted[-tail:] if tail > 0 else []) if tail is not None else emitted
        if not follow:
            text = render(lines)
            return self._send_text(200, text[:limit] if limit is not None else text)
        self._start_stream("text/plain")
        budget = limit
        text = render(lines)
        if budget is not None:
            text, budget = text[:budget], budget - len(text[:budget])
        if text:
            self._chunk(text)
        while not self.kube.stopping and (budget is None or budget > 0):
            now = time.monotonic()
            emitted = run.emitted(now)
            if len(emitted) > sent:
                text = render(emitted[sent:])
                sent = len(emitted)
                if budget is not None:
                    text, budget = text[:budget], budget - len(text[:budget])
                self._chunk(text)
                continue
            if run.finished(now) or self.kube.store.peek("pods", pod["metadata"]["namespace"], name) is None:
                break
            if self._client_gone():
                return
            time.sleep(0.005)
        self._end_stream()

    # -- responses ----------------------------------------------------------------------------------------

    def _send_json(self, code: int, body: dict, warnings: list[str] | None = None) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Audit-Id", "fake")
        for warning in warnings or []:
            self.send_header("Warning", f'299 - "{warning}"')
        self.end_headers()
        self.wfile.write(data)

    def _send_text(self, code: int, text: str) -> None:
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _start_stream(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.wfile.flush()

    def _chunk(self, text: str) -> None:
        data = text.encode()
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

    def _end_stream(self) -> None:
        try:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def _client_gone(self) -> bool:
        """True when the client closed the connection (Watch.stop(), a closed response)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if readable and not self.connection.recv(1, 2):  # MSG_PEEK
                self.close_connection = True
                return True
        except OSError:
            self.close_connection = True
            return True
        return False


def _watch_type(kind: str, new_matches: bool, old_matches: bool) -> str | None:
    """The event a selector-filtered watcher sees: objects entering or leaving the selection."""
    if kind == "ADDED":
        return "ADDED" if new_matches else None
    if kind == "DELETED":
        return "DELETED" if old_matches else None
    if new_matches and old_matches:
        return "MODIFIED"
    if new_matches:
        return "ADDED"
    return "DELETED" if old_matches else None


def _rfc3339nano(wall: float) -> str:
    return datetime.fromtimestamp(wall, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")
