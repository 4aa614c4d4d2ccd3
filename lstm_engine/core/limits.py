"""Size limits for what a file may make lstm-tui read or build, each one the user can raise.

A small file can describe a huge thing: a 1 KB state_dict with a stride-0
tensor of 10^9 rows, a 3 KB pickle of shared lists with 2^26 leaves, a zip
member whose header promises 3 GiB, 150 MB of JSON compressed to 600 KB.
Every reader checks the declared size against one of these limits *before*
it materialises anything, and the refusal says how much would be needed and
which environment variable raises the limit:

    LSTM_TUI_MAX_BYTES       bytes read from one file or one zip member     (default 4G)
    LSTM_TUI_MAX_MEMORY      bytes of arrays built from one file            (default 4G,
                             and never more than this machine's memory unless set)
    LSTM_TUI_MAX_JSON_BYTES  size of one JSON document (trace meta)         (default 16M)
    LSTM_TUI_MAX_DEPTH       nesting depth of JSON and nested lists         (default 64)
    LSTM_TUI_MAX_ITEMS       leaves in one nested list (an example)         (default 10M)

Values are whole numbers of bytes (or items), optionally with a suffix K, M,
G or T (powers of 1024): LSTM_TUI_MAX_MEMORY=16G. The variables are read at
each check, so a test or a long-running front end can change them.
"""

from __future__ import annotations

import os
import re
from typing import Any

from .errors import EngineError, LoadError

_K = 1024
#: (environment variable, default) for each limit
MAX_BYTES = ("LSTM_TUI_MAX_BYTES", 4 * _K**3)
MAX_MEMORY = ("LSTM_TUI_MAX_MEMORY", 4 * _K**3)
MAX_JSON_BYTES = ("LSTM_TUI_MAX_JSON_BYTES", 16 * _K**2)
MAX_DEPTH = ("LSTM_TUI_MAX_DEPTH", 64)
MAX_ITEMS = ("LSTM_TUI_MAX_ITEMS", 10_000_000)

_SUFFIX = {"": 1, "K": _K, "M": _K**2, "G": _K**3, "T": _K**4}


class LimitError(EngineError):
    """An environment variable that should hold a size does not (the user's setting)."""


class TooLargeError(LoadError):
    """A file declares more than a limit allows; the message says how much, and how to raise it."""


def _limit(var_default: tuple[str, int]) -> int:
    var, default = var_default
    raw = os.environ.get(var, "").strip()
    if not raw:
        return default
    m = re.fullmatch(r"(\d+)\s*([KMGT]?)(?:i?B)?", raw, re.IGNORECASE)
    if not m:
        raise LimitError(
            f"{var}={raw!r} is not a size (a whole number, optionally with K, M, G or T)"
        )
    return int(m.group(1)) * _SUFFIX[m.group(2).upper()]


def max_bytes() -> int:
    """Bytes one file (or zip member) may hold before it is refused unread (LSTM_TUI_MAX_BYTES)."""
    return _limit(MAX_BYTES)


def machine_memory() -> int | None:
    """This machine's physical memory in bytes, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def max_memory() -> int:
    """Bytes of arrays one file may make us build (LSTM_TUI_MAX_MEMORY).

    Unset, the default is also capped at the machine's physical memory: a
    file that needs more than the machine has is refused whatever the default.
    """
    limit = _limit(MAX_MEMORY)
    if not os.environ.get(MAX_MEMORY[0], "").strip():
        ram = machine_memory()
        if ram:
            limit = min(limit, ram)
    return limit


def max_json_bytes() -> int:
    """Size of one JSON document (LSTM_TUI_MAX_JSON_BYTES)."""
    return _limit(MAX_JSON_BYTES)


def max_depth() -> int:
    """Nesting depth of JSON or nested lists (LSTM_TUI_MAX_DEPTH)."""
    return _limit(MAX_DEPTH)


def max_items() -> int:
    """Leaves in one nested list, a shared sublist counted each time (LSTM_TUI_MAX_ITEMS)."""
    return _limit(MAX_ITEMS)


def human_bytes(n: int) -> str:
    """1536 -> '1.5 KiB'; whole bytes below 1 KiB."""
    if n < _K:
        return f"{n} bytes"
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        n /= _K
        if n < _K or unit == "EiB":
            return f"{n:.1f} {unit}"
    raise AssertionError("unreachable")


def _raise_hint(var: str, needed: int) -> str:
    amount = f"{-(-needed // _K**2)}M" if needed >= _K**2 else str(needed)
    return f"set {var}={amount} to allow it"


def check_memory(nbytes: int, what: str, *, limit: int | None = None) -> int:
    """`nbytes` if building `what` fits the memory limit; else TooLargeError saying how much.

    `what` names the thing and its file ("x.pt: embedding.weight [1000000000, 8] float32").
    """
    limit = max_memory() if limit is None else limit
    if nbytes > limit:
        ram = machine_memory()
        more = f", more than this machine has ({human_bytes(ram)})" if ram and nbytes > ram else ""
        raise TooLargeError(
            f"{what} would need {human_bytes(nbytes)} of memory{more}; the limit is "
            f"{human_bytes(limit)} ({_raise_hint(MAX_MEMORY[0], nbytes)})"
        )
    return nbytes


def check_array_size(shape: Any, itemsize: int, what: str, *, limit: int | None = None) -> int:
    """Bytes a dense array of `shape` and `itemsize` would take, checked against the memory limit.

    Call it with the *declared* shape (a tensor's .shape and .element_size(),
    an .npy header's shape and dtype.itemsize) before anything is copied or
    made contiguous: a stride-0 view of 10^9 rows is 4 bytes on disk and
    32 GB once materialised. Negative or non-integer dimensions are a
    TooLargeError too (a damaged header). Returns the byte count.
    """
    try:
        dims = [int(d) for d in shape]
    except (TypeError, ValueError):
        raise TooLargeError(f"{what}: shape {shape!r} is not a list of sizes") from None
    if any(d < 0 for d in dims):
        raise TooLargeError(f"{what}: shape {tuple(dims)} has a negative size")
    numel = 1
    for d in dims:
        numel *= d  # Python ints: no overflow, 10^12 x 10^12 is refused, not wrapped
    return check_memory(numel * int(itemsize), f"{what} {list(dims)}", limit=limit)


def check_nested(obj: Any, what: str, *, max_leaves: int | None = None,
                 depth: int | None = None) -> int:  # fmt: skip
    """Leaves in a nested list/tuple (counting a shared sublist each time it appears), checked.

    A pickle can hold one list referenced 2 times from a list referenced 2
    times... 26 levels down: 3 KB on disk, 2^26 leaves once flattened by
    np.asarray or json.dumps. This counts without flattening (each distinct
    sublist once, memoised by id) and refuses more than `max_leaves`
    (LSTM_TUI_MAX_ITEMS) or nesting deeper than `depth` (LSTM_TUI_MAX_DEPTH),
    and a list that contains itself. Returns the leaf count.
    """
    max_leaves = max_items() if max_leaves is None else max_leaves
    depth = max_depth() if depth is None else depth
    memo: dict[int, int] = {}
    active: set[int] = set()

    def count(x: Any, level: int) -> int:
        if not isinstance(x, (list, tuple)):
            return 1
        key = id(x)
        if key in memo:
            return memo[key]
        if key in active:
            raise TooLargeError(f"{what}: a list that contains itself")
        if level >= depth:
            raise TooLargeError(
                f"{what}: nested more than {depth} levels deep (raise {MAX_DEPTH[0]} to allow more)"
            )
        active.add(key)
        n = 0
        for item in x:
            n += count(item, level + 1)
            if n > max_leaves:
                break
        active.discard(key)
        memo[key] = n
        return n

    n = count(obj, 0)
    if n > max_leaves:
        raise TooLargeError(
            f"{what}: more than {max_leaves:,} values in one nested list "
            f"(raise {MAX_ITEMS[0]} to allow more)"
        )
    return n


__all__ = [
    "LimitError", "TooLargeError", "check_array_size", "check_memory", "check_nested",
    "human_bytes", "machine_memory", "max_bytes", "max_depth", "max_items", "max_json_bytes",
    "max_memory",
]  # fmt: skip
