"""Strings from files made safe to show: display() for tokens, safe_line() for everything else.

Every string that comes from a file (a model's name and description, its
vocabulary and labels, examples, module and ONNX node names, trace meta,
and error messages that quote any of these) is data, never markup and never
terminal control. A raw ESC can set the terminal's title or write the
clipboard (OSC 0/2/52), clear the screen (ESC[2J) or restyle it (SGR); C1
characters (U+0080–U+009F, e.g. U+009B, the one-byte CSI) do the same on
terminals that honour them; bidi controls (U+202E) make text read backwards;
a lone surrogate (invalid UTF-8 read with surrogateescape) crashes print().

Both functions return a plain str with none of these characters left in it
(each is shown as a visible escape like \\x1b, \\x9b, \\u202e or \\udcff), so
the result can be written to a terminal as is and put into rich.text.Text
(never into markup: Text(s), not Text.from_markup or a "[b]..." f-string).
Pure Python, so the headless CLI can use them without importing textual.

- display(s): a token or label in one terminal row; whitespace gets visible
  stand-ins (newline ⏎, tab ⇥, space ␣, carriage return ␍) because a
  character model's tokens *are* those characters; the empty string is ∅.
- safe_line(s, limit=None): a name, description, meta value or message in
  one line; spaces stay spaces, a line break (\\n, \\r\\n, \\r, U+2028/9)
  shows as ⏎ and a tab as one space; `limit` cuts it to that many
  characters, ending in …
"""

from __future__ import annotations

import unicodedata

#: visible stand-ins for the whitespace a text model actually reads
_NAMED = {"\n": "⏎", "\t": "⇥", " ": "␣", "\r": "␍"}
#: what an empty string shows as (it has no cells of its own)
EMPTY = "∅"
#: what a cut line ends with
ELLIPSIS = "…"
#: bidirectional formatting controls: embeddings/overrides, isolates, marks
BIDI = frozenset(
    "\u202a\u202b\u202c\u202d\u202e"  # LRE RLE PDF LRO RLO
    "\u2066\u2067\u2068\u2069"  # LRI RLI FSI PDI
    "\u200e\u200f\u061c"  # LRM RLM ALM
)
#: categories never passed through: controls (C0, DEL, C1), format characters (bidi,
#: invisible), surrogates, and line/paragraph separators
_UNSAFE_CATEGORIES = frozenset(("Cc", "Cf", "Cs", "Zl", "Zp"))


def _escape(c: str) -> str:
    code = ord(c)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _char(c: str) -> str:
    named = _NAMED.get(c)
    if named is not None:
        return named
    # control, format, surrogate and separator characters would move the cursor, vanish or crash
    if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp", "Zs"):
        return _escape(c)
    return c


def display(s: str) -> str:
    """`s` with whitespace and control characters replaced by visible stand-ins.

    newline → ⏎, tab → ⇥, space → ␣, carriage return → ␍, other control,
    format (bidi), surrogate and space characters → \\xNN (\\uNNNN above
    0xff); the empty string → ∅.
    """
    s = str(s)
    if not s:
        return EMPTY
    if s.isprintable() and " " not in s:  # isprintable() is False for every Cc/Cf/Cs/Z* but space
        return s
    return "".join(_char(c) for c in s)


def _line_char(c: str) -> str:
    if c == "\t":
        return " "
    if c == "\n" or c == "\r" or c == "\u2028" or c == "\u2029":
        return "⏎"
    if c in BIDI or unicodedata.category(c) in _UNSAFE_CATEGORIES:
        return _escape(c)
    return c


def safe_line(s: object, limit: int | None = None) -> str:
    """`s` as one line of plain text that is safe on any terminal and inside rich.text.Text.

    Kept as is: every printable character, spaces included (and "[", so
    markup shows literally when the result goes into Text). Replaced:
    \\r\\n, \\n, \\r, U+2028 and U+2029 → ⏎; tab → a space; every other
    control character (C0, DEL, C1), format character (bidi controls such as
    U+202E, zero-width marks) and lone surrogate → its visible escape
    (\\x1b, \\x9b, \\u202e, \\udcff). `limit`, if given, caps the result at
    that many characters, the last being …; an escape is never cut in half.
    Non-strings are shown as str(s).
    """
    s = s if isinstance(s, str) else str(s)
    if s.isprintable() and (limit is None or len(s) <= limit):
        return s  # the common case: nothing to do
    pieces = [c if c.isprintable() else _line_char(c) for c in s.replace("\r\n", "\n")]
    if limit is None:
        return "".join(pieces)
    cap = max(int(limit), 1)
    if sum(map(len, pieces)) <= cap:
        return "".join(pieces)
    out, size = [], 0
    for piece in pieces:  # whole pieces only, leaving one character for the ellipsis
        if size + len(piece) > cap - 1:
            break
        out.append(piece)
        size += len(piece)
    return "".join(out) + ELLIPSIS
