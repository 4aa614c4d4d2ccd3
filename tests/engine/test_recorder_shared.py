"""Large recordings live in sealed shared memory, and a branch starts as a copy-on-write map of
its parent's (recorder._SharedBuffer): the same numbers as copying, nothing writable."""

from __future__ import annotations

import gc
import os

import numpy as np
import pytest

import lstm_engine.core.recorder as recorder
from lstm_engine import Ablate, LSTMSpec, SetState, branch, record
from lstm_engine.core.readonly import _is_sealed

STORED = ("x", "i", "f", "g", "o", "c", "h", "z")
pytestmark = pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="memfd is Linux's")


def _pair(monkeypatch, **kw):
    spec = LSTMSpec.random(4, 16, 2, seed=5, dtype=np.float32, **kw)
    x = np.random.default_rng(1).standard_normal((300, 4))
    monkeypatch.setattr(recorder, "SHARED_MIN", 10**12)
    copied = record(spec, x, keep_z=True)
    monkeypatch.setattr(recorder, "SHARED_MIN", 1024)
    shared = record(spec, x, keep_z=True)
    return copied, shared


@pytest.mark.parametrize("kw", [dict(), dict(bidirectional=True, peephole=True)])
@pytest.mark.parametrize("until", [None, 150])
def test_a_branch_of_shared_memory_is_the_branch_of_a_copy(monkeypatch, kw, until):
    copied, shared = _pair(monkeypatch, **kw)
    assert recorder._shared_source(shared.c) is not None
    assert recorder._shared_source(shared.c[0]) is None  # a part of it is not the buffer
    for name in STORED:
        assert getattr(shared, name).tobytes() == getattr(copied, name).tobytes(), name
    before = {name: getattr(shared, name).tobytes() for name in STORED}
    edits = [Ablate(unit=2, from_t=100), SetState(name="c", t=120, unit=1, value=3.0, layer=1)]
    a, b = branch(copied, edits, until=until), branch(shared, edits, until=until)
    for name in STORED:
        assert getattr(b, name).tobytes() == getattr(a, name).tobytes(), name
        assert getattr(shared, name).tobytes() == before[name], name  # the parent is untouched
    assert b.meta == a.meta
    assert not np.array_equal(b.c, shared.c)  # it did re-run
    # nothing of either is writable
    for tr in (shared, b):
        for name in ("c", "h", "i", "z"):
            arr = getattr(tr, name)
            assert _is_sealed(arr) and not arr.flags.writeable, name
            with pytest.raises(ValueError):
                arr[0, 0, 0] = 1.0
            with pytest.raises(ValueError):
                arr.flags.writeable = True


def test_a_branch_of_a_branch_is_right_too(monkeypatch):
    """(A branch's arrays are private maps, not shared buffers: its own branches copy them.)"""
    _, shared = _pair(monkeypatch)
    first = branch(shared, [SetState(name="c", t=50, unit=0, value=1.0)])
    second = branch(first, [SetState(name="c", t=200, unit=3, value=-1.0)])
    assert second.c[0, 0, 50, 0] == 1.0 and second.c[0, 0, 200, 3] == -1.0
    assert second.c[0, 0, :50].tobytes() == shared.c[0, 0, :50].tobytes()
    assert second.c[0, 0, 51:200].tobytes() == first.c[0, 0, 51:200].tobytes()


def test_the_recording_is_sealed_against_its_own_descriptor(monkeypatch):
    _, shared = _pair(monkeypatch)
    buf = recorder._shared_source(shared.h)
    with pytest.raises(PermissionError):
        os.pwrite(buf.fd, b"\0\0\0\0", 0)
    with pytest.raises(PermissionError):
        os.ftruncate(buf.fd, 0)
    assert shared.h.tobytes() == _pair(monkeypatch)[0].h.tobytes()


def test_the_shared_memory_goes_with_the_last_trace(monkeypatch):
    gc.collect()
    held = len(recorder._SHARED)
    _, shared = _pair(monkeypatch)
    child = branch(shared, [SetState(name="c", t=5, unit=0, value=0.0)])
    assert len(recorder._SHARED) == held + 4  # gates, c, h, z (x is small: a sealed copy)
    del shared
    gc.collect()
    assert len(recorder._SHARED) == held  # the descriptors are closed ...
    assert child.c[0, 0, 5, 0] == 0.0  # ... and the child's private maps still hold the pages
    assert child.c[0, 0, 6:].tobytes() == branch(_, [SetState(name="c", t=5, unit=0,
                                                               value=0.0)]).c[0, 0, 6:].tobytes()
