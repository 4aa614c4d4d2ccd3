"""write_file: the one way lstm-tui writes a file, tried the way an attacker or a race would.

Nothing at a predictable name is touched, nothing planted is followed, two
writers to a new name cannot both win, --force replaces regular files only,
and no temporary file survives any failure.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

import pytest

from lstm_engine.core import files
from lstm_engine.core.errors import EngineError
from lstm_engine.core.files import (
    TargetExistsError, WriteError, remove_stale_partials, temporary_name, write_file,
)  # fmt: skip


def _bytes(data: bytes):
    return lambda fh: fh.write(data)


def _listing(folder) -> list[str]:
    return sorted(os.listdir(folder))


def test_writes_a_new_file_with_the_umask_mode_and_nothing_else(tmp_path):
    old = os.umask(0o027)
    try:
        out = write_file(tmp_path / "run.npz", _bytes(b"trace"))
    finally:
        os.umask(old)
    assert out == tmp_path / "run.npz"
    assert out.read_bytes() == b"trace"
    assert stat.S_IMODE(out.stat().st_mode) == 0o640  # 0o666 & ~0o027, not the temporary's 0o600
    assert _listing(tmp_path) == ["run.npz"]


def test_a_users_file_at_the_old_temporary_name_is_untouched(tmp_path):
    """The old code wrote `.NAME.tmp` and deleted it afterwards, whoever's it was."""
    mine = tmp_path / ".run.npz.tmp"
    mine.write_bytes(b"my notes")
    write_file(tmp_path / "run.npz", _bytes(b"trace"))
    assert mine.read_bytes() == b"my notes"


def test_a_planted_symlink_at_the_temporary_name_is_never_followed(tmp_path, monkeypatch):
    """Even a guessed name (here forced) is created with O_EXCL|O_NOFOLLOW: a new name is tried."""
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    names = iter([f"run.npz.lstm-tui-{d * 16}.partial" for d in "01"])
    monkeypatch.setattr(files, "temporary_name", lambda target: next(names))
    (tmp_path / "run.npz.lstm-tui-0000000000000000.partial").symlink_to(victim)
    write_file(tmp_path / "run.npz", _bytes(b"trace"))
    assert victim.read_bytes() == b"precious"
    assert (tmp_path / "run.npz").read_bytes() == b"trace"
    assert os.path.islink(tmp_path / f"run.npz.lstm-tui-{'0' * 16}.partial")  # not removed either


def test_temporary_names_are_unpredictable_short_and_visible():
    long = "x" * 250 + ".npz"
    names = {temporary_name(long) for _ in range(50)}
    assert len(names) == 50
    for n in names:
        assert len(n) <= 73 and not n.startswith(".")
        assert ".lstm-tui-" in n and n.endswith(".partial")
    assert temporary_name("..hidden").startswith("hidden.lstm-tui-")
    # only [A-Za-z0-9._-] from the target's name
    assert temporary_name("a b\x1b[2J.npz").startswith("a_b__2J.npz.lstm-tui-")


def test_a_250_character_name_can_be_written(tmp_path):
    name = "t" * 250 + ".npz"  # 254 bytes: the old `.NAME.tmp` (259) was too long for a name
    out = write_file(tmp_path / name, _bytes(b"ok"))
    assert out.read_bytes() == b"ok"
    assert _listing(tmp_path) == [name]


def test_an_existing_file_is_not_overwritten(tmp_path):
    target = tmp_path / "run.npz"
    target.write_bytes(b"old")
    with pytest.raises(TargetExistsError) as e:
        write_file(target, _bytes(b"new"), exists_hint="pass --force to replace it")
    assert str(e.value) == (f"{target} already exists; not overwriting it "
                            "(pass --force to replace it)")  # fmt: skip
    assert target.read_bytes() == b"old"
    assert _listing(tmp_path) == ["run.npz"]


def test_a_dangling_symlink_counts_as_existing_without_overwrite(tmp_path):
    link = tmp_path / "run.npz"
    link.symlink_to(tmp_path / "elsewhere.npz")
    with pytest.raises(TargetExistsError):
        write_file(link, _bytes(b"x"))
    assert not (tmp_path / "elsewhere.npz").exists()
    assert _listing(tmp_path) == ["run.npz"]


def test_losing_the_race_for_a_new_name_is_an_error_and_the_winner_is_kept(tmp_path):
    """The name appears while we write (another `record`): link() fails, nothing is replaced."""
    target = tmp_path / "run.npz"

    def slow(fh):
        fh.write(b"second")
        target.write_bytes(b"first")  # the other writer finishes meanwhile

    with pytest.raises(TargetExistsError, match="appeared while writing"):
        write_file(target, slow)
    assert target.read_bytes() == b"first"
    assert _listing(tmp_path) == ["run.npz"]


def test_two_concurrent_writers_to_a_new_name_exactly_one_wins(tmp_path):
    target = tmp_path / "run.npz"
    barrier = threading.Barrier(8)
    results: list[object] = []

    def writer(k: int):
        def body(fh):
            fh.write(b"writer %d" % k)
            barrier.wait(timeout=10)  # every writer has its temporary file before any links

        try:
            write_file(target, body)
            results.append(k)
        except TargetExistsError:
            results.append("lost")

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    winners = [r for r in results if r != "lost"]
    assert len(results) == 8 and len(winners) == 1
    assert target.read_bytes() == b"writer %d" % winners[0]
    assert _listing(tmp_path) == ["run.npz"]


def test_overwrite_replaces_a_regular_file_keeping_its_permissions(tmp_path):
    target = tmp_path / "run.npz"
    target.write_bytes(b"old")
    target.chmod(0o600)
    write_file(target, _bytes(b"new"), overwrite=True)
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert _listing(tmp_path) == ["run.npz"]


def _fifo(p):
    os.mkfifo(p)


def _socket(p):
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(p))
    s.close()


def _dir(p):
    p.mkdir()


@pytest.mark.parametrize("make, kind", [
    (_fifo, "a FIFO (named pipe)"), (_socket, "a socket"), (_dir, "a directory"),
    (lambda p: p.symlink_to(p.parent / "nowhere"), "a symbolic link"),
    (lambda p: p.symlink_to(p.parent / "victim.txt"), "a symbolic link"),
])  # fmt: skip
def test_overwrite_refuses_anything_but_a_regular_file(tmp_path, make, kind):
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    target = tmp_path / "run.npz"
    make(target)
    before = os.lstat(target)
    with pytest.raises(WriteError) as e:
        write_file(target, _bytes(b"x"), overwrite=True)
    assert str(e.value).startswith(f"{target}: is {kind}; refusing to replace it")
    after = os.lstat(target)
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    assert victim.read_bytes() == b"precious"
    assert sorted(set(_listing(tmp_path)) - {"nowhere"}) == ["run.npz", "victim.txt"]


def test_overwrite_refuses_a_device_node(tmp_path):
    """As root, `-o /dev/null --force` used to replace the real /dev/null with a regular file."""
    dev = tmp_path / "null"
    try:
        os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (PermissionError, OSError):
        dev = None
    for target in [p for p in (dev, "/dev/null") if p is not None]:
        before = os.lstat(target)
        with pytest.raises(WriteError, match="is a character device; refusing to replace it"):
            write_file(target, _bytes(b"x"), overwrite=True)
        assert os.lstat(target).st_ino == before.st_ino
        assert stat.S_ISCHR(os.lstat(target).st_mode)


def test_a_failing_writer_leaves_no_temporary_file_and_no_target(tmp_path):
    def boom(fh):
        fh.write(b"half")
        raise EngineError("model cannot be saved")

    with pytest.raises(EngineError, match="model cannot be saved"):
        write_file(tmp_path / "run.npz", boom)
    assert _listing(tmp_path) == []


def test_an_os_error_while_writing_is_a_write_error_naming_the_path(tmp_path):
    def full(fh):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(WriteError) as e:
        write_file(tmp_path / "run.npz", full)
    assert str(e.value) == f"cannot write {tmp_path / 'run.npz'}: No space left on device"
    assert _listing(tmp_path) == []


def test_an_interrupt_while_writing_leaves_nothing_behind(tmp_path):
    def interrupted(fh):
        fh.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_file(tmp_path / "run.npz", interrupted)
    assert _listing(tmp_path) == []


def test_a_missing_folder_is_one_line_naming_it(tmp_path):
    with pytest.raises(WriteError) as e:
        write_file(tmp_path / "nope" / "run.npz", _bytes(b"x"))
    nope = tmp_path / "nope"
    assert str(e.value) == f"cannot write {nope / 'run.npz'}: {nope}: no such directory"


@pytest.mark.parametrize("err", [errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS])
def test_without_hard_links_the_fallback_is_still_exclusive(tmp_path, monkeypatch, err):
    """vfat/FUSE: os.link fails; an O_EXCL placeholder claims the name, then a rename fills it."""
    def no_link(*a, **k):
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(os, "link", no_link)
    target = tmp_path / "run.npz"
    write_file(target, _bytes(b"trace"))
    assert target.read_bytes() == b"trace"
    assert _listing(tmp_path) == ["run.npz"]
    with pytest.raises(TargetExistsError):
        write_file(target, _bytes(b"other"))
    assert target.read_bytes() == b"trace"

    def racing(fh):
        fh.write(b"second")
        (tmp_path / "new.npz").write_bytes(b"first")

    with pytest.raises(TargetExistsError, match="appeared while writing"):
        write_file(tmp_path / "new.npz", racing)
    assert (tmp_path / "new.npz").read_bytes() == b"first"
    assert _listing(tmp_path) == ["new.npz", "run.npz"]


def _raising(err: int, message: str):
    def fail(*args, **kwargs):
        raise OSError(err, message)

    return fail


def test_without_hard_links_a_failed_rename_removes_only_our_placeholder(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "link", _raising(errno.EPERM, "no"))
    monkeypatch.setattr(os, "replace", _raising(errno.EIO, "I/O error"))
    with pytest.raises(WriteError, match="I/O error"):
        write_file(tmp_path / "run.npz", _bytes(b"x"))
    assert _listing(tmp_path) == []


def test_other_link_errors_are_reported_not_worked_around(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "link", _raising(errno.EIO, "I/O error"))
    with pytest.raises(WriteError) as e:
        write_file(tmp_path / "run.npz", _bytes(b"x"))
    assert str(e.value) == f"cannot write {tmp_path / 'run.npz'}: I/O error"
    assert _listing(tmp_path) == []


_KILLED = """
import sys, time
from lstm_engine.core.files import write_file
def body(fh):
    fh.write(b"half a trace")
    fh.flush()
    print("writing", flush=True)
    time.sleep(60)
write_file(sys.argv[1], body)
"""


def test_sigkill_leaves_a_visible_file_saying_whose_it_is_and_stale_ones_can_be_removed(tmp_path):
    target = tmp_path / "run.npz"
    proc = subprocess.Popen([sys.executable, "-c", _KILLED, str(target)], stdout=subprocess.PIPE,
                            text=True)  # fmt: skip
    try:
        assert proc.stdout.readline().strip() == "writing"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    left = _listing(tmp_path)
    assert len(left) == 1 and not target.exists()
    assert left[0].startswith("run.npz.lstm-tui-") and left[0].endswith(".partial")
    mine = tmp_path / "notes.partial"
    mine.write_bytes(b"a user's file")
    assert remove_stale_partials(tmp_path) == []  # fresh: a save may still be running
    old = time.time() - 2 * 86400
    os.utime(tmp_path / left[0], (old, old))
    os.utime(mine, (old, old))
    assert remove_stale_partials(tmp_path) == [tmp_path / left[0]]
    assert _listing(tmp_path) == ["notes.partial"]
