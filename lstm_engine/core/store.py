"""The trace file on disk: an uncompressed .npz whose arrays are memory-mapped where they lie.

A trace file is a zip of .npy members, as np.savez writes one, so
`np.load(path, allow_pickle=False)` reads it without lstm-tui. What this
module adds is where the bytes go:

* every member is stored (ZIP_STORED, no compression), with its array data
  starting at a multiple of ALIGN (64) bytes in the file: the local header's
  extra field is padded (the 0xD935 "alignment" extra that Android's zipalign
  uses), and numpy's own .npy header already pads itself to 64 bytes;
* so opening a trace maps the file once, read-only, and each array is a view
  of its bytes in place (`read_archive`): nothing is read until it is shown,
  and a trace larger than memory opens;
* recording writes straight into such a file (`TraceFile`): the members'
  sizes are known before the recording starts, so their headers are laid
  out first, the array regions are memory-mapped r+ and filled by the
  recorder, and only the CRCs and the central directory are written after.

The reader parses the zip structures and the .npy headers itself, strictly:
every offset and size is checked against the file's size, members may not
overlap or disagree with their local headers, a header's shape must fill its
member exactly, and nothing the file declares sizes an allocation (the arrays
are the file's own pages). A file with compressed members (today's
`--compress`, and every trace written before this format) is not mapped: the
caller reads it with files.read_npz, within core/limits.py's bounds.

Limits of mapping: a trace file truncated by another program while it is open
makes reading the lost pages fail with SIGBUS, and one rewritten in place shows
the new bytes, as with any memory-mapped file (saves never write in place: they
rename a new file over the old one, whose open maps keep the old pages);
the CRC of a member larger than CRC_CHECKED_BYTES is not verified at open
(that would read the whole file), only its structure.
"""

from __future__ import annotations

import io
import mmap
import os
import struct
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .errors import EngineError, LoadError
from .files import PartialFile, WriteError, _one_line
from .limits import TooLargeError, human_bytes, max_json_bytes
from .readonly import seal

#: Every member's data starts at a multiple of this many bytes of the file.
ALIGN = 64
#: Members up to this size (meta, weights, initial states, extents) have their CRC checked
#: when opened; larger ones are mapped unread.
CRC_CHECKED_BYTES = 1 << 20
#: The zip directory of a trace is a few KB; one larger than this is not a trace.
MAX_DIRECTORY_BYTES = 16 << 20
#: numpy's own bound on an .npy header (np.lib.format's max_header_size default).
MAX_NPY_HEADER = 10000
#: Bytes handed to zlib.crc32 or written at a time.
CHUNK = 16 << 20

_LOCAL = struct.Struct("<IHHHHHIIIHH")  # 30 bytes, signature PK\3\4
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")  # 46 bytes, signature PK\1\2
_EOCD = struct.Struct("<IHHHHIIH")  # 22 bytes, PK\5\6
_EOCD64 = struct.Struct("<IQHHIIQQQQ")  # 56 bytes, PK\6\6
_LOCATOR64 = struct.Struct("<IIQI")  # 20 bytes, PK\6\7
_SIG_LOCAL, _SIG_CENTRAL, _SIG_EOCD = 0x04034B50, 0x02014B50, 0x06054B50
_SIG_EOCD64, _SIG_LOCATOR64 = 0x06064B50, 0x07064B50
_ZIP64_EXTRA, _ALIGN_EXTRA = 0x0001, 0xD935
_LIMIT32, _LIMIT16 = 0xFFFFFFFF, 0xFFFF  # the largest 32- and 16-bit fields, zip64's markers
#: A size or offset from which the writer uses zip64 fields (a test lowers it to see them).
ZIP64_AT = _LIMIT32
#: 1980-01-01 00:00 in DOS form: files are the same bytes whenever they are written
_DOS_TIME, _DOS_DATE = 0, (1 << 5) | 1


def npy_header(shape: tuple[int, ...], dtype: np.dtype) -> bytes:
    """The .npy header numpy writes for a C-ordered array (padded to 64 bytes by numpy)."""
    d = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
         "shape": tuple(int(n) for n in shape)}  # fmt: skip
    buf = io.BytesIO()
    try:
        np.lib.format.write_array_header_1_0(buf, d)
    except ValueError:  # a header over 64 KiB (a huge structured dtype): version 2
        buf = io.BytesIO()
        np.lib.format.write_array_header_2_0(buf, d)
    return buf.getvalue()


@dataclass
class _Member:
    """One .npy member being written: where its header and data go, its size and CRC."""

    name: str  # as in the zip, with ".npy"
    offset: int  # of its local header
    header: bytes  # the .npy header
    data_offset: int  # of the array's first byte
    nbytes: int  # of the array
    pad: int  # zero bytes in the local header's alignment extra field
    crc: int | None = None

    @property
    def size(self) -> int:
        return len(self.header) + self.nbytes


class ArchiveWriter:
    """Writes an aligned, uncompressed .npz into a seekable file opened for reading and writing.

    `reserve` lays out a member whose data comes later (a recording fills it
    through `map`); `add` writes an array now; `close` computes what is
    missing (the CRCs of reserved members) and writes the central directory.
    Members lie in the order they were reserved or added.
    """

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.members: list[_Member] = []
        self._end = 0

    def reserve(self, name: str, shape: tuple[int, ...], dtype) -> _Member:
        """Lay out member `name` (without ".npy") of this shape and dtype; the file grows to hold it."""
        dtype = np.dtype(dtype)
        if dtype.hasobject:
            raise WriteError(f"{name}: an array of Python objects cannot be stored")
        header = npy_header(shape, dtype)
        nbytes = dtype.itemsize * int(np.prod(shape, dtype=object))
        fname = f"{name}.npy".encode("ascii")
        size = len(header) + nbytes
        zip64 = size >= ZIP64_AT
        offset = self._end
        # the array's first byte, header[-1] + 1, lands on ALIGN: pad the local extra field
        fixed = offset + _LOCAL.size + len(fname) + (20 if zip64 else 0) + 6 + len(header)
        pad = -fixed % ALIGN
        data_offset = fixed + pad
        member = _Member(fname.decode(), offset, header, data_offset, nbytes, pad)
        self.members.append(member)
        self._end = data_offset + nbytes
        self._write_local(member)
        self.fh.truncate(self._end)  # the data region, sparse until written
        return member

    def _write_local(self, member: _Member) -> None:
        """The member's local header, its .npy header after it (again once the CRC is known)."""
        extra, big = b"", member.size >= ZIP64_AT
        if big:
            extra += struct.pack("<HHQQ", _ZIP64_EXTRA, 16, member.size, member.size)
        extra += struct.pack("<HHH", _ALIGN_EXTRA, member.pad + 2, ALIGN) + bytes(member.pad)
        size32 = _LIMIT32 if big else member.size
        head = _LOCAL.pack(_SIG_LOCAL, 45 if big else 20, 0, 0, _DOS_TIME,
                           _DOS_DATE, member.crc or 0, size32, size32, len(member.name),
                           len(extra))  # fmt: skip
        self.fh.seek(member.offset)
        self.fh.write(head + member.name.encode("ascii") + extra + member.header)

    def map(self, member: _Member, shape, dtype) -> np.memmap:
        """The member's data as a writable memory map (r+), for the recorder to fill in place."""
        self.fh.flush()
        return np.memmap(self.fh, dtype=dtype, mode="r+", offset=member.data_offset, shape=shape)

    def add(self, name: str, array: np.ndarray) -> _Member:
        """Write `array` (made C-contiguous) as member `name` now."""
        a = np.asarray(array, order="C")  # (ascontiguousarray would make a 0-d meta 1-d)
        return self.add_blocks(name, a.shape, a.dtype, (a,))

    def add_blocks(self, name: str, shape, dtype, blocks: Iterable[np.ndarray]) -> _Member:
        """Write member `name` from consecutive C-ordered blocks (so a stack of arrays is never
        built whole: the gates of four (L, D, T, H) arrays go in as (T-block, 4, H) pieces)."""
        member = self.reserve(name, shape, dtype)
        crc = zlib.crc32(member.header)
        self.fh.seek(member.data_offset)
        written = 0
        for block in blocks:
            view = memoryview(np.asarray(block, dtype=dtype, order="C")).cast("B")
            for k in range(0, len(view), CHUNK):
                piece = view[k : k + CHUNK]
                crc = zlib.crc32(piece, crc)
                self.fh.write(piece)
            written += len(view)
        if written != member.nbytes:
            raise WriteError(f"{name}: {written} bytes written for a member of {member.nbytes}")
        member.crc = crc
        self._write_local(member)
        return member

    def _crc_from_file(self, member: _Member) -> int:
        """The CRC of a reserved member's header and data, read back through a map of the file."""
        self.fh.flush()
        crc = zlib.crc32(member.header)
        if not member.nbytes:
            return crc
        start = member.data_offset - member.data_offset % mmap.ALLOCATIONGRANULARITY
        mm = mmap.mmap(self.fh.fileno(), member.data_offset + member.nbytes - start,
                       access=mmap.ACCESS_READ, offset=start)  # fmt: skip
        try:
            view = memoryview(mm)
            lo = member.data_offset - start
            for k in range(lo, len(view), CHUNK):
                crc = zlib.crc32(view[k : k + CHUNK], crc)
            view.release()
        finally:
            mm.close()
        return crc

    def close(self) -> None:
        """CRCs of the reserved members, then the central directory (zip64 where needed)."""
        for member in self.members:
            if member.crc is None:
                member.crc = self._crc_from_file(member)
                self._write_local(member)
        cd_offset = self._end
        parts = []
        for m in self.members:
            big, far = m.size >= ZIP64_AT, m.offset >= ZIP64_AT
            extra = b""
            if big or far:
                fields = (m.size, m.size) * big + (m.offset,) * far
                extra = struct.pack(f"<HH{len(fields)}Q", _ZIP64_EXTRA, 8 * len(fields), *fields)
            parts.append(_CENTRAL.pack(
                _SIG_CENTRAL, 45 if extra else 20, 45 if extra else 20, 0, 0, _DOS_TIME, _DOS_DATE,
                m.crc, _LIMIT32 if big else m.size, _LIMIT32 if big else m.size, len(m.name),
                len(extra), 0, 0, 0, 0o644 << 16, _LIMIT32 if far else m.offset,
            ) + m.name.encode("ascii") + extra)  # fmt: skip
        directory = b"".join(parts)
        n, cd_size = len(self.members), len(directory)
        tail = b""
        fields = (n, cd_size, cd_offset)
        if n >= _LIMIT16 or cd_offset >= ZIP64_AT or cd_size >= ZIP64_AT:
            eocd64 = cd_offset + cd_size
            tail += _EOCD64.pack(_SIG_EOCD64, 44, 45, 45, 0, 0, n, n, cd_size, cd_offset)
            tail += _LOCATOR64.pack(_SIG_LOCATOR64, 0, eocd64, 1)
            fields = (_LIMIT16, _LIMIT32, _LIMIT32)  # see the zip64 record
        tail += _EOCD.pack(_SIG_EOCD, 0, 0, min(fields[0], _LIMIT16), min(fields[0], _LIMIT16),
                           min(fields[1], _LIMIT32), min(fields[2], _LIMIT32), 0)  # fmt: skip
        self.fh.seek(cd_offset)
        self.fh.write(directory + tail)
        self.fh.truncate(cd_offset + len(directory) + len(tail))
        self.fh.flush()


def write_archive(fh: BinaryIO, members: Iterable[tuple[str, object]]) -> None:
    """An aligned uncompressed .npz of `members`: (name, array) or (name, (shape, dtype, blocks))."""
    writer = ArchiveWriter(fh)
    for name, value in members:
        if isinstance(value, tuple):
            writer.add_blocks(name, *value)
        else:
            writer.add(name, value)
    writer.close()


# --- reading
@dataclass(frozen=True)
class _Entry:
    name: str
    method: int
    crc: int
    size: int  # compressed size (== uncompressed for a stored member)
    usize: int
    offset: int  # of the local header
    data: int = 0  # of the member's first byte, once the local header is read


class Compressed(Exception):
    """The archive has compressed members: it is read by files.read_npz, not mapped."""


def read_archive(
    fh: BinaryIO, path, keep: Callable[[str], bool], *, error: type[EngineError] = LoadError,
    max_text: int | None = None,
) -> dict[str, np.ndarray]:  # fmt: skip
    """The members `keep` names (without ".npy") as read-only arrays mapped from the file.

    Raises Compressed when any member is compressed (the caller falls back to
    read_npz), and `error` (or TooLargeError) naming `path` for anything
    malformed; see the module docstring for what is checked.
    """
    size = os.fstat(fh.fileno()).st_size
    entries = _directory(fh, path, size, error)
    if any(e.method != 0 for e in entries):
        raise Compressed
    max_text = max_json_bytes() if max_text is None else max_text
    mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else None
    out: dict[str, np.ndarray] = {}
    for e in entries:
        key = e.name[:-4] if e.name.endswith(".npy") else e.name
        if not keep(key):
            continue
        where = f"{path}: array {key!r}"
        shape, dtype, start, fortran = _parse_npy(mm, e, where, error)
        nbytes = dtype.itemsize * int(np.prod(shape, dtype=object))
        if start + nbytes != e.size:
            raise error(f"{where}: its header promises {human_bytes(nbytes)} of data in a member "
                        f"of {human_bytes(e.size - start)} after the header")  # fmt: skip
        if dtype.kind in "US" and (nbytes // 4 if dtype.kind == "U" else nbytes) > max_text:
            raise TooLargeError(f"{where}: text longer than the {human_bytes(max_text)} allowed "
                                "(raise LSTM_TUI_MAX_JSON_BYTES to allow it)")  # fmt: skip
        if e.size <= CRC_CHECKED_BYTES and zlib.crc32(mm[e.data : e.data + e.size]) != e.crc:
            raise error(f"{where} is damaged (its CRC does not match)")
        try:
            arr = np.ndarray(shape, dtype, buffer=mm, offset=e.data + start,
                             order="F" if fortran else "C")
        except (ValueError, TypeError) as exc:
            raise error(f"{where} is not a readable array ({_one_line(exc)})") from None
        # read-only for good (the map is ACCESS_READ); numbers are marked sealed for the Trace
        out[key] = arr if dtype.kind in "US" else seal(arr, freeze_owner=False)
    return out


def _directory(fh: BinaryIO, path, size: int, error) -> list[_Entry]:
    """Every member of the zip, each checked against the file's size, its local header and
    the others (no overlaps, no two of one name)."""

    def bad(why: str) -> EngineError:
        return error(f"{path}: not a readable .npz archive ({why})")

    def pread(n: int, at: int) -> bytes:
        data = os.pread(fh.fileno(), n, at)
        if len(data) != n:
            raise bad("truncated")
        return data

    if size < _EOCD.size:
        raise bad("too short")
    tail_len = min(size, _EOCD.size + _LIMIT16)
    tail = pread(tail_len, size - tail_len)
    pos = tail.rfind(b"PK\x05\x06")
    while pos >= 0 and (pos + _EOCD.size > tail_len
                        or struct.unpack_from("<H", tail, pos + 20)[0] != tail_len - pos - 22):
        pos = tail.rfind(b"PK\x05\x06", 0, pos)
    if pos < 0 or tail_len - pos < _EOCD.size:
        raise bad("no end of central directory: truncated?")
    eocd_at = size - tail_len + pos
    _, disk, cd_disk, n_disk, n, cd_size, cd_offset, _ = _EOCD.unpack_from(tail, pos)
    end_of_cd = eocd_at
    if _LIMIT16 in (n_disk, n) or _LIMIT32 in (cd_size, cd_offset):
        if eocd_at < _LOCATOR64.size:
            raise bad("zip64 locator missing")
        sig, disk64, eocd64_at, disks = _LOCATOR64.unpack(pread(_LOCATOR64.size,
                                                                eocd_at - _LOCATOR64.size))
        if sig != _SIG_LOCATOR64 or disk64 != 0 or disks != 1 \
                or eocd64_at + _EOCD64.size > eocd_at - _LOCATOR64.size:  # fmt: skip
            raise bad("damaged zip64 locator")
        (sig, rec_size, _, _, disk, cd_disk, n_disk, n, cd_size,
         cd_offset) = _EOCD64.unpack(pread(_EOCD64.size, eocd64_at))  # fmt: skip
        if sig != _SIG_EOCD64 or rec_size < 44:
            raise bad("damaged zip64 end of central directory")
        end_of_cd = eocd64_at
    if disk or cd_disk or n_disk != n:
        raise bad("a multi-disk archive")
    if cd_offset + cd_size > end_of_cd:
        raise bad("its directory lies outside the file")
    if cd_size > MAX_DIRECTORY_BYTES:
        raise TooLargeError(f"{path}: a zip directory of {human_bytes(cd_size)}; a trace's is a "
                            "few KB")  # fmt: skip
    if n > cd_size // _CENTRAL.size:
        raise bad(f"{n} members declared in a directory of {cd_size} bytes")
    cd = pread(cd_size, cd_offset)
    entries, names, at = [], set(), 0
    for _ in range(n):
        if at + _CENTRAL.size > cd_size:
            raise bad("directory truncated")
        (sig, _, _, flags, method, _, _, crc, csize, usize, name_len, extra_len, comment_len,
         start_disk, _, _, offset) = _CENTRAL.unpack_from(cd, at)  # fmt: skip
        if sig != _SIG_CENTRAL:
            raise bad("damaged directory entry")
        at += _CENTRAL.size
        if at + name_len + extra_len + comment_len > cd_size:
            raise bad("directory entry runs past the directory")
        raw_name = cd[at : at + name_len]
        extra = cd[at + name_len : at + name_len + extra_len]
        at += name_len + extra_len + comment_len
        name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", "replace")
        if flags & 0x41:
            raise bad(f"member {name!r} is encrypted")
        if method not in (0, 8):
            raise bad(f"member {name!r} uses compression method {method}")
        if start_disk not in (0, _LIMIT16):
            raise bad("a multi-disk archive")
        usize, csize, offset = _zip64_sizes(extra, usize, csize, offset, bad)
        if method == 0 and csize != usize:
            raise bad(f"stored member {name!r} has two sizes ({csize} and {usize})")
        if name in names:
            raise error(f"{path}: holds two arrays named {name[:-4] if name.endswith('.npy') else name!r}")
        names.add(name)
        entries.append(_Entry(name, method, crc, csize, usize, offset))
    if at != cd_size:
        raise bad("data after the last directory entry")
    checked = []
    for e in sorted(entries, key=lambda e: e.offset):
        if e.offset + _LOCAL.size > cd_offset:
            raise bad(f"member {e.name!r} lies outside the file's data")
        (sig, _, flags, method, _, _, crc, csize, usize, name_len,
         extra_len) = _LOCAL.unpack(pread(_LOCAL.size, e.offset))  # fmt: skip
        if sig != _SIG_LOCAL:
            raise bad(f"member {e.name!r}: no local header where the directory says")
        local = pread(name_len + extra_len, e.offset + _LOCAL.size)
        if local[:name_len] != e.name.encode("utf-8" if flags & 0x800 else "cp437", "replace"):
            raise bad(f"member {e.name!r}: its local header names another file")
        if method != e.method:
            raise bad(f"member {e.name!r}: its headers disagree on the compression")
        if not flags & 0x08:  # sizes in the local header (else in a data descriptor after it)
            usize, csize, _ = _zip64_sizes(local[name_len:], usize, csize, 0, bad)
            if (crc, csize, usize) != (e.crc, e.size, e.usize):
                raise bad(f"member {e.name!r}: its local header and the directory disagree")
        data = e.offset + _LOCAL.size + name_len + extra_len
        if data + e.size > cd_offset:
            raise bad(f"member {e.name!r} runs past the end of the data (truncated?)")
        if checked and checked[-1].data + checked[-1].size > e.offset:
            raise bad(f"members {checked[-1].name!r} and {e.name!r} overlap")
        checked.append(_Entry(e.name, e.method, e.crc, e.size, e.usize, e.offset, data))
    return checked


def _zip64_sizes(extra: bytes, usize: int, csize: int, offset: int, bad) -> tuple[int, int, int]:
    """The sizes and offset, with those marked 0xFFFFFFFF taken from the zip64 extra field."""
    at = 0
    while at + 4 <= len(extra):
        kind, n = struct.unpack_from("<HH", extra, at)
        if at + 4 + n > len(extra):
            raise bad("an extra field runs past its header")
        if kind == _ZIP64_EXTRA:
            fields = extra[at + 4 : at + 4 + n]
            values = list(struct.unpack_from(f"<{n // 8}Q", fields)) if n % 8 == 0 else None
            if values is None:
                raise bad("a damaged zip64 field")
            got = []
            for v in (usize, csize, offset):
                if v == _LIMIT32:
                    if not values:
                        raise bad("a zip64 field too short for its sizes")
                    v = values.pop(0)
                got.append(v)
            usize, csize, offset = got
        at += 4 + n
    if _LIMIT32 in (usize, csize, offset):
        raise bad("a size marked zip64 without a zip64 field")
    return usize, csize, offset


def _parse_npy(mm, e: _Entry, where: str, error) -> tuple[tuple[int, ...], np.dtype, int, bool]:
    """(shape, dtype, header length, Fortran order) of a member's .npy header, parsed by
    numpy's own (literal-only) header reader within MAX_NPY_HEADER bytes; objects refused."""
    head = mm[e.data : e.data + min(e.size, 12)]
    if len(head) < 10 or head[:6] != b"\x93NUMPY":
        raise error(f"{where} is not a readable array (no .npy header)")
    major = head[6]
    if major == 1:
        hlen, start = struct.unpack_from("<H", head, 8)[0], 10
    elif major in (2, 3) and len(head) >= 12:
        hlen, start = struct.unpack_from("<I", head, 8)[0], 12
    else:
        raise error(f"{where} is not a readable array (.npy version {major})")
    if hlen > MAX_NPY_HEADER or start + hlen > e.size:
        raise error(f"{where} is not a readable array (a header of {hlen} bytes)")
    raw = io.BytesIO(bytes(mm[e.data + 8 : e.data + start + hlen]))  # after magic and version
    fmt = np.lib.format
    try:
        if major == 1:
            shape, fortran, dtype = fmt.read_array_header_1_0(raw, max_header_size=MAX_NPY_HEADER)
        elif major == 2:
            shape, fortran, dtype = fmt.read_array_header_2_0(raw, max_header_size=MAX_NPY_HEADER)
        else:  # 3.0 (utf-8 field names) has no public reader
            shape, fortran, dtype = fmt._read_array_header(raw, (3, 0),
                                                           max_header_size=MAX_NPY_HEADER)
    except Exception as exc:  # noqa: BLE001 - numpy's parser raises SyntaxError, ValueError, ...
        raise error(f"{where} is not a readable array ({_one_line(exc)})") from None
    if dtype.hasobject:
        raise error(f"{where} holds Python objects, not numbers (refused: reading it would "
                    "need unpickling)")  # fmt: skip
    return tuple(int(d) for d in shape), dtype, start + hlen, bool(fortran)


# --- recording straight into a file
class TraceFile:
    """A trace file being recorded: the buffers a recording writes into are regions of the file.

        with TraceFile("run.npz") as out:
            trace = record(spec, x, buffers=out)
            trace = out.commit(trace)   # the file is in place; trace reads from it

    It is the `buffers` of recorder.record: `allocate(name, shape, dtype)` lays
    out one member and returns its data memory-mapped r+ (the recorder fills
    it; its pages are the file's, not anonymous memory), `finish()` hands the
    same regions back mapped read-only. `commit(trace)` adds the members a
    recording needs besides (the initial states, the output, the weights, the
    extents, meta), computes the CRCs, writes the directory, fsyncs and links
    the file into place through files.PartialFile (exclusive, no symlink
    followed, nothing replaced without `overwrite`), and returns the trace
    re-read from the file. Leaving the block without commit (an exception,
    Ctrl-C) removes the temporary file: nothing appears at the destination.

    A recording stopped early is kept by committing a trace of its first N
    steps (views of the buffers, `trace_prefix`): the members keep the room
    they were given and meta["valid_steps"] = N says how much of it holds.
    """

    def __init__(self, path: str | os.PathLike, *, overwrite: bool = False,
                 exists_hint: str = "pass overwrite=True to replace it") -> None:  # fmt: skip
        self.path = Path(path)
        self._part = PartialFile(path, overwrite=overwrite, exists_hint=exists_hint)
        self._writer = ArchiveWriter(self._part.fh)
        self._members: dict[str, tuple[_Member, tuple, np.dtype]] = {}
        self._writable: list[np.ndarray] = []
        self._readonly: dict[str, np.ndarray] | None = None

    def allocate(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        """A writable array of `shape` and `dtype` whose bytes are member `name` of the file."""
        if name in self._members or self._readonly is not None:
            raise WriteError(f"{self.path}: member {name!r} allocated twice or after finish()")
        shape, dtype = tuple(int(n) for n in shape), np.dtype(dtype)
        member = self._writer.reserve(name, shape, dtype)
        self._members[name] = (member, shape, dtype)
        arr = self._writer.map(member, shape, dtype) if member.nbytes else np.empty(shape, dtype)
        self._writable.append(arr)
        return arr

    def finish(self) -> dict[str, np.ndarray]:
        """The allocated members, flushed and mapped again read-only (sealed for the Trace)."""
        if self._readonly is None:
            for arr in self._writable:
                if isinstance(arr, np.memmap):
                    arr.flush()
            self._writable.clear()
            self._readonly = {name: self._map_readonly(*spec)
                              for name, spec in self._members.items()}  # fmt: skip
        return dict(self._readonly)

    def _map_readonly(self, member: _Member, shape, dtype) -> np.ndarray:
        if not member.nbytes:
            return seal(np.empty(shape, dtype))
        arr = np.memmap(self._part.fh, dtype=dtype, mode="r", offset=member.data_offset,
                        shape=shape)  # fmt: skip
        return seal(arr, freeze_owner=False)

    def commit(self, trace):
        """Write the rest of `trace` into the file, put the file in place, return it re-read.

        `trace` is what record() returned for these buffers, or a prefix of it
        (`trace_prefix`); a trace whose arrays are not the buffers' is refused.
        """
        from .trace import Trace, trace_members

        buffers = self.finish()
        for name, a in buffers.items():
            ours = trace.i if name == "gates" else getattr(trace, name, None)
            if ours is None or not np.may_share_memory(ours, a):
                raise WriteError(f"{self.path}: the trace's {name} is not the one recorded here")
        steps = buffers["c"].shape[2] if "c" in buffers else trace.T
        valid = trace.T if trace.T != steps else None
        for name, value in trace_members(trace, skip=buffers, valid_steps=valid):
            if isinstance(value, tuple):
                self._writer.add_blocks(name, *value)
            else:
                self._writer.add(name, value)
        self._writer.close()
        path = self._part.commit()
        return Trace._from_file(self._part.fh, path)

    def close(self) -> None:
        """Drop the maps and close the file (removing it unless it was committed)."""
        self._writable.clear()
        self._readonly = None
        self._part.close()

    def __enter__(self) -> "TraceFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def trace_prefix(trace, steps: int):
    """The first `steps` positions of a left-to-right recording, as views (no copy): what a
    recording stopped early keeps (TraceFile.commit writes it with meta valid_steps)."""
    from dataclasses import replace

    from .errors import InputError

    if not 1 <= steps <= trace.T:
        raise InputError(f"a prefix of 1..{trace.T} steps, got {steps}")
    if trace.spec is not None and any(trace.reads_reversed(d)
                                      for d in range(trace.num_directions)):  # fmt: skip
        raise InputError("a direction that reads right to left has not read the first steps "
                         "last: a prefix of its recording is not a recording of the prefix")
    cut = {n: getattr(trace, n)[:, :, :steps] for n in ("i", "f", "g", "o", "c", "h")}
    meta = {k: v for k, v in trace.meta.items() if k not in ("format", "version")}
    return replace(
        trace, x=trace.x[:steps], z=None if trace.z is None else trace.z[:, :, :steps],
        output=None if trace.output is None else trace.output[:steps],
        tokens=None if trace.tokens is None else trace.tokens[:steps], meta=meta, **cut,
    )  # fmt: skip
