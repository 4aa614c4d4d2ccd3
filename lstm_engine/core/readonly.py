"""seal(): read-only arrays that stay read-only, so a recording can never change.

Shared by the weights (spec.py), the traces (trace.py) and the recorders.
"""

from __future__ import annotations

import weakref

import numpy as np

#: The read-only aliases `seal` made, by id: arrays viewing one of these need no copy.
_SEALED: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def seal(a: np.ndarray, *, freeze_owner: bool = True) -> np.ndarray:
    """A read-only alias of the C-contiguous array `a` that cannot be made writable again.

    `flags.writeable = False` alone is a request: numpy lets anyone set it back
    on an array that owns its memory, and a view of a writable buffer writes
    through. The alias reads `a`'s memory through a read-only memoryview, so it
    and every view of it refuse `flags.writeable = True`. With `freeze_owner`
    `a` itself is frozen too; the Recorder passes False because it keeps
    writing new steps past the end of what its traces cover.
    """
    if freeze_owner and a.flags.writeable:
        a.flags.writeable = False
    alias = np.asarray(memoryview(a).toreadonly())
    _SEALED[id(alias)] = alias
    return alias


def _is_sealed(a: np.ndarray) -> bool:
    """True when `a` is (a view of) an alias made by `seal`: nobody can write through it."""
    while isinstance(a, np.ndarray):
        if _SEALED.get(id(a)) is a:
            return True
        a = a.base
    return False
