"""A fault-injecting HTTP proxy in front of the real local control plane (tests/control_plane.py).

The runner talks plain HTTP to the proxy (its kubeconfig has no credentials); the proxy forwards every request to
kube-apiserver over TLS with the admin client certificate, streaming the answer back (watches and logs included),
unless a rule answers first. Rules inject what a real server cannot produce on demand:

    proxy.rule(match, gone=True)        410 Gone, as for a watch from a compacted resourceVersion
    proxy.rule(match, status=503)       a server error
    proxy.rule(match, delay=1.5)        a slow answer (then forwarded)
    proxy.rule(match, drop_after=0.5)   the answer's stream cut after that many seconds (a dropped watch)

`match(method, path, query)` decides; `times=N` limits a rule to its first N matches. Every request is recorded.
"""
from __future__ import annotations

import base64
import http.client
import json
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, urlsplit

import yaml

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection",
              "content-length", "host"}


@dataclass
class Rule:
    match: Callable[[str, str, dict], bool]
    gone: bool = False
    status: int = 0
    delay: float = 0.0
    drop_after: float = 0.0
    times: int = 0  # 0: every match
    used: int = 0


@dataclass
class Seen:
    method: str
    path: str
    query: dict
    injected: str = ""


@dataclass
class FaultProxy:
    kubeconfig: Path
    rules: list[Rule] = field(default_factory=list)
    requests: list[Seen] = field(default_factory=list)

    def __post_init__(self):
        config = yaml.safe_load(Path(self.kubeconfig).read_text())
        cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
        self.upstream = urlsplit(cluster["server"])
        self._files = tempfile.TemporaryDirectory()
        files = Path(self._files.name)
        for name, key in (("ca.crt", "certificate-authority-data"), ("client.crt", "client-certificate-data"),
                          ("client.key", "client-key-data")):
            (files / name).write_bytes(base64.b64decode(cluster.get(key) or user.get(key)))
        self.tls = ssl.create_default_context(cafile=str(files / "ca.crt"))
        self.tls.load_cert_chain(str(files / "client.crt"), str(files / "client.key"))
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True

    def rule(self, match: Callable[[str, str, dict], bool], **action) -> Rule:
        added = Rule(match, **action)
        with self.lock:
            self.rules.append(added)
        return added

    def pick(self, method: str, path: str, query: dict) -> Rule | None:
        with self.lock:
            for rule in self.rules:
                if (not rule.times or rule.used < rule.times) and rule.match(method, path, query):
                    rule.used += 1
                    return rule
        return None

    def write_kubeconfig(self, out: Path) -> Path:
        config = {"apiVersion": "v1", "kind": "Config", "current-context": "proxy",
                  "clusters": [{"name": "proxy", "cluster": {"server": f"http://127.0.0.1:{self.server.server_port}"}}],
                  "users": [{"name": "proxy", "user": {}}],
                  "contexts": [{"name": "proxy", "context": {"cluster": "proxy", "user": "proxy"}}]}
        out.write_text(yaml.safe_dump(config))
        return out

    def __enter__(self) -> "FaultProxy":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._files.cleanup()


def _handler(proxy: FaultProxy):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_GET(self):
            self._forward()

        do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

        def _forward(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            rule = proxy.pick(self.command, url.path, query)
            seen = Seen(self.command, url.path, query)
            proxy.requests.append(seen)
            if rule is not None and (rule.gone or rule.status):
                seen.injected = "410" if rule.gone else str(rule.status)
                return self._status(410 if rule.gone else rule.status)
            if rule is not None and rule.delay:
                seen.injected = f"delay {rule.delay}"
                time.sleep(rule.delay)
            upstream = http.client.HTTPSConnection(proxy.upstream.hostname, proxy.upstream.port, context=proxy.tls, timeout=120)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            upstream.request(self.command, self.path, body=body or None, headers=headers)
            answer = upstream.getresponse()
            self.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in HOP_BY_HOP:
                    self.send_header(key, value)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            cut = time.monotonic() + rule.drop_after if rule is not None and rule.drop_after else None
            if cut:
                seen.injected = f"dropped after {rule.drop_after}s"
                upstream.sock.settimeout(0.2)
            try:
                while True:
                    try:
                        chunk = answer.read1(65536)
                    except TimeoutError:
                        chunk = None
                    if cut and time.monotonic() >= cut:
                        break  # the stream ends without its final chunk: the connection just goes
                    if chunk is None:
                        continue
                    if not chunk:
                        self.wfile.write(b"0\r\n\r\n")
                        break
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    self.wfile.flush()
            except (OSError, http.client.HTTPException):
                pass  # either side went away, or a read timed out mid-chunk just before the cut: the stream ends
            finally:
                upstream.close()
                if cut:
                    self.close_connection = True

        def _status(self, code: int) -> None:
            reason = {410: "Expired", 503: "ServiceUnavailable"}.get(code, "InternalError")
            message = ("too old resource version: 1 (2)" if code == 410 else f"injected by tests/kubeproxy.py ({code})")
            body = json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
                               "reason": reason, "code": code}).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
