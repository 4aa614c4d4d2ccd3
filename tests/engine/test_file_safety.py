"""Files that are not regular files (a FIFO, /dev/zero) are refused at once, never read.

Reading one blocks or never ends, so a regression would hang; each check runs
in a subprocess with a timeout, so a hang fails the test instead.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lstm_engine import InputError, LoadError
from lstm_engine.core.files import require_regular_file

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")

_PROBE = """
import sys
from lstm_engine import EngineError, Trace, load
what, path = sys.argv[1], sys.argv[2]
try:
    (load if what == "model" else Trace.load)(path)
except EngineError as e:
    print(type(e).__name__ + ": " + str(e))
    sys.exit(3)
print("opened")
"""


def _probe(what: str, path) -> str:
    try:
        done = subprocess.run([sys.executable, "-c", _PROBE, what, str(path)],
                              capture_output=True, text=True, timeout=20)  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what} loading of {path} hung instead of refusing it")
    assert done.returncode == 3, done.stdout + done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize("what", ["model", "trace"])
def test_a_fifo_is_refused_without_blocking(tmp_path, what):
    fifo = tmp_path / "model.pt"
    os.mkfifo(fifo)
    assert _probe(what, fifo) == f"LoadError: {fifo}: is a FIFO (named pipe), not a {what} file (only regular files are read)"


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
@pytest.mark.parametrize("what", ["model", "trace"])
def test_dev_zero_is_refused(what):
    assert "is a character device" in _probe(what, "/dev/zero")


def test_require_regular_file(tmp_path):
    f = tmp_path / "x.npy"
    f.write_bytes(b"data")
    link = tmp_path / "link.npy"
    link.symlink_to(f)
    assert require_regular_file(str(f)) == f
    assert require_regular_file(link, "input file") == link  # symlinks to files are fine
    with pytest.raises(LoadError, match="no such file"):
        require_regular_file(tmp_path / "missing")
    with pytest.raises(InputError, match="is a directory, not an input file"):
        require_regular_file(tmp_path, "input file", error=InputError)
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(InputError, match="FIFO"):
        require_regular_file(tmp_path / "pipe", "input file", error=InputError)
