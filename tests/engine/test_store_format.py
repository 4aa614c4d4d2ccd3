"""The version-3 trace file (core/store.py): an aligned, uncompressed .npz mapped in place.

Round trips of every kind of trace, np.load compatibility, the mapping itself, the old
layouts, and files made to lie: each ends as one LoadError, never a crash or an allocation.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
import zipfile
import zlib

import numpy as np
import pytest

from lstm_engine import LoadError, LSTMSpec, Trace, record
from lstm_engine.core import store
from lstm_engine.core.trace import trace_members

HOSTILE_TOKENS = ("\x1b[31mred", "[bold]x[/bold]", "\u202eevil", "a\nb", "\x00", '"\\', "é✓",
                  "\ud800"[:0] + "\t", "meta.npy", "")  # fmt: skip


def _trace(dtype=np.float64, *, layers=2, bidirectional=True, proj=0, keep_z=None, T=7,
           output=True, tokens=True):  # fmt: skip
    spec = LSTMSpec.random(3, 5, num_layers=layers, bidirectional=bidirectional,
                           proj_size=proj, seed=11, dtype=dtype)  # fmt: skip
    rng = np.random.default_rng(4)
    toks = (HOSTILE_TOKENS * 3)[:T] if tokens else None
    return record(spec, rng.standard_normal((T, 3)), keep_z=keep_z, source="test \x1b]0;title\a",
                  output=rng.standard_normal((T, 4)) if output else None, tokens=toks,
                  labels=("A", "B", "<b>", "\u202e") if output else None)  # fmt: skip


def _same(a: Trace, b: Trace) -> None:
    for name in ("x", "h0", "c0", "i", "f", "g", "o", "c", "h", "z", "output"):
        va, vb = getattr(a, name), getattr(b, name)
        if va is None or vb is None:
            assert va is None and vb is None, name
            continue
        assert va.dtype == vb.dtype and va.shape == vb.shape, name
        np.testing.assert_array_equal(va, vb, err_msg=name)
    assert a.tokens == b.tokens and a.labels == b.labels
    assert a.identity == b.identity


CASES = {
    "f64 bi 2 layers": {},
    "f32 uni": dict(dtype=np.float32, layers=1, bidirectional=False),
    "f32 projection": dict(dtype=np.float32, proj=2),
    "no z": dict(keep_z=False),
    "no output, no tokens": dict(output=False, tokens=False),
}


@pytest.mark.parametrize("case", CASES)
def test_round_trip_is_exact_and_np_load_reads_the_same(tmp_path, case):
    tr = _trace(**CASES[case])
    path = tr.save(tmp_path / "t.npz")
    back = Trace.load(path)
    _same(tr, back)
    assert (back.z is None) == (tr.z is None)
    with np.load(path, allow_pickle=False) as npz:
        assert "gates" in npz.files and "i" not in npz.files
        for k, name in enumerate("ifgo"):
            np.testing.assert_array_equal(npz["gates"][:, :, :, k], getattr(tr, name))
        for name in ("x", "c", "h", "h0", "c0"):
            np.testing.assert_array_equal(npz[name], getattr(tr, name))
        meta = json.loads(str(npz["meta"]))
    assert meta["version"] == 3 and meta["tokens"] == (list(tr.tokens) if tr.tokens else None)


def test_every_member_is_stored_and_its_data_starts_on_64_bytes(tmp_path):
    path = _trace(np.float32).save(tmp_path / "t.npz")
    raw = path.read_bytes()
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
    assert infos and all(info.compress_type == zipfile.ZIP_STORED for info in infos)
    for info in infos:
        name_len, extra_len = struct.unpack_from("<HH", raw, info.header_offset + 26)
        member = info.header_offset + 30 + name_len + extra_len
        header_len = struct.unpack_from("<H", raw, member + 8)[0]
        assert (member + 10 + header_len) % store.ALIGN == 0, info.filename


def test_opening_maps_the_file_instead_of_reading_it(tmp_path):
    """The arrays are views of a read-only map of the file, and opening a 48 MB trace adds
    no anonymous memory of that size."""
    spec = LSTMSpec.random(4, 256, seed=1, dtype=np.float32)
    tr = record(spec, np.random.default_rng(0).standard_normal((8000, 4)), keep_z=False)
    path = tr.save(tmp_path / "big.npz")
    del tr
    before = _rss_anon()
    back = Trace.load(path)
    grown = _rss_anon() - before
    probe = back.c
    while not isinstance(probe, mmap.mmap):
        probe = probe.obj if isinstance(probe, memoryview) else probe.base
    with pytest.raises(TypeError):
        probe[0] = 1  # ACCESS_READ: nothing writes through the map
    with open("/proc/self/maps") as fh:
        assert str(path) in fh.read()
    assert path.stat().st_size > 40e6
    if before is not None:
        assert grown < 8e6, f"opening grew anonymous memory by {grown / 1e6:.1f} MB"
    assert back.extent("c", 0, 0)[1] > 0  # answered from the file's extents


def _rss_anon() -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def test_compress_writes_the_old_compressed_layout_and_it_reads_back(tmp_path):
    tr = _trace()
    path = tr.save(tmp_path / "c.npz", compress=True)
    with zipfile.ZipFile(path) as zf:
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_DEFLATED}
        assert "i.npy" in zf.namelist() and "gates.npy" not in zf.namelist()
    back = Trace.load(path)
    _same(tr, back)
    assert isinstance(_owner(back.c), bytes)  # read whole, not mapped


def _owner(a):
    probe = a
    while isinstance(probe, (np.ndarray, memoryview)):
        probe = probe.obj if isinstance(probe, memoryview) else probe.base
    return probe


def test_old_version_2_files_still_open(tmp_path):
    """Version 2 wrote i, f, g, o apart with np.savez_compressed; np.savez (stored, unaligned)
    of the same members is read through the map."""
    tr = _trace()
    members = {}
    for name, value in trace_members(tr):
        if name == "gates":
            members.update(i=tr.i, f=tr.f, g=tr.g, o=tr.o)
        elif name == "meta":
            meta = json.loads(str(value))
            meta["version"] = 2
            del meta["extents"]
            members["meta"] = np.array(json.dumps(meta))
        elif name != "extents":
            members[name] = value
    for writer in (np.savez_compressed, np.savez):
        path = tmp_path / f"{writer.__name__}.npz"
        writer(path, **members)
        _same(tr, Trace.load(path))


def test_zip64_structures_are_written_and_read(tmp_path, monkeypatch):
    """Members and directories past 4 GiB use zip64 fields; with the threshold lowered, a small
    file has them all, and numpy, zipfile and the mapped reader agree on it."""
    monkeypatch.setattr(store, "ZIP64_AT", 200)
    tr = _trace()
    path = tr.save(tmp_path / "z.npz")
    raw = path.read_bytes()
    assert b"PK\x06\x06" in raw[-200:] and b"PK\x06\x07" in raw[-200:]
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
    _same(tr, Trace.load(path))
    with np.load(path) as npz:
        np.testing.assert_array_equal(npz["c"], tr.c)


# --- hostile files


def _good(tmp_path) -> tuple[bytes, dict]:
    path = _trace().save(tmp_path / "good.npz")
    raw = path.read_bytes()
    with zipfile.ZipFile(path) as zf:
        infos = {i.filename: i for i in zf.infolist()}
    return raw, infos


def _load_bytes(tmp_path, data: bytes, name="bad.npz"):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(LoadError) as err:
        Trace.load(path)
    msg = str(err.value)
    assert str(path) in msg and "\n" not in msg
    return msg


def _cd(raw: bytes) -> int:
    """The directory's offset, from the end record (or the zip64 one when it is marked)."""
    at = struct.unpack_from("<I", raw, len(raw) - 22 + 16)[0]
    if at == 0xFFFFFFFF:
        at = struct.unpack_from("<Q", raw, len(raw) - 22 - 20 - 56 + 48)[0]
    return at


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.9, 0.999, -22, -1])
def test_a_truncated_file_is_a_load_error(tmp_path, cut):
    raw, _ = _good(tmp_path)
    n = int(len(raw) * cut) if cut > 0 else len(raw) + cut
    _load_bytes(tmp_path, raw[:n])


def test_a_truncated_member_behind_an_intact_directory_is_a_load_error(tmp_path):
    """Cut the data of c out and keep the directory: the member runs past the data."""
    raw, infos = _good(tmp_path)
    info = infos["c.npy"]
    start = info.header_offset + 60
    data = raw[:start] + raw[start + 64 :]  # later offsets now point 64 bytes too far
    _load_bytes(tmp_path, data)


def _patch(raw: bytes, at: int, fmt: str, *values) -> bytes:
    b = bytearray(raw)
    struct.pack_into(fmt, b, at, *values)
    return bytes(b)


def _central(raw: bytes, name: str) -> int:
    """Where the central directory entry of `name` starts."""
    at = _cd(raw)
    while True:
        assert raw[at : at + 4] == b"PK\x01\x02"
        n, e, c = struct.unpack_from("<HHH", raw, at + 28)
        if raw[at + 46 : at + 46 + n].decode() == name:
            return at
        at += 46 + n + e + c


def test_a_local_header_that_disagrees_with_the_directory_is_a_load_error(tmp_path):
    raw, infos = _good(tmp_path)
    h = infos["h.npy"].header_offset
    msg = _load_bytes(tmp_path, _patch(raw, h + 18, "<II", 12, 12))  # sizes in the local header
    assert "disagree" in msg
    at = _central(raw, "h.npy")
    msg = _load_bytes(tmp_path, _patch(raw, at + 16, "<I", 0x12345678))  # CRC in the directory
    assert "disagree" in msg


def test_a_directory_entry_pointing_at_another_member_is_a_load_error(tmp_path):
    raw, infos = _good(tmp_path)
    at = _central(raw, "h.npy")
    data = _patch(raw, at + 42, "<I", infos["c.npy"].header_offset)
    _load_bytes(tmp_path, data)


def _zip(entries) -> bytes:
    """A zip from (name, member bytes, offset or None) with the directory claiming `offset`
    (None: where the local header really is), for overlaps no writer would make."""
    out, central = b"", b""
    for name, data, claim in entries:
        at = len(out)
        fname = name.encode()
        crc = zlib.crc32(data)
        if data is not None and claim is None:
            out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 33, crc, len(data),
                               len(data), len(fname), 0) + fname + data  # fmt: skip
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 33, crc,
                               len(data), len(data), len(fname), 0, 0, 0, 0, 0,
                               at if claim is None else claim) + fname  # fmt: skip
    n = len(entries)
    return out + central + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(central),
                                       len(out), 0)  # fmt: skip


def _npy(a) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def test_overlapping_members_are_a_load_error(tmp_path):
    """Member B's local header sits inside member A's data: two members share bytes."""
    inner_data = _npy(np.zeros(4))
    inner = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 33, zlib.crc32(inner_data),
                        len(inner_data), len(inner_data), 5, 0) + b"c.npy" + inner_data  # fmt: skip
    outer = b"\x93NUMPY" + inner  # any bytes: x is never parsed before the overlap is found
    header = 30 + len("x.npy")
    data = _zip([("x.npy", outer, None), ("c.npy", inner_data, header + 6)])
    assert "overlap" in _load_bytes(tmp_path, data)


def test_two_members_of_one_name_are_a_load_error(tmp_path):
    data = _zip([("c.npy", _npy(np.zeros(2)), None), ("c.npy", _npy(np.ones(2)), None)])
    assert "two arrays named" in _load_bytes(tmp_path, data)


@pytest.mark.parametrize("shape", ["(10**12, 10**12)", "(2**62,)", "(-1, 4)", "(5, 'a')"])
def test_a_header_promising_more_than_its_member_is_refused_unallocated(tmp_path, shape):
    raw, infos = _good(tmp_path)
    with zipfile.ZipFile(tmp_path / "good.npz") as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': " + shape + ", }"
    header = header.ljust(118) + "\n"
    members["c.npy"] = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() \
        + b"\0" * 64  # fmt: skip
    data = _zip([(n, d, None) for n, d in members.items()])
    _load_bytes(tmp_path, data)


def test_a_member_with_bytes_after_its_array_is_refused(tmp_path):
    with zipfile.ZipFile(_trace().save(tmp_path / "good.npz")) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members["h0.npy"] += b"\0" * 8
    msg = _load_bytes(tmp_path, _zip([(n, d, None) for n, d in members.items()]))
    assert "h0" in msg


def test_a_damaged_small_member_fails_its_crc(tmp_path):
    raw, infos = _good(tmp_path)
    info = infos["c0.npy"]
    name_len, extra_len = struct.unpack_from("<HH", raw, info.header_offset + 26)
    last = info.header_offset + 30 + name_len + extra_len + info.file_size - 1
    data = bytearray(raw)
    data[last] ^= 0x01
    assert "CRC" in _load_bytes(tmp_path, bytes(data))


@pytest.mark.parametrize("damage", ["entries", "directory offset", "directory size"])
def test_an_end_record_that_lies_is_a_load_error(tmp_path, damage):
    raw, _ = _good(tmp_path)
    end = len(raw) - 22
    if damage == "entries":
        data = _patch(raw, end + 8, "<HH", 60000, 60000)
    elif damage == "directory offset":
        data = _patch(raw, end + 16, "<I", len(raw) * 3)
    else:
        data = _patch(raw, end + 12, "<I", 0x7FFFFFFF)
    _load_bytes(tmp_path, data)


def test_a_zip64_size_beyond_the_file_is_a_load_error(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "ZIP64_AT", 200)
    path = _trace().save(tmp_path / "z.npz")
    raw = path.read_bytes()
    at = _central(raw, "c.npy")
    n, e = struct.unpack_from("<HH", raw, at + 28)
    extra = at + 46 + n
    assert struct.unpack_from("<HH", raw, extra) == (1, 24)  # sizes and offset in zip64
    data = _patch(raw, extra + 4, "<QQ", 2**62, 2**62)
    _load_bytes(tmp_path, data)


def test_random_damage_to_the_structure_is_a_load_error_or_a_trace(tmp_path):
    """Flip one byte in the headers and directory, 300 times: never anything but LoadError."""
    raw, infos = _good(tmp_path)
    spots = [i.header_offset + k for i in infos.values() for k in range(0, 160)]
    spots += list(range(_cd(raw), len(raw)))
    rng = np.random.default_rng(0)
    path = tmp_path / "flip.npz"
    for at in rng.choice(spots, 300):
        data = bytearray(raw)
        data[at] ^= 1 << int(rng.integers(8))
        path.write_bytes(bytes(data))
        try:
            Trace.load(path)
        except LoadError as e:
            assert "\n" not in str(e)


def test_a_member_compressed_with_another_method_is_refused(tmp_path):
    raw, _ = _good(tmp_path)
    at = _central(raw, "c.npy")
    assert "compression method 12" in _load_bytes(tmp_path, _patch(raw, at + 10, "<H", 12))


def test_an_encrypted_member_is_refused(tmp_path):
    raw, _ = _good(tmp_path)
    at = _central(raw, "c.npy")
    assert "encrypted" in _load_bytes(tmp_path, _patch(raw, at + 8, "<H", 1))


def test_a_fifo_or_symlink_loop_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)
    with pytest.raises(LoadError, match="FIFO"):
        Trace.load(fifo)
    loop = tmp_path / "loop.npz"
    loop.symlink_to(loop)
    with pytest.raises(LoadError, match="loop"):
        Trace.load(loop)


def test_a_trace_whose_gates_lie_apart_saves_them_as_one_member(tmp_path):
    """A trace read from a compressed file holds i, f, g, o apart: they are stacked a piece
    at a time into the gates member, and read back the same."""
    from lstm_engine.core import recorder

    tr = _trace(T=11)
    apart = Trace.load(tr.save(tmp_path / "c.npz", compress=True))
    assert recorder._gate_block(apart) is None
    path = apart.save(tmp_path / "again.npz")
    _same(tr, Trace.load(path))
    assert recorder._gate_block(Trace.load(path)) is not None  # one block again, mapped
