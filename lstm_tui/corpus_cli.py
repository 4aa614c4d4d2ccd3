"""`lstm-tui export`, `lstm-tui match` and `lstm-tui record --text-file`: corpora and exports.

    lstm-tui record MODEL --text-file FILE [--whole] -o CORPUS.npz [--force]
    lstm-tui match CORPUS.npz|TRACE|MODEL (--units 11,14 | --span [K:]S-E) [--threshold 0.3]
                   [--left 1] [--right 0] [--quantity c] [--layer L] [--direction fwd|rev]
                   [--length N] [--min-length 2] [--limit 50] [--context 5] [--json]
    lstm-tui export TRACE|CORPUS|MODEL [--text …] --to csv|json|npz|lstmvis -o PATH [--force]
                   [--step S | --step K:S | --quantity NAME] [--layer L] [--direction fwd|rev]

Steps and inputs are numbered as on screen (from 1), units from 0, layers from 1. `match`
exits as grep does: 0 if something matched, 1 if nothing did, 2 on an error.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time

from .cli import (
    PROG, UsageError, _add_model_args, _layer_number, _names_given, _non_negative, _Parser,
    _same_file, _whole_number,
)  # fmt: skip
from .text import display, safe_line

EXIT_MATCH, EXIT_NONE = 0, 1
#: What `export --to` writes.
FORMATS = ("csv", "json", "npz", "lstmvis")


def add_text_file_args(p: argparse.ArgumentParser) -> None:
    """--text-file and --whole, for the debugger and for `record`."""
    p.add_argument("--text-file", metavar="FILE",
                   help="a corpus: one input per line of FILE (UTF-8; blank lines skipped), each "
                   "recorded from the model's initial state")  # fmt: skip
    p.add_argument("--whole", action="store_true",
                   help="with --text-file: the whole file as one input (for a character model)")


def check_text_file_args(args) -> None:
    """--text-file excludes the other inputs; --whole needs --text-file."""
    if getattr(args, "whole", False) and args.text_file is None:
        raise UsageError("--whole goes with --text-file (the whole file as one input)")
    if args.text_file is None:
        return
    for flag, given in (("--text", args.text), ("--input", args.input), ("--example", args.example),
                        ("--edit", getattr(args, "edit", None)),
                        ("--compare", getattr(args, "compare", None)),
                        ("--compare-model", getattr(args, "compare_model", None))):  # fmt: skip
        if given:
            raise UsageError(f"argument {flag}: not allowed with argument --text-file")


def _direction_index(trace, name: str | None) -> int:
    from .find import _direction_index as find_direction  # the one reading of --direction

    return find_direction(trace, name)


def _open_source(args):
    """(the trace, the Corpus or the trace itself to select and match in, the model or None)."""
    from lstm_engine import Corpus, open_and_trace

    opened = open_and_trace(
        args.model, text=args.text, input_path=args.input, example=args.example,
        trust=args.trust, lstm=args.lstm, batch_index=args.batch_index, **_names_given(args),
    )  # fmt: skip
    trace = opened.trace
    source = Corpus(trace) if "corpus" in trace.meta else trace
    return trace, source, opened.model


def _place(args, trace) -> tuple[int, int]:
    if args.layer > trace.num_layers:
        have = "layer 1 only" if trace.num_layers == 1 else f"layers 1..{trace.num_layers}"
        raise UsageError(f"--layer {args.layer}: the LSTM has {have}")
    return args.layer - 1, _direction_index(trace, args.direction)


# --- lstm-tui record MODEL --text-file FILE -o CORPUS.npz
class _Progress:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal, at most ten
    times a second."""

    def __init__(self, total_steps: int, lengths) -> None:
        self.live = sys.stderr.isatty()
        self.total, self.lengths, self.steps, self.shown = total_steps, lengths, 0, 0.0

    def __call__(self, done: int, total: int) -> None:
        self.steps += self.lengths[done - 1]
        now = time.monotonic()
        if not self.live or (now - self.shown < 0.1 and done < total):
            return
        self.shown = now
        width = 30
        fill = round(width * self.steps / max(1, self.total))
        sys.stderr.write(f"\r{PROG}: recording [{'#' * fill}{'.' * (width - fill)}] "
                         f"{done}/{total} inputs, {self.steps:,} steps")  # fmt: skip
        sys.stderr.flush()

    def clear(self) -> None:
        if self.live and self.shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def cmd_record_corpus(args) -> int:
    """Record every input of --text-file into one corpus file; Ctrl-C keeps whole inputs."""
    from pathlib import Path

    from lstm_engine import (
        apply_names, is_trace_file, load, read_text_inputs, record_corpus, require_regular_file,
    )  # fmt: skip

    check_text_file_args(args)
    model_path = require_regular_file(args.model, "model file")
    out = Path(args.output)
    if _same_file(out, model_path) or _same_file(out, args.text_file):
        raise UsageError(f"{safe_line(out)} is one of the inputs; write the corpus to another file")
    texts = read_text_inputs(args.text_file, whole=args.whole)
    if is_trace_file(model_path):
        raise UsageError(f"{safe_line(args.model)}: is a recorded trace, not a model; a corpus "
                         "is recorded from a model")  # fmt: skip
    model = load(model_path, trust=args.trust, lstm=args.lstm)
    if _names_given(args):
        apply_names(model, **_names_given(args))
    lengths = [len(model.tokenize(t)) for t in texts]  # also refuses an unknown word up front
    compress = getattr(args, "compress", False)
    if compress and out.exists() and not args.force:  # before the recording, not after it
        raise UsageError(f"{safe_line(out)} already exists; not overwriting it "
                         "(pass --force to replace it)")  # fmt: skip
    bar = _Progress(sum(lengths), lengths)
    try:
        # uncompressed, the corpus is recorded straight into its file; --compress records it
        # (into memory, or a temporary file when large) and then writes it compressed
        corpus = record_corpus(model, texts, progress=bar, path=None if compress else out,
                               overwrite=args.force, exists_hint="pass --force to replace it")
    finally:
        bar.clear()
    if compress:
        from .cli import _save_trace

        _save_trace(corpus.whole, out, args.force, compress=True)
    n, steps = len(corpus), corpus.whole.T
    what = f"{n} input{'s' if n != 1 else ''} ({steps:,} steps)"
    sys.stdout.write(f"recorded {what} of {safe_line(model.lstm_name or 'the LSTM')} "
                     f"[{model.spec.summary()}] from {safe_line(args.model)} → {safe_line(out)}\n")  # fmt: skip
    for w in corpus.whole.meta.get("warnings") or ():
        sys.stdout.write(f"warning: {safe_line(w)}\n")
    if not corpus.complete:
        sys.stderr.write(f"{PROG}: interrupted: kept the first {n} of {corpus.planned} inputs "
                         f"in {safe_line(out)} (a valid corpus of those)\n")  # fmt: skip
        return 130
    return 0


# --- lstm-tui match
def match_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=f"{PROG} match",
        description="Find where units switch on together, as LSTMVis's match does: the places "
        "in a corpus (or one trace) where the given units are on (tanh of the value ≥ θ) over a "
        "span and off just before it, ranked by the most of them on, then the fewest other units "
        "on, then the longest span. One line per match: its input and steps (from 1), the units "
        "on, and the tokens around it. Exit 0 if something matched, 1 if nothing did, 2 on an "
        "error.",
        epilog="Examples: lstm-tui match corpus.npz --units 11,14   "
        "lstm-tui match corpus.npz --span 3:5-9 --threshold 0.5   "
        "lstm-tui match MODEL --text '…' --units 3 --quantity h --json",
    )  # fmt: skip
    _add_model_args(p)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--units", metavar="U,U,…", help="the units to match, numbered from 0")
    which.add_argument("--span", metavar="[K:]S-E",
                       help="select the units as LSTMVis does, from steps S..E (of input K in a "
                       "corpus): those on over the span and off on its padding")  # fmt: skip
    p.add_argument("--threshold", type=float, default=0.3, metavar="θ",
                   help="a unit is on where tanh of its value is at least θ (default 0.3)")
    p.add_argument("--transform", choices=("tanh", "raw"), default="tanh",
                   help="compare tanh of the value (default, as LSTMVis) or the value itself")
    p.add_argument("--left", type=_non_negative, default=1, metavar="N",
                   help="steps read just before the span on which a unit must be off (default 1)")
    p.add_argument("--right", type=_non_negative, default=0, metavar="N",
                   help="steps read just after the span on which a unit must be off (default 0)")
    p.add_argument("--quantity", default="c", metavar="NAME",
                   help="what is compared: c (default, as LSTMVis shows states), h, a gate, or "
                   "any other quantity of the registry (delta, kept, written, …)")  # fmt: skip
    p.add_argument("--layer", type=_layer_number, default=1, metavar="L",
                   help="the layer, from 1 (default 1)")
    p.add_argument("--direction", choices=("fwd", "rev"), default=None,
                   help="the direction (default the first the LSTM has)")
    p.add_argument("--length", type=_positive_count, default=None, metavar="N",
                   help="only spans of exactly N steps")
    p.add_argument("--min-length", type=_positive_count, default=2, metavar="N",
                   help="the shortest span otherwise (default 2, as LSTMVis)")
    p.add_argument("--limit", type=_non_negative, default=50, metavar="N",
                   help="at most N matches (default 50; 0 for all)")
    p.add_argument("--context", type=_non_negative, default=5, metavar="N",
                   help="tokens of context shown on each side (default 5)")
    p.add_argument("--json", action="store_true",
                   help='one JSON object per match: {"rank", "input", "first_step", "last_step", '
                   '"length", "on", "extra", "before", "span", "after"}')  # fmt: skip
    return p


def _positive_count(s: str) -> int:
    return _whole_number(s, 1, "must be 1 or more")


def _units(text: str) -> list[int]:
    try:
        units = [int(u) for u in text.replace(" ", "").split(",") if u != ""]
    except ValueError:
        raise UsageError(f"--units {safe_line(text)}: expected unit numbers separated by commas, "
                         "as in --units 11,14") from None  # fmt: skip
    if not units:
        raise UsageError("--units: give at least one unit number")
    return units


_SPAN = re.compile(r"(?:(\d+):)?(\d+)(?:-(\d+))?")


def _span(text: str, source, whole) -> tuple[int, int]:
    """Positions [start, stop) of the whole for `[K:]S-E` (input K's steps S..E, from 1)."""
    m = _SPAN.fullmatch(text.replace(" ", ""))
    if not m:
        raise UsageError(f"--span {safe_line(text)}: expected S-E (steps, from 1) or K:S-E "
                         "(steps of input K), as in --span 3:5-9")  # fmt: skip
    k = int(m.group(1)) if m.group(1) else None
    first, last = int(m.group(2)), int(m.group(3) or m.group(2))
    return _positions(source, whole, k, first, last, "--span")


def _positions(source, whole, k, first, last, flag) -> tuple[int, int]:
    from lstm_engine import Corpus

    if isinstance(source, Corpus):
        if k is None:
            raise UsageError(f"{flag}: this is a corpus of {len(source)} inputs; say which with "
                             "K:S (input K, from 1)")  # fmt: skip
        if not 1 <= k <= len(source):
            raise UsageError(f"{flag}: no input {k} (the corpus has 1..{len(source)})")
        start, stop = source.bounds(k - 1)
    else:
        if k not in (None, 1):
            raise UsageError(f"{flag}: a single trace has one input (1)")
        start, stop = 0, whole.T
    n = stop - start
    if not 1 <= first <= last <= n:
        raise UsageError(f"{flag}: steps {first}..{last} are outside 1..{n}")
    return start + first - 1, start + last


def _joined(tokens) -> str:
    """Tokens as text: characters run together (a character model), words with spaces."""
    sep = "" if all(len(t) == 1 for t in tokens) else " "
    return sep.join(tokens)


def match_rows(source, found, context: int) -> list[dict]:
    """Each match as the user reads it: input and steps from 1, units, tokens around it."""
    from lstm_engine import Corpus, span_context

    corpus = isinstance(source, Corpus)
    rows = []
    for rank, m in enumerate(found, 1):
        offset = source.bounds(m.input)[0] if corpus else 0
        around = span_context(source, m.start, m.stop, before=context, after=context)
        before, span, after = around if around is not None else (None, None, None)
        rows.append({"rank": rank, "input": m.input + 1, "first_step": m.start - offset + 1,
                     "last_step": m.stop - offset, "length": m.length, "on": list(m.on),
                     "extra": list(m.extra),
                     "before": None if before is None else list(before),
                     "span": None if span is None else list(span),
                     "after": None if after is None else list(after)})  # fmt: skip
    return rows


def match_line(row: dict, of: int, corpus: bool) -> str:
    """One match as `3. input 2  steps 5-8  on 2/2 [11 14]  extra 1 [7]  … (the [cat] sat) …`."""
    where = f"input {row['input']}  " if corpus else ""
    parts = [f"{row['rank']}.", f"{where}steps {row['first_step']}-{row['last_step']}",
             f"on {len(row['on'])}/{of} [{' '.join(map(str, row['on']))}]",
             f"extra {len(row['extra'])}" + (f" [{' '.join(map(str, row['extra'][:12]))}"
                                             f"{' …' if len(row['extra']) > 12 else ''}]"
                                             if row["extra"] else "")]  # fmt: skip
    if row["span"] is not None:
        shown = [display(_joined(row[k])) if row[k] else "" for k in ("before", "span", "after")]
        parts.append(f"{shown[0]}[{shown[1]}]{shown[2]}")
    return safe_line(f"{parts[0]} " + "  ".join(parts[1:]))


def cmd_match(args) -> int:
    from lstm_engine import match, select_units

    trace, source, _ = _open_source(args)
    layer, direction = _place(args, trace)
    settings = dict(threshold=args.threshold, left=args.left, right=args.right,
                    quantity=args.quantity, layer=layer, direction=direction,
                    transform=args.transform)  # fmt: skip
    if args.span is not None:
        start, stop = _span(args.span, source, trace)
        units = select_units(source, start, stop, **settings).units
        if not units:
            sys.stderr.write(f"{PROG}: no unit switches on over that span at θ={args.threshold}\n")
            return EXIT_NONE
        sys.stderr.write(f"selected units {' '.join(map(str, units))}\n")
    else:
        units = _units(args.units)
    found = match(source, units, length=args.length, min_length=args.min_length,
                  limit=args.limit or None, **settings)  # fmt: skip
    rows = match_rows(source, found, args.context)
    from lstm_engine import Corpus

    out = sys.stdout
    try:
        for row in rows:
            if args.json:
                out.write(json.dumps(row) + "\n")  # ASCII: no raw control or bidi character
            else:
                out.write(match_line(row, len(set(units)), isinstance(source, Corpus)) + "\n")
        out.flush()
    except BrokenPipeError:  # `match … | head`: the reader has what it wanted, as with grep
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
    return EXIT_MATCH if rows else EXIT_NONE


# --- lstm-tui export
def export_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=f"{PROG} export",
        description="Write a trace (a recorded TRACE.npz or corpus, or MODEL traced on its "
        "input as the other commands do) for other tools: --to csv (the unit table at --step, "
        "or one --quantity over the whole trace), json (the whole trace, small traces only), "
        "npz (the trace file) or lstmvis (an LSTMVis project folder).",
        epilog="Examples: lstm-tui export run.npz --to csv --step 5 -o table.csv   "
        "lstm-tui export MODEL --text '…' --to csv --quantity delta -o dc.csv   "
        "lstm-tui export corpus.npz --to lstmvis -o project/",
    )  # fmt: skip
    _add_model_args(p)
    p.add_argument("--to", required=True, choices=FORMATS, help="the format: " + ", ".join(FORMATS))
    p.add_argument("-o", "--output", required=True, metavar="PATH",
                   help="the file (the folder for lstmvis) to write; never replaced without --force")
    p.add_argument("--force", action="store_true", help="replace PATH if it exists")
    p.add_argument("--step", metavar="S | K:S",
                   help="csv: the unit table at step S (from 1; K:S is step S of input K in a "
                   "corpus)")  # fmt: skip
    p.add_argument("--quantity", metavar="NAME",
                   help="csv: this quantity (c, h, f, delta, …) at every step, one row a step")
    p.add_argument("--layer", type=_layer_number, default=1, metavar="L",
                   help="csv: the layer, from 1 (default 1)")
    p.add_argument("--direction", choices=("fwd", "rev"), default=None,
                   help="csv: the direction (default the first the LSTM has)")
    return p


def cmd_export(args) -> int:
    from pathlib import Path

    from lstm_engine import export_csv, export_json

    out = Path(args.output)
    if _same_file(out, args.model):
        raise UsageError(f"{safe_line(out)} is the file being exported; write to another path")
    if args.to != "csv" and (args.step is not None or args.quantity is not None):
        raise UsageError("--step and --quantity choose a CSV table; they go with --to csv")
    if args.to == "csv" and (args.step is None) == (args.quantity is None):
        raise UsageError("--to csv needs --step S (the unit table at step S) or --quantity NAME "
                         "(one quantity over the whole trace)")  # fmt: skip
    trace, source, _ = _open_source(args)
    hint = "pass --force to replace it"
    if args.to == "csv":
        layer, direction = _place(args, trace)
        t = None
        if args.step is not None:
            m = re.fullmatch(r"(?:(\d+):)?(\d+)", args.step.replace(" ", ""))
            if not m:
                raise UsageError(f"--step {safe_line(args.step)}: expected a step number (from 1)"
                                 " or K:S (step S of input K)")  # fmt: skip
            k = int(m.group(1)) if m.group(1) else None
            t = _positions(source, trace, k, int(m.group(2)), int(m.group(2)), "--step")[0]
        path = export_csv(source, out, layer=layer, direction=direction, t=t,
                          quantity=args.quantity, overwrite=args.force, exists_hint=hint)  # fmt: skip
        if t is None:
            what = f"{safe_line(args.quantity)} over {trace.T:,} steps"
        else:
            k, s = source.locate(t) if hasattr(source, "locate") else (0, t)
            what = f"the unit table at step {s + 1}" + (f" of input {k + 1}"
                                                        if hasattr(source, "locate") else "")  # fmt: skip
    elif args.to == "json":
        path = export_json(trace, out, overwrite=args.force, exists_hint=hint)
        what = f"the trace ({trace.T:,} steps)"
    elif args.to == "npz":
        path = trace.save(out, overwrite=args.force, exists_hint=hint)
        what = f"the trace ({trace.T:,} steps)"
    else:
        from lstm_engine import export_lstmvis

        path = export_lstmvis(source, out, overwrite=args.force, exists_hint=hint)
        what = "an LSTMVis project"
    sys.stdout.write(f"wrote {what} → {safe_line(path)}\n")
    return 0
