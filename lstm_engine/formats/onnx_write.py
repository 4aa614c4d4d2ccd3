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
final states Y_h_{node} and Y_c_{node}. `checkpoint_to_onnx` does all of this for
a project checkpoint.

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

from ..core.errors import EngineError, LoadError, SpecError
from ..core.files import TargetExistsError, write_file
from .onnx_read import activation_attributes, import_onnx
from ..core.spec import LSTMSpec

#: ONNX gate block k comes from engine block TO_ONNX[k]: i←i, o←o, f←f, c←g.
TO_ONNX = (0, 3, 1, 2)


def _onnx_blocks(a: np.ndarray, H: int) -> np.ndarray:
    """(4H, ...) in the engine's i, f, g, o → ONNX's i, o, f, c."""
    return a.reshape(4, H, *a.shape[1:])[list(TO_ONNX)].reshape(a.shape)


def _attributes(spec: LSTMSpec, layout: int, layer: int) -> dict:
    """The LSTM node attributes for one layer of `spec`."""
    D = spec.num_directions
    direction = "bidirectional" if D == 2 else "reverse" if spec.reads_reversed(0) else "forward"
    attrs: dict = {"hidden_size": spec.hidden_size, "direction": direction}
    acts = [spec.cell_activations(layer, d) for d in range(D)]
    if not all(a.is_standard for a in acts):
        attrs.update(activation_attributes(acts))
    if spec.clip is not None:
        attrs["clip"] = float(spec.clip)
    if spec.input_forget:
        attrs["input_forget"] = 1
    if layout:
        attrs["layout"] = 1
    return attrs


def spec_to_onnx(
    spec: LSTMSpec | Sequence[tuple[str, LSTMSpec]],
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
    tokenizer: str | None = None,
    lowercase: bool = False,
    examples: Sequence = (),
    description: str = "",
    overwrite: bool = False,
) -> Path:
    """Write `spec` to `path` as ONNX and return the path.

    spec: one LSTMSpec (its nodes are `{name}_l{k}`), or (module name, LSTMSpec)
    pairs in data-flow order for stacked LSTM modules (nodes `{module}_l{k}`).
    embedding: (vocab, input_size) rows looked up by int64 token ids [T, batch].
    head: (W (n, D·H), b (n,) or None) applied to the last layer at every step;
    output: None, "log_softmax" or "softmax" after the head.
    labels, vocab (one word per embedding row), unk, tokenizer ("words" or "chars"),
    lowercase, examples (text, or arrays shaped as the graph input) and description go
    to the model's metadata_props, so that `load_onnx` opens the file as the same
    model: with a vocabulary, it takes text.
    Refuses to overwrite an existing file unless overwrite=True.
    """
    onnx, _ = import_onnx()
    helper, numpy_helper, TP = onnx.helper, onnx.numpy_helper, onnx.TensorProto
    path = Path(path)
    if os.path.lexists(path) and not overwrite:  # early, for a quick answer; write_file decides
        raise TargetExistsError(f"{path} already exists; not overwriting it "
                                "(pass overwrite=True to replace it)")  # fmt: skip
    named = [(name, spec)] if isinstance(spec, LSTMSpec) else list(spec)
    if not named:
        raise SpecError("nothing to export: no LSTM given")
    for module, sp in named:
        if sp.proj_size:
            raise SpecError(
                f"ONNX's LSTM has no projection (proj_size); {module!r} cannot be exported"
            )
    for (m0, s0), (m1, s1) in zip(named, named[1:]):
        if s1.input_size != s0.out_size * s0.num_directions:
            raise SpecError(
                f"{m1!r} takes {s1.input_size} features but {m0!r} gives "
                f"{s0.out_size * s0.num_directions}"
            )
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
    dt = np.dtype(dtype if dtype is not None else named[0][1].dtype)
    if dt not in (np.float32, np.float64):
        raise SpecError(f"dtype must be float32 or float64, got {dt}")
    elem = TP.FLOAT if dt == np.float32 else TP.DOUBLE
    first_spec, last_spec = named[0][1], named[-1][1]

    inits, nodes, outputs = [], [], []
    steps = ["batch", "T"] if layout else ["T", "batch"]
    shapes = {"Y": [*steps, last_spec.out_size * last_spec.num_directions]}

    def const(value: np.ndarray, tensor_name: str) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), tensor_name))
        return tensor_name

    if embedding is not None:
        E = np.asarray(embedding)
        if E.ndim != 2 or E.shape[1] != first_spec.input_size:
            raise SpecError(
                f"embedding has shape {tuple(E.shape)}, expected (vocab, {first_spec.input_size})"
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
        graph_input = helper.make_tensor_value_info("X", elem, [*steps, first_spec.input_size])

    flat = const(np.array([0, 0, -1], np.int64), "shape_steps")  # keep [T, batch], merge D·H
    layer_in = "X"
    for j, (module, sp) in enumerate(named):
        H, D = sp.hidden_size, sp.num_directions
        for k, dirs in enumerate(sp.weights):
            attrs = _attributes(sp, layout, k)
            tag = f"{module}_l{k}"
            W = np.stack([_onnx_blocks(w.W_ih, H) for w in dirs]).astype(dt)
            R = np.stack([_onnx_blocks(w.W_hh, H) for w in dirs]).astype(dt)
            ins = [layer_in, const(W, f"{tag}.W"), const(R, f"{tag}.R")]
            if sp.bias:
                B = np.stack(
                    [
                        np.concatenate([_onnx_blocks(w.b_ih, H), _onnx_blocks(w.b_hh, H)])
                        for w in dirs
                    ]
                )
                ins.append(const(B.astype(dt), f"{tag}.B"))
            else:
                ins.append("")
            if sp.peephole:
                P = np.stack([np.concatenate([w.p_i, w.p_o, w.p_f]) for w in dirs])
                ins += ["", "", "", const(P.astype(dt), f"{tag}.P")]
            Y, Yh, Yc = f"{tag}.Y", f"Y_h_{tag}", f"Y_c_{tag}"
            nodes.append(helper.make_node("LSTM", ins, [Y, Yh, Yc], name=tag, **attrs))
            outputs += [Yh, Yc]
            shapes[Yh] = shapes[Yc] = ["batch", D, H] if layout else [D, "batch", H]
            if layout:  # Y [batch, T, D, H] → [batch, T, D·H]
                src = Y
            else:  # Y [T, D, batch, H] → [T, batch, D, H] → [T, batch, D·H]
                src = f"{tag}.Y_steps"
                nodes.append(
                    helper.make_node(
                        "Transpose", [Y], [src], name=f"{tag}_steps", perm=[0, 2, 1, 3]
                    )
                )
            last = j == len(named) - 1 and k == sp.num_layers - 1
            layer_in = "Y" if last else f"{tag}.out"
            nodes.append(helper.make_node("Reshape", [src, flat], [layer_in], name=f"{tag}_concat"))

    first = "Y"
    if head is not None:
        W, b = head
        W = np.asarray(W)
        F = last_spec.out_size * last_spec.num_directions
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
        "tokenizer": tokenizer if vocab is not None else None,
        "lowercase": "true" if lowercase and vocab is not None else None,
        "examples": [e if isinstance(e, str) else np.asarray(e).tolist() for e in examples],
    }  # fmt: skip
    for key, value in props.items():
        if value:
            entry = model.metadata_props.add()
            entry.key = key
            entry.value = value if isinstance(value, str) else json.dumps(list(value))
    onnx.checker.check_model(model)
    # the model is small and self-contained (no external data): serialised into write_file's
    # exclusive temporary file, then linked (no-clobber) or renamed over a regular file
    data = model.SerializeToString()
    return write_file(path, lambda fh: fh.write(data), overwrite=overwrite,
                      exists_hint="pass overwrite=True to replace it")  # fmt: skip


def _ir_for_opset(onnx, opset: int) -> int:
    """The oldest IR version that carries `opset`, so that older runtimes accept the file."""
    irs = [row[1] for row in onnx.helper.VERSION_TABLE if row[2] >= opset]
    return min(irs) if irs else onnx.IR_VERSION


def checkpoint_to_onnx(
    checkpoint: str | os.PathLike, path: str | os.PathLike, *, opset: int = 14,
    overwrite: bool = False,
) -> Path:  # fmt: skip
    """A project checkpoint as one ONNX graph: embedding, every LSTM, head and output.

    The ONNX file keeps the vocabulary, labels and examples, so `load_onnx`
    opens it as the same model (text in, per-step log-probs out) computed by
    onnxruntime and the engine. Weights are written as float32, the type
    onnxruntime's LSTM runs. Needs torch to read the checkpoint.
    """
    from ..open import load
    from .pickled import read_torch_file
    from .state_dict import state_dict_to_arrays

    checkpoint = Path(checkpoint)
    model = load(checkpoint)  # validates the checkpoint; refuses files that need unpickling
    if model.format != "checkpoint":
        raise LoadError(
            f"{checkpoint} is a {model.format}, not an lstm-tui checkpoint; "
            "export its LSTM with spec_to_onnx"
        )
    ck = read_torch_file(checkpoint, trust=False)
    arch, sd = ck["architecture"], state_dict_to_arrays(ck["state_dict"])

    def weight(prefix: str, name: str) -> np.ndarray | None:
        return sd.get(f"{prefix}.{name}" if prefix else name)

    specs = [
        (n or "lstm", model.spec if n == model.lstm_name else load(checkpoint, lstm=n).spec)
        for n in model.lstm_names
    ]
    emb = weight(arch["embedding"], "weight") if arch.get("embedding") else None
    head = (
        (weight(arch["head"], "weight"), weight(arch["head"], "bias")) if arch.get("head") else None
    )
    output = arch.get("output") if arch.get("output") in ("log_softmax", "softmax") else None
    text = model.input_kind == "text" and not getattr(model, "ids_as_vocab", False)
    examples = []
    for e in model.examples:
        if isinstance(e, str):  # text; or token ids "3 5 2" for a model stored without vocab
            examples.append(e if text else model.ids(model.tokenize(e))[:, None])
        else:
            examples.append(np.asarray(e, np.float32)[:, None, :])  # [T, in] → [T, batch 1, in]
    return spec_to_onnx(
        specs, path, name=model.name, opset=opset, dtype=np.float32, embedding=emb, head=head,
        output=output, labels=model.labels, vocab=model.vocab if text else None,
        unk=model.unk if text else None, tokenizer=model.tokenizer if text else None,
        lowercase=model.lowercase, examples=examples, description=model.description,
        overwrite=overwrite,
    )  # fmt: skip
