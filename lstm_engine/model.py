"""Model: a loaded network around the LSTM being debugged, its parts, and runs at the model level.

A user thinks in sentences and tags, not in [T, 6] float arrays, so a Model
turns text into the LSTM's input (vocabulary → embedding), records the
chosen LSTM with the engine, and runs the rest of the network so that the
trace carries the model's real per-step output with label names.

A debugger also needs the network as parts, not only `trace(inp)`: to re-run
the head after an edit, to attribute a logit, to say whether a prediction
saw the future. So a Model shows them as plain data, in data-flow order:

    model.embedding   EmbeddingPart(name, weight (V, E)) or None
    model.lstms       (LSTMPart(name, spec), ...)
    model.head        HeadPart(name, weight (n_out, D*P), bias (n_out,) | None, output) or None
    model.downstream(lstm_name, h)   # h (T, D*P) of that LSTM → the model's output (T, n_out)
    model.output_uses_future         # any LSTM on the way to the output reads right to left
    model.warnings                   # what the reader could not account for, for the UI and `info`

`Model` is the base shared by every format (the ONNX and torch-module readers
subclass it); `PipelineModel` is the pure-numpy run used for the project
checkpoint and for bare state_dicts: embedding → LSTM(s) → linear head →
log_softmax/softmax.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .core.errors import EngineError, InputError, SpecError
from .core.output import guess_output_kind, log_softmax, probabilities, softmax  # noqa: F401
from .core.readonly import seal
from .core.edit_syntax import TokenReplacement
from .core.edits import ReplaceInput
from .core.recorder import OUTPUT_NOT_RECOMPUTED, branch, record
from .core.spec import LSTMSpec
from .core.trace import Trace, step_index
from .vocab import Vocabulary, shown, split_text

INPUT_KINDS = ("text", "numeric")
#: how a per-step output reads: a distribution over classes (log-probabilities, probabilities,
#: logits), independent probabilities (a sigmoid: one, like a speech probability, or several),
#: values (a regression), or an embedding vector; None: no output
OUTPUT_KINDS = ("log_prob", "prob", "logit", "sigmoid", "value", "embedding", None)
#: the kinds whose rows are one distribution over classes (softmax-like)
CLASS_KINDS = ("log_prob", "prob", "logit")
#: the checkpoint's `output` (what follows the head) → the trace's output_kind
OUTPUT_OF_HEAD = {"log_softmax": "log_prob", "softmax": "prob", "logits": "logit",
                  "sigmoid": "sigmoid", None: None}  # fmt: skip


#: what follows a head → how its output is applied (log_softmax and softmax over the last axis,
#: sigmoid elementwise)
HEAD_OUTPUTS = ("log_softmax", "softmax", "logits", "sigmoid")


def _sealed(a: np.ndarray | None) -> np.ndarray | None:
    return None if a is None else seal(np.array(a, order="C", copy=True))


@dataclass(frozen=True, eq=False)
class EmbeddingPart:
    """The token embedding in front of the first LSTM: row k is what token id k feeds it."""

    name: str
    weight: np.ndarray  # (V, E)

    def __post_init__(self) -> None:
        object.__setattr__(self, "weight", _sealed(self.weight))


@dataclass(frozen=True, eq=False)
class LSTMPart:
    """One LSTM module of the model, by its name in the file, with its exact weights."""

    name: str
    spec: LSTMSpec

    @property
    def reads_right_to_left(self) -> bool:
        """Some direction of it reads the sequence from the end (bidirectional or reverse-only),
        so its output at step t depends on the inputs after t."""
        return any(self.spec.reads_reversed(d) for d in range(self.spec.num_directions))

    @property
    def out_width(self) -> int:
        """Features per step of its output sequence h: D*P, directions as torch concatenates them."""
        return self.spec.out_size * self.spec.num_directions


@dataclass(frozen=True, eq=False)
class HeadPart:
    """The linear layer after the last LSTM and what follows it: output = f(h @ weight.T + bias).

    `output` is f: "log_softmax", "softmax" (over the last axis) or "logits" (nothing).
    """

    name: str
    weight: np.ndarray  # (n_out, D*P)
    bias: np.ndarray | None  # (n_out,)
    output: str = "logits"

    def __post_init__(self) -> None:
        if self.output not in HEAD_OUTPUTS:
            raise SpecError(f"a head's output must be one of {HEAD_OUTPUTS}, got {self.output!r}")
        object.__setattr__(self, "weight", _sealed(self.weight))
        object.__setattr__(self, "bias", _sealed(self.bias))

    def __call__(self, h: np.ndarray) -> np.ndarray:
        """The model's output from the last LSTM's h (T, D*P), computed in h's dtype."""
        z = h @ self.weight.T.astype(h.dtype, copy=False)  # (T, n_out)
        if self.bias is not None:
            z = z + self.bias.astype(h.dtype, copy=False)
        if self.output == "log_softmax":
            return log_softmax(z)
        if self.output == "softmax":
            return softmax(z)
        if self.output == "sigmoid":
            return 1.0 / (1.0 + np.exp(-z))
        return z


@dataclass(frozen=True, eq=False)
class Run:
    """What a model-level run hands the recorder: the chosen LSTM's input and the model's output.

    x (T, input_size); h0/c0 as record() takes them (None = zeros);
    output (T, n_out) or None; trace: the chosen LSTM's recording when the
    run already made one (so it is not computed twice); lstm_out (T, D*P): what
    the real LSTM module returned, when a framework ran it, so the trace can
    say how far the engine's h is from it; meta: anything else worth keeping.
    """

    x: np.ndarray
    h0: Any = None
    c0: Any = None
    output: np.ndarray | None = None
    trace: Trace | None = None
    lstm_out: np.ndarray | None = None
    meta: dict | None = None


class Model:
    """A loaded model: the LSTM being traced plus what it takes to feed it and read its output.

    Subclasses implement `_forward(tokens, ids, x, batch_index, extra) -> Run`; the
    base turns user input (text, tokens, ids, arrays) into ids or x, and
    `trace` records the chosen LSTM on the run's input.

    A model whose forward takes more than the sequence (a torch `forward(input,
    hidden)`, an ONNX graph with state inputs) names its inputs in `input_names`,
    the sequence being `sequence_input`; `trace` then also takes a dict of arrays
    by those names (the front door's `inputs_for`), and hands the others to
    `_forward` as `extra`. A model with one input keeps `input_names` empty.
    """

    #: the names of the inputs the model's forward takes, when it takes more than one
    input_names: tuple[str, ...] = ()
    #: which of `input_names` is the sequence the LSTM reads
    sequence_input: str | None = None

    def __init__(
        self,
        *,
        path: str,
        format: str,
        spec: LSTMSpec,
        lstm_names: Sequence[str],
        lstm_name: str,
        input_kind: str,
        tokenizer: str | None = None,
        vocab: Sequence[str] | None = None,
        unk: str | None = None,
        lowercase: bool = False,
        labels: Sequence[str] | None = None,
        output_kind: str | None = None,
        examples: Sequence[Any] = (),
        description: str = "",
        name: str | None = None,
        ids_as_vocab: bool = False,
        focus: Mapping[str, int] | None = None,
        embedding: EmbeddingPart | None = None,
        lstms: Sequence[LSTMPart] | None = None,
        head: HeadPart | None = None,
        warnings: Sequence[str] = (),
        units: Mapping[int, str] | None = None,
    ):
        if input_kind not in INPUT_KINDS:
            raise SpecError(f"input_kind must be one of {INPUT_KINDS}, got {input_kind!r}")
        if output_kind not in OUTPUT_KINDS:
            raise SpecError(f"output_kind must be one of {OUTPUT_KINDS}, got {output_kind!r}")
        if tokenizer not in ("words", "chars", None):
            raise SpecError(f"tokenizer must be 'words', 'chars' or None, got {tokenizer!r}")
        self.path = str(path)
        self.name = name or Path(path).stem
        self.format = format
        self.spec = spec
        self.lstm_names = tuple(lstm_names)
        self.lstm_name = lstm_name
        self.input_kind = input_kind
        self.tokenizer = tokenizer
        self.vocab = tuple(vocab) if vocab is not None else None
        self.unk = unk
        self.lowercase = lowercase
        self.labels = tuple(labels) if labels is not None else None
        self.output_kind = output_kind
        self.examples = tuple(examples)
        self.description = description
        #: the vocabulary is just the token ids "0".."N-1" (the file stored none)
        self.ids_as_vocab = ids_as_vocab
        #: where the model's author says its story is, {"unit": 11}: the UI opens there
        self.focus = dict(focus) if focus else None
        #: the author's names for units of the traced LSTM, {12: "France"}: the UI shows them
        self.units = {int(k): str(v) for k, v in units.items()} if units else None
        self._vocab = Vocabulary(self.vocab, unk) if self.vocab is not None else None
        if unk is not None and self._vocab is None:
            raise SpecError(f"the unknown token {unk!r} is not in the vocabulary")
        #: the embedding in front of the first LSTM, when the model reads token ids
        self.embedding = embedding
        #: the LSTMs in data-flow order; a reader that knows only the traced one lists it alone
        self.lstms = tuple(lstms) if lstms is not None else (LSTMPart(lstm_name, spec),)
        #: the linear head after the last LSTM and its output function, where it is known
        self.head = head
        #: what the reader could not account for (say, parameters no part explains), one
        #: sentence each; `lstm-tui info` prints them and the UI shows them
        self.warnings = tuple(warnings)

    # --- the parts
    def part(self, lstm_name: str) -> LSTMPart:
        """The LSTM part named `lstm_name`; InputError listing the names otherwise."""
        for p in self.lstms:
            if p.name == lstm_name:
                return p
        shown = ", ".join(repr(p.name or "(top level)") for p in self.lstms)
        raise InputError(f"no LSTM named {lstm_name!r} in {self.name}; its LSTMs are {shown}")

    def downstream(self, lstm_name: str, h: np.ndarray) -> np.ndarray:
        """The model's output (T, n_out) from LSTM `lstm_name`'s output sequence h (T, D*P).

        Runs everything after that LSTM (the LSTMs it feeds, the head and its
        output function), so an edited h can be followed to the prediction.
        Formats that cannot do it honestly raise an EngineError saying why.
        """
        raise EngineError(
            f"{self.name} ({self.format}) cannot run what follows an LSTM on its own: "
            "this reader does not know the rest of the network as parts"
        )

    # --- what-if: a branch with the model's own output
    def replace_token(self, trace: Trace, t: int, token: str) -> ReplaceInput:
        """The edit that puts `token` at position t: its embedding row as the LSTM's input there.

        Only where the embedding feeds the traced LSTM directly (the first LSTM of the
        model); a token outside the vocabulary is refused even when the model has an
        unknown token, since reading it as that token is not the what-if asked for.
        """
        what = f"token {token!r} at step {step_index(t) + 1}" if isinstance(token, str) else "token"
        if not isinstance(token, str):
            raise InputError(f"a replacement token must be a string, got {type(token).__name__}")
        if self.input_kind != "text" or self._vocab is None:
            raise InputError(f"{what}: {self.name} reads numeric input, not tokens; replace the "
                             "input vector instead")  # fmt: skip
        if self.embedding is None:
            raise InputError(f"{what}: {self.name} ({self.format}) does not show its embedding as "
                             "a part, so a token cannot be turned into the LSTM's input; "
                             "trace the edited text instead")  # fmt: skip
        if self.lstms[0].name != self.lstm_name:
            raise InputError(f"{what}: the traced LSTM {self.lstm_name!r} does not read the "
                             f"embedding (the LSTM {self.lstms[0].name!r} does), so a token "
                             "changes more than its input at one step; trace the edited text "
                             "instead")  # fmt: skip
        normal = token.lower() if self.lowercase else token
        if normal not in self._vocab:
            raise InputError(f"{what}: {token!r} is not in {self.name}'s vocabulary "
                             f"({len(self._vocab)} tokens)")  # fmt: skip
        row = self.embedding.weight[self._vocab.index[normal]]
        if row.shape != (trace.x.shape[1],):
            raise InputError(f"{what}: the embedding gives {row.shape[0]} numbers but the trace's "
                             f"input has {trace.x.shape[1]}; the trace is not this model's")  # fmt: skip
        return ReplaceInput(t=t, x=row.astype(np.float64))

    def branch(self, trace: Trace, edits: Sequence[Any], *, until: int | None = None) -> Trace:
        """`trace` with `edits` applied (recorder.branch), with the model's real output.

        Edits may include token replacements (edit_syntax's TokenReplacement, as
        `parse_edit("token 6 = Spain", ...)` gives them), made into ReplaceInput by
        `replace_token`, and the branch's tokens then show the new token. Where the edits change what the
        traced LSTM outputs, the rest of the model is run on the edited h (`downstream`);
        where this reader cannot (TorchScript, ONNX: EngineError), the branch's output is
        None and `output_not_recomputed` says why, so no stale prediction is shown.
        `until` makes a preview (recorder.branch).
        """
        resolved, tokens = [], list(trace.tokens) if trace.tokens is not None else None
        unk_at = set(trace.meta.get("unk_positions") or ())
        for e in edits:
            if isinstance(e, TokenReplacement):
                if not 0 <= step_index(e.t) < trace.T:
                    raise InputError(f"token edit: step {step_index(e.t) + 1} is outside the "
                                     f"trace (1..{trace.T})")  # fmt: skip
                resolved.append(self.replace_token(trace, e.t, e.token))
                if tokens is not None:
                    tokens[e.t] = e.token
                unk_at.discard(e.t)
            else:
                resolved.append(e)
        child = branch(trace, resolved, tokens=None if tokens is None else tuple(tokens),
                       until=until)  # fmt: skip
        meta = dict(child.meta)
        if "unk_positions" in meta:
            if unk_at:
                meta["unk_positions"] = sorted(unk_at)
            else:
                meta.pop("unk_positions")
                meta.pop("unk", None)
        output = child.output
        if output is None and child.output_not_recomputed is not None:
            h = np.concatenate(list(child.h[-1]), axis=-1)  # (T, D*P), as the module returns it
            try:
                output = self.downstream(self.lstm_name, h)
            except EngineError as e:
                meta["output_not_recomputed"] = f"{OUTPUT_NOT_RECOMPUTED}: {e}"
            else:
                meta.pop("output_not_recomputed")
        if output is child.output and meta == dict(child.meta):
            return child
        return replace(child, output=output, meta=meta)

    @property
    def output_uses_future(self) -> bool:
        """Does the output at step t depend on inputs after t?

        True when any LSTM between the input and the output reads right to left
        (bidirectional or reverse-only): then every step's prediction is made
        from the whole sequence. Decided from `lstms`; a reader whose other
        nodes are not in `lstms` (an ONNX graph) overrides this.
        """
        return any(p.reads_right_to_left for p in self.lstms)

    # --- what the UI and `info` show
    @property
    def parameter_count(self) -> int:
        return sum(a.size for dirs in self.spec.weights for w in dirs for a in w.arrays().values())

    def layers(self) -> list[tuple[str, str]]:
        """(module name, one-line description) in data-flow order."""
        return [(self.lstm_name, self.spec.summary())]

    def info(self) -> dict:
        """Architecture, sizes, vocabulary, labels, examples, parameter count and format."""
        s = self.spec
        return {
            "name": self.name,
            "path": self.path,
            "format": self.format,
            "description": self.description,
            "layers": self.layers(),
            "lstms": list(self.lstm_names),
            "lstm": self.lstm_name,
            "input_size": s.input_size,
            "hidden_size": s.hidden_size,
            "proj_size": s.proj_size,
            "num_layers": s.num_layers,
            "bidirectional": s.bidirectional,
            "peephole": s.peephole,
            "dtype": str(s.dtype),
            "input_kind": self.input_kind,
            "input_width": self.input_width if self.input_kind == "numeric" else None,
            "tokenizer": self.tokenizer,
            "vocab_size": len(self.vocab) if self.vocab is not None else None,
            #: the first words, in id order, for `info` to show (the count is vocab_size)
            "vocab_first": list(self.vocab[:12]) if self.vocab is not None else None,
            "vocab_is_ids": self.ids_as_vocab and self.vocab is not None,
            "unk": self.unk,
            "labels": list(self.labels) if self.labels is not None else None,
            "output_kind": self.output_kind,
            "examples": [e if isinstance(e, str) else np.asarray(e).tolist() for e in self.examples],
            "parameters": self.parameter_count,
            "output_uses_future": self.output_uses_future,
            "warnings": list(self.warnings),
        }

    # --- input
    def tokenize(self, text: str) -> list[str]:
        """Split text as the model was trained to (words or characters), checking the vocabulary."""
        if self.input_kind != "text":
            raise InputError(
                f"{self.name} takes numeric input ([T, {self.spec.input_size}] from a .npy file), "
                "not text"
            )
        tokens = split_text(text, self.tokenizer, self.lowercase)
        self._check_known(tokens)
        return tokens

    def _check_known(self, tokens: Sequence[str]) -> None:
        if self._vocab is None:
            return
        if self.ids_as_vocab and self.unk is None and self._vocab.unknown(tokens):
            raise InputError(
                f"{self.name} has no vocabulary: give token ids 0–{len(self.vocab) - 1} "
                f"separated by spaces; not ids: {shown(self._vocab.unknown(tokens))}"
            )
        self._vocab.check(tokens)

    def ids(self, tokens: Sequence[str]) -> np.ndarray:
        """Vocabulary indices, unknown words mapped to the unknown token."""
        self._check_known(tokens)
        return self._vocab.ids(tokens)

    def unk_meta(self, tokens: Sequence[str] | None) -> dict:
        """Where the model read its unknown token instead of the user's word.

        The trace keeps the user's words as its tokens (that is what they
        typed), so this is the only record that "Narnia" reached the LSTM as
        `<unk>`: {"unk": "<unk>", "unk_positions": [k, ...]}, or {} when every
        token is in the vocabulary.
        """
        return self._vocab.unk_meta(tokens) if self._vocab is not None else {}

    def _prepare(self, inp: Any) -> tuple[tuple[str, ...] | None, np.ndarray | None, np.ndarray | None]:
        """(tokens, ids, x) for text/token input, or (None, None, x) for numeric input."""
        if self.input_kind == "text":
            if isinstance(inp, str):
                tokens = self.tokenize(inp)
            elif isinstance(inp, np.ndarray) and inp.ndim == 1 and np.issubdtype(inp.dtype, np.integer):
                if self.vocab is None or len(inp) == 0 or inp.min() < 0 or inp.max() >= len(self.vocab):
                    raise InputError(f"token ids must be in 0..{len(self.vocab or ()) - 1}, non-empty")
                tokens = [self.vocab[k] for k in inp]
            elif isinstance(inp, (list, tuple)) and all(isinstance(w, str) for w in inp):
                if not inp:
                    raise InputError("empty token list: there is nothing to feed the model")
                tokens = list(inp)
                self._check_known(tokens)
            else:
                raise InputError(
                    f"{self.name} takes text (a string or a list of tokens), "
                    f"got {type(inp).__name__}"
                )
            return tuple(tokens), self.ids(tokens), None
        if isinstance(inp, str):
            raise InputError(
                f"{self.name} takes numeric input ([T, {self.spec.input_size}] from a .npy file), "
                "not text"
            )
        try:
            x = np.asarray(inp)
        except Exception as e:  # noqa: BLE001 - anything unconvertible is the user's input
            raise InputError(f"input must be a numeric array: {e}") from None
        if x.dtype.kind not in "fiub":  # complex or timedelta would be cast silently
            raise InputError(f"input must be real numbers, got dtype {x.dtype}")
        width = self.input_width
        if x.ndim != 2:
            raise InputError(
                f"input has shape {tuple(x.shape)}, expected [T, {width or 'features'}]"
            )
        if width is not None and x.shape[1] != width:
            raise InputError(
                f"input width is {x.shape[1]} but the model takes {width} features per step "
                f"(expected [T, {width}])"
            )
        if x.shape[0] == 0:
            raise InputError(f"empty input: no timesteps (expected [T, {width}])")
        return None, None, x

    @property
    def input_width(self) -> int | None:
        """Features per step of numeric input (the first LSTM's input size); None if unknown."""
        return self.spec.input_size

    # --- the run
    def _forward(self, tokens, ids, x, batch_index: int, extra: Mapping[str, Any] | None = None,
                 buffers=None) -> Run:  # fmt: skip
        raise NotImplementedError(f"{type(self).__name__} must implement _forward")

    def _tokens_of_extra(self, extra: Mapping[str, Any], T: int) -> tuple[str, ...] | None:
        """The tokens of the traced LSTM when it read another input than the sequence (a
        seq2seq decoder reads the target): the one other 1-D array of T token ids, if any."""
        found = [
            v for v in (extra or {}).values()
            if not isinstance(v, str) and np.ndim(v) == 1 and np.shape(v)[0] == T
            and np.asarray(v).dtype.kind in "iu"
        ]  # fmt: skip
        if len(found) != 1 or self.vocab is None:
            return None
        ids = np.asarray(found[0])
        if ids.min() < 0 or ids.max() >= len(self.vocab):
            return None
        return tuple(self.vocab[k] for k in ids)

    def _split_named(self, inp: Any) -> tuple[Any, dict[str, Any]]:
        """(the sequence, the other named inputs) of a dict by input name; (inp, {}) otherwise."""
        if not isinstance(inp, Mapping):
            return inp, {}
        if not self.input_names:
            raise InputError(f"{self.name} takes one input (the sequence), not named inputs "
                             f"({', '.join(map(str, inp))})")  # fmt: skip
        given = dict(inp)
        sequence = self.sequence_input or self.input_names[0]
        unknown = [k for k in given if k not in self.input_names]
        if unknown:
            raise InputError(f"{self.name} has no input named {', '.join(map(repr, unknown))}; its "
                             f"inputs are {', '.join(self.input_names)}")  # fmt: skip
        if sequence not in given:
            raise InputError(f"no value for {self.name}'s sequence input {sequence!r}: give it "
                             f"(--input {sequence}=X.npy, or --text)")  # fmt: skip
        return given.pop(sequence), given

    def trace(self, inp: Any, *, batch_index: int = 0, buffers=None) -> Trace:
        """Record the chosen LSTM on `inp`, with the model's real per-step output and labels.

        `batch_index` is for models whose input carries a batch (an ONNX graph
        overrides this method); these models read one sequence, so any other
        value than 0 is refused rather than silently ignored. `buffers` is where
        record() writes the trace's arrays (a core.store.TraceFile streams them to
        disk); a model whose run records itself (torch's hooks) leaves it unused.
        """
        if batch_index != 0:
            raise InputError(
                f"--batch-index {batch_index}: {self.name} ({self.format}) reads one sequence, "
                "not a batch; batch indices are for ONNX graphs whose input has a batch axis"
            )
        inp, extra = self._split_named(inp)
        tokens, ids, x = self._prepare(inp)
        run = self._forward(tokens, ids, x, batch_index, extra or None, buffers=buffers)
        if tokens is not None and run.trace is None and len(tokens) != np.shape(run.x)[0]:
            tokens = self._tokens_of_extra(extra, np.shape(run.x)[0])
        return self._trace_of(run, tokens, buffers)

    def _trace_of(self, run: Run, tokens: tuple[str, ...] | None, buffers=None) -> Trace:
        """The Trace of a run: the chosen LSTM recorded on the run's input (or the run's own
        recording), with the model's output, labels, warnings and provenance in its meta."""
        meta = {
            "model": self.name,
            "format": self.format,
            # Trace.save stamps "format" with the trace file's own format name,
            # so the model's format is kept under a key that survives a save.
            "model_format": self.format,
            "lstm": self.lstm_name,
            "output_kind": self.output_kind if run.output is not None else None,
            "description": self.description,
            "source": self.path,
            **self.unk_meta(tokens),
            **({"focus": self.focus} if self.focus else {}),
            # string keys: a trace's meta is saved as JSON
            **({"units": {str(k): v for k, v in self.units.items()}} if self.units else {}),
            **(run.meta or {}),
        }
        if run.output is not None:  # decided from the structure, kept through a save
            meta["output_uses_future"] = bool(self.output_uses_future)
        warned = list(self.warnings) + list((run.meta or {}).get("warnings", ()))
        if warned:
            meta["warnings"] = list(dict.fromkeys(warned))
        labels = self.labels
        if run.output is not None and labels is not None and len(labels) != run.output.shape[1]:
            labels = None  # labels that do not match the output would mislabel every column
        if run.trace is not None:
            tr = run.trace
            return replace(
                tr, output=run.output, tokens=tokens, labels=labels, meta={**tr.meta, **meta}
            )
        trace = record(
            self.spec, run.x, run.h0, run.c0, source=self.path, output=run.output,
            tokens=tokens, labels=labels, meta=meta, buffers=buffers,
        )  # fmt: skip
        if run.lstm_out is not None:  # how far the engine's h is from what the module returned
            h = np.concatenate(list(trace.h[-1]), axis=-1)
            if h.shape == run.lstm_out.shape:
                diff = float(np.abs(h.astype(np.float64) - run.lstm_out).max())
                trace = replace(trace, meta={**trace.meta, "lstm_max_abs_diff": diff})
        return trace


class PipelineModel(Model):
    """embedding → LSTM(s) in data-flow order → linear head → output, all in numpy.

    Stacked LSTM modules each run over the whole sequence, so the chosen one
    sees exactly what the one before it produced, and the head sees the last.
    The parts are the whole network, so `downstream` can re-run it from any
    LSTM's output, with the same arithmetic as a trace.
    """

    def __init__(
        self,
        *,
        path: str,
        format: str,
        embedding: tuple[str, np.ndarray] | None,
        lstms: Sequence[tuple[str, LSTMSpec]],
        head: tuple[str, np.ndarray, np.ndarray | None] | None,
        output: str | None,
        lstm: str | None = None,
        parameter_count: int | None = None,
        offered: Sequence[str] | None = None,
        **kwargs,
    ):
        if not lstms:
            raise SpecError("a model needs at least one LSTM")
        names = [n for n, _ in lstms]
        #: every LSTM the file holds (--lstm picks one), also those outside this pipeline
        offered = list(offered) if offered is not None else names
        chosen = lstm if lstm is not None else names[0]
        specs = dict(lstms)
        if output not in OUTPUT_OF_HEAD:
            raise SpecError(
                f"output must be 'log_softmax', 'softmax', 'logits' or None, got {output!r}"
            )
        if output is not None and head is None:
            raise SpecError(f"output {output!r} needs a head to apply it to")
        self._output = output
        self._check_chain(embedding, lstms, head)
        if embedding is not None:
            vocab = kwargs.get("vocab")
            if vocab is not None and len(vocab) != embedding[1].shape[0]:
                raise SpecError(
                    f"the vocabulary has {len(vocab)} words but the embedding "
                    f"{embedding[0]!r} has {embedding[1].shape[0]} rows"
                )
        labels = kwargs.get("labels")
        if labels is not None and head is not None and len(labels) != head[1].shape[0]:
            raise SpecError(
                f"{len(labels)} labels but the head {head[0]!r} has {head[1].shape[0]} outputs"
            )
        if embedding is not None and kwargs.get("tokenizer") is None:
            kwargs["tokenizer"] = "words"
        self._parameter_count = parameter_count
        super().__init__(
            path=path, format=format, spec=specs[chosen], lstm_names=offered, lstm_name=chosen,
            input_kind="text" if embedding is not None else "numeric",
            output_kind=OUTPUT_OF_HEAD[output],
            embedding=EmbeddingPart(*embedding) if embedding is not None else None,
            lstms=[LSTMPart(n, sp) for n, sp in lstms],
            # a head with output None ("the file does not say") is applied as logits, as before
            head=HeadPart(*head, output=output or "logits") if head is not None else None,
            **kwargs,
        )  # fmt: skip

    @staticmethod
    def _check_chain(embedding, lstms, head) -> None:
        width = embedding[1].shape[1] if embedding is not None else lstms[0][1].input_size
        where = f"the embedding {embedding[0]!r}" if embedding is not None else "the input"
        for name, spec in lstms:
            if spec.input_size != width:
                raise SpecError(
                    f"inconsistent shapes: LSTM {name!r} takes {spec.input_size} features "
                    f"but {where} gives {width}"
                )
            width, where = spec.out_size * spec.num_directions, f"LSTM {name!r}"
        if head is not None:
            W, b = head[1], head[2]
            if W.ndim != 2 or W.shape[1] != width:
                raise SpecError(
                    f"inconsistent shapes: the head {head[0]!r} has weight {tuple(W.shape)} "
                    f"but {where} gives {width} features"
                )
            if b is not None and b.shape != (W.shape[0],):
                raise SpecError(f"the head {head[0]!r} has bias {tuple(b.shape)}, expected ({W.shape[0]},)")

    @property
    def input_width(self) -> int:
        return self.lstms[0].spec.input_size

    @property
    def parameter_count(self) -> int:
        if self._parameter_count is not None:
            return self._parameter_count
        return sum(
            a.size for p in self.lstms for dirs in p.spec.weights for w in dirs for a in w.arrays().values()
        )

    def layers(self) -> list[tuple[str, str]]:
        out = []
        if self.embedding is not None:
            E = self.embedding.weight
            out.append((self.embedding.name, f"Embedding({E.shape[0]}, {E.shape[1]})"))
        for p in self.lstms:
            out.append((p.name or "(top level)", p.spec.summary()))
        if self.head is not None:
            W, b = self.head.weight, self.head.bias
            out.append((self.head.name, f"Linear({W.shape[1]}, {W.shape[0]}{'' if b is not None else ', bias=False'})"))
        if self._output is not None:
            out.append(("output", self._output))
        return out

    def _run_from(self, start: int, cur: np.ndarray, keep: str | None = None, buffers=None):
        """LSTMs start.. on cur, then the head: (output or None, the trace of LSTM `keep`, its
        input); LSTM `keep` is recorded into `buffers` (Model.trace's)."""
        kept_x = kept_trace = None
        for p in self.lstms[start:]:
            tr = record(p.spec, cur, source=self.path, buffers=buffers if p.name == keep else None)
            if p.name == keep:
                kept_x, kept_trace = cur, tr
            cur = np.concatenate(list(tr.h[-1]), axis=-1)  # (T, D*P), directions as torch orders them
        output = self.head(cur) if self.head is not None else None
        return output, kept_trace, kept_x

    def _forward(self, tokens, ids, x, batch_index: int, extra=None, buffers=None) -> Run:
        if self.embedding is not None:
            x = self.embedding.weight[ids]  # (T, E)
        output, trace, chosen_x = self._run_from(0, x, keep=self.lstm_name, buffers=buffers)
        return Run(x=chosen_x, output=output, trace=trace)

    def downstream(self, lstm_name: str, h: np.ndarray) -> np.ndarray:
        part = self.part(lstm_name)
        if self.head is None:
            raise EngineError(f"{self.name} has no head after its LSTMs: there is no output to run to")
        h = np.asarray(h)
        if h.ndim != 2 or h.shape[1] != part.out_width or h.shape[0] == 0:
            raise InputError(
                f"h has shape {tuple(h.shape)}; LSTM {lstm_name!r} outputs [T, {part.out_width}]"
            )
        if h.dtype.kind not in "fiu":
            raise InputError(f"h must be real numbers, got dtype {h.dtype}")
        h = h.astype(part.spec.dtype, copy=False)  # the arithmetic of a trace, in the model's dtype
        start = [p.name for p in self.lstms].index(lstm_name) + 1
        output, _, _ = self._run_from(start, h)
        return output
