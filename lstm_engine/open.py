"""load(path): open any model file the debugger understands, deciding by content, safely.

File names lie (a `.pt` may be a TorchScript archive, a state_dict, a
checkpoint or a pickled module), so the first bytes decide:
  - a zip with `constants.pkl` or `code/` → TorchScript (torch.jit.load), which
    runs the archive's code, so only when the caller trusts the file;
  - an ONNX protobuf (or a `.onnx` name) → lstm_engine.load_onnx;
  - a zip with `data.pkl`, or a legacy pickle → torch.load(weights_only=True),
    which reads the checkpoint and state_dicts; anything that needs the full
    unpickler is refused unless the caller trusts the file, because
    unpickling can run arbitrary code.
torch and ONNX are imported only when a file needs them.
"""

from __future__ import annotations

import os
import pickletools
import zipfile
from pathlib import Path

from .core.errors import LoadError, SpecError
from .core.files import require_regular_file
from .model import Model

_ZIP = b"PK\x03\x04"
_PICKLE_PROTOCOLS = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


def _is_old_pickle(path: Path) -> bool:
    """A protocol 0/1 pickle (no header to recognise): its opcodes parse, ending in STOP.

    pickletools only reads the opcodes, it never builds objects, so this runs no code.
    """
    if path.stat().st_size > 2**24:
        return False
    data = path.read_bytes()
    if not data.endswith(b".") or data[:1] not in b"(}]cK\x80NIFSVLGTUX":
        return False
    try:
        ops = list(pickletools.genops(data))
    except Exception:  # noqa: BLE001 - anything that does not parse is not a pickle
        return False
    return bool(ops) and ops[-1][0].name == "STOP"


def sniff(path: Path) -> str:
    """'torchscript', 'torch', 'onnx', 'trace', 'corrupt-zip' or 'unknown', from the file's content."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(_ZIP):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError, ValueError):
            return "corrupt-zip"
        if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
            return "torchscript"
        if any(n.endswith("data.pkl") for n in names):
            return "torch"
        if "meta.npy" in names:
            return "trace"
        return "unknown"
    if head[:2] in _PICKLE_PROTOCOLS or _is_old_pickle(path):
        return "torch"
    # An ONNX ModelProto starts with field 1 (ir_version, a varint): byte 0x08.
    if path.suffix.lower() == ".onnx" or (head[:1] == b"\x08" and path.suffix.lower() != ".pt"):
        return "onnx"
    return "unknown"


def load(path: str | os.PathLike, *, trust: bool = False, lstm: str | None = None) -> Model:
    """Open a model file for debugging; `lstm` picks which LSTM to trace (default the first).

    `trust=True` allows fully pickled modules and TorchScript archives, whose
    loading runs code from the file: only for files from a source you trust.
    """
    path = require_regular_file(path, "model file")
    try:
        kind = sniff(path)
    except OSError as e:
        raise LoadError(f"{path}: cannot read it ({e.strerror or e})") from None
    if kind == "trace":
        raise LoadError(f"{path}: is a recorded trace, not a model (open it with: lstm-tui {path})")
    if kind == "corrupt-zip":
        raise LoadError(f"{path}: truncated or corrupt archive (not a readable zip)")
    if kind == "unknown":
        raise LoadError(
            f"{path}: not a model file this tool reads (expected a torch .pt/.pth file, "
            "a TorchScript archive or an ONNX model)"
        )
    if kind == "onnx":
        # load_onnx imports onnx/onnxruntime itself and says how to install them
        from .formats.onnx_read import load_onnx

        return load_onnx(str(path), node=lstm)
    try:
        import torch  # noqa: F401 - the .pt readers below need it
    except ImportError:
        raise LoadError("reading .pt files needs torch: pip install torch") from None
    from .formats.pickled import model_from_object, read_torch_file
    from .formats.torchscript import load_torchscript

    try:
        if kind == "torchscript":
            return load_torchscript(path, lstm, trust)
        return model_from_object(read_torch_file(path, trust), path, lstm)
    except SpecError as e:
        raise LoadError(f"{path}: {e}") from None
