"""The modules of runner/ import each other in one direction only: no cycle, lazy imports inside functions
included (they are how stages used to call back and forth). An AST walk, so it sees every import statement.

Not counted: imports under `if TYPE_CHECKING:` (annotations only), and a module importing a submodule of its own
package (`from . import plots`: the package is already being imported). A name imported from a package's
__init__ (`from . import executor`) is counted: that is a real dependency on the package."""
from __future__ import annotations

import ast
from pathlib import Path

RUNNER = Path(__file__).resolve().parents[2] / "runner"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(RUNNER.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(child) for statement in node.body for child in ast.walk(statement)}
    return skipped


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for path in RUNNER.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        skipped = _type_checking_nodes(tree)
        targets: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                submodules = {f"{source}.{alias.name}" for alias in node.names} & modules.keys()
                targets |= submodules
                if len(submodules) < len(node.names):  # names defined in `source` itself
                    targets.add(source)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def describe(component: list[str], graph: dict[str, set[str]]) -> str:
    return "; ".join(f"{m} -> {', '.join(sorted(graph[m] & set(component)))}" for m in component)


# runner's packages, bottom to top, in the order data flows: each imports only those below it (and itself).
LAYERS = ["base", "parse", "scenario", "render", "execute", "verdict", "records", "report", "flows", "cli"]
APART = {"probes": "runs on the nodes: runner.__version__ only", "cluster": "a control plane for rehearsals: nothing of runner's"}
SIBLINGS_APART = [("runner.execute.local", "runner.execute.kubernetes")]


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import that breaks the layering: a package importing one above it, or a package kept apart."""
    rank = {name: level for level, name in enumerate(LAYERS)}
    found = []
    for module, targets in sorted(graph.items()):
        source = package_of(module)
        for target in sorted(targets):
            dest = package_of(target)
            if not dest or source in ("", "__main__") or source == dest and not _siblings(module, target):
                continue
            if source in APART or dest in APART and source not in ("flows", "cli"):
                found.append(f"{module} -> {target} ({APART.get(source) or APART[dest]})")
            elif source == dest:
                found.append(f"{module} -> {target} (local and kubernetes executors never import each other)")
            elif rank.get(dest, -1) > rank.get(source, -1):
                found.append(f"{module} -> {target} ({source} is below {dest})")
    return found


def _siblings(module: str, target: str) -> bool:
    return any(module.startswith(a) and target.startswith(b) or module.startswith(b) and target.startswith(a)
               for a, b in SIBLINGS_APART)


def test_packages_import_only_those_below_them():
    graph = import_graph()
    packages = {package_of(m) for m in graph} - {"", "__main__"}
    assert packages <= set(LAYERS) | set(APART), f"a package outside LAYERS: {sorted(packages - set(LAYERS) - set(APART))}"
    assert upward_imports(graph) == []


def test_the_layering_check_sees_an_upward_import():
    graph = {"runner.verdict.judge": {"runner.report.table", "runner.base.errors"},
             "runner.execute.local.session": {"runner.execute.kubernetes.client"},
             "runner.scenario.meaning": {"runner.flows.triage.settings"}}
    assert upward_imports(graph) == [
        "runner.execute.local.session -> runner.execute.kubernetes.client (local and kubernetes executors never import each other)",
        "runner.scenario.meaning -> runner.flows.triage.settings (scenario is below flows)",
        "runner.verdict.judge -> runner.report.table (verdict is below report)"]


def test_few_imports_sit_inside_functions_and_each_says_why():
    inside, total = [], 0
    for path in RUNNER.rglob("*.py"):
        tree = ast.parse(path.read_text())
        lines = path.read_text().splitlines()
        nested = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                  for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                total += 1
                if id(node) in nested:
                    inside.append((path, node.lineno, "\n".join(lines[node.lineno - 1:node.end_lineno])))
    assert len(inside) <= 0.05 * total, f"{len(inside)} of {total} imports inside functions"
    unexplained = [f"{p.relative_to(RUNNER.parent)}:{n}" for p, n, line in inside if "#" not in line]
    assert unexplained == [], "an import inside a function says why (a comment on its line)"


def test_stage_modules_import_each_other_one_way():
    graph = import_graph()
    assert len(graph) > 40 and "runner.scenario.validate" in graph["runner.flows.check"]
    assert cycles(graph) == [], "\n".join(describe(c, graph) for c in cycles(graph))


def test_the_walk_sees_a_cycle_made_by_a_lazy_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert "runner.scenario.schemas" in import_graph()["runner.scenario.validate"]
