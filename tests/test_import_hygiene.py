"""The engine/UI split, checked rather than trusted (harlequin's test_import_hygiene).

* `import lstm_engine` pulls in neither textual nor torch nor onnx: the engine is usable
  (and testable) without the UI, and torch is only paid for when a torch model is loaded.
* lstm_tui talks to the engine through its public package only: `lstm_engine` itself,
  never its submodules, so the engine can be reorganised freely.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALLOWED_ENGINE_MODULES = {"lstm_engine"}
HEAVY = ("textual", "rich", "torch", "onnx", "onnxruntime")


def _run(code: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_the_engine_imports_no_ui_and_no_torch():
    loaded = _run(
        f"""
        import json, sys
        import lstm_engine
        print(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))
        """
    )
    assert loaded == {m: False for m in HEAVY}


def test_recording_from_a_spec_and_reloading_needs_no_torch(tmp_path):
    loaded = _run(
        f"""
        import json, sys
        import numpy as np
        from lstm_engine import LSTMSpec, Session, Trace, record, trace_lstm
        spec = LSTMSpec.random(3, 4, 2, bidirectional=True)
        trace = trace_lstm(spec, np.ones((5, 3), np.float32))
        trace.save({str(tmp_path / "t.npz")!r})
        back = Trace.load({str(tmp_path / "t.npz")!r})
        s = Session(back); s.step(); s.at().kept
        print(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))
        """
    )
    assert loaded == {m: False for m in HEAVY}


def _engine_modules(folder: str = "") -> list[str]:
    base = ROOT / "lstm_engine" / folder
    return sorted(
        "lstm_engine." + ".".join(p.relative_to(ROOT / "lstm_engine").with_suffix("").parts)
        for p in base.rglob("*.py") if p.stem != "__init__"
    )


def test_engine_modules_import_no_torch_or_ui():
    """Every engine module stays import-light on its own: the torch readers import torch
    inside the functions that need it, so only the ONNX reader and writer are left out."""
    readers = {"lstm_engine.formats.onnx_read", "lstm_engine.formats.onnx_write"}
    names = [n for n in _engine_modules() if n not in readers]
    assert {f"lstm_engine.core.{m}" for m in ("cell", "recorder", "trace", "session", "spec",
                                             "quantities")} <= set(names)  # fmt: skip
    loaded = _run(
        f"""
        import importlib, json, sys
        for name in {names!r}:
            importlib.import_module(name)
        print(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))
        """
    )
    assert loaded == {m: False for m in HEAVY}


def _relative_imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) for every import in an engine module, relative ones resolved."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.append((node.lineno, mod))
            found += [(node.lineno, f"{mod}.{a.name}") for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
    return found


def test_engine_core_imports_nothing_above_it():
    """The core (spec, cell, recorder, trace, session, quantities) knows no file format and
    no model: a loader can change without touching the math, and the math has no cycle
    through a loader."""
    bad = []
    for path in sorted((ROOT / "lstm_engine" / "core").glob("*.py")):
        for line, mod in _relative_imports(path):
            if mod.startswith("lstm_engine.") and not mod.startswith("lstm_engine.core"):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {mod}")
    assert bad == []


def test_formats_do_not_import_the_front_door_at_import_time():
    """formats/ sits below open.py: a module-level import of it would be a cycle."""
    bad = []
    for path in sorted((ROOT / "lstm_engine" / "formats").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module level only
            if isinstance(node, ast.ImportFrom) and node.level == 2 and node.module == "open":
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert bad == []


def engine_imports(source: str, filename: str = "<src>") -> list[tuple[int, str]]:
    """(line, module) for every import of an lstm_engine module the UI may not use."""
    bad = []
    for node in ast.walk(ast.parse(source, filename)):
        modules = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
            if node.module == "lstm_engine":  # `from lstm_engine import cell` is a submodule too
                modules = [f"lstm_engine.{a.name}" for a in node.names if _is_submodule(a.name)]
        elif isinstance(node, ast.Call) and _is_import_call(node):
            modules = [node.args[0].value]
        for mod in modules:
            if (mod == "lstm_engine" or mod.startswith("lstm_engine.")) and (
                mod not in ALLOWED_ENGINE_MODULES
            ):
                bad.append((node.lineno, mod))
    return bad


def _is_submodule(name: str) -> bool:
    """A name in lstm_engine that is a module file and not re-exported by the package."""
    import lstm_engine

    engine = ROOT / "lstm_engine"
    is_module = (engine / f"{name}.py").exists() or (engine / name / "__init__.py").exists()
    return is_module and name not in lstm_engine.__all__


def _is_import_call(node: ast.Call) -> bool:
    f = node.func
    name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
    return (
        name in ("import_module", "__import__")
        and bool(node.args)
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    )


def test_ui_uses_the_engine_only_through_its_public_package():
    files = sorted((ROOT / "lstm_tui").rglob("*.py"))
    violations = [
        f"{path.relative_to(ROOT)}:{line}: imports {mod}"
        for path in files
        for line, mod in engine_imports(path.read_text(encoding="utf-8"), str(path))
    ]
    assert not violations, (
        "lstm_tui must import from `lstm_engine` only:\n"
        + "\n".join(violations)
    )


@pytest.mark.parametrize(
    "source,expected",
    [
        ("import lstm_engine", []),
        ("from lstm_engine import Trace, Session", []),
        ("from lstm_engine.core.errors import LoadError", [(1, "lstm_engine.core.errors")]),
        ("import numpy, lstm_engine.cell", [(1, "lstm_engine.cell")]),
        ("from lstm_engine.trace import Trace", [(1, "lstm_engine.trace")]),
        ("def f():\n    from lstm_engine.recorder import record", [(2, "lstm_engine.recorder")]),
        ("from lstm_engine import model", [(1, "lstm_engine.model")]),
        ("from lstm_engine import core", [(1, "lstm_engine.core")]),
        ("import importlib\nimportlib.import_module('lstm_engine.spec')",
         [(2, "lstm_engine.spec")]),
        ("from . import lstm_engine", []),  # a relative import is lstm_tui's own module
        ("import lstm_engine_extras", []),
    ],
)  # fmt: skip
def test_the_import_checker_itself(source, expected):
    """The UI scan above must be able to fail: it catches each way of reaching a submodule."""
    assert engine_imports(source) == expected
