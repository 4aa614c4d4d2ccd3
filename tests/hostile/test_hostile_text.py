"""safe_line and display: no string from a file reaches the terminal as control, bidi or markup.

Every category that must be neutralised is listed once; a fuzz checks that
nothing unsafe ever comes out, and that harmless text comes out unchanged.
"""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstm_tui.text import BIDI, EMPTY, display, safe_line

#: codepoints that must never reach a terminal from a file
C0 = [chr(c) for c in range(0x20)]
DEL = ["\x7f"]
C1 = [chr(c) for c in range(0x80, 0xA0)]
BIDI_CONTROLS = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A),
                                   0x200E, 0x200F, 0x061C)]  # fmt: skip
SURROGATES = ["\udc80", "\udcff", "\ud800", "\udfff"]
SEPARATORS = ["\u2028", "\u2029"]
UNSAFE = set(C0 + DEL + C1 + BIDI_CONTROLS + SURROGATES + SEPARATORS)


def _unsafe_in(out: str) -> list[str]:
    """Characters that must not be in shown text: controls, bidi, surrogates, separators, any Cf."""
    unsafe_categories = ("Cc", "Cf", "Cs", "Zl", "Zp")
    return [c for c in out if c in UNSAFE or unicodedata.category(c) in unsafe_categories]


def _assert_safe(out: str) -> None:
    assert isinstance(out, str) and type(out) is str
    assert _unsafe_in(out) == [], repr(out)
    out.encode("utf-8")  # strict: a lone surrogate would raise here, as print() would
    raw = out.encode("utf-8")
    assert 0x1B not in raw and not any(b < 0x20 or b == 0x7F for b in raw)


def test_the_bidi_set_is_exactly_the_controls_the_issue_lists():
    assert BIDI == frozenset(BIDI_CONTROLS)


@pytest.mark.parametrize("c", sorted(UNSAFE - {"\n", "\r", "\t", "\u2028", "\u2029"}))
def test_every_unsafe_codepoint_is_shown_as_its_visible_escape(c):
    code = ord(c)
    escape = f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    assert safe_line(f"a{c}b") == f"a{escape}b"
    assert display(f"a{c}b") == f"a{escape}b"


@pytest.mark.parametrize("s, shown", [
    ("two\nlines", "two⏎lines"), ("dos\r\nline", "dos⏎line"), ("old\rmac", "old⏎mac"),
    ("a\u2028b\u2029c", "a⏎b⏎c"), ("tab\there", "tab here"), ("keep  spaces ", "keep  spaces "),
])  # fmt: skip
def test_safe_line_shows_line_breaks_as_one_visible_mark_and_tabs_as_a_space(s, shown):
    assert safe_line(s) == shown


@pytest.mark.parametrize("attack, shown", [
    ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),  # OSC 0: window title
    ("\x1b]2;pwned\x1b\\", "\\x1b]2;pwned\\x1b\\"),  # OSC 2, ST-terminated
    ("\x1b]52;c;cm0gLXJmIH4=\x07", "\\x1b]52;c;cm0gLXJmIH4=\\x07"),  # OSC 52: clipboard write
    ("\x1b[2J\x1b[31mred", "\\x1b[2J\\x1b[31mred"),  # clear screen, SGR
    ("\x9b2J", "\\x9b2J"),  # C1 CSI
    ("\x9d0;t\x9c", "\\x9d0;t\\x9c"),  # C1 OSC ... ST
    ("abc\u202edef", "abc\\u202edef"),  # right-to-left override
    ("bad utf-8 \udcff\udcfe", "bad utf-8 \\udcff\\udcfe"),  # surrogateescape'd bytes
])  # fmt: skip
def test_terminal_attacks_become_inert_visible_text(attack, shown):
    assert safe_line(attack) == shown
    _assert_safe(safe_line(attack))
    _assert_safe(display(attack))


def test_markup_is_returned_literally_and_stays_literal_in_rich_text():
    from rich.console import Console
    from rich.text import Text

    click = "[@click=app.screenshot('notes.txt','/tmp/x')]see-docs[/]"
    assert safe_line(click) == click  # data, unchanged: the caller must use Text, never markup
    assert display("[/]") == "[/]"
    text = Text(safe_line(click + "\x1b[2J"))
    assert text.spans == []
    console = Console(width=200, record=True, color_system=None, force_terminal=False)
    console.print(text)
    assert console.export_text().rstrip("\n") == click + "\\x1b[2J"


def test_the_limit_caps_characters_with_an_ellipsis_and_never_cuts_an_escape():
    assert safe_line("abcdef", limit=4) == "abc…"
    assert safe_line("abcd", limit=4) == "abcd"
    assert safe_line("ab\x1bcdef", limit=5) == "ab…"  # \x1b (4 characters) does not fit whole
    assert safe_line("ab\x1bcdef", limit=7) == "ab\\x1b…"
    assert safe_line("x" * 1_100_000, limit=80) == "x" * 79 + "…"
    assert len(safe_line("\x1b" * 1000, limit=10)) <= 10


def test_non_strings_and_empty_strings():
    assert safe_line(None) == "None"
    assert safe_line(12) == "12"
    assert safe_line("") == ""
    assert display("") == EMPTY


def test_display_keeps_its_whitespace_stand_ins():
    assert display("a b\n\t\r") == "a␣b⏎⇥␍"
    assert display("\u00a0") == "\\xa0"  # no-break space: visible, as every space is in a token


_SETTINGS = settings(max_examples=300, deadline=2000)


@_SETTINGS
@given(st.text(alphabet=st.characters(codec=None), max_size=200),
       st.one_of(st.none(), st.integers(1, 300)))
def test_fuzz_safe_line_never_lets_anything_unsafe_through(s, limit):
    out = safe_line(s, limit)
    _assert_safe(out)
    if limit is not None:
        assert len(out) <= limit


@_SETTINGS
@given(st.text(alphabet=st.characters(codec=None), max_size=200))
def test_fuzz_display_never_lets_anything_unsafe_through(s):
    _assert_safe(display(s))


def _harmless():
    return st.text(alphabet=st.characters(
        blacklist_categories=("Cc", "Cf", "Cs", "Zl", "Zp", "Co", "Cn"), blacklist_characters="\t"
    ), max_size=200)  # fmt: skip


@_SETTINGS
@given(_harmless())
def test_fuzz_harmless_text_round_trips_unchanged(s):
    assert safe_line(s) == s
    if s and " " not in s and s.isprintable():
        assert display(s) == s


@_SETTINGS
@given(st.binary(max_size=200))
def test_fuzz_invalid_utf8_read_with_surrogateescape_prints(data):
    s = data.decode("utf-8", "surrogateescape")
    out = safe_line(s)
    _assert_safe(out)
    assert out.encode("utf-8").decode("utf-8") == out
