"""ONNX test models built with onnx.helper, and onnxruntime as the oracle for every step.

onnxruntime's LSTM reports h at every step (Y) but c only at the end (Y_c),
so the oracle gets each step's cell state from its own run: the prefix
x[0..t] for the forward direction, the suffix x[t..L-1] for the reverse one,
fed one batch entry at a time with that entry's initial state.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

GATE_ROWS = 4  # W/R stack i, o, f, c


def session(model: onnx.ModelProto) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.log_severity_level = 4
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def lstm_arrays(
    n_in, H, D=1, *, batch=1, bias=True, peephole=False, initial=False, seed=0, scale=0.6
):
    """Random weights (and initial states) in ONNX's layout, float32."""
    rng = np.random.default_rng(seed)

    def u(*shape):
        return rng.uniform(-scale, scale, size=shape).astype(np.float32)

    a = {"W": u(D, 4 * H, n_in), "R": u(D, 4 * H, H)}
    if bias:
        a["B"] = u(D, 8 * H)
    if peephole:
        a["P"] = u(D, 3 * H)
    if initial:
        a["initial_h"] = u(D, batch, H)
        a["initial_c"] = u(D, batch, H)
    return a


def lstm_node(arrays, *, name="lstm_1", x="X", prefix="", outputs=("Y", "Y_h", "Y_c"), **attrs):
    """An LSTM node reading `x` and the named arrays (as initializers), plus those initializers."""
    roles = ("W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P")
    ins, inits = [x], []
    for role in roles:
        if role in arrays:
            inits.append(numpy_helper.from_array(np.asarray(arrays[role]), prefix + role))
            ins.append(prefix + role)
        else:
            ins.append("")
    while ins[-1] == "":
        ins.pop()
    H = arrays["R"].shape[-1]
    node = helper.make_node("LSTM", ins, list(outputs), name=name, hidden_size=H, **attrs)
    return node, inits


def single_lstm_model(arrays, *, batch="batch", opset=14, layout=0, x_dims=None, **attrs):
    """X → one LSTM → outputs Y, Y_h, Y_c. `arrays` as from lstm_arrays (+ sequence_lens)."""
    I = arrays["W"].shape[-1]  # noqa: E741
    if layout:
        attrs["layout"] = 1
    node, inits = lstm_node(arrays, **attrs)
    dims = x_dims or (["batch", "T", I] if layout else ["T", batch, I])
    g = helper.make_graph(
        [node], "lstm", [helper.make_tensor_value_info("X", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("Y", "Y_h", "Y_c")],
        inits,
    )  # fmt: skip
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def node_attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


class Oracle:
    """onnxruntime's per-step h and c for a single-LSTM-node model (layout 0)."""

    def __init__(self, model: onnx.ModelProto, node_name: str | None = None):
        m = onnx.ModelProto()
        m.CopyFrom(model)
        nodes = [n for n in m.graph.node if n.op_type == "LSTM"]
        node = next(n for n in nodes if node_name in (None, n.name))
        attrs = node_attrs(node)
        self.direction = attrs.get("direction", b"forward").decode()
        self.D = 2 if self.direction == "bidirectional" else 1
        inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
        self.H = inits[node.input[2]].shape[-1]
        ins = list(node.input) + [""] * (8 - len(node.input))
        # sequence_lens, initial_h, initial_c become graph inputs so that each run can set them
        self.defaults = {}
        for pos, role in ((4, "sequence_lens"), (5, "initial_h"), (6, "initial_c")):
            self.defaults[role] = inits.get(ins[pos])
            ins[pos] = f"oracle_{role}"
        keep = [
            t
            for t in m.graph.initializer
            if t.name not in {node.input[k] for k in (4, 5, 6) if k < len(node.input)}
        ]
        del m.graph.initializer[:]
        m.graph.initializer.extend(keep)
        del node.input[:]
        node.input.extend(ins)
        dims = {
            "sequence_lens": ["batch"],
            "initial_h": [self.D, "batch", self.H],
            "initial_c": [self.D, "batch", self.H],
        }
        types = {"sequence_lens": TensorProto.INT32}
        for role in ("sequence_lens", "initial_h", "initial_c"):
            m.graph.input.append(
                helper.make_tensor_value_info(
                    f"oracle_{role}", types.get(role, TensorProto.FLOAT), dims[role]
                )
            )
        self.x_name = node.input[0]
        del m.graph.output[:]
        m.graph.output.extend(
            helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in node.output[:3]
        )
        self.session = session(m)
        self.feed_names = [
            vi.name for vi in m.graph.input if vi.name not in {t.name for t in m.graph.initializer}
        ]

    def _run(self, X, lens, h0, c0):
        feeds = {
            "oracle_sequence_lens": np.asarray(lens, np.int32),
            "oracle_initial_h": h0,
            "oracle_initial_c": c0,
        }
        feeds[self.x_name] = X
        return self.session.run(None, feeds)

    def states(self, X: np.ndarray, b: int) -> tuple[np.ndarray, np.ndarray]:
        """h and c of batch entry b at every step, (D, L, H) each, by sequence position."""
        T, batch = X.shape[:2]
        lens = self.defaults["sequence_lens"]
        L = int(lens[b]) if lens is not None else T
        zeros = np.zeros((self.D, batch, self.H), np.float32)
        h0 = self.defaults["initial_h"] if self.defaults["initial_h"] is not None else zeros
        c0 = self.defaults["initial_c"] if self.defaults["initial_c"] is not None else zeros
        h0, c0 = h0[:, b : b + 1], c0[:, b : b + 1]
        xb = X[:, b : b + 1]
        h = np.zeros((self.D, L, self.H), np.float32)
        c = np.zeros((self.D, L, self.H), np.float32)
        dirs = {"forward": [0], "reverse": [], "bidirectional": [0]}[self.direction]
        rev = {"forward": None, "reverse": 0, "bidirectional": 1}[self.direction]
        for t in range(L):
            if dirs:
                _, Yh, Yc = self._run(xb[: t + 1], [t + 1], h0, c0)
                h[0, t], c[0, t] = Yh[0, 0], Yc[0, 0]
            if rev is not None:
                _, Yh, Yc = self._run(xb[t:L], [L - t], h0, c0)
                h[rev, t], c[rev, t] = Yh[rev, 0], Yc[rev, 0]
        return h, c
