"""A real torch module run by torch: the LSTMs inside it and the model that hooks them.

Pickled modules and TorchScript archives are code, not a list of weights: what
they output is whatever their forward computes, so the engine runs them with
torch and records the chosen LSTM on exactly what it read. This module holds
what knows torch's module classes: is_torch_lstm and spec_from_module (used by
trace_lstm for a live nn.LSTM), and TorchModuleModel. torch is imported inside
the functions; a torch module can only reach them if torch is already loaded.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..core.errors import EngineError, InputError, LoadError, SpecError
from ..core.spec import LSTMSpec
from ..model import (
    EmbeddingPart, HeadPart, LSTMPart, Model, Run, guess_output_kind, log_softmax, softmax,
)  # fmt: skip
from .state_dict import choose_lstm, first_line, spec_from_state_dict, to_array, weights_from_state_dict


def is_torch_lstm(module: Any) -> bool:
    """A torch.nn.LSTM, a subclass of it, or its TorchScript form."""
    import torch

    if isinstance(module, torch.nn.LSTM):
        return True
    return isinstance(module, torch.jit.ScriptModule) and getattr(module, "original_name", None) == "LSTM"


def spec_from_module(module: Any) -> LSTMSpec:
    """The engine's spec of a torch.nn.LSTM (a subclass, or a scripted one), with its exact weights."""
    import torch

    if is_torch_lstm(module) and not isinstance(module, torch.nn.LSTM):  # scripted nn.LSTM
        spec = spec_from_state_dict(module.state_dict(), "", None)
        return LSTMSpec(weights=spec.weights, batch_first=_batch_first(module))
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
    """"LSTM", "Embedding" or "Linear" for those torch modules (or their TorchScript forms)."""
    import torch

    for cls in (torch.nn.LSTM, torch.nn.Embedding, torch.nn.Linear):
        if isinstance(module, cls):
            return cls.__name__
    if isinstance(module, torch.jit.ScriptModule):
        name = getattr(module, "original_name", None)
        if name in ("LSTM", "Embedding", "Linear"):
            return name
    return None


class TorchModuleModel(Model):
    """A real torch module (TorchScript or a trusted pickle), run by torch itself.

    The per-step output is always what the module's own forward returns. The
    chosen LSTM's input comes from a forward hook on a pickled module, so it is
    exactly what the LSTM received. TorchScript modules do not run Python hooks,
    so there the input is reconstructed (the embedding's rows for the first LSTM,
    the LSTMs before it for a later one), and the reconstruction is checked by
    recomputing the head and comparing it with the module's real output.
    """

    def __init__(self, module: Any, path: str, format: str, lstm: str | None):
        module.eval()
        self.module = module
        named = list(module.named_modules())
        self._lstm_modules = {n: m for n, m in named if _kind(m) == "LSTM"}
        if not self._lstm_modules:
            raise LoadError(f"{path}: no nn.LSTM inside this {format} model")
        names = list(self._lstm_modules)
        chosen = choose_lstm(names, lstm, path)
        sd = module.state_dict()
        self._specs = {}
        for n, m in self._lstm_modules.items():
            sub = {k: v for k, v in m.state_dict().items()}
            try:
                spec = spec_from_state_dict(sub, "", None)
            except SpecError as e:
                raise LoadError(f"{path}: LSTM {n!r}: {e}") from None
            self._specs[n] = LSTMSpec(weights=spec.weights, batch_first=_batch_first(m))
        embeddings = [(n, m) for n, m in named if _kind(m) == "Embedding"]
        self._embedding = embeddings[0] if embeddings else None
        self._linears = [(n, m) for n, m in named if _kind(m) == "Linear"]
        n_emb = int(self._embedding[1].weight.shape[0]) if self._embedding else 0
        desc = (
            "A TorchScript archive, run by torch." if format == "torchscript"
            else "A pickled torch module, run by torch with forward hooks on its LSTMs."
        )  # fmt: skip
        if self._embedding:
            desc += f" It has no vocabulary, so text input is token ids 0–{n_emb - 1}."
        super().__init__(
            path=path, format=format, spec=self._specs[chosen], lstm_names=tuple(names),
            lstm_name=chosen, input_kind="text" if self._embedding else "numeric",
            tokenizer="words" if self._embedding else None,
            vocab=tuple(str(i) for i in range(n_emb)) if self._embedding else None,
            ids_as_vocab=True, output_kind=None, description=desc,
            embedding=(EmbeddingPart(self._embedding[0], to_array(self._embedding[1].weight))
                       if self._embedding else None),
            lstms=[LSTMPart(n, self._specs[n]) for n in names],
        )  # fmt: skip
        self._parameter_count = sum(int(v.numel()) for v in sd.values())
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
        if self.format == "pickled-module":
            return None
        return self._specs[next(iter(self._lstm_modules))].input_size

    def info(self) -> dict:
        info = super().info()
        if self.output_kind is None:
            info["output_note"] = "whatever the module's forward returns per step (read when run)"
        return info

    def layers(self) -> list[tuple[str, str]]:
        out = []
        for n, m in self.module.named_modules():
            kind = _kind(m)
            if kind == "LSTM":
                out.append((n, self._specs[n].summary()))
            elif kind == "Embedding":
                out.append((n, f"Embedding({m.weight.shape[0]}, {m.weight.shape[1]})"))
            elif kind == "Linear":
                out.append((n, f"Linear({m.weight.shape[1]}, {m.weight.shape[0]})"))
        return out

    def _candidates(self, ids: np.ndarray | None, x: np.ndarray | None) -> list[Any]:
        import torch

        if ids is not None:
            t = torch.from_numpy(np.asarray(ids, dtype=np.int64))
            return [t, t[None, :], t[:, None]]
        first = self._specs[next(iter(self._lstm_modules))]
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=first.dtype))
        return [t[None] if first.batch_first else t[:, None], t, t[:, None] if first.batch_first else t[None]]

    def _call(self, ids, x, T: int, hook_store: dict | None):
        """The module's own forward on one sequence, in the first input layout that works."""
        import torch

        errors = []
        for inp in self._candidates(ids, x):
            if hook_store is not None:
                hook_store.clear()
            try:
                with torch.no_grad():
                    out = self.module(inp)
            except Exception as e:  # noqa: BLE001 - the user's forward can raise anything
                errors.append(first_line(e))
                continue
            if hook_store is not None:
                got = hook_store.get(self.lstm_name)
                if got is None or _steps(got[0], self.spec.batch_first) != T:
                    errors.append("the LSTM did not see the sequence step by step")
                    continue
            return out
        raise InputError(f"the model's forward failed on this input ({errors[0]})")

    def _forward(self, tokens, ids, x, batch_index: int) -> Run:
        T = len(ids) if ids is not None else x.shape[0]
        meta: dict = {}
        lstm_out = h0 = c0 = None
        if self.format == "pickled-module":
            store: dict = {}

            def make_hook(name):
                def hook(mod, args, out):
                    store[name] = (args[0], args[1] if len(args) > 1 else None, out)
                return hook

            handles = [m.register_forward_hook(make_hook(n)) for n, m in self._lstm_modules.items()]
            try:
                out = self._call(ids, x, T, store)
            finally:
                for h in handles:
                    h.remove()
            seq, state, lstm_result = store[self.lstm_name]
            lstm_x = _one_sequence(seq, self.spec.batch_first)
            if state is not None:
                h0, c0 = (to_array(s)[:, 0] if s.dim() == 3 else to_array(s) for s in state)
            lstm_out = _one_sequence(lstm_result[0], self.spec.batch_first).astype(np.float64)
            meta["lstm_input"] = "captured by a forward hook"
            self._fed_by_previous = self._chain_seen(store)
            last_name = next(reversed(self._lstm_modules))
            last = _one_sequence(store[last_name][2][0], self._specs[last_name].batch_first)
            self._find_head(last, out, T)
        else:
            out = self._call(ids, x, T, None)
            lstm_x, last = self._reconstruct(ids, x)
            meta["lstm_input"], checked = self._check_reconstruction(last, out, T)
            if not checked:
                meta["warnings"] = [f"TorchScript runs no hooks: the input of LSTM {self.lstm_name!r} was "
                                    f"{meta['lstm_input']}"]  # fmt: skip
            # the reconstruction assumes the chain; a head that then gives the output confirms it
            self._fed_by_previous = dict.fromkeys(self._lstm_modules, True)
            self._find_head(last, out, T)
        output = _per_step(out, T)
        if output is not None and self.output_kind is None:
            self.output_kind = guess_output_kind(output)
        return Run(x=lstm_x, h0=h0, c0=c0, output=output, lstm_out=lstm_out, meta=meta)

    # --- what follows an LSTM, as far as a run has shown it
    def _chain_seen(self, store: dict) -> dict[str, bool]:
        """For each LSTM after the first: did it read exactly what the one before it returned?"""
        names = list(self._lstm_modules)
        fed = {names[0]: False}
        for prev, name in zip(names, names[1:]):
            if prev not in store or name not in store:
                fed[name] = False
                continue
            before = _one_sequence(store[prev][2][0], self._specs[prev].batch_first)
            got = _one_sequence(store[name][0], self._specs[name].batch_first)
            fed[name] = before.shape == got.shape and bool(np.array_equal(before, got))
        return fed

    def _find_head(self, last: np.ndarray, out: Any, T: int) -> None:
        """The one Linear (and output function) that turns the last LSTM's output into the model's.

        Sets `head` when exactly one Linear reading the last LSTM's width gives
        the module's real output on this run, through log_softmax, softmax or
        nothing; otherwise `head` is None and `_head_reason` says why.
        """
        self.head, self._head_module = None, None
        output = _per_step(out, T)
        heads = [(n, m) for n, m in self._linears if m.weight.shape[1] == last.shape[1]]
        if output is None:
            self._head_reason = "its forward does not return one output per step"
            return
        if len(heads) != 1:
            self._head_reason = (f"{'no' if not heads else len(heads)} Linear layer(s) read the last "
                                 "LSTM's output, so the head is not known")  # fmt: skip
            return
        name, m = heads[0]
        W = to_array(m.weight)
        b = to_array(m.bias) if m.bias is not None else None
        head = HeadPart(name, W, b, "logits")
        z = head(last.astype(np.float64))
        tol = 1e-9 if last.dtype == np.float64 else 2e-5  # the engine's agreement with torch
        for fn, f in (("logits", lambda a: a), ("log_softmax", log_softmax), ("softmax", softmax)):
            if f(z).shape == output.shape and np.allclose(f(z), output, atol=tol, rtol=tol):
                self.head, self._head_module = HeadPart(name, W, b, fn), m
                self._head_reason = ""
                return
        self._head_reason = (f"the Linear {name!r} on the last LSTM's output does not give the model's "
                             "output: its forward does more than embedding → LSTMs → head")  # fmt: skip

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
        return to_array(z)

    def _reconstruct(self, ids, x) -> tuple[np.ndarray, np.ndarray]:
        """(chosen LSTM's input, last LSTM's output) for modules that cannot be hooked.

        TorchScript does not run Python hooks, so the LSTMs are assumed to be
        fed by the embedding (or the numeric input) and by each other in order;
        `_check_reconstruction` tests that assumption against the real output.
        """
        from ..core.recorder import record

        if ids is not None:
            cur = to_array(self._embedding[1].weight)[ids]
        else:
            cur = np.asarray(x, dtype=self.spec.dtype)
        chosen = None
        for name in self._lstm_modules:
            if name == self.lstm_name:
                chosen = cur
            spec = self._specs[name]
            if cur.shape[1] != spec.input_size:
                raise InputError(
                    f"cannot tell what LSTM {name!r} reads inside this TorchScript model "
                    f"(it takes {spec.input_size} features, the layer before gives {cur.shape[1]})"
                )
            cur = np.concatenate(list(record(spec, cur).h[-1]), axis=-1)
        return chosen, cur

    def _check_reconstruction(self, last: np.ndarray, out: Any, T: int) -> tuple[str, bool]:
        """(what the trace's meta says about the reconstructed input, whether it was confirmed)."""
        output = _per_step(out, T)
        heads = [m for _, m in self._linears if m.weight.shape[1] == last.shape[1]]
        if output is None or len(heads) != 1:
            return "reconstructed (embedding → LSTMs in order); not checked against the output", False
        W, b = to_array(heads[0].weight), to_array(heads[0].bias) if heads[0].bias is not None else 0
        z = (last @ W.T + b).astype(np.float64)
        tol = 1e-9 if last.dtype == np.float64 else 2e-5  # the engine's agreement with torch
        for f in (lambda a: a, log_softmax, softmax):
            if f(z).shape == output.shape and np.allclose(f(z), output, atol=tol, rtol=tol):
                return "reconstructed and checked: the head on it gives the model's output", True
        return (
            "reconstructed (embedding → LSTMs in order) but the head on it does NOT give the "
            "model's output: the model does more than that; treat this trace with care"
        ), False


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


def _steps(seq: Any, batch_first: bool) -> int:
    if not _is_tensor(seq):
        return -1
    if seq.dim() == 2:
        return int(seq.shape[0])
    return int(seq.shape[1] if batch_first else seq.shape[0])


def _one_sequence(seq: Any, batch_first: bool) -> np.ndarray:
    if not _is_tensor(seq):
        raise InputError(
            f"the LSTM was called with a {type(seq).__name__} (e.g. a PackedSequence); "
            "only plain tensors can be traced"
        )
    a = to_array(seq)
    if a.ndim == 3:
        a = a[0] if batch_first else a[:, 0]
    return a


def _per_step(out: Any, T: int) -> np.ndarray | None:
    """The forward's result as (T, n) when it is a per-step output, else None."""
    if isinstance(out, (tuple, list)) and out:
        out = out[0]
    if not _is_tensor(out) or not out.is_floating_point():
        return None
    a = to_array(out)
    while a.ndim > 2 and 1 in a.shape[:-1]:
        a = np.squeeze(a, axis=a.shape[:-1].index(1))
    if a.ndim == 1 and a.shape[0] == T:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] != T:
        return None
    return a


__all__ = ["TorchModuleModel", "is_torch_lstm", "spec_from_module"]
