"""The package's layout: its imports form no cycle (function-level imports included), so every module can be
read after the ones it builds on, and each module stays short enough to hold one idea."""

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "llmviz"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the llmviz modules it imports anywhere in its body (a package's __init__ is not counted
    as imported by its own submodules, which Python runs first anyway)."""
    files = {module_name(f): f for f in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                candidates = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[: len(base) - node.level + 1]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                candidates = [f"{module}.{a.name}" for a in node.names] + [module]
            else:
                continue
            for c in candidates:
                while c and c not in files and "." in c:
                    c = c.rsplit(".", 1)[0]
                if c in files and c != name and not name.startswith(c + "."):
                    targets.add(c)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle_hidden_in_a_function():
    # the check itself: a -> b at module level, b -> a inside a function
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_llmviz_has_no_import_cycle():
    graph = import_graph()
    assert len(graph) > 40 and "llmviz.training.train" in graph
    assert "llmviz.nn.model" in graph["llmviz.training.train"]  # the graph sees real imports
    assert cycles(graph) == []


def test_each_package_lists_its_modules():
    # README's map names the packages; each package's docstring is the map of its modules
    for init in PACKAGE.rglob("__init__.py"):
        if init.parent == PACKAGE:
            continue
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        for module in init.parent.glob("*.py"):
            if module.name != "__init__.py":
                assert module.name in doc, f"{init.relative_to(ROOT)} does not list {module.name}"


def test_modules_stay_short_enough_to_hold_one_idea():
    long = {str(f.relative_to(ROOT)): n for f in PACKAGE.rglob("*.py")
            if (n := len(f.read_text(encoding="utf-8").splitlines())) > 360}
    assert not long, f"split these by idea: {long}"
