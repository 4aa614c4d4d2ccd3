"""A .pt/.pth file that torch.load reads: weights first, full unpickling only with trust.

`torch.load(weights_only=True)` builds nothing but tensors and plain containers,
so a checkpoint or a state_dict opens without running any of the file's code.
A file that needs the full unpickler (a pickled nn.Module) can run arbitrary
code when it is read, so it is refused unless the caller trusts it. What the
file held then decides the reader: the project checkpoint, a bare state_dict
(or one nested in a training dict), or a module run by torch.
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
from pathlib import Path
from typing import Any, Mapping

from ..core.errors import LoadError, UnsafeFileError
from ..model import Model
from .state_dict import find_cell_prefixes, find_lstm_prefixes, first_line, model_from_state_dict

#: where training scripts keep the model's state_dict inside a checkpoint dict
NESTED_STATE_DICT_KEYS = ("model", "state_dict", "model_state", "model_state_dict", "net")


def read_torch_file(path: Path, trust: bool, notes: list[str] | None = None) -> Any:
    """torch.load with weights_only=True; the full unpickler only when the caller trusts the file.

    weights_only=True can only build tensors and plain containers, so a file
    that needs anything else raises UnpicklingError before any of its code runs.
    Any other failure of that reader (struct.error on a damaged data.pkl,
    RuntimeError, MemoryError, RecursionError, ...) is one LoadError, and
    torch's or numpy's advice to load the file unsafely never reaches the user.
    What the caller should tell the user (which folder a trusted model's
    classes came from) is appended to `notes`.
    """
    import torch

    try:
        with warnings.catch_warnings():  # torch's advice on pickle protocols is not for our users
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights_only" not in str(e) and "Weights only" not in str(e):
            raise LoadError(f"{path}: corrupt torch file ({_no_advice(e)})") from None
        if not trust:
            raise UnsafeFileError(
                f"{path} is a pickled Python object (not plain weights); unpickling it can run "
                "arbitrary code, so it is refused. If you trust where it came from, pass --trust "
                "(or trust=True to lstm_engine.load)"
            ) from None
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as e:  # noqa: BLE001 - struct.error, zipfile/zlib errors, RuntimeError, ...:
        # the weights-only reader runs no code, so whatever it raises means a damaged file
        raise LoadError(f"{path}: not a readable torch file ({_no_advice(e)})") from None
    return _unpickle_trusted(path, notes if notes is not None else [])


def _unpickle_trusted(path: Path, notes: list[str]) -> Any:
    """The full unpickler, for a file the caller trusts.

    The model's own classes are looked for where Python finds them; only if
    that fails is the current folder (the user's project) added, at the END of
    sys.path, so nothing there shadows an installed module (a `./torch.py` or
    `./onnx.py` never runs), and the failure message names that folder.
    """
    import sys

    import torch

    def attempt() -> Any:
        # torch's and the model's own warnings while unpickling (deprecations, dropout with
        # one layer) are not the user's to act on, and would land in `record`'s output
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=False)

    try:
        try:
            return attempt()
        except (ModuleNotFoundError, AttributeError):
            here = os.getcwd()
            if here in sys.path:
                raise
            sys.path.append(here)  # at the end: installed modules always come first
            try:
                obj = attempt()
            except (ModuleNotFoundError, AttributeError) as e:
                raise _ClassNotFound(f"{first_line(e)}; looked in the installed modules and "
                                     f"then in the current folder {here}") from None  # fmt: skip
            notes.append(f"--trust: the model's classes were imported from the current folder "
                         f"{here} (added at the end of the Python path)")  # fmt: skip
            return obj
    except _ClassNotFound as e:
        raise LoadError(
            f"{path}: could not unpickle the trusted file ({e}); the model's class "
            "must be importable: run from the folder of the code that defines it"
        ) from None
    except (ModuleNotFoundError, AttributeError) as e:
        raise LoadError(
            f"{path}: could not unpickle the trusted file ({first_line(e)}); the model's class "
            "must be importable: run from the folder of the code that defines it"
        ) from None
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as e:  # noqa: BLE001 - trusted unpickling can fail in any way
        raise LoadError(f"{path}: could not unpickle the trusted file ({first_line(e)})") from None


class _ClassNotFound(Exception):
    pass


_ADVICE = re.compile(
    r"(weights_only\s*=\s*False|allow_pickle\s*=\s*True|pickle\.load|unsafe|untrusted)", re.I
)


def _no_advice(e: BaseException) -> str:
    """The error's first line, or only its type when the text tells the user to unpickle."""
    line = first_line(e)
    return type(e).__name__ if _ADVICE.search(line) else line


def model_from_object(obj: Any, path: Path, lstm: str | None) -> Model:
    """Whatever torch.load returned: a checkpoint, a state_dict, a training dict, or a module."""
    import torch

    from .checkpoint import FORMAT, model_from_checkpoint
    from .torch_module import TorchModuleModel

    if isinstance(obj, torch.nn.Module):
        return TorchModuleModel(obj, str(path), "pickled-module", lstm)
    if isinstance(obj, Mapping):
        _refuse_quantized_state_dict(obj, path)
        if not all(isinstance(k, str) for k in obj):
            raise LoadError(f"{path}: holds a dict whose keys are not all strings, not a model, "
                            "state_dict or checkpoint")  # fmt: skip
        if obj.get("format") == FORMAT:
            return model_from_checkpoint(obj, str(path), lstm)
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return model_from_state_dict(obj, str(path), lstm)
        # a training checkpoint: {"model_state_dict": sd, "optimizer": ..., "epoch": ...}
        nested = [
            k for k, v in obj.items()
            if isinstance(v, Mapping) and v and all(isinstance(t, torch.Tensor) for t in v.values())
            and all(isinstance(name, str) for name in v)
            and (find_lstm_prefixes(v) or find_cell_prefixes(v))
        ]  # fmt: skip
        if len(nested) > 1:  # {"model": sd, "ema": sd}: the conventional name is the model
            usual = [k for k in nested if k in NESTED_STATE_DICT_KEYS]
            nested = usual if len(usual) == 1 else nested
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


def _refuse_quantized_state_dict(obj: Mapping, path: Path) -> None:
    """A state_dict of a quantize_dynamic model holds packed weights (TorchScript objects that
    only the quantized module can unpack), not tensors: say so, and how to open it instead."""
    packed = [k for k in obj if isinstance(k, str) and ("_all_weight_values" in k or "_packed_params" in k)]
    if not packed:
        return
    op = "quantized::lstm" if any("_all_weight_values" in k for k in packed) else "quantized::linear_dynamic"
    raise LoadError(
        f"{path}: a state_dict of a torch quantize_dynamic model ({op} packed weights in "
        f"{packed[0]!r}), which only the quantized module can unpack; save the quantized model "
        "whole (torch.save(model), opened dequantized with --trust) or the float model's state_dict"
    )


def _keys(d: Mapping) -> str:
    keys = [str(k) for k in list(d)[:6]]
    return ", ".join(keys) + (", ..." if len(d) > 6 else "")


__all__ = ["model_from_object", "read_torch_file"]
