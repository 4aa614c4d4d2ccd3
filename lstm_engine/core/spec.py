"""LSTMSpec: an LSTM's configuration and weights, per layer and direction.

The spec is the engine's own description of a model, independent of where it
came from (torch, ONNX, a checkpoint), so that one recorder serves them all.
Weights follow torch's layout: four gate blocks stacked in the order
GATES = (i, f, g, o) along the first axis.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .activations import CellActivations
from .errors import SpecError
from .readonly import seal

GATES = ("i", "f", "g", "o")


@dataclass(frozen=True, eq=False)
class CellWeights:
    """One layer and direction. H = hidden size, P = projection size (H if none)."""

    W_ih: np.ndarray  # (4H, in)   gate rows i, f, g, o
    W_hh: np.ndarray  # (4H, P)
    b_ih: np.ndarray | None = None  # (4H,)
    b_hh: np.ndarray | None = None  # (4H,)
    W_hr: np.ndarray | None = None  # (P, H)  torch's proj_size
    p_i: np.ndarray | None = None  # (H,)  peepholes, Gers & Schmidhuber 2000
    p_f: np.ndarray | None = None  # (H,)
    p_o: np.ndarray | None = None  # (H,)

    def __post_init__(self) -> None:
        # Own a C-contiguous, read-only copy: a trace must not change when the
        # caller later edits its tensors, and W_hh @ h is fastest on C order.
        for name, arr in self.arrays().items():
            object.__setattr__(self, name, seal(np.ascontiguousarray(arr)))  # seal copies

    @property
    def peephole(self) -> bool:
        return self.p_i is not None

    def arrays(self) -> dict[str, np.ndarray]:
        """The weights that are present, by name (the save format's keys)."""
        names = ("W_ih", "W_hh", "b_ih", "b_hh", "W_hr", "p_i", "p_f", "p_o")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}


@dataclass(frozen=True, eq=False)
class LSTMSpec:
    """A (possibly stacked, bidirectional, projected or peephole) LSTM.

    `weights[layer][direction]`. `directions` says how each direction reads the
    sequence: ("forward",), ("forward", "reverse") when bidirectional, or
    ("reverse",) for a right-to-left-only LSTM (ONNX's direction="reverse");
    the default follows the number of directions, as torch has it.
    `activations` is one CellActivations for every layer and direction, or one
    per layer and direction (ONNX lets the two directions of a node differ).
    `clip` bounds every gate pre-activation to [-clip, clip] (ONNX), and
    `input_forget` couples the forget gate to the input gate, f = 1 - i (ONNX).
    """

    weights: tuple[tuple[CellWeights, ...], ...]
    batch_first: bool = False
    activations: CellActivations | tuple[tuple[CellActivations, ...], ...] = field(
        default_factory=CellActivations
    )
    clip: float | None = None
    input_forget: bool = False
    directions: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not self.weights or not self.weights[0]:
            raise SpecError("an LSTM needs at least one layer")
        ndir = len(self.weights[0])
        if ndir not in (1, 2):
            raise SpecError(f"an LSTM has 1 or 2 directions, got {ndir}")
        self._check_directions(ndir)
        self._check_activations(ndir)
        w0 = self.weights[0][0]
        if w0.W_ih.ndim != 2 or w0.W_ih.shape[0] % 4:
            raise SpecError(
                f"W_ih must be (4*hidden, input), got shape {tuple(w0.W_ih.shape)}"
            )
        H = w0.W_ih.shape[0] // 4
        P = w0.W_hr.shape[0] if w0.W_hr is not None else H
        if H == 0 or P == 0:
            raise SpecError(f"an LSTM needs at least one unit (hidden size {H}, h width {P})")
        dtype = w0.W_ih.dtype
        if dtype not in (np.float32, np.float64):
            raise SpecError(f"weights must be float32 or float64, got {dtype}")
        if self.clip is not None and not self.clip > 0:
            raise SpecError(f"clip must be positive, got {self.clip}")
        for layer, dirs in enumerate(self.weights):
            if len(dirs) != ndir:
                raise SpecError(f"layer {layer} has {len(dirs)} directions, layer 0 has {ndir}")
            in_size = self.input_size if layer == 0 else P * ndir
            for d, w in enumerate(dirs):
                where = f"layer {layer} direction {d}"
                expect = {
                    "W_ih": (4 * H, in_size),
                    "W_hh": (4 * H, P),
                    "b_ih": (4 * H,),
                    "b_hh": (4 * H,),
                    "W_hr": (P, H),
                    "p_i": (H,),
                    "p_f": (H,),
                    "p_o": (H,),
                }
                for name, arr in w.arrays().items():
                    if tuple(arr.shape) != expect[name]:
                        raise SpecError(
                            f"{where}: {name} has shape {tuple(arr.shape)}, expected {expect[name]}"
                        )
                    if arr.dtype != dtype:
                        raise SpecError(f"{where}: {name} is {arr.dtype}, the rest is {dtype}")
                if (w.b_ih is None) != (w.b_hh is None):
                    raise SpecError(f"{where}: b_ih and b_hh must both be given or both omitted")
                if (w.W_hr is None) != (w0.W_hr is None):
                    raise SpecError(f"{where}: projection present in some layers only")
                peep = {w.p_i is None, w.p_f is None, w.p_o is None}
                if len(peep) != 1 or (w.p_i is None) != (w0.p_i is None):
                    raise SpecError(f"{where}: peepholes p_i, p_f, p_o must all be given or none")

    def _check_directions(self, ndir: int) -> None:
        dirs = self.directions
        if dirs is None:
            dirs = ("forward", "reverse")[:ndir]
        dirs = tuple(dirs)
        allowed = (("forward",), ("reverse",)) if ndir == 1 else (("forward", "reverse"),)
        if dirs not in allowed:
            raise SpecError(
                f"directions {list(dirs)} do not fit {ndir} direction{'s' if ndir > 1 else ''}; "
                f"expected one of {[list(a) for a in allowed]}"
            )
        object.__setattr__(self, "directions", dirs)

    def _check_activations(self, ndir: int) -> None:
        acts = self.activations
        if isinstance(acts, CellActivations):
            return
        if not isinstance(acts, (tuple, list)) or len(acts) != len(self.weights) or not all(
            isinstance(row, (tuple, list)) and len(row) == ndir
            and all(isinstance(a, CellActivations) for a in row)
            for row in acts
        ):  # fmt: skip
            raise SpecError(
                "activations must be one CellActivations or one per layer and direction "
                f"({len(self.weights)} × {ndir})"
            )
        rows = tuple(tuple(row) for row in acts)
        flat = {a for row in rows for a in row}
        # one set everywhere is the common case: keep it as one, so `activations` stays simple
        object.__setattr__(self, "activations", flat.pop() if len(flat) == 1 else rows)

    def cell_activations(self, layer: int, direction: int) -> CellActivations:
        """The functions layer `layer`, direction `direction` uses."""
        acts = self.activations
        return acts if isinstance(acts, CellActivations) else acts[layer][direction]

    @property
    def standard_activations(self) -> bool:
        """torch's sigmoid/tanh everywhere (what torch.nn.LSTM and a checkpoint can hold)."""
        return isinstance(self.activations, CellActivations) and self.activations.is_standard

    def reads_reversed(self, direction: int) -> bool:
        """Does this direction read the sequence right to left (its previous step is t + 1)?"""
        return self.directions[direction] == "reverse"

    # --- configuration, derived from the weights so it cannot disagree with them
    @property
    def input_size(self) -> int:
        return self.weights[0][0].W_ih.shape[1]

    @property
    def hidden_size(self) -> int:
        return self.weights[0][0].W_ih.shape[0] // 4

    @property
    def proj_size(self) -> int:
        """0 when there is no projection, as in torch."""
        w = self.weights[0][0].W_hr
        return 0 if w is None else w.shape[0]

    @property
    def out_size(self) -> int:
        """The width of h: proj_size if projected, else hidden_size."""
        return self.proj_size or self.hidden_size

    @property
    def num_layers(self) -> int:
        return len(self.weights)

    @property
    def num_directions(self) -> int:
        return len(self.weights[0])

    @property
    def bidirectional(self) -> bool:
        return self.num_directions == 2

    @property
    def bias(self) -> bool:
        return self.weights[0][0].b_ih is not None

    @property
    def peephole(self) -> bool:
        return self.weights[0][0].peephole

    @property
    def dtype(self) -> np.dtype:
        return self.weights[0][0].W_ih.dtype

    def layer_input_size(self, layer: int) -> int:
        return self.input_size if layer == 0 else self.out_size * self.num_directions

    def astype(self, dtype) -> "LSTMSpec":
        """The same model computed in another float precision."""
        dtype = np.dtype(dtype)
        weights = tuple(
            tuple(
                CellWeights(**{k: v.astype(dtype) for k, v in w.arrays().items()}) for w in dirs
            )
            for dirs in self.weights
        )
        return replace(self, weights=weights)

    def config(self) -> dict:
        """A JSON-able summary, stored in every trace's meta."""
        return {
            "input_size": self.input_size,
            "hidden_size": self.hidden_size,
            "num_layers": self.num_layers,
            "bidirectional": self.bidirectional,
            "proj_size": self.proj_size,
            "bias": self.bias,
            "batch_first": self.batch_first,
            "peephole": self.peephole,
            "clip": self.clip,
            "input_forget": self.input_forget,
            "activations": (
                self.activations.to_json() if isinstance(self.activations, CellActivations)
                else [[a.to_json() for a in row] for row in self.activations]
            ),
            "directions": list(self.directions),
            "dtype": str(self.dtype),
        }

    def summary(self) -> str:
        """One line, e.g. `LSTM 6→6 ×1 layer, uni`."""
        layers = f"×{self.num_layers} layer" + ("s" if self.num_layers > 1 else "")
        flags = ["bi" if self.bidirectional else "reverse" if self.reads_reversed(0) else "uni"]
        if self.proj_size:
            flags.append(f"proj {self.proj_size}")
        if self.peephole:
            flags.append("peephole")
        if self.clip is not None:
            flags.append(f"clip {self.clip:g}")
        if self.input_forget:
            flags.append("input_forget")
        if not isinstance(self.activations, CellActivations):
            flags.append("act per direction")
        elif not self.activations.is_standard:
            a = self.activations
            flags.append(f"act {a.i}/{a.g}/{a.c}")
        if not self.bias:
            flags.append("no bias")
        return f"LSTM {self.input_size}→{self.hidden_size} {layers}, " + ", ".join(flags)

    @classmethod
    def random(
        cls,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        bidirectional: bool = False,
        proj_size: int = 0,
        bias: bool = True,
        peephole: bool = False,
        seed: int = 0,
        dtype=np.float32,
        **options,
    ) -> "LSTMSpec":
        """Weights drawn like torch's init, U(-1/sqrt(H), 1/sqrt(H)); for tests and benchmarks."""
        rng = np.random.default_rng(seed)
        H, P = hidden_size, proj_size or hidden_size
        k = 1.0 / np.sqrt(H)
        ndir = 2 if bidirectional else 1

        def u(*shape):
            return rng.uniform(-k, k, size=shape).astype(dtype)

        weights = []
        for layer in range(num_layers):
            in_size = input_size if layer == 0 else P * ndir
            dirs = []
            for _ in range(ndir):
                dirs.append(
                    CellWeights(
                        W_ih=u(4 * H, in_size),
                        W_hh=u(4 * H, P),
                        b_ih=u(4 * H) if bias else None,
                        b_hh=u(4 * H) if bias else None,
                        W_hr=u(P, H) if proj_size else None,
                        p_i=u(H) if peephole else None,
                        p_f=u(H) if peephole else None,
                        p_o=u(H) if peephole else None,
                    )
                )
            weights.append(tuple(dirs))
        return cls(weights=tuple(weights), **options)
