"""The project checkpoint: one file that opens safely and knows what its model is for.

A bare state_dict says nothing about the vocabulary, the label names or what
follows the head, and a pickled module can run code when it is opened. The
checkpoint is a plain dict of tensors, strings and numbers, so
`torch.load(path, weights_only=True)` reads it without running anything:

    {
      "format": "lstm-tui-checkpoint", "version": 1,
      "name": "tagger", "description": "...",
      "state_dict": {str: Tensor},        # the model's own module names
      "architecture": {
          "embedding": "word_embeddings" | None,   # nn.Embedding prefix (token input)
          "lstms": ["lstm"],                      # LSTM prefixes in data-flow order
          "head": "hidden2tag" | None,            # nn.Linear after the last LSTM
          "output": "log_softmax" | "softmax" | "logits" | None,
          "lstm_config": {"lstm": {"input_size": 6, "hidden_size": 6, "num_layers": 1,
                                   "bidirectional": False, "proj_size": 0, "bias": True,
                                   "batch_first": False, "peephole": False, "clip": None,
                                   "input_forget": False, "activations": None}},
      },
      "tokenizer": "words" | "chars" | None, "lowercase": False,
      "vocab": [...] | None, "unk": "<unk>" | None,
      "labels": [...] | None,
      "examples": ["The dog ate the apple", ...] or [[[float, ...], ...], ...],
    }

Peephole LSTMs (Gers & Schmidhuber 2000) have no torch module; under their
prefix they store torch-named weights (`weight_ih_l{k}[_reverse]`,
`weight_hh_l{k}`, `bias_ih_l{k}`, `bias_hh_l{k}`) plus `peephole_i_l{k}`,
`peephole_f_l{k}`, `peephole_o_l{k}` of shape (H,), and `"peephole": True`.

Saving, in one line:

    save_checkpoint(model, "tagger.pt", vocab=words, labels=["DET", "NN", "V"],
                    examples=["The dog ate the apple"])

`model` is one of:
- an `nn.Module`: its state_dict is saved under its own module names; the
  roles are inferred (the first nn.Embedding, every nn.LSTM in registration
  order, the first nn.Linear registered after the last LSTM) unless given
  with `embedding=`, `lstms=`, `head=`;
- a state_dict (a mapping of names to tensors or arrays): the LSTMs are found
  by their torch names and configured from their shapes, and `lstm_config=`
  ({prefix: {...}}) adds what shapes cannot say (batch_first, clip,
  activations); this is the way to save a peephole LSTM whose weights are
  already torch-named with peephole_* keys;
- an engine `LSTMSpec` (e.g. a peephole cell trained outside torch): saved as
  the model's only LSTM under the prefix "lstm".
`peephole_lstms={prefix: LSTMSpec}` adds LSTMs that exist only as engine specs
to a module or state_dict (say an nn.Embedding and nn.Linear around a custom
peephole cell): whatever the module stored under that prefix is replaced by the
spec's weights in the torch names above.

Every checkpoint is opened back before it is written, so a checkpoint whose
vocabulary, labels, shapes or examples disagree is refused at save time
instead of at debugging time. Reading and writing live here together, so the
format is defined in one file; importing this module does not import torch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..core.errors import EngineError, LoadError, SpecError
from ..core.files import TargetExistsError, write_file
from ..core.limits import check_nested
from ..core.spec import LSTMSpec
from ..model import Model
from .state_dict import (
    check_tensor,
    choose_lstm,
    find_lstm_prefixes,
    first_line,
    infer_roles,
    lstm_config_from_state_dict,
    lstm_config_of,
    lstm_key_index,
    pipeline_from_parts,
    state_dict_from_spec,
)

FORMAT = "lstm-tui-checkpoint"
VERSION = 1
OUTPUTS = ("log_softmax", "softmax", "logits", None)
TOKENIZERS = ("words", "chars", None)


def _roles_from_module(module: Any, peephole_prefixes: Sequence[str]) -> tuple[str | None, list[str], str | None]:
    """(embedding, lstms, head) by walking the module tree in registration order."""
    import torch

    embedding, lstms, after_last, head = None, [], False, None
    for name, m in module.named_modules():
        if isinstance(m, torch.nn.Embedding) and embedding is None and not lstms:
            embedding = name
        elif isinstance(m, torch.nn.LSTM) or name in peephole_prefixes:
            lstms.append(name)
            after_last, head = True, None
        elif isinstance(m, torch.nn.Linear) and after_last and head is None:
            head = name
    for p in peephole_prefixes:
        if p not in lstms:
            lstms.append(p)
    return embedding, lstms, head


def save_checkpoint(
    model: Any,
    path: str | os.PathLike,
    *,
    vocab: Sequence[str] | None = None,
    labels: Sequence[str] | None = None,
    examples: Sequence[Any] = (),
    unk: str | None = None,
    tokenizer: str | None = "words",
    lowercase: bool = False,
    output: str | None = "log_softmax",
    embedding: str | None = None,
    lstms: Sequence[str] | None = None,
    head: str | None = None,
    lstm_config: Mapping[str, Mapping] | None = None,
    peephole_lstms: Mapping[str, LSTMSpec] | None = None,
    description: str = "",
    name: str | None = None,
    focus: Mapping[str, int] | None = None,
    overwrite: bool = False,
    units: Mapping[int, str] | None = None,
) -> Path:
    """Write `model` as a project checkpoint at `path` (see the module docstring for `model`).

    `output` is what the model applies after its head ("log_softmax" as in
    LSTMTagger, "softmax", "logits" for none); it is ignored without a head.
    `examples` are inputs the UI can open on: strings for text models, [T, input]
    arrays or nested lists for numeric ones. `focus` points the debugger at what
    the model is for: {"unit": 11} opens the UI on unit 11 (0-based). `units` names
    units of the traced LSTM, {12: "France"}: the UI shows the names and `u` accepts them.
    Returns the path written.
    """
    import torch

    path = Path(path)
    if os.path.lexists(path) and not overwrite:  # early, for a quick answer; write_file decides
        raise TargetExistsError(f"{path} already exists; not overwriting it (pass overwrite=True)")
    peephole_lstms = dict(peephole_lstms or {})
    if isinstance(model, LSTMSpec):
        peephole_lstms.setdefault("lstm", model)
        model = {}
    for prefix, spec in peephole_lstms.items():
        if not isinstance(spec, LSTMSpec):
            raise SpecError(f"peephole_lstms[{prefix!r}] must be an LSTMSpec, got {type(spec).__name__}")
        if not prefix:
            raise SpecError("an LSTM given as a spec needs a non-empty prefix")

    inferred_roles = (None, None, None)
    if isinstance(model, torch.nn.Module):
        inferred_roles = _roles_from_module(model, list(peephole_lstms))
        sd = dict(model.state_dict())
        lstm_modules = {n: m for n, m in model.named_modules() if isinstance(m, torch.nn.LSTM)}
    elif isinstance(model, Mapping):
        sd = dict(model)
        lstm_modules = {}
    else:
        raise SpecError(
            f"save_checkpoint needs an nn.Module, a state_dict or an LSTMSpec, got {type(model).__name__}"
        )
    for prefix in peephole_lstms:  # the spec replaces whatever the module kept there
        sd = {k: v for k, v in sd.items() if not k.startswith(prefix + ".")}
    state_dict = {}
    for k, v in sd.items():
        if isinstance(v, np.ndarray):
            v = torch.from_numpy(np.ascontiguousarray(v).copy())
        if not isinstance(v, torch.Tensor):
            raise SpecError(f"state_dict entry {k!r} is a {type(v).__name__}, not a tensor")
        check_tensor(v, f"state_dict entry {k!r}")  # before .contiguous() materialises a view
        state_dict[k] = v.detach().cpu().contiguous().clone()
    for prefix, spec in peephole_lstms.items():
        state_dict.update(state_dict_from_spec(spec, prefix))

    if lstms is None:
        lstms = inferred_roles[1] if isinstance(model, torch.nn.Module) else find_lstm_prefixes(state_dict)
    lstms = list(lstms)
    if not lstms:
        raise SpecError("no LSTM to save: the model has no nn.LSTM and no LSTM weights were given")
    configs = {}
    index = lstm_key_index(state_dict)
    for prefix in lstms:
        if prefix in peephole_lstms:
            cfg = lstm_config_of(peephole_lstms[prefix])
        elif prefix in lstm_modules:
            m = lstm_modules[prefix]
            cfg = lstm_config_from_state_dict(state_dict, prefix, index)
            cfg["batch_first"] = bool(m.batch_first)
        else:
            cfg = lstm_config_from_state_dict(state_dict, prefix, index)
        cfg.update((lstm_config or {}).get(prefix, {}))
        configs[prefix] = cfg
    if isinstance(model, torch.nn.Module):
        embedding = embedding if embedding is not None else inferred_roles[0]
        head = head if head is not None else inferred_roles[2]
    elif embedding is None or head is None:
        emb_guess, head_guess = infer_roles(state_dict, lstms, configs)
        embedding = embedding if embedding is not None else emb_guess
        head = head if head is not None else head_guess
    if head is None:
        output = None
    if output not in OUTPUTS:
        raise SpecError(f"output must be one of {OUTPUTS}, got {output!r}")
    if tokenizer not in TOKENIZERS:
        raise SpecError(f"tokenizer must be one of {TOKENIZERS}, got {tokenizer!r}")

    ckpt = {
        "format": FORMAT,
        "version": VERSION,
        "name": name or path.stem,
        "description": description,
        "state_dict": state_dict,
        "architecture": {
            "embedding": embedding,
            "lstms": lstms,
            "head": head,
            "output": output,
            "lstm_config": configs,
        },
        "tokenizer": tokenizer if embedding is not None else None,
        "lowercase": bool(lowercase),
        "vocab": [str(w) for w in vocab] if vocab is not None else None,
        "unk": unk,
        "labels": [str(label) for label in labels] if labels is not None else None,
        "examples": [e if isinstance(e, str) else np.asarray(e, dtype=np.float64).tolist() for e in examples],
    }
    if focus:
        ckpt["focus"] = {"unit": int(focus["unit"])}
    if units:
        ckpt["units"] = {int(k): str(v) for k, v in units.items()}
    loaded = model_from_checkpoint(ckpt, str(path))  # refuse what could not be opened again
    for example in loaded.examples:
        loaded._prepare(example)  # unknown words or wrong widths fail here, with their message

    # an exclusive, unpredictable temporary name beside `path`, then a link that fails if the
    # name exists (overwrite=False) or a rename over a regular file only (overwrite=True)
    return write_file(path, lambda fh: torch.save(ckpt, fh), overwrite=overwrite,
                      exists_hint="pass overwrite=True to replace it")  # fmt: skip


def validate_checkpoint(ckpt: Mapping[str, Any], path: str) -> None:
    """The checkpoint dict's fields have the types the format promises (one clear error if not)."""
    def bad(what: str):
        raise LoadError(f"{path}: broken checkpoint: {what}")

    for key in ("name", "description", "unk"):
        if ckpt.get(key) is not None and not isinstance(ckpt[key], str):
            bad(f"{key} must be a string")
    if not isinstance(ckpt.get("lowercase", False), bool):
        bad("lowercase must be true or false")
    focus = ckpt.get("focus")
    if focus is not None and not (
        isinstance(focus, Mapping)
        and set(focus) == {"unit"}
        and type(focus["unit"]) is int
        and focus["unit"] >= 0
    ):
        bad('focus must be {"unit": N} with N a non-negative whole number')
    units = ckpt.get("units")
    if units is not None and not (
        isinstance(units, Mapping)
        and all(type(k) is int and k >= 0 and isinstance(v, str) for k, v in units.items())
    ):
        bad('units must map unit numbers to names, {12: "France"}')
    sd = ckpt.get("state_dict")
    if not isinstance(sd, Mapping):
        bad("no state_dict")
    if not all(hasattr(v, "shape") for v in sd.values()):
        bad("the state_dict holds values that are not tensors")
    if not all(isinstance(k, str) for k in sd):
        bad("the state_dict's keys must be parameter names (strings)")
    arch = ckpt.get("architecture")
    if not isinstance(arch, Mapping):
        bad("no architecture")
    if not isinstance(arch.get("lstms"), (list, tuple)) or not all(isinstance(p, str) for p in arch["lstms"]):
        bad("architecture.lstms must be a list of module names")
    if not arch["lstms"]:
        raise LoadError(f"{path}: the checkpoint has no LSTM")
    for role in ("embedding", "head"):
        if arch.get(role) is not None and not isinstance(arch[role], str):
            bad(f"architecture.{role} must be a module name or None")
    configs = arch.get("lstm_config") or {}
    if not isinstance(configs, Mapping) or not all(isinstance(c, Mapping) for c in configs.values()):
        bad("architecture.lstm_config must map LSTM names to their configuration")
    if arch.get("output") not in OUTPUTS:
        bad(f"architecture.output {arch.get('output')!r} is not one of {OUTPUTS}")
    if ckpt.get("tokenizer") not in TOKENIZERS:
        bad(f"tokenizer {ckpt.get('tokenizer')!r} is not one of {TOKENIZERS}")
    for key in ("vocab", "labels"):
        v = ckpt.get(key)
        if v is not None and not (isinstance(v, (list, tuple)) and all(isinstance(w, str) for w in v)):
            bad(f"{key} must be a list of strings")
    vocab = ckpt.get("vocab")
    if vocab is not None and len(set(vocab)) != len(vocab):
        seen: set[str] = set()
        dup = next(w for w in vocab if w in seen or seen.add(w))
        bad(f"vocab lists {dup!r} twice; each word needs one embedding row")
    examples = ckpt.get("examples", [])
    if not isinstance(examples, (list, tuple)) or not all(isinstance(e, (str, list, tuple)) for e in examples):
        bad("examples must be a list of strings or of [T, input] lists")
    for k, e in enumerate(examples):  # counted before np.asarray flattens shared sublists
        if not isinstance(e, str):
            check_nested(e, f"{path}: example {k + 1}")


# --- reading
def model_from_checkpoint(ckpt: Mapping[str, Any], path: str, lstm: str | None = None) -> Model:
    """The project checkpoint as a Model: checked field by field, then built as a numpy pipeline."""
    if ckpt.get("format") != FORMAT:
        raise LoadError(f"{path}: not an lstm-tui checkpoint")
    version = ckpt.get("version")
    if type(version) is not int or version < 1:
        raise LoadError(f"{path}: broken checkpoint: version {version!r} is not a whole number")
    if version > VERSION:
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
        raise LoadError(f"{path}: broken checkpoint ({first_line(e)})") from None


def _checkpoint_model(ckpt: Mapping[str, Any], path: str, lstm: str | None) -> Model:
    arch = ckpt["architecture"]
    lstms = list(arch["lstms"])
    if not lstms:
        raise LoadError(f"{path}: the checkpoint has no LSTM")
    chosen = choose_lstm(lstms, lstm, path)
    examples = ckpt.get("examples") or []
    vocab, ids_as_vocab = ckpt.get("vocab"), False
    if vocab is None and arch.get("embedding") is not None:  # token ids are all we can take
        rows = ckpt["state_dict"][f"{arch['embedding']}.weight" if arch["embedding"] else "weight"].shape[0]
        vocab, ids_as_vocab = [str(k) for k in range(rows)], True
    tokenizer = ckpt.get("tokenizer") if arch.get("embedding") is not None else None
    return pipeline_from_parts(
        ckpt["state_dict"], path=path, format="checkpoint", lstms=lstms,
        lstm_configs=arch.get("lstm_config") or {}, embedding=arch.get("embedding"),
        head=arch.get("head"), output=arch.get("output"), lstm=chosen, unexplained="refuse",
        tokenizer=tokenizer, vocab=vocab, ids_as_vocab=ids_as_vocab,
        unk=ckpt.get("unk"), lowercase=bool(ckpt.get("lowercase", False)),
        labels=tuple(ckpt["labels"]) if ckpt.get("labels") is not None else None,
        examples=tuple(e if isinstance(e, str) else np.asarray(e, dtype=np.float64) for e in examples),
        description=ckpt.get("description") or "", name=ckpt.get("name") or None,
        focus=ckpt.get("focus"), units=ckpt.get("units"),
    )  # fmt: skip


__all__ = ["FORMAT", "VERSION", "model_from_checkpoint", "save_checkpoint", "validate_checkpoint"]
