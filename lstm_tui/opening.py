"""Opening things to debug: a model file, a recorded trace, or a live model in Python.

Each path ends in a Source. These functions are slow (torch, tracing) and
run in the app's worker thread; every user-caused failure is an EngineError
with a one-line message, which the app shows on its error screen.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import numpy as np

from lstm_engine import (
    EngineError, InputError, LSTMSpec, Trace, Vocabulary, guess_output_kind, is_corpus_file,
    is_trace_file, open_and_trace, open_corpus, open_pair, record, split_text, trace_lstm,
    trace_module,
)  # fmt: skip
from lstm_engine import output_kind as trace_output_kind  # from_live has an output_kind= argument

from .source import LiveText, Source

__all__ = ["from_live", "is_trace_file", "open_path", "source_or_error"]


def open_path(
    path: str, *, text: str | None = None, input_path: str | None = None, trust: bool = False,
    lstm: str | None = None, batch_index: int = 0, example: int | None = None,
    inputs: list[str] | None = None, vocab: str | None = None, labels: str | None = None,
    output_kind: str | None = None,
) -> Source:  # fmt: skip
    """Load a model (and trace its input) or a recorded trace file, through the engine's front door.

    `example` is 1-based, as `lstm-tui info` numbers the model's examples;
    without text, input or example the first example opens. `inputs` are
    `--input` values (X.npy, NAME=X.npy, FILE.npz) for models with several inputs.
    A corpus file (`lstm-tui record MODEL --text-file FILE`) opens on its first input.
    """
    if is_corpus_file(path):
        if any(v is not None for v in (text, input_path, example, inputs)):
            raise InputError(f"{path} is a recorded corpus: it is opened read-only and cannot "
                             "take new input")  # fmt: skip
        from .corpus_view import corpus_source

        corpus = open_corpus(path)
        return corpus_source(corpus, name=str(corpus.whole.meta.get("model") or Path(path).stem))
    opened = open_and_trace(
        path, text=text, input_path=input_path, example=example, trust=trust, lstm=lstm,
        batch_index=batch_index, inputs=inputs, vocab=vocab, labels=labels,
        output_kind=output_kind,
    )  # fmt: skip
    trace, model = opened.trace, opened.model
    if model is None:
        return Source(
            trace=trace, name=trace.meta.get("model") or Path(path).stem, origin="trace",
            text=None, output_kind=trace_output_kind(trace), format="trace",
        )  # fmt: skip
    inp, others = opened.input, None
    sequence = getattr(model, "sequence_input", None)
    if isinstance(inp, dict) and sequence in inp:  # named inputs: the sequence, and the rest
        others = {k: v for k, v in inp.items() if k != sequence}
        inp = inp[sequence]
    return Source(
        trace=trace, name=model.name, origin="model", model=model,
        text=inp if isinstance(inp, str) else None,
        output_kind=model.output_kind, format=model.format, example=opened.example,
        other_inputs=others,
    )  # fmt: skip


def from_live(
    obj: Any, inputs: Any = None, *, h0: Any = None, c0: Any = None,
    tokens: Any = None, labels: Any = None, output: Any = None,
    output_kind: str | None = None, lstm: str | None = None, name: str | None = None,
    vocab: Any = None, tokenizer: str = "words", unk: str | None = None,
    args: tuple = (), forward_kwargs: dict | None = None,
) -> Source:  # fmt: skip
    """A Source for debug(): a Trace, an lstm_engine Model, an LSTMSpec, nn.LSTM, or a model.

    For a whole torch model (say an embedding, an LSTM and a linear head), the
    model is run once on `inputs` with a hook on its LSTM, which captures
    exactly what the LSTM read; that input is then traced, and the model's own
    per-step output becomes the trace's output.

    Text input to a torch model needs `vocab` — the word → id dict the model
    was trained with (the seed's `word_to_ix`) or a list of words in id order:
    the text is split on whitespace (`tokenizer="chars"`: into characters)
    and looked up, and the words become the trace's tokens. A word not in
    the vocabulary is an error listing them all, unless `unk` names the token
    to read them as. `labels` may be a list or a dict label → id (`tag_to_ix`).

    A forward with more arguments (`forward(input, hidden)`, `forward(x, lengths)`,
    `forward(src, tgt)`) gets `inputs` first, then `args`, and `forward_kwargs` by name.
    """
    tokens = tuple(str(t) for t in tokens) if tokens is not None else None
    labels = _names(labels, "labels")
    meta: dict = {}
    text_input = None  # the text a torch model was given, kept so that `e` can edit it
    if _is_text(inputs) and not hasattr(obj, "input_kind") and not isinstance(obj, Trace):
        if isinstance(obj, LSTMSpec) or _is_bare_lstm(obj):
            raise InputError(
                "an LSTM on its own reads vectors, not text: pass the whole model (with its "
                "embedding) or the vectors"
            )
        if vocab is None:
            raise InputError(
                "text input needs vocab=: the word → id dict the model was trained with "
                "(e.g. word_to_ix) or a list of words in id order"
            )
        text_input = inputs
        words, inputs, meta = _text_to_ids(inputs, vocab, tokenizer, unk)
        tokens = tokens if tokens is not None else words
    elif vocab is not None and hasattr(obj, "input_kind"):
        raise InputError(f"{getattr(obj, 'name', 'the model')} has its own vocabulary; drop vocab=")
    if isinstance(obj, Trace):
        kind = output_kind or trace_output_kind(obj)
        return Source(trace=obj, name=name or "trace", origin="live", output_kind=kind)
    if hasattr(obj, "trace") and hasattr(obj, "spec") and hasattr(obj, "input_kind"):
        trace = obj.trace(inputs)
        return Source(
            trace=trace, name=name or obj.name, origin="model", model=obj,
            text=inputs if isinstance(inputs, str) else None, output_kind=obj.output_kind,
            format=getattr(obj, "format", None),
        )  # fmt: skip
    if inputs is None:
        raise InputError("debug() needs the inputs to run the LSTM on")
    if isinstance(obj, LSTMSpec):
        out = _as_output(output)
        trace = record(obj, inputs, h0, c0, tokens=tokens, labels=labels, output=out)
        return Source(trace=trace, name=name or "LSTM", origin="live",
                      output_kind=output_kind or guess_output_kind(out))  # fmt: skip
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        raise InputError(f"debug() cannot read a {type(obj).__name__}") from None
    if not isinstance(obj, torch.nn.Module):
        raise InputError(
            f"debug() takes a Trace, an LSTMSpec, a torch nn.LSTM or nn.Module, or a loaded "
            f"model; got {type(obj).__name__}"
        )
    if isinstance(obj, torch.nn.LSTM):
        trace = trace_lstm(obj, inputs, h0, c0)
        out = _as_output(output)
        trace = dataclasses.replace(trace, tokens=tokens, labels=labels, output=out)
        return Source(trace=trace, name=name or "nn.LSTM", origin="live",
                      output_kind=output_kind or guess_output_kind(out))  # fmt: skip
    trace, out = _trace_inside(obj, (inputs, *args), dict(forward_kwargs or {}), lstm)
    if output is not None:
        out = _as_output(output)
    if tokens is not None and len(tokens) != trace.T:
        raise InputError(f"{len(tokens)} tokens for an LSTM that read {trace.T} steps")
    trace = dataclasses.replace(
        trace, tokens=tokens, labels=labels, output=out, meta={**trace.meta, **meta}
    )
    live = text = None
    if text_input is not None:  # text through the user's vocabulary: `e` can re-run it
        live = LiveText(
            run=functools.partial(_retrace_live, obj, args, dict(forward_kwargs or {}), lstm,
                                  vocab, tokenizer, unk, labels),
            tokenizer=tokenizer, vocab=tuple(Vocabulary(vocab, None).index), unk=unk,
        )  # fmt: skip
        sep = "" if tokenizer == "chars" else " "
        text = text_input if isinstance(text_input, str) else sep.join(map(str, text_input))
    return Source(trace=trace, name=name or type(obj).__name__, origin="live",
                  output_kind=output_kind or guess_output_kind(out), live=live,
                  text=text)  # fmt: skip


def _retrace_live(model: Any, args: tuple, forward_kwargs: dict, lstm: str | None, vocab: Any,
                  tokenizer: str, unk: str | None, labels: tuple | None, text: str) -> Trace:  # fmt: skip
    """The live model run again on edited text, read through the same vocabulary, with the
    same other arguments: what `e` re-runs for a Source from debug()."""
    words, ids, meta = _text_to_ids(text, vocab, tokenizer, unk)
    trace, out = _trace_inside(model, (ids, *args), dict(forward_kwargs), lstm)
    return dataclasses.replace(trace, tokens=words, labels=labels, output=out,
                               meta={**trace.meta, **meta})  # fmt: skip


def _is_text(inputs: Any) -> bool:
    return isinstance(inputs, str) or (
        isinstance(inputs, (list, tuple)) and bool(inputs) and all(isinstance(w, str) for w in inputs)
    )


def _is_bare_lstm(obj: Any) -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return isinstance(obj, torch.nn.LSTM)


def _names(names: Any, what: str) -> tuple[str, ...] | None:
    """A list of names, or a dict name → id (like the seed's tag_to_ix) put in id order."""
    if names is None:
        return None
    if isinstance(names, dict):
        ids = sorted(names.values())
        if ids != list(range(len(names))):
            raise InputError(f"{what} as a dict must map names to the ids 0..{len(names) - 1}")
        return tuple(str(n) for n, _ in sorted(names.items(), key=lambda kv: kv[1]))
    return tuple(str(n) for n in names)


def _text_to_ids(text: Any, vocab: Any, tokenizer: str, unk: str | None) -> tuple[tuple, Any, dict]:
    """(words, a LongTensor of ids, meta) for text read through the user's vocabulary,
    split and looked up exactly as a loaded model does it (lstm_engine.Vocabulary)."""
    import torch

    if tokenizer not in ("words", "chars"):
        raise InputError(f"tokenizer must be 'words' or 'chars', got {tokenizer!r}")
    words = split_text(text, tokenizer) if isinstance(text, str) else [str(w) for w in text]
    if not words:
        raise InputError("empty text: there is nothing to feed the model")
    try:
        index = Vocabulary(vocab, unk)
    except EngineError as e:  # the user's unk= is the input here, not a file
        raise InputError(str(e)) from None
    ids = index.ids(words)
    return tuple(words), torch.from_numpy(ids), index.unk_meta(words)


def _as_output(output: Any) -> np.ndarray | None:
    if output is None:
        return None
    if hasattr(output, "detach"):
        output = output.detach().cpu().numpy()
    out = np.asarray(output)
    if out.ndim == 3 and 1 in out.shape[:2]:
        out = out[:, 0] if out.shape[1] == 1 else out[0]
    return out if out.ndim == 2 else None


def _trace_inside(model: Any, args: tuple, kwargs: dict, lstm: str | None) -> tuple[Trace, np.ndarray | None]:
    """Run a torch model once on (args, kwargs), catching what its LSTM reads, and trace that
    LSTM (the engine's trace_module: hooks on every nn.LSTM and nn.LSTMCell)."""
    trace = trace_module(model, args, kwargs, lstm=lstm, name=type(model).__name__)
    return trace, trace.output


def source_or_error(fn, *args, **kwargs) -> tuple[Source | None, str | None, int]:
    """Run a loader, turning failures into (None, message, exit status) — never a traceback."""
    try:
        return fn(*args, **kwargs), None, 0
    except EngineError as e:
        return None, str(e), 2
    except Exception as e:  # noqa: BLE001 - a bug must still not print a traceback over the UI
        return None, f"internal error: {type(e).__name__}: {e}", 1


def open_comparison(
    source: Source, *, text: str | None = None, model: str | None = None,
    path: str | None = None, input_path: str | None = None, example: int | None = None,
    trust: bool = False, lstm: str | None = None, batch_index: int = 0,
):  # fmt: skip
    """The comparison `--compare TEXT_B` or `--compare-model MODEL_B` opens on (whatif.Comparison).

    A second input is traced by the same model. A second model is opened
    with `source` (from `path`) by the engine's `open_pair`, on the same
    input (the text, --input file or example given, else the first model's
    first example), with an export's one-layer nodes stacked to match a
    stacked LSTM. Two LSTMs of different shapes cannot be compared unit by
    unit: an InputError, so the command line says so in one line before the
    debugger opens.
    """
    from .whatif import compare

    if (text is None) == (model is None):
        raise InputError("compare with a second input (--compare) or a second model "
                         "(--compare-model), not both")  # fmt: skip
    if text is not None:
        reason = source.read_only_reason
        if reason is not None:
            raise InputError(f"--compare needs a second input to run: {reason}")
        return compare(source, source.retrace(text), "input")
    if path is None:
        raise InputError("comparing with a second model needs the first model's file")
    given = dict(input_path=input_path) if input_path is not None else \
        dict(text=source.text) if source.text is not None else dict(example=example)  # fmt: skip
    _, trace = open_pair(path, model, trust=trust, lstm=lstm, batch_index=batch_index, **given)
    name = trace.meta.get("model") or Path(model).stem
    other = Source(trace=trace, name=str(name), origin="pair", output_kind=trace_output_kind(trace),
                   format=trace.meta.get("model_format") or trace.meta.get("format"))  # fmt: skip
    return compare(source, other, "model")
