"""`.safetensors` state dicts, parsed here with bounded reads (no safetensors package needed).

The format is simple and holds no code: 8 bytes of little-endian header
length N, N bytes of JSON {name: {"dtype", "shape", "data_offsets": [begin,
end]}, "__metadata__": {...}}, then the tensors' bytes, offsets counted from
the end of the header. Everything in the header is hostile: its length is
bounded (LSTM_TUI_MAX_JSON_BYTES) and parsed by files.read_json, every
tensor's dtype must be known, its shape whole numbers, its byte range inside
the file and exactly shape × itemsize long, and its size within the memory
limit, before any array is made. The tensors then go to the state_dict
reader, so a safetensors file opens as the same .pt state_dict would.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..core.errors import LoadError
from ..core.files import read_bytes, read_json, require_regular_file
from ..core.limits import (
    TooLargeError, check_array_size, human_bytes, max_bytes, max_items, max_json_bytes,
)  # fmt: skip
from ..model import Model

#: safetensors dtype → numpy dtype; BF16 is read as its 16 bits and widened exactly to float32
DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": np.uint16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8,
    "BOOL": np.bool_,
}  # fmt: skip


def looks_like_safetensors(head: bytes) -> bool:
    """8 bytes of header length then '{': the start of every safetensors file."""
    return len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") > 1


def read_safetensors(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(tensors by name as numpy arrays, the header's __metadata__), every field checked."""
    # read_bytes with the file's own size as the limit: it reads (and allocates) no more
    size = require_regular_file(path, "safetensors file").stat().st_size
    if size > max_bytes():
        raise TooLargeError(f"{path}: holds {human_bytes(size)}, more than the "
                            f"{human_bytes(max_bytes())} allowed (set LSTM_TUI_MAX_BYTES="
                            f"{-(-size // 2**20)}M to allow it)")  # fmt: skip
    data = read_bytes(path, "safetensors file", limit=size)
    if len(data) < 8:
        raise LoadError(f"{path}: too short to be a safetensors file")
    n = int.from_bytes(data[:8], "little")
    limit = max_json_bytes()
    if n > limit:
        raise TooLargeError(
            f"{path}: a {human_bytes(n)} header, more than the {human_bytes(limit)} allowed "
            f"(set LSTM_TUI_MAX_JSON_BYTES={-(-n // 2**20)}M to allow it)"
        )
    if 8 + n > len(data):
        raise LoadError(f"{path}: truncated (the header says {n} bytes, the file holds "
                        f"{len(data) - 8})")  # fmt: skip
    header = read_json(data[8 : 8 + n], f"{path}: header")
    if not isinstance(header, dict):
        raise LoadError(f"{path}: the header is not a JSON object")
    if len(header) > max_items():
        raise TooLargeError(f"{path}: {len(header)} entries in the header")
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict):
        raise LoadError(f"{path}: __metadata__ is not an object")
    body = memoryview(data)[8 + n :]
    tensors: dict[str, np.ndarray] = {}
    for name, entry in header.items():
        tensors[name] = _tensor(body, name, entry, str(path))
    return tensors, {str(k): str(v) for k, v in meta.items()}


def _tensor(body: memoryview, name: str, entry: Any, path: str) -> np.ndarray:
    what = f"{path}: tensor {name!r}"
    if not isinstance(entry, dict):
        raise LoadError(f"{what}: not a tensor entry")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in DTYPES:
        raise LoadError(f"{what}: dtype {dtype!r} is not one lstm-tui reads ({', '.join(DTYPES)})")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise LoadError(f"{what}: shape {shape!r} is not a list of sizes")
    whole = isinstance(offsets, list) and all(
        isinstance(o, int) and not isinstance(o, bool) for o in offsets
    )
    if not whole or len(offsets) != 2:
        raise LoadError(f"{what}: data_offsets {offsets!r} is not [begin, end]")
    np_dtype = np.dtype(DTYPES[dtype])
    nbytes = check_array_size(shape, np_dtype.itemsize, what)
    begin, end = offsets
    if not 0 <= begin <= end <= len(body) or end - begin != nbytes:
        raise LoadError(f"{what}: bytes {begin}..{end} do not hold a {dtype} {shape} inside the "
                        f"file's {len(body)} data bytes")  # fmt: skip
    a = np.frombuffer(body[begin:end], dtype=np_dtype.newbyteorder("<")).reshape(shape)
    if dtype == "BF16":  # the upper half of a float32: exact
        return (a.astype(np.uint32) << 16).view(np.float32)
    return a.astype(np_dtype.newbyteorder("="), copy=True)


def load_safetensors(path: str | os.PathLike, lstm: str | None = None) -> Model:
    """A safetensors state_dict, opened as the state_dict reader opens a .pt one."""
    import torch

    from .state_dict import model_from_state_dict

    tensors, meta = read_safetensors(path)
    sd = {k: torch.from_numpy(v) for k, v in tensors.items()}
    model = model_from_state_dict(sd, str(path), lstm)
    model.format = "safetensors"
    if meta.get("format") not in (None, "pt", "torch", "pytorch"):
        model.warnings = tuple(model.warnings) + (
            f"the file says it holds {meta['format']!r} tensors; they were read as a torch "
            "state_dict",
        )
    return model


__all__ = ["DTYPES", "load_safetensors", "looks_like_safetensors", "read_safetensors"]
