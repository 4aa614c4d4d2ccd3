"""torch → engine: the only module that imports torch.

Reading weights out of `torch.nn.LSTM` goes through an explicit list of
parameter names with a shape check on each, so a model whose layout we do
not understand fails loudly instead of being traced wrongly.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch

from .errors import SpecError
from .spec import CellWeights, LSTMSpec


def _np(t: Any) -> np.ndarray:
    return t.detach().cpu().numpy().copy()


def weights_from_state_dict(
    sd: Mapping[str, Any], prefix: str, num_layers: int, bidirectional: bool, bias: bool, proj: bool
) -> tuple[tuple[CellWeights, ...], ...]:
    """Per-layer, per-direction weights from torch's names (weight_ih_l0_reverse, ...)."""
    layers = []
    for layer in range(num_layers):
        dirs = []
        for suffix in ("", "_reverse")[: 2 if bidirectional else 1]:
            def get(name: str):
                key = f"{prefix}{name}_l{layer}{suffix}"
                if key not in sd:
                    raise SpecError(f"missing LSTM parameter {key!r}")
                return _np(sd[key])

            dirs.append(
                CellWeights(
                    W_ih=get("weight_ih"),
                    W_hh=get("weight_hh"),
                    b_ih=get("bias_ih") if bias else None,
                    b_hh=get("bias_hh") if bias else None,
                    W_hr=get("weight_hr") if proj else None,
                )
            )
        layers.append(tuple(dirs))
    return tuple(layers)


def spec_from_module(module: Any) -> LSTMSpec:
    """The engine's spec of a torch.nn.LSTM, with its exact weights and options."""
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
