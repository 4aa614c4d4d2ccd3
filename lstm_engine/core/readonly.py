"""seal(): read-only arrays that stay read-only, so a recording can never change.

Shared by the weights (spec.py), the traces (trace.py) and the recorders.
"""

from __future__ import annotations

import ctypes
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


def seal_all(arrays: list[np.ndarray]) -> list[np.ndarray]:
    """`seal` of several small arrays with one copy: one immutable bytes object holds them
    all (each 64 bytes on from the last, so aligned as its own would be), and each sealed
    array views its part.

    For a five-word sentence a recording's seven small arrays cost seven copies and seven
    aliases, a tenth of the recording; the shared bytes live as long as any of them.
    """
    parts, offsets, end = [], [], 0
    arrays = [a if a.flags.c_contiguous else np.ascontiguousarray(a) for a in arrays]
    for a in arrays:
        offsets.append(end)
        parts.append(a)
        pad = -a.nbytes % 64
        if pad:
            parts.append(_PAD[:pad])
        end += a.nbytes + pad
    data = b"".join(parts)
    return [
        np.frombuffer(data, a.dtype, a.size, off).reshape(a.shape) if a.size else seal(a)
        for a, off in zip(arrays, offsets)
    ]


_PAD = bytes(64)


def sealed_buffer(shape: tuple[int, ...], dtype) -> tuple[np.ndarray, np.ndarray]:
    """(writable, sealed): one new block of memory, seen as a writable and a sealed array.

    The recorder fills `writable` step by step and then drops it; `sealed`, a
    view of an immutable bytes object, is what the trace keeps. So a finished
    recording is sealed (see `seal`) without the copy that sealing a numpy
    buffer costs: for a 100 MB trace that copy was a sixth of the recording
    time. The bytes object is created here and handed to no one else, so
    writing into it before it is sealed breaks no other reader's assumption
    (it is never hashed, interned or shared). Tiny buffers (under 2 bytes,
    which CPython shares as singletons) are plain copies instead.
    """
    dtype = np.dtype(dtype)
    nbytes = dtype.itemsize
    for n in shape:
        nbytes *= int(n)
    if nbytes < 2:
        writable = np.empty(shape, dtype)
        return writable, _FillLater(writable)
    data = bytes(nbytes)
    address = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value
    raw = (ctypes.c_char * nbytes).from_address(address)
    raw.owner = data  # the writable view keeps the bytes alive as long as it lives
    writable = np.frombuffer(raw, dtype=dtype).reshape(shape)
    sealed = np.frombuffer(data, dtype=dtype).reshape(shape)
    _SEALED[id(sealed)] = sealed
    return writable, sealed


class _FillLater:
    """The sealed side of a tiny buffer: sealed by copy once the writer is done."""

    def __init__(self, writable: np.ndarray):
        self.writable = writable


def finished(sealed) -> np.ndarray:
    """The sealed array of `sealed_buffer`, once its writable view is no longer written."""
    return seal(sealed.writable) if isinstance(sealed, _FillLater) else sealed


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
    if _owned_by_bytes(a):  # the common case (a recording's buffers), without the lookups
        return True
    probe = a
    while isinstance(probe, np.ndarray):
        if _SEALED.get(id(probe)) is probe:
            return True
        probe = probe.base
    return False
