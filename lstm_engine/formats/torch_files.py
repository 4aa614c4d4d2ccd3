"""torch → engine: the only engine module that imports torch at top level.

Reading weights out of `torch.nn.LSTM` goes through an explicit list of
parameter names with a shape check on each, so a model whose layout we do
not understand fails loudly instead of being traced wrongly.

Besides the nn.LSTM reader this module holds everything that touches torch
objects when opening a file: reading a `.pt` safely (weights_only first, full
unpickling only when the caller trusts the file), recognising the LSTMs, the
embedding in front and the linear head behind in a state_dict from key names
and shapes, building peephole specs from the checkpoint's torch-named keys,
and the models that run a real torch module (TorchScript, trusted pickles).
"""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from ..core.activations import CellActivations
from ..core.errors import EngineError, InputError, LoadError, SpecError, UnsafeFileError
from ..model import Model, PipelineModel, Run
from ..core.spec import CellWeights, LSTMSpec

_LSTM_KEY = re.compile(r"^(.*?)weight_ih_l(\d+)(_reverse)?$")
_PARAM_KEY = re.compile(r"^(?:weight|bias)_(?:ih|hh|hr)_l(\d+)(?:_reverse)?$|^peephole_[ifo]_l(\d+)")


def _np(t: Any) -> np.ndarray:
    if isinstance(t, np.ndarray):
        return t.copy()
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
) -> tuple[tuple[CellWeights, ...], ...]:
    """Per-layer, per-direction weights from torch's names (weight_ih_l0_reverse, ...).

    Peephole LSTMs have no torch module; the project checkpoint stores their
    diagonal weights next to the torch-named ones as `peephole_{i,f,o}_l{k}`.
    """
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
                    p_i=get("peephole_i") if peephole else None,
                    p_f=get("peephole_f") if peephole else None,
                    p_o=get("peephole_o") if peephole else None,
                )
            )
        layers.append(tuple(dirs))
    return tuple(layers)


def is_torch_lstm(module: Any) -> bool:
    """A torch.nn.LSTM, a subclass of it, or its TorchScript form."""
    if isinstance(module, torch.nn.LSTM):
        return True
    return isinstance(module, torch.jit.ScriptModule) and getattr(module, "original_name", None) == "LSTM"


def spec_from_module(module: Any) -> LSTMSpec:
    """The engine's spec of a torch.nn.LSTM (a subclass, or a scripted one), with its exact weights."""
    if is_torch_lstm(module) and not isinstance(module, torch.nn.LSTM):  # scripted nn.LSTM
        spec = spec_from_state_dict(module.state_dict(), "", None)
        return LSTMSpec(weights=spec.weights, batch_first=_batch_first(module))
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


def state_dict_to_arrays(sd: Mapping[str, Any]) -> dict[str, Any]:
    """Every tensor, as a numpy array named as in the state_dict (other values are kept)."""
    return {k: _np(v) if isinstance(v, torch.Tensor) else v for k, v in sd.items()}


# --- reading a state_dict's structure from its keys and shapes
def find_lstm_prefixes(sd: Mapping[str, Any]) -> list[str]:
    """Module prefixes that hold torch-named LSTM weights ('' for a bare nn.LSTM), in key order."""
    found: list[str] = []
    for key in sd:
        m = _LSTM_KEY.match(key)
        if m and m.group(2) == "0" and not m.group(3) and m.group(1) not in found:
            found.append(m.group(1).rstrip("."))
    return found


def _p(prefix: str) -> str:
    return f"{prefix}." if prefix else ""


def lstm_config_from_state_dict(sd: Mapping[str, Any], prefix: str) -> dict:
    """Layers, directions, sizes, bias and projection as the weight names and shapes say."""
    p = _p(prefix)
    layers = 0
    while f"{p}weight_ih_l{layers}" in sd:
        layers += 1
    if layers == 0:
        raise SpecError(f"no LSTM weights under {prefix or 'the top level'!r}")
    stray = [
        k for k in sd
        if k.startswith(p) and (m := _PARAM_KEY.match(k[len(p):])) and int(m.group(1) or m.group(2)) >= layers
    ]  # fmt: skip
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


def spec_from_state_dict(sd: Mapping[str, Any], prefix: str, config: Mapping | None = None) -> LSTMSpec:
    """The spec of the LSTM stored under `prefix`, checked against `config` if one is given.

    The weights decide the sizes; a stored configuration that disagrees with
    them means a broken file, and tracing it anyway would show wrong numbers.
    """
    inferred = lstm_config_from_state_dict(sd, prefix)
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
        inferred["proj_size"] > 0, inferred["peephole"],
    )  # fmt: skip
    acts = config.get("activations")
    return LSTMSpec(
        weights=weights,
        batch_first=bool(config.get("batch_first", False)),
        activations=CellActivations.from_json(acts) if acts else CellActivations(),
        clip=config.get("clip"),
        input_forget=bool(config.get("input_forget", False)),
    )


def state_dict_from_spec(spec: LSTMSpec, prefix: str) -> dict[str, torch.Tensor]:
    """An engine spec's weights under torch's names, plus peephole_{i,f,o}_l{k}; the inverse of
    spec_from_state_dict, used to save LSTMs that have no torch module."""
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
    owned = {k for k in sd for p in lstms if p and k.startswith(p + ".")}
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


# --- models built from a state_dict (the checkpoint and bare state_dicts)
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
    **model_kwargs,
) -> PipelineModel:
    """A numpy model-level run (embedding → LSTMs → head → output) over a state_dict's tensors."""
    if not lstms:
        raise LoadError(f"{path}: no LSTM found (no *weight_ih_l0 parameters)")
    specs = {name: spec_from_state_dict(sd, name, lstm_configs.get(name)) for name in lstms}
    arrays = {}
    emb = None
    if embedding is not None:
        key = _p(embedding) + "weight"
        if key not in sd:
            raise SpecError(f"the embedding {embedding!r} has no weight {key!r}")
        emb = _np(sd[key])
        arrays[embedding] = emb
    head_wb = None
    if head is not None:
        wk, bk = _p(head) + "weight", _p(head) + "bias"
        if wk not in sd:
            raise SpecError(f"the head {head!r} has no weight {wk!r}")
        head_wb = (_np(sd[wk]), _np(sd[bk]) if bk in sd else None)
    n_params = sum(int(np.prod(v.shape)) for v in sd.values() if hasattr(v, "shape"))
    return PipelineModel(
        path=path, format=format, embedding=(embedding, emb) if emb is not None else None,
        lstms=[(n, specs[n]) for n in lstms], head=(head, *head_wb) if head_wb else None,
        output=output, lstm=lstm, parameter_count=n_params, **model_kwargs,
    )  # fmt: skip


def model_from_state_dict(sd: Mapping[str, Any], path: str, lstm: str | None = None) -> Model:
    """A bare state_dict: architecture inferred from key names and shapes alone."""
    if not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise LoadError(f"{path}: not a state_dict (it holds values that are not tensors)")
    prefixes = find_lstm_prefixes(sd)
    if not prefixes:
        raise LoadError(
            f"{path}: no LSTM in this state_dict (no parameter named like 'weight_ih_l0')"
        )
    configs = {p: lstm_config_from_state_dict(sd, p) for p in prefixes}
    chosen = _choose(prefixes, lstm, path)
    chain = chain_lstms(prefixes, configs)
    if chosen not in chain:
        chain = [chosen]  # not fed by the others: trace it alone, on numeric input
        embedding = head = None
    else:
        embedding, head = infer_roles(sd, chain, configs)
    n_emb = sd[_p(embedding) + "weight"].shape[0] if embedding is not None else 0
    desc = "A bare state_dict: the architecture was inferred from its parameter names and shapes."
    if embedding is not None:
        desc += (
            f" It has no vocabulary, so text input is token ids 0–{n_emb - 1} separated by spaces."
        )
    if head is not None:
        desc += " The output is the head's raw scores (logits): the file does not say what follows."
    return pipeline_from_parts(
        sd, path=path, format="state_dict", lstms=chain, lstm_configs=configs,
        embedding=embedding, head=head, output="logits" if head else None, lstm=chosen,
        tokenizer="words" if embedding else None,
        vocab=tuple(str(i) for i in range(n_emb)) if embedding else None, ids_as_vocab=True,
        description=desc,
    )  # fmt: skip


def _choose(names: list[str] | tuple[str, ...], lstm: str | None, path: str) -> str:
    if lstm is None:
        return names[0]
    if lstm not in names:
        shown = ", ".join(repr(n or "(top level)") for n in names)
        raise LoadError(f"{path}: no LSTM named {lstm!r}; the LSTMs are {shown}")
    return lstm


def model_from_checkpoint(ckpt: Mapping[str, Any], path: str, lstm: str | None = None) -> Model:
    """The project checkpoint (see lstm_engine.checkpoint for the format)."""
    from .checkpoint import FORMAT, VERSION, validate_checkpoint

    if ckpt.get("format") != FORMAT:
        raise LoadError(f"{path}: not an lstm-tui checkpoint")
    if not isinstance(ckpt.get("version"), int) or ckpt["version"] > VERSION:
        raise LoadError(
            f"{path}: checkpoint version {ckpt.get('version')!r} is newer than this lstm-tui "
            f"understands ({VERSION}); upgrade lstm-tui"
        )
    try:
        validate_checkpoint(ckpt, path)
        return _checkpoint_model(ckpt, path, lstm)
    except EngineError:
        raise
    except (KeyError, TypeError, AttributeError, ValueError, IndexError, RuntimeError) as e:
        # a field of the wrong type or shape deep inside: the file is broken, not lstm-tui
        raise LoadError(f"{path}: broken checkpoint ({_first_line(e)})") from None


def _checkpoint_model(ckpt: Mapping[str, Any], path: str, lstm: str | None) -> Model:
    arch = ckpt["architecture"]
    lstms = list(arch["lstms"])
    if not lstms:
        raise LoadError(f"{path}: the checkpoint has no LSTM")
    chosen = _choose(lstms, lstm, path)
    examples = ckpt.get("examples") or []
    vocab, ids_as_vocab = ckpt.get("vocab"), False
    if vocab is None and arch.get("embedding") is not None:  # token ids are all we can take
        rows = ckpt["state_dict"][_p(arch["embedding"]) + "weight"].shape[0]
        vocab, ids_as_vocab = [str(k) for k in range(rows)], True
    tokenizer = ckpt.get("tokenizer") if arch.get("embedding") is not None else None
    return pipeline_from_parts(
        ckpt["state_dict"], path=path, format="checkpoint", lstms=lstms,
        lstm_configs=arch.get("lstm_config") or {}, embedding=arch.get("embedding"),
        head=arch.get("head"), output=arch.get("output"), lstm=chosen,
        tokenizer=tokenizer, vocab=vocab, ids_as_vocab=ids_as_vocab,
        unk=ckpt.get("unk"), lowercase=bool(ckpt.get("lowercase", False)),
        labels=tuple(ckpt["labels"]) if ckpt.get("labels") is not None else None,
        examples=tuple(e if isinstance(e, str) else np.asarray(e, dtype=np.float64) for e in examples),
        description=ckpt.get("description") or "", name=ckpt.get("name") or None,
        focus=ckpt.get("focus"),
    )  # fmt: skip


# --- reading files
def read_torch_file(path: Path, trust: bool) -> Any:
    """torch.load with weights_only=True; the full unpickler only when the caller trusts the file.

    weights_only=True can only build tensors and plain containers, so a file
    that needs anything else raises UnpicklingError before any of its code runs.
    """
    try:
        with warnings.catch_warnings():  # torch's advice on pickle protocols is not for our users
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights_only" not in str(e) and "Weights only" not in str(e):
            raise LoadError(f"{path}: corrupt torch file ({_first_line(e)})") from None
        if not trust:
            raise UnsafeFileError(
                f"{path} is a pickled Python object (not plain weights); unpickling it can run "
                "arbitrary code, so it is refused. If you trust where it came from, pass --trust "
                "(or trust=True to lstm_engine.load)"
            ) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, KeyError,
            AttributeError, TypeError, IndexError) as e:  # fmt: skip
        raise LoadError(f"{path}: not a readable torch file ({_first_line(e)})") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except (ModuleNotFoundError, AttributeError) as e:
        raise LoadError(
            f"{path}: could not unpickle the trusted file ({_first_line(e)}); the model's class "
            "must be importable: run from the directory of the code that defines it"
        ) from None
    except Exception as e:  # noqa: BLE001 - trusted unpickling can fail in any way
        raise LoadError(f"{path}: could not unpickle the trusted file ({_first_line(e)})") from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def model_from_object(obj: Any, path: Path, lstm: str | None) -> Model:
    """Whatever torch.load returned: a checkpoint, a state_dict, a training dict, or a module."""
    from .checkpoint import FORMAT

    if isinstance(obj, torch.nn.Module):
        return TorchModuleModel(obj, str(path), "pickled-module", lstm)
    if isinstance(obj, Mapping):
        if obj.get("format") == FORMAT:
            return model_from_checkpoint(obj, str(path), lstm)
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return model_from_state_dict(obj, str(path), lstm)
        # a training checkpoint: {"model_state_dict": sd, "optimizer": ..., "epoch": ...}
        nested = [
            k for k, v in obj.items()
            if isinstance(v, Mapping) and v and all(isinstance(t, torch.Tensor) for t in v.values())
            and find_lstm_prefixes(v)
        ]  # fmt: skip
        if len(nested) == 1:
            return model_from_state_dict(obj[nested[0]], str(path), lstm)
        if len(nested) > 1:
            raise LoadError(
                f"{path}: holds several state_dicts with LSTMs ({', '.join(nested)}); "
                "save the one to debug on its own"
            )
        what = f"a dict with keys {_keys(obj)}" if obj else "an empty dict"
        raise LoadError(f"{path}: no LSTM in this file ({what})")
    raise LoadError(f"{path}: holds a {type(obj).__name__}, not a model, state_dict or checkpoint")


def _keys(d: Mapping) -> str:
    keys = [str(k) for k in list(d)[:6]]
    return ", ".join(keys) + (", ..." if len(d) > 6 else "")


def load_torchscript(path: Path, lstm: str | None, trust: bool = False) -> Model:
    """Run a TorchScript archive only when trusted: it is code, not data.

    torch.jit.load runs the archive's own TorchScript (a module's __setstate__,
    later its forward), which can read and write files (torch.from_file), so it
    gets the same --trust gate as a fully pickled module (PyTorch's SECURITY.md:
    models are programs).
    """
    if not trust:
        raise UnsafeFileError(
            f"{path} is a TorchScript archive; it contains code that runs when it is loaded "
            "and run, so it is refused. If you trust where it came from, pass --trust "
            "(or trust=True to lstm_engine.load)"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception as e:  # noqa: BLE001 - a corrupt archive raises anything from C++
        raise LoadError(f"{path}: not a readable TorchScript archive ({_first_line(e)})") from None
    return TorchModuleModel(module, str(path), "torchscript", lstm)


# --- a real torch module, run by torch
def _kind(module: Any) -> str | None:
    """"LSTM", "Embedding" or "Linear" for those torch modules (or their TorchScript forms)."""
    for cls in (torch.nn.LSTM, torch.nn.Embedding, torch.nn.Linear):
        if isinstance(module, cls):
            return cls.__name__
    if isinstance(module, torch.jit.ScriptModule):
        name = getattr(module, "original_name", None)
        if name in ("LSTM", "Embedding", "Linear"):
            return name
    return None


class TorchModuleModel(Model):
    """A real torch module (TorchScript or a trusted pickle), run by torch itself.

    The per-step output is always what the module's own forward returns. The
    chosen LSTM's input comes from a forward hook on a pickled module, so it is
    exactly what the LSTM received. TorchScript modules do not run Python hooks,
    so there the input is reconstructed (the embedding's rows for the first LSTM,
    the LSTMs before it for a later one), and the reconstruction is checked by
    recomputing the head and comparing it with the module's real output.
    """

    def __init__(self, module: Any, path: str, format: str, lstm: str | None):
        module.eval()
        self.module = module
        named = list(module.named_modules())
        self._lstm_modules = {n: m for n, m in named if _kind(m) == "LSTM"}
        if not self._lstm_modules:
            raise LoadError(f"{path}: no nn.LSTM inside this {format} model")
        names = list(self._lstm_modules)
        chosen = _choose(names, lstm, path)
        sd = module.state_dict()
        self._specs = {}
        for n, m in self._lstm_modules.items():
            sub = {k: v for k, v in m.state_dict().items()}
            try:
                spec = spec_from_state_dict(sub, "", None)
            except SpecError as e:
                raise LoadError(f"{path}: LSTM {n!r}: {e}") from None
            self._specs[n] = LSTMSpec(weights=spec.weights, batch_first=_batch_first(m))
        embeddings = [(n, m) for n, m in named if _kind(m) == "Embedding"]
        self._embedding = embeddings[0] if embeddings else None
        self._linears = [(n, m) for n, m in named if _kind(m) == "Linear"]
        n_emb = int(self._embedding[1].weight.shape[0]) if self._embedding else 0
        desc = (
            "A TorchScript archive, run by torch." if format == "torchscript"
            else "A pickled torch module, run by torch with forward hooks on its LSTMs."
        )  # fmt: skip
        if self._embedding:
            desc += f" It has no vocabulary, so text input is token ids 0–{n_emb - 1}."
        super().__init__(
            path=path, format=format, spec=self._specs[chosen], lstm_names=tuple(names),
            lstm_name=chosen, input_kind="text" if self._embedding else "numeric",
            tokenizer="words" if self._embedding else None,
            vocab=tuple(str(i) for i in range(n_emb)) if self._embedding else None,
            ids_as_vocab=True, output_kind=None, description=desc,
        )  # fmt: skip
        self._parameter_count = sum(int(v.numel()) for v in sd.values())

    @property
    def parameter_count(self) -> int:
        return self._parameter_count

    @property
    def input_width(self) -> int | None:
        """The first LSTM's input size for TorchScript, whose reconstruction feeds it directly;
        unknown for a hooked module, which may transform its input before any LSTM."""
        if self.format == "pickled-module":
            return None
        return self._specs[next(iter(self._lstm_modules))].input_size

    def info(self) -> dict:
        info = super().info()
        if self.output_kind is None:
            info["output_note"] = "whatever the module's forward returns per step (read when run)"
        return info

    def layers(self) -> list[tuple[str, str]]:
        out = []
        for n, m in self.module.named_modules():
            kind = _kind(m)
            if kind == "LSTM":
                out.append((n, self._specs[n].summary()))
            elif kind == "Embedding":
                out.append((n, f"Embedding({m.weight.shape[0]}, {m.weight.shape[1]})"))
            elif kind == "Linear":
                out.append((n, f"Linear({m.weight.shape[1]}, {m.weight.shape[0]})"))
        return out

    def _candidates(self, ids: np.ndarray | None, x: np.ndarray | None) -> list[torch.Tensor]:
        if ids is not None:
            t = torch.from_numpy(np.asarray(ids, dtype=np.int64))
            return [t, t[None, :], t[:, None]]
        first = self._specs[next(iter(self._lstm_modules))]
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=first.dtype))
        return [t[None] if first.batch_first else t[:, None], t, t[:, None] if first.batch_first else t[None]]

    def _call(self, ids, x, T: int, hook_store: dict | None):
        """The module's own forward on one sequence, in the first input layout that works."""
        errors = []
        for inp in self._candidates(ids, x):
            if hook_store is not None:
                hook_store.clear()
            try:
                with torch.no_grad():
                    out = self.module(inp)
            except Exception as e:  # noqa: BLE001 - the user's forward can raise anything
                errors.append(_first_line(e))
                continue
            if hook_store is not None:
                got = hook_store.get(self.lstm_name)
                if got is None or _steps(got[0], self.spec.batch_first) != T:
                    errors.append("the LSTM did not see the sequence step by step")
                    continue
            return out
        raise InputError(f"the model's forward failed on this input ({errors[0]})")

    def _forward(self, tokens, ids, x, batch_index: int) -> Run:
        T = len(ids) if ids is not None else x.shape[0]
        meta: dict = {}
        lstm_out = h0 = c0 = None
        if self.format == "pickled-module":
            store: dict = {}

            def make_hook(name):
                def hook(mod, args, out):
                    store[name] = (args[0], args[1] if len(args) > 1 else None, out)
                return hook

            handles = [m.register_forward_hook(make_hook(n)) for n, m in self._lstm_modules.items()]
            try:
                out = self._call(ids, x, T, store)
            finally:
                for h in handles:
                    h.remove()
            seq, state, lstm_result = store[self.lstm_name]
            lstm_x = _one_sequence(seq, self.spec.batch_first)
            if state is not None:
                h0, c0 = (_np(s)[:, 0] if s.dim() == 3 else _np(s) for s in state)
            lstm_out = _one_sequence(lstm_result[0], self.spec.batch_first).astype(np.float64)
            meta["lstm_input"] = "captured by a forward hook"
        else:
            out = self._call(ids, x, T, None)
            lstm_x, last = self._reconstruct(ids, x)
            meta["lstm_input"] = self._check_reconstruction(last, out, T)
        output = _per_step(out, T)
        if output is not None and self.output_kind is None:
            self.output_kind = _guess_output_kind(output)
        return Run(x=lstm_x, h0=h0, c0=c0, output=output, lstm_out=lstm_out, meta=meta)

    def _reconstruct(self, ids, x) -> tuple[np.ndarray, np.ndarray]:
        """(chosen LSTM's input, last LSTM's output) for modules that cannot be hooked.

        TorchScript does not run Python hooks, so the LSTMs are assumed to be
        fed by the embedding (or the numeric input) and by each other in order;
        `_check_reconstruction` tests that assumption against the real output.
        """
        from ..core.recorder import record

        if ids is not None:
            cur = _np(self._embedding[1].weight)[ids]
        else:
            cur = np.asarray(x, dtype=self.spec.dtype)
        chosen = None
        for name in self._lstm_modules:
            if name == self.lstm_name:
                chosen = cur
            spec = self._specs[name]
            if cur.shape[1] != spec.input_size:
                raise InputError(
                    f"cannot tell what LSTM {name!r} reads inside this TorchScript model "
                    f"(it takes {spec.input_size} features, the layer before gives {cur.shape[1]})"
                )
            cur = np.concatenate(list(record(spec, cur).h[-1]), axis=-1)
        return chosen, cur

    def _check_reconstruction(self, last: np.ndarray, out: Any, T: int) -> str:
        output = _per_step(out, T)
        heads = [m for _, m in self._linears if m.weight.shape[1] == last.shape[1]]
        if output is None or len(heads) != 1:
            return "reconstructed (embedding → LSTMs in order); not checked against the output"
        W, b = _np(heads[0].weight), _np(heads[0].bias) if heads[0].bias is not None else 0
        z = (last @ W.T + b).astype(np.float64)
        from ..model import log_softmax, softmax

        tol = 1e-9 if last.dtype == np.float64 else 2e-5  # the engine's agreement with torch
        for f in (lambda a: a, log_softmax, softmax):
            if f(z).shape == output.shape and np.allclose(f(z), output, atol=tol, rtol=tol):
                return "reconstructed and checked: the head on it gives the model's output"
        return (
            "reconstructed (embedding → LSTMs in order) but the head on it does NOT give the "
            "model's output: the model does more than that; treat this trace with care"
        )


def _batch_first(module: Any) -> bool:
    """An LSTM's batch_first, also for traced TorchScript, which keeps it only in its code.

    A traced LSTM's code calls torch.lstm(input, hx, params, has_biases, num_layers,
    dropout, train, bidirectional, batch_first); the last argument is the answer.
    """
    if hasattr(module, "batch_first"):
        return bool(module.batch_first)
    try:
        code = module.code
    except Exception:  # noqa: BLE001 - no code to read: torch's default
        return False
    m = re.search(r"torch\.lstm\(([^()]*(?:\([^()]*\)[^()]*)*)\)", code)
    if m:
        last = m.group(1).rsplit(",", 1)[-1].strip()
        return last == "True"
    return False


def _steps(seq: Any, batch_first: bool) -> int:
    if not isinstance(seq, torch.Tensor):
        return -1
    if seq.dim() == 2:
        return int(seq.shape[0])
    return int(seq.shape[1] if batch_first else seq.shape[0])


def _one_sequence(seq: Any, batch_first: bool) -> np.ndarray:
    if not isinstance(seq, torch.Tensor):
        raise InputError(
            f"the LSTM was called with a {type(seq).__name__} (e.g. a PackedSequence); "
            "only plain tensors can be traced"
        )
    a = _np(seq)
    if a.ndim == 3:
        a = a[0] if batch_first else a[:, 0]
    return a


def _per_step(out: Any, T: int) -> np.ndarray | None:
    """The forward's result as (T, n) when it is a per-step output, else None."""
    if isinstance(out, (tuple, list)) and out:
        out = out[0]
    if not isinstance(out, torch.Tensor) or not out.is_floating_point():
        return None
    a = _np(out)
    while a.ndim > 2 and 1 in a.shape[:-1]:
        a = np.squeeze(a, axis=a.shape[:-1].index(1))
    if a.ndim == 1 and a.shape[0] == T:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] != T:
        return None
    return a


def _guess_output_kind(out: np.ndarray) -> str:
    """log_prob if every row's exp sums to 1, prob if the row itself does, else logit."""
    with np.errstate(over="ignore"):
        if np.allclose(np.exp(out.astype(np.float64)).sum(-1), 1.0, atol=1e-4):
            return "log_prob"
    if (out >= 0).all() and np.allclose(out.sum(-1), 1.0, atol=1e-4):
        return "prob"
    return "logit"


__all__ = [
    "TorchModuleModel",
    "find_lstm_prefixes",
    "infer_roles",
    "lstm_config_from_state_dict",
    "lstm_config_of",
    "model_from_checkpoint",
    "model_from_object",
    "model_from_state_dict",
    "read_torch_file",
    "spec_from_module",
    "spec_from_state_dict",
    "state_dict_from_spec",
    "weights_from_state_dict",
]
