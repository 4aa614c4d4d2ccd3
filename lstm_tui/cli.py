"""The `lstm-tui` command: open the debugger, or `record` / `info` without any UI.

    lstm-tui MODEL [--text TEXT | --input X.npy | --example N] [--trust] [--lstm NAME] [--batch-index B]
    lstm-tui record MODEL [--text TEXT | --input X.npy | --example N] -o TRACE.npz [--force] ...
    lstm-tui info MODEL [--trust] [--lstm NAME]

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
from pathlib import Path
from typing import Any, Sequence

from .text import display

PROG = "lstm-tui"
SUBCOMMANDS = ("record", "info")
EXIT_USAGE = 2


class UsageError(Exception):
    """A command line or input the user has to change; printed as one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of usage + message
        raise UsageError(f"{message} (see {self.prog} --help)")


def _add_model_args(p: argparse.ArgumentParser, *, with_input: bool = True) -> None:
    p.add_argument("model", metavar="MODEL", help="a .pt checkpoint/state_dict/TorchScript, an .onnx, "
                   "or (to open read-only) a recorded TRACE.npz")  # fmt: skip
    if with_input:
        src = p.add_mutually_exclusive_group()
        src.add_argument("--text", help="the input text (default: the model's first example)")
        src.add_argument("--input", metavar="X.npy", help="numeric input, an array of shape [T, input]")
        src.add_argument("--example", type=_positive, metavar="N",
                         help="the model's example N (1-based, as `lstm-tui info` lists them)")  # fmt: skip
    p.add_argument("--trust", action="store_true",
                   help="allow a fully pickled model; unpickling can run arbitrary code, so only "
                   "for files from a source you trust")  # fmt: skip
    p.add_argument("--lstm", "--node", dest="lstm", metavar="NAME",
                   help="which LSTM to trace: a module name (e.g. encoder.lstm) or an ONNX node name; "
                   "default the first")  # fmt: skip
    if with_input:
        p.add_argument("--batch-index", type=_non_negative, default=0, metavar="B",
                       help="for ONNX inputs with a batch, which sequence to trace (default 0)")  # fmt: skip


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


def _parsers() -> dict[str, argparse.ArgumentParser]:
    ui = _Parser(
        prog=PROG,
        description="A terminal step-through debugger for LSTM networks.",
        epilog="Headless commands: `lstm-tui record MODEL -o TRACE.npz` writes a trace; "
        "`lstm-tui info MODEL` describes a model. Each takes --help.",
    )
    _add_model_args(ui)
    record = _Parser(prog=f"{PROG} record", description="Trace MODEL on one input and save the "
                     "trace (tokens, every gate, the model's per-step output, labels) as .npz.")  # fmt: skip
    _add_model_args(record)
    record.add_argument("-o", "--output", required=True, metavar="TRACE.npz", help="where to write the trace")
    record.add_argument("--force", action="store_true", help="replace TRACE.npz if it exists")
    info = _Parser(prog=f"{PROG} info", description="Describe MODEL: architecture, sizes, "
                   "vocabulary, labels, examples, parameter count and the format it was read as.")  # fmt: skip
    _add_model_args(info, with_input=False)
    return {"ui": ui, "record": record, "info": info}


# --- helpers shared by the subcommands
def _check_model_path(path: str) -> None:
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{path}: no such file")
    if p.is_dir():
        raise UsageError(f"{path}: is a directory, not a model file")


def _load(args) -> Any:
    from lstm_engine import load

    if args.trust and os.getcwd() not in sys.path:
        # a pickled module needs its class importable; the user's project is usually the cwd
        sys.path.insert(0, os.getcwd())
    return load(args.model, trust=args.trust, lstm=args.lstm)


def _read_npy(path: str):
    from lstm_engine import read_input_array

    return read_input_array(path)


def _model_input(model, args):
    if args.text is not None:
        return args.text
    if args.input is not None:
        x = _read_npy(args.input)
        if model.input_kind == "text" and x.ndim == 1 and x.dtype.kind in "iu":
            return x  # token ids
        if model.input_kind == "text" and model.format != "onnx":
            raise UsageError(f"{model.name} reads text: give --text (or token ids as a 1-D integer .npy)")
        return x
    if args.example is not None:
        from lstm_tui.source import example_index

        return model.examples[example_index(args.example, len(model.examples), model.name)]
    if model.examples:
        return model.examples[0]
    what = "--text TEXT" if model.input_kind == "text" else "--input X.npy"
    raise UsageError(f"{model.name} has no example inputs; give {what}")


# --- subcommands
def cmd_record(args) -> int:
    _check_model_path(args.model)
    out = Path(args.output)
    if out.exists() and out.resolve() == Path(args.model).resolve():
        raise UsageError(f"{out} is the model itself; write the trace to another file")
    if out.exists() and not args.force:
        raise UsageError(f"{out} already exists; not overwriting it (pass --force to replace it)")
    if out.is_dir():
        raise UsageError(f"{out} is a directory; give a file name for the trace")
    if not out.parent.exists():
        raise UsageError(f"{out.parent}: no such directory")
    model = _load(args)
    trace = model.trace(_model_input(model, args), batch_index=args.batch_index)
    if trace.output is not None:  # the strip shows every prediction when they see the future
        from dataclasses import replace

        from lstm_tui.source import output_uses_future

        trace = replace(trace, meta={**trace.meta,
                                     "output_uses_future": output_uses_future(trace, model)})  # fmt: skip
    trace.save(out, overwrite=args.force)
    what = f"{trace.T} steps" + (f" ({' '.join(map(display, trace.tokens[:8]))}{' …' if trace.T > 8 else ''})"
                                 if trace.tokens and model.tokenizer != "chars" else "")  # fmt: skip
    if args.example is not None:
        what += f" (example {args.example})"
    sys.stdout.write(f"recorded {what} of {model.lstm_name or 'the LSTM'} "
                     f"[{model.spec.summary()}] from {args.model} → {out}\n")  # fmt: skip
    for w in trace.meta.get("warnings") or ():
        sys.stdout.write(f"warning: {_sentence(w)}\n")
    unk_at = trace.meta.get("unk_positions") or ()
    if unk_at:
        words = ", ".join(dict.fromkeys(display(trace.tokens[k]) for k in unk_at))
        sys.stdout.write(f"note: {len(unk_at)} token{'s' if len(unk_at) != 1 else ''} not in the "
                         f"vocabulary, read as {display(trace.meta['unk'])}: {words}\n")  # fmt: skip
    return 0


def _short(example: Any, width: int = 70) -> str:
    if isinstance(example, str):
        s = repr(example) if any(c in example for c in "\n\t\r") else example
        return s if len(s) <= width else s[: width - 1] + "…"
    shape = getattr(example, "shape", None)
    return f"numeric array of shape {list(shape)}" if shape is not None else str(example)


def info_lines(info: dict) -> list[str]:
    """The `info` report as aligned lines; pure, so it is tested as text."""
    rows: list[tuple[str, str]] = []

    def row(key: str, value: str) -> None:
        rows.append((key, value))

    row("model", f"{info['name']}  ({info['path']})")
    row("format", info["format"])
    if info.get("description"):
        for k, line in enumerate(textwrap.wrap(info["description"], 72)):
            row("description" if k == 0 else "", line)
    names = [n for n, _ in info["layers"]]
    w = max((len(n) for n in names), default=0)
    for k, (n, what) in enumerate(info["layers"]):
        mark = "   ← traced" if n in (info["lstm"], info["lstm"] or "(top level)") and "LSTM" in what else ""
        row("architecture" if k == 0 else "", f"{n.ljust(w)}  {what}{mark}")
    if len(info["lstms"]) > 1:
        row("LSTMs", ", ".join(info["lstms"]) + f"   (pick one with --lstm; tracing {info['lstm']})")
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
            vocab += f", unknown token {info['unk']!r}" if info["unk"] else ", no unknown token"
        else:
            vocab = "no vocabulary"
        row("input", f"text ({info['tokenizer']}); {vocab}")
    elif info.get("inputs"):  # ONNX: the graph's own inputs, batch axis included
        shapes = ", ".join(f"{k} {v}" for k, v in info["inputs"].items())
        row("input", f"numeric graph input {shapes} (--input X.npy, --batch-index B)")
    else:
        width = info.get("input_width", info["input_size"]) or "features"
        row("input", f"numeric, [T, {width}] (--input X.npy)")
    if info["labels"] is not None:
        labels = info["labels"]
        shown = ", ".join(display(x) for x in labels[:20])
        row("labels", f"{len(labels)}: {shown}{' …' if len(labels) > 20 else ''}")
    else:
        row("labels", "none")
    row("output", info["output_kind"] or info.get("output_note") or "none (the LSTM only)")
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
            row(key, str(info[key]))
    _warning_rows(row, info.get("warnings") or ())
    kw = max(len(k) for k, _ in rows)
    return [f"{k.ljust(kw)}  {v}".rstrip() for k, v in rows]


def _sentence(s: str) -> str:
    """A sentence from a file's data (key names in a warning) with its spaces kept and every
    other unprintable character escaped as `display` escapes it."""
    return "".join(c if c.isprintable() else display(c) for c in str(s))


def _warning_rows(row, warnings) -> None:
    """Each of the model's warnings, wrapped, under a `warning` key: they are never left out."""
    for w in warnings:
        for k, line in enumerate(textwrap.wrap(_sentence(w), 72)):
            row("warning" if k == 0 else "", line)


def trace_info_lines(path: str) -> list[str]:
    from lstm_engine import Trace

    tr = Trace.load(path)
    meta = tr.meta
    rows = [
        ("trace", f"{path}  (recorded, read-only)"),
        ("model", f"{meta.get('model') or '?'}  ({meta.get('source') or 'unknown source'})"),
        ("format", f"trace of a {meta.get('model_format') or 'bare LSTM'} model"),
        ("lstm", f"{meta.get('lstm') or '?'}  [{tr.spec.summary() if tr.spec is not None else 'no weights stored'}]"),
        ("steps", str(tr.T)),
        ("tokens", " ".join(map(display, tr.tokens[:20])) + (" …" if tr.T > 20 else "") if tr.tokens else "none (numeric input)"),
        ("labels", ", ".join(map(display, tr.labels)) if tr.labels else "none"),
        ("output", f"{meta.get('output_kind') or 'none'}" + (f", shape {list(tr.output.shape)}" if tr.output is not None else "")),
    ]  # fmt: skip
    unk_at = meta.get("unk_positions") or []
    if unk_at and tr.tokens:
        words = ", ".join(display(tr.tokens[k]) for k in unk_at[:10] if 0 <= k < tr.T)
        rows.insert(6, ("unknown", f"{len(unk_at)} read as {display(meta.get('unk') or '?')}: {words}"
                        + (" …" if len(unk_at) > 10 else "")))  # fmt: skip
    _warning_rows(lambda k, v: rows.append((k, v)), meta.get("warnings") or ())
    kw = max(len(k) for k, _ in rows)
    return [f"{k.ljust(kw)}  {v}" for k, v in rows]


def _is_trace_file(path: str) -> bool:
    """A recorded trace is an .npz, i.e. a zip holding meta.npy (models never do)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            return "meta.npy" in zf.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def cmd_info(args) -> int:
    _check_model_path(args.model)
    if _is_trace_file(args.model):
        lines = trace_info_lines(args.model)
    else:
        lines = info_lines(_load(args).info())
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def cmd_ui(args) -> int:
    _check_model_path(args.model)
    if args.input is not None and not Path(args.input).exists():
        raise UsageError(f"{args.input}: no such file")
    from . import app  # textual is imported only when the UI opens

    extra = {"example": args.example} if args.example is not None else {}
    return app.run(
        args.model, text=args.text, input_path=args.input, trust=args.trust,
        lstm=args.lstm, batch_index=args.batch_index, **extra,
    )  # fmt: skip


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
        return {"ui": cmd_ui, "record": cmd_record, "info": cmd_info}[command](args)
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
        return 1


def _fail(message: str) -> None:
    message = " ".join(str(message).split())  # one line, whatever the exception held
    sys.stderr.write(f"{PROG}: error: {message}\n")
