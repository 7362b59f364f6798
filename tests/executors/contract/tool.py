"""The workload of the contract cases, run as a local process: print lines, serve a port or HTTP, then end.

    python tool.py [--line TEXT]... [--port N] [--http N] [--run-for SECONDS|forever] [--exit CODE]
"""
from __future__ import annotations

import argparse
import http.server
import socket
import sys
import threading
import time


def serve_tcp(port: int) -> None:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen()
    threading.Thread(target=lambda: [server.accept()[0].close() for _ in iter(int, 1)], daemon=True).start()


def serve_http(port: int) -> None:
    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the stdlib's name
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--line", action="append", default=[])
    parser.add_argument("--port", type=int)
    parser.add_argument("--http", type=int)
    parser.add_argument("--run-for", default="0")
    parser.add_argument("--exit", type=int, default=0)
    args = parser.parse_args()
    if args.port:
        serve_tcp(args.port)
    if args.http:
        serve_http(args.http)
    for line in args.line:
        print(line, flush=True)
    time.sleep(3600 if args.run_for == "forever" else float(args.run_for))
    return args.exit


if __name__ == "__main__":
    sys.exit(main())
