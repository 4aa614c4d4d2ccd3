"""`lstm-tui record -o`: the trace file it writes (uncompressed and mapped, or --compress),
and what it never does to a file the user already has."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from lstm_engine import Trace, open_and_trace
from lstm_tui.cli import main

ROOT = Path(__file__).resolve().parents[2]
TAGGER = ROOT / "sample_models" / "tagger.pt"
TEXT = "The dog ate the apple"


@pytest.fixture(scope="module")
def reference():
    return open_and_trace(TAGGER, text=TEXT).trace


def _record(out: Path, *flags: str) -> int:
    return main(["record", str(TAGGER), "--text", TEXT, "-o", str(out), *flags])


def _methods(path: Path) -> set[int]:
    with zipfile.ZipFile(path) as zf:
        return {info.compress_type for info in zf.infolist()}


def _mapped(a) -> bool:
    import mmap

    probe = a
    while isinstance(probe, (np.ndarray, memoryview)):
        probe = probe.obj if isinstance(probe, memoryview) else probe.base
    return isinstance(probe, mmap.mmap)


def test_record_writes_an_uncompressed_trace_that_opens_mapped(tmp_path, reference, capsys):
    out = tmp_path / "run.npz"
    assert _record(out) == 0
    assert "→" in capsys.readouterr().out
    assert _methods(out) == {zipfile.ZIP_STORED}
    back = Trace.load(out)
    assert _mapped(back.c) and back.tokens == reference.tokens
    for name in ("x", "i", "f", "g", "o", "c", "h", "output"):
        np.testing.assert_array_equal(getattr(back, name), getattr(reference, name))
    with np.load(out, allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["gates"][:, :, :, 3], reference.o)


def test_record_compress_writes_the_compressed_layout(tmp_path, reference):
    out = tmp_path / "small.npz"
    assert _record(out, "--compress") == 0
    assert _methods(out) == {zipfile.ZIP_DEFLATED}
    with zipfile.ZipFile(out) as zf:
        assert "i.npy" in zf.namelist()
    back = Trace.load(out)
    assert not _mapped(back.c)
    np.testing.assert_array_equal(back.h, reference.h)
    assert back.identity == Trace.load(_saved(tmp_path, reference)).identity


def _saved(tmp_path, trace) -> Path:
    return trace.save(tmp_path / "plain.npz")


def test_an_existing_file_is_kept_without_force_and_replaced_with_it(tmp_path, capsys):
    out = tmp_path / "mine.npz"
    out.write_bytes(b"my own notes")
    assert _record(out) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--force" in err and err.count("\n") == 1
    assert out.read_bytes() == b"my own notes"
    assert _record(out, "--force") == 0
    assert Trace.load(out).T == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.npz"]


def test_a_symlink_planted_at_the_output_is_never_followed(tmp_path, capsys):
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    out = tmp_path / "run.npz"
    out.symlink_to(victim)
    assert _record(out) == 2
    assert "already exists" in capsys.readouterr().err
    assert _record(out, "--force") == 2  # --force replaces only a regular file
    assert "symbolic link" in capsys.readouterr().err
    assert victim.read_text() == "untouched" and out.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.npz", "victim.txt"]


def test_a_recorded_file_opens_again_in_info(tmp_path, capsys):
    out = tmp_path / "run.npz"
    assert _record(out) == 0
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "steps" in text and "The dog ate the apple" in text


def test_record_edit_compress_writes_the_branch_compressed(tmp_path, reference):
    out = tmp_path / "branch.npz"
    assert _record(out, "--edit", "ablate 2 from 3", "--compress") == 0
    assert _methods(out) == {zipfile.ZIP_DEFLATED}
    branch = Trace.load(out)
    assert branch.parent == reference.identity and len(branch.edits) == 1
    assert (branch.c[0, 0, 2:, 2] == 0).all()
