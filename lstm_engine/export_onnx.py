"""engine → ONNX: write an LSTMSpec as an ONNX model, one LSTM node per layer.

ONNX's LSTM operator is the one runtime spec that has peepholes, clip,
input_forget and free activations, so a spec using any of them (the peephole
sample, say) can be handed to onnxruntime and opened again with `load_onnx`:
the same model computed by two independent implementations.

The graph: X [T, batch, input] (or [batch, T, input] with layout=1) → LSTM
node `{name}_l0` → its Y [T, D, batch, H] → Transpose/Reshape to
[T, batch, D·H] (forward then reverse, as torch concatenates) → the next
layer, and so on. Optionally an embedding in front (token ids → Gather) and a
linear head behind (MatMul + Add, then LogSoftmax or Softmax), so a whole
tagger can be exported. Graph outputs: the model output first ("output" with a
head, else "Y", the last layer's states [T, batch, D·H]), then every layer's
final states Y_h_l{k} and Y_c_l{k}.

Weights are written in the spec's dtype; onnxruntime's CPU LSTM runs float32
only, so export float64 specs with `dtype=np.float32` when onnxruntime is to
run them. Every activation's alpha/beta is written out explicitly.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import EngineError, SpecError
from .load_onnx import activation_attributes, import_onnx
from .spec import LSTMSpec

#: ONNX gate block k comes from engine block TO_ONNX[k]: i←i, o←o, f←f, c←g.
TO_ONNX = (0, 3, 1, 2)


def _onnx_blocks(a: np.ndarray, H: int) -> np.ndarray:
    """(4H, ...) in the engine's i, f, g, o → ONNX's i, o, f, c."""
    return a.reshape(4, H, *a.shape[1:])[list(TO_ONNX)].reshape(a.shape)


def spec_to_onnx(
    spec: LSTMSpec,
    path: str | os.PathLike,
    *,
    name: str = "lstm",
    opset: int = 14,
    layout: int = 0,
    dtype=None,
    embedding: np.ndarray | None = None,
    head: tuple[np.ndarray, np.ndarray | None] | None = None,
    output: str | None = None,
    labels: Sequence[str] | None = None,
    vocab: Sequence[str] | None = None,
    unk: str | None = None,
    examples: Sequence = (),
    description: str = "",
    overwrite: bool = False,
) -> Path:
    """Write `spec` to `path` as ONNX and return the path.

    embedding: (vocab, input_size) rows looked up by int64 token ids [T, batch].
    head: (W (n, D·H), b (n,) or None) applied to the last layer at every step;
    output: None, "log_softmax" or "softmax" after the head.
    labels, vocab (one word per embedding row), unk, examples (text, or arrays shaped as
    the graph input) and description go to the model's metadata_props, so that
    `load_onnx` opens the file as the same model: with a vocabulary, it takes text.
    Refuses to overwrite an existing file unless overwrite=True.
    """
    onnx, _ = import_onnx()
    helper, numpy_helper, TP = onnx.helper, onnx.numpy_helper, onnx.TensorProto
    path = Path(path)
    if path.exists() and not overwrite:
        raise EngineError(f"{path} already exists; not overwriting it")
    if spec.proj_size:
        raise SpecError("ONNX's LSTM has no projection (proj_size); this spec cannot be exported")
    if layout not in (0, 1):
        raise SpecError(f"layout must be 0 or 1, got {layout!r}")
    if opset < 7 or (layout == 1 and opset < 14):
        raise SpecError(f"opset {opset} is too old: need 7 or newer (14 or newer for layout=1)")
    if output not in (None, "log_softmax", "softmax"):
        raise SpecError(f"output must be None, 'log_softmax' or 'softmax', got {output!r}")
    if output is not None and head is None:
        raise SpecError(f"output {output!r} needs a head to apply it to")
    if vocab is not None and embedding is None:
        raise SpecError("a vocabulary needs an embedding to look its words up in")
    if unk is not None and (vocab is None or unk not in vocab):
        raise SpecError(f"the unknown token {unk!r} is not in the vocabulary")
    dt = np.dtype(dtype if dtype is not None else spec.dtype)
    if dt not in (np.float32, np.float64):
        raise SpecError(f"dtype must be float32 or float64, got {dt}")
    elem = TP.FLOAT if dt == np.float32 else TP.DOUBLE
    H, D = spec.hidden_size, spec.num_directions
    direction = "bidirectional" if D == 2 else "forward"
    attrs: dict = {"hidden_size": H, "direction": direction}
    if not spec.activations.is_standard:
        attrs.update(activation_attributes(spec.activations, D))
    if spec.clip is not None:
        attrs["clip"] = float(spec.clip)
    if spec.input_forget:
        attrs["input_forget"] = 1
    if layout:
        attrs["layout"] = 1

    inits, nodes, outputs = [], [], []
    steps = ["batch", "T"] if layout else ["T", "batch"]
    shapes = {"Y": [*steps, D * H]}

    def const(value: np.ndarray, tensor_name: str) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), tensor_name))
        return tensor_name

    if embedding is not None:
        E = np.asarray(embedding)
        if E.ndim != 2 or E.shape[1] != spec.input_size:
            raise SpecError(
                f"embedding has shape {tuple(E.shape)}, expected (vocab, {spec.input_size})"
            )
        if vocab is not None and len(vocab) != E.shape[0]:
            raise SpecError(
                f"{len(vocab)} vocabulary words but the embedding has {E.shape[0]} rows"
            )
        graph_input = helper.make_tensor_value_info("tokens", TP.INT64, steps)
        nodes.append(
            helper.make_node(
                "Gather", [const(E.astype(dt), "embedding"), "tokens"], ["X"], name="embedding"
            )
        )
    else:
        graph_input = helper.make_tensor_value_info("X", elem, [*steps, spec.input_size])

    flat = const(np.array([0, 0, -1], np.int64), "shape_steps")  # keep [T, batch], merge D·H
    layer_in = "X"
    for k, dirs in enumerate(spec.weights):
        W = np.stack([_onnx_blocks(w.W_ih, H) for w in dirs]).astype(dt)
        R = np.stack([_onnx_blocks(w.W_hh, H) for w in dirs]).astype(dt)
        ins = [layer_in, const(W, f"W_l{k}"), const(R, f"R_l{k}")]
        if spec.bias:
            B = np.stack(
                [np.concatenate([_onnx_blocks(w.b_ih, H), _onnx_blocks(w.b_hh, H)]) for w in dirs]
            )
            ins.append(const(B.astype(dt), f"B_l{k}"))
        else:
            ins.append("")
        if spec.peephole:
            P = np.stack([np.concatenate([w.p_i, w.p_o, w.p_f]) for w in dirs])
            ins += ["", "", "", const(P.astype(dt), f"P_l{k}")]
        Y, Yh, Yc = f"Y_l{k}", f"Y_h_l{k}", f"Y_c_l{k}"
        nodes.append(helper.make_node("LSTM", ins, [Y, Yh, Yc], name=f"{name}_l{k}", **attrs))
        outputs += [Yh, Yc]
        shapes[Yh] = shapes[Yc] = ["batch", D, H] if layout else [D, "batch", H]
        if layout:  # Y [batch, T, D, H] → [batch, T, D·H]
            src = Y
        else:  # Y [T, D, batch, H] → [T, batch, D, H] → [T, batch, D·H]
            src = f"Y_l{k}_steps"
            nodes.append(
                helper.make_node(
                    "Transpose", [Y], [src], name=f"{name}_l{k}_steps", perm=[0, 2, 1, 3]
                )
            )
        layer_in = f"X_l{k + 1}" if k + 1 < spec.num_layers else "Y"
        nodes.append(
            helper.make_node("Reshape", [src, flat], [layer_in], name=f"{name}_l{k}_concat")
        )

    first = "Y"
    if head is not None:
        W, b = head
        W = np.asarray(W)
        F = H * D
        if W.ndim != 2 or W.shape[1] != F:
            raise SpecError(f"head weight has shape {tuple(W.shape)}, expected (n, {F})")
        nodes.append(
            helper.make_node(
                "MatMul",
                ["Y", const(W.T.astype(dt), "head_weight_T")],
                ["logits_nb" if b is not None else "logits"],
                name="head",
            )
        )
        if b is not None:
            b = np.asarray(b)
            if b.shape != (W.shape[0],):
                raise SpecError(f"head bias has shape {tuple(b.shape)}, expected ({W.shape[0]},)")
            nodes.append(
                helper.make_node(
                    "Add",
                    ["logits_nb", const(b.astype(dt), "head_bias")],
                    ["logits"],
                    name="head_bias",
                )
            )
        first = "logits"
        shapes["logits"] = shapes["output"] = [*steps, W.shape[0]]
        if output is not None:
            op = {"log_softmax": "LogSoftmax", "softmax": "Softmax"}[output]
            nodes.append(helper.make_node(op, ["logits"], ["output"], name=output, axis=-1))
            first = "output"
        if labels is not None and len(labels) != W.shape[0]:
            raise SpecError(f"{len(labels)} labels but the head has {W.shape[0]} outputs")

    graph = helper.make_graph(
        nodes, name, [graph_input],
        [helper.make_tensor_value_info(n, elem, shapes[n]) for n in [first, *outputs]], inits,
    )  # fmt: skip
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="lstm-tui"
    )
    model.ir_version = min(model.ir_version, _ir_for_opset(onnx, opset))
    if description:
        model.doc_string = description
    props = {
        "description": description, "labels": labels, "vocab": vocab, "unk": unk,
        "examples": [e if isinstance(e, str) else np.asarray(e).tolist() for e in examples],
    }  # fmt: skip
    for key, value in props.items():
        if value:
            entry = model.metadata_props.add()
            entry.key = key
            entry.value = value if isinstance(value, str) else json.dumps(list(value))
    onnx.checker.check_model(model)
    tmp = path.with_name(path.name + ".tmp")
    onnx.save(model, str(tmp))
    os.replace(tmp, path)
    return path


def _ir_for_opset(onnx, opset: int) -> int:
    """The oldest IR version that carries `opset`, so that older runtimes accept the file."""
    irs = [row[1] for row in onnx.helper.VERSION_TABLE if row[2] >= opset]
    return min(irs) if irs else onnx.IR_VERSION
