"""A real torch module run by torch: the LSTMs inside it and the model that hooks them.

Pickled modules, TorchScript archives and live modules are code, not a list of
weights: what they output is whatever their forward computes, so the engine
runs them with torch and records the chosen LSTM on exactly what it read. An
nn.LSTMCell is the same equations one step per call, so it is a one-layer LSTM
whose calls (a Python loop, a decoder, a streaming model called once per step)
are joined into one sequence; torch's quantize_dynamic LSTM is read with its
weights dequantized. A forward may take more than the sequence (a state,
lengths, a second source), by name. This module holds what knows torch's module
classes: is_torch_lstm and spec_from_module (used by trace_lstm for a live
nn.LSTM or nn.LSTMCell), and TorchModuleModel. torch is imported inside the
functions; a torch module can only reach them if torch is already loaded.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from typing import Any

import numpy as np

from ..core.errors import EngineError, InputError, LoadError, SpecError
from ..core.spec import LSTMSpec
from ..model import HEAD_OUTPUTS, EmbeddingPart, HeadPart, LSTMPart, Model, Run, guess_output_kind
from .state_dict import (
    cell_as_layer, choose_lstm, count_parameters, first_line, spec_from_state_dict, to_array,
    weights_from_state_dict,
)  # fmt: skip


def is_torch_lstm(module: Any) -> bool:
    """A torch.nn.LSTM, a subclass of it, or its TorchScript form."""
    import torch

    if isinstance(module, torch.nn.LSTM):
        return True
    return isinstance(module, torch.jit.ScriptModule) and getattr(module, "original_name", None) == "LSTM"


def spec_from_module(module: Any) -> LSTMSpec:
    """The engine's spec of a torch.nn.LSTM (a subclass, or a scripted one), or of an nn.LSTMCell
    as the one-layer LSTM it steps, with its exact weights."""
    import torch

    if is_torch_lstm(module) and not isinstance(module, torch.nn.LSTM):  # scripted nn.LSTM
        spec = spec_from_state_dict(module.state_dict(), "", None)
        return LSTMSpec(weights=spec.weights, batch_first=_batch_first(module))
    if _kind(module) == "LSTMCell":  # the same equations, one step per call: a one-layer LSTM
        return _spec_of("", module, "LSTMCell", type(module).__name__)
    if not isinstance(module, torch.nn.LSTM):
        raise SpecError(f"expected a torch.nn.LSTM, got {type(module).__name__}")
    if module.mode != "LSTM":
        raise SpecError(f"expected an LSTM, got an RNN in mode {module.mode}")
    weights = weights_from_state_dict(
        dict(module.named_parameters()),
        "",
        module.num_layers,
        module.bidirectional,
        module.bias,
        module.proj_size > 0,
    )
    return LSTMSpec(weights=weights, batch_first=module.batch_first)


def _kind(module: Any) -> str | None:
    """"LSTM", "LSTMCell", "Embedding" or "Linear" for those torch modules (or their TorchScript
    forms); "QuantizedLSTM" for torch's quantize_dynamic LSTM, which is read dequantized."""
    import torch

    for cls in (torch.nn.LSTM, torch.nn.LSTMCell, torch.nn.Embedding, torch.nn.Linear):
        if isinstance(module, cls):
            return cls.__name__
    if isinstance(module, torch.jit.ScriptModule):
        name = getattr(module, "original_name", None)
        if name in ("LSTM", "LSTMCell", "Embedding", "Linear"):
            return name
    if type(module).__name__ == "LSTM" and type(module).__module__.startswith("torch.ao.nn.quantized"):
        return "QuantizedLSTM"
    if type(module).__name__ == "Linear" and type(module).__module__.startswith("torch.ao.nn.quantized"):
        return "QuantizedLinear"
    return None


#: the modules that are recurrent: each is traced as an LSTM (an LSTMCell is a one-layer one)
_RECURRENT = ("LSTM", "LSTMCell", "QuantizedLSTM")
#: forward arguments that carry an LSTM's state: zeros when the user gives none
_STATE_NAMES = re.compile(r"^(hidden|hiddens|hid|state|states|hx|hc|h0|h_0|init_state|initial_state|"
                          r"prev_state|memory|carry|h_c|hidden_state)$", re.I)  # fmt: skip
#: forward arguments that carry sequence lengths: the full length when the user gives none
_LENGTH_NAMES = re.compile(r"^(lengths?|lens|seq_lens?|seq_lengths?|x_lens|src_lens?|input_lengths?|"
                           r"sequence_lengths?|text_lengths?)$", re.I)  # fmt: skip


def _spec_of(name: str, module: Any, kind: str, path: str) -> LSTMSpec:
    """The engine's spec of one recurrent module: an LSTMCell as a one-layer LSTM, a
    quantize_dynamic LSTM with its weights dequantized."""
    try:
        if kind == "LSTMCell":
            sd = cell_as_layer(module.state_dict(), "")
            return LSTMSpec(weights=spec_from_state_dict(sd, "", None).weights, batch_first=False)
        if kind == "QuantizedLSTM":
            return _dequantized_spec(module)
        spec = spec_from_state_dict(dict(module.state_dict()), "", None)
    except SpecError as e:
        raise LoadError(f"{path}: LSTM {name!r}: {e}") from None
    return LSTMSpec(weights=spec.weights, batch_first=_batch_first(module))


def _dequantized_spec(module: Any) -> LSTMSpec:
    """torch.ao's dynamic quantized LSTM as a float LSTM of its dequantized weights."""
    if getattr(module, "mode", "LSTM") != "LSTM":
        raise SpecError(f"a quantized {module.mode}, not an LSTM")
    try:
        weights, biases = module.get_weight(), module.get_bias()
    except Exception as e:  # noqa: BLE001 - a packed format this torch cannot unpack
        raise SpecError(f"its quantized weights (quantized::lstm packed params) cannot be unpacked "
                        f"({first_line(e)}); dequantize the model before saving it") from None  # fmt: skip
    sd = {}
    for k, v in {**weights, **biases}.items():
        if v is None:
            continue
        sd[k] = v.dequantize() if getattr(v, "is_quantized", False) else v
    spec = spec_from_state_dict(sd, "", None)
    return LSTMSpec(weights=spec.weights, batch_first=bool(module.batch_first))


class _Param:
    """One argument of a module's forward: its name, whether it has a default, its type's name."""

    def __init__(self, name: str, has_default: bool, type_name: str = ""):
        self.name, self.has_default, self.type_name = name, has_default, type_name


def _forward_params(module: Any) -> list[_Param]:
    """The arguments of `module.forward` after self, from its Python signature or its
    TorchScript schema (whose forward has no Python signature)."""
    import inspect

    import torch

    if isinstance(module, torch.jit.ScriptModule):
        try:
            args = module.forward.schema.arguments[1:]
        except Exception:  # noqa: BLE001 - no schema to read: one argument, as before
            return [_Param("input", False)]
        return [_Param(a.name, a.default_value is not None, str(a.type)) for a in args]
    try:
        sig = inspect.signature(module.forward)
    except (TypeError, ValueError):
        return [_Param("input", False)]
    return [
        _Param(n, p.default is not inspect.Parameter.empty)
        for n, p in sig.parameters.items()
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]


class _Calls:
    """What one recurrent module saw over a run: each call's input steps, state in and out.

    A torch LSTM is usually called once with the whole sequence; an LSTMCell once
    per step (a char-RNN's Python loop, a decoder), and a streaming model's LSTM
    once per call of the model. Joined, the calls are one sequence, and each call's
    state in is checked against the previous call's state out: where they differ
    (a reset, a state changed between calls) the trace cannot follow the model.
    """

    def __init__(self, kind: str, batch_first: bool):
        self.kind, self.batch_first = kind, batch_first
        self.calls: list[tuple[Any, Any, Any]] = []  # (input, hx or None, output)

    def add(self, args: tuple, kwargs: dict, out: Any) -> None:
        inp = args[0] if args else kwargs.get("input")
        hx = args[1] if len(args) > 1 else kwargs.get("hx")
        self.calls.append((inp, hx, out))

    def batch_problem(self) -> str | None:
        """Why the calls are not of one sequence (a batch of several, a packed batch), or None."""
        import torch

        for inp, _, _ in self.calls:
            if isinstance(inp, torch.nn.utils.rnn.PackedSequence):
                if int(inp.batch_sizes.max()) != 1:
                    return (f"a packed sequence of {int(inp.batch_sizes[0])} sequences reached the LSTM; "
                            "pass one unpadded sequence")  # fmt: skip
                continue
            if not _is_tensor(inp):
                return f"the LSTM was called with a {type(inp).__name__}, not a tensor"
            if self.kind == "LSTMCell":
                if inp.dim() == 2 and inp.shape[0] != 1:
                    return (f"the LSTMCell saw a batch of {inp.shape[0]}, not one sequence (it takes "
                            "one step per call; a sequence of steps is traced with trace_lstm)")  # fmt: skip
            elif inp.dim() == 3:
                batch = inp.shape[0] if self.batch_first else inp.shape[1]
                if batch != 1:
                    return f"the LSTM saw a batch of {batch} sequences, not one sequence step by step"
        return None

    def _seq(self, t: Any) -> np.ndarray:
        """One call's input or output sequence as (steps, features)."""
        import torch

        if isinstance(t, torch.nn.utils.rnn.PackedSequence):
            return to_array(t.data)  # a batch of one: its data is the sequence, in order
        a = to_array(t)
        if self.kind == "LSTMCell":
            return a.reshape(1, -1)
        if a.ndim == 3:
            a = a[0] if self.batch_first else a[:, 0]
        return a

    @staticmethod
    def _state(s: Any) -> np.ndarray:
        """A state tensor as (layers*directions, features): (L*D, 1, H), (L*D, H), (1, H) or (H,)."""
        a = to_array(s)
        if a.ndim == 3:
            a = a[:, 0]
        return a.reshape(-1, a.shape[-1]) if a.ndim else a

    def sequence(self) -> tuple[np.ndarray, Any, Any, np.ndarray, list[tuple[int, str]]]:
        """(x (T, in), h0, c0, the module's own h (T, D*P), [(user step, what broke)])."""
        xs, outs, breaks = [], [], []
        h0 = c0 = None
        prev_out = None
        steps = 0
        for k, (inp, hx, out) in enumerate(self.calls):
            x = self._seq(inp)
            if self.kind == "LSTMCell":
                h_out, c_out = out
                seq_out = self._seq(h_out)
            else:
                seq_out = self._seq(out[0])
                h_out, c_out = out[1]
            state_in = None if hx is None else (self._state(hx[0]), self._state(hx[1]))
            if k == 0:
                if state_in is not None:
                    h0, c0 = state_in
            elif prev_out is not None:
                ph, pc = prev_out
                got = state_in if state_in is not None else (np.zeros_like(ph), np.zeros_like(pc))
                if not (np.array_equal(got[0], ph) and np.array_equal(got[1], pc)):
                    zeros = not np.any(got[0]) and not np.any(got[1])
                    breaks.append((steps + 1, "reset to zeros" if zeros else "changed between calls"))
            prev_out = (self._state(h_out), self._state(c_out))
            xs.append(x)
            outs.append(seq_out)
            steps += x.shape[0]
        return np.concatenate(xs), h0, c0, np.concatenate(outs), breaks


class TorchModuleModel(Model):
    """A real torch module (TorchScript, a trusted pickle, or a live module), run by torch itself.

    The per-step output is always what the module's own forward returns. The
    chosen LSTM's input comes from a forward hook on a pickled or live module,
    so it is exactly what the LSTM received, call by call (an LSTMCell stepped in
    a loop, a streaming model called once per step). TorchScript modules do not
    run Python hooks, so there the input is reconstructed (the embedding's rows
    for the first LSTM, the LSTMs before it for a later one), and the
    reconstruction is checked by recomputing the head and comparing it with the
    module's real output.

    A forward with more arguments than the sequence (`forward(input, hidden)`,
    `forward(x, lengths)`, `forward(src, tgt)`) names them in `input_names`;
    a state the user does not give starts at zeros and lengths at the full
    length, each with a warning on the trace.
    """

    def __init__(self, module: Any, path: str, format: str, lstm: str | None, *, name: str | None = None):
        module.eval()
        self.module = module
        self._hooks = format != "torchscript"
        named = list(module.named_modules())
        kinds = {n: _kind(m) for n, m in named}
        self._lstm_modules = {n: m for n, m in named if kinds[n] in _RECURRENT}
        self._kinds = {n: kinds[n] for n in self._lstm_modules}
        if not self._lstm_modules:
            others = [f"{type(m).__name__} {n or '(top level)'!r}" for n, m in named
                      if type(m).__name__ in ("GRU", "RNN", "GRUCell", "RNNCell")][:3]  # fmt: skip
            found = f" (it has {', '.join(others)}: lstm-tui debugs LSTMs only)" if others else ""
            raise LoadError(f"{path}: no nn.LSTM or nn.LSTMCell inside this {format} model{found}")
        names = list(self._lstm_modules)
        chosen = choose_lstm(names, lstm, path)
        with _quiet():  # reading quantized weights, state_dicts: torch's deprecations are not ours
            self._specs = {n: _spec_of(n, m, self._kinds[n], path) for n, m in self._lstm_modules.items()}
            state = module.state_dict()
        embeddings = [(n, m) for n, m in named if kinds[n] == "Embedding"]
        self._embedding = embeddings[0] if embeddings else None
        self._linears = [(n, m) for n, m in named if kinds[n] == "Linear"]
        n_emb = int(self._embedding[1].weight.shape[0]) if self._embedding else 0
        desc = {
            "torchscript": "A TorchScript archive, run by torch.",
            "pickled-module": "A pickled torch module, run by torch with forward hooks on its LSTMs.",
        }.get(format, "A live torch module, run by torch with forward hooks on its LSTMs.")
        if self._embedding:
            desc += f" It has no vocabulary, so text input is token ids 0–{n_emb - 1}."
        warnings = []
        quantized = [n for n in names if self._kinds[n] == "QuantizedLSTM"]
        if quantized or any(kinds[n] == "QuantizedLinear" for n in kinds):
            warnings.append(
                f"quantized (torch quantize_dynamic): the values shown for "
                f"{', '.join(repr(n) for n in quantized) or 'its LSTMs'} are those of the dequantized "
                "weights in float arithmetic; the model itself computes with int8 weights, so its "
                "own outputs differ from them slightly"
            )
        self._params = _forward_params(module)
        super().__init__(
            path=path, format=format, spec=self._specs[chosen], lstm_names=tuple(names),
            lstm_name=chosen, input_kind="text" if self._embedding else "numeric",
            tokenizer="words" if self._embedding else None,
            vocab=tuple(str(i) for i in range(n_emb)) if self._embedding else None,
            ids_as_vocab=True, output_kind=None, description=desc, name=name,
            embedding=(EmbeddingPart(self._embedding[0], to_array(self._embedding[1].weight))
                       if self._embedding else None),
            lstms=[LSTMPart(n, self._specs[n]) for n in names], warnings=warnings,
        )  # fmt: skip
        if len(self._params) > 1:
            self.input_names = tuple(p.name for p in self._params)
            self.sequence_input = self._params[0].name
        self._parameter_count = count_parameters(state.values())
        #: set by each run: the head module and whether each LSTM read the one before it
        self._head_module: Any = None
        self._fed_by_previous: dict[str, bool] = {}
        self._head_reason = "nothing has been run yet: trace an input first"

    @property
    def parameter_count(self) -> int:
        return self._parameter_count

    @property
    def input_width(self) -> int | None:
        """The first LSTM's input size for TorchScript, whose reconstruction feeds it directly;
        unknown for a hooked module, which may transform its input before any LSTM."""
        if self._hooks:
            return None
        return self._specs[next(iter(self._lstm_modules))].input_size

    def info(self) -> dict:
        info = super().info()
        if self.output_kind is None:
            info["output_note"] = "whatever the module's forward returns per step (read when run)"
        if self.input_names:
            info["forward_args"] = [
                (p.name, "the sequence" if k == 0 else self._arg_default(p)) for k, p in enumerate(self._params)
            ]
        return info

    def _arg_default(self, p: _Param) -> str:
        if _STATE_NAMES.match(p.name) and not p.has_default:
            return "a state: zeros unless given"
        if _LENGTH_NAMES.match(p.name) and not p.has_default:
            return "lengths: the full length unless given"
        return "its default unless given" if p.has_default else "required"

    def layers(self) -> list[tuple[str, str]]:
        out = []
        for n, m in self.module.named_modules():
            kind = _kind(m)
            if kind in _RECURRENT:
                what = self._specs[n].summary()
                if kind == "LSTMCell":
                    what = f"LSTMCell({self._specs[n].input_size}, {self._specs[n].hidden_size}) as {what}"
                elif kind == "QuantizedLSTM":
                    what = f"quantized (dynamic, int8) {what}, read dequantized"
                out.append((n, what))
            elif kind == "Embedding":
                out.append((n, f"Embedding({m.weight.shape[0]}, {m.weight.shape[1]})"))
            elif kind == "Linear":
                out.append((n, f"Linear({m.weight.shape[1]}, {m.weight.shape[0]})"))
        return out

    # --- calling the module's forward
    def _layouts(self, ids: np.ndarray | None, x: np.ndarray | None) -> list[tuple[Any, Any]]:
        """(the sequence as a tensor, how to lay out another sequence like it), most likely first.

        The first LSTM's batch_first decides the order: a time-major model takes one
        sequence as (T, 1), a batch-first one as (1, T); fed the other, a time-major
        LSTM runs T sequences of one step each (h and c right, the output wrong).
        """
        import torch

        first = self._specs[next(iter(self._lstm_modules))]
        if ids is not None:
            t = torch.from_numpy(np.asarray(ids, dtype=np.int64))
        else:
            t = torch.from_numpy(np.ascontiguousarray(x, dtype=first.dtype))
        batch = (lambda a: a[None]) if first.batch_first else (lambda a: a[:, None])
        other = (lambda a: a[:, None]) if first.batch_first else (lambda a: a[None])
        return [(batch(t), batch), (t, lambda a: a), (other(t), other)]

    def _zeros_state(self, batched: bool) -> Any:
        """Zeros for a state argument: the model's own init_hidden(1) when it has one (it knows
        its state's structure), else (h0, c0) of zeros for its first recurrent module."""
        import torch

        init = getattr(self.module, "init_hidden", None)
        if callable(init) and batched:
            try:
                with torch.no_grad():
                    return init(1)
            except Exception:  # noqa: BLE001 - the model's own helper; fall back to zeros
                pass
        name = next(iter(self._lstm_modules))
        spec, kind = self._specs[name], self._kinds[name]
        dt = torch.float64 if spec.dtype == np.float64 else torch.float32
        if kind == "LSTMCell":
            shape_h = shape_c = ((1,) if batched else ()) + (spec.hidden_size,)
        else:
            n = spec.num_layers * spec.num_directions
            shape_h = (n,) + ((1,) if batched else ()) + (spec.out_size,)
            shape_c = (n,) + ((1,) if batched else ()) + (spec.hidden_size,)
        return (torch.zeros(shape_h, dtype=dt), torch.zeros(shape_c, dtype=dt))

    def _arguments(self, seq: Any, layout, extra: dict, T: int, as_given: bool):
        """(args, kwargs, notes) for one call of forward: the sequence, then each other argument
        from `extra` (laid out like the sequence unless `as_given`), a state's zeros, full lengths."""
        import torch

        args, notes = [seq], []
        batched = seq.dim() > (1 if seq.dtype == torch.int64 else 2)
        cell = self._kinds[next(iter(self._lstm_modules))] == "LSTMCell"
        for p in self._params[1:]:
            if p.name in extra:
                v = extra[p.name]
                if isinstance(v, str):
                    raise InputError(f"argument {p.name!r}: give an array, not text")
                if _STATE_NAMES.match(p.name):
                    args.append(_state_value(v, self.spec.dtype, batched and not as_given, cell, p.name))
                else:
                    args.append(_tensor_like(v, self.spec.dtype, None if as_given else layout))
            elif _STATE_NAMES.match(p.name) and not p.has_default:
                state = self._zeros_state(batched)
                zeros = all(not bool(t.any()) for t in _tensors_in(state))
                start = "zeros" if zeros else "what the model's init_hidden(1) returns"
                args.append(state)
                notes.append(f"the forward's {p.name!r} was not given: it starts at {start} "
                             f"(give it with --input {p.name}=FILE.npy)")  # fmt: skip
            elif _LENGTH_NAMES.match(p.name) and not p.has_default:
                args.append(torch.tensor([T], dtype=torch.int64))
                notes.append(f"the forward's {p.name!r} was not given: the sequence runs its full "
                             f"length {T}")  # fmt: skip
            elif p.has_default:
                break  # this and the later ones keep their defaults (given ones go by keyword)
            else:
                raise InputError(
                    f"{self.name}'s forward takes {p.name!r}, which was not given: give it "
                    f"(--input {p.name}=FILE.npy, or one .npz of named arrays)"
                )
        kwargs = {p.name: _tensor_like(extra[p.name], self.spec.dtype, None if as_given else layout)
                  for p in self._params[len(args):] if p.name in extra}  # fmt: skip
        return args, kwargs, notes

    def _run(self, args, kwargs, store: dict | None):
        """The module's forward on (args, kwargs), with torch's own warnings kept off the terminal."""
        import torch

        if store is not None:
            for calls in store.values():
                calls.calls.clear()
        with torch.no_grad(), _quiet():
            return self.module(*args, **kwargs)

    def _call(self, ids, x, T: int, extra: dict, store: dict | None):
        """(the forward's output, per-step output or None, notes): the module's own forward on
        one sequence, in the first input layout that works, else step by step (streaming)."""
        errors: list[str] = []
        for seq, layout in self._layouts(ids, x):
            for as_given in ((False, True) if extra else (False,)):
                try:
                    args, kwargs, notes = self._arguments(seq, layout, extra, T, as_given)
                    out = self._run(args, kwargs, store)
                except InputError:
                    raise
                except Exception as e:  # noqa: BLE001 - the user's forward can raise anything
                    errors.append(first_line(e))
                    continue
                if store is not None:
                    problem = self._hook_problem(store)
                    if problem:
                        errors.append(problem)
                        continue
                return out, None, notes
        if store is not None and len(self._params) > 1 and self._state_param() is not None:
            streamed = self._stream(ids, x, T, extra, store, errors)
            if streamed is not None:
                return streamed
        packed = next((e for e in errors if "packed sequence" in e), None)
        if packed:
            raise InputError(packed)
        hint = ("give one sequence as [T] token ids" if ids is not None
                else f"give one sequence as [T, features] (it was {tuple(x.shape)})")  # fmt: skip
        if self.input_names:
            hint += (f", and its other arguments ({', '.join(self.input_names[1:])}) by name: "
                     "--input NAME=FILE.npy")  # fmt: skip
        raise InputError(f"the model's forward failed on this input ({errors[0]}); {hint}")

    def _state_param(self) -> int | None:
        return next((k for k, p in enumerate(self._params) if k and _STATE_NAMES.match(p.name)), None)

    def _hook_problem(self, store: dict) -> str | None:
        calls = store[self.lstm_name]
        if not calls.calls:
            return f"the forward never called the LSTM {self.lstm_name!r}"
        return calls.batch_problem()

    def _stream(self, ids, x, T: int, extra: dict, store: dict, errors: list[str]):
        """A streaming model (forward(x_t, state) -> (y_t, state)): called once per step with
        the state it returned passed back in. (output list, per-step output, notes) or None."""
        k_state = self._state_param()
        outs, state, notes, chosen = [], None, [], None
        for t in range(T):
            step_ids = ids[t:t + 1] if ids is not None else None
            step_x = x[t:t + 1] if x is not None else None
            layouts = [chosen] if chosen is not None else self._step_layouts(step_ids, step_x)
            for seq, layout in layouts:
                seq = seq if chosen is None else layout(_step_tensor(step_ids, step_x, self.spec.dtype))
                try:
                    args, kwargs, step_notes = self._arguments(seq, layout, extra if t == 0 else {
                        k: v for k, v in extra.items() if k != self._params[k_state].name}, 1, False)  # fmt: skip
                    if t > 0:
                        args = args[:k_state] + [state] + args[k_state + 1:]
                    # the hooks keep every step's calls: clear them only before the first step
                    out = self._run(args, kwargs, store if t == 0 else None)
                except InputError:
                    raise
                except Exception as e:  # noqa: BLE001 - the user's forward can raise anything
                    errors.append(f"called step by step: {first_line(e)}")
                    continue
                if t == 0:
                    problem = self._hook_problem(store)
                    if problem:
                        errors.append(f"called step by step: {problem}")
                        continue
                    chosen, notes = (seq, layout), step_notes
                break
            else:
                return None
            if not (isinstance(out, (tuple, list)) and len(out) >= 2):
                errors.append("called step by step: the forward does not return (output, state)")
                return None
            outs.append(out[0])
            state = out[-1]
        per_step = [_per_step(o, 1) for o in outs]
        output = np.concatenate(per_step) if all(o is not None for o in per_step) else None
        notes = notes + [f"a streaming model: its forward was called once per step ({T} calls), "
                         "the state it returned passed back in"]  # fmt: skip
        return outs, output, notes

    def _step_layouts(self, ids, x):
        """One step as the forward may take it: (1,), (1, 1) for ids; (1, in), (in,), (1, 1, in)."""
        t = _step_tensor(ids, x, self.spec.dtype)
        if ids is not None:
            return [(t, lambda a: a), (t[None], lambda a: a[None])]
        return [(t, lambda a: a), (t[0], lambda a: a[0]), (t[None], lambda a: a[None])]

    def _hooked(self, run):
        """Run `run(store)` with forward hooks on every recurrent module recording their calls."""
        store = {n: _Calls(self._kinds[n] if self._kinds[n] == "LSTMCell" else "LSTM",
                           self._specs[n].batch_first) for n in self._lstm_modules}  # fmt: skip

        def make_hook(name):
            def hook(mod, args, kwargs, out):
                store[name].add(args, kwargs, out)
            return hook

        handles = [m.register_forward_hook(make_hook(n), with_kwargs=True)
                   for n, m in self._lstm_modules.items()]  # fmt: skip
        try:
            return run(store), store
        finally:
            for h in handles:
                h.remove()

    def trace_call(self, *args: Any, **kwargs: Any):
        """Trace the chosen LSTM on one call of the module's forward with exactly these
        arguments (debug(model, *args, **kwargs)): the hooks see what it reads."""
        def run(store):
            try:
                return self._run(list(args), kwargs, store)
            except Exception as e:  # noqa: BLE001 - the user's model failed on the user's input
                raise InputError(f"{self.name} failed on the input: {first_line(e)}") from None

        out, store = self._hooked(run)
        problem = self._hook_problem(store)
        if problem:
            raise InputError(problem)
        run_ = self._from_hooks(store, out, None, [])
        if run_.output is not None and self.output_kind is None:
            self.output_kind = guess_output_kind(run_.output)
        return self._trace_of(run_, None)

    def _from_hooks(self, store: dict, out: Any, per_step: np.ndarray | None, notes: list[str]) -> Run:
        """The Run of the chosen LSTM from what the hooks saw, and what follows it."""
        seqs = {n: c.sequence() for n, c in store.items() if c.calls}
        lstm_x, h0, c0, lstm_out, breaks = seqs[self.lstm_name]
        T = lstm_x.shape[0]
        warnings = list(notes)
        kind = "LSTMCell" if self._kinds[self.lstm_name] == "LSTMCell" else "LSTM"
        calls = len(store[self.lstm_name].calls)
        if calls > 1 and self.spec.bidirectional:
            raise InputError(
                f"the bidirectional LSTM {self.lstm_name!r} was called {calls} times in one forward; "
                "each call reads its own sequence from both ends, so the calls are not one trace: "
                "trace one call with lstm_engine.trace_lstm(module, x)"
            )
        for step, what in breaks:
            warnings.append(
                f"{kind} {self.lstm_name!r}: the state it was given at step {step} is not the one it "
                f"returned at step {step - 1} ({what}); the trace carries its own state on, so from "
                f"step {step} it is not what the model computed"
            )
        meta = {"lstm_input": "captured by a forward hook" + (f" ({calls} calls)" if calls > 1 else "")}
        if breaks:
            meta["state_breaks"] = [s for s, _ in breaks]
        self._fed_by_previous = self._chain_seen(seqs)
        last_name = next(n for n in reversed(self._lstm_modules) if n in seqs)
        last = seqs[last_name][3]
        output = per_step if per_step is not None else _per_step(out, T)
        self._find_head(last, output)
        if output is None and _per_step(out, None) is not None:
            warnings.append(f"the model's output has {_per_step(out, None).shape[0]} steps but the LSTM "
                            f"{self.lstm_name!r} read {T}: no output is shown for it")  # fmt: skip
        if warnings:
            meta["warnings"] = warnings
        return Run(x=lstm_x, h0=h0, c0=c0, output=output, lstm_out=lstm_out.astype(np.float64), meta=meta)

    def _forward(self, tokens, ids, x, batch_index: int, extra=None, buffers=None) -> Run:
        # `buffers` is for Model._trace_of's record() of the run's input: the hooks' own
        # recordings (several calls joined into one trace) are made in memory
        T = len(ids) if ids is not None else x.shape[0]
        extra = dict(extra or {})
        if self._hooks:
            (out, per_step, notes), store = self._hooked(lambda store: self._call(ids, x, T, extra, store))
            run = self._from_hooks(store, out, per_step, notes)
        else:
            out, _, notes = self._call(ids, x, T, extra, None)
            h0c0 = self._given_state(extra)
            lstm_x, last = self._reconstruct(ids, x, h0c0)
            output = _per_step(out, T)
            # the reconstruction assumes the chain; a head that then gives the output confirms it
            found = self._find_head(last, output)
            lstm_input = self._reconstruction_note(found)
            warnings = list(notes)
            if not found:
                warnings.append(f"TorchScript runs no hooks: the input of LSTM {self.lstm_name!r} was "
                                f"{lstm_input}")  # fmt: skip
            self._fed_by_previous = dict.fromkeys(self._lstm_modules, True)
            first = next(iter(self._lstm_modules))
            h0, c0 = h0c0 if (h0c0 is not None and self.lstm_name == first) else (None, None)
            run = Run(x=lstm_x, h0=h0, c0=c0, output=output,
                      meta={"lstm_input": lstm_input, **({"warnings": warnings} if warnings else {})})  # fmt: skip
        if run.output is not None and self.output_kind is None:
            self.output_kind = guess_output_kind(run.output)
        return run

    def _given_state(self, extra: dict):
        """The (h0, c0) the user gave a TorchScript forward's state argument, as (L*D, H) arrays."""
        k = self._state_param()
        if k is None or self._params[k].name not in extra:
            return None
        v = extra[self._params[k].name]
        a = np.asarray(v)
        if a.ndim >= 1 and a.shape[0] == 2:  # h and c stacked in one array
            return tuple(_Calls._state(np.asarray(s)) for s in a)
        return None

    # --- what follows an LSTM, as far as a run has shown it
    def _chain_seen(self, seqs: dict) -> dict[str, bool]:
        """For each LSTM after the first: did it read exactly what the one before it returned?"""
        names = list(self._lstm_modules)
        fed = {names[0]: False}
        for prev, name in zip(names, names[1:]):
            if prev not in seqs or name not in seqs:
                fed[name] = False
                continue
            before, got = seqs[prev][3], seqs[name][0]
            fed[name] = before.shape == got.shape and bool(np.array_equal(before, got))
        return fed

    def _find_head(self, last: np.ndarray, output: np.ndarray | None) -> bool | None:
        """The one Linear (and output function) that turns the last LSTM's output into the model's.

        Sets `head` when exactly one Linear reading the last LSTM's width gives
        the module's real output on this run, through one of HEAD_OUTPUTS
        (logits, log_softmax, softmax, sigmoid); otherwise `head` is None and
        `_head_reason` says why. Returns True when found, False when the one
        candidate does not give the output, None when there is nothing to check.
        """
        self.head, self._head_module = None, None
        heads = [(n, m) for n, m in self._linears if m.weight.shape[1] == last.shape[1]]
        if output is None:
            self._head_reason = "its forward does not return one output per step"
            return None
        if len(heads) != 1:
            self._head_reason = (f"{'no' if not heads else len(heads)} Linear layer(s) read the last "
                                 "LSTM's output, so the head is not known")  # fmt: skip
            return None
        name, m = heads[0]
        W = to_array(m.weight)
        b = to_array(m.bias) if m.bias is not None else None
        tol = 1e-9 if last.dtype == np.float64 else 2e-5  # the engine's agreement with torch
        for fn in HEAD_OUTPUTS:
            head = HeadPart(name, W, b, fn)
            got = head(last.astype(np.float64))
            if got.shape == output.shape and np.allclose(got, output, atol=tol, rtol=tol):
                self.head, self._head_module = head, m
                self._head_reason = ""
                return True
        self._head_reason = (f"the Linear {name!r} on the last LSTM's output does not give the model's "
                             "output: its forward does more than embedding → LSTMs → head")  # fmt: skip
        return False

    def downstream(self, lstm_name: str, h: np.ndarray) -> np.ndarray:
        """The module's output from LSTM `lstm_name`'s h, re-running its later modules with torch.

        Honest only where a run showed the network after that LSTM to be a chain
        of LSTMs and a head: each later LSTM read exactly what the one before it
        returned (seen by hooks; for TorchScript, the reconstruction checked
        against the output), and one Linear plus an output function gave the
        module's own output. It was shown on the input last traced, not proven
        for every input: a forward is code.
        """
        import torch

        part = self.part(lstm_name)
        names = list(self._lstm_modules)
        later = names[names.index(lstm_name) + 1:]
        why = self._head_reason or next(
            (f"LSTM {n!r} did not read what the LSTM before it returned" for n in later
             if not self._fed_by_previous.get(n)), ""
        )  # fmt: skip
        if why:
            raise EngineError(f"cannot run what follows LSTM {lstm_name!r} in {self.name}: {why}")
        h = np.asarray(h)
        if h.ndim != 2 or h.shape[1] != part.out_width or h.shape[0] == 0 or h.dtype.kind not in "fiu":
            raise InputError(f"h has shape {tuple(h.shape)} ({h.dtype}); LSTM {lstm_name!r} outputs "
                             f"[T, {part.out_width}] real numbers")  # fmt: skip
        from ..core.recorder import record

        cur = torch.from_numpy(np.ascontiguousarray(h, dtype=part.spec.dtype))
        with torch.no_grad():
            for n in later:
                m, spec = self._lstm_modules[n], self._specs[n]
                if isinstance(m, torch.nn.LSTM):
                    seq = m(cur[None] if spec.batch_first else cur[:, None])[0]
                    cur = seq[0] if spec.batch_first else seq[:, 0]
                else:  # a scripted LSTM's forward is overloaded; the engine runs it as it was checked
                    tr = record(spec, cur.numpy())
                    cur = torch.from_numpy(np.concatenate(list(tr.h[-1]), axis=-1))
            z = self._head_module(cur)
            if self.head.output == "log_softmax":
                z = torch.log_softmax(z, dim=-1)
            elif self.head.output == "softmax":
                z = torch.softmax(z, dim=-1)
            elif self.head.output == "sigmoid":
                z = torch.sigmoid(z)
        return to_array(z)

    def _reconstruct(self, ids, x, h0c0=None) -> tuple[np.ndarray, np.ndarray]:
        """(chosen LSTM's input, last LSTM's output) for modules that cannot be hooked.

        TorchScript does not run Python hooks, so the LSTMs are assumed to be
        fed by the embedding (or the numeric input) and by each other in order,
        the first from the state the user gave (`h0c0`) or zeros;
        `_check_reconstruction` tests that assumption against the real output.
        """
        from ..core.recorder import record

        if ids is not None:
            cur = to_array(self._embedding[1].weight)[ids]
        else:
            cur = np.asarray(x, dtype=self.spec.dtype)
        chosen = None
        for k, name in enumerate(self._lstm_modules):
            if name == self.lstm_name:
                chosen = cur
            spec = self._specs[name]
            if cur.shape[1] != spec.input_size:
                raise InputError(
                    f"cannot tell what LSTM {name!r} reads inside this TorchScript model "
                    f"(it takes {spec.input_size} features, the layer before gives {cur.shape[1]})"
                )
            h0, c0 = h0c0 if (k == 0 and h0c0 is not None) else (None, None)
            cur = np.concatenate(list(record(spec, cur, h0, c0).h[-1]), axis=-1)
        return chosen, cur

    @staticmethod
    def _reconstruction_note(found: bool | None) -> str:
        """What the trace's meta says about the reconstructed input, from _find_head's answer."""
        if found:
            return "reconstructed and checked: the head on it gives the model's output"
        if found is None:
            return ("reconstructed (embedding → LSTMs in order); not checked against the output: "
                    "the model's output may not follow from this trace")  # fmt: skip
        return ("reconstructed (embedding → LSTMs in order) but the head on it does NOT give the "
                "model's output: the model does more than that; treat this trace with care")


@contextlib.contextmanager
def _quiet():
    """Warnings off: torch's (and a user's model's) warnings would land in `record`'s output,
    where they are noise to someone debugging an LSTM, not something they can act on."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _batch_first(module: Any) -> bool:
    """An LSTM's batch_first, also for traced TorchScript, which keeps it only in its code.

    A traced LSTM's code calls torch.lstm(input, hx, params, has_biases, num_layers,
    dropout, train, bidirectional, batch_first); the last argument is the answer.
    """
    if hasattr(module, "batch_first"):
        return bool(module.batch_first)
    try:
        code = module.code
    except Exception:  # noqa: BLE001 - no code to read: torch's default
        return False
    m = re.search(r"torch\.lstm\(([^()]*(?:\([^()]*\)[^()]*)*)\)", code)
    if m:
        last = m.group(1).rsplit(",", 1)[-1].strip()
        return last == "True"
    return False


def _is_tensor(v: Any) -> bool:
    import torch

    return isinstance(v, torch.Tensor)


def _per_step(out: Any, T: int | None) -> np.ndarray | None:
    """The forward's result as (T, n) when it is a per-step output (any number of steps for
    T=None), else None."""
    if isinstance(out, (tuple, list)) and out:
        out = out[0]
    if not _is_tensor(out) or not out.is_floating_point():
        return None
    a = to_array(out)
    while a.ndim > 2 and 1 in a.shape[:-1]:
        a = np.squeeze(a, axis=a.shape[:-1].index(1))
    if a.ndim == 1 and T is not None and a.shape[0] == T:
        a = a[:, None]
    if a.ndim == 1 and T == 1:
        a = a[None, :]
    if a.ndim != 2 or (T is not None and a.shape[0] != T):
        return None
    return a


def _tensors_in(v: Any) -> list[Any]:
    """The tensors of a state as models hold it: a tensor, a tuple (h, c), a list of them."""
    if _is_tensor(v):
        return [v]
    if isinstance(v, (tuple, list)):
        return [t for item in v for t in _tensors_in(item)]
    return []


def _tensor_like(v: Any, dtype: np.dtype, layout) -> Any:
    """A user's array as a tensor for a forward argument: integers as int64, reals in the
    model's dtype; laid out like the sequence when `layout` is given."""
    import torch

    a = np.asarray(v)
    t = (torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64)) if a.dtype.kind in "iub"
         else torch.from_numpy(np.ascontiguousarray(a, dtype=dtype)))  # fmt: skip
    return layout(t) if layout is not None else t


def _state_value(v: Any, dtype: np.dtype, batched: bool, cell: bool, name: str) -> Any:
    """A state argument given as one array: (2, ...) stacks h and c, passed as the pair (h, c)
    torch's LSTMs take; `batched` inserts the batch axis of one sequence where it is missing
    (an LSTM's (L, H) → (L, 1, H), a cell's (H,) → (1, H)). Any other array is passed as it is."""
    import torch

    a = np.asarray(v)
    if a.dtype.kind not in "fiu":
        raise InputError(f"argument {name!r}: a state must be real numbers, got {a.dtype}")
    t = torch.from_numpy(np.ascontiguousarray(a, dtype=dtype))
    if a.ndim < 2 or a.shape[0] != 2:
        return t
    h, c = t[0], t[1]
    if batched and h.dim() == (1 if cell else 2):
        h, c = ((s[None] if cell else s[:, None]) for s in (h, c))
    return (h, c)


def _step_tensor(ids: np.ndarray | None, x: np.ndarray | None, dtype: np.dtype) -> Any:
    """One step of the sequence as a tensor: ids (1,), x (1, in)."""
    import torch

    if ids is not None:
        return torch.from_numpy(np.asarray(ids, dtype=np.int64))
    return torch.from_numpy(np.ascontiguousarray(x, dtype=dtype))


__all__ = ["TorchModuleModel", "is_torch_lstm", "spec_from_module"]
