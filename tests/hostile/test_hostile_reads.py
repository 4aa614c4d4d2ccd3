"""Bounded reads and declared-size checks: small files that describe huge things are refused unread.

Each check is against a limit the user can raise with an environment
variable, and each refusal says how much would be needed.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile

import numpy as np
import pytest

from lstm_engine import LoadError
from lstm_engine.core import limits
from lstm_engine.core.files import json_depth, open_regular, read_bytes, read_json, read_npz
from lstm_engine.core.limits import (
    LimitError, TooLargeError, check_array_size, check_memory, check_nested, human_bytes,
)  # fmt: skip

import hostile_files as hf


# --- limits
@pytest.mark.parametrize("raw, value", [
    ("123", 123), ("4K", 4096), ("16M", 16 * 2**20), ("2g", 2 * 2**30), ("1T", 2**40),
    ("8GiB", 8 * 2**30), (" 5 ", 5),
])  # fmt: skip
def test_limits_read_sizes_from_the_environment(monkeypatch, raw, value):
    monkeypatch.setenv("LSTM_TUI_MAX_BYTES", raw)
    assert limits.max_bytes() == value


def test_a_bad_limit_setting_is_one_line_naming_the_variable(monkeypatch):
    monkeypatch.setenv("LSTM_TUI_MAX_MEMORY", "lots")
    with pytest.raises(LimitError) as e:
        limits.max_memory()
    assert str(e.value) == ("LSTM_TUI_MAX_MEMORY='lots' is not a size "
                            "(a whole number, optionally with K, M, G or T)")  # fmt: skip


def test_defaults(monkeypatch):
    for var in ("LSTM_TUI_MAX_BYTES", "LSTM_TUI_MAX_MEMORY", "LSTM_TUI_MAX_JSON_BYTES",
                "LSTM_TUI_MAX_DEPTH", "LSTM_TUI_MAX_ITEMS"):  # fmt: skip
        monkeypatch.delenv(var, raising=False)
    assert limits.max_bytes() == 4 * 2**30
    assert limits.max_memory() == min(4 * 2**30, limits.machine_memory() or 4 * 2**30)
    assert limits.max_json_bytes() == 16 * 2**20
    assert limits.max_depth() == 64
    assert limits.max_items() == 10_000_000
    monkeypatch.setenv("LSTM_TUI_MAX_MEMORY", "64T")  # a user's setting is not capped at the RAM
    assert limits.max_memory() == 64 * 2**40


def test_the_stride0_embedding_is_refused_by_its_declared_size_with_how_much(monkeypatch):
    monkeypatch.setenv("LSTM_TUI_MAX_MEMORY", "4G")
    with pytest.raises(TooLargeError) as e:
        check_array_size((10**9, 8), 4, "x.pt: embedding.weight")
    msg = str(e.value)
    assert msg.startswith("x.pt: embedding.weight [1000000000, 8] would need 29.8 GiB of memory")
    assert "the limit is 4.0 GiB (set LSTM_TUI_MAX_MEMORY=30518M to allow it)" in msg
    assert isinstance(e.value, LoadError)
    monkeypatch.setenv("LSTM_TUI_MAX_MEMORY", "30518M")
    assert check_array_size((10**9, 8), 4, "x.pt: embedding.weight") == 32 * 10**9


def test_array_size_arithmetic_does_not_overflow_and_refuses_nonsense():
    with pytest.raises(TooLargeError, match=r"\[1000000000000, 1000000000000\] would need"):
        check_array_size((10**12, 10**12), 8, "a.npy", limit=2**62)
    with pytest.raises(TooLargeError, match="has a negative size"):
        check_array_size((3, -1), 4, "a.npy")
    with pytest.raises(TooLargeError, match="is not a list of sizes"):
        check_array_size(("x",), 4, "a.npy")
    assert check_array_size((0, 10**12), 8, "a.npy") == 0
    assert check_array_size((), 8, "a.npy") == 8
    assert check_memory(100, "x", limit=100) == 100
    with pytest.raises(TooLargeError):
        check_memory(101, "x", limit=100)


def test_shared_sublists_are_counted_without_flattening():
    bomb = hf.shared_sublists(26)  # 2^26 leaves in 26 distinct lists
    with pytest.raises(TooLargeError) as e:
        check_nested(bomb, "m.pt: example 1")
    assert str(e.value) == ("m.pt: example 1: more than 10,000,000 values in one nested list "
                            "(raise LSTM_TUI_MAX_ITEMS to allow more)")  # fmt: skip
    assert check_nested(bomb, "x", max_leaves=2**26) == 2**26
    assert check_nested([[1.0, 2.0], [3.0, 4.0]], "x") == 4
    assert check_nested("text", "x") == 1


def test_deep_and_self_containing_lists_are_refused_without_recursion_errors():
    deep: list = []
    for _ in range(10_000):
        deep = [deep]
    with pytest.raises(TooLargeError, match="nested more than 64 levels deep"):
        check_nested(deep, "x")
    loop: list = [1.0]
    loop.append(loop)
    with pytest.raises(TooLargeError, match="a list that contains itself"):
        check_nested(loop, "x")


def test_human_bytes():
    assert [human_bytes(n) for n in (5, 1536, 3 * 2**30)] == ["5 bytes", "1.5 KiB", "3.0 GiB"]


# --- whole-file reads
def test_read_bytes_bounds_the_read(tmp_path, monkeypatch):
    f = tmp_path / "m.pt"
    f.write_bytes(b"x" * 100)
    assert read_bytes(f, limit=100) == b"x" * 100
    with pytest.raises(TooLargeError) as e:
        read_bytes(f, limit=99)
    assert str(e.value) == (f"{f}: holds more than 99 bytes (100 bytes); refused unread "
                            "(set LSTM_TUI_MAX_BYTES=1M to allow it)")  # fmt: skip
    monkeypatch.setenv("LSTM_TUI_MAX_BYTES", "50")
    with pytest.raises(TooLargeError):
        read_bytes(f)


def _in_subprocess(code: str) -> str:
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=20)  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail("the read hung instead of refusing")
    return done.stdout.strip() + done.stderr.strip()


@pytest.mark.parametrize("make", ["fifo", "dev_zero", "symlink_loop"])
def test_non_regular_files_are_refused_without_blocking(tmp_path, make):
    path = getattr(hf, make)(tmp_path)
    out = _in_subprocess(
        "import sys\nfrom lstm_engine.core.files import read_bytes, read_npz\n"
        f"for f in (read_bytes, read_npz):\n"
        f"    try: f({str(path)!r})\n"
        f"    except Exception as e: print(type(e).__name__, e)\n"
    )
    lines = out.splitlines()
    assert len(lines) == 2, out
    expected = {"fifo": "is a FIFO (named pipe)", "dev_zero": "is a character device",
                "symlink_loop": "is a loop of symbolic links"}[make]  # fmt: skip
    for line in lines:
        assert line.startswith("LoadError ") and expected in line


def test_open_regular_rechecks_the_opened_file(tmp_path, monkeypatch):
    """A FIFO swapped in after require_regular_file's check is refused, not read (never blocks)."""
    from lstm_engine.core import files

    fifo = hf.fifo(tmp_path)
    monkeypatch.setattr(files, "require_regular_file", lambda p, *a, **k: p)
    with pytest.raises(LoadError, match="is a FIFO"):
        open_regular(fifo)


# --- JSON
def test_read_json_refuses_size_and_depth_before_parsing():
    assert read_json('{"a": [1, {"b": "[[[[[["}]}', "meta") == {"a": [1, {"b": "[[[[[["}]}
    with pytest.raises(TooLargeError) as e:
        read_json("[" * 100 + "]" * 100, "run.npz: meta")
    assert str(e.value) == ("run.npz: meta: JSON nested 100 levels deep, more than the 64 allowed "
                            "(raise LSTM_TUI_MAX_DEPTH to allow it)")  # fmt: skip
    too_big = r"^run.npz: meta: 1.0 KiB of JSON, more than the 1000 bytes allowed"
    with pytest.raises(TooLargeError, match=too_big):
        read_json(" " * 1024, "run.npz: meta", max_size=1000)
    bomb = "[" * 10**6 + "]" * 10**6  # a RecursionError in json.loads
    with pytest.raises(TooLargeError):
        read_json(bomb, "meta")
    with pytest.raises(LoadError, match=r"^meta: not readable JSON \(RecursionError\)$"):
        read_json(bomb, "meta", depth=10**7)  # with the limit lifted: still one LoadError


@pytest.mark.parametrize("bad", ['{"a": ', "NaN?", b"\xff\xfe{}", '{"a": "\\ud800"'])
def test_read_json_invalid_is_one_load_error(bad):
    with pytest.raises(LoadError, match=r"^meta: not valid JSON"):
        read_json(bad, "meta")


def test_json_depth_ignores_brackets_in_strings():
    assert json_depth('["[[[", {"k": "}}}\\"[["}]') == 2
    assert json_depth("3") == 0


# --- npz
def test_read_npz_reads_what_np_load_reads_read_only_for_good(tmp_path):
    path = tmp_path / "a.npz"
    arrays = {"x": np.arange(12, dtype=np.float32).reshape(3, 4), "f": np.asfortranarray(np.eye(3)),
              "s": np.array("meta text"), "e": np.zeros((0, 5)),
              "b": np.arange(3, dtype=">i4")}  # fmt: skip
    np.savez_compressed(path, **arrays)
    got = read_npz(path)
    assert sorted(got) == sorted(arrays)
    for k, a in arrays.items():
        assert got[k].dtype == a.dtype and got[k].shape == a.shape
        np.testing.assert_array_equal(got[k], a)
        assert not got[k].flags.writeable
        with pytest.raises(ValueError):
            got[k].flags.writeable = True
    assert sorted(read_npz(path, ["x", "nope"])) == ["x"]
    assert sorted(read_npz(path, lambda k: k.startswith("s"))) == ["s"]


def test_an_unused_3gib_member_is_never_read(tmp_path, monkeypatch):
    path = hf.npz_with_unused_huge_member(tmp_path)
    got = read_npz(path, ["x"])
    assert list(got) == ["x"]
    monkeypatch.setenv("LSTM_TUI_MAX_BYTES", "1G")
    declared = r"array 'unused' declares 3.0 GiB, more than the 1.0 GiB allowed"
    with pytest.raises(TooLargeError, match=declared):
        read_npz(path, None)  # asked for, it is refused by its declared size, not read


def test_a_header_promising_1e12_elements_is_truncated_not_a_memory_error(tmp_path):
    path = hf.npz_with_header_bomb(tmp_path)
    with pytest.raises(LoadError) as e:
        read_npz(path)
    assert "array 'x' is truncated: its header promises 7.3 TiB of data in a member of" in (
        str(e.value))


def test_pickled_members_are_refused_unread(tmp_path):
    path = tmp_path / "a.npz"
    marker = tmp_path / "PWNED"
    np.savez(path, x=np.array([hf.Payload(marker)], dtype=object))
    refusal = "holds Python objects, not numbers .refused: reading it would need unpickling.$"
    with pytest.raises(LoadError, match=refusal):
        read_npz(path)
    assert not marker.exists()


def test_kept_members_together_fit_the_memory_limit(tmp_path, monkeypatch):
    path = tmp_path / "a.npz"
    np.savez(path, a=np.zeros(1000), b=np.zeros(1000))
    assert len(read_npz(path, max_total=16000)) == 2
    with pytest.raises(TooLargeError, match="its arrays would need 15.6 KiB of memory"):
        read_npz(path, max_total=15999)


def test_huge_meta_text_is_refused_by_its_declared_size(tmp_path):
    path = hf.npz_with_huge_meta(tmp_path, mb=20)
    assert path.stat().st_size < 200_000
    with pytest.raises(TooLargeError, match="array 'meta': text longer than the 16.0 MiB allowed"):
        read_npz(path)


@pytest.mark.parametrize("damage", ["crc", "truncated", "trailing", "not_zip", "dup"])
def test_damaged_archives_are_one_load_error(tmp_path, damage):
    path = tmp_path / "a.npz"
    np.savez(path, x=np.arange(100.0))
    raw = bytearray(path.read_bytes())
    if damage == "crc":
        i = raw.index(b"\x00\x00\x00\x00\x00\x00\xf0?")  # the float 1.0 inside x's data
        raw[i + 7] ^= 0xFF
        path.write_bytes(bytes(raw))
    elif damage == "truncated":
        path.write_bytes(bytes(raw[: len(raw) // 2]))
    elif damage == "not_zip":
        path.write_bytes(b"PK\x03\x04 nothing else")
    elif damage == "trailing":
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("x.npy", _npy(np.arange(3.0)) + b"junk")
    elif damage == "dup":
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("x.npy", _npy(np.arange(3.0)))
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                zf.writestr("x.npy", _npy(np.arange(4.0)))
    with pytest.raises(LoadError) as e:
        read_npz(path)
    assert str(e.value).startswith(str(path)) and "\n" not in str(e.value)


def _npy(a) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()
