"""The one front door: open any file by content, choose the input, say what the output means.

The CLI and the UI both come in here, so a trace file is recognised, an input
chosen, a path checked and an output read by the same rules everywhere:

    opened = open_and_trace("tagger.pt", text="The dog ate")   # -> Opened(trace, model, input, example)
    thing = open_file("run.npz")                              # a Model, or a recorded Trace
    inp, example = choose_input(model, example=2)
    output_kind(trace, model), output_uses_future(trace, model)

load(path) opens a model file the debugger understands, deciding by content, safely.

File names lie (a `.pt` may be a TorchScript archive, a state_dict, a
checkpoint or a pickled module), so the first bytes decide:
  - a zip with `constants.pkl` or `code/` → TorchScript (torch.jit.load), which
    runs the archive's code, so only when the caller trusts the file;
  - an ONNX protobuf (or a `.onnx` name) → lstm_engine.load_onnx;
  - a zip with `meta.npy` → a recorded trace (open_file, open_and_trace; load refuses it);
  - a zip with `data.pkl`, or a legacy pickle → torch.load(weights_only=True),
    which reads the checkpoint and state_dicts; anything that needs the full
    unpickler is refused unless the caller trusts the file, because
    unpickling can run arbitrary code.
torch and ONNX are imported only when a file needs them.
"""

from __future__ import annotations

import os
import pickletools
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .core.errors import InputError, LoadError, SpecError
from .core.files import open_regular, read_input_array, require_regular_file
from .core.edit_syntax import TokenReplacement
from .core.recorder import branch
from .core.trace import Trace, stack_layers
from .core.output import output_kind_of
from .model import Model
from .vocab import apply_names

_ZIP = b"PK\x03\x04"
_PICKLE_PROTOCOLS = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


def _is_old_pickle(path: Path) -> bool:
    """A protocol 0/1 pickle (no header to recognise): its opcodes parse, ending in STOP.

    pickletools only reads the opcodes, it never builds objects, so this runs no code.
    """
    if path.stat().st_size > 2**24:
        return False
    data = path.read_bytes()
    if not data.endswith(b".") or data[:1] not in b"(}]cK\x80NIFSVLGTUX":
        return False
    try:
        ops = list(pickletools.genops(data))
    except Exception:  # noqa: BLE001 - anything that does not parse is not a pickle
        return False
    return bool(ops) and ops[-1][0].name == "STOP"


def sniff(path: Path) -> str:
    """'torchscript', 'torch', 'onnx', 'keras', 'safetensors', 'trace', 'corrupt-zip' or
    'unknown', from the file's content."""
    from .formats.keras import is_hdf5, is_keras_zip
    from .formats.safetensors import looks_like_safetensors

    with open_regular(path, "model file") as fh:
        head = fh.read(9)
        if head.startswith(_ZIP):
            fh.seek(0)
            try:
                with zipfile.ZipFile(fh) as zf:
                    names = zf.namelist()
            except Exception:  # noqa: BLE001 - BadZipFile, NotImplementedError ("zip file
                # version 6.4"), ValueError, OSError, EOFError...: for a file from outside, damaged
                return "corrupt-zip"
    if head.startswith(_ZIP):
        if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
            return "torchscript"
        if any(n.endswith("data.pkl") for n in names):
            return "torch"
        if "meta.npy" in names:
            return "trace"
        if is_keras_zip(names):
            return "keras"
        return "unknown"
    if is_hdf5(head):
        return "keras"
    if looks_like_safetensors(head):
        return "safetensors"
    if head[:2] in _PICKLE_PROTOCOLS or _is_old_pickle(path):
        return "torch"
    # An ONNX ModelProto starts with field 1 (ir_version, a varint): byte 0x08.
    if path.suffix.lower() == ".onnx" or (head[:1] == b"\x08" and path.suffix.lower() != ".pt"):
        return "onnx"
    return "unknown"


def load(path: str | os.PathLike, *, trust: bool = False, lstm: str | None = None) -> Model:
    """Open a model file for debugging; `lstm` picks which LSTM to trace (default the first).

    `trust=True` allows fully pickled modules and TorchScript archives, whose
    loading runs code from the file: only for files from a source you trust.
    """
    path = require_regular_file(path, "model file")
    try:
        kind = sniff(path)
    except OSError as e:
        raise LoadError(f"{path}: cannot read it ({e.strerror or e})") from None
    if kind == "trace":
        raise LoadError(f"{path}: is a recorded trace, not a model (open it with: lstm-tui {path})")
    if kind == "corrupt-zip":
        raise LoadError(f"{path}: truncated or corrupt archive (not a readable zip)")
    if kind == "unknown":
        raise LoadError(
            f"{path}: not a model file this tool reads (expected a torch .pt/.pth file, "
            "a TorchScript archive, an ONNX model, a Keras .keras/.h5 file or a .safetensors "
            "state_dict)"
        )
    if kind in ("keras", "safetensors"):
        # each reader imports what it needs (h5py, torch) itself
        from .formats.keras import load_keras
        from .formats.safetensors import load_safetensors

        try:
            return (load_keras if kind == "keras" else load_safetensors)(path, lstm)
        except SpecError as e:
            raise LoadError(f"{path}: {e}") from None
        except MemoryError:
            raise LoadError(f"{path}: what the file describes does not fit in memory") from None
    if kind == "onnx":
        # load_onnx imports onnx/onnxruntime itself and says how to install them
        from .formats.onnx_read import load_onnx

        try:
            return load_onnx(str(path), node=lstm)
        except MemoryError:
            raise LoadError(f"{path}: what the file describes does not fit in memory") from None
        except RecursionError:
            raise LoadError(f"{path}: nested too deeply to read") from None
    try:
        import torch  # noqa: F401 - the .pt readers below need it
    except ImportError:
        raise LoadError("reading .pt files needs torch: pip install torch") from None
    from .formats.pickled import model_from_object, read_torch_file
    from .formats.torchscript import load_torchscript

    try:
        if kind == "torchscript":
            return load_torchscript(path, lstm, trust)
        notes: list[str] = []
        model = model_from_object(read_torch_file(path, trust, notes), path, lstm)
    except SpecError as e:
        raise LoadError(f"{path}: {e}") from None
    except MemoryError:
        raise LoadError(f"{path}: what the file describes does not fit in memory") from None
    except RecursionError:
        raise LoadError(f"{path}: nested too deeply to read") from None
    if notes:
        model.warnings = tuple(model.warnings) + tuple(notes)
    return model


# --- the front door: anything, by content
def is_trace_file(path: str | os.PathLike) -> bool:
    """A recorded trace: a regular file holding a zip with `meta.npy` (no model file does).

    The content decides, as for models: a trace renamed to .pt is still a
    trace, and an .npz that is not one is not.
    """
    try:
        path = require_regular_file(path)
        return sniff(path) == "trace"
    except (LoadError, OSError):
        return False


def open_file(path: str | os.PathLike, *, trust: bool = False, lstm: str | None = None) -> Model | Trace:
    """A recorded trace (read-only) or a model, whichever the file's content is."""
    path = require_regular_file(path, "model file")
    if is_trace_file(path):
        return Trace.load(path)
    return load(path, trust=trust, lstm=lstm)


def example_index(n: int, count: int, name: str) -> int:
    """The 0-based index of example `n` (1-based, as `lstm-tui info` numbers them), or an
    InputError saying how many there are."""
    if count == 0:
        raise InputError(f"{name} carries no example inputs; give --text or --input instead")
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= count:
        what = f"{count} example" + ("s" if count != 1 else "")
        rng = "only 1" if count == 1 else f"1–{count}"
        raise InputError(f"no example {n}: {name} has {what} (give {rng})")
    return n - 1


#: at most this many named arrays in one --input set (each is a separate allocation)
MAX_NAMED_INPUTS = 64


def read_named_inputs(values: Sequence[str | os.PathLike]) -> dict[str, np.ndarray]:
    """The arrays of every `--input` value, by the model input (forward argument) they feed.

    A value is `X.npy` (the sequence: key ""), `NAME=X.npy` (the input NAME), or an
    `.npz` of named arrays (each under its own name; a bare `.npz` member named "arr_0"
    is the sequence too, as np.savez names an unnamed array). A value that is an existing
    file is a path even when it contains "=". Every file is read without unpickling
    (read_input_array); a name given twice is refused. This is the one reader of named
    inputs for every model kind (torch forwards, ONNX graphs): pass the result to
    `inputs_for(model, named)`.
    """
    named: dict[str, np.ndarray] = {}

    def put(name: str, value: np.ndarray, where: str) -> None:
        if name in named:
            raise InputError(f"{where}: the input {name or 'sequence'!r} is given twice")
        if len(named) >= MAX_NAMED_INPUTS:
            raise InputError(f"more than {MAX_NAMED_INPUTS} named inputs")
        named[name] = value

    for raw in values:
        raw = os.fspath(raw)
        name, path = "", raw
        if "=" in raw and not os.path.lexists(raw):
            name, path = raw.split("=", 1)
            if not name.isidentifier():
                raise InputError(f"--input {raw}: the name before '=' must be an argument name "
                                 "(letters, digits, _), as in --input lengths=l.npy")  # fmt: skip
        x = read_input_array(path)
        if isinstance(x, np.ndarray):
            put(name, x, path)
            continue
        try:  # np.load opened an .npz archive (a zip of arrays): each one by its name
            if name:
                raise InputError(f"--input {raw}: an .npz holds named arrays already; give it "
                                 "without a name (--input FILE.npz)")  # fmt: skip
            members = list(x.files)
            if len(members) > MAX_NAMED_INPUTS:
                raise InputError(f"{path}: {len(members)} arrays; at most {MAX_NAMED_INPUTS} inputs")
            for member in members:
                try:
                    value = x[member]
                except MemoryError:
                    raise InputError(f"{path}: array {member!r} does not fit in memory") from None
                except ValueError as e:
                    raise InputError(f"{path}: array {member!r} is not a numeric array ({e})") from None
                put("" if member == "arr_0" and len(members) == 1 else member, value, path)
        finally:
            x.close()
    return named


def inputs_for(model: Model, named: Mapping[str, np.ndarray]) -> Any:
    """What `model.trace` takes for these named arrays: the one array when only the sequence
    is given (as before), else a dict by input name, the unnamed array under the model's
    sequence input. A model with a single input refuses names it does not have."""
    if set(named) == {""}:
        return named[""]
    names = tuple(getattr(model, "input_names", ()) or ())
    sequence = getattr(model, "sequence_input", None) or (names[0] if names else None)
    if not names:
        given = ", ".join(sorted(repr(k) for k in named if k))
        raise InputError(f"named inputs {given}, not one array: {model.name} takes one input "
                         "(the sequence); give --input X.npy")  # fmt: skip
    out = {(sequence if k == "" else k): v for k, v in named.items()}
    if "" in named and sequence in named:
        raise InputError(f"the sequence is given twice: unnamed and as {sequence!r}")
    return out


def choose_input(
    model: Model, *, text: str | None = None, input_path: str | os.PathLike | None = None,
    example: int | None = None, inputs: Mapping[str, np.ndarray] | None = None,
) -> tuple[Any, int | None]:  # fmt: skip
    """(what to trace, which example it is (1-based) or None): the user's text, the array in
    `input_path`, the named arrays `inputs` (read_named_inputs), the model's example
    `example`, or by default its first example.

    A text model takes an --input file only as a 1-D integer array of token ids
    (an ONNX graph takes its graph input as it is). With `inputs`, `text` may come
    too: it is the sequence, the named arrays the model's other inputs.
    """
    if isinstance(input_path, (list, tuple)):  # --input values as argparse appends them
        if inputs is not None:
            raise InputError("give the input either as input_path or as named inputs, not both")
        inputs, input_path = (read_named_inputs(input_path) if input_path else None), None
    if inputs is not None and input_path is not None:
        raise InputError("give the input either as input_path or as named inputs, not both")
    if input_path is not None:
        inputs = read_named_inputs([input_path])
        if not (set(inputs) == {""}):
            raise InputError(
                f"{input_path}: an .npz archive of named arrays, not one array; give it as "
                "--input FILE.npz to a model that takes named inputs"
            )
    if sum(v is not None for v in (text, inputs, example)) > 1 and not (
        text is not None and inputs is not None and "" not in inputs
    ):
        raise InputError("give only one of --text, --input and --example")
    if text is not None and inputs:  # the text is the sequence, the arrays the other inputs
        named = inputs_for(model, inputs)
        sequence = getattr(model, "sequence_input", None) or model.input_names[0]
        if sequence in named:
            raise InputError(f"the sequence is given twice: as --text and as {sequence!r}")
        return {sequence: text, **named}, None
    if text is not None:
        return text, None
    if inputs is not None:
        if "" in inputs:
            x = inputs[""]
            if (model.input_kind == "text" and not (x.ndim == 1 and x.dtype.kind in "iu")
                    and model.format != "onnx"):  # fmt: skip
                raise InputError(f"{model.name} reads text: give --text (or token ids as a 1-D integer .npy)")
        return inputs_for(model, inputs), None
    if example is not None:
        return model.examples[example_index(example, len(model.examples), model.name)], example
    if model.examples:
        return model.examples[0], 1
    what = "--text TEXT" if model.input_kind == "text" else "--input X.npy"
    raise InputError(f"{model.name} has no example inputs; give {what}")


@dataclass(frozen=True, eq=False)
class Opened:
    """What the front door hands a front end: the trace to show and what it came from."""

    trace: Trace
    #: the model that made the trace (None for a recorded trace file, opened read-only)
    model: Model | None = None
    #: what the model was run on: text, token ids or an array (None for a trace file)
    input: Any = None
    #: which of the model's examples this is (1-based), or None for the user's own input
    example: int | None = None

    def branch(self, edits, trace: Trace | None = None, *, until: int | None = None) -> Trace:
        """A branch of `trace` (default the opened one) with `edits`, as the front ends make it:
        with the model, token replacements and the model's recomputed output (Model.branch);
        for a recorded trace file, the engine's branch, whose output is dropped where the
        edits reach the LSTM's output (`Trace.output_not_recomputed` says so). `until`
        makes a preview to show while the whole branch is computed (recorder.branch)."""
        trace = self.trace if trace is None else trace
        if self.model is not None:
            return self.model.branch(trace, edits, until=until)
        edits = list(edits)
        for e in edits:
            if isinstance(e, TokenReplacement):
                raise InputError("replacing a token needs the model's vocabulary and embedding: "
                                 "open the model rather than a recorded trace")  # fmt: skip
        return branch(trace, edits, until=until)


def open_and_trace(
    path: str | os.PathLike, *, text: str | None = None, input_path: str | os.PathLike | None = None,
    example: int | None = None, trust: bool = False, lstm: str | None = None, batch_index: int = 0,
    inputs: Sequence[str | os.PathLike] | None = None, vocab: str | os.PathLike | None = None,
    labels: str | os.PathLike | None = None, output_kind: str | None = None, buffers=None,
) -> Opened:  # fmt: skip
    """Open `path` by content and trace it: a model on the chosen input, or a recorded trace as is.

    `inputs` are `--input` values (read_named_inputs: X.npy, NAME=X.npy, FILE.npz); a list
    given as `input_path` (argparse's `--input`, appended) is read the same way.
    `vocab`, `labels` (files, vocab.apply_names) and `output_kind` name what the model's
    file does not say, or correct its guess.
    Every path is checked, and every input read, before anything slow happens (a
    FIFO as --input fails before torch is imported); a recorded trace takes no new input.
    `buffers` (a core.store.TraceFile) records the model's trace straight into a file.
    """
    path = require_regular_file(path, "model file")
    if isinstance(input_path, (list, tuple)):  # --input values as argparse appends them
        inputs, input_path = [*(inputs or ()), *input_path], None
    if input_path is not None:
        require_regular_file(input_path, "input file", error=InputError)
    named = read_named_inputs(inputs) if inputs else None
    if is_trace_file(path):
        if text is not None or input_path is not None or example is not None or named:
            raise InputError(f"{path} is a recorded trace: it is opened read-only and cannot take new input")
        return Opened(trace=Trace.load(path))
    model = load(path, trust=trust, lstm=lstm)
    if vocab is not None or labels is not None or output_kind is not None:
        apply_names(model, vocab=vocab, labels=labels, output_kind=output_kind)
    inp, example = choose_input(model, text=text, input_path=input_path, example=example, inputs=named)
    trace = model.trace(inp, batch_index=batch_index, buffers=buffers)
    if labels is not None and (trace.output is None or trace.labels is None):
        width = "no output" if trace.output is None else f"{trace.output.shape[1]} outputs"
        raise InputError(f"--labels {labels}: {len(model.labels)} labels, but the model has {width}")
    if trace.output is not None and "output_uses_future" not in trace.meta:
        # every reader's answer travels with the trace, so a recorded file shows it too
        trace = replace(trace, meta={**trace.meta, "output_uses_future": output_uses_future(trace, model)})
    return Opened(trace=trace, model=model, input=inp, example=example)


def open_pair(
    a: str | os.PathLike, b: str | os.PathLike, *, text: str | None = None,
    input_path: str | os.PathLike | None = None, example: int | None = None, trust: bool = False,
    lstm: str | None = None, lstm_b: str | None = None, batch_index: int = 0,
) -> tuple[Trace, Trace]:  # fmt: skip
    """Two traces to compare (Trace.diff): recorded traces as they are, models on one input.

    The input is the one given, else what a recorded side read (its tokens, or its x),
    else A's (then B's) first example, so a model and its export read the same thing.
    `lstm` picks A's LSTM and `lstm_b` B's; where a model exports a stacked LSTM as one-layer
    nodes (ONNX: NAME_l0, NAME_l1, …) and the other side has that many layers, its nodes are
    traced one by one and stacked (stack_layers), so the two compare layer by layer.
    """
    paths, lstms = {"a": a, "b": b}, {"a": lstm, "b": lstm_b}
    for p in paths.values():
        require_regular_file(p, "model or trace file")
    recorded = {k: Trace.load(p) for k, p in paths.items() if is_trace_file(p)}
    gave_input = any(v is not None for v in (text, input_path, example))
    if len(recorded) == 2 and gave_input:
        raise InputError("A and B are both recorded traces: they take no --text, --input or "
                         "--example")  # fmt: skip
    models = {k: load(p, trust=trust, lstm=lstms[k]) for k, p in paths.items()
              if k not in recorded}  # fmt: skip
    inp = None
    if models and recorded and not gave_input:  # the model reads what the recording read
        trace, model = next(iter(recorded.values())), next(iter(models.values()))
        inp = list(trace.tokens) if trace.tokens is not None and model.input_kind == "text" \
            else trace.x  # fmt: skip
    elif models:
        first = models.get("a") or models["b"]
        inp, _ = choose_input(first, text=text, input_path=input_path, example=example)
    traces = dict(recorded)
    for k, model in models.items():
        traces[k] = model.trace(inp, batch_index=batch_index)
    for k, other in (("a", "b"), ("b", "a")):
        layers = traces[other].num_layers
        if k in models and lstms[k] is None and traces[k].num_layers < layers \
                and len(models[k].lstm_names) == layers:  # fmt: skip
            nodes = [load(paths[k], trust=trust, lstm=n) for n in models[k].lstm_names]
            if all(m.spec.num_layers == 1 for m in nodes):
                traces[k] = stack_layers([m.trace(inp, batch_index=batch_index) for m in nodes])
    return traces["a"], traces["b"]


# --- what the output means
def output_kind(trace: Trace, model: Model | None = None) -> str | None:
    """How trace.output reads ('log_prob', 'prob', 'logit', or None without an output): the
    model's word, then the trace's own record, then the one guess (guess_output_kind)."""
    return output_kind_of(trace, model.output_kind if model is not None else None)


def output_uses_future(trace: Trace, model: Model | None = None) -> bool:
    """Does the output at step t depend on inputs after t?

    Decided from structure, never from display strings: the trace's own record
    (a model stores its answer when it traces), then the model's LSTMs
    (Model.output_uses_future), then the traced LSTM itself when nothing else
    is known (a live trace): any direction reading right to left.
    """
    if trace.output is None:
        return False
    if "output_uses_future" in trace.meta:
        return bool(trace.meta["output_uses_future"])
    if model is not None and hasattr(model, "output_uses_future"):
        return bool(model.output_uses_future)
    spec = trace.spec
    if spec is not None:
        return any(spec.reads_reversed(d) for d in range(spec.num_directions))
    return trace.num_directions == 2
