"""A state_dict read by names and shapes: tensors to arrays, the LSTMs, the embedding and the head.

A bare state_dict is all many people have of their model, and it says nothing
but names and shapes. This module reads torch's LSTM parameter names
(weight_ih_l0_reverse, ...) through an explicit list with a shape check on
each, so a layout we do not understand fails loudly instead of being traced
wrongly; recognises the embedding in front of a chain of LSTMs and the linear
head behind it; and builds the numpy pipeline (model.PipelineModel) from those
parts, for bare state_dicts here and for the project checkpoint
(formats.checkpoint). torch is imported only by the functions that make or
read tensors, so the module itself is import-light.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import numpy as np

from ..core.activations import CellActivations
from ..core.errors import LoadError, SpecError
from ..core.limits import check_array_size, check_memory
from ..core.spec import CellWeights, LSTMSpec
from ..model import Model, PipelineModel

_LSTM_KEY = re.compile(r"^(.*?)weight_ih_l(\d+)(_reverse)?$")
_PARAM_KEY = re.compile(r"^(?:weight|bias)_(?:ih|hh|hr)_l(\d+)(?:_reverse)?$|^peephole_[ifo]_l(\d+)")


def to_array(t: Any, what: str = "a tensor") -> np.ndarray:
    """A tensor (or array) as a numpy array of its own; half precision widened exactly to float32.

    The tensor is checked first (check_tensor): its declared size against the
    memory limit, so a stride-0 view of 10^9 rows is refused before it is
    copied, and meta, sparse, quantized and nested tensors are refused as such.
    """
    if isinstance(t, np.ndarray):
        check_array_size(t.shape, t.itemsize, what)
        return t.copy()
    import torch

    check_tensor(t, what)
    t = t.detach().cpu()
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.float()  # exact: every half value is a float32; numpy has no bfloat16
    return t.numpy().copy()


def weights_from_state_dict(
    sd: Mapping[str, Any],
    prefix: str,
    num_layers: int,
    bidirectional: bool,
    bias: bool,
    proj: bool,
    peephole: bool = False,
    read: set[str] | None = None,
) -> tuple[tuple[CellWeights, ...], ...]:
    """Per-layer, per-direction weights from torch's names (weight_ih_l0_reverse, ...).

    Peephole LSTMs have no torch module; the project checkpoint stores their
    diagonal weights next to the torch-named ones as `peephole_{i,f,o}_l{k}`.
    Every key read is added to `read`, so a caller can account for the rest.
    """
    layers = []
    for layer in range(num_layers):
        dirs = []
        for suffix in ("", "_reverse")[: 2 if bidirectional else 1]:
            def get(name: str):
                key = f"{prefix}{name}_l{layer}{suffix}"
                if key not in sd:
                    raise SpecError(f"missing LSTM parameter {key!r}")
                if read is not None:
                    read.add(key)
                return to_array(sd[key], key)

            dirs.append(
                CellWeights(
                    W_ih=get("weight_ih"),
                    W_hh=get("weight_hh"),
                    b_ih=get("bias_ih") if bias else None,
                    b_hh=get("bias_hh") if bias else None,
                    W_hr=get("weight_hr") if proj else None,
                    p_i=get("peephole_i") if peephole else None,
                    p_f=get("peephole_f") if peephole else None,
                    p_o=get("peephole_o") if peephole else None,
                )
            )
        layers.append(tuple(dirs))
    return tuple(layers)


def state_dict_to_arrays(sd: Mapping[str, Any], path: str = "state_dict") -> dict[str, Any]:
    """Every tensor, as a numpy array named as in the state_dict (other values are kept)."""
    check_tensors(sd, path)
    return {k: to_array(v, f"{path}: {k}") if _is_tensor(v) else v for k, v in sd.items()}


def check_tensor(t: Any, what: str) -> int:
    """`t`'s size in bytes if it is a plain dense tensor that fits the memory limit; else LoadError.

    Called with the tensor's *declared* shape before anything is materialised
    (a 1 KB file can hold a stride-0 view of 10^9 rows). A meta tensor has no
    values, and sparse, quantized and nested tensors are not dense weights:
    each is refused in one line instead of failing deep inside numpy or torch.
    """
    if getattr(t, "is_meta", False):
        raise LoadError(f"{what}: a meta tensor (a shape with no values); "
                        "the file holds no weights")  # fmt: skip
    if getattr(t, "is_nested", False):
        raise LoadError(f"{what}: a nested tensor; only dense weight tensors are read")
    if getattr(t, "is_quantized", False):
        raise LoadError(f"{what}: a quantized tensor; dequantize the model before saving it")
    layout = str(getattr(t, "layout", "torch.strided"))
    if getattr(t, "is_sparse", False) or layout != "torch.strided":
        raise LoadError(f"{what}: a sparse tensor ({getattr(t, 'layout', '?')}); only dense "
                        "weight tensors are read")  # fmt: skip
    if getattr(t, "is_complex", lambda: False)():
        raise LoadError(f"{what}: complex numbers; LSTM weights are real")
    try:
        shape, itemsize = tuple(t.shape), int(t.element_size())
    except Exception as e:  # noqa: BLE001 - a tensor from a damaged file
        raise LoadError(f"{what}: not a readable tensor ({first_line(e)})") from None
    return check_array_size(shape, itemsize, what)


def check_tensors(sd: Mapping[str, Any], path: str) -> None:
    """Every tensor of a state_dict checked (check_tensor), and all of them together against the
    memory limit, before any is turned into an array."""
    total = sum(check_tensor(v, f"{path}: {k}") for k, v in sd.items() if _is_tensor(v))
    check_memory(total, f"{path}: its tensors together")


def _is_tensor(v: Any) -> bool:
    return type(v).__module__.startswith("torch") and hasattr(v, "detach")


def count_parameters(tensors) -> int:
    """How many numbers the tensors hold, each storage counted once: tied weights (a language
    model's decoder sharing its embedding) are one parameter, not two."""
    seen: set = set()
    total = 0
    for t in tensors:
        if not hasattr(t, "shape"):
            continue
        try:
            key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), tuple(t.stride()))
        except Exception:  # noqa: BLE001 - an array or a tensor without storage: count it
            key = (id(t),)
        if key in seen:
            continue
        seen.add(key)
        total += int(np.prod(t.shape))
    return total


#: an nn.LSTMCell's parameters: torch's LSTM names without the layer suffix
_CELL_LEAVES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def find_cell_prefixes(sd: Mapping[str, Any]) -> list[str]:
    """Module prefixes holding an nn.LSTMCell's weights (weight_ih, weight_hh without `_l0`): a
    weight_hh of shape (4H, H) tells it from a GRUCell (3H, H) or an RNNCell (H, H)."""
    found = []
    for key in sd:
        prefix, _, leaf = key.rpartition(".")
        if leaf != "weight_ih":
            continue
        hh = sd.get(_p(prefix) + "weight_hh")
        ih = sd[key]
        if (hh is not None and len(hh.shape) == 2 and len(ih.shape) == 2 and hh.shape[1] > 0
                and hh.shape[0] == 4 * hh.shape[1] and ih.shape[0] == hh.shape[0]):  # fmt: skip
            found.append(prefix)
    return found


def cell_as_layer(sd: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """An LSTMCell's parameters under `prefix` renamed as layer 0 of an nn.LSTM (the same
    equations: an LSTMCell is a one-layer LSTM run one step at a time)."""
    return {f"{_p(prefix)}{leaf}_l0": sd[_p(prefix) + leaf] for leaf in _CELL_LEAVES if _p(prefix) + leaf in sd}


# --- reading a state_dict's structure from its keys and shapes
def find_lstm_prefixes(sd: Mapping[str, Any]) -> list[str]:
    """Module prefixes that hold torch-named LSTM weights ('' for a bare nn.LSTM), in key order."""
    found: dict[str, None] = {}  # ordered, and linear in the number of keys
    for key in sd:
        m = _LSTM_KEY.match(key)
        if m and m.group(2) == "0" and not m.group(3):
            found.setdefault(m.group(1).rstrip("."))
    return list(found)


def lstm_key_index(sd: Mapping[str, Any]) -> dict[str, list[tuple[str, int]]]:
    """LSTM parameter keys grouped by module prefix, each with its layer number, in one pass.

    lstm_config_from_state_dict needs every parameter key under its prefix;
    looking through the whole state_dict once per LSTM made opening a
    state_dict of many small LSTMs quadratic (8,000 LSTMs: 50 s).
    """
    index: dict[str, list[tuple[str, int]]] = {}
    for k in sd:
        prefix, _, leaf = k.rpartition(".")
        m = _PARAM_KEY.match(leaf)
        if m:
            index.setdefault(prefix, []).append((k, int(m.group(1) or m.group(2))))
    return index


def _p(prefix: str) -> str:
    return f"{prefix}." if prefix else ""


def lstm_config_from_state_dict(
    sd: Mapping[str, Any], prefix: str, index: Mapping[str, list] | None = None
) -> dict:
    """Layers, directions, sizes, bias and projection as the weight names and shapes say.

    `index` is lstm_key_index(sd), for callers that read many LSTMs of one state_dict.
    """
    p = _p(prefix)
    layers = 0
    while f"{p}weight_ih_l{layers}" in sd:
        layers += 1
    if layers == 0:
        raise SpecError(f"no LSTM weights under {prefix or 'the top level'!r}")
    under = (index if index is not None else lstm_key_index(sd)).get(prefix, ())
    stray = [k for k, layer in under if layer >= layers]
    if stray:
        raise SpecError(
            f"LSTM {prefix or '(top level)'} has {layers} complete layer(s) but also "
            f"{', '.join(stray[:4])}: a layer's weights are missing"
        )
    w_ih = sd[f"{p}weight_ih_l0"]
    if len(w_ih.shape) != 2 or w_ih.shape[0] % 4:
        raise SpecError(
            f"{p}weight_ih_l0 has shape {tuple(w_ih.shape)}, expected (4*hidden_size, input_size)"
        )
    if w_ih.shape[0] == 0:
        raise SpecError(
            f"LSTM {prefix or '(top level)'} has hidden size 0 ({p}weight_ih_l0 has no rows): "
            "there is no unit to trace"
        )
    proj = sd.get(f"{p}weight_hr_l0")
    return {
        "input_size": int(w_ih.shape[1]),
        "hidden_size": int(w_ih.shape[0]) // 4,
        "num_layers": layers,
        "bidirectional": f"{p}weight_ih_l0_reverse" in sd,
        "proj_size": int(proj.shape[0]) if proj is not None else 0,
        "bias": f"{p}bias_ih_l0" in sd,
        "batch_first": False,
        "peephole": f"{p}peephole_i_l0" in sd,
        "clip": None,
        "input_forget": False,
        "activations": None,
    }


def spec_from_state_dict(
    sd: Mapping[str, Any], prefix: str, config: Mapping | None = None, read: set[str] | None = None,
    index: Mapping[str, list] | None = None,
) -> LSTMSpec:
    """The spec of the LSTM stored under `prefix`, checked against `config` if one is given.

    The weights decide the sizes; a stored configuration that disagrees with
    them means a broken file, and tracing it anyway would show wrong numbers.
    """
    inferred = lstm_config_from_state_dict(sd, prefix, index)
    config = dict(config or {})
    where = f"LSTM {prefix or '(top level)'}"
    for key in ("input_size", "hidden_size", "num_layers", "bidirectional", "proj_size", "bias",
                "peephole"):  # fmt: skip
        value = config.get(key)
        if value is None:
            continue
        want = bool if isinstance(inferred[key], bool) else int
        if type(value) is not want and not (want is int and isinstance(value, (int, np.integer))
                                            and not isinstance(value, bool)):
            raise SpecError(f"{where}: {key} must be {'true/false' if want is bool else 'an integer'}, "
                            f"got {value!r}")  # fmt: skip
        if value != inferred[key]:
            raise SpecError(
                f"{where}: the configuration says {key}={value!r} "
                f"but the weights say {inferred[key]}"
            )
    for key in ("batch_first", "input_forget"):
        if config.get(key) is not None and not isinstance(config[key], bool):
            raise SpecError(f"{where}: {key} must be true/false, got {config[key]!r}")
    clip = config.get("clip")
    if clip is not None and (isinstance(clip, bool) or not isinstance(clip, (int, float, np.integer, np.floating))):
        raise SpecError(f"{where}: clip must be a number or null, got {clip!r}")
    weights = weights_from_state_dict(
        sd, _p(prefix), inferred["num_layers"], inferred["bidirectional"], inferred["bias"],
        inferred["proj_size"] > 0, inferred["peephole"], read,
    )  # fmt: skip
    acts = config.get("activations")
    return LSTMSpec(
        weights=weights,
        batch_first=bool(config.get("batch_first", False)),
        activations=CellActivations.from_json(acts) if acts else CellActivations(),
        clip=config.get("clip"),
        input_forget=bool(config.get("input_forget", False)),
    )


def state_dict_from_spec(spec: LSTMSpec, prefix: str) -> dict[str, Any]:
    """An engine spec's weights under torch's names, plus peephole_{i,f,o}_l{k}; the inverse of
    spec_from_state_dict, used to save LSTMs that have no torch module."""
    import torch

    names = {
        "W_ih": "weight_ih", "W_hh": "weight_hh", "b_ih": "bias_ih", "b_hh": "bias_hh",
        "W_hr": "weight_hr", "p_i": "peephole_i", "p_f": "peephole_f", "p_o": "peephole_o",
    }  # fmt: skip
    out = {}
    for layer, dirs in enumerate(spec.weights):
        for d, w in enumerate(dirs):
            suffix = "_reverse" if d else ""
            for name, arr in w.arrays().items():
                out[f"{_p(prefix)}{names[name]}_l{layer}{suffix}"] = torch.from_numpy(
                    np.ascontiguousarray(arr).copy()
                )
    return out


def lstm_config_of(spec: LSTMSpec) -> dict:
    """The checkpoint's per-LSTM configuration of an engine spec."""
    acts = None if spec.activations.is_standard else spec.activations.to_json()
    cfg = spec.config()
    cfg.pop("dtype")
    cfg["activations"] = acts
    return cfg


def infer_roles(
    sd: Mapping[str, Any], lstms: list[str], configs: Mapping[str, Mapping]
) -> tuple[str | None, str | None]:
    """(embedding, head) prefixes recognised around a chain of LSTMs, by names and shapes.

    An embedding is a module with only a 2-D `weight` whose width is the first
    LSTM's input size; a head is a module with a 2-D `weight` and a `bias` whose
    input width is what the last LSTM outputs. Anything ambiguous is left out:
    tracing the LSTM alone is better than running the wrong head.
    """
    named = {p for p in lstms if p}

    def owned_by_an_lstm(key: str) -> bool:  # any dotted ancestor of the key is an LSTM's prefix
        parts = key.split(".")
        return any(".".join(parts[:n]) in named for n in range(1, len(parts)))

    owned = {k for k in sd if owned_by_an_lstm(k)} if named else set()
    modules: dict[str, set[str]] = {}
    for key in sd:
        if key in owned or _LSTM_KEY.match(key):
            continue
        prefix, _, leaf = key.rpartition(".")
        modules.setdefault(prefix, set()).add(leaf)
    first, last = configs[lstms[0]], configs[lstms[-1]]
    out_width = (last.get("proj_size") or last["hidden_size"]) * (2 if last["bidirectional"] else 1)
    embeddings = [
        m for m, leaves in modules.items()
        if leaves == {"weight"} and len(sd[_p(m) + "weight"].shape) == 2
        and sd[_p(m) + "weight"].shape[1] == first["input_size"]
    ]  # fmt: skip
    heads = [
        m for m, leaves in modules.items()
        if leaves == {"weight", "bias"} and len(sd[_p(m) + "weight"].shape) == 2
        and sd[_p(m) + "weight"].shape[1] == out_width
        and tuple(sd[_p(m) + "bias"].shape) == (sd[_p(m) + "weight"].shape[0],)
    ]  # fmt: skip
    return (embeddings[0] if len(embeddings) == 1 else None, heads[0] if len(heads) == 1 else None)


def chain_lstms(lstms: list[str], configs: Mapping[str, Mapping]) -> list[str]:
    """The longest run of LSTMs, in key order from the first, where each feeds the next."""
    chain = [lstms[0]]
    for name in lstms[1:]:
        prev = configs[chain[-1]]
        width = (prev.get("proj_size") or prev["hidden_size"]) * (2 if prev["bidirectional"] else 1)
        if configs[name]["input_size"] != width:
            break
        chain.append(name)
    return chain


# --- the numpy pipeline built from a state_dict (bare state_dicts here; the checkpoint uses it too)
def pipeline_from_parts(
    sd: Mapping[str, Any],
    *,
    path: str,
    format: str,
    lstms: list[str],
    lstm_configs: Mapping[str, Mapping],
    embedding: str | None,
    head: str | None,
    output: str | None,
    lstm: str | None,
    unexplained: str = "warn",
    key_names: Mapping[str, str] | None = None,
    **model_kwargs,
) -> PipelineModel:
    """A numpy model-level run (embedding → LSTMs → head → output) over a state_dict's tensors.

    Every key is accounted for, as nanoGPT's from_pretrained does: the parts
    mark the keys they read, and any other key is a part of the network this
    pipeline would skip, so its output would not be the model's own (an
    ignored LayerNorm put the output off by 3.35). `unexplained="refuse"`
    (the checkpoint, which claims to describe the whole model) makes that a
    LoadError naming the keys; "warn" (a bare state_dict, where the roles were
    only inferred) opens the model with a warning that says so in `warnings`.
    """
    if not lstms:
        raise LoadError(f"{path}: no LSTM found (no *weight_ih_l0 parameters)")
    check_tensors(sd, path)  # declared sizes and kinds, before any tensor becomes an array
    read: set[str] = set()
    index = lstm_key_index(sd)
    specs = {name: spec_from_state_dict(sd, name, lstm_configs.get(name), read, index)
             for name in lstms}  # fmt: skip
    emb = None
    if embedding is not None:
        key = _p(embedding) + "weight"
        if key not in sd:
            raise SpecError(f"the embedding {embedding!r} has no weight {key!r}")
        emb = to_array(sd[key], f"{path}: {key}")
        read.add(key)
    head_wb = None
    if head is not None:
        wk, bk = _p(head) + "weight", _p(head) + "bias"
        if wk not in sd:
            raise SpecError(f"the head {head!r} has no weight {wk!r}")
        head_wb = (to_array(sd[wk], f"{path}: {wk}"),
                   to_array(sd[bk], f"{path}: {bk}") if bk in sd else None)  # fmt: skip
        read |= {wk, bk} & set(sd)
    warnings = list(model_kwargs.pop("warnings", ()))
    stray = [(key_names or {}).get(k, k) for k in sd if k not in read]  # as the file names them
    if stray:
        flow = " → ".join(
            ([embedding] if embedding is not None else []) + [n or "(top level)" for n in lstms]
            + ([head] if head is not None else [])
        )  # fmt: skip
        named = ", ".join(stray[:6]) + (f" and {len(stray) - 6} more" if len(stray) > 6 else "")
        what = f"{len(stray)} parameter{'s' if len(stray) != 1 else ''} ({named})"
        belong = "belongs" if len(stray) == 1 else "belong"
        if unexplained == "refuse":
            raise LoadError(
                f"{path}: {what} not explained by the architecture ({flow}); the output "
                "would not be the model's own. Declare every module the output goes through, "
                "or save only the parts the pipeline runs"
            )
        if head is not None:
            warnings.append(
                f"{what} {belong} to no part of the pipeline ({flow}), which runs without "
                "them: the output panel is NOT the model's own output"
            )
        else:
            warnings.append(
                f"{what} {belong} to no part of the pipeline ({flow}) and "
                f"{'is' if len(stray) == 1 else 'are'} not used by this trace: it shows the LSTM "
                "alone on the input as given, with no model output"
            )
    n_params = count_parameters(sd.values())
    return PipelineModel(
        path=path, format=format, embedding=(embedding, emb) if emb is not None else None,
        lstms=[(n, specs[n]) for n in lstms], head=(head, *head_wb) if head_wb else None,
        output=output, lstm=lstm, parameter_count=n_params, warnings=warnings, **model_kwargs,
    )  # fmt: skip


def model_from_state_dict(sd: Mapping[str, Any], path: str, lstm: str | None = None) -> Model:
    """A bare state_dict: architecture inferred from key names and shapes alone."""
    if not all(_is_tensor(v) for v in sd.values()):
        raise LoadError(f"{path}: not a state_dict (it holds values that are not tensors)")
    check_tensors(sd, path)
    sd, key_names, cells = _cells_as_layers(sd)
    prefixes = find_lstm_prefixes(sd)
    if not prefixes:
        raise LoadError(
            f"{path}: no LSTM in this state_dict (no parameter named like 'weight_ih_l0', "
            "and no LSTMCell's weight_ih/weight_hh)"
        )
    index = lstm_key_index(sd)
    configs = {p: lstm_config_from_state_dict(sd, p, index) for p in prefixes}
    chosen = choose_lstm(prefixes, lstm, path)
    chain = chain_lstms(prefixes, configs)
    warnings = []
    if chosen not in chain:
        chain = [chosen]  # not fed by the others: trace it alone, on numeric input
        embedding = head = None
    else:
        embedding, head = infer_roles(sd, chain, configs)
    apart = [p for p in prefixes if p not in chain]
    if apart and head is not None:
        # an encoder and a decoder: a Linear reading the encoder's width (a bridge that
        # initialises the decoder) is not the model's output head
        head = None
        what = ", ".join(f"{'LSTMCell' if p in cells else 'LSTM'} {p or '(top level)'!r}" for p in apart)
        warnings.append(
            f"{what} {'is' if len(apart) == 1 else 'are'} not fed by "
            f"{' → '.join(repr(n or '(top level)') for n in chain)} (an encoder and a decoder?): the "
            "network is more than embedding → LSTMs → head, so no output head is inferred; "
            "pick an LSTM with --lstm, traced alone on its own input"
        )
    n_emb = sd[_p(embedding) + "weight"].shape[0] if embedding is not None else 0
    desc = "A bare state_dict: the architecture was inferred from its parameter names and shapes."
    if embedding is not None:
        desc += (
            f" It has no vocabulary, so text input is token ids 0–{n_emb - 1} separated by spaces."
        )
    if head is not None:
        desc += " The output is the head's raw scores (logits): the file does not say what follows."
    if cells:
        desc += (f" LSTMCell {', '.join(repr(c or '(top level)') for c in cells)} "
                 "is read as a one-layer LSTM.")  # fmt: skip
    return pipeline_from_parts(
        sd, path=path, format="state_dict", lstms=chain, lstm_configs=configs,
        embedding=embedding, head=head, output="logits" if head else None, lstm=chosen,
        tokenizer="words" if embedding else None,
        vocab=tuple(str(i) for i in range(n_emb)) if embedding else None, ids_as_vocab=True,
        description=desc, key_names=key_names, warnings=warnings, offered=prefixes,
    )  # fmt: skip


def _cells_as_layers(sd: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """(sd with every LSTMCell's weights renamed as layer 0 of an LSTM, in their key order;
    {new name: the file's name}; the cells' prefixes)."""
    cells = find_cell_prefixes(sd)
    if not cells:
        return dict(sd), {}, []
    renamed = {}
    for c in cells:
        renamed.update({_p(c) + leaf: _p(c) + leaf + "_l0" for leaf in _CELL_LEAVES if _p(c) + leaf in sd})
    out = {renamed.get(k, k): v for k, v in sd.items()}
    if len(out) != len(sd):
        raise LoadError("an LSTMCell's weights and an LSTM's layer 0 share one name")
    return out, {new: old for old, new in renamed.items()}, cells


def choose_lstm(names: list[str] | tuple[str, ...], lstm: str | None, path: str) -> str:
    if lstm is None:
        return names[0]
    if lstm not in names:
        shown = ", ".join(repr(n or "(top level)") for n in names)
        raise LoadError(f"{path}: no LSTM named {lstm!r}; the LSTMs are {shown}")
    return lstm


def first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


__all__ = [
    "cell_as_layer",
    "count_parameters",
    "find_cell_prefixes",
    "chain_lstms",
    "choose_lstm",
    "find_lstm_prefixes",
    "infer_roles",
    "check_tensor",
    "check_tensors",
    "lstm_config_from_state_dict",
    "lstm_key_index",
    "lstm_config_of",
    "model_from_state_dict",
    "pipeline_from_parts",
    "spec_from_state_dict",
    "state_dict_from_spec",
    "state_dict_to_arrays",
    "to_array",
    "weights_from_state_dict",
]
