"""Running `lstm-tui` on a hostile file the way a user would, bounded, and judging what came out.

`run` starts the real command in a subprocess with a timeout (a hang fails
the test) and an address-space limit (a memory bomb fails the test instead
of the machine), from a folder holding victim files. `refused` and `shown`
are the two acceptable outcomes: one clean error line and exit 2, or a
normal report; in both, nothing from the file reaches the terminal as
control, no payload ran and no victim changed.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ADDRESS_SPACE = 4 * 2**30
TIMEOUT = 60


def command() -> list[str]:
    script = Path(sys.executable).with_name("lstm-tui")
    return [str(script)] if script.exists() else [sys.executable, "-m", "lstm_tui"]


def _limit_memory():  # runs in the child before exec
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


@dataclass(eq=False)
class Ran:
    args: list
    returncode: int
    out: bytes
    err: bytes

    def __str__(self) -> str:
        return (f"lstm-tui {' '.join(map(str, self.args))}\nexit {self.returncode}\n"
                f"stdout: {self.out[:2000]!r}\nstderr: {self.err[:2000]!r}")  # fmt: skip


def run(args: list, cwd: Path, *, timeout: float = TIMEOUT, env: dict | None = None) -> Ran:
    """`lstm-tui ARGS` in `cwd`, stdin closed, with a timeout and a 4 GiB address-space limit."""
    import pytest

    full_env = {k: v for k, v in os.environ.items() if not k.startswith("LSTM_TUI_")}
    full_env.update({"COLUMNS": "120", "TERM": "xterm-256color"})
    full_env.update(env or {})
    try:
        done = subprocess.run(
            [*command(), *(a if isinstance(a, bytes) else str(a) for a in args)],
            cwd=cwd, env=full_env, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
            preexec_fn=_limit_memory,
        )  # fmt: skip
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"lstm-tui {' '.join(map(str, args))} did not finish within {timeout} s "
                    f"(stdout so far {(e.stdout or b'')[:300]!r})")  # fmt: skip
    return Ran(list(args), done.returncode, done.stdout, done.stderr)


BAD = {0x1B, *range(0x80, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A)}


def terminal_safe(data: bytes, what: str, ran: Ran) -> str:
    """`data` as strict UTF-8, asserting no ESC, C1, bidi control, DEL or other C0 but \\n."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:  # a raw 0x9b byte (8-bit CSI) lands here too
        raise AssertionError(f"{what} is not UTF-8 ({e})\n{ran}") from None
    bad = sorted({f"U+{ord(c):04X}" for c in text
                  if ord(c) in BAD or (ord(c) < 0x20 and c != "\n") or c == "\x7f"})  # fmt: skip
    assert not bad, f"{what} holds terminal control {bad}\n{ran}"
    return text


def check_common(ran: Ran, *, markers=(), victims: dict | None = None) -> tuple[str, str]:
    out = terminal_safe(ran.out, "stdout", ran)
    err = terminal_safe(ran.err, "stderr", ran)
    assert "Traceback" not in out + err, str(ran)
    for m in markers:
        assert not Path(m).exists(), f"a payload ran: {m} exists\n{ran}"
    for path, content in (victims or {}).items():
        assert Path(path).read_bytes() == content, f"victim {path} changed\n{ran}"
    return out, err


def refused(ran: Ran, *, says: str | None = None, markers=(), victims=None) -> str:
    """Exit 2, one stderr line starting `lstm-tui: error:`, nothing on stdout; returns the line."""
    out, err = check_common(ran, markers=markers, victims=victims)
    assert ran.returncode == 2, str(ran)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lstm-tui: error: "), str(ran)
    assert "internal error" not in lines[0], str(ran)
    assert out == "", str(ran)
    if says is not None:
        assert says in lines[0], f"expected {says!r} in the error\n{ran}"
    return lines[0]


def shown(ran: Ran, *, markers=(), victims=None) -> str:
    """Exit 0, nothing on stderr; stdout (checked terminal-safe)."""
    out, err = check_common(ran, markers=markers, victims=victims)
    assert ran.returncode == 0 and err == "", str(ran)
    return out


def victims(folder: Path) -> dict[Path, bytes]:
    """Files a payload would aim at: notes.txt (the screenshot markup's target), victim.txt."""
    folder.mkdir(exist_ok=True)
    files = {folder / "notes.txt": b"my notes\n", folder / "victim.txt": b"precious\n"}
    for p, content in files.items():
        p.write_bytes(content)
    return files
