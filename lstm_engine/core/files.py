"""require_regular_file: the one check every file the user names goes through before it is read.

Reading a FIFO, /dev/zero or a terminal blocks or never ends, so the user
sees a hang instead of an error. Every entry point that reads a user's file
(models, traces, numeric input) refuses anything that is not a regular file
first, with one line naming the path, as the engine's errors do.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import EngineError, LoadError

_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


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
        raise error(f"{path}: cannot read it ({e.strerror or e})") from None
    if stat.S_ISDIR(st.st_mode):
        raise error(f"{path}: is a directory, not {a_what}")
    if not stat.S_ISREG(st.st_mode):
        kind = next((k for test, k in _KINDS if test(st.st_mode)), "not a regular file")
        raise error(f"{path}: is {kind}, not {a_what} (only regular files are read)")
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
