"""display(): token and label text made safe for one terminal cell row.

A character model's tokens and labels are characters: a newline printed raw
breaks the strip's row in two, a space is an invisible empty cell, and a
control character moves the terminal's cursor. Every place that shows a
token or a label (the strip, the output panel, `lstm-tui info`) goes through
this one function, so a character reads the same everywhere. Pure Python,
so the headless CLI can use it without importing textual.
"""

from __future__ import annotations

import unicodedata

#: visible stand-ins for the whitespace a text model actually reads
_NAMED = {"\n": "⏎", "\t": "⇥", " ": "␣", "\r": "␍"}
#: what an empty string shows as (it has no cells of its own)
EMPTY = "∅"


def _char(c: str) -> str:
    named = _NAMED.get(c)
    if named is not None:
        return named
    # control, format and line/paragraph separators would move the cursor or vanish
    if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Zs"):
        code = ord(c)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return c


def display(s: str) -> str:
    """`s` with whitespace and control characters replaced by visible stand-ins.

    newline → ⏎, tab → ⇥, space → ␣, carriage return → ␍, other control
    characters → \\xNN (\\uNNNN above 0xff); the empty string → ∅.
    """
    s = str(s)
    if not s:
        return EMPTY
    if s.isprintable() and " " not in s:
        return s
    return "".join(_char(c) for c in s)
