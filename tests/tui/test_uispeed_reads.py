"""The UI thread's work is proportional to what is visible, not to T·H (issue 16).

The trace's stored arrays are swapped for views that count the elements numpy computes
with (ufuncs, reductions, fancy indexing), per thread. Opening a long trace, stepping,
and switching layer and direction then must read on the UI thread a small part of the
(T, H) arrays: the column widths and colour scales come from the trace's statistics
(measured in the loading worker, or saved in a trace file), the retention column is
measured in a worker. Before, the first paint and every layer or direction switch read
every array of the (layer, direction) on the UI thread, twelve quantities' worth.
"""

from __future__ import annotations

import threading
from collections import Counter

import numpy as np
import pytest

from lstm_tui.app import LstmTuiApp
from lstm_tui.screens.debugger import DebuggerScreen
from lstm_tui.stepdata import TraceData
from tui_helpers import synthetic_source

T, H = 3000, 64


class Counted(np.ndarray):
    """A trace array that counts, per thread, the elements numpy computes with."""

    reads: Counter = Counter()

    @staticmethod
    def _count(arrays) -> None:
        n = 0
        for a in arrays:
            if isinstance(a, Counted):
                n += a.size
            elif isinstance(a, (list, tuple)):  # np.stack([...]), np.concatenate((...))
                n += sum(b.size for b in a if isinstance(b, Counted))
        Counted.reads[threading.get_ident()] += n

    @staticmethod
    def _plain(a):
        if isinstance(a, (list, tuple)):
            return type(a)(Counted._plain(b) for b in a)
        return a.view(np.ndarray) if isinstance(a, Counted) else a

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        self._count(inputs)
        if "out" in kwargs:
            kwargs["out"] = tuple(self._plain(o) for o in kwargs["out"])
        return getattr(ufunc, method)(*(self._plain(a) for a in inputs), **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        self._count(args)
        return func(*(self._plain(a) for a in args), **kwargs)

    def __getitem__(self, key):
        got = super().__getitem__(key)
        if isinstance(got, np.ndarray) and not np.shares_memory(got.view(np.ndarray),
                                                                self.view(np.ndarray)):  # a copy
            Counted.reads[threading.get_ident()] += got.size
            return got.view(np.ndarray)
        return got

    def astype(self, *args, **kwargs):
        self._count((self,))
        return self.view(np.ndarray).astype(*args, **kwargs)


def counted_source():
    src = synthetic_source(layers=2, bidirectional=True, hidden=H, T=T, seed=3)
    for name in ("i", "f", "g", "o", "c", "h"):
        object.__setattr__(src.trace, name, getattr(src.trace, name).view(Counted))
    return src


def ui_reads() -> int:
    return Counted.reads[threading.main_thread().ident]


@pytest.fixture
def long_trace_rules(monkeypatch):
    # the rule for a long trace (retention measured in a worker) on a small one
    monkeypatch.setattr(TraceData, "BACKGROUND", 0)
    Counted.reads.clear()


async def test_first_paint_steps_and_switches_read_a_small_part_of_the_trace(long_trace_rules):
    source = counted_source()
    whole = T * H  # one (layer, direction)'s array of one quantity
    app = LstmTuiApp(loader=lambda: source, what="long.npz")
    async with app.run_test(size=(160, 50)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DebuggerScreen)
        first = ui_reads()
        assert first < whole / 10, first
        # the statistics were measured, off the UI thread: every quantity of every layer
        assert sum(Counted.reads.values()) - first >= 4 * 6 * whole
        for key in ("right", "right", "left", "end", "home"):
            before = ui_reads()
            await pilot.press(key)
            await pilot.pause()
            # a step: one row of each quantity, a heatmap column, a window at most
            assert ui_reads() - before < whole / 20, (key, ui_reads() - before)
        for key in ("d", "right_square_bracket", "d"):
            before = ui_reads()
            await pilot.press(key)
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert ui_reads() - before < whole / 10, (key, ui_reads() - before)
        assert (screen.lstm_layer, screen.direction) == (1, 0)
        # and the retention column, measured in a worker, is on screen
        columns = screen.view.columns
        assert np.isfinite(columns.values["half_life"]).any()


def test_a_window_is_computed_a_block_of_steps_at_a_time(monkeypatch):
    """The overview's heatmap asks for every step of the units on screen: computed in
    blocks, keeping those units only, it is the same as the whole window sliced."""
    from lstm_tui import stepdata

    trace = synthetic_source(layers=2, bidirectional=True, hidden=7, T=50, seed=1).trace
    monkeypatch.setattr(stepdata, "WINDOW_BLOCK", 3 * 7)  # three steps a block
    asked = []
    original = type(trace).window

    def window(self, name, layer, direction, t0, t1):
        asked.append(t1 - t0)
        return original(self, name, layer, direction, t0, t1)

    monkeypatch.setattr(type(trace), "window", window)
    for q in ("c", "delta_c", "c_prev", "kept", "h"):
        for d in (0, 1):
            for t0, t1 in ((0, 50), (3, 4), (10, 10), (5, 37)):
                got = stepdata.window(trace, q, 1, d, t0, t1, [1, 4])
                want = np.asarray(original(trace, q, 1, d, t0, t1))[:, [1, 4]].T
                assert got.shape == want.shape == (2, t1 - t0)
                np.testing.assert_array_equal(got, want)
    assert asked and max(asked) <= 3  # never more than a block of steps at once
