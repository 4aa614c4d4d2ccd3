"""trace_lstm: record a live torch.nn.LSTM (or an LSTMSpec) over one sequence; trace_module:
record the LSTM (or LSTMCell) inside a live torch model on one call of its forward.

This is the one place that knows torch's calling rules for an LSTM (h0 and c0
as a pair, 3-D states with batched input), so the recorder in the core stays
a pure function of a spec and arrays, and torch is never imported here: a
torch module can only exist if the caller already imported torch.
"""

from __future__ import annotations

import sys
import weakref
from typing import Any

import numpy as np

from .core.errors import InputError, SpecError
from .core.recorder import record
from .core.spec import LSTMSpec
from .core.trace import Trace


def _ndim(a: Any) -> int:
    return a.ndim if hasattr(a, "ndim") else np.ndim(a)


def _torch_like_state(x: Any, h0: Any, c0: Any) -> None:
    """Refuse the initial states torch.nn.LSTM itself refuses, so a trace is never of a call torch rejects."""
    if (h0 is None) != (c0 is None):
        given = "h0" if c0 is None else "c0"
        raise InputError(f"{given} given without {'c0' if given == 'h0' else 'h0'}: "
                         "torch.nn.LSTM takes the initial state as a pair (h0, c0), or neither")  # fmt: skip
    if h0 is None:
        return
    want = 3 if _ndim(x) == 3 else 2
    if not {_ndim(h0), _ndim(c0)} <= {2, 3}:
        return  # other shapes: initial_state names them with the shape it expects
    for name, a in (("h0", h0), ("c0", c0)):
        if _ndim(a) != want:
            raise InputError(
                f"{name} is {_ndim(a)}-D but the input is {_ndim(x)}-D; torch.nn.LSTM takes "
                f"{want}-D states with {'batched 3-D' if want == 3 else 'unbatched 2-D'} input"
            )


#: The spec of each live module, with the parameters it was read from: spec_from_module
#: costs ~110 µs, about what recording a five-word sentence costs, so trace_lstm reads it
#: again only when the parameters changed.
_SPECS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _parameters_now(module: Any) -> tuple:
    """What the spec depends on: each parameter's identity, storage and in-place version
    (torch bumps `_version` on every in-place write, an optimizer step included), dtype and
    the module's shape options."""
    named = module._parameters.items() if not module._modules else module.named_parameters()
    params = tuple((name, id(p), p.data_ptr(), p._version, p.dtype) for name, p in named
                   if p is not None)  # fmt: skip
    options = tuple(getattr(module, k, None) for k in
                    ("num_layers", "bidirectional", "proj_size", "batch_first", "bias"))  # fmt: skip
    return params + options


def _spec_of(module: Any) -> LSTMSpec:
    from .formats.torch_module import spec_from_module

    torch = sys.modules["torch"]
    if not isinstance(module, torch.nn.Module) or isinstance(module, torch.jit.ScriptModule):
        return spec_from_module(module)
    key = _parameters_now(module)
    cached = _SPECS.get(module)
    if cached is not None and cached[0] == key:
        return cached[1]
    spec = spec_from_module(module)  # a GRU, LSTMCell, ...: SpecError naming it
    _SPECS[module] = (key, spec)
    return spec


def trace_lstm(
    module: Any, x: Any, h0: Any = None, c0: Any = None, *, keep_z: bool | None = None
) -> Trace:
    """Record `module` (a torch.nn.LSTM, or an LSTMSpec) over one sequence x.

    x is shaped as the module expects for one sequence: [T, 1, in],
    [1, T, in] with batch_first, or [T, in]; h0/c0 as torch takes them. An
    nn.LSTMCell is stepped over x [T, in] as the one-layer LSTM it is, from
    h0/c0 of shape [1, H] (or [H]).
    `keep_z` as in `record`.
    """
    if isinstance(module, LSTMSpec):
        return record(module, x, h0, c0, source="LSTMSpec", keep_z=keep_z)
    # a torch module can only exist if torch is already imported; never import it here
    if "torch" in sys.modules:
        from .formats.torch_module import is_torch_lstm

        if is_torch_lstm(module) or type(module).__module__.startswith("torch"):
            spec = _spec_of(module)  # a GRU, LSTMCell, ...: SpecError naming it
            _torch_like_state(x, h0, c0)
            name = type(module).__name__
            cell = isinstance(module, sys.modules["torch"].nn.LSTMCell)
            source = (
                "torch.nn.LSTM" if name in ("LSTM", "RecursiveScriptModule")
                else "torch.nn.LSTMCell, stepped over x (a one-layer LSTM)" if cell
                else f"{name} (a torch.nn.LSTM)"
            )  # fmt: skip
            return record(spec, x, h0, c0, source=source, keep_z=keep_z)
    raise SpecError(
        f"trace_lstm needs a torch.nn.LSTM or an LSTMSpec, got {type(module).__name__}"
    )


def trace_module(
    module: Any, args: tuple = (), kwargs: dict | None = None, *, lstm: str | None = None,
    name: str | None = None,
) -> Trace:  # fmt: skip
    """Record the LSTM `lstm` (default the first nn.LSTM or nn.LSTMCell) inside a live torch
    module on one call `module(*args, **kwargs)`, exactly as the module runs it.

    Forward hooks see every call of the LSTM: an LSTMCell stepped in a Python loop is
    joined into one sequence, and where a call's state is not the previous call's output
    (a reset, a state changed between calls) the trace's warnings say at which step.
    The module's own per-step output becomes trace.output when it has one row per step.
    """
    if "torch" not in sys.modules:
        raise SpecError(f"trace_module needs a torch nn.Module, got {type(module).__name__}")
    import torch

    if not isinstance(module, torch.nn.Module):
        raise SpecError(f"trace_module needs a torch nn.Module, got {type(module).__name__}")
    from .core.errors import LoadError
    from .formats.torch_module import TorchModuleModel

    training = module.training  # the caller's module: left in the mode it was in
    try:
        model = TorchModuleModel(module, name or type(module).__name__, "live-module", lstm,
                                 name=name or type(module).__name__)  # fmt: skip
        return model.trace_call(*args, **(kwargs or {}))
    except LoadError as e:  # "no LSTM", "no LSTM named": the caller's module, not a file
        raise InputError(str(e).split(": ", 1)[-1]) from None
    finally:
        module.train(training)
