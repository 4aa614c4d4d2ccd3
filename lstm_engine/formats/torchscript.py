"""TorchScript archives: opened only with trust, because loading one runs its code.

A TorchScript archive is a program (its __setstate__ and forward are
TorchScript, which can read and write files), so it gets the same --trust gate
as a fully pickled module, and is then run by torch as a TorchModuleModel.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from ..core.errors import LoadError, UnsafeFileError
from ..model import Model
from .state_dict import first_line
from .torch_module import TorchModuleModel


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
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception as e:  # noqa: BLE001 - a corrupt archive raises anything from C++
        raise LoadError(f"{path}: not a readable TorchScript archive ({first_line(e)})") from None
    return TorchModuleModel(module, str(path), "torchscript", lstm)


__all__ = ["load_torchscript"]
