"""Source: what the debugger is looking at — a trace, and the model that can re-run it.

The screens never load anything themselves: `run()` and `debug()` build a
Source (in a worker, since torch is slow to import) and hand it over. A Source
knows whether an edit-and-re-run is possible and, if not, why — a recorded
trace file has no model, a numeric model has no text to edit — so the UI can
say so instead of silently ignoring the key.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from lstm_engine import (
    InputError, Trace, Vocabulary, example_index, guess_output_kind, output_uses_future,
    probabilities, split_text,
)  # fmt: skip

#: re-exported for the UI modules that read a Source (the engine defines each once)
__all__ = ["Source", "example_index", "guess_output_kind", "output_uses_future", "probabilities"]


@dataclass(frozen=True, eq=False)
class LiveText:
    """How a live torch model given text in debug() reads edited text: `run(text)` runs it
    again through the same vocabulary, with the same other arguments (the model is in
    memory, not in a file: there is no lstm_engine Model to re-trace)."""

    run: Any
    tokenizer: str = "words"
    #: The vocabulary's tokens, in id order (what the edit dialog and help list).
    vocab: tuple[str, ...] = ()
    unk: str | None = None

    def check(self, text: str) -> None:
        """An InputError if `text` cannot be read (empty, or words outside the vocabulary),
        before the model is run on it: the edit dialog says so in place."""
        words = split_text(text, self.tokenizer)
        if not words:
            raise InputError("empty text: there is nothing to feed the model")
        Vocabulary(self.vocab, self.unk).check(words)


@dataclass(frozen=True, eq=False)
class Source:
    """One trace plus where it came from."""

    trace: Trace
    name: str
    #: "model" (a file loaded with lstm_engine.load), "trace" (a recorded .npz), "live" (debug()),
    #: "pair" (the second model of --compare-model: its trace, without the model).
    origin: str
    #: The loaded lstm_engine Model, kept so that an edited text can be traced again.
    model: Any = None
    #: The input as the user typed it (text models), shown in the edit dialog.
    text: str | None = None
    #: "log_prob" | "prob" | "logit" | None — how to read trace.output.
    output_kind: str | None = None
    format: str | None = None
    #: Which of the model's examples this trace is (1-based, as `lstm-tui info` numbers
    #: them), or None for the user's own input.
    example: int | None = None
    #: The model's other named inputs (a forward's `tgt`, `hidden`, an ONNX state), kept so
    #: that an edited text is traced with them again.
    other_inputs: dict | None = None
    #: A live model from debug() that read text: how `e` re-runs it (None otherwise).
    live: LiveText | None = None
    #: The corpus this trace is one input of (an lstm_engine Corpus: `--text-file`, a corpus
    #: file), else None; `input` says which (0-based; the header says "input k of N").
    corpus: Any = None
    input: int | None = None

    @property
    def editable(self) -> bool:
        if self.live is not None:
            return True
        return self.model is not None and getattr(self.model, "input_kind", None) == "text"

    @property
    def tokenizer(self) -> str:
        """How the input text is split: "words" or "chars" (the model's, or debug()'s)."""
        if self.live is not None:
            return self.live.tokenizer
        return getattr(self.model, "tokenizer", "words") or "words"

    @property
    def vocab(self) -> tuple[str, ...]:
        """The tokens the input may hold, in id order (empty when there is no vocabulary)."""
        if self.live is not None:
            return self.live.vocab
        return tuple(str(w) for w in (getattr(self.model, "vocab", None) or ()))

    @property
    def unk(self) -> str | None:
        """The token unknown words are read as (None: they are refused)."""
        return self.live.unk if self.live is not None else getattr(self.model, "unk", None)

    @property
    def read_only_reason(self) -> str | None:
        """Why `e` cannot re-run this source, or None when it can."""
        if self.origin == "trace":
            return "This is a recorded trace, opened read-only: there is no model to re-run."
        if self.live is not None:
            return None
        if self.model is None:
            return ("Opened from Python with a fixed input: there is no text to edit (debug() "
                    "re-runs a model that was given text and vocab=).")
        if not self.editable:
            return (
                "This model reads numeric input, not text: pass another --input file to change it."
            )
        return None

    def summary(self) -> str:
        """The architecture line for the header, from the spec when there is one."""
        tr = self.trace
        if tr.spec is not None:
            return tr.spec.summary()
        dirs = "bi" if tr.num_directions == 2 else "uni"
        layers = f"×{tr.num_layers} layer" + ("s" if tr.num_layers > 1 else "")
        return f"LSTM {tr.x.shape[1]}→{tr.hidden_size} {layers}, {dirs}"

    @property
    def projected(self) -> bool:
        return self.trace.out_size != self.trace.hidden_size or bool(
            self.trace.spec is not None and self.trace.spec.proj_size
        )

    def check_text(self, text: str) -> None:
        """An EngineError if edited text cannot be read by the model (the dialog asks)."""
        if self.live is not None:
            self.live.check(text)
        else:
            self.model.tokenize(text)

    def retrace(self, text: str) -> "Source":
        """A new Source for edited text; the old trace stays as it was (an edit is a new branch)."""
        if self.live is not None:
            return replace(self, trace=self.live.run(text), text=text, example=None)
        sequence = getattr(self.model, "sequence_input", None)
        inp = {sequence: text, **self.other_inputs} if self.other_inputs and sequence else text
        trace = self.model.trace(inp)
        return replace(self, trace=trace, text=text, example=None, input=None)

    @property
    def example_count(self) -> int:
        """How many example inputs the model carries (0 for trace files and live models)."""
        if self.model is None:
            return 0
        return len(getattr(self.model, "examples", ()) or ())

    @property
    def example_reason(self) -> str | None:
        """Why another example cannot be opened, or None when it can."""
        if self.origin == "trace":
            return "This is a recorded trace, opened read-only: there is no model to re-run."
        if self.model is None:
            return "Opened from Python with a fixed input: the model has no examples."
        n = self.example_count
        if n == 0:
            return f"{self.name} carries no example inputs."
        if n == 1 and self.example == 1:
            return f"{self.name} has only one example, and it is open."
        return None

    def next_example(self) -> int:
        """The example number (1-based) after the one open, wrapping; 1 from the user's input."""
        n = self.example_count
        return (self.example % n) + 1 if self.example is not None and n else 1

    def with_example(self, n: int) -> "Source":
        """A new Source on the model's example `n` (1-based); text or numeric alike.

        Slow for big models (it re-runs the model): call it from a worker.
        """
        if self.model is None:
            raise InputError(self.example_reason or "there is no model to re-run")
        inp = self.model.examples[example_index(n, self.example_count, self.name)]
        trace = self.model.trace(inp)
        return replace(
            self, trace=trace, text=inp if isinstance(inp, str) else None, example=n, input=None
        )

    def with_input(self, k: int) -> "Source":
        """A new Source on the corpus's input `k` (0-based): a view of its rows, nothing re-run."""
        return replace(self, trace=self.corpus.trace(k), text=None, example=None, input=k)

    @property
    def output_uses_future(self) -> bool:
        """Does the output at step t depend on inputs after t? (the engine decides, from the
        model's LSTMs: any reading right to left between the input and the output)."""
        return output_uses_future(self.trace, self.model)

    @property
    def warnings(self) -> tuple[str, ...]:
        """What the engine could not account for (say, parameters that no part of the pipeline
        explains, so the output panel is not the model's own output), one sentence each:
        the model's, then the trace's own (a recorded trace keeps them in its meta)."""
        found = list(getattr(self.model, "warnings", ()) or ())
        found += list(self.trace.meta.get("warnings") or ())
        return tuple(dict.fromkeys(str(w) for w in found))
