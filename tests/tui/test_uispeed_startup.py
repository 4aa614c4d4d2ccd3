"""Start-up: nothing imports torch unless the file needs it, and the loading screen paints first.

A trace file (also one renamed to .pt), an ONNX model and a Keras file open without torch,
through the front door alone and through the app (headless, its loading worker, a few keys):
importing torch costs a second or more of a start-up that needs none of it. Each case runs
in a fresh interpreter, since torch stays in sys.modules once any test has imported it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from lstm_engine import LSTMSpec, record

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "onnx", "onnxruntime", "h5py")

OPEN = """
import asyncio, json, sys
from functools import partial
from lstm_tui.opening import open_path
path, kw, app = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3] == "app"
if not app:
    T = open_path(path, **kw).trace.T
else:
    from lstm_tui.app import LstmTuiApp
    from lstm_tui.screens.debugger import DebuggerScreen

    async def main():
        app = LstmTuiApp(loader=partial(open_path, path, **kw), what="x")
        async with app.run_test(size=(120, 36)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert isinstance(app.screen, DebuggerScreen), app.error
            await pilot.press("right", "right", "s", "v", "d", "question_mark", "escape")
            await pilot.pause()
            return app.screen.session.trace.T

    T = asyncio.run(main())
print(json.dumps({"T": T, **{m: m in sys.modules for m in %r}}))
""" % (HEAVY,)


def _opened(path: Path, app: bool, **kw) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", OPEN, str(path), json.dumps(kw), "app" if app else "engine"],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _trace_file(folder: Path, name: str) -> Path:
    spec = LSTMSpec.random(3, 4, 1, bidirectional=True, seed=1)
    path = folder / name
    saved = record(spec, np.ones((5, 3), np.float32)).save(folder / "t.npz")
    if saved != path:
        Path(saved).rename(path)
    return path


@pytest.mark.parametrize("app", [False, True], ids=["engine", "app"])
@pytest.mark.parametrize("name", ["run.npz", "renamed.pt"])
def test_a_trace_file_opens_without_torch(tmp_path, name, app):
    got = _opened(_trace_file(tmp_path, name), app)
    assert got == {"T": 5, "torch": False, "onnx": False, "onnxruntime": False, "h5py": False}


@pytest.mark.parametrize("app", [False, True], ids=["engine", "app"])
def test_an_onnx_model_opens_without_torch(tmp_path, app):
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    sys.path.insert(0, str(ROOT / "tests" / "engine"))
    import onnx

    from onnx_helpers import lstm_arrays, single_lstm_model

    onnx.save(single_lstm_model(lstm_arrays(3, 4)), tmp_path / "m.onnx")
    np.save(tmp_path / "x.npy", np.ones((5, 1, 3), np.float32))
    got = _opened(tmp_path / "m.onnx", app, input_path=str(tmp_path / "x.npy"))
    assert got["T"] == 5 and got["onnxruntime"] and not got["torch"]


@pytest.mark.parametrize("app", [False, True], ids=["engine", "app"])
def test_a_keras_file_opens_without_torch(tmp_path, app):
    pytest.importorskip("h5py", reason="the keras extra (h5py) is not installed")
    sys.path.insert(0, str(ROOT / "tests" / "engine"))
    from test_keras import Net

    Net().save_keras(tmp_path / "k.keras")
    np.save(tmp_path / "ids.npy", np.array([1, 2, 3, 4], np.int64))
    got = _opened(tmp_path / "k.keras", app, input_path=str(tmp_path / "ids.npy"))
    assert got["T"] == 4 and got["h5py"] and not got["torch"]


async def test_the_loading_screen_is_the_first_screen_while_the_file_loads():
    """The first paint is the loading screen: the load waits until the test has seen it."""
    import threading

    from lstm_tui.app import LstmTuiApp
    from lstm_tui.screens.debugger import DebuggerScreen
    from lstm_tui.screens.status import LoadingScreen
    from tui_helpers import synthetic_source

    seen, go = threading.Event(), threading.Event()
    source = synthetic_source()

    def loader():
        seen.set()
        assert go.wait(30)
        return source

    app = LstmTuiApp(loader=loader, what="slow.npz")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert seen.wait(30)  # the load has started, and has not finished
        assert isinstance(app.screen, LoadingScreen)
        label = app.screen.query_one("#loading-label")
        assert "slow.npz" in str(label.render())
        go.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, DebuggerScreen)
