"""The headless what-if commands: `record … --edit EDIT` (save a branch) and `diff A B`.

    lstm-tui record MODEL [--text … | --input …] --edit EDIT [--edit EDIT …] -o BRANCH.npz
    lstm-tui record TRACE.npz --edit EDIT … -o BRANCH.npz      (a recording branches too)
    lstm-tui diff A B [--text … | --input … | --example N] [--json] [--tol X]

Edits are written in the watch language's names with the screen's step numbers
(`c[11] = 0 at 6`, `f[3] = 1 from 6`, `ablate 11 from 6`, `token 6 = Spain`,
`L2.rev.h[0] = 0.5 at 4`); the engine's parser (`lstm_engine.parse_edit`) reads them,
and a bad one is one error line with the edit and a caret under the problem. `diff`
compares two traces, or two models on one input (a `.pt` against its ONNX export),
and exits like diff(1): 0 when they agree, 1 when they diverge, 2 on an error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .cli import PROG, UsageError, _add_model_args, _layer_number, _Parser, _save_trace
from .text import display, safe_line

EXIT_SAME, EXIT_DIFFERENT, EXIT_ERROR = 0, 1, 2


# --- record --edit
def add_edit_args(record: argparse.ArgumentParser) -> None:
    """`record`'s what-if options: the edits, and the layer and direction an edit without a
    prefix applies to."""
    record.add_argument("--edit", action="append", metavar="EDIT", default=[],
                        help="a what-if edit, e.g. 'c[11] = 0 at 6', 'f[3] = 1 from 6', "
                        "'ablate 11 from 6', 'token 6 = Spain' (steps as on screen, 1..T); "
                        "repeat for several; the trace saved is the branch")  # fmt: skip
    record.add_argument("--layer", type=_layer_number, default=1, metavar="N",
                        help="the layer (from 1, as on screen) of edits without an L prefix")
    record.add_argument("--direction", choices=("forward", "reverse"), default=None,
                        help="the direction of edits without a direction prefix "
                        "(default the LSTM's first)")  # fmt: skip


class EditSyntaxError(Exception):
    """An --edit that does not parse: the error line and the caret lines under the edit."""

    def __init__(self, lines: list[str]):
        super().__init__(lines[0])
        self.lines = lines


def _direction_index(trace, name: str | None) -> int:
    if name is None:
        return 0
    for d in range(trace.num_directions):
        if trace.reads_reversed(d) == (name == "reverse"):
            return d
    raise UsageError(f"--direction {name}: this LSTM has no {name} direction")


def parse_edits(trace, texts, *, layer: int = 1, direction: str | None = None) -> list:
    """The --edit texts as edits of `trace` (TokenReplacement for `token t = word`)."""
    import lstm_engine

    if layer > trace.num_layers:
        raise UsageError(f"--layer {layer}: the LSTM has layers 1..{trace.num_layers}")
    d = _direction_index(trace, direction)
    edits = []
    for text in texts:
        try:
            edits.append(lstm_engine.parse_edit(text, trace, layer=layer - 1, direction=d))
        except lstm_engine.WatchError as e:
            shown, caret = e.caret_lines()
            raise EditSyntaxError([f"--edit {safe_line(repr(text))}: {safe_line(str(e))}",
                                   f"  {safe_line(shown)}", f"  {safe_line(caret)}"]) from None
    return edits


def record_branch(args, opened) -> int:
    """`record … --edit`: the opened trace branched with the edits, saved with its lineage."""
    import lstm_engine

    from .cli import _fail

    try:
        edits = parse_edits(opened.trace, args.edit, layer=args.layer, direction=args.direction)
    except EditSyntaxError as e:
        _fail(e.lines[0])
        sys.stderr.write("\n".join(e.lines[1:]) + "\n")
        return EXIT_ERROR
    child = opened.branch(edits)
    _save_trace(child, Path(args.output), args.force, args.compress)
    parent = opened.trace
    source = "the model" if opened.model is not None else "the recording"
    sys.stdout.write(f"recorded a branch of {parent.T} steps from {safe_line(args.model)} → "
                     f"{safe_line(args.output)}\n")  # fmt: skip
    sys.stdout.write(f"parent {parent.identity[:19]}… ({source}), edits:\n")
    for e in (*parent.edits, *edits):  # a token as the user wrote it, not its embedding row
        sys.stdout.write(f"  {safe_line(lstm_engine.format_edit(e, parent))}\n")
    if child.output_not_recomputed:
        sys.stdout.write(f"note: {safe_line(child.output_not_recomputed)}\n")
    elif child.output is not None and parent.output is not None and child.labels:
        before, after = parent.output.argmax(axis=1), child.output.argmax(axis=1)
        changed = (before != after).nonzero()[0]
        if not changed.size:
            sys.stdout.write("the top prediction is the same at every step\n")
        else:
            first = int(changed[0])
            sys.stdout.write(f"the top prediction first changes at step {first + 1}: "
                             f"{display(parent.labels[before[first]])} → "
                             f"{display(child.labels[after[first]])}\n")  # fmt: skip
    return 0


# --- diff
def diff_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=f"{PROG} diff", description="Compare two traces, or two models on one "
                "input (a model and its export), step by step, unit by unit and quantity by "
                "quantity: the first divergence beyond a tolerance (step, layer, direction and "
                "the gates that differ), the units that differ most, and where the top "
                "prediction changes. Exit status 0 if they agree, 1 if they diverge, 2 on an "
                "error.")  # fmt: skip
    p.add_argument("a", metavar="A", help="a trace (.npz) or a model")
    _add_model_args(p)  # B (as `model`), the input both models read, --trust, --lstm (for A)
    for action in p._actions:  # the shared MODEL positional is B here
        if action.dest == "model":
            action.metavar, action.help = "B", "a trace (.npz) or a model, compared with A"
    p.add_argument("--lstm-b", "--node-b", dest="lstm_b", metavar="NAME",
                   help="which LSTM of B to trace (an ONNX export names its nodes "
                   "NAME_l0, …); default the first")  # fmt: skip
    p.add_argument("--tol", type=_tolerance, default=None, metavar="X",
                   help="differences up to X are agreement (default 1e-5 for float32, "
                   "1e-10 for float64)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--top", type=int, default=5, metavar="K", help="units listed per quantity")
    return p


def _tolerance(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {s!r}") from None
    if not v >= 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"the tolerance must be a finite number 0 or more, "
                                         f"got {s}")  # fmt: skip
    return v


def cmd_diff(args) -> int:
    import lstm_engine

    a, b = lstm_engine.open_pair(
        args.a, args.model, text=args.text, input_path=args.input, example=args.example,
        trust=args.trust, lstm=args.lstm, lstm_b=args.lstm_b, batch_index=args.batch_index,
    )  # fmt: skip
    d = a.diff(b, tol=args.tol)
    if args.json:
        report = {"a": str(args.a), "b": str(args.model), **d.to_json(max(args.top, 0))}
        sys.stdout.write(json.dumps(report, allow_nan=False) + "\n")  # ASCII: every string escaped
    else:
        sys.stdout.write(f"a: {safe_line(args.a)}\nb: {safe_line(args.model)}\n")
        for line in d.report_lines(max(args.top, 0)):
            sys.stdout.write(safe_line(line) + "\n")
    return EXIT_DIFFERENT if d.diverged else EXIT_SAME
