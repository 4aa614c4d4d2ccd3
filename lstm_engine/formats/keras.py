"""Keras → engine: LSTMs saved by Keras 3 and Keras 2, read with h5py (never TensorFlow or Keras).

The files (each laid out as Keras writes it):
- `.keras` (Keras 3): a zip of `config.json` (the model's config) and
  `model.weights.h5`, whose groups saving_lib names by layer class in snake
  case, numbered per class (`layers/lstm`, `layers/lstm_1`, ...): an LSTM's
  weights in `cell/vars/0..2`, a Bidirectional's in `forward_layer/cell/vars`
  and `backward_layer/cell/vars`, an Embedding's and a Dense's in `vars/`.
- a Keras 3 `.weights.h5` (`save_weights`): that same h5 without the config.
- a legacy `.h5` model (Keras 2, or Keras 3's h5 format): root attributes
  `model_config` (JSON) and `keras_version`, and a `model_weights` group
  whose attribute `layer_names` orders the layers; each layer group's
  `weight_names` attribute orders its weights (`lstm/lstm_cell/kernel:0`, ...).
- a legacy weights-only `.h5`: `layer_names` at the root, no config.

How a Keras LSTM maps onto the engine: kernel (in, 4H) and recurrent_kernel
(H, 4H) stack gate blocks i, f, c, o — the engine's i, f, g, o — so W_ih is
kernel.T and W_hh recurrent_kernel.T; Keras has one bias (b_ih; b_hh is zeros).
`recurrent_activation` (sigmoid) is i's, f's and o's, `activation` (tanh) g's
and c's. hard_sigmoid is not one function: Keras 2's is clip(0.2x + 0.5, 0, 1),
Keras 3's clip(x/6 + 0.5, 0, 1), so the file's Keras version decides.
`unit_forget_bias` only initialises the bias; the saved bias holds its ones.
A file with no config (weights only) gets Keras's default activations, and
says so.

What is read: InputLayer, Embedding, LSTM, Bidirectional(LSTM) with
merge_mode "concat", Dropout-like layers (the identity at inference), and one
Dense (or TimeDistributed(Dense)) at the end. Anything else is refused by name.
The network runs as a PipelineModel (embedding → LSTMs → head), the numbers
from the engine.

h5py is imported only here; every dataset's declared size is checked before
it is read, and links to other files (external links, virtual or external
datasets) are refused: only what the file itself holds is read.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.activations import Activation, CellActivations
from ..core.errors import LoadError, SpecError
from ..core.files import read_json, require_regular_file
from ..core.limits import TooLargeError, check_array_size, human_bytes, max_bytes, max_items
from ..core.spec import CellWeights, LSTMSpec
from ..model import Model, PipelineModel

H5PY_EXTRA = "Keras files need h5py: pip install 'lstm-tui[keras]'"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: layers that are the identity at inference: skipped
_IDENTITY_LAYERS = {
    "InputLayer", "Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout",
    "AlphaDropout", "ActivityRegularization",
}  # fmt: skip
#: a Dense's activation → what the pipeline's head applies
_HEAD_OUTPUTS = {"linear": "logits", None: "logits", "softmax": "softmax",
                 "log_softmax": "log_softmax", "sigmoid": "sigmoid"}  # fmt: skip


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def import_h5py():
    try:
        import h5py
    except ImportError as e:
        raise LoadError(H5PY_EXTRA) from e
    return h5py


def keras_activation(name: Any, version: int, where: str) -> Activation:
    """The engine's activation for a Keras activation name; hard_sigmoid by Keras version."""
    if isinstance(name, dict):  # Keras 3 may serialise {"class_name": ..., "config": {"name": ...}}
        name = (name.get("config") or {}).get("name") or name.get("class_name")
    table = {
        "tanh": Activation("Tanh"), "sigmoid": Activation("Sigmoid"), "relu": Activation("Relu"),
        "softsign": Activation("Softsign"), "softplus": Activation("Softplus"),
        "linear": Activation("Affine", 1.0, 0.0), "elu": Activation("Elu", 1.0),
        "hard_sigmoid": Activation("HardSigmoid", 0.2, 0.5) if version < 3
        else Activation("HardSigmoid", 1.0 / 6.0, 0.5),
    }  # fmt: skip
    act = table.get(name) if isinstance(name, str) else None
    if act is None:
        raise LoadError(
            f"{where}: activation {name!r} is not one lstm-tui computes "
            f"({', '.join(sorted(table))})"
        )
    return act


def snake_case(name: str) -> str:
    """A class name as Keras 3's saving_lib names its weights group (LSTM → lstm)."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


@dataclass
class _Layer:
    """One Keras layer: its class, config (None without one), name and weights in Keras order."""

    cls: str
    name: str
    config: dict | None
    weights: list = field(default_factory=list)  # [np.ndarray] or, for Bidirectional, [fw, bw]


# --- reading the h5 safely
def _child(h5py, group, name: str, what: str):
    link = group.get(name, getlink=True)
    if link is None:
        return None
    if not isinstance(link, h5py.HardLink):
        raise LoadError(
            f"{what}: {name!r} is a {type(link).__name__} to somewhere else; lstm-tui reads "
            "only what the file itself holds"
        )
    return group[name]


def _walk(h5py, group, path: str, what: str):
    """The object at `path` (a/b/c) under group, through hard links only; None if absent."""
    obj = group
    for part in [p for p in path.split("/") if p]:
        if not isinstance(obj, h5py.Group):
            return None
        obj = _child(h5py, obj, part, what)
        if obj is None:
            return None
    return obj


def _array(h5py, ds, what: str) -> np.ndarray:
    if not isinstance(ds, h5py.Dataset):
        raise LoadError(f"{what}: not a dataset of weights")
    if ds.is_virtual or ds.external:
        raise LoadError(f"{what}: its values live in another file; lstm-tui reads only what the "
                        "file itself holds")  # fmt: skip
    if ds.dtype.kind != "f":
        raise LoadError(f"{what}: {ds.dtype} values; weights are floats")
    check_array_size(ds.shape, ds.dtype.itemsize, what)
    try:
        a = np.asarray(ds[()])
    except Exception as e:  # noqa: BLE001 - a damaged or filtered dataset
        raise LoadError(f"{what}: cannot read it ({_first_line(e)})") from None
    return a.astype(np.float32) if a.dtype == np.float16 else a


def _attr(h5py, obj, key: str, what: str) -> Any:
    """An attribute, its declared size checked before it is read; str for bytes."""
    if key not in obj.attrs:
        return None
    try:
        aid = h5py.h5a.open(obj.id, key.encode())
        shape, itemsize = aid.shape or (), max(aid.dtype.itemsize, 1)
    except Exception as e:  # noqa: BLE001
        raise LoadError(f"{what}: cannot read attribute {key!r} ({e})") from None
    check_array_size(shape, itemsize, f"{what}: attribute {key!r}")
    value = obj.attrs[key]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.size == 0:
        return []  # Keras writes a layer with no weights as an empty array of any dtype
    if isinstance(value, np.ndarray) and value.dtype.kind in "OSU":
        if value.size > max_items():
            raise TooLargeError(f"{what}: attribute {key!r} lists {value.size} names")
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                for v in value.reshape(-1)]  # fmt: skip
    return value


def _config_json(text: Any, what: str) -> dict:
    if not isinstance(text, str):
        raise LoadError(f"{what}: the model config is not text")
    cfg = read_json(text, what)
    if not isinstance(cfg, dict):
        raise LoadError(f"{what}: the model config is not a JSON object")
    return cfg


def _config_layers(cfg: dict, what: str) -> list[dict]:
    """The layer configs of a Sequential or Functional model, in order."""
    inner = cfg.get("config")
    layers = inner.get("layers") if isinstance(inner, dict) else inner
    if not isinstance(layers, list) or not all(isinstance(x, dict) for x in layers):
        raise LoadError(
            f"{what}: a {cfg.get('class_name', 'model')!r} config with no layer list; lstm-tui "
            "reads Sequential and Functional models"
        )
    return layers


def _name(layer_cfg: dict) -> str:
    c = layer_cfg.get("config") if isinstance(layer_cfg.get("config"), dict) else {}
    return str(c.get("name") or layer_cfg.get("name") or layer_cfg.get("class_name"))


# --- Keras 3: saving_lib's h5
def _keras3_vars(h5py, root, path: str, what: str) -> list[np.ndarray]:
    vars_ = _walk(h5py, root, f"{path}/vars", what)
    if vars_ is None or not isinstance(vars_, h5py.Group):
        return []
    keys = sorted(vars_.keys(), key=lambda k: int(k) if k.isdigit() else 10**9)
    return [_array(h5py, _child(h5py, vars_, k, what), f"{what}: {path}/vars/{k}") for k in keys]


def _keras3_layer(h5py, root, cls: str, path: str, what: str) -> list:
    if cls == "LSTM":
        return _keras3_vars(h5py, root, f"{path}/cell", what)
    if cls == "Bidirectional":
        return [_keras3_vars(h5py, root, f"{path}/{side}/cell", what)
                for side in ("forward_layer", "backward_layer")]  # fmt: skip
    if cls == "TimeDistributed":  # the wrapped layer's weights, under `layer`
        return _keras3_vars(h5py, root, f"{path}/layer", what)
    return _keras3_vars(h5py, root, path, what)


def _keras3_layers(h5py, root, cfg: dict | None, what: str) -> list[_Layer]:
    """Layers of a Keras 3 weights h5, ordered by the config (or inferred without one)."""
    group = _walk(h5py, root, "layers", what)
    if group is None:
        raise LoadError(f"{what}: no 'layers' group: not a Keras weights file")
    if cfg is not None:
        out, used = [], {}
        for lc in _config_layers(cfg, what):
            cls = str(lc.get("class_name"))
            if cls == "InputLayer":
                continue
            key = snake_case(cls)
            k = used[key] = used.get(key, -1) + 1
            path = f"layers/{key}" + (f"_{k}" if k else "")
            out.append(_Layer(cls, _name(lc), lc.get("config") or {},
                              _keras3_layer(h5py, root, cls, path, what)))  # fmt: skip
        return out
    classes = {"embedding": "Embedding", "lstm": "LSTM", "bidirectional": "Bidirectional",
               "dense": "Dense", "time_distributed": "TimeDistributed"}  # fmt: skip
    found = []
    for key in group.keys():
        m = re.fullmatch(r"([a-z_0-9]+?)(?:_(\d+))?", key)
        cls = classes.get(m.group(1)) if m else None
        if cls is None:
            if _keras3_vars(h5py, root, f"layers/{key}", what):
                raise LoadError(f"{what}: layer {key!r} holds weights lstm-tui cannot place")
            continue
        found.append((cls, int(m.group(2) or 0), key))
    rank = {"Embedding": 0, "LSTM": 1, "Bidirectional": 1, "Dense": 2, "TimeDistributed": 2}
    found.sort(key=lambda x: (rank[x[0]], x[1], x[0]))
    layers = [_Layer(cls, key, None, _keras3_layer(h5py, root, cls, f"layers/{key}", what))
              for cls, _, key in found]  # fmt: skip
    return _chain_by_shape(layers)


def _chain_by_shape(layers: list[_Layer]) -> list[_Layer]:
    """Without a config, Keras 3 numbers layers per class (lstm, bidirectional, lstm_1), so
    the LSTMs are put in the order their shapes chain: each takes what the one before gives."""

    def first(layer):
        return layer.weights[0] if layer.cls == "Bidirectional" else layer.weights

    def ok(layer):
        w = first(layer)
        return len(w) >= 2 and w[0].ndim == 2 and w[1].ndim == 2

    lstms = [x for x in layers if x.cls in ("LSTM", "Bidirectional")]
    if not all(ok(x) for x in lstms):
        return layers  # model_from_layers says what is wrong with it
    emb = next((x for x in layers if x.cls == "Embedding" and x.weights), None)
    width = emb.weights[0].shape[1] if emb is not None and emb.weights[0].ndim == 2 else None
    ordered, left = [], list(lstms)
    while left:
        nxt = next((x for x in left if width is None or first(x)[0].shape[0] == width), left[0])
        left.remove(nxt)
        ordered.append(nxt)
        width = first(nxt)[1].shape[0] * (2 if nxt.cls == "Bidirectional" else 1)
    rest = iter(ordered)
    return [next(rest) if x.cls in ("LSTM", "Bidirectional") else x for x in layers]


# --- legacy h5 (Keras 2's format)
def _legacy_layers(h5py, group, cfg: dict | None, what: str) -> list[_Layer]:
    names = _attr(h5py, group, "layer_names", what)
    if not isinstance(names, list):
        raise LoadError(f"{what}: no layer_names: not a Keras weights file")
    by_name = {}
    for name in names:
        g = _child(h5py, group, name, what)
        if g is None:
            raise LoadError(f"{what}: layer {name!r} is listed but not in the file")
        wnames = _attr(h5py, g, "weight_names", f"{what}: layer {name!r}")
        if wnames is None:
            wnames = []
        if not isinstance(wnames, list):
            raise LoadError(f"{what}: layer {name!r}: weight_names is not a list of names")
        arrays = []
        for w in wnames:
            arrays.append((w, _array(h5py, _walk(h5py, g, w, what), f"{what}: {name}/{w}")))
        by_name[name] = arrays
    layers = []
    if cfg is not None:
        for lc in _config_layers(cfg, what):
            cls, name = str(lc.get("class_name")), _name(lc)
            layers.append(_Layer(cls, name, lc.get("config") or {}, by_name.get(name, [])))
    else:
        for name in names:
            layers.append(_Layer(_legacy_class(by_name[name], name, what), name, None,
                                 by_name[name]))  # fmt: skip
    for layer in layers:
        arrays = layer.weights
        if layer.cls == "Bidirectional":  # forward's three, then backward's three
            fw = [a for w, a in arrays if "backward" not in w]
            bw = [a for w, a in arrays if "backward" in w]
            layer.weights = [fw, bw]
        else:
            layer.weights = [a for _, a in arrays]
    return layers


def _legacy_class(arrays: list, name: str, what: str) -> str:
    """A layer's class from its weight names, for a weights-only file."""
    wnames = " ".join(w for w, _ in arrays)
    if not arrays:
        return "Dropout"
    if "backward" in wnames and "recurrent_kernel" in wnames:
        return "Bidirectional"
    if "recurrent_kernel" in wnames:
        return "LSTM"
    if "embeddings" in wnames:
        return "Embedding"
    if "kernel" in wnames:
        return "Dense"
    raise LoadError(f"{what}: layer {name!r} holds weights lstm-tui cannot place ({wnames})")


# --- the model
def _lstm_direction(arrays: list, cfg: dict, version: int, where: str):
    use_bias = cfg.get("use_bias", True) if cfg else True
    if len(arrays) not in (2, 3) or (use_bias and len(arrays) != 3):
        raise LoadError(f"{where}: {len(arrays)} weights; a Keras LSTM has kernel, "
                        "recurrent_kernel and bias")  # fmt: skip
    kernel, rec = arrays[0], arrays[1]
    bias = arrays[2] if len(arrays) == 3 else None
    if rec.ndim != 2 or rec.shape[1] != 4 * rec.shape[0]:
        raise LoadError(f"{where}: recurrent_kernel has shape {rec.shape}, expected (H, 4H)")
    H = rec.shape[0]
    if kernel.ndim != 2 or kernel.shape[1] != 4 * H:
        raise LoadError(f"{where}: kernel has shape {kernel.shape}, expected (input, {4 * H})")
    if bias is not None and bias.shape != (4 * H,):
        raise LoadError(f"{where}: bias has shape {bias.shape}, expected ({4 * H},)")
    if cfg:
        for key in ("stateful", "go_backwards", "time_major"):
            if cfg.get(key) and not (key == "go_backwards" and cfg.get("_backward")):
                raise LoadError(f"{where}: {key}=True, which lstm-tui does not trace")
    act = keras_activation((cfg or {}).get("activation", "tanh"), version, where)
    rec_act = keras_activation((cfg or {}).get("recurrent_activation", "sigmoid"), version, where)
    acts = CellActivations(i=rec_act, f=rec_act, g=act, o=rec_act, c=act)
    dtype = np.float64 if kernel.dtype == np.float64 else np.float32
    w = CellWeights(
        W_ih=np.ascontiguousarray(kernel.T, dtype), W_hh=np.ascontiguousarray(rec.T, dtype),
        b_ih=None if bias is None else bias.astype(dtype),
        b_hh=None if bias is None else np.zeros(4 * H, dtype),  # the engine takes both or neither
    )  # fmt: skip
    return w, acts


def _lstm_spec(layer: _Layer, version: int, where: str) -> tuple[LSTMSpec, dict]:
    cfg = layer.config or {}
    if layer.cls == "LSTM":
        w, acts = _lstm_direction(layer.weights, cfg, version, where)
        return LSTMSpec(weights=((w,),), activations=acts), cfg
    inner = cfg.get("layer") or {}
    if layer.config is not None:
        if str(inner.get("class_name")) != "LSTM":
            raise LoadError(f"{where}: a Bidirectional around {inner.get('class_name')!r}; "
                            "lstm-tui reads Bidirectional(LSTM)")  # fmt: skip
        if cfg.get("merge_mode", "concat") != "concat":
            raise LoadError(f"{where}: merge_mode {cfg.get('merge_mode')!r}; lstm-tui reads "
                            "'concat' (forward then backward, as torch has it)")  # fmt: skip
    fw_cfg = inner.get("config") or {}
    bw_cfg = dict((cfg.get("backward_layer") or {}).get("config") or fw_cfg, _backward=True)
    fw, fa = _lstm_direction(layer.weights[0], fw_cfg, version, f"{where} (forward)")
    bw, ba = _lstm_direction(layer.weights[1], bw_cfg, version, f"{where} (backward)")
    acts = fa if fa == ba else ((fa, ba),)
    return LSTMSpec(weights=((fw, bw),), activations=acts), fw_cfg


def _unwrap_time_distributed(layer: _Layer) -> _Layer:
    """TimeDistributed(Dense) is the Dense at every step, which is what a Dense after an LSTM
    that returns sequences already is (without a config, a TimeDistributed is taken as one)."""
    if layer.cls != "TimeDistributed":
        return layer
    if layer.config is None:
        return _Layer("Dense", layer.name, None, layer.weights)
    inner = layer.config.get("layer") or {}
    if str(inner.get("class_name")) != "Dense":
        return layer  # refused by name below
    return _Layer("Dense", layer.name, dict(inner.get("config") or {}, name=layer.name),
                  layer.weights)  # fmt: skip


def model_from_layers(
    layers: list[_Layer], path: str, version: int, lstm: str | None, *, has_config: bool
) -> Model:
    """A PipelineModel from Keras layers in data-flow order, refusing what it cannot run."""
    from .state_dict import choose_lstm

    embedding, lstms, head, output, warnings = None, [], None, None, []
    last_cfg: dict = {}
    layers = [_unwrap_time_distributed(x) for x in layers]
    for layer in layers:
        where = f"{path}: layer {layer.name!r} ({layer.cls})"
        if layer.cls in _IDENTITY_LAYERS:
            continue
        if head is not None:
            raise LoadError(f"{where} comes after the Dense head; lstm-tui reads one Dense "
                            "at the end")  # fmt: skip
        if layer.cls == "Embedding":
            if lstms or embedding is not None or len(layer.weights) != 1:
                raise LoadError(f"{where}: an Embedding is read only first, with one weight")
            embedding = (layer.name, layer.weights[0])
            if (layer.config or {}).get("mask_zero"):
                warnings.append(
                    f"the Embedding {layer.name!r} has mask_zero: Keras skips the steps whose "
                    "token id is 0, and lstm-tui runs every step, so feed no 0 ids"
                )
        elif layer.cls in ("LSTM", "Bidirectional"):
            if lstms and not last_cfg.get("return_sequences", True):
                raise LoadError(f"{where}: the LSTM before it returns only its last step")
            try:
                spec, last_cfg = _lstm_spec(layer, version, where)
            except SpecError as e:
                raise LoadError(f"{where}: {e}") from None
            lstms.append((layer.name, spec))
        elif layer.cls == "Dense":
            if not lstms or len(layer.weights) not in (1, 2):
                raise LoadError(f"{where}: a Dense is read only after the LSTMs")
            W = layer.weights[0]
            if W.ndim != 2:
                raise LoadError(f"{where}: kernel has shape {W.shape}, expected (in, out)")
            b = layer.weights[1] if len(layer.weights) == 2 else None
            head = (layer.name, np.ascontiguousarray(W.T), b)
            act = (layer.config or {}).get("activation", "linear") if layer.config else "linear"
            output = _HEAD_OUTPUTS.get(act) if isinstance(act, (str, type(None))) else None
            if output is None:
                output = "logits"
                warnings.append(f"the Dense {layer.name!r} applies {act!r}, which the output "
                                "panel does not: it shows the Dense's raw values")  # fmt: skip
        else:
            raise LoadError(
                f"{where}: lstm-tui reads Embedding, LSTM, Bidirectional(LSTM), Dropout and one "
                "Dense (or TimeDistributed(Dense)) at the end"
            )
    if not lstms:
        raise LoadError(f"{path}: no LSTM layer in this Keras model")
    if head is not None and not last_cfg.get("return_sequences", True):
        warnings.append("the last LSTM returns only its last step, so the model's output is "
                        "the head at the last step; the panel shows the head at every step")
    if not has_config:
        warnings.append("a weights-only file: no config, so each LSTM uses Keras's default "
                        "activations (tanh, sigmoid) and the layer order was read from the "
                        "file")
    names = [n for n, _ in lstms]
    chosen = choose_lstm(names, lstm, path)
    n_emb = embedding[1].shape[0] if embedding is not None else 0
    desc = f"A Keras {version} model read from its saved weights"
    desc += "" if has_config else " (weights only, no config)"
    desc += (f"; it has no vocabulary, so text input is token ids 0–{n_emb - 1} separated by "
             "spaces." if embedding is not None else ".")  # fmt: skip
    params = sum(int(a.size) for layer in layers for a in _flat(layer.weights))
    try:
        model = PipelineModel(
            path=path, format="keras", embedding=embedding, lstms=lstms, head=head,
            output=output, lstm=chosen, parameter_count=params,
            vocab=tuple(str(i) for i in range(n_emb)) if embedding is not None else None,
            ids_as_vocab=embedding is not None, description=desc, warnings=warnings,
        )  # fmt: skip
    except SpecError as e:
        raise LoadError(f"{path}: {e}") from None
    if head is not None and output == "logits" and head[1].shape[0] == 1:
        model.output_kind = "value"  # a linear Dense(1) is a regression, not one class's logit
    return model


def _flat(weights: list) -> list[np.ndarray]:
    return [a for w in weights for a in (w if isinstance(w, list) else [w])]


# --- the files
def _read_member(zf: zipfile.ZipFile, name: str, limit: int, what: str) -> bytes:
    info = zf.getinfo(name)
    if info.file_size > limit:
        raise TooLargeError(f"{what}: {name} holds {human_bytes(info.file_size)}, more than the "
                            f"{human_bytes(limit)} allowed")  # fmt: skip
    with zf.open(info) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise TooLargeError(f"{what}: {name} is larger than it says")
    return data


def is_keras_zip(names: list[str]) -> bool:
    return "config.json" in names and "model.weights.h5" in names


def _h5_file(h5py, data: bytes | str, what: str):
    try:
        return h5py.File(io.BytesIO(data) if isinstance(data, bytes) else data, "r")
    except Exception as e:  # noqa: BLE001 - not HDF5, truncated
        raise LoadError(f"{what}: not a readable HDF5 file ({_first_line(e)})") from None


def _version(value: Any) -> int:
    m = re.match(r"\s*(\d+)", str(value or ""))
    return int(m.group(1)) if m else 2


def load_keras(path: str | os.PathLike, lstm: str | None = None) -> Model:
    """Open a .keras archive, a legacy .h5 model or a .weights.h5 file (module docstring)."""
    h5py = import_h5py()
    path = str(path)
    p = require_regular_file(path, "Keras file")
    size, limit = p.stat().st_size, max_bytes()
    if size > limit:
        raise TooLargeError(f"{path}: holds {human_bytes(size)}, more than the "
                            f"{human_bytes(limit)} allowed (set LSTM_TUI_MAX_BYTES="
                            f"{-(-size // 2**20)}M to allow it)")  # fmt: skip
    with open(p, "rb") as fh:
        head = fh.read(4)
    try:
        if head == b"PK\x03\x04":
            try:
                with zipfile.ZipFile(p) as zf:
                    names = zf.namelist()
                    if not is_keras_zip(names):
                        raise LoadError(f"{path}: a zip without config.json and "
                                        "model.weights.h5: not a .keras model")  # fmt: skip
                    cfg_text = _read_member(zf, "config.json", 2**24, path)
                    weights = _read_member(zf, "model.weights.h5", max_bytes(), path)
            except zipfile.BadZipFile as e:
                raise LoadError(f"{path}: a damaged .keras archive ({e})") from None
            cfg = _config_json(cfg_text.decode("utf-8", "replace"), f"{path}: config.json")
            with _h5_file(h5py, weights, f"{path}: model.weights.h5") as f:
                layers = _keras3_layers(h5py, f, cfg, f"{path}: model.weights.h5")
            return model_from_layers(layers, path, 3, lstm, has_config=True)
        with _h5_file(h5py, path, path) as f:
            version = _version(_attr(h5py, f, "keras_version", path))
            if "model_config" in f.attrs:
                cfg = _config_json(_attr(h5py, f, "model_config", path), f"{path}: model_config")
                group = _walk(h5py, f, "model_weights", path)
                if group is None:
                    raise LoadError(f"{path}: a Keras model config without model_weights")
                layers = _legacy_layers(h5py, group, cfg, path)
                return model_from_layers(layers, path, version, lstm, has_config=True)
            if "layer_names" in f.attrs:
                layers = _legacy_layers(h5py, f, None, path)
                return model_from_layers(layers, path, version, lstm, has_config=False)
            if _walk(h5py, f, "layers", path) is not None:
                layers = _keras3_layers(h5py, f, None, path)
                return model_from_layers(layers, path, 3, lstm, has_config=False)
        raise LoadError(f"{path}: an HDF5 file that is not a Keras model or weights file")
    except RecursionError:
        raise LoadError(f"{path}: nested too deeply to read") from None


def is_hdf5(head: bytes) -> bool:
    return head.startswith(HDF5_SIGNATURE)


__all__ = ["H5PY_EXTRA", "is_hdf5", "is_keras_zip", "keras_activation", "load_keras"]
