"""seal(): read-only arrays that stay read-only, so a recording can never change.

Shared by the weights (spec.py), the traces (trace.py) and the recorders.
"""

from __future__ import annotations

import weakref

import numpy as np

#: The read-only aliases `seal` made, by id: arrays viewing one of these need no copy.
_SEALED: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def seal(a: np.ndarray, *, freeze_owner: bool = True) -> np.ndarray:
    """A read-only array with `a`'s values that cannot be made writable again.

    `flags.writeable = False` alone is a request: numpy lets anyone set it back
    on an array that owns its memory, and a read-only view of a writable
    buffer still leads to it (`view.base.obj` is the writable owner). So a
    sealed array holds its values in an immutable `bytes` object: neither it
    nor any view of it nor its base can be made writable. That costs one copy
    of `a`, made when a recording is finished, never per step.

    `freeze_owner=False` is for the Recorder, which keeps writing new steps
    past the end of what the traces it hands out cover: those get a read-only
    alias of its live buffers instead (no copy per feed), which refuses writes
    but whose owner a determined caller can still reach.
    """
    if freeze_owner and not a.dtype.hasobject:  # objects: refused by the trace's checks anyway
        if _owned_by_bytes(a) and a.flags.c_contiguous:
            alias = a
        else:
            data = bytes(memoryview(np.ascontiguousarray(a)))
            alias = np.frombuffer(data, dtype=a.dtype).reshape(a.shape)
    else:
        alias = np.asarray(memoryview(a).toreadonly())
    _SEALED[id(alias)] = alias
    return alias


def _owned_by_bytes(a: np.ndarray) -> bool:
    """Is `a` a view whose memory is an immutable bytes object (a file read by read_npz)?"""
    base = a
    while isinstance(base, np.ndarray):
        base = base.base
    if isinstance(base, memoryview):
        base = base.obj
    return isinstance(base, bytes)


def _is_sealed(a: np.ndarray) -> bool:
    """True when nobody can write through `a`: a view of a `seal` alias or of bytes."""
    probe = a
    while isinstance(probe, np.ndarray):
        if _SEALED.get(id(probe)) is probe:
            return True
        probe = probe.base
    return _owned_by_bytes(a)
