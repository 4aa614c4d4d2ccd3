"""Export a trace (or a corpus) for notebooks and other tools: CSV tables and a JSON document.

Two CSV tables, both with a header row, numbers written so that reading them back gives the
same numbers bit for bit (9 significant digits for float32, 17 for float64; non-finite values
as nan, inf, -inf, which float() and pandas read):

- the unit table at one step (`export_csv(..., t=position)`): one row per unit, the columns
  the debugger's table shows (core/quantities.QUANTITIES: f, i, g, o, c_prev, kept, forgotten,
  written, c, delta_c, tanh_c, h), after `step,unit` (and `name` when units are named);
- one quantity over the whole trace (`export_csv(..., quantity=name)`): one row per step,
  `step,token,u0,u1,…` (and `input` first for a corpus, whose steps count from 1 in each input).

Steps are written as a user sees them, 1..T (the row of the .npz is step − 1).

JSON (`export_json`) is the whole trace as one document, for small traces only: at most
JSON_MAX_NUMBERS numbers (an InputError says so and names the other formats beyond that).
Every file is written through core/files.write_file: atomically, never over an existing file
without `overwrite`, never through a symlink.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

import numpy as np

from .core.errors import InputError
from .core.files import write_file
from .core.quantities import QUANTITIES, resolve
from .core.trace import Trace, step_index
from .select import check_layer_direction, parts

#: The most numbers a JSON export holds (about 20 MB of text); larger traces: npz or csv.
JSON_MAX_NUMBERS = 1_000_000
JSON_FORMAT = "lstm-tui-trace-json"
JSON_VERSION = 1
#: The arrays of a JSON export, in its order (output only when the trace has one).
JSON_ARRAYS = ("x", "h0", "c0", "i", "f", "g", "o", "c", "h", "output")
#: Rows formatted per call when writing a long table.
_ROWS = 4096


def number_format(dtype) -> str:
    """The printf format that round-trips a value of this dtype: %.9g for float32 (and
    narrower), %.17g for float64."""
    return "%.9g" if np.dtype(dtype).itemsize <= 4 else "%.17g"


def _writer(path, write_text, overwrite: bool, exists_hint: str) -> Path:
    """write_file with a text (UTF-8, "\\n") handle: `write_text(fh)` writes the content."""

    def write(fh):
        text = io.TextIOWrapper(fh, encoding="utf-8", newline="")
        try:
            write_text(text)
            text.flush()
        finally:
            text.detach()  # the binary handle stays write_file's to close

    return write_file(path, write, overwrite=overwrite, exists_hint=exists_hint)


def unit_table(source, t: int, layer: int = 0, direction: int = 0) -> tuple[list[str], list[list]]:
    """(header, rows) of the unit table at position t: one row per unit, QUANTITIES' columns
    (h is empty for units past its width when the LSTM projects)."""
    whole, starts, windows = parts(source)
    layer, direction = check_layer_direction(whole, layer, direction)
    t = step_index(t)
    if not 0 <= t < whole.T:
        raise InputError(f"step {t + 1} is outside the trace (1..{whole.T})")
    values = {n: windows.window(n, layer, direction, t, t + 1)[0] for n in QUANTITIES}
    names = whole.meta.get("units") or {}
    header = ["step", "unit", *(["name"] if names else []), *QUANTITIES]
    k = int(np.searchsorted(starts, t, side="right")) - 1
    step = t - int(starts[k]) + 1
    if len(starts) > 1:
        header.insert(0, "input")
    rows = []
    for u in range(whole.hidden_size):
        row = ([k + 1] if len(starts) > 1 else []) + [step, u]
        if names:
            row.append(str(names.get(str(u), "")))
        row += [values[n][u] if u < len(values[n]) else None for n in QUANTITIES]
        rows.append(row)
    return header, rows


def export_csv(
    source, path: str | os.PathLike, *, layer: int = 0, direction: int = 0, t: int | None = None,
    quantity: str | None = None, overwrite: bool = False,
    exists_hint: str = "pass overwrite=True to replace it",
) -> Path:  # fmt: skip
    """Write the unit table at position `t`, or `quantity` over the whole trace, as CSV.

    `source` is a Trace or a Corpus (whose quantities read each input's initial state at its
    first step, and whose rows say which input and which step of it they are).
    """
    if (t is None) == (quantity is None):
        raise InputError("a CSV export is either the unit table at one step (t) or one "
                         "quantity over the whole trace (quantity)")  # fmt: skip
    whole, starts, windows = parts(source)
    layer, direction = check_layer_direction(whole, layer, direction)
    fmt = number_format(whole.c.dtype)
    if t is not None:
        header, rows = unit_table(source, t, layer, direction)

        def write(fh):
            out = csv.writer(fh, lineterminator="\n")
            out.writerow(header)
            for row in rows:
                out.writerow(["" if v is None else fmt % v if isinstance(v, np.floating) else v
                              for v in row])  # fmt: skip

        return _writer(path, write, overwrite, exists_hint)
    try:
        name = resolve(quantity).name
    except KeyError as e:
        raise InputError(str(e).strip("'\"")) from None
    width = whole.out_size if resolve(name).width == "out" else whole.hidden_size
    corpus = len(starts) > 1
    header = (["input"] if corpus else []) + ["step", "token"] + [f"u{u}" for u in range(width)]
    line = ",".join([fmt] * width) + "\n"
    k_of = np.searchsorted(starts, np.arange(whole.T), side="right") - 1
    step_of = np.arange(whole.T) - starts[k_of] + 1

    def write(fh):
        # the text fields through csv (a token "\n" or '"' is quoted), then the numbers
        # formatted a row at a time; `head` ends every row with its "\n", cut before the numbers
        head = io.StringIO()
        out = csv.writer(head, lineterminator="\n")
        out.writerow(header)
        fh.write(head.getvalue())
        for t0 in range(0, whole.T, _ROWS):
            t1 = min(whole.T, t0 + _ROWS)
            block = windows.window(name, layer, direction, t0, t1)
            for r, values in enumerate(block.tolist()):
                pos = t0 + r
                token = "" if whole.tokens is None else whole.tokens[pos]
                head.seek(0)
                head.truncate()
                out.writerow(([int(k_of[pos]) + 1] if corpus else []) + [int(step_of[pos]), token])
                fh.write(head.getvalue()[:-1] + "," + line % tuple(values))

    return _writer(path, write, overwrite, exists_hint)


def _json_numbers(a: np.ndarray):
    """Nested lists of the array's values; nan and ±inf as the strings JSON can hold."""
    if np.isfinite(a).all():
        return a.tolist()
    obj = a.astype(object)
    obj[np.isnan(a)] = "nan"
    obj[np.isposinf(a)] = "inf"
    obj[np.isneginf(a)] = "-inf"
    return obj.tolist()


def json_numbers(trace: Trace) -> int:
    """How many numbers a JSON export of `trace` holds."""
    return sum(getattr(trace, n).size for n in JSON_ARRAYS if getattr(trace, n) is not None)


def export_json(
    trace: Trace, path: str | os.PathLike, *, overwrite: bool = False,
    exists_hint: str = "pass overwrite=True to replace it",
) -> Path:  # fmt: skip
    """Write the trace as one JSON document (small traces only: JSON_MAX_NUMBERS numbers).

    {"format": "lstm-tui-trace-json", "version": 1, "steps", "layers", "directions",
    "hidden_size", "out_size", "dtypes": {name: dtype}, "tokens", "labels",
    "arrays": {name: nested lists in the .npz's shapes, [layer][direction][position][unit]},
    "meta": the trace's meta}.
    Positions are 0-based as in the .npz (a user's step s is position s − 1); non-finite
    numbers are the strings "nan", "inf", "-inf". Each float is written in full (Python's
    repr), so reading it back and casting to its dtype gives the trace's numbers exactly.
    """
    if not isinstance(trace, Trace):
        raise InputError(f"export_json takes a Trace, got {type(trace).__name__}")
    n = json_numbers(trace)
    if n > JSON_MAX_NUMBERS:
        raise InputError(f"the trace holds {n:,} numbers; JSON export is for traces of at "
                         f"most {JSON_MAX_NUMBERS:,} (export it as npz, csv or lstmvis "
                         "instead)")  # fmt: skip
    doc = {
        "format": JSON_FORMAT, "version": JSON_VERSION, "steps": trace.T,
        "layers": trace.num_layers, "directions": trace.num_directions,
        "hidden_size": trace.hidden_size, "out_size": trace.out_size,
        "dtypes": {name: str(getattr(trace, name).dtype) for name in JSON_ARRAYS
                   if getattr(trace, name) is not None},
        "tokens": None if trace.tokens is None else list(trace.tokens),
        "labels": None if trace.labels is None else list(trace.labels),
        "arrays": {name: _json_numbers(getattr(trace, name)) for name in JSON_ARRAYS
                   if getattr(trace, name) is not None},
        "meta": _plain(trace.meta),
    }  # fmt: skip

    def write(fh):
        json.dump(doc, fh, allow_nan=False, ensure_ascii=False)
        fh.write("\n")

    return _writer(path, write, overwrite, exists_hint)


def _plain(v):
    """Trace meta (read-only mappings and lists) as plain JSON data."""
    if isinstance(v, (str, int, bool)) or v is None:
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if hasattr(v, "items"):
        return {str(k): _plain(x) for k, x in v.items()}
    return [_plain(x) for x in v]


def read_json_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays of a JSON export, in its dtype ("nan"/"inf" strings back to numbers): the
    one-function reader a notebook needs, and what the round-trip tests read it with."""
    from .core.files import read_bytes, read_json

    doc = read_json(read_bytes(path, "JSON export").decode("utf-8"), str(path))
    if not isinstance(doc, dict) or doc.get("format") != JSON_FORMAT:
        raise InputError(f"{path}: not an lstm-tui JSON export")
    out = {}
    for name, nested in doc["arrays"].items():
        dtype = np.dtype(doc["dtypes"][name])
        a = np.array(nested, dtype=object)
        out[name] = np.vectorize(float, otypes=[np.float64])(a).astype(dtype) if a.size else \
            np.zeros(a.shape, dtype)  # fmt: skip
    return out
