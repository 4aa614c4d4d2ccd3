"""`lstm-tui find`: grep for steps, with watch expressions instead of patterns.

    lstm-tui find MODEL|TRACE [--text … | --input … | --example N]
                  --where EXPR [--where EXPR …] [--layer L] [--direction fwd|rev] [--json]

One line per matching step, `t=<step>` first (numbered as on screen, 1..T, so
a trace file's index is step − 1), then the token, then each value the
expressions compare there. Exit status as grep's: 0 if a step matched, 1 if
none did, 2 for an error (a bad expression prints the caret under it).
Evaluation is the engine's (lstm_engine.compile_watch), one vectorised pass
per expression, so it agrees with the debugger's watches step for step.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

from .cli import PROG, UsageError, _add_model_args, _layer_number, _Parser
from .text import display, safe_line

EXIT_MATCH, EXIT_NONE, EXIT_ERROR = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=f"{PROG} find",
        description="Print the steps of MODEL's trace (or of a recorded TRACE.npz) where watch "
        "expressions hold, one line per step: t=<step> (1..T, as on screen), the token, then "
        "each value the expressions compare. Exit 0 if a step matched, 1 if none did, 2 on an "
        "error.",
        epilog='Examples: --where "f[3] < 0.1"   --where "abs(delta[12]) > 0.5"   '
        "--where 'token == \"France\"'   --where \"pred != pred_prev\"   "
        "--where \"any(isnan(c))\"   --where \"L1.rev.o[0] > 0.9\"   "
        "--where 'max(abs(delta)) > 2 and t > 10'   --where 'p[\"French\"] > 0.5'. "
        "The README's 'Watch expressions' section describes the language.",
    )  # fmt: skip
    _add_model_args(p)
    p.add_argument("--where", action="append", required=True, metavar="EXPR",
                   help="a watch expression; with several, a step matches only if every one "
                   "holds there")  # fmt: skip
    p.add_argument("--layer", type=_layer_number, default=1, metavar="L",
                   help="the layer unscoped names read, numbered from 1 as on screen (default 1)")
    p.add_argument("--direction", choices=("fwd", "rev"), default=None,
                   help="the direction unscoped names read: fwd (left to right) or rev "
                   "(right to left); default the first the LSTM has")  # fmt: skip
    p.add_argument("--json", action="store_true",
                   help='one JSON object per matching step: {"t", "token", "values"} '
                   '(non-finite numbers as the strings "nan", "inf", "-inf")')  # fmt: skip
    return p


def _direction_index(trace, name: str | None) -> int:
    if name is None:
        return 0
    for d in range(trace.num_directions):
        if trace.reads_reversed(d) == (name == "rev"):
            return d
    reads = "right to left" if name == "fwd" else "left to right"
    raise UsageError(f"--direction {name}: this LSTM reads {reads} only")


def _shown(v) -> str:
    if isinstance(v, bool) or v is None:
        return "—" if v is None else str(v)
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, str):
        return display(v)
    return str(v)


def _json_value(v):
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else "inf" if v > 0 else "-inf"
    return v


def match_rows(watches, trace, positions) -> list[dict]:
    """For each matching position: its step (1..T), token and every compared value, in order."""
    rows = []
    for pos in positions:
        values: dict = {}
        for w in watches:
            for label, v in w.values_at(int(pos)).items():
                if label not in ("token", "t"):  # each line starts with both
                    values.setdefault(label, v)
        token = None if trace.tokens is None else trace.tokens[int(pos)]
        rows.append({"t": int(pos) + 1, "token": token, "values": values})
    return rows


def row_line(row: dict) -> str:
    """One match as `t=5  France  f[3]=0.0734`: everything from the file shown safely."""
    parts = [f"t={row['t']}"]
    if row["token"] is not None:
        parts.append(display(row["token"]))
    parts += [f"{safe_line(label)}={_shown(v)}" for label, v in row["values"].items()]
    return safe_line("  ".join(parts))


def cmd_find(args) -> int:
    from lstm_engine import WatchError, compile_watch, open_and_trace, output_kind

    opened = open_and_trace(
        args.model, text=args.text, input_path=args.input, example=args.example,
        trust=args.trust, lstm=args.lstm, batch_index=args.batch_index,
    )  # fmt: skip
    trace = opened.trace
    if args.layer > trace.num_layers:
        have = "layer 1 only" if trace.num_layers == 1 else f"layers 1..{trace.num_layers}"
        raise UsageError(f"--layer {args.layer}: the LSTM has {have}")
    layer, direction = args.layer - 1, _direction_index(trace, args.direction)
    kind = output_kind(trace, opened.model)
    watches = []
    for text in args.where:
        try:
            w = compile_watch(text, trace, layer, direction, output_kind=kind)
            w.mask  # a value that is not a condition is refused here, before any output
        except WatchError as e:
            _caret_error(e)
            return EXIT_ERROR
        watches.append(w)
    mask = watches[0].mask
    for w in watches[1:]:
        mask = mask & w.mask
    positions = mask.nonzero()[0]
    rows = match_rows(watches, trace, positions)
    out = sys.stdout
    try:
        for row in rows:
            if args.json:
                row = {**row, "values": {k: _json_value(v) for k, v in row["values"].items()}}
                out.write(json.dumps(row, allow_nan=False) + "\n")
            else:
                out.write(row_line(row) + "\n")
        out.flush()
    except BrokenPipeError:  # `find … | head`: the reader has what it wanted, as with grep
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
    return EXIT_MATCH if rows else EXIT_NONE


def _caret_error(e) -> None:
    """The error line, then the expression and a caret under the problem, as a compiler shows it."""
    line, caret = e.caret_lines()
    sys.stderr.write(f"{PROG}: error: {safe_line(' '.join(str(e).split()))}\n"
                     f"  {safe_line(line)}\n  {caret}\n")  # fmt: skip
