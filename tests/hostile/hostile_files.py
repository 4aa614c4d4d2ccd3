"""Builders for hostile files: each writes one kind of attack into a folder and returns its path.

Every string and number in a file someone sends is hostile until proven
otherwise. These builders make the attacks from issue 9 in a test's tmp_path
(small on disk, however much they describe), so the suite can open each one
with every front end and check that nothing runs, nothing is overwritten,
nothing hangs and no escape reaches the terminal.
"""

from __future__ import annotations

import io
import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np

#: Textual markup that, if interpreted, overwrites notes.txt in the folder it names on one click
def click_markup(folder: str | os.PathLike) -> str:
    return f"[@click=app.screenshot('notes.txt','{folder}')]see-docs[/]"


#: terminal control in one string: OSC 0 and 2 (title), OSC 52 (clipboard), clear screen, SGR,
#: C1 CSI (U+009B), a right-to-left override and a lone surrogate-free BEL
ESCAPES = (
    "\x1b]0;PWNED-title\x07" "\x1b]2;PWNED-title2\x1b\\" "\x1b]52;c;cm0gLXJmIH4K\x07"
    "\x1b[2J\x1b[31;1m" "\x9b2J" "\u202eevil\u202c"
)
#: what the payloads above would leave behind if they ran: a title or clipboard we cannot
#: observe, so tests look for the bytes instead (ESC, C1) and for marker files
BAD_CODEPOINTS = frozenset(["\x1b", *map(chr, range(0x80, 0xA0)), "\u202e"])


class Payload:
    """Unpickling this creates `marker` (open(marker, 'w')): proof that a pickle ran."""

    def __init__(self, marker: str | os.PathLike):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


# --- checkpoints
def _tiny_text_model(hidden: int = 3, vocab: int = 4, labels: int = 2):
    import torch

    torch.manual_seed(0)
    return {
        "emb.weight": torch.randn(vocab, 2),
        "lstm.weight_ih_l0": torch.randn(4 * hidden, 2),
        "lstm.weight_hh_l0": torch.randn(4 * hidden, hidden),
        "lstm.bias_ih_l0": torch.randn(4 * hidden),
        "lstm.bias_hh_l0": torch.randn(4 * hidden),
        "head.weight": torch.randn(labels, hidden),
        "head.bias": torch.randn(labels),
    }


def hostile_strings_checkpoint(folder: str | os.PathLike, victims: str | os.PathLike) -> Path:
    """A valid checkpoint whose every string field is markup or terminal control.

    Name, description, vocabulary, unknown token, labels, examples and the
    module names (embedding, LSTM, head) each hold `click_markup(victims)`
    and/or ESCAPES. It opens fine: the test is that showing it runs nothing.
    """
    from lstm_engine import save_checkpoint

    markup = click_markup(victims)
    esc = ESCAPES
    # module names cannot hold dots (they separate a state_dict key's parts)
    emb, lstm, head = (f"emb{esc}", f"lstm{esc}", f"head{esc}")
    sd = {k.replace("emb.", f"{emb}.").replace("lstm.", f"{lstm}.").replace("head.", f"{head}."): v
          for k, v in _tiny_text_model().items()}  # fmt: skip
    vocab = [markup, esc, "[/]", f"unk{esc}"]
    path = Path(folder) / "hostile_strings.pt"
    save_checkpoint(
        sd, path, vocab=vocab, labels=[markup, f"{esc}[/]"], unk=vocab[3],
        examples=[f"{markup} {esc} [/]", "[/] nope"], embedding=emb, lstms=[lstm], head=head,
        name=f"{markup}{esc}", description=f"{markup} {esc}\n[b]bold[/b] [link=https://x]l[/link]",
    )  # fmt: skip
    return path


def stride0_state_dict(folder: str | os.PathLike) -> Path:
    """A ~3 KB state_dict whose embedding is a stride-0 view of 10^9 rows (8 GB contiguous)."""
    import torch

    sd = _tiny_text_model()
    sd["emb.weight"] = torch.zeros(1).expand(10**9, 2)
    path = Path(folder) / "stride0.pt"
    torch.save(sd, path)
    return path


def shared_sublists(levels: int = 26, leaf: float = 0.5) -> list:
    """A nested list of 2**levels leaves made of `levels` distinct lists (each one shared twice)."""
    node: list = [leaf, leaf]
    for _ in range(levels - 1):
        node = [node, node]
    return node


def shared_sublists_checkpoint(folder: str | os.PathLike, levels: int = 26) -> Path:
    """A 3 KB checkpoint of a numeric LSTM whose one example flattens to 2**levels numbers.

    The example is [T, input] in shape only: it is a pair of references to a
    pair of references ... (pickle's memo keeps it tiny on disk).
    """
    import torch

    from lstm_engine import LSTMSpec, save_checkpoint

    spec = LSTMSpec.random(2, 3, 1)
    ok = Path(folder) / "_numeric.pt"
    save_checkpoint(spec, ok, examples=[[[0.0, 1.0]]])
    ckpt = torch.load(ok, weights_only=True)
    ok.unlink()
    ckpt["examples"] = [shared_sublists(levels)]
    path = Path(folder) / "shared_sublists.pt"
    torch.save(ckpt, path)
    return path


def pickled_module_checkpoint(folder: str | os.PathLike, marker: str | os.PathLike) -> Path:
    """A .pt whose unpickling creates `marker`: must be refused without --trust."""
    import torch

    path = Path(folder) / "payload.pt"
    torch.save({"state_dict": Payload(marker)}, path)
    return path


# --- traces (.npz)
def trace_arrays(L: int = 1, D: int = 1, T: int = 3, H: int = 2, X: int = 2) -> dict:
    """The arrays of a well-formed trace of those sizes (zeros), without meta."""
    f = np.float32
    return {
        "x": np.zeros((T, X), f), "h0": np.zeros((L, D, H), f), "c0": np.zeros((L, D, H), f),
        **{k: np.zeros((L, D, T, H), f) for k in ("i", "f", "g", "o", "c", "h")},
    }  # fmt: skip


def trace_meta(**extra) -> dict:
    return {"format": "lstm-tui-trace", "version": 2, "tokens": None, "labels": None,
            "model": "m", **extra}  # fmt: skip


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


def write_zip(path: str | os.PathLike, members: list[tuple]) -> Path:
    """A zip written by hand from (name, deflated bytes or chunks, declared size, crc or None).

    zipfile cannot store pre-compressed data or lie about sizes; this can,
    so a member may declare gigabytes while the file stays small.
    """
    out = bytearray()
    central = bytearray()
    for name, data, size, crc in members:
        chunks = data if isinstance(data, list) else [data]
        comp = b"".join(chunks)
        if crc is None:
            crc = zlib.crc32(zlib.decompress(comp, -15)) if size < 2**27 else 0
        raw_name = name.encode()
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(comp), size,
                           len(raw_name), 0)  # fmt: skip
        out += raw_name + comp
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc,
                               len(comp), size, len(raw_name), 0, 0, 0, 0, 0, offset)  # fmt: skip
        central += raw_name
    cd_offset = len(out)
    out += central
    n = len(members)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(central), cd_offset, 0)
    Path(path).write_bytes(bytes(out))
    return Path(path)


def _deflate(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def _member(name: str, a: np.ndarray) -> tuple[str, bytes, int, None]:
    data = _npy(a)
    return (f"{name}.npy", _deflate(data), len(data), None)


def trace_npz(folder: str | os.PathLike, name: str = "trace.npz", *, arrays=None, meta=None,
              extra: list | None = None) -> Path:  # fmt: skip
    """A trace .npz of `arrays` and `meta` (default: a small good trace) plus `extra` members."""
    arrays = trace_arrays() if arrays is None else arrays
    meta = trace_meta() if meta is None else meta
    text = meta if isinstance(meta, str) else json.dumps(meta)
    members = [_member(k, v) for k, v in arrays.items()] + [_member("meta", np.array(text))]
    return write_zip(Path(folder) / name, members + list(extra or []))


def _zeros_deflated(n_bytes: int, prefix: bytes = b"") -> tuple[list[bytes], int]:
    """`prefix` + n_bytes zeros, deflated ~1000:1 without ever holding them (full-flush chunks)."""
    chunk = 1 << 20
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    parts = [c.compress(prefix) + c.flush(zlib.Z_FULL_FLUSH)]
    zeros = bytes(chunk)
    one = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    two = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    assert one == two  # after a full flush the compressor has no history: every chunk is the same
    full, rest = divmod(n_bytes, chunk)
    parts += [one] * full
    parts.append(c.compress(bytes(rest)) + c.flush())
    crc = zlib.crc32(prefix)
    for _ in range(full):
        crc = zlib.crc32(zeros, crc)
    crc = zlib.crc32(bytes(rest), crc)
    return parts, crc


def npz_with_unused_huge_member(folder: str | os.PathLike, gib: int = 3) -> Path:
    """A well-formed ~3 MB trace plus a real (all zeros) member of `gib` GiB that nothing needs."""
    n = gib * 2**30 // 8
    header = _npy_header(np.dtype("<f8"), (n,))
    parts, crc = _zeros_deflated(n * 8, prefix=header)
    unused = ("unused.npy", parts, len(header) + n * 8, crc)
    return trace_npz(folder, "unused_member.npz", extra=[unused])


def _npy_header(dtype: np.dtype, shape: tuple) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": np.lib.format.dtype_to_descr(dtype),
                                               "fortran_order": False, "shape": shape})  # fmt: skip
    return buf.getvalue()  # magic, version and the padded header dict


def npz_with_header_bomb(folder: str | os.PathLike) -> Path:
    """A trace whose `x` header promises 10^12 float64 (7.3 TiB) in a few bytes of data."""
    arrays = {k: v for k, v in trace_arrays().items() if k != "x"}
    x = _raw_member("x.npy", _npy_header(np.dtype("<f8"), (10**12,)) + bytes(64))
    return trace_npz(folder, "header_bomb.npz", arrays=arrays, extra=[x])


def _raw_member(name: str, data: bytes) -> tuple[str, bytes, int, None]:
    return (name, _deflate(data), len(data), None)


def npz_with_huge_meta(folder: str | os.PathLike, mb: int = 150) -> Path:
    """A trace whose meta JSON is `mb` MB (a padding string), compressed to well under 1 MB."""
    meta = json.dumps(trace_meta(pad="PAD"))
    head, tail = meta.split('"PAD"')
    n = mb * 10**6
    text_len = len(head) + 2 + n + len(tail)
    dtype = np.dtype(f"<U{text_len}")
    header = _npy_header(dtype, ())
    body_head = (head + '"').encode("utf-32-le")
    # the padding: n spaces in UTF-32 (b" \0\0\0"), which deflates about as well as zeros
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    parts = [c.compress(header + body_head) + c.flush(zlib.Z_FULL_FLUSH)]
    chunk_chars = 1 << 18
    block = " ".encode("utf-32-le") * chunk_chars
    one = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    full, rest = divmod(n, chunk_chars)
    parts += [one] * full
    last = " ".encode("utf-32-le") * rest + ('"' + tail).encode("utf-32-le")
    parts.append(c.compress(last) + c.flush())
    crc = zlib.crc32(header + body_head)
    for _ in range(full):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(last, crc)
    size = len(header) + text_len * 4
    members = [_member(k, v) for k, v in trace_arrays().items()] + [("meta.npy", parts, size, crc)]
    return write_zip(Path(folder) / "huge_meta.npz", members)


def deep_json_trace(folder: str | os.PathLike, depth: int = 100_000) -> Path:
    """A trace whose meta nests a list `depth` levels deep (json.loads: RecursionError)."""
    meta = json.dumps(trace_meta(deep="DEEP")).replace('"DEEP"', "[" * depth + "]" * depth)
    return trace_npz(folder, "deep_json.npz", meta=meta)


def hostile_strings_trace(folder: str | os.PathLike, victims: str | os.PathLike) -> Path:
    """A well-formed trace whose every meta string and token is markup or terminal control."""
    markup = click_markup(victims)
    meta = trace_meta(model=f"{markup}{ESCAPES}", source=ESCAPES, lstm=f"lstm{ESCAPES}", unk=markup,
                      tokens=[markup, ESCAPES, "[/]"], labels=[markup, ESCAPES],
                      model_format=ESCAPES, output_kind=ESCAPES, unk_positions=[0])  # fmt: skip
    arrays = {**trace_arrays(), "output": np.zeros((3, 2), np.float32)}
    return trace_npz(folder, "hostile_strings.npz", arrays=arrays, meta=meta)


def degenerate_trace(folder: str | os.PathLike, kind: str) -> Path:
    """A trace with hidden size 0, zero layers, zero or 3 directions, or junk unk_positions."""
    sizes = {"hidden0": dict(H=0), "layers0": dict(L=0), "directions0": dict(D=0),
             "directions3": dict(D=3)}  # fmt: skip
    if kind == "unk_junk":
        junk = ["x", 10**30, -5, None, {}, 1.5]
        meta = trace_meta(tokens=["a", "b", "c"], unk="?", unk_positions=junk)
        return trace_npz(folder, f"degenerate_{kind}.npz", meta=meta)
    return trace_npz(folder, f"degenerate_{kind}.npz", arrays=trace_arrays(**sizes[kind]))


def degenerate_state_dict(folder: str | os.PathLike, kind: str) -> Path:
    """A state_dict with hidden size 0 or with no LSTM at all (only an embedding and a head)."""
    import torch

    sd = _tiny_text_model()
    if kind == "hidden0":
        sd = _tiny_text_model(hidden=0)
    elif kind == "layers0":
        sd = {k: v for k, v in sd.items() if not k.startswith("lstm.")}
    path = Path(folder) / f"degenerate_{kind}.pt"
    torch.save(sd, path)
    return path


# --- files that are not files
def fifo(folder: str | os.PathLike) -> Path:
    path = Path(folder) / "model.pt"
    os.mkfifo(path)
    return path


def dev_zero(folder: str | os.PathLike) -> Path:
    return Path("/dev/zero")


def symlink_loop(folder: str | os.PathLike) -> Path:
    a, b = Path(folder) / "loop_a.pt", Path(folder) / "loop_b.pt"
    a.symlink_to(b)
    b.symlink_to(a)
    return a


# --- ONNX
def onnx_endless_loop(folder: str | os.PathLike, *, into: str = "W") -> Path:
    """An ONNX LSTM whose `into` (W, or X) is the result of a Loop with no trip count whose
    condition never turns false: evaluating it never ends (and Ctrl-C does not stop onnxruntime)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    H, n_in = 2, 3
    rng = np.random.default_rng(0)
    W = rng.uniform(-0.5, 0.5, (1, 4 * H, n_in)).astype(np.float32)
    R = rng.uniform(-0.5, 0.5, (1, 4 * H, H)).astype(np.float32)
    shape = {"W": W.shape, "X": (4, 1, n_in)}[into]
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Identity", ["v_in"], ["v_out"])],
        "forever",
        [helper.make_tensor_value_info("iter", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_in", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", TensorProto.FLOAT, list(shape))],
    )  # fmt: skip
    seed = "W0" if into == "W" else "X"
    loop = helper.make_node("Loop", ["", "true", seed], [f"{into}_looped"], name="forever", body=body)
    w_name = "W_looped" if into == "W" else "W"
    x_name = "X_looped" if into == "X" else "X"
    lstm = helper.make_node("LSTM", [x_name, w_name, "R"], ["Y", "Y_h"], name="lstm", hidden_size=H)
    inits = [numpy_helper.from_array(R, "R"), numpy_helper.from_array(np.array(True), "true"),
             numpy_helper.from_array(W, "W0" if into == "W" else "W")]  # fmt: skip
    graph = helper.make_graph(
        [loop, lstm], "endless", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [4, 1, n_in])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], initializer=inits,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    path = Path(folder) / f"endless_loop_{into}.onnx"
    onnx.save(model, str(path))
    return path
