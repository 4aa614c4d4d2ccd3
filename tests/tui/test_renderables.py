"""Plain-text and style tests for the pure Rich renderables in lstm_tui.renderables.

Each renderable is drawn with a real rich Console (record=True) either without
colour (color_system=None: the glyphs must carry the meaning) or in truecolor
(then we inspect the styles of the segments), and we assert on what a user
would read.
"""

from __future__ import annotations

import math

import pytest
from rich.color import Color

from lstm_tui.renderables import (
    NEG_RAMP,
    RAMP,
    Palette,
    bar,
    fmt,
    gate_class,
    gate_glyph,
    gate_style,
    ramp_glyph,
    signed_glyph,
    signed_style,
)

NAN = float("nan")
INF = float("inf")


# ---------------------------------------------------------------- palette


def _rgb(style):
    return style.color.get_truecolor()


@pytest.mark.parametrize("dark", [True, False])
def test_gate_saturation_classes_are_distinct_from_mid(dark):
    shut, mid_lo, mid, mid_hi, open_ = (gate_style(v, dark=dark) for v in (0.005, 0.2, 0.5, 0.8, 0.995))
    assert gate_class(0.005) == "shut" and gate_class(0.995) == "open" and gate_class(0.5) == "mid"
    # saturated ends are bold, mid-range values are not
    assert shut.bold and open_.bold
    assert not (mid_lo.bold or mid.bold or mid_hi.bold)
    # and they are on different hues from each other and from the mid ramp
    colours = {_rgb(s) for s in (shut, mid_lo, mid, mid_hi, open_)}
    assert len(colours) == 5


def test_gate_ramp_is_monotone_between_ends():
    # along the mid ramp the red channel increases toward "open" (slate → amber)
    reds = [_rgb(gate_style(v)).red for v in (0.05, 0.3, 0.5, 0.7, 0.95)]
    assert reds == sorted(reds) and reds[0] < reds[-1]


@pytest.mark.parametrize("dark", [True, False])
def test_signed_style_hue_follows_sign_and_intensity_follows_magnitude(dark):
    neg = _rgb(signed_style(-0.8, 1.0, dark=dark))
    pos = _rgb(signed_style(0.8, 1.0, dark=dark))
    assert neg.blue > neg.red  # negative is blue
    assert pos.red > pos.blue  # positive is red
    # larger |v| moves further from the neutral grey
    zero = _rgb(signed_style(0.0, 1.0, dark=dark))
    small = _rgb(signed_style(0.1, 1.0, dark=dark))
    big = _rgb(signed_style(1.0, 1.0, dark=dark))

    def dist(a, b):
        return sum((x - y) ** 2 for x, y in zip(a, b))

    assert dist(zero, small) < dist(zero, big)
    assert signed_style(1.0, 1.0).bold and not signed_style(0.3, 1.0).bold
    # scale matters: 0.8 of scale 10 is faint
    assert dist(zero, _rgb(signed_style(0.8, 10.0, dark=dark))) < dist(zero, pos)


def test_light_and_dark_themes_differ():
    assert gate_style(0.5, dark=True) != gate_style(0.5, dark=False)
    assert Palette(dark=False).signed(0.5, 1) == signed_style(0.5, 1, dark=False)


def test_nonfinite_is_loud_and_spelled_out():
    for v in (NAN, INF, -INF):
        assert gate_class(v) == "nonfinite"
        st = gate_style(v)
        assert st.bold and st.bgcolor is not None
        assert signed_style(v, 1.0) == st
    assert fmt(NAN) == "nan" and fmt(INF) == "+inf" and fmt(-INF) == "-inf"
    assert bar(NAN, 0, 1, 7).strip() == "nan" and len(bar(NAN, 0, 1, 7)) == 7
    assert bar(-INF, -1, 1, 6).strip() == "-inf"
    assert ramp_glyph(NAN) == "!" and gate_glyph(INF) == "!" and signed_glyph(NAN, 1) == "!"


def test_fmt_matches_ui_conventions():
    assert fmt(0.934) == "+0.93"
    assert fmt(-1.2) == "-1.20"
    assert fmt(0.934, signed=False) == "0.93"
    assert fmt(-0.001) == "-0.00"  # sign of tiny values is kept
    assert fmt(None) == "—"
    assert fmt(1.23456, digits=3) == "+1.235"


def test_unsigned_bar_eighths():
    assert bar(0.0, 0, 1, 4) == "    "
    assert bar(1.0, 0, 1, 4) == "████"
    assert bar(0.5, 0, 1, 4) == "██  "
    assert bar(1 / 32, 0, 1, 4) == "▏   "  # one eighth of one cell
    assert bar(5.0, 0, 1, 4) == "████"  # clamped
    assert all(len(bar(v / 10, 0, 1, 9)) == 9 for v in range(11))
    # monotone: more value, more ink
    ink = [sum(" ▏▎▍▌▋▊▉█".index(ch) for ch in bar(v / 20, 0, 1, 5)) for v in range(21)]
    assert ink == sorted(ink)


def test_signed_bar_is_centred_at_zero():
    assert bar(0.0, -1, 1, 8) == "        "
    assert bar(1.0, -1, 1, 8) == "    ████"
    assert bar(-1.0, -1, 1, 8) == "████    "
    assert bar(0.5, -1, 1, 8) == "    ██  "
    assert bar(-0.5, -1, 1, 8) == "  ██    "
    small = bar(-0.05, -1, 1, 8)
    assert small[:3] == "   " and small[3] in "▕▐" and small[4:] == "    "
    # asymmetric range: zero sits at -lo/(hi-lo) of the width
    assert bar(3.0, -1, 3, 8) == "  ██████"


def test_glyph_ramps_are_ordered():
    vals = [0.0, 0.1, 0.3, 0.6, 0.9]
    assert [ramp_glyph(v) for v in vals] == list(RAMP)
    assert ramp_glyph(1e-6) != " "  # non-zero is never blank
    assert [gate_glyph(v) for v in (0.0, 0.1, 0.5, 0.9, 1.0)] == [" ", "░", "▒", "▓", "█"]
    assert [signed_glyph(-v, 1.0) for v in vals] == list(NEG_RAMP)
    assert set(NEG_RAMP[1:]).isdisjoint(RAMP)  # sign survives without colour


def test_palette_object_surfaces():
    p = Palette(dark=True)
    assert isinstance(p.gate_fill(0.5), Color)
    # a zero signed fill is the theme surface itself
    assert p.signed_fill(0.0, 1.0) == p.surface
    assert not math.isnan(p.signed_fill(0.3, 1.0).get_truecolor().red)
