"""ONNX → engine: open an ONNX model and trace one of its LSTM nodes.

ONNX's LSTM operator is the one widely deployed LSTM spec with peepholes,
clipping, a coupled input/forget gate and a free choice of activations, and
every one of those maps onto `LSTMSpec`, so an ONNX LSTM is recorded by the
same `record` as a torch one: the numbers on screen come from the engine, and
the tests hold them to onnxruntime. onnxruntime does the rest of the graph: it
computes the LSTM's input when other nodes feed it (an embedding Gather, a
Transpose) and the model's real output for the output panel.

How ONNX maps onto the engine (opset 7 to the newest):
- W, R and B stack gate blocks in ONNX's order i, o, f, c; the engine stacks
  i, f, g, o, and g is ONNX's c ("cell") gate. B = [Wb, Rb] → b_ih, b_hh.
- P = [Pi, Po, Pf] → p_i, p_o, p_f: Pi and Pf see c_{t-1}, Po sees the new c_t.
- `activations` (f, g, h per direction) → CellActivations(i=f, f=f, g=g, o=f,
  c=h). activation_alpha/beta are consumed the way onnxruntime consumes them:
  one list each, walked in activation order, each function taking a value only
  if it has that parameter; a function whose value is missing gets
  onnxruntime's default (LeakyRelu 0.01, HardSigmoid 0.2/0.5, Elu 1.0, and 0
  for the rest). The forward and reverse directions may use different functions:
  the spec keeps one set per direction.
- `clip` bounds every gate pre-activation after bias and peephole are added;
  `input_forget` sets f = 1 − i, as onnxruntime does.
- `layout` 1 ([batch, T, ...] tensors) is read by transposing; onnxruntime's
  CPU LSTM refuses it, so such a model has no model-level output.
- `sequence_lens`: a batch entry of length L is traced for L steps (its reverse
  direction starts at step L − 1). An entry of length 0 runs no step at all
  (onnxruntime returns zeros for it), so tracing it is an InputError.
- `direction="reverse"`: a one-direction spec whose direction reads right to
  left (`LSTMSpec(directions=("reverse",))`). The trace is indexed by sequence
  position like every other (its previous step is t + 1, as for torch's
  reverse direction), so tokens, x and the output panel keep their order.

The model's output: the graph's first output, run by onnxruntime, becomes the
trace's per-step output when it has a step axis ([T, batch, n], [batch, T, n],
an LSTM-style Y); otherwise it is kept in meta["graph_output"]. An output that
is only an LSTM's states (possibly reshaped) is not a model-level output.
`trace(X, batch_index=b)` takes the graph input exactly as the model does,
batch axis included. A vocabulary in the metadata (written by spec_to_onnx /
checkpoint_to_onnx) over integer token ids makes the model take text.

onnx and onnxruntime are imported only here, and only when an ONNX file is
opened; without them the error says how to install the extra.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.activations import Activation, CellActivations
from ..core.errors import EngineError, InputError, LoadError, SpecError
from ..core.files import read_json, require_regular_file
from ..core.limits import TooLargeError, check_array_size, human_bytes, max_bytes
from ..core.output import guess_output_kind
from ..model import Model
from ..core.recorder import record
from ..core.spec import CellWeights, LSTMSpec
from ..core.trace import Trace

ONNX_EXTRA = "ONNX support needs the onnx extra: pip install 'lstm-tui[onnx]'"

#: The LSTM node's inputs and outputs, by position (ONNX spec).
INPUT_ROLES = ("X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P")
OUTPUT_ROLES = ("Y", "Y_h", "Y_c")
DIRECTIONS = {"forward": 1, "reverse": 1, "bidirectional": 2}
#: Engine gate block k comes from ONNX block ONNX_BLOCK[k]: i←i, f←f, g←c, o←o.
ONNX_BLOCK = (0, 2, 3, 1)
KNOWN_ATTRIBUTES = {
    "activation_alpha", "activation_beta", "activations", "clip", "direction",
    "hidden_size", "input_forget", "layout", "output_sequence",
}  # fmt: skip

# Which of (alpha, beta) each activation takes, and onnxruntime's value when the
# list runs out (rnn_helpers.cc: NameToArgUsageMap, NameToArgDefaultsMap; 0 otherwise).
_PARAMS = {
    "Affine": (True, True),
    "LeakyRelu": (True, False),
    "ThresholdedRelu": (True, False),
    "ScaledTanh": (True, True),
    "HardSigmoid": (True, True),
    "Elu": (True, False),
}
_ORT_DEFAULTS = {"LeakyRelu": (0.01, 0.0), "HardSigmoid": (0.2, 0.5), "Elu": (1.0, 0.0)}
_DEFAULT_ACTIVATIONS = ("Sigmoid", "Tanh", "Tanh")
#: Ops that run a subgraph, possibly for ever (Loop with no trip count, a condition that stays
#: true): never run to get a node's weights, initial states or input, nor the model's output
CONTROL_FLOW = {"Loop", "Scan", "If"}
#: Ops that only move values around: an output behind them is still what fed them.
#: how `info` and the errors name each role of a graph input (OnnxModel.input_roles)
_ROLE_TEXT = {
    "sequence": "the sequence",
    "source": "another source",
    "state": "an LSTM state: zeros unless given",
    "lengths": "sequence lengths: full length unless given",
    "other": "no default",
}
_SHAPE_OPS = {
    "Transpose", "Reshape", "Squeeze", "Unsqueeze", "Identity", "Flatten", "Concat", "Slice",
}  # fmt: skip


#: onnxruntime's LSTM with 8-bit weights (com.microsoft): traced with its weights dequantized
QUANTIZED_LSTM = "DynamicQuantizeLSTM"
#: its inputs after P: the scales and zero points of W and R
QUANT_ROLES = ("W_scale", "W_zero_point", "R_scale", "R_zero_point")


def is_lstm_node(node) -> bool:
    """ONNX's LSTM, or onnxruntime's DynamicQuantizeLSTM (the same cell with int8 W and R)."""
    return (node.op_type == "LSTM" and node.domain in ("", "ai.onnx")) or (
        node.op_type == QUANTIZED_LSTM and node.domain == "com.microsoft"
    )


def import_onnx():
    """(onnx, onnxruntime), or the LoadError that says how to get them."""
    try:
        import onnx
        import onnx.numpy_helper  # noqa: F401 - used through onnx.numpy_helper
        import onnxruntime
    except ImportError as e:
        raise LoadError(ONNX_EXTRA) from e
    return onnx, onnxruntime


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def resolve_activations(
    names: list[str], alphas: list[float], betas: list[float]
) -> list[Activation]:
    """Activation objects with explicit alpha/beta, consumed as onnxruntime does."""
    canonical = {
        n.lower(): n for n in ("Sigmoid", "Tanh", "Relu", "Softsign", "Softplus", *_PARAMS)
    }
    alpha_it, beta_it = iter(alphas), iter(betas)
    out = []
    for raw in names:
        name = canonical.get(raw.lower())
        if name is None:
            raise LoadError(
                f"unsupported activation {raw!r}; ONNX's LSTM takes "
                f"{', '.join(sorted(canonical.values()))}"
            )
        uses_alpha, uses_beta = _PARAMS.get(name, (False, False))
        da, db = _ORT_DEFAULTS.get(name, (0.0, 0.0))
        alpha = float(next(alpha_it, da)) if uses_alpha else None
        beta = float(next(beta_it, db)) if uses_beta else None
        out.append(Activation(name, alpha, beta))
    return out


def activation_attributes(per_direction: Sequence[CellActivations]) -> dict:
    """The inverse of `resolve_activations`: ONNX attributes for each direction's functions.

    ONNX has one function for i, f and o, so the spec must agree on them.
    Every alpha/beta is written out, so no runtime's defaults come into play.
    """
    for act in per_direction:
        if not (act.i == act.f == act.o):
            raise SpecError(
                f"ONNX's LSTM uses one activation for the i, f and o gates; this spec has "
                f"i={act.i}, f={act.f}, o={act.o}"
            )
    names, alphas, betas = [], [], []
    for a in (a for act in per_direction for a in (act.i, act.g, act.c)):
        names.append(a.name)
        uses_alpha, uses_beta = _PARAMS.get(a.name, (False, False))
        if uses_alpha:
            alphas.append(float(a.alpha))
        if uses_beta:
            betas.append(float(a.beta))
    attrs: dict[str, Any] = {"activations": names}
    if alphas:
        attrs["activation_alpha"] = alphas
    if betas:
        attrs["activation_beta"] = betas
    return attrs


@dataclass(frozen=True, eq=False)
class LstmNode:
    """One LSTM node of the graph, its attributes checked and decoded."""

    name: str
    node: Any  # onnx.NodeProto
    inputs: dict  # role -> tensor name, "" when absent
    outputs: dict  # role -> tensor name, "" when absent
    attributes: dict  # as written in the node, JSON-able
    direction: str
    num_directions: int
    layout: int
    hidden_size: int | None
    clip: float | None
    input_forget: bool
    activations: tuple[CellActivations, ...]  # one set per direction


def _json_attr(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (list, tuple)):
        return [_json_attr(v) for v in value]
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return repr(value)


def _short_floats(value: Any) -> Any:
    """ONNX stores float attributes as float32: show 0.75, not 0.75000001..., in meta."""
    if isinstance(value, float):
        return float(str(np.float32(value)))
    if isinstance(value, list):
        return [_short_floats(v) for v in value]
    return value


def parse_lstm_node(onnx, node, name: str) -> LstmNode:
    """Decode and validate one LSTM node's attributes (weights are read later)."""
    where = f"LSTM node {name!r}"
    attrs = {}
    for a in node.attribute:
        if a.name not in KNOWN_ATTRIBUTES:
            raise LoadError(f"{where}: unsupported attribute {a.name!r}")
        attrs[a.name] = _json_attr(onnx.helper.get_attribute_value(a))

    direction = attrs.get("direction", "forward")
    if direction not in DIRECTIONS:
        raise LoadError(
            f"{where}: unsupported direction {direction!r}; "
            "expected forward, reverse or bidirectional"
        )
    D = DIRECTIONS[direction]
    layout = attrs.get("layout", 0)
    if layout not in (0, 1):
        raise LoadError(f"{where}: unsupported layout {layout!r}; expected 0 or 1")
    hidden_size = attrs.get("hidden_size")
    if hidden_size is not None and (not isinstance(hidden_size, int) or hidden_size <= 0):
        raise LoadError(f"{where}: hidden_size must be a positive integer, got {hidden_size!r}")
    clip = attrs.get("clip")
    if clip is not None and not (isinstance(clip, float) and np.isfinite(clip) and clip > 0):
        raise LoadError(f"{where}: clip must be a positive number, got {clip!r}")
    input_forget = attrs.get("input_forget", 0)
    if input_forget not in (0, 1):
        raise LoadError(f"{where}: input_forget must be 0 or 1, got {input_forget!r}")

    names = attrs.get("activations") or list(_DEFAULT_ACTIVATIONS) * D
    if len(names) != 3 * D:
        raise LoadError(
            f"{where}: {len(names)} activations given; a {direction} LSTM needs {3 * D} "
            f"(f, g, h{' per direction' if D == 2 else ''})"
        )
    try:
        acts = resolve_activations(
            names, attrs.get("activation_alpha", []), attrs.get("activation_beta", [])
        )
    except (LoadError, SpecError) as e:
        raise LoadError(f"{where}: {e}") from None
    per_dir = tuple(
        CellActivations(i=f, f=f, g=g, o=f, c=h) for f, g, h in zip(*[iter(acts)] * 3)
    )

    roles = INPUT_ROLES + (QUANT_ROLES if node.op_type == QUANTIZED_LSTM else ())
    ins = list(node.input) + [""] * (len(roles) - len(node.input))
    outs = list(node.output) + [""] * (len(OUTPUT_ROLES) - len(node.output))
    if not ins[0] or not ins[1] or not ins[2]:
        raise LoadError(f"{where}: inputs X, W and R are required")
    if node.op_type == QUANTIZED_LSTM and not all(ins[8:12]):
        raise LoadError(f"{where}: a DynamicQuantizeLSTM needs W_scale, W_zero_point, R_scale "
                        "and R_zero_point")  # fmt: skip
    return LstmNode(
        name=name, node=node,
        inputs=dict(zip(roles, ins)), outputs=dict(zip(OUTPUT_ROLES, outs)),
        attributes={k: _short_floats(v) for k, v in attrs.items()},
        direction=direction, num_directions=D, layout=layout,
        hidden_size=hidden_size, clip=clip, input_forget=bool(input_forget),
        activations=per_dir,
    )  # fmt: skip


class _Graph:
    """The parts of an ONNX graph lstm-tui needs: constants, producers, and pruned runs."""

    def __init__(self, onnx, ort, model, path: str):
        self.onnx, self.ort, self.model, self.path = onnx, ort, model, path
        g = model.graph
        self.initializers = {t.name: t for t in g.initializer}
        self.producer = {o: n for n in g.node for o in n.output if o}
        self.inputs = [vi for vi in g.input if vi.name not in self.initializers]
        self._sessions: dict = {}

    def initializer(self, name: str) -> np.ndarray | None:
        t = self.initializers.get(name)
        if t is None:
            return None
        try:  # the declared size, before onnx builds it (a few bytes can declare 10^12 floats)
            itemsize = np.dtype(self.onnx.helper.tensor_dtype_to_np_dtype(t.data_type)).itemsize
        except Exception:  # noqa: BLE001 - an unknown or string type: onnx's reader decides
            itemsize = 1
        check_array_size(list(t.dims), itemsize, f"{self.path}: tensor {name!r}")
        try:
            return self.onnx.numpy_helper.to_array(t, base_dir=os.path.dirname(self.path))
        except Exception as e:  # noqa: BLE001 - external data missing, bad tensor
            raise LoadError(f"{self.path}: cannot read tensor {name!r}: {_first_line(e)}") from None

    def _node_refs(self, node) -> list[str]:
        """Everything a node reads, including outer names its subgraphs use."""
        refs = [i for i in node.input if i]
        for a in node.attribute:
            for sub in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                for n in sub.node:
                    refs += self._node_refs(n)
        return refs

    def ancestry(self, names) -> tuple[list, set[str]]:
        """The nodes (graph order) that compute `names`, and the graph inputs they need."""
        wanted, nodes, feeds = list(names), set(), set()
        graph_inputs = {vi.name for vi in self.inputs}
        while wanted:
            name = wanted.pop()
            if name in graph_inputs:
                feeds.add(name)
                continue
            node = self.producer.get(name)
            if node is None or id(node) in nodes:
                continue
            nodes.add(id(node))
            wanted += self._node_refs(node)
        ordered = [n for n in self.model.graph.node if id(n) in nodes]
        return ordered, feeds

    def value_feeds(self, name: str) -> set[str]:
        """The graph inputs whose values flow into `name`: not through a Shape or Size (that
        reads only a shape, as an exported zeros(batch, H) state does), and into an LSTM node
        only through its X (its states and lengths are its own inputs, not its data)."""
        wanted, seen, feeds = [name] if name else [], set(), set()
        graph_inputs = {vi.name for vi in self.inputs}
        while wanted:
            cur = wanted.pop()
            if cur in graph_inputs:
                feeds.add(cur)
                continue
            node = self.producer.get(cur)
            if node is None or id(node) in seen or node.op_type in ("Shape", "Size"):
                continue
            seen.add(id(node))
            wanted += [node.input[0]] if is_lstm_node(node) else self._node_refs(node)
        return feeds

    def control_flow(self, nodes) -> Any:
        """The first node among `nodes` that runs a subgraph (Loop, Scan, If, ...), or None."""
        return next(
            (n for n in nodes if n.op_type in CONTROL_FLOW
             or any(a.HasField("g") or len(a.graphs) for a in n.attribute)),
            None,
        )  # fmt: skip

    def evaluate(self, names: list[str], feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Tensor values by name: initializers, graph inputs, or a pruned onnxruntime run.

        A value computed through control flow (Loop, Scan, If) is refused
        instead of run: a loop whose condition never turns false would hang
        the tool, and onnxruntime's run cannot be interrupted with Ctrl-C.
        """
        out, computed = {}, []
        for name in names:
            if name in feeds:
                out[name] = feeds[name]
            elif name in self.initializers:
                out[name] = self.initializer(name)
            else:
                computed.append(name)
        if computed:
            key = tuple(computed)
            sess = self._sessions.get(key)
            nodes, needed = self.ancestry(computed)
            loop = self.control_flow(nodes)
            if loop is not None:
                raise LoadError(
                    f"{self.path}: {', '.join(computed)} is computed through a {loop.op_type} "
                    f"node ({loop.name or 'unnamed'!r}); lstm-tui does not run control flow to get "
                    "an LSTM's weights, initial state or input (such a loop may never end)"
                )
            if sess is None:
                sub = self.onnx.ModelProto()
                sub.CopyFrom(self.model)
                del sub.graph.node[:]
                sub.graph.node.extend(nodes)
                del sub.graph.output[:]
                sub.graph.output.extend(self.onnx.ValueInfoProto(name=n) for n in computed)
                keep = [
                    vi
                    for vi in self.model.graph.input
                    if vi.name in needed or vi.name in self.initializers
                ]
                del sub.graph.input[:]
                sub.graph.input.extend(keep)
                sess = self.session(sub.SerializeToString(), f"evaluating {', '.join(computed)}")
                self._sessions[key] = sess
            try:
                values = sess.run(computed, {k: feeds[k] for k in needed})
            except Exception as e:  # noqa: BLE001 - onnxruntime raises its own types
                raise InputError(
                    f"onnxruntime could not compute {', '.join(computed)} from the input: "
                    f"{_first_line(e)}"
                ) from None
            out.update(zip(computed, values))
        return out

    def session(self, model_bytes: bytes, what: str):
        so = self.ort.SessionOptions()
        so.log_severity_level = 4  # errors come back as exceptions; keep stderr clean
        try:
            return self.ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001
            raise LoadError(
                f"{self.path}: onnxruntime cannot run the graph for {what}: {_first_line(e)}"
            ) from None


@dataclass(frozen=True, eq=False)
class FoundLstm:
    """An LSTM node of the graph or of one of its subgraphs, and the way down to it."""

    name: str
    node: Any  # onnx.NodeProto
    #: (index in its graph, the control-flow node, the attribute holding the subgraph), top down
    path: tuple = ()

    @property
    def where(self) -> str:
        """'inside the then_branch of If 'check_sr'' (nested ones joined), or '' at top level."""
        return ", ".join(
            f"inside the {attr} of {ctrl.op_type} {ctrl.name or 'unnamed'!r}"
            for _, ctrl, attr in reversed(self.path)
        )

    @property
    def blocker(self) -> str | None:
        """Why it cannot be traced (a Loop or Scan on the way down), or None."""
        for _, ctrl, _ in self.path:
            if ctrl.op_type != "If":
                return (
                    f"a {ctrl.op_type} runs it once per iteration on values only the loop "
                    "computes, and lstm-tui does not run loops (one may never end), so it cannot "
                    "be traced; export the LSTM outside the loop"
                )
        return None


def _subgraphs(node):
    """(attribute name, graph) for every subgraph a node holds (If branches, then before else;
    Loop/Scan bodies)."""
    for a in sorted(node.attribute, key=lambda a: a.name != "then_branch"):
        if a.HasField("g"):
            yield a.name, a.g
        for j, sub in enumerate(a.graphs):
            yield f"{a.name}[{j}]", sub


def _find_lstms(graph) -> list[FoundLstm]:
    """Every LSTM node, top-level ones first (unnamed ones get LSTM_<k>), then those inside
    If branches and Loop/Scan bodies, depth first."""
    found, used = [], set()

    def add(node, path):
        name = node.name or f"LSTM_{len(found)}"
        base, k = name, 1
        while name in used:
            name, k = f"{base}#{k}", k + 1
        used.add(name)
        found.append(FoundLstm(name, node, path))

    def walk(g, path, depth):
        if depth > 16:  # deeper nesting is no model anyone exported
            return
        for k, node in enumerate(g.node):
            if path and is_lstm_node(node):
                add(node, path)
            for attr, sub in _subgraphs(node):
                walk(sub, path + ((k, node, attr),), depth + 1)

    for node in graph.node:
        if is_lstm_node(node):
            add(node, ())
    walk(graph, (), 0)
    return found


def _inline_branches(onnx, model, found: FoundLstm, path: str):
    """A copy of `model` with each If on the way down to `found` replaced by the branch that
    holds it (its nodes and initializers, then an Identity per If output), and the If
    conditions that must hold for that branch: [(condition tensor, value, If name, branch)]."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g, offset, conditions = m.graph, 0, []
    for index, ctrl, attr in found.path:
        at = index + offset
        node = g.node[at]
        sub = next(sg for a, sg in _subgraphs(node) if a == attr)
        taken = set()
        for n in g.node:
            taken.update(n.output)
        taken.update(t.name for t in g.initializer)
        taken.update(vi.name for vi in g.input)
        clash = sorted({o for n in sub.node for o in n.output if o in taken}
                       | {t.name for t in sub.initializer if t.name in taken})  # fmt: skip
        if clash:
            raise LoadError(
                f"{path}: the LSTM node {found.name!r} is {found.where}, and that branch reuses "
                f"the name {clash[0]!r} of the graph around it, so it cannot be traced in place"
            )
        added = list(sub.node) + [
            onnx.helper.make_node("Identity", [bo.name], [io], name=f"{node.name}/{attr}/{io}")
            for bo, io in zip(sub.output, node.output)
            if io
        ]
        conditions.append((node.input[0], attr == "then_branch", node.name or "unnamed", attr))
        rest = list(g.node[at + 1 :])
        del g.node[at:]
        g.node.extend(added + rest)
        g.initializer.extend(sub.initializer)
        offset = at
    return m, conditions


def _read_model(onnx, path: str):
    p = require_regular_file(path, "ONNX model")
    size, limit = p.stat().st_size, max_bytes()
    if size > limit:
        raise TooLargeError(
            f"{path}: holds {human_bytes(size)}, more than the {human_bytes(limit)} allowed "
            f"(set LSTM_TUI_MAX_BYTES={-(-size // 2**20)}M to allow it)"
        )
    try:
        model = onnx.load(str(p))
    except Exception as e:  # noqa: BLE001 - protobuf DecodeError and friends
        raise LoadError(
            f"{path}: not a valid ONNX file (corrupt or truncated: {_first_line(e)})"
        ) from None
    if model.ir_version <= 0 or not model.opset_import or not model.graph.node:
        raise LoadError(f"{path}: not an ONNX model (no graph in it)")
    return model


class OnnxModel(Model):
    """An ONNX model with an LSTM node chosen to trace; see the module docstring."""

    def __init__(self, path: str | os.PathLike, node: str | None = None):
        onnx, ort = import_onnx()
        path = str(path)
        self._file_model = model = _read_model(onnx, path)
        found = _find_lstms(model.graph)
        if not found:
            ops = sorted({n.op_type for n in model.graph.node})
            raise LoadError(f"{path}: no LSTM node in this ONNX graph (it has {', '.join(ops)})")
        names = tuple(f.name for f in found)
        #: every LSTM node that is not at the top level: name → where it is
        self.nested_lstms = {f.name: f.where for f in found if f.path}
        if node is None:
            node = next((f.name for f in found if f.blocker is None), names[0])
        if node not in names:
            raise LoadError(
                f"{path}: no LSTM node named {node!r}; the LSTM nodes are {', '.join(names)}"
            )
        chosen = next(f for f in found if f.name == node)
        if chosen.blocker is not None:
            others = [f.name for f in found if f.blocker is None]
            raise LoadError(
                f"{path}: the LSTM node {node!r} is {chosen.where}: {chosen.blocker}"
                + (f" (traceable: {', '.join(others)}, with --lstm)" if others else "")
            )
        self.where = chosen.where
        self._conditions: list = []
        if chosen.path:  # traced as if its branch were inlined; the If must take that branch
            model, self._conditions = _inline_branches(onnx, model, chosen, path)
        self._onnx_model = model
        self._graph = g = _Graph(onnx, ort, model, path)
        try:
            lstm_node = next(n for n in model.graph.node if n is chosen.node or (
                chosen.path and is_lstm_node(n) and n == chosen.node))  # fmt: skip
            self.node = parse_lstm_node(onnx, lstm_node, node)
        except LoadError as e:
            raise LoadError(f"{path}: {e}") from None
        self._check_constant_conditions()
        self.opset = max(
            (o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0
        )
        if not g.inputs:
            raise LoadError(f"{path}: the graph has no input to feed")
        self.input_names = tuple(vi.name for vi in g.inputs)
        #: graph input name → its role for the traced LSTM (the keys of _ROLE_TEXT)
        self.input_roles = self._input_roles()
        self.sequence_input = next(
            (k for k, r in self.input_roles.items() if r == "sequence"), self.input_names[0]
        )
        self.output_name = model.graph.output[0].name if model.graph.output else None
        spec = self._read_spec(path)
        props = {p.key: p.value for p in model.metadata_props}
        description = (
            props.get("description")
            or model.doc_string
            or (
                f"ONNX model ({model.producer_name or 'unknown producer'}"
                f"{' ' + model.producer_version if model.producer_version else ''}, "
                f"opset {self.opset}); "
                f"tracing LSTM node {node!r}: {spec.summary()}."
            )
        )
        # A vocabulary in the metadata (spec_to_onnx writes one) and token ids as the one
        # graph input: the model takes text, as the checkpoint it came from did.
        vocab = _json_list(props.get("vocab"), f"{path}: metadata vocab")
        seq_vi = self._input(self.sequence_input)
        elem = seq_vi.type.tensor_type.elem_type if seq_vi.type.HasField("tensor_type") else 0
        text = vocab is not None and elem in (6, 7)  # INT32, INT64
        examples = _json_any(props.get("examples"), f"{path}: metadata examples") or []
        if not text:
            examples = [np.asarray(e, np.float32) for e in examples if isinstance(e, list)]
        super().__init__(
            path=path, format="onnx", spec=spec, lstm_names=names, lstm_name=node,
            input_kind="text" if text else "numeric",
            labels=_json_list(props.get("labels"), f"{path}: metadata labels"),
            tokenizer=(props.get("tokenizer") or "words") if text else None,
            vocab=vocab if text else None, unk=(props.get("unk") or None) if text else None,
            lowercase=props.get("lowercase") == "true", examples=examples,
            output_kind=self._guess_output_kind(), description=description,
            warnings=[
                f"the LSTM node {node!r} is onnxruntime's DynamicQuantizeLSTM: every gate, c and "
                "h shown is computed from its dequantized 8-bit weights, in float; onnxruntime "
                "also quantizes each step's input, so the model's own output (the output panel) "
                "differs from what these values would give by that rounding"
            ] if self.node.node.op_type == QUANTIZED_LSTM else [],
        )  # fmt: skip

    # --- the If branches the traced node sits in
    def _check_constant_conditions(self) -> None:
        """An If whose condition is fixed in the file either always takes the traced branch
        (then it is no condition at all) or never does (then the LSTM never runs: refused)."""
        left = []
        for cond, want, name, branch in self._conditions:
            if self._graph.ancestry([cond])[1]:
                left.append((cond, want, name, branch))
                continue
            value = self._graph.evaluate([cond], {})[cond]
            if bool(np.asarray(value).reshape(-1)[0]) != want:
                raise LoadError(
                    f"{self._graph.path}: the LSTM node {self.node.name!r} is in the {branch} "
                    "of If "
                    f"{name!r}, whose condition {cond!r} is always {not want}: it never runs"
                )
        self._conditions = left

    def _check_branch_taken(self, feeds: dict) -> None:
        """With these inputs, does every If on the way down take the traced node's branch?"""
        for cond, want, name, branch in self._conditions:
            value = self._graph.evaluate([cond], feeds)[cond]
            if bool(np.asarray(value).reshape(-1)[0]) != want:
                other = "else_branch" if branch == "then_branch" else "then_branch"
                nested = [k for k, w in self.nested_lstms.items() if other in w and name in w]
                raise InputError(
                    f"with this input, If {name!r} takes its {other}, so the LSTM node "
                    f"{self.node.name!r} (in its {branch}) does not run"
                    + (f"; trace {nested[0]!r} instead (--lstm {nested[0]})" if nested else "")
                )

    # --- the graph's inputs
    @property
    def takes_token_ids(self) -> bool:
        """Is the sequence input integers (token ids)? Then a --vocab turns text into it."""
        vi = self._input(self.sequence_input)
        return vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type in (6, 7)

    def _input(self, name: str):
        return next(vi for vi in self._graph.inputs if vi.name == name)

    def _input_roles(self) -> dict[str, str]:
        """Each graph input's role: the sequence the traced LSTM reads (the first input whose
        values reach its X), another source that reaches it, an LSTM state (initial_h/c of any
        LSTM node), sequence lengths, or other (a sample rate, a flag: it has no default)."""
        g, n = self._graph, self.node
        states, lengths = set(), set()
        for nd in g.model.graph.node:
            if is_lstm_node(nd):
                ins = list(nd.input) + [""] * 8
                lengths |= g.value_feeds(ins[4])
                states |= g.value_feeds(ins[5]) | g.value_feeds(ins[6])
        data = g.value_feeds(n.inputs["X"]) - states - lengths
        roles, seen_sequence = {}, False
        for vi in g.inputs:
            if vi.name in data:
                roles[vi.name] = "source" if seen_sequence else "sequence"
                seen_sequence = True
            elif vi.name in states:
                roles[vi.name] = "state"
            elif vi.name in lengths:
                roles[vi.name] = "lengths"
            else:
                roles[vi.name] = "other"
        return roles

    def _default_feed(self, name: str, given: dict[str, np.ndarray], X: np.ndarray | None):
        """Zeros for a state input, full lengths for a lengths input: its declared shape with
        each named dimension taken from a given input that declares the same name (batch),
        and with X (the LSTM's input, once it can be computed) the one dimension nothing
        names taken as its batch (a state [2, ?, 128], a lengths [?]). None when the shape
        cannot be told."""
        vi = self._input(name)
        known = {}
        for other, value in given.items():
            for d, size in zip(_dims(self._input(other)) or [], np.shape(value)):
                if isinstance(d, str):
                    known.setdefault(d, size)
        dims = _dims(vi)
        if dims is None:
            return None
        shape = [d if isinstance(d, int) and d > 0 else known.get(d) for d in dims]
        if shape.count(None) == 1 and X is not None and X.ndim == 3:
            shape[shape.index(None)] = X.shape[0 if self.node.layout else 1]  # the batch
        if None in shape:
            return None
        elem = vi.type.tensor_type.elem_type or 1
        dtype = np.dtype(self._graph.onnx.helper.tensor_dtype_to_np_dtype(elem))
        if self.input_roles[name] == "lengths":
            if X is None:
                return None
            return np.full(shape, X.shape[1 if self.node.layout else 0], dtype)
        return np.zeros(shape, dtype)

    # --- reading the node
    def _static(self, role: str, feeds: dict | None = None) -> np.ndarray | None:
        """The value of one of the node's inputs, or None when the input is absent."""
        name = self.node.inputs[role]
        if not name:
            return None
        return self._graph.evaluate([name], feeds or {})[name]

    def _read_spec(self, path: str) -> LSTMSpec:
        n, g, where = self.node, self._graph, f"{path}: LSTM node {self.node.name!r}"
        for role in ("W", "R", "B", "P", *(r for r in QUANT_ROLES if r in n.inputs)):
            name = n.inputs[role]
            if name and name not in g.initializers and g.ancestry([name])[1]:
                raise LoadError(
                    f"{where}: its {role} is computed from the graph input; lstm-tui needs "
                    "weights that are fixed in the model"
                )
        try:
            W, R, B, P = (self._static(r) for r in ("W", "R", "B", "P"))
            if n.node.op_type == QUANTIZED_LSTM:
                W, R = (self._dequantized(a, r, where) for a, r in ((W, "W"), (R, "R")))
        except InputError as e:  # nothing was fed, so this is the file's fault
            raise LoadError(str(e)) from None
        D = n.num_directions
        if (R.ndim == 3 and n.hidden_size is not None and R.shape[1] == 4 * n.hidden_size
                and R.shape[2] != n.hidden_size):  # fmt: skip
            raise LoadError(
                f"{where}: not a valid ONNX LSTM (onnxruntime refuses it too): its R is "
                f"{list(R.shape)}, an LSTM with {n.hidden_size} units projected to "
                f"{R.shape[2]} (torch's proj_size), which ONNX's LSTM cannot express; open the "
                "torch model itself (.pt), or export it without proj_size"
            )
        if R.ndim != 3 or R.shape[0] != D or R.shape[1] != 4 * R.shape[2]:
            raise LoadError(
                f"{where}: R has shape {tuple(R.shape)}, expected [{D}, 4*hidden, hidden] "
                f"for a {n.direction} LSTM"
            )
        H = R.shape[2]
        if n.hidden_size is not None and n.hidden_size != H:
            raise LoadError(f"{where}: hidden_size is {n.hidden_size} but R is for {H} units")
        if W.ndim != 3 or W.shape[:2] != (D, 4 * H):
            raise LoadError(
                f"{where}: W has shape {tuple(W.shape)}, expected [{D}, {4 * H}, input_size]"
            )
        expect = {"B": (D, 8 * H), "P": (D, 3 * H)}
        for role, arr in (("B", B), ("P", P)):
            if arr is not None and tuple(arr.shape) != expect[role]:
                raise LoadError(
                    f"{where}: {role} has shape {tuple(arr.shape)}, expected {list(expect[role])}"
                )
        dtypes = {a.dtype for a in (W, R, B, P) if a is not None}
        if len(dtypes) != 1 or not np.issubdtype(next(iter(dtypes)), np.floating):
            raise LoadError(
                f"{where}: weights must share one float type, got {sorted(map(str, dtypes))}"
            )
        dtype = np.float64 if W.dtype == np.float64 else np.float32  # float16/bfloat16 widen

        def blocks(a: np.ndarray) -> np.ndarray:  # (4H, ...) ONNX i,o,f,c → engine i,f,g,o
            return np.ascontiguousarray(
                a.reshape(4, H, *a.shape[1:])[list(ONNX_BLOCK)].reshape(a.shape), dtype
            )

        dirs = []
        for d in range(D):
            p = None if P is None else P[d].astype(dtype)
            dirs.append(
                CellWeights(
                    W_ih=blocks(W[d]), W_hh=blocks(R[d]),
                    b_ih=None if B is None else blocks(B[d, : 4 * H]),
                    b_hh=None if B is None else blocks(B[d, 4 * H :]),
                    p_i=None if p is None else p[:H].copy(),
                    p_o=None if p is None else p[H : 2 * H].copy(),
                    p_f=None if p is None else p[2 * H :].copy(),
                )
            )  # fmt: skip
        try:
            return LSTMSpec(
                weights=(tuple(dirs),), batch_first=n.layout == 1, activations=(n.activations,),
                clip=n.clip, input_forget=n.input_forget,
                directions=("reverse",) if n.direction == "reverse" else None,
            )  # fmt: skip
        except SpecError as e:
            raise LoadError(f"{where}: {e}") from None

    def _dequantized(self, q: np.ndarray, role: str, where: str) -> np.ndarray:
        """A DynamicQuantizeLSTM's W or R ([D, in, 4H] of int8/uint8, scale and zero point per
        direction [D] or per gate row [D, 4H]) as LSTM's float [D, 4H, in]: (q - zero) * scale."""
        scale, zero = (np.asarray(self._static(f"{role}_{k}")) for k in ("scale", "zero_point"))
        if q.dtype not in (np.int8, np.uint8) or q.ndim != 3:
            raise LoadError(f"{where}: quantized {role} must be 8-bit [D, in, 4H], got {q.dtype} "
                            f"{list(q.shape)}")  # fmt: skip
        D, rows = q.shape[0], q.shape[2]
        if scale.shape not in ((D,), (D, rows)) or zero.shape != scale.shape:
            raise LoadError(f"{where}: {role}_scale {list(scale.shape)} and {role}_zero_point "
                            f"{list(zero.shape)} fit neither [D] nor [D, 4H]")  # fmt: skip
        scale = scale.astype(np.float32).reshape(D, 1, -1)
        zero = zero.astype(np.float32).reshape(D, 1, -1)
        return np.ascontiguousarray(((q.astype(np.float32) - zero) * scale).transpose(0, 2, 1))

    def _lstm_state_output(self) -> bool:
        """Whether the first graph output is just an LSTM's states: no model-level output."""
        name, seen = self.output_name, set()
        while name and name not in seen:
            seen.add(name)
            node = self._graph.producer.get(name)
            if node is None:
                return False
            if is_lstm_node(node):
                return True
            if node.op_type not in _SHAPE_OPS:
                return False
            name = node.input[0] if node.input else None
        return False

    @property
    def output_uses_future(self) -> bool:
        """Does any LSTM node that computes the graph's output read right to left?

        Not only the traced node: a forward node followed by a bidirectional one
        gives outputs that depend on every later input, so the strip must not
        show them as causal.
        """
        if self.output_name is None:
            return super().output_uses_future
        nodes, _ = self._graph.ancestry([self.output_name])
        for node in nodes:
            if is_lstm_node(node):
                direction = next(
                    (a.s for a in node.attribute if a.name == "direction"), b"forward"
                )
                if direction in (b"reverse", b"bidirectional"):
                    return True
        return False

    def _guess_output_kind(self) -> str | None:
        self.output_kind_guessed = False
        if self.output_name is None or self._lstm_state_output():
            return None
        node, seen = self._graph.producer.get(self.output_name), 0
        while node is not None and node.op_type in _SHAPE_OPS and node.input and seen < 64:
            # a Reshape or an If branch's Identity moves the values, it does not change them
            node, seen = self._graph.producer.get(node.input[0]), seen + 1
        if node is None:  # a graph input or an initializer passed straight through
            return None
        kind = {"LogSoftmax": "log_prob", "Softmax": "prob", "Sigmoid": "sigmoid",
                "LpNormalization": "embedding"}.get(node.op_type)  # fmt: skip
        #: the graph's last op did not say what its output is, so the first trace's output may
        #: refine "logit" (one column); a kind the user chose (vocab.apply_names) is kept
        self.output_kind_guessed = kind is None
        return kind or "logit"

    # --- feeding
    def _token_input(self, ids: np.ndarray) -> np.ndarray:
        """Token ids (T,) shaped as the graph input takes one sequence: [T], [T, 1] or [1, T]."""
        dims = _dims(self._input(self.sequence_input)) or [None, None]
        if len(dims) == 1:
            return ids
        if len(dims) != 2:
            raise InputError(f"cannot feed text to the graph input {self.sequence_input} {dims}")
        batch_first = dims[0] == 1 or (dims[1] != 1 and self.node.layout == 1)
        return ids[None, :] if batch_first else ids[:, None]

    def _given(self, inp: Any) -> dict[str, np.ndarray]:
        """The user's arrays by graph input name: a dict as it is, anything else the sequence."""
        if isinstance(inp, str) or (
            isinstance(inp, (list, tuple)) and inp and isinstance(inp[0], str)
        ):
            raise InputError(
                f"{self.name} is an ONNX model with numeric input ({self.sequence_input}): "
                "give an array (--input X.npy), not text"
            )
        given = dict(inp) if isinstance(inp, dict) else {self.sequence_input: inp}
        unknown = [k for k in given if k not in self.input_roles]
        if unknown:
            raise InputError(
                f"the model has no input named {', '.join(map(repr, unknown))}; its inputs are "
                f"{', '.join(self.input_names)}"
            )
        missing = [k for k, r in self.input_roles.items() if r in ("sequence", "source", "other")
                   and k not in given]  # fmt: skip
        if missing:
            what = ", ".join(
                f"{k} {_shape_text(self._input(k))} ({_ROLE_TEXT[self.input_roles[k]]})"
                for k in missing
            )
            raise InputError(
                f"no value for the model's input {what}: give it by name "
                f"(--input {missing[0]}=FILE.npy, or one .npz of named arrays)"
            )
        return {
            k: _check_feed(self._input(k), v, self._graph.onnx) for k, v in given.items()
        }

    def _feeds(self, given: dict[str, np.ndarray]) -> tuple[dict, dict, list[str]]:
        """(every graph input's value, the LSTM inputs' values, notes on what was defaulted):
        the given arrays, zeros for a state not given, full lengths for lengths not given."""
        n = self.node
        feeds, notes = dict(given), []
        for k, role in self.input_roles.items():
            if k in feeds or role != "state":
                continue
            value = self._default_feed(k, feeds, None)
            if value is None and k not in self._graph.ancestry([n.inputs["X"]])[1]:
                X = np.asarray(self._graph.evaluate([n.inputs["X"]], feeds)[n.inputs["X"]])
                value = self._default_feed(k, feeds, X)
            if value is None:
                raise InputError(
                    f"the state input {k} {_shape_text(self._input(k))} was not given and its "
                    f"shape cannot be told from the other inputs: give it (--input {k}=FILE.npy)"
                )
            feeds[k] = value
            notes.append(f"the state input {k} was not given: it starts at zeros "
                         f"(give it with --input {k}=FILE.npy)")  # fmt: skip
        roles = [r for r in ("X", "sequence_lens", "initial_h", "initial_c") if n.inputs[r]]
        need = set().union(*(self._graph.ancestry([n.inputs[r]])[1] for r in roles))
        pending = [k for k, r in self.input_roles.items() if r == "lengths" and k not in feeds]
        if pending:
            X = np.asarray(self._graph.evaluate([n.inputs["X"]], feeds)[n.inputs["X"]])
            for k in pending:
                value = self._default_feed(k, feeds, X if X.ndim == 3 else None)
                if value is None:
                    if k not in need:
                        continue
                    raise InputError(
                        f"the lengths input {k} {_shape_text(self._input(k))} was not given and "
                        f"its shape cannot be told: give it (--input {k}=FILE.npy)"
                    )
                feeds[k] = value
                notes.append(f"the lengths input {k} was not given: every sequence runs its "
                             "full length")  # fmt: skip
        values = self._graph.evaluate([n.inputs[r] for r in roles], feeds)
        return feeds, values, notes

    def trace(self, inp: Any, *, batch_index: int = 0, buffers=None) -> Trace:
        """Record the chosen LSTM node on one sequence of the batch `inp`: the sequence input's
        array, or a dict of arrays by graph input name (states not given start at zeros);
        `buffers` as Model.trace takes them."""
        n, spec = self.node, self.spec
        tokens = None
        if self.input_kind == "text" and (
            isinstance(inp, (str, list, tuple)) or (isinstance(inp, np.ndarray) and inp.ndim == 1)
        ):
            tokens, ids, _ = self._prepare(inp)
            inp = self._token_input(ids)
        given = self._given(inp)
        feeds, values, notes = self._feeds(given)
        self._check_branch_taken(feeds)
        X = np.asarray(values[n.inputs["X"]])
        if X.ndim != 3:
            raise InputError(
                f"the LSTM node {n.name!r} gets an input of shape {tuple(X.shape)}; it needs "
                f"{'[batch, T, features]' if n.layout else '[T, batch, features]'}"
            )
        if n.layout == 1:
            X = X.transpose(1, 0, 2)  # → [T, batch, in]
        T, batch, width = X.shape
        if width != spec.input_size:
            raise InputError(
                f"the LSTM node {n.name!r} gets {width} features per step "
                f"but takes {spec.input_size}"
            )
        if isinstance(batch_index, bool) or not isinstance(batch_index, (int, np.integer)):
            raise InputError(f"batch index must be an integer, got {batch_index!r}")
        if not 0 <= batch_index < batch:
            raise InputError(
                f"batch index {batch_index} is out of range: the input holds {batch} "
                f"sequence{'s' if batch != 1 else ''} (0..{batch - 1})"
            )
        b = int(batch_index)
        if T == 0:
            raise InputError("empty sequence: the input has no timesteps")

        L = T
        if n.inputs["sequence_lens"]:
            lens = np.asarray(values[n.inputs["sequence_lens"]]).reshape(-1)
            if lens.shape != (batch,) or (lens < 0).any() or (lens > T).any():
                raise InputError(
                    f"sequence_lens {lens.tolist()} does not fit a batch of {batch} "
                    f"sequences of at most {T} steps"
                )
            L = int(lens[b])
            if L == 0:
                raise InputError(
                    f"batch entry {b} has sequence length 0: the LSTM runs no step for it "
                    "(onnxruntime returns zeros), so there is nothing to trace; "
                    "pick another --batch-index"
                )
        x = X[:L, b]
        if tokens is None and self.input_kind == "text":  # token ids with a batch axis
            tokens = self._tokens_of(feeds[self.sequence_input], T, batch, b, L)
        D, H = n.num_directions, spec.hidden_size
        h0, c0 = [self._state(values, role, b, batch, D, H) for role in ("initial_h", "initial_c")]
        output, out_meta = self._model_output(feeds, T, batch, b, L)
        if output is not None and self.output_kind_guessed and output.shape[1] == 1:
            # nothing in the graph said "logits", and a softmax over one column is 1.00 at
            # every step: one column reads as a probability or a value (guess_output_kind)
            self.output_kind, self.output_kind_guessed = guess_output_kind(output), False
        meta = {
            "model": self.name, "format": self.format, "model_format": self.format,
            "lstm": self.lstm_name,
            "output_kind": self.output_kind if output is not None else None,
            "description": self.description, "source": self.path,
            "onnx_node": n.name, "op_type": n.node.op_type, "attributes": n.attributes,
            **({"onnx_where": self.where} if self.where else {}),
            "onnx_direction": n.direction, "opset": self.opset,
            "batch_index": b, "batch_size": batch, "sequence_length": L, "padded_length": T,
            **out_meta, **self.unk_meta(tokens),
            "graph_inputs": {
                k: {"role": r, "given": k in given}
                for k, r in self.input_roles.items()
            },
        }  # fmt: skip
        warned = list(self.warnings) + notes
        if warned:
            meta["warnings"] = list(dict.fromkeys(warned))
        labels = self.labels
        if output is None or (labels is not None and len(labels) != output.shape[1]):
            labels = None  # labels that do not match the output would mislabel every column
        try:
            return record(
                spec, x, h0, c0, source=self.path, output=output, labels=labels, meta=meta,
                tokens=tuple(tokens) if tokens is not None else None, buffers=buffers,
            )  # fmt: skip
        except SpecError as e:
            raise InputError(str(e)) from None

    def _tokens_of(self, ids: np.ndarray, T: int, batch: int, b: int, L: int) -> list[str] | None:
        """The words of sequence b when the graph input is token ids [T, batch] or [batch, T]."""
        layouts = [(0, 1), (1, 0)] if self.node.layout == 0 else [(1, 0), (0, 1)]
        if ids.ndim == 1 and batch == 1 and len(ids) == T:
            seq = ids
        elif ids.ndim == 2:
            axes = [(t, a) for t, a in layouts if ids.shape[t] == T and ids.shape[a] == batch]
            if not axes:
                return None
            seq = np.take(ids, b, axis=axes[0][1])
        else:
            return None
        ids = seq[:L]
        if ids.min() < 0 or ids.max() >= len(self.vocab):
            raise InputError(
                f"token ids must be in 0..{len(self.vocab) - 1}, got {ids.min()}..{ids.max()}"
            )
        return [self.vocab[k] for k in ids]

    def _state(
        self, values: dict, role: str, b: int, batch: int, D: int, H: int
    ) -> np.ndarray | None:
        name = self.node.inputs[role]
        if not name:
            return None
        a = np.asarray(values[name])
        expect = (batch, D, H) if self.node.layout else (D, batch, H)
        if a.shape != expect:
            raise InputError(f"{role} has shape {tuple(a.shape)}, expected {list(expect)}")
        return a[b] if self.node.layout else a[:, b]

    # --- the model's own output
    def _model_output(
        self, feeds: dict, T: int, batch: int, b: int, L: int
    ) -> tuple[np.ndarray | None, dict]:
        """The graph's first output for this sequence, per step, as onnxruntime computes it."""
        name = self.output_name
        if name is None:
            return None, {}
        if self.output_kind is None:
            return None, {
                "graph_output": {"name": name, "note": "an LSTM's states, not a model-level output"}
            }
        info: dict[str, Any] = {"name": name}
        loop = self._graph.control_flow(self._graph.ancestry([name])[0])
        if loop is not None:
            info["note"] = (f"not run: computed through a {loop.op_type} node, which lstm-tui "
                            "does not run (it may never end)")  # fmt: skip
            return None, {"graph_output": info}
        try:
            sess = self._graph._sessions.get("__full__")
            if sess is None:
                sess = self._graph.session(self._onnx_model.SerializeToString(), "the model output")
                self._graph._sessions["__full__"] = sess
            out = np.asarray(sess.run([name], feeds)[0])
        except EngineError as e:
            return None, {"graph_output": {**info, "error": str(e)}}
        except Exception as e:  # noqa: BLE001 - a runtime failure of the rest of the graph
            return None, {"graph_output": {**info, "error": f"onnxruntime: {_first_line(e)}"}}
        info["shape"] = list(out.shape)
        per_step = _per_step(out, T, batch, b, self.node.layout)
        if per_step is None or not np.issubdtype(per_step.dtype, np.number):
            if out.size <= 4096 and np.issubdtype(out.dtype, np.number):
                info["values"] = out.tolist()
            info["note"] = "not one value per step; kept here instead of the output panel"
            return None, {"graph_output": info}
        if not np.issubdtype(per_step.dtype, np.floating):
            per_step = per_step.astype(np.float64)
        return np.ascontiguousarray(per_step[:L]), {"graph_output": info}

    # --- the Model API
    @property
    def parameter_count(self) -> int:
        """Every float weight in the file, not only the traced LSTM's: initializers and
        Constant nodes (torch.onnx.export writes some weights as Constants), in every
        subgraph too, each counted once by name."""
        floats = (1, 10, 11, 16)  # FLOAT, FLOAT16, DOUBLE, BFLOAT16
        seen, total = set(), 0

        def walk(g, depth=0):
            nonlocal total
            for t in g.initializer:
                if t.data_type in floats and t.name not in seen:
                    seen.add(t.name)
                    total += int(np.prod(t.dims))
            for nd in g.node:
                if nd.op_type == "Constant" and nd.output and nd.output[0] not in seen:
                    for a in nd.attribute:
                        if a.name == "value" and a.t.data_type in floats:
                            total += int(np.prod(a.t.dims))
                        elif a.name == "value_floats":
                            total += len(a.floats)
                    seen.add(nd.output[0])
                if depth < 16:
                    for _, sub in _subgraphs(nd):
                        walk(sub, depth + 1)

        walk(self._file_model.graph)
        return total

    #: a graph with more nodes than this is summarised in `layers` (counts by op type)
    LIST_NODES = 24

    def layers(self) -> list[tuple[str, str]]:
        """The ONNX graph is the architecture: every node of a small graph in order; for a
        larger one, the LSTM nodes in full and the other nodes counted by op type."""
        nodes = list(self._file_model.graph.node)
        lstm_rows = []
        for name, where in [(n, "") for n in self.lstm_names if n not in self.nested_lstms] + [
            (n, w) for n, w in self.nested_lstms.items()
        ]:
            what = self.spec.summary() if name == self.lstm_name else "LSTM"
            lstm_rows.append((name, f"{what} ({where})" if where else what))
        if len(nodes) <= self.LIST_NODES:
            out, top = [], iter(r for r in lstm_rows if r[0] not in self.nested_lstms)
            for k, nd in enumerate(nodes):
                if is_lstm_node(nd):
                    out.append(next(top))
                else:
                    out.append((nd.name or f"{nd.op_type}_{k}", nd.op_type))
            return out + [r for r in lstm_rows if r[0] in self.nested_lstms]
        counts: dict[str, int] = {}
        for nd in nodes:
            if not is_lstm_node(nd):
                counts[nd.op_type] = counts.get(nd.op_type, 0) + 1
        ops = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        summary = ", ".join(f"{n} {op}" for op, n in ops)
        return lstm_rows + [(f"{sum(counts.values())} other nodes", summary)]

    def info(self) -> dict:
        d = super().info()
        model = self._file_model
        inputs = {
            vi.name: f"{_shape_text(vi)} ({_ROLE_TEXT[self.input_roles[vi.name]]})"
            if len(self._graph.inputs) > 1 else _shape_text(vi)
            for vi in self._graph.inputs
        }
        outputs = {vi.name: _shape_text(vi) for vi in model.graph.output}
        attrs = ", ".join(f"{k} {v}" for k, v in self.node.attributes.items())
        d.update(
            onnx_node=self.node.name, attributes=self.node.attributes,
            direction=self.node.direction,
            layout=self.node.layout, opset=self.opset, inputs=inputs, outputs=outputs,
            producer=f"{model.producer_name} {model.producer_version}".strip() or None,
            graph=", ".join(f"{vi.name} {_shape_text(vi)}" for vi in self._graph.inputs) + " → "
            + ", ".join(f"{k} {v}" for k, v in outputs.items()),
            notes=f"LSTM node {self.node.name!r}"
            + (f" ({self.where}; traced when the If takes that branch)" if self.where else "")
            + f": {attrs}" + (
                "; give the graph input, batch included (--input X.npy, --batch-index B)"
                if len(self.input_names) == 1 else
                "; give the inputs by name (--input NAME=FILE.npy, or one .npz), "
                "batch included (--batch-index B)"),
        )  # fmt: skip
        return d


def _json_list(text: str | None, what: str) -> tuple[str, ...] | None:
    """A metadata list of strings (vocab, labels), or None if absent or not JSON; too large or
    too deeply nested is a TooLargeError (files.read_json's limits)."""
    v = _json_any(text, what)
    return tuple(map(str, v)) if isinstance(v, list) else None


def _json_any(text: str | None, what: str) -> Any:
    """A metadata value parsed as JSON within the limits (None if absent or not JSON)."""
    if not text:
        return None
    try:
        return read_json(text, what)
    except TooLargeError:
        raise
    except LoadError:
        return None


def _dims(vi) -> list | None:
    t = vi.type
    if not t.HasField("tensor_type") or not t.tensor_type.HasField("shape"):
        return None
    return [
        d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
        for d in t.tensor_type.shape.dim
    ]


def _shape_text(vi) -> str:
    dims = _dims(vi)
    return "?" if dims is None else "[" + ", ".join(map(str, dims)) + "]"


def _check_feed(vi, value: Any, onnx) -> np.ndarray:
    """The user's array for graph input `vi`, checked against its declared shape and type."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    try:
        a = np.asarray(value)
    except Exception as e:  # noqa: BLE001
        raise InputError(f"input {vi.name!r} must be an array: {_first_line(e)}") from None
    dims = _dims(vi)
    if dims is not None:
        if a.ndim != len(dims) or any(
            isinstance(d, int) and d > 0 and d != s for d, s in zip(dims, a.shape)
        ):
            raise InputError(
                f"input has shape {tuple(a.shape)}, "
                f"but the model's input {vi.name!r} is {_shape_text(vi)}"
            )
    if a.size == 0:
        raise InputError(f"input {vi.name!r} is empty (shape {tuple(a.shape)})")
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
        raise InputError(f"input {vi.name!r} must be numeric, got dtype {a.dtype}")
    elem = vi.type.tensor_type.elem_type if vi.type.HasField("tensor_type") else 0
    if elem:
        want = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem))
        if np.issubdtype(want, np.integer) and not np.issubdtype(a.dtype, np.integer):
            if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
                raise InputError(
                    f"input {vi.name!r} takes integers (e.g. token ids), got {a.dtype} values"
                )
        a = a.astype(want, copy=False)
    return np.ascontiguousarray(a)


def _per_step(out: np.ndarray, T: int, batch: int, b: int, layout: int) -> np.ndarray | None:
    """`out` as (T, n) for sequence b, when its shape says it has one row per step."""
    shape = out.shape
    time_major = layout == 0
    candidates = []
    if out.ndim == 4:  # an LSTM's Y: [T, D, batch, H], or [batch, T, D, H] with layout 1
        candidates = [(0, 2), (1, 0)] if time_major else [(1, 0), (0, 2)]
    elif out.ndim == 3:
        candidates = [(0, 1), (1, 0)] if time_major else [(1, 0), (0, 1)]
    elif out.ndim == 2 and batch == 1 and shape[0] == T:
        return out.reshape(T, -1)
    elif out.ndim == 1 and batch == 1 and shape[0] == T:
        return out.reshape(T, 1)
    for t_ax, b_ax in candidates:
        if shape[t_ax] == T and shape[b_ax] == batch:
            seq = np.take(out, b, axis=b_ax)
            t_ax -= t_ax > b_ax
            return np.moveaxis(seq, t_ax, 0).reshape(T, -1)
    return None


def load_onnx(path: str | os.PathLike, node: str | None = None) -> OnnxModel:
    """Open an ONNX model and pick the LSTM node to trace (the first by default)."""
    return OnnxModel(path, node)
