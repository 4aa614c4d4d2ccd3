"""A .pt/.pth file that torch.load reads: weights first, full unpickling only with trust.

`torch.load(weights_only=True)` builds nothing but tensors and plain containers,
so a checkpoint or a state_dict opens without running any of the file's code.
A file that needs the full unpickler (a pickled nn.Module) can run arbitrary
code when it is read, so it is refused unless the caller trusts it. What the
file held then decides the reader: the project checkpoint, a bare state_dict
(or one nested in a training dict), or a module run by torch.
"""

from __future__ import annotations

import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any, Mapping

from ..core.errors import LoadError, UnsafeFileError
from ..model import Model
from .state_dict import find_lstm_prefixes, first_line, model_from_state_dict


def read_torch_file(path: Path, trust: bool) -> Any:
    """torch.load with weights_only=True; the full unpickler only when the caller trusts the file.

    weights_only=True can only build tensors and plain containers, so a file
    that needs anything else raises UnpicklingError before any of its code runs.
    """
    import torch

    try:
        with warnings.catch_warnings():  # torch's advice on pickle protocols is not for our users
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights_only" not in str(e) and "Weights only" not in str(e):
            raise LoadError(f"{path}: corrupt torch file ({first_line(e)})") from None
        if not trust:
            raise UnsafeFileError(
                f"{path} is a pickled Python object (not plain weights); unpickling it can run "
                "arbitrary code, so it is refused. If you trust where it came from, pass --trust "
                "(or trust=True to lstm_engine.load)"
            ) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, KeyError,
            AttributeError, TypeError, IndexError) as e:  # fmt: skip
        raise LoadError(f"{path}: not a readable torch file ({first_line(e)})") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except (ModuleNotFoundError, AttributeError) as e:
        raise LoadError(
            f"{path}: could not unpickle the trusted file ({first_line(e)}); the model's class "
            "must be importable: run from the directory of the code that defines it"
        ) from None
    except Exception as e:  # noqa: BLE001 - trusted unpickling can fail in any way
        raise LoadError(f"{path}: could not unpickle the trusted file ({first_line(e)})") from None


def model_from_object(obj: Any, path: Path, lstm: str | None) -> Model:
    """Whatever torch.load returned: a checkpoint, a state_dict, a training dict, or a module."""
    import torch

    from .checkpoint import FORMAT, model_from_checkpoint
    from .torch_module import TorchModuleModel

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


__all__ = ["model_from_object", "read_torch_file"]
