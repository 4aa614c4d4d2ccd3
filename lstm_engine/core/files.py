"""Reading and writing the user's files safely: the one way in, and the one way out.

Reading. `require_regular_file` is the check every file the user names goes
through: reading a FIFO, /dev/zero or a terminal blocks or never ends, so
the user would see a hang instead of an error. `open_regular` opens without
blocking and re-checks the opened file (so a FIFO swapped in after the check
is still refused); `read_bytes`, `read_json` and `read_npz` read with an
explicit bound, refusing what a file *declares* before materialising it
(sizes from core/limits.py, each one the user can raise with an environment
variable: LSTM_TUI_MAX_BYTES, LSTM_TUI_MAX_MEMORY, LSTM_TUI_MAX_JSON_BYTES,
LSTM_TUI_MAX_DEPTH).

Writing. `write_file` is how the project writes a file (traces, checkpoints,
`lstm-tui record`): into a temporary file created exclusively beside the
target, with an unpredictable name, never through a symlink; then linked to
the target name (which fails if the name exists, even if it appeared a moment
ago) or, when asked to overwrite, renamed over a regular file and nothing else.

Every failure is an EngineError with one line naming the path.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import stat
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, BinaryIO

from .errors import EngineError, LoadError
from .limits import TooLargeError, check_memory, max_bytes, max_depth, max_json_bytes

_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISDIR, "a directory"),
)


class WriteError(EngineError):
    """A file could not be written where asked (permissions, disk full, a non-regular target)."""


class TargetExistsError(WriteError):
    """The target name exists (or appeared while writing) and overwriting was not asked for."""


def _kind(mode: int) -> str:
    return next((k for test, k in _KINDS if test(mode)), "not a regular file")


def require_regular_file(
    path: str | os.PathLike, what: str = "file", *, error: type[EngineError] = LoadError
) -> Path:
    """`path` as a Path if it names a regular file (symlinks followed); else `error` in one line.

    `what` names what the file should have been ("model file", "trace file",
    "input file"); `error` is the EngineError subclass to raise (InputError for
    --input, LoadError for models and traces).
    """
    path = Path(path)
    a_what = f"{'an' if what[:1] in 'aeiou' else 'a'} {what}"
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise error(f"{path}: is a loop of symbolic links, not {a_what}") from None
        raise error(f"{path}: cannot read it ({e.strerror or e})") from None
    if stat.S_ISDIR(st.st_mode):
        raise error(f"{path}: is a directory, not {a_what}")
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{path}: is {_kind(st.st_mode)}, not {a_what} (only regular files are read)")
    return path


def read_input_array(path: str | os.PathLike):
    """A numeric input saved with np.save, read without unpickling; InputError in one line.

    The one reader of `--input X.npy` for every front end, so that a pickled
    object array, a truncated file or a header promising 10^11 rows gets the
    same clear refusal everywhere.
    """
    import numpy as np

    from .errors import InputError

    path = require_regular_file(path, "input file", error=InputError)
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise InputError(
                f"{path}: holds Python objects, not a numeric array "
                "(refused: loading it would need unpickling)"
            ) from None
        raise InputError(f"{path}: not a readable .npy array ({e})") from None
    except MemoryError:
        raise InputError(f"{path}: the array it describes does not fit in memory") from None
    except (OSError, EOFError) as e:
        raise InputError(f"{path}: not a readable .npy array ({e})") from None


# --- bounded reads
def open_regular(
    path: str | os.PathLike, what: str = "file", *, error: type[EngineError] = LoadError
) -> BinaryIO:
    """`path` opened for binary reading if it is a regular file; else `error` in one line.

    Checked before opening (require_regular_file's messages) and again on the
    opened descriptor, and opened with O_NONBLOCK, so a FIFO or device put in
    its place between the check and the open is refused instead of blocking.
    The caller closes the file (use it in a `with`).
    """
    path = require_regular_file(path, what, error=error)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise error(f"{path}: cannot read it ({e.strerror or e})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{path}: is {_kind(st.st_mode)}, not a regular file "
                        "(only regular files are read)")  # fmt: skip
        if flags & getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(
    path: str | os.PathLike, what: str = "file", *, limit: int | None = None,
    error: type[EngineError] = LoadError,
) -> bytes:  # fmt: skip
    """The whole of a regular file, refused unread if it holds more than `limit` bytes.

    `limit` defaults to LSTM_TUI_MAX_BYTES (4 GiB unless the user raises it;
    see core/limits.py). A file that grows past the limit while being read is
    refused too (at most limit + 1 bytes are ever read). A TooLargeError is a
    LoadError; other failures are `error`.
    """
    limit = max_bytes() if limit is None else limit
    with open_regular(path, what, error=error) as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > limit:
            raise _too_big(path, size, limit)
        try:
            data = fh.read(limit + 1)
        except OSError as e:
            raise error(f"{path}: cannot read it ({e.strerror or e})") from None
    if len(data) > limit:
        raise _too_big(path, len(data), limit)
    return data


def _too_big(path, size: int, limit: int, var: str = "LSTM_TUI_MAX_BYTES") -> TooLargeError:
    from .limits import human_bytes

    return TooLargeError(
        f"{path}: holds more than {human_bytes(limit)}"
        f"{f' ({human_bytes(size)})' if size > limit else ''}; refused unread "
        f"(set {var}={-(-size // 2**20)}M to allow it)"
    )


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


def json_depth(text: str | bytes) -> int:
    """How deeply arrays and objects nest in a JSON text, counted without parsing it (no recursion).

    Brackets inside strings do not count. Linear time; used to refuse a
    JSON bomb before json.loads recurses into it.
    """
    import numpy as np

    if isinstance(text, str):
        text = text.encode("utf-8", "surrogatepass")
    b = np.frombuffer(_JSON_STRING.sub(b"", text), np.uint8)
    where = np.flatnonzero((b == 0x5B) | (b == 0x7B) | (b == 0x5D) | (b == 0x7D))
    if not where.size:
        return 0
    opens = (b[where] == 0x5B) | (b[where] == 0x7B)
    return int(np.cumsum(np.where(opens, 1, -1).astype(np.int32)).max(initial=0))


def read_json(
    text: str | bytes, what: str, *, max_size: int | None = None, depth: int | None = None,
    error: type[EngineError] = LoadError,
) -> Any:  # fmt: skip
    """Parse one JSON document (str or UTF-8 bytes) from a file, bounded in size and nesting.

    `what` names it in messages ("run.npz: meta"). More than `max_size`
    characters (bytes, for bytes; default LSTM_TUI_MAX_JSON_BYTES, 16M) or
    arrays/objects nested deeper than `depth` (LSTM_TUI_MAX_DEPTH, 64) is a
    TooLargeError, checked before parsing, so a JSON bomb costs no memory
    and no recursion; invalid JSON is `error`. Never raises anything else.
    """
    max_size = max_json_bytes() if max_size is None else max_size
    depth = max_depth() if depth is None else depth
    if len(text) > max_size:
        from .limits import human_bytes

        raise TooLargeError(
            f"{what}: {human_bytes(len(text))} of JSON, "
            f"more than the {human_bytes(max_size)} allowed "
            f"(set LSTM_TUI_MAX_JSON_BYTES={-(-len(text) // 2**20)}M to allow it)"
        )
    nested = json_depth(text)
    if nested > depth:
        raise TooLargeError(f"{what}: JSON nested {nested} levels deep, more than the {depth} "
                            "allowed (raise LSTM_TUI_MAX_DEPTH to allow it)")  # fmt: skip
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise error(f"{what}: not valid JSON ({e})") from None
    except (RecursionError, MemoryError, ValueError, TypeError) as e:
        raise error(f"{what}: not readable JSON ({type(e).__name__})") from None


def _npy_header(fh, np) -> tuple[tuple, bool, Any, int]:
    """(shape, fortran_order, dtype, header length) of the .npy stream at fh's start."""
    fmt = np.lib.format
    version = fmt.read_magic(fh)
    if version == (1, 0):
        shape, fortran, dtype = fmt.read_array_header_1_0(fh)
    elif version == (2, 0):
        shape, fortran, dtype = fmt.read_array_header_2_0(fh)
    else:  # 3.0 (utf-8 field names) has no public reader
        shape, fortran, dtype = fmt._read_array_header(fh, version)
    return tuple(shape), bool(fortran), dtype, fh.tell()


def read_npz(
    path: str | os.PathLike,
    keep: Collection[str] | Callable[[str], bool] | None = None,
    *,
    what: str = "file",
    error: type[EngineError] = LoadError,
    max_total: int | None = None,
    max_text: int | None = None,
) -> dict[str, Any]:
    """The arrays of an .npz (numpy zip) that `keep` names, read read-only and within bounds.

    `keep` is a collection of array names (as np.load names them, without
    ".npy") or a predicate; other members are never decompressed, whatever
    they declare. For each kept member, before reading its data:
      * the zip header's uncompressed size is at most LSTM_TUI_MAX_BYTES;
      * the .npy header parses, its dtype holds no Python objects (nothing is
        ever unpickled), and shape × itemsize fits in the member (a header
        promising 10^12 elements in a small member is "truncated", not a
        MemoryError);
      * the kept arrays together fit `max_total` bytes (LSTM_TUI_MAX_MEMORY);
      * a string array (meta text) holds at most `max_text` characters
        (LSTM_TUI_MAX_JSON_BYTES).
    A zip member's decompressed output is bounded by its declared size and
    its CRC is checked. The arrays are views of immutable `bytes`, so they are
    read-only for good: `a.flags.writeable = True` raises. Every failure is
    `error` (or TooLargeError, a LoadError) naming the path; nothing else escapes.
    """
    import zipfile

    import numpy as np

    from .limits import human_bytes

    names = None if keep is None or callable(keep) else frozenset(keep)
    wanted = keep if names is None else names.__contains__
    limit = max_bytes()
    max_text = max_json_bytes() if max_text is None else max_text
    out: dict[str, Any] = {}
    total = 0
    with open_regular(path, what, error=error) as fh:
        try:
            zf = zipfile.ZipFile(fh)
        except Exception as e:  # noqa: BLE001 - BadZipFile, EOFError, NotImplementedError, ...
            raise error(f"{path}: not a readable .npz archive ({_one_line(e)})") from None
        with zf:
            for info in zf.infolist():
                key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                if wanted is not None and not wanted(key):
                    continue
                if key in out:
                    raise error(f"{path}: holds two arrays named {key!r}")
                where = f"{path}: array {key!r}"
                if info.file_size > limit:
                    raise TooLargeError(
                        f"{where} declares {human_bytes(info.file_size)}, more than the "
                        f"{human_bytes(limit)} allowed (set LSTM_TUI_MAX_BYTES="
                        f"{-(-info.file_size // 2**20)}M to allow it)"
                    )
                try:
                    with zf.open(info) as member:
                        shape, fortran, dtype, start = _npy_header(member, np)
                        if dtype.hasobject:
                            raise error(f"{where} holds Python objects, not numbers "
                                        "(refused: reading it would need unpickling)")  # fmt: skip
                        numel = 1
                        for d in shape:
                            numel *= int(d)
                        nbytes = numel * dtype.itemsize
                        if start + nbytes > info.file_size:
                            raise error(
                                f"{where} is truncated: its header promises {human_bytes(nbytes)} "
                                f"of data in a member of {human_bytes(info.file_size)}"
                            )
                        chars = nbytes // 4 if dtype.kind == "U" else nbytes
                        if dtype.kind in "US" and chars > max_text:
                            raise TooLargeError(
                                f"{where}: text longer than the {human_bytes(max_text)} allowed "
                                "(raise LSTM_TUI_MAX_JSON_BYTES to allow it)"
                            )
                        total += nbytes
                        check_memory(total, f"{path}: its arrays", limit=max_total)
                        data = member.read(nbytes)
                        if len(data) != nbytes:
                            raise error(f"{where} is truncated")
                        if member.read(1):
                            raise error(f"{where} has data after its array")
                except EngineError:
                    raise
                except Exception as e:  # noqa: BLE001 - numpy's header parser raises SyntaxError,
                    # tokenize.TokenError, ValueError...; zipfile BadZipFile, zlib.error, EOFError,
                    # NotImplementedError: for a file from outside, all mean "damaged"
                    raise error(f"{where} is not a readable array ({_one_line(e)})") from None
                order = "F" if fortran else "C"
                try:  # a view of immutable bytes: read-only, and it cannot be made writable
                    arr = np.ndarray(shape, dtype, buffer=data, order=order)
                except (ValueError, TypeError) as e:
                    raise error(f"{where} is not a readable array ({_one_line(e)})") from None
                out[key] = arr
    return out


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


# --- the one way to write a file
_TMP_RE = re.compile(r"\.lstm-tui-[0-9a-f]{16}\.partial$")


def _umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux /proc)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)  # elsewhere: the classic set-and-restore
    os.umask(old)
    return old


def temporary_name(target: str | os.PathLike) -> str:
    """A fresh, unpredictable name for the temporary file that will become `target` (same folder).

    `NAME.lstm-tui-<16 hex digits>.partial`, where NAME is the target's name
    cut to 32 characters of [A-Za-z0-9._-] without leading dots: at most 73
    characters however long the target's name, visible in a listing (no
    leading dot), and saying whose it is and what it was becoming. A save cut
    short by SIGKILL leaves only such a file; it is safe to delete
    (`remove_stale_partials` does it for files older than a day).
    """
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", Path(target).name)[:32].lstrip(".") or "file"
    return f"{stem}.lstm-tui-{secrets.token_hex(8)}.partial"


def remove_stale_partials(folder: str | os.PathLike, *, older_than: float = 86400.0) -> list[Path]:
    """Delete temporary files that a killed lstm-tui left in `folder`; returns what was removed.

    Only regular files named as `temporary_name` makes them, owned by this
    user and untouched for `older_than` seconds (a day), so a save still in
    progress elsewhere is never disturbed. Errors are ignored: it is tidying.
    """
    removed: list[Path] = []
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not _TMP_RE.search(entry.name):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if (stat.S_ISREG(st.st_mode) and st.st_uid == os.getuid()
                    and now - st.st_mtime > older_than):  # fmt: skip
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


#: errors from os.link that mean "this filesystem has no hard links" (vfat, some FUSE, SMB)
_NO_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EMLINK, errno.EXDEV}


def write_file(
    path: str | os.PathLike,
    write: Callable[[BinaryIO], None],
    *,
    overwrite: bool = False,
    exists_hint: str = "pass overwrite=True to replace it",
) -> Path:
    """Write `path` by calling `write(fh)` on a temporary file, then put that in place atomically.

    The temporary file (see `temporary_name`) is created in the target's
    folder with O_CREAT|O_EXCL|O_NOFOLLOW and mode 0o600, so nothing at that
    name is followed, truncated or deleted; once written it gets the mode a
    new file would get under the umask (an overwritten file keeps its own
    permission bits), is flushed and fsynced. Then:

    * overwrite=False: os.link(temporary, path), which fails if the name
      exists, even if it appeared while we were writing, so of two writers
      to a new name exactly one wins and the other gets TargetExistsError
      "PATH already exists; not overwriting it (EXISTS_HINT)". A dangling
      symlink counts as existing. On a filesystem without hard links (vfat,
      some FUSE) the fallback creates PATH empty with O_EXCL as a placeholder
      and renames over it: still exclusive, but a reader may see an empty
      file for that moment.
    * overwrite=True: only a regular file (or no file) is replaced, by
      os.replace; a symlink (dangling or not), directory, device, FIFO or
      socket at PATH is refused. The rename never follows a symlink.

    `exists_hint` is the caller's way to say how to overwrite ("pass --force
    to replace it"). Every failure is a WriteError (TargetExistsError for an
    existing name) with one line naming the path, an EngineError raised by
    `write` passes through, and in every case, KeyboardInterrupt included,
    the temporary file is removed. Returns `path` as a Path.
    """
    with PartialFile(path, overwrite=overwrite, exists_hint=exists_hint) as part:
        try:
            write(part.fh)
        except OSError as e:
            raise WriteError(f"cannot write {part.path}: {e.strerror or e}") from None
        return part.commit()


class PartialFile:
    """A file being written: a temporary beside `path` that becomes `path` only on `commit`.

    write_file's machinery for a writer that cannot be one callback: a trace
    recorded straight into its file is memory-mapped and filled by the
    recorder, then finished and committed. `fh` is open for reading and
    writing (an r+ memory map needs both). Leaving the `with` block without
    `commit` (an exception, Ctrl-C, a recording abandoned) removes the
    temporary file, so nothing is left at `path`; after `commit` the file
    stays open until the block ends, for the caller to map it read-only.
    The same checks and messages as write_file, which is built on it.
    """

    def __init__(self, path: str | os.PathLike, *, overwrite: bool = False,
                 exists_hint: str = "pass overwrite=True to replace it") -> None:  # fmt: skip
        path = Path(path)
        folder = path.parent
        try:
            if not stat.S_ISDIR(os.stat(folder).st_mode):
                raise WriteError(f"cannot write {path}: {folder} is not a directory")
        except FileNotFoundError:
            raise WriteError(f"cannot write {path}: {folder}: no such directory") from None
        except OSError as e:
            raise WriteError(f"cannot write {path}: {folder}: {e.strerror or e}") from None
        keep_mode = _check_target(path, overwrite, exists_hint)
        self.path, self.overwrite, self.exists_hint = path, overwrite, exists_hint
        self._mode = keep_mode if keep_mode is not None else 0o666 & ~_umask()
        self.committed = False
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        flags |= getattr(os, "O_CLOEXEC", 0)
        for _ in range(16):
            tmp = folder / temporary_name(path)
            try:
                fd = os.open(tmp, flags, 0o600)
                break
            except FileExistsError:
                continue
            except OSError as e:
                raise WriteError(f"cannot write {path}: {e.strerror or e}") from None
        else:
            raise WriteError(f"cannot write {path}: no free temporary name in {folder}")
        self.tmp = tmp
        self.fh: BinaryIO = os.fdopen(fd, "r+b")

    def commit(self) -> Path:
        """Flush, fsync and link the file into place (or rename it over a regular file)."""
        path, fh = self.path, self.fh
        try:
            fh.flush()
            os.fchmod(fh.fileno(), self._mode)
            os.fsync(fh.fileno())
            if self.overwrite:
                _check_target(path, self.overwrite, self.exists_hint)  # as late as possible
                os.replace(self.tmp, path)
            else:
                _link_exclusive(self.tmp, path, self.exists_hint)
        except OSError as e:
            raise WriteError(f"cannot write {path}: {e.strerror or e}") from None
        self.committed = True
        _fsync_dir(path.parent)
        self._unlink()
        return path

    def _unlink(self) -> None:
        try:
            os.unlink(self.tmp)
        except OSError:  # gone already (renamed into place), or not ours to remove any more
            pass

    def close(self) -> None:
        """Close the file; without a commit, the temporary file is removed (nothing is kept)."""
        try:
            self.fh.close()
        finally:
            if not self.committed:
                self._unlink()

    def __enter__(self) -> "PartialFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _check_target(path: Path, overwrite: bool, hint: str) -> int | None:
    """Refuse what must not be replaced; the permission bits to keep when overwriting a file."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise WriteError(f"cannot write {path}: {e.strerror or e}") from None
    if not overwrite:
        raise TargetExistsError(f"{path} already exists; not overwriting it ({hint})")
    if not stat.S_ISREG(st.st_mode):
        raise WriteError(f"{path}: is {_kind(st.st_mode)}; refusing to replace it "
                         "(only a regular file is replaced)")  # fmt: skip
    return stat.S_IMODE(st.st_mode) & 0o777


def _link_exclusive(tmp: Path, path: Path, hint: str) -> None:
    raced = TargetExistsError(
        f"{path} already exists (it appeared while writing); not overwriting it ({hint})"
    )
    try:
        os.link(tmp, path, follow_symlinks=False)
        return
    except FileExistsError:
        raise raced from None
    except OSError as e:
        if e.errno not in _NO_LINKS:
            raise
    # no hard links here: claim the name with an exclusive empty file, then rename over it
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        placeholder = os.open(path, flags, 0o600)
    except FileExistsError:
        raise raced from None
    try:
        mine = os.fstat(placeholder)
    finally:
        os.close(placeholder)
    try:
        os.replace(tmp, path)
    except BaseException:
        try:  # remove the placeholder only if it is still ours
            st = os.lstat(path)
            if (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino):
                os.unlink(path)
        except OSError:
            pass
        raise


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable where directories can be fsynced (best effort)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
