"""A hostile .pt must never run: its payload would leave a marker directory if it did.

The control test (`trust=True`) proves the payload is live, so the refusals
below are real evidence, not a test that cannot fail.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lstm_engine import UnsafeFileError, load
from lstm_tui.cli import main


class Payload:
    """Unpickling this calls os.mkdir(marker): the trace a real attack would leave."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def _hostile_files(tmp_path: Path) -> dict[str, tuple[Path, Path]]:
    """name → (file, marker it would create), in every container a .pt can have."""
    files = {}

    def marker(name):
        return tmp_path / f"PWNED-{name}"

    p = tmp_path / "zip.pt"
    torch.save(Payload(marker("zip")), p)
    files["zip"] = (p, marker("zip"))
    p = tmp_path / "legacy.pt"
    torch.save(Payload(marker("legacy")), p, _use_new_zipfile_serialization=False)
    files["legacy"] = (p, marker("legacy"))
    p = tmp_path / "fake_checkpoint.pt"
    torch.save({"format": "lstm-tui-checkpoint", "version": 1,
                "state_dict": {"lstm.weight_ih_l0": Payload(marker("ckpt"))}}, p)  # fmt: skip
    files["checkpoint"] = (p, marker("ckpt"))
    p = tmp_path / "raw.pkl"
    p.write_bytes(pickle.dumps(Payload(marker("raw")), protocol=4))
    files["raw"] = (p, marker("raw"))
    return files


@pytest.fixture
def hostile(tmp_path):
    return _hostile_files(tmp_path)


def test_payload_is_live_when_trusted(tmp_path):
    path, marker = _hostile_files(tmp_path)["zip"]
    with pytest.raises(Exception):  # it unpickles to None, which is not a model
        load(path, trust=True)
    assert marker.exists(), "the control payload did not run; the refusal tests prove nothing"


@pytest.mark.parametrize("kind", ["zip", "legacy", "checkpoint", "raw"])
def test_load_refuses_without_running(hostile, kind):
    path, marker = hostile[kind]
    with pytest.raises(UnsafeFileError) as err:
        load(path)
    message = str(err.value)
    assert "arbitrary code" in message and "--trust" in message and "trust=True" in message
    assert not marker.exists()


@pytest.mark.parametrize("command", [["info"], ["record"]])
def test_cli_refuses_without_running(hostile, tmp_path, capsys, command):
    path, marker = hostile["zip"]
    extra = ["-o", str(tmp_path / "t.npz")] if command == ["record"] else []
    assert main([*command, str(path), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lstm-tui: error: ") and err.count("\n") == 1
    assert "--trust" in err and "Traceback" not in err
    assert not marker.exists()
    assert not (tmp_path / "t.npz").exists()


def test_console_script_refuses_without_running(hostile):
    path, marker = hostile["legacy"]
    script = Path(sys.executable).with_name("lstm-tui")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "lstm_tui"]
    proc = subprocess.run([*cmd, "info", str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "refused" in proc.stderr and "--trust" in proc.stderr
    assert not marker.exists()


# --- TorchScript: an archive is code (its __setstate__ runs inside torch.jit.load)
_TS_SOURCE = """
import sys, torch
from typing import Tuple
class Sub(torch.nn.Module):
    def __init__(self):
        super().__init__(); self.x = 1
    def forward(self, x):
        return x
    @torch.jit.export
    def __getstate__(self) -> Tuple[int, bool]:
        return (self.x, self.training)
    @torch.jit.export
    def __setstate__(self, state: Tuple[int, bool]) -> None:
        t = torch.from_file(MARKER, shared=True, size=4, dtype=torch.uint8)
        t.fill_(66)
        self.x = state[0] + int(t.sum().item()) * 0  # keeps t alive past dead-code elimination
        self.training = state[1]
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__(); self.sub = Sub(); self.lstm = torch.nn.LSTM(2, 3)
    def forward(self, x):
        return self.lstm(self.sub(x))[0]
torch.jit.save(torch.jit.script(Net()), sys.argv[1])
"""


def _hostile_torchscript(tmp_path: Path) -> tuple[Path, Path]:
    """A scripted LSTM model whose __setstate__ overwrites a marker file (torch.from_file).

    Built in a fresh interpreter from a script, as an attacker would: the
    marker's path is a literal in the archive's code.
    """
    marker = tmp_path / "PWNED-torchscript"
    script = tmp_path / "make_hostile.py"
    script.write_text(_TS_SOURCE.replace("MARKER", repr(str(marker))))
    path = tmp_path / "hostile_ts.pt"
    subprocess.run([sys.executable, str(script), str(path)], check=True, timeout=120)
    marker.write_bytes(b"\0\0\0\0")  # scripting ran the payload once; reset the marker
    return path, marker


def test_torchscript_payload_is_live_when_trusted(tmp_path):
    path, marker = _hostile_torchscript(tmp_path)
    load(path, trust=True)
    assert marker.read_bytes() == b"BBBB"
    marker.write_bytes(b"\0\0\0\0")
    with pytest.raises(UnsafeFileError, match="TorchScript.*code.*--trust"):
        load(path)
    assert marker.read_bytes() == b"\0\0\0\0"


@pytest.mark.parametrize("protocol", [0, 1])
def test_old_protocol_pickles_are_refused_as_pickles(tmp_path, protocol):
    """Protocols 0/1 have no header; they still get the pickle refusal, and never run."""
    marker = tmp_path / f"PWNED-p{protocol}"
    path = tmp_path / f"old{protocol}.pt"
    path.write_bytes(pickle.dumps(Payload(marker), protocol=protocol))
    with pytest.raises(UnsafeFileError, match="unpickling it can run arbitrary code.*--trust"):
        load(path)
    assert not marker.exists()
