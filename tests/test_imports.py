"""The package's modules import each other without cycles, and aws/ knows no sandbox."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "dlworkshop"


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    """module -> the dlworkshop modules it imports anywhere (lazy imports count too)."""
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for target in targets:
                if target in modules and target != name:
                    graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                found.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_no_import_cycles() -> None:
    assert _cycles(_graph()) == []


def test_aws_and_container_import_nothing_from_the_sandbox() -> None:
    graph = _graph()
    for name, imports in graph.items():
        if name.startswith(("dlworkshop.aws", "dlworkshop.container")):
            assert not [i for i in imports if i.startswith("dlworkshop.sandbox")], name


def test_the_only_sandbox_question_in_aws_is_the_session_seam() -> None:
    files = [*(PACKAGE / "aws").rglob("*.py"), *(PACKAGE / "container").rglob("*.py")]
    hits = [p.relative_to(PACKAGE).as_posix() for p in files if "is_sandbox" in p.read_text()]
    assert hits == ["aws/session.py"]
