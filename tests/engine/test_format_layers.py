"""formats/ is split by job with no cycle: each reader imports only the ones below it.

state_dict (names and shapes) is at the bottom; checkpoint and torch_module
build on it; torchscript on torch_module; pickled dispatches to all of them.
A cycle between two of them (as checkpoint <-> torch_files had, broken by lazy
imports) is caught here, whether the import is at module level or in a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

FORMATS = Path(__file__).resolve().parents[2] / "lstm_engine" / "formats"
#: what each torch reader may import from its siblings, in or out of functions
ALLOWED = {
    "state_dict": set(),
    "checkpoint": {"state_dict"},
    "torch_module": {"state_dict"},
    "torchscript": {"state_dict", "torch_module"},
    "pickled": {"state_dict", "checkpoint", "torch_module"},
}


def _siblings(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found |= {a.name for a in node.names}
    return found


def test_each_reader_imports_only_the_readers_below_it():
    got = {name: _siblings(FORMATS / f"{name}.py") for name in ALLOWED}
    assert got == ALLOWED


def test_no_cycle_among_the_readers():
    graph = {name: _siblings(FORMATS / f"{name}.py") & set(ALLOWED) for name in ALLOWED}
    order: list[str] = []
    while graph:
        ready = [n for n, deps in graph.items() if deps <= set(order)]
        assert ready, f"import cycle among {sorted(graph)}"
        order += sorted(ready)
        for n in ready:
            del graph[n]
    assert order[0] == "state_dict"
