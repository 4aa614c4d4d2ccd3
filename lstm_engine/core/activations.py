"""Gate activation functions, by the names the ONNX RNN operators use.

torch's LSTM only ever uses sigmoid and tanh, but ONNX and Keras cells let
every gate pick its own function (hard-sigmoid is common in Keras exports),
so the engine names activations rather than hard-coding them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .errors import SpecError

# ONNX's defaults for alpha/beta where the spec gives one (operators LSTM/RNN/GRU).
_DEFAULTS: dict[str, tuple[float | None, float | None]] = {
    "Sigmoid": (None, None),
    "Tanh": (None, None),
    "Relu": (None, None),
    "Softsign": (None, None),
    "Softplus": (None, None),
    "Affine": (1.0, 0.0),
    "LeakyRelu": (0.01, None),
    "ThresholdedRelu": (1.0, None),
    "ScaledTanh": (1.0, 1.0),
    "HardSigmoid": (0.2, 0.5),
    "Elu": (1.0, None),
}

ACTIVATION_NAMES = tuple(_DEFAULTS)


@dataclass(frozen=True)
class Activation:
    """A named activation with ONNX's optional alpha/beta parameters.

    Comparing and hashing by value lets the recorder spot the common
    sigmoid/tanh case and take its fast path.
    """

    name: str
    alpha: float | None = None
    beta: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise SpecError(f"activation name must be a string, got {self.name!r}")
        canonical = {n.lower(): n for n in _DEFAULTS}.get(self.name.lower())
        if canonical is None:
            raise SpecError(
                f"unknown activation {self.name!r}; expected one of {', '.join(ACTIVATION_NAMES)}"
            )
        object.__setattr__(self, "name", canonical)
        alpha, beta = _DEFAULTS[canonical]
        if self.alpha is None and alpha is not None:
            object.__setattr__(self, "alpha", alpha)
        if self.beta is None and beta is not None:
            object.__setattr__(self, "beta", beta)
        # alpha/beta come from files (checkpoints, ONNX attributes, traces): a
        # string or a bool there must be a SpecError here, not a numpy error later
        for which in ("alpha", "beta"):
            v = getattr(self, which)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
                raise SpecError(f"{canonical} {which} must be a number, got {v!r}")
            if not np.isfinite(v):
                raise SpecError(f"{canonical} {which} must be finite, got {v!r}")
            object.__setattr__(self, which, float(v))

    def __str__(self) -> str:
        params = [f"{v:g}" for v in (self.alpha, self.beta) if v is not None]
        return f"{self.name}({', '.join(params)})" if params else self.name

    def __call__(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Apply elementwise; `out` may alias `z`."""
        if out is None:
            out = np.empty_like(z)
        a, b = self.alpha, self.beta
        name = self.name
        with np.errstate(over="ignore", under="ignore"):
            if name == "Sigmoid":
                # 1 / (1 + exp(-z)): exact near 0 and 1, unlike 0.5 + 0.5·tanh(z/2).
                np.negative(z, out=out)
                np.exp(out, out=out)
                out += 1.0
                np.reciprocal(out, out=out)
            elif name == "Tanh":
                np.tanh(z, out=out)
            elif name == "Relu":
                np.maximum(z, 0.0, out=out)
            elif name == "Affine":
                np.multiply(z, a, out=out)
                out += b
            elif name == "LeakyRelu":
                np.copyto(out, np.where(z >= 0, z, a * z))
            elif name == "ThresholdedRelu":
                np.copyto(out, np.where(z > a, z, 0.0))
            elif name == "ScaledTanh":
                np.multiply(z, b, out=out)
                np.tanh(out, out=out)
                out *= a
            elif name == "HardSigmoid":
                np.multiply(z, a, out=out)
                out += b
                np.clip(out, 0.0, 1.0, out=out)
            elif name == "Elu":
                np.copyto(out, np.where(z >= 0, z, a * np.expm1(np.minimum(z, 0.0))))
            elif name == "Softsign":
                np.copyto(out, z / (1.0 + np.abs(z)))
            elif name == "Softplus":
                # log(1 + exp(z)) as onnxruntime computes it, overflow included: a
                # stable logaddexp stays finite where the real model gives inf
                # (z > 88.7 in float32), and a debugger chasing NaNs must agree
                np.exp(z, out=out)
                out += 1.0
                np.log(out, out=out)
        return out

    def to_json(self) -> dict:
        return {"name": self.name, "alpha": self.alpha, "beta": self.beta}

    @classmethod
    def from_json(cls, d: dict | str) -> "Activation":
        if isinstance(d, str):
            return cls(d)
        if not isinstance(d, dict) or "name" not in d:
            raise SpecError(f"an activation is a name or {{'name': ..., 'alpha': ..., 'beta': ...}}, got {d!r}")
        return cls(d["name"], d.get("alpha"), d.get("beta"))


SIGMOID = Activation("Sigmoid")
TANH = Activation("Tanh")


@dataclass(frozen=True)
class CellActivations:
    """Which function each gate uses, plus `c`: the one applied to c_t before ×o.

    torch: i, f, o sigmoid; g and c tanh. ONNX calls these f (for i, f, o),
    g (for the candidate g) and h (for c_t).
    """

    i: Activation = SIGMOID
    f: Activation = SIGMOID
    g: Activation = TANH
    o: Activation = SIGMOID
    c: Activation = TANH

    @cached_property
    def is_standard(self) -> bool:
        """torch's own choice; cached because the timestep asks on every step."""
        return self == CellActivations()

    def to_json(self) -> dict:
        return {k: getattr(self, k).to_json() for k in ("i", "f", "g", "o", "c")}

    @classmethod
    def from_config(cls, d: dict | list) -> "CellActivations | tuple[tuple[CellActivations, ...], ...]":
        """A spec config's `activations`: one set, or a list per layer of lists per direction."""
        if isinstance(d, list):
            if not all(isinstance(row, list) for row in d):
                raise SpecError(f"per-direction activations must be a list of lists, got {d!r}")
            return tuple(tuple(cls.from_json(a) for a in row) for row in d)
        return cls.from_json(d)

    @classmethod
    def from_json(cls, d: dict) -> "CellActivations":
        if not isinstance(d, dict):
            raise SpecError(f"activations must map gates (i, f, g, o, c) to activations, got {d!r}")
        unknown = sorted(set(d) - {"i", "f", "g", "o", "c"})
        if unknown:
            raise SpecError(f"activations for unknown gates {unknown}; the gates are i, f, g, o, c")
        return cls(**{k: Activation.from_json(v) for k, v in d.items()})
