"""The `lstm-tui` command: open the debugger, or `record` / `info` without any UI.

    lstm-tui MODEL [--text TEXT | --input X.npy | --example N] [--trust] [--lstm NAME]
             [--batch-index B] [--compare TEXT_B | --compare-model MODEL_B]
    lstm-tui record MODEL [--text TEXT | --input X.npy | --example N] -o TRACE.npz [--force] ...
    (a model with several inputs: --input NAME=X.npy, repeated, or --input FILE.npz of named arrays)
    lstm-tui info MODEL [--trust] [--lstm NAME]
    lstm-tui record MODEL … --edit EDIT [--edit EDIT …] -o BRANCH.npz   (whatif_cli.py)
    lstm-tui diff A B [--json] [--tol X]                                (whatif_cli.py)

A user's mistake (a missing file, a corrupt archive, an unknown word) is one
line on stderr and exit status 2, never a traceback: the engine raises
EngineError for all of them. `record` and `info` never import textual, so
they work over ssh pipes and in CI; the UI is imported only to open it.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Sequence

from .text import display, safe_line

PROG = "lstm-tui"
SUBCOMMANDS = ("record", "info", "diff", "find", "explain", "stats", "doctor", "match", "export")
EXIT_USAGE = 2


class UsageError(Exception):
    """A command line or input the user has to change; printed as one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of usage + message
        raise UsageError(f"{message} (see {self.prog} --help)")


#: --output-kind's choices (lstm_engine's OUTPUT_KINDS without None; kept here so that --help
#: needs no engine import)
OUTPUT_KIND_CHOICES = ("log_prob", "prob", "logit", "sigmoid", "value", "embedding")


def _add_model_args(p: argparse.ArgumentParser, *, with_input: bool = True) -> None:
    p.add_argument("model", metavar="MODEL", help="a .pt checkpoint/state_dict/TorchScript, an .onnx, "
                   "or (to open read-only) a recorded TRACE.npz")  # fmt: skip
    if with_input:
        src = p.add_mutually_exclusive_group()
        src.add_argument("--text", help="the input text (default: the model's first example)")
        p.add_argument("--input", metavar="X.npy", action="append",
                         help="numeric input, an array of shape [T, input]; for a model with "
                         "several inputs, NAME=X.npy (repeat it: --input x=x.npy --input "
                         "lengths=l.npy) or one FILE.npz of named arrays")  # fmt: skip
        src.add_argument("--example", type=_positive, metavar="N",
                         help="the model's example N (1-based, as `lstm-tui info` lists them)")  # fmt: skip
    p.add_argument("--trust", action="store_true",
                   help="allow a fully pickled model; unpickling can run arbitrary code, so only "
                   "for files from a source you trust")  # fmt: skip
    p.add_argument("--lstm", "--node", dest="lstm", metavar="NAME",
                   help="which LSTM to trace: a module name (e.g. encoder.lstm) or an ONNX node name; "
                   "default the first")  # fmt: skip
    p.add_argument("--vocab", metavar="FILE", help="token names for a model that reads ids: one "
                   "token a line (line k is id k), or JSON {token: id}")  # fmt: skip
    p.add_argument("--labels", metavar="FILE", help="output names: one label a line (line k "
                   "names output k), or a JSON list")  # fmt: skip
    p.add_argument("--output-kind", metavar="KIND", choices=OUTPUT_KIND_CHOICES,
                   help="what the output is when the guess is wrong: "
                   + ", ".join(OUTPUT_KIND_CHOICES))  # fmt: skip
    if with_input:
        p.add_argument("--batch-index", type=_non_negative, default=0, metavar="B",
                       help="for ONNX inputs with a batch, which sequence to trace (default 0)")  # fmt: skip


def _names_given(args) -> dict:
    """--vocab, --labels and --output-kind, those the user gave, as the front door takes them."""
    return {k: v for k in ("vocab", "labels", "output_kind") if (v := getattr(args, k)) is not None}


def _check_sources(args) -> None:
    """--input next to --text or --example only to name the model's other inputs.

    --input left the mutually exclusive group so that `--text "..." --input
    hidden=h.npy` can feed a forward(input, hidden); an unnamed --input (the
    sequence itself) still excludes --text and --example, as argparse said before.
    """
    given = args.input or []
    unnamed = [v for v in given if "=" not in v or os.path.lexists(v)]
    for flag, value in (("--text", args.text), ("--example", args.example)):
        if value is not None and (unnamed or (given and flag == "--example")):
            raise UsageError(f"argument --input: not allowed with argument {flag} "
                             "(except NAME=FILE for the model's other inputs with --text)")  # fmt: skip


def _whole_number(s: str, least: int, why: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {s!r}") from None
    if v < least:
        raise argparse.ArgumentTypeError(f"{why}, got {v}")
    return v


def _non_negative(s: str) -> int:
    return _whole_number(s, 0, "must be 0 or more")


def _positive(s: str) -> int:
    return _whole_number(s, 1, "examples are numbered from 1")


def _layer_number(s: str) -> int:
    """--layer as every command reads it: from 1, as the screen numbers layers."""
    return _whole_number(s, 1, "layers are numbered from 1")


def version() -> str:
    """The installed package's version (pyproject.toml's), or why there is none."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("lstm-tui")
    except PackageNotFoundError:
        return "(not installed: run from a source tree)"


def _parsers() -> dict[str, argparse.ArgumentParser]:
    ui = _Parser(
        prog=PROG,
        description="A terminal step-through debugger for LSTM networks.",
        epilog="Headless commands: `lstm-tui record MODEL -o TRACE.npz` writes a trace (with "
        "--edit EDIT, a what-if branch); `lstm-tui find MODEL --where EXPR` lists the steps where "
        "a watch expression holds; `lstm-tui diff A B` compares two traces or models; "
        "`lstm-tui explain`, `stats` and `doctor` say where a unit's memory came from, which "
        "units matter and what looks wrong; `lstm-tui info MODEL` describes a model; "
        "`lstm-tui record MODEL --text-file FILE -o CORPUS.npz` records many inputs, "
        "`lstm-tui match CORPUS --units U,U` finds where units switch on together (LSTMVis's "
        "match) and `lstm-tui export … --to csv|json|npz|lstmvis` writes for other tools. "
        "Each takes --help.",
    )
    ui.add_argument("--version", action="version", version=f"{PROG} {version()}",
                    help="print the version and exit")  # fmt: skip
    _add_model_args(ui)
    against = ui.add_mutually_exclusive_group()
    against.add_argument("--compare", metavar="TEXT_B",
                         help="open on a comparison with a second input, aligned by position")
    against.add_argument("--compare-model", metavar="MODEL_B",
                         help="open on a comparison with a second model (say MODEL's ONNX export) "
                         "on the same input: where they first diverge, step, layer and gate")
    record = _Parser(prog=f"{PROG} record", description="Trace MODEL on one input and save the "
                     "trace (tokens, every gate, the model's per-step output, labels) as .npz.")  # fmt: skip
    _add_model_args(record)
    record.add_argument("-o", "--output", required=True, metavar="TRACE.npz", help="where to write the trace")
    record.add_argument("--force", action="store_true", help="replace TRACE.npz if it exists")
    record.add_argument("--compress", action="store_true", help="write the trace compressed "
                        "(smaller, but slower to write and to open: it is read whole instead of "
                        "memory-mapped)")  # fmt: skip
    from .whatif_cli import add_edit_args, diff_parser  # record --edit, diff

    add_edit_args(record)
    info = _Parser(prog=f"{PROG} info", description="Describe MODEL: architecture, sizes, "
                   "vocabulary, labels, examples, parameter count and the format it was read as.")  # fmt: skip
    _add_model_args(info, with_input=False)
    info.add_argument("--list-vocab", action="store_true",
                      help="print the whole vocabulary instead, one token a line in id order, "
                      "shown as the screen shows it (⏎ a newline, ␣ a space)")  # fmt: skip
    from .find import build_parser as find_parser  # find.py builds on this module's helpers

    from .analysis_cli import doctor_parser, explain_parser, stats_parser
    from .corpus_cli import add_text_file_args, export_parser, match_parser

    add_text_file_args(ui)
    add_text_file_args(record)  # record --text-file FILE: a corpus (corpus_cli.cmd_record_corpus)
    return {"ui": ui, "record": record, "info": info, "diff": diff_parser(), "find": find_parser(),
            "explain": explain_parser(), "stats": stats_parser(), "doctor": doctor_parser(),
            "match": match_parser(), "export": export_parser()}


# --- helpers shared by the subcommands
def _same_file(a: Path, b: str | os.PathLike) -> bool:
    """Do `a` and `b` name one file (False when either does not exist)?"""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _save_trace(trace, out: Path, force: bool, compress: bool = False) -> None:
    """Write `trace` to `out`: Trace.save goes through the engine's write_file (an exclusive,
    unpredictable temporary name beside `out`, then a link that fails if `out` exists, so of
    two records to one new name exactly one wins; with --force a rename over a regular file
    only). An existing name is the user's to change: a UsageError naming --force.
    Uncompressed, so that opening it maps the file instead of reading it, unless `compress`
    (--compress: smaller, read whole when opened)."""
    from lstm_engine import TargetExistsError, remove_stale_partials

    remove_stale_partials(out.parent or ".")  # what a killed save left here a day or more ago
    try:
        trace.save(out, overwrite=force, exists_hint="pass --force to replace it",
                   compress=compress)  # fmt: skip
    except TargetExistsError as e:
        raise UsageError(safe_line(str(e))) from None


def _trace_file(out: Path, force: bool):
    """A TraceFile at `out` (the checks and messages of _save_trace, before the recording)."""
    from lstm_engine import TargetExistsError, TraceFile, remove_stale_partials

    remove_stale_partials(out.parent or ".")
    try:
        return TraceFile(out, overwrite=force, exists_hint="pass --force to replace it")
    except TargetExistsError as e:
        raise UsageError(safe_line(str(e))) from None


def _has_terminal() -> bool:
    """Are stdin and stdout both a terminal? The debugger draws on one and reads keys from it."""
    return sys.stdin.isatty() and sys.stdout.isatty()


# --- subcommands
def cmd_record(args) -> int:
    if args.text_file is not None or args.whole:  # a corpus: corpus_cli.py records it
        from .corpus_cli import cmd_record_corpus

        return cmd_record_corpus(args)
    from lstm_engine import is_trace_file, open_and_trace, require_regular_file

    model_path = require_regular_file(args.model, "model file")
    out = Path(args.output)
    if _same_file(out, model_path):
        raise UsageError(f"{safe_line(out)} is the model itself; write the trace to another file")
    _check_sources(args)
    if is_trace_file(model_path):
        shown = safe_line(args.model)
        if not args.edit:
            raise UsageError(f"{shown}: is a recorded trace already (open it with: {PROG} {shown})")
    # uncompressed, the trace is recorded straight into its file (its pages, not memory); a
    # branch (--edit) or --compress is written from memory once made
    streamed = None if args.edit or args.compress else _trace_file(out, args.force)
    with streamed if streamed is not None else nullcontext():
        opened = open_and_trace(
            args.model, text=args.text, inputs=args.input, example=args.example,
            trust=args.trust, lstm=args.lstm, batch_index=args.batch_index, buffers=streamed,
            **_names_given(args),
        )  # fmt: skip
        if args.edit:  # a what-if: the branch is what is saved (a recorded trace branches too)
            from .whatif_cli import record_branch

            return record_branch(args, opened)
        model = opened.model
        if streamed is None:
            trace = opened.trace
            _save_trace(trace, out, args.force, args.compress)
        else:
            trace = streamed.commit(opened.trace)
    what = f"{trace.T} steps" + (f" ({' '.join(map(display, trace.tokens[:8]))}{' …' if trace.T > 8 else ''})"
                                 if trace.tokens and model.tokenizer != "chars" else "")  # fmt: skip
    if args.example is not None:
        what += f" (example {args.example})"
    sys.stdout.write(f"recorded {what} of {safe_line(model.lstm_name or 'the LSTM')} "
                     f"[{model.spec.summary()}] from {safe_line(args.model)} "
                     f"→ {safe_line(out)}\n")  # fmt: skip
    for w in trace.meta.get("warnings") or ():
        sys.stdout.write(f"warning: {safe_line(w)}\n")
    unk_at = trace.meta.get("unk_positions") or ()
    if unk_at:
        words = ", ".join(dict.fromkeys(display(trace.tokens[k]) for k in unk_at))
        sys.stdout.write(f"note: {len(unk_at)} token{'s' if len(unk_at) != 1 else ''} not in the "
                         f"vocabulary, read as {display(trace.meta['unk'])}: {words}\n")  # fmt: skip
    return 0


def _short(example: Any, width: int = 70) -> str:
    """An example in one safe line of at most `width` characters (a line break shows as ⏎)."""
    if isinstance(example, str):
        return safe_line(example, width)
    shape = getattr(example, "shape", None)
    return f"numeric array of shape {list(shape)}" if shape is not None else "a numeric example"


def info_lines(info: dict) -> list[str]:
    """The `info` report as aligned lines; pure, so it is tested as text."""
    rows: list[tuple[str, str]] = []

    def row(key: str, value: str) -> None:
        rows.append((key, value))

    # every string below may come from the file: each goes through safe_line (or display)
    row("model", f"{safe_line(info['name'])}  ({safe_line(info['path'])})")
    row("format", safe_line(info["format"]))
    if info.get("description"):
        for k, line in enumerate(textwrap.wrap(safe_line(info["description"]), 72)):
            row("description" if k == 0 else "", line)
    names = [safe_line(n) for n, _ in info["layers"]]
    w = max((len(n) for n in names), default=0)
    for k, ((n, what), shown) in enumerate(zip(info["layers"], names)):
        mark = "   ← traced" if n in (info["lstm"], info["lstm"] or "(top level)") and "LSTM" in what else ""
        row("architecture" if k == 0 else "", f"{shown.ljust(w)}  {safe_line(what)}{mark}")
    if len(info["lstms"]) > 1:
        row("LSTMs", ", ".join(map(safe_line, info["lstms"]))
            + f"   (pick one with --lstm; tracing {safe_line(info['lstm'])})")
    layers = f"{info['num_layers']} layer" + ("s" if info["num_layers"] > 1 else "")
    sizes = f"input {info['input_size']}, hidden {info['hidden_size']}"
    if info["proj_size"]:
        sizes += f", proj {info['proj_size']}"
    sizes += f", {layers}, {'bidirectional' if info['bidirectional'] else 'unidirectional'}"
    if info["peephole"]:
        sizes += ", peephole"
    row("sizes", f"{sizes}, {info['dtype']}")
    if info["input_kind"] == "text":
        if info.get("vocab_is_ids"):
            vocab = f"no vocabulary stored: token ids 0–{info['vocab_size'] - 1} separated by spaces"
        elif info["vocab_size"] is not None:
            vocab = f"vocabulary {info['vocab_size']} " + ("characters" if info["tokenizer"] == "chars" else "words")
            unk = info["unk"]
            vocab += f", unknown token {safe_line(repr(unk))}" if unk else ", no unknown token"
        else:
            vocab = "no vocabulary"
        row("input", f"text ({safe_line(info['tokenizer'])}); {vocab}")
        first = info.get("vocab_first") or []
        if first and not info.get("vocab_is_ids"):
            more = (f" … ({info['vocab_size']} in all; --list-vocab lists them)"
                    if info["vocab_size"] > len(first) else "")  # fmt: skip
            row("vocabulary", " ".join(display(w)[:24] for w in first) + more)
    elif info.get("inputs"):  # ONNX: the graph's own inputs, batch axis included
        shapes = ", ".join(f"{safe_line(k)} {safe_line(v)}" for k, v in info["inputs"].items())
        how = "--input X.npy" if len(info["inputs"]) == 1 else "--input NAME=X.npy or FILE.npz"
        row("input", f"numeric graph input {shapes} ({how}, --batch-index B)")
    else:
        width = info.get("input_width", info["input_size"]) or "features"
        row("input", f"numeric, [T, {safe_line(width)}] (--input X.npy)")
    if info.get("forward_args"):  # a torch forward with more than the sequence
        args = ", ".join(f"{safe_line(n)} ({safe_line(what)})" for n, what in info["forward_args"])
        row("forward", args)
        row("", "give each by name (--input NAME=FILE.npy), or all in one FILE.npz")
    if info["labels"] is not None:
        labels = info["labels"]
        shown = ", ".join(display(x) for x in labels[:20])
        row("labels", f"{len(labels)}: {shown}{' …' if len(labels) > 20 else ''}")
    else:
        row("labels", "none")
    output = info["output_kind"] or info.get("output_note") or "none (the LSTM only)"
    row("output", safe_line(output))
    if info["examples"]:
        for k, ex in enumerate(info["examples"][:5]):
            import numpy as np

            ex = ex if isinstance(ex, str) else np.asarray(ex)
            row("examples" if k == 0 else "", f"{k + 1}. {_short(ex)}")
        if len(info["examples"]) > 5:
            row("", f"… {len(info['examples']) - 5} more")
    else:
        row("examples", "none")
    row("parameters", f"{info['parameters']:,}")
    for key in ("opset", "graph", "notes"):
        if info.get(key):
            row(key, safe_line(info[key]))
    _warning_rows(row, info.get("warnings") or ())
    kw = max(len(k) for k, _ in rows)
    return [f"{k.ljust(kw)}  {v}".rstrip() for k, v in rows]


def _warning_rows(row, warnings) -> None:
    """Each of the model's warnings, wrapped, under a `warning` key: they are never left out."""
    for w in warnings:
        for k, line in enumerate(textwrap.wrap(safe_line(w), 72)):
            row("warning" if k == 0 else "", line)


def trace_info_lines(path: str, tr=None) -> list[str]:
    from lstm_engine import Trace

    tr = tr if tr is not None else Trace.load(path)
    meta = tr.meta
    s = safe_line  # every meta string is the file's: shown as data, never as terminal control
    rows = [
        ("trace", f"{s(path)}  (recorded, read-only)"),
        ("model", f"{s(meta.get('model') or '?')}  ({s(meta.get('source') or 'unknown source')})"),
        ("format", f"trace of a {s(meta.get('model_format') or 'bare LSTM')} model"),
        ("lstm", f"{s(meta.get('lstm') or '?')}  [{tr.spec.summary() if tr.spec is not None else 'no weights stored'}]"),
        ("steps", str(tr.T)),
        ("tokens", " ".join(map(display, tr.tokens[:20])) + (" …" if tr.T > 20 else "") if tr.tokens else "none (numeric input)"),
        ("labels", ", ".join(map(display, tr.labels)) if tr.labels else "none"),
        ("output", f"{s(meta.get('output_kind') or 'none')}" + (f", shape {list(tr.output.shape)}" if tr.output is not None else "")),
    ]  # fmt: skip
    if "corpus" in meta:  # a corpus: how many inputs, and whether all of them were recorded
        from lstm_engine import Corpus

        corpus = Corpus(tr)
        n, lengths = len(corpus), corpus.lengths
        inputs = f"{n}" + ("" if corpus.complete else f" of {corpus.planned} (interrupted)")
        rows.insert(5, ("inputs", f"{inputs}, {int(lengths.min())}–{int(lengths.max())} steps "
                                  "each (select and match: lstm-tui match)"))  # fmt: skip
    unk_at = meta.get("unk_positions") or []
    unk_at = unk_at if isinstance(unk_at, list) else []
    if unk_at and tr.tokens:
        at = [k for k in unk_at[:10] if type(k) is int and 0 <= k < tr.T]
        words = ", ".join(display(tr.tokens[k]) for k in at)
        rows.insert(6, ("unknown", f"{len(unk_at)} read as {display(meta.get('unk') or '?')}: {words}"
                        + (" …" if len(unk_at) > 10 else "")))  # fmt: skip
    if tr.parent is not None:  # a what-if branch says how it was made
        from lstm_engine import format_edit

        rows.append(("branch", f"of {s(tr.parent)[:19]}… (root {s(tr.root or '?')[:19]}…)"))
        for k, e in enumerate(tr.edits):
            rows.append(("edits" if k == 0 else "", s(format_edit(e, tr))))
        if tr.output_not_recomputed:  # not the parent's output kind: there is no output
            rows[[k for k, _ in rows].index("output")] = ("output", s(tr.output_not_recomputed))
    _warning_rows(lambda k, v: rows.append((k, v)), meta.get("warnings") or ())
    kw = max(len(k) for k, _ in rows)
    return [f"{k.ljust(kw)}  {v}" for k, v in rows]


def cmd_info(args) -> int:
    from lstm_engine import Trace, open_file

    opened = open_file(args.model, trust=args.trust, lstm=args.lstm)
    if not isinstance(opened, Trace) and _names_given(args):
        from lstm_engine import apply_names

        apply_names(opened, **_names_given(args))
    if args.list_vocab:
        vocab = () if isinstance(opened, Trace) else (getattr(opened, "vocab", None) or ())
        if not vocab:
            raise UsageError(f"{safe_line(args.model)} has no vocabulary to list")
        sys.stdout.write("".join(display(str(w)) + "\n" for w in vocab))
        return 0
    lines = trace_info_lines(args.model, opened) if isinstance(opened, Trace) else info_lines(opened.info())
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def cmd_ui(args) -> int:
    """Open (and trace) the file first, then check for a terminal, then start Textual.

    So a bad file is one error line and exit 2 wherever the UI was started,
    and with no terminal (a pipe, cron, ssh without -t) the debugger refuses
    in one line instead of writing escapes into a pipe and waiting for keys.
    """
    from .opening import open_path

    _check_sources(args)
    if args.text_file is not None or args.whole:  # a corpus in the debugger (corpus_view.py)
        return _cmd_ui_corpus(args)
    # torch and a large model take seconds before the first frame: say what is happening,
    # on the terminal only, and clear the line again whatever the outcome
    status = sys.stderr.isatty()
    if status:
        sys.stderr.write(f"{PROG}: opening {safe_line(args.model, 200)} …")
        sys.stderr.flush()
    try:
        source = open_path(
            args.model, text=args.text, inputs=args.input, trust=args.trust, lstm=args.lstm,
            batch_index=args.batch_index, example=args.example, **_names_given(args),
        )  # fmt: skip
        compare = None
        if args.compare is not None or args.compare_model is not None:
            from .opening import open_comparison

            compare = open_comparison(
                source, text=args.compare, model=args.compare_model, path=args.model,
                input_path=args.input, example=args.example, trust=args.trust, lstm=args.lstm,
                batch_index=args.batch_index,
            )  # fmt: skip
    finally:
        if status:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
    if not _has_terminal():
        raise UsageError(
            "the debugger needs a terminal (stdin and stdout are not one); "
            f"use `{PROG} info` or `{PROG} record -o TRACE.npz` without one"
        )
    what = Path(args.model).name
    return _run_app(source, what) if compare is None else _run_app(source, what, compare)


def _cmd_ui_corpus(args) -> int:
    """`lstm-tui MODEL --text-file FILE [--whole]`: the inputs checked here, the recording and
    the debugger in corpus_view (it records with a progress bar that Ctrl-C stops)."""
    from lstm_engine import read_text_inputs

    from .corpus_cli import check_text_file_args

    check_text_file_args(args)
    read_text_inputs(args.text_file, whole=args.whole)  # a bad file fails before any UI
    if not _has_terminal():
        raise UsageError(f"the debugger needs a terminal; record the corpus with `{PROG} record "
                         "MODEL --text-file FILE -o CORPUS.npz` without one")  # fmt: skip
    try:
        from .corpus_view import run_corpus
    except ModuleNotFoundError as e:
        if e.name != f"{__package__}.corpus_view":
            raise
        raise UsageError(f"this build has no corpus view in the debugger; record the corpus with "
                         f"`{PROG} record MODEL --text-file FILE -o CORPUS.npz`") from None  # fmt: skip
    return run_corpus(args.model, text_file=args.text_file, whole=args.whole, trust=args.trust,
                      lstm=args.lstm, **_names_given(args))  # fmt: skip


def _app_for(source, what: str, compare=None):
    """The debugger's App on an already opened Source (its loader only hands the Source over);
    `compare`: the whatif.Comparison to open on (--compare, --compare-model)."""
    from .app import LstmTuiApp  # textual is imported only when the UI opens

    return LstmTuiApp(loader=lambda: source, what=what, compare=compare)


def _run_app(source, what: str, compare=None) -> int:
    """The debugger on an opened Source; the exit status (2 after an error it showed)."""
    app = _app_for(source, what, compare)
    app.run()
    if app.error:  # the error screen is gone with the app; leave the reason in the scrollback
        _fail(app.error)
    return app.exit_status


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 for the user's errors)."""
    from lstm_engine import EngineError

    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in SUBCOMMANDS else "ui"
    rest = argv[1:] if command != "ui" else argv
    try:
        try:
            args = _parsers()[command].parse_args(rest)
        except SystemExit as e:  # --help
            return int(e.code or 0)
        from .analysis_cli import cmd_doctor, cmd_explain, cmd_stats
        from .corpus_cli import cmd_export, cmd_match
        from .find import cmd_find

        from .threads import share_cores

        # the screen sets them while it is up (app.py); a command, while it runs
        threads_back = share_cores() if command != "ui" else (lambda: None)
        try:
            return {"ui": cmd_ui, "record": cmd_record, "info": cmd_info, "diff": _cmd_diff,
                    "find": cmd_find, "explain": cmd_explain, "stats": cmd_stats,
                    "doctor": cmd_doctor, "match": cmd_match, "export": cmd_export}[command](args)
        finally:
            threads_back()
    except (UsageError, EngineError) as e:
        _fail(str(e))
        return EXIT_USAGE
    except OSError as e:  # disk full, permissions: the user's environment, not a bug
        _fail(f"{e.filename + ': ' if e.filename else ''}{e.strerror or e}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # noqa: BLE001 - a bug: say so in one line, traceback on request
        if os.environ.get("LSTM_TUI_DEBUG"):
            raise
        _fail(f"internal error: {type(e).__name__}: {e} (set LSTM_TUI_DEBUG=1 for the traceback)")
        # for the grep-like commands 1 is an answer ("no step matched", "they diverge",
        # "found something"), so a bug there exits 2, as any error does
        return EXIT_USAGE if command in ANSWERING_COMMANDS else 1


#: Commands whose exit status 1 is an answer, as grep's and diff's is.
ANSWERING_COMMANDS = frozenset({"find", "diff", "doctor", "match"})


def _cmd_diff(args) -> int:
    from .whatif_cli import cmd_diff

    return cmd_diff(args)


def _fail(message: str) -> None:
    message = safe_line(" ".join(str(message).split()))  # one safe line, whatever it quoted
    sys.stderr.write(f"{PROG}: error: {message}\n")
