"""What validating the library costs against importing its light dependencies, in one run on one machine.

    python bench/validate_cost_bench.py [--runs 7] [--rounds 1] [--cold-cache]

Each try starts fresh processes, interleaved so that the machine's load falls on both alike:
  reference: python -c "import yaml, jsonschema, jinja2, click, tabulate"
  validate:  scenario validate -q            (the whole library: schema, meaning, lints, commands, rendering)
Bytecode is kept (PYTHONPYCACHEPREFIX in a temporary folder, warmed once), as a user's shell runs it, and so is the
runner's own cache of parsed scenario files and inlined schemas (runner.base.cache), unless --cold-cache gives each
validation an empty one. Prints the medians and the ratio of each round; the goal (issue 21) is a ratio of at most 2.0.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = REPO / ".venv" / "bin" / "python"
REFERENCE = [str(PYTHON), "-c", "import yaml, jsonschema, jinja2, click, tabulate"]
VALIDATE = [str(PYTHON), "-m", "runner", "validate", "-q"]
GOAL = 2.0


def timed(command: list[str], env: dict, cold_cache: bool = False) -> float:
    if cold_cache:
        env = {**env, "XDG_CACHE_HOME": tempfile.mkdtemp(prefix="validate-cost-cache-")}
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def one_round(runs: int, env: dict, cold_cache: bool) -> float:
    reference, validate = [], []
    for _ in range(runs):
        reference.append(timed(REFERENCE, env))
        validate.append(timed(VALIDATE, env, cold_cache))
    ref, val = statistics.median(reference), statistics.median(validate)
    print(f"import of yaml, jsonschema, jinja2, click, tabulate: median {ref * 1000:.0f} ms "
          f"({', '.join(f'{t * 1000:.0f}' for t in reference)})")
    print(f"scenario validate (the library):                     median {val * 1000:.0f} ms "
          f"({', '.join(f'{t * 1000:.0f}' for t in validate)})")
    print(f"ratio {val / ref:.2f} (goal <= {GOAL}); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    return val / ref


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="runs of each command in a round (the medians)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds, each with its own ratio")
    parser.add_argument("--cold-cache", action="store_true", help="every validation starts with an empty runner cache")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPYCACHEPREFIX": tempfile.mkdtemp(prefix="validate-cost-")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    timed(REFERENCE, env), timed(VALIDATE, env)  # bytecode (and the runner's cache) written once
    ratios = [one_round(args.runs, env, args.cold_cache) for _ in range(args.rounds)]
    if args.rounds > 1:
        above = sum(ratio > GOAL for ratio in ratios)
        print(f"{args.rounds} rounds: ratios {', '.join(f'{r:.2f}' for r in ratios)}; median {statistics.median(ratios):.2f}; "
              f"{above} above {GOAL}")
    return 0 if statistics.median(ratios) <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
