"""python -m runner.cluster up|down|status [--dir .cluster] (see runner/cluster/__init__.py)."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import control


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m runner.cluster", description=__doc__)
    ap.add_argument("command", choices=["up", "down", "status", "binder"])
    ap.add_argument("--dir", default=".cluster", help="state, kubeconfig, logs (default .cluster)")
    ap.add_argument("--bin", help="binaries of cluster/build.sh (default: $SCENARIO_CLUSTER_BIN or build.sh --print)")
    ap.add_argument("--nodes", help="TYPE=N,... (default " +
                    ",".join(f"{t}={n}" for t, n in control.DEFAULT_NODES.items()) + ")")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds each component may take to be ready")
    a = ap.parse_args(argv)
    d = Path(a.dir)
    try:
        if a.command == "up":
            return control.up(d, control.find_bin(a.bin), control.parse_nodes(a.nodes), a.timeout)
        if a.command == "down":
            return control.down(d)
        if a.command == "status":
            code = control.status(d)
            sys.stdout.flush()  # inside the try: a reader that left (`status | head`) is met here
            return code
        from . import binder  # lazy: only the log binder process needs it
        return binder.run(d)
    except control.ClusterError as e:
        print(f"[cluster] error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader of our output left (`status | head`): nothing more to say, no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
