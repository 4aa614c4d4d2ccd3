"""The size of the terminal the debugger draws in, whichever standard stream is piped.

Textual draws on stderr but asks `shutil.get_terminal_size()` for the size,
which looks at stdout only: with stdout piped (`python train.py | tee log`
calling `lstm_tui.debug`), it answers its fallback, 80×24, and the debugger
draws in a corner of a larger terminal. `terminal_size` asks every stream
that may be the terminal (stderr, stdin, the controlling terminal /dev/tty,
stdout); `drawn_on_terminal` makes shutil's answer that size for as long as
the app runs, at start and at every resize. Pure Python, no Textual.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

#: What a terminal that cannot be asked is taken to be (shutil's fallback).
FALLBACK = (80, 24)


def _fd(stream) -> int | None:
    try:
        return stream.fileno() if stream is not None else None
    except (AttributeError, OSError, ValueError):
        return None


def _ask(fd: int | None) -> tuple[int, int] | None:
    if fd is None:
        return None
    try:
        size = os.get_terminal_size(fd)
    except (OSError, ValueError):
        return None
    return (size.columns, size.lines) if size.columns > 0 and size.lines > 0 else None


def terminal_fd(candidates: Sequence[int | None] | None = None) -> int | None:
    """The first of `candidates` (default: stderr, stdin, stdout) that is a terminal."""
    if candidates is None:
        candidates = [_fd(sys.__stderr__), _fd(sys.__stdin__), _fd(sys.__stdout__)]
    return next((fd for fd in candidates if _ask(fd) is not None), None)


def terminal_size(candidates: Sequence[int | None] | None = None,
                  tty: str | None = "/dev/tty") -> tuple[int, int]:  # fmt: skip
    """(columns, rows) of the terminal: the first stream that is one, else the controlling
    terminal (`tty`), else $COLUMNS/$LINES, else FALLBACK."""
    size = _ask(terminal_fd(candidates))
    if size is None and tty:
        try:
            fd = os.open(tty, os.O_RDONLY | os.O_NOCTTY)
        except OSError:
            fd = None
        if fd is not None:
            try:
                size = _ask(fd)
            finally:
                os.close(fd)
    if size is not None:
        return size
    try:
        env = (int(os.environ["COLUMNS"]), int(os.environ["LINES"]))
    except (KeyError, ValueError):
        return FALLBACK
    return env if min(env) > 0 else FALLBACK


@contextmanager
def drawn_on_terminal() -> Iterator[None]:
    """While the app runs, stdout as shutil sees it is the terminal the app draws on.

    Only when stdout is not a terminal and another stream (or /dev/tty) is: then
    `sys.__stdout__` is a stream on that terminal, so the size Textual asks for at
    start and on each resize is the terminal's. `sys.stdout` (what print() uses) is
    untouched, and `sys.__stdout__` is put back afterwards.
    """
    original = sys.__stdout__
    if _ask(_fd(original)) is not None:
        yield
        return
    fd = terminal_fd([_fd(sys.__stderr__), _fd(sys.__stdin__)])
    stream = None
    try:
        if fd is not None:
            stream = os.fdopen(os.dup(fd), "w", closefd=True)
        else:
            try:
                stream = open("/dev/tty", "w")  # noqa: SIM115 - closed below
            except OSError:
                stream = None
        if stream is not None:
            sys.__stdout__ = stream
        yield
    finally:
        sys.__stdout__ = original
        if stream is not None:
            stream.close()
