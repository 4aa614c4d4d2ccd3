"""The one mapping from an LSTM value to how it looks on screen.

Every panel (unit table, cell diagram, heatmap, history) colours numbers through
this module, so that "0.98 forget gate" looks the same everywhere and a reader
learns the encoding once:

* gates (f, i, o in [0, 1]) are **achromatic**: a grey ramp from dark (shut)
  to light (open) on a dark background, the reverse on a light one, and the
  saturated ends (``v <= SHUT`` or ``v >= OPEN``) jump to black / white and
  bold, because saturation is what the seed article asks you to notice ("the
  forget gate holds France" means f ≈ 1 for many steps);
* signed quantities (c, h, g, kept, written, Δc, ...) are **blue (−) ↔ orange
  (+)**, intensity by ``|v| / scale``;
* non-finite values (nan, ±inf) never blend into a ramp: they get a loud
  magenta warning style and are spelled out ("nan", "+inf").

Why these ramps: a gate and a signed value can never be confused (one has no
hue at all, the other always has one), and blue against orange is the pair
that stays apart for the common colour-vision deficiencies (protanopia,
deuteranopia: red–green; tritanopia: blue–yellow, where blue turns teal and
orange pink). tests/tui/test_palette.py checks both with the Machado et al.
(2009) simulation matrices.

Why steps, not blends: every colour here is an entry of the xterm 256-colour
palette (:data:`rich.color.EIGHT_BIT_PALETTE`), chosen along each ramp on
purpose, so a terminal without truecolor (tmux's default) shows exactly the
colours of a truecolor one instead of the nearest cube colours of a blend
(teal, olive, lavender, maroon). Each ramp's steps were also chosen so that
the 16-colour downgrade keeps the meaning: blue steps map to blue/cyan, orange
steps to yellow/red, gate steps to black/grey/white (the test reads them).
A signed ramp of n steps puts ``|v| / scale`` in (k/n, (k+1)/n] on step k;
the gate ramps split the range between SHUT and OPEN into n equal steps.

Colour is not the only channel: :func:`bar` draws eighth-block bars and the
glyph ramps (:data:`RAMP`, :data:`NEG_RAMP`) carry magnitude when the console
has no colour (``NO_COLOR=1``, ``color_system=None``).

Themes: every function takes ``dark`` (True for dark terminal backgrounds).
A :class:`Palette` bundles the flag for callers that prefer an object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.color import EIGHT_BIT_PALETTE, Color
from rich.color_triplet import ColorTriplet
from rich.style import Style
from rich.text import Text

__all__ = [
    "SHUT",
    "OPEN",
    "RAMP",
    "NEG_RAMP",
    "Palette",
    "gate_class",
    "gate_color",
    "gate_style",
    "signed_color",
    "signed_style",
    "nonfinite_style",
    "is_finite",
    "fmt",
    "bar",
    "ramp_glyph",
    "gate_glyph",
    "signed_glyph",
    "legend",
    "ramps",
]

#: A gate at or below SHUT is "shut" (lets ≲2% through); at or above OPEN it is "open".
SHUT = 0.02
OPEN = 0.98

#: Monochrome magnitude ramp, lightest to darkest (index 0 = nothing).
RAMP = " ░▒▓█"
#: Monochrome ramp for negative magnitudes: rules instead of blocks, so sign survives
#: without colour (index 0 = nothing, last = largest magnitude).
NEG_RAMP = " ·-=≡"

# Eighth blocks growing from the left edge of a cell, 1/8 .. 8/8.
_LEFT_EIGHTHS = "▏▎▍▌▋▊▉█"


def _rgb(hex_: str) -> ColorTriplet:
    hex_ = hex_.lstrip("#")
    return ColorTriplet(int(hex_[0:2], 16), int(hex_[2:4], 16), int(hex_[4:6], 16))


def _x(*numbers: int) -> tuple[ColorTriplet, ...]:
    """xterm 256-colour palette entries, by number."""
    return tuple(EIGHT_BIT_PALETTE[n] for n in numbers)


@dataclass(frozen=True)
class _Theme:
    """One theme's ramps, each a tuple of xterm-256 colours from faint to strong."""

    # gates as text ink: shut, the mid steps, open
    gate_shut: ColorTriplet
    gate_mid: tuple[ColorTriplet, ...]
    gate_open: ColorTriplet
    # gates as a cell fill (heatmap)
    fill_shut: ColorTriplet
    fill_mid: tuple[ColorTriplet, ...]
    fill_open: ColorTriplet
    # signed as text ink: exactly zero is `neutral`
    neutral: ColorTriplet
    neg: tuple[ColorTriplet, ...]
    pos: tuple[ColorTriplet, ...]
    # signed as a fill: exactly zero is `surface`
    surface: ColorTriplet
    fill_neg: tuple[ColorTriplet, ...]
    fill_pos: tuple[ColorTriplet, ...]
    # non-finite warning
    warn_fg: ColorTriplet
    warn_bg: ColorTriplet


_DARK = _Theme(
    gate_shut=EIGHT_BIT_PALETTE[240], gate_mid=_x(243, 246, 249, 252), gate_open=EIGHT_BIT_PALETTE[231],
    fill_shut=EIGHT_BIT_PALETTE[232], fill_mid=_x(236, 239, 242, 245, 248, 251),
    fill_open=EIGHT_BIT_PALETTE[231],
    neutral=EIGHT_BIT_PALETTE[246], neg=_x(75, 69, 33), pos=_x(215, 209, 202),
    surface=EIGHT_BIT_PALETTE[234], fill_neg=_x(17, 19, 26, 33, 75, 117),
    fill_pos=_x(94, 130, 166, 202, 208, 214),
    warn_fg=EIGHT_BIT_PALETTE[16], warn_bg=EIGHT_BIT_PALETTE[201],
)  # fmt: skip

_LIGHT = _Theme(
    gate_shut=EIGHT_BIT_PALETTE[248], gate_mid=_x(245, 242, 239, 236), gate_open=EIGHT_BIT_PALETTE[16],
    fill_shut=EIGHT_BIT_PALETTE[231], fill_mid=_x(254, 251, 248, 245, 242, 239),
    fill_open=EIGHT_BIT_PALETTE[16],
    neutral=EIGHT_BIT_PALETTE[243], neg=_x(68, 26, 19), pos=_x(172, 166, 130),
    surface=EIGHT_BIT_PALETTE[255], fill_neg=_x(117, 75, 69, 33, 26, 19),
    fill_pos=_x(222, 215, 209, 208, 166, 130),
    warn_fg=EIGHT_BIT_PALETTE[231], warn_bg=EIGHT_BIT_PALETTE[164],
)  # fmt: skip


def _theme(dark: bool) -> _Theme:
    return _DARK if dark else _LIGHT


def _step(ramp: tuple[ColorTriplet, ...], t: float) -> ColorTriplet:
    """A signed ramp's step for t = |v|/scale in (0, 1]: (k/n, (k+1)/n] is step k, so
    the smallest non-zero value is already on the first step (t is clamped)."""
    n = len(ramp)
    return ramp[min(max(math.ceil(t * n) - 1, 0), n - 1)]


def _gate_step(ramp: tuple[ColorTriplet, ...], t: float) -> ColorTriplet:
    """A gate ramp's step for t in [0, 1) between shut and open: [k/n, (k+1)/n) is step k."""
    n = len(ramp)
    return ramp[min(max(int(t * n), 0), n - 1)]


def _color(c: ColorTriplet) -> Color:
    return Color.from_triplet(c)


def is_finite(v: float) -> bool:
    """True for ordinary numbers; False for nan, ±inf (and None)."""
    try:
        return math.isfinite(v)
    except TypeError:
        return False


def nonfinite_style(*, dark: bool = True) -> Style:
    """The loud style for nan/inf (bold, on magenta). Without colour only the bold
    survives, which is why non-finite values are also always spelled out."""
    th = _theme(dark)
    return Style(color=_color(th.warn_fg), bgcolor=_color(th.warn_bg), bold=True)


# ---------------------------------------------------------------- gates


def gate_class(v: float) -> str:
    """'shut' (≤ SHUT), 'open' (≥ OPEN), 'mid', or 'nonfinite'."""
    if not is_finite(v):
        return "nonfinite"
    if v <= SHUT:
        return "shut"
    if v >= OPEN:
        return "open"
    return "mid"


def gate_color(v: float, *, dark: bool = True, surface: bool = False) -> Color:
    """Colour of a gate value: a grey step (``surface=True``: the heatmap's fill ramp,
    which starts near the background), black/white at the saturated ends."""
    th = _theme(dark)
    cls = gate_class(v)
    if cls == "nonfinite":
        return _color(th.warn_bg)
    if cls == "shut":
        return _color(th.fill_shut if surface else th.gate_shut)
    if cls == "open":
        return _color(th.fill_open if surface else th.gate_open)
    t = (v - SHUT) / (OPEN - SHUT)
    return _color(_gate_step(th.fill_mid if surface else th.gate_mid, t))


def gate_style(v: float, *, dark: bool = True) -> Style:
    """Text style for a gate value in [0, 1].

    Saturated gates are bold at the ends of the grey ramp (darkest: shut,
    brightest: open) so they stand apart at a glance; nan/inf get the warning
    style.
    """
    cls = gate_class(v)
    if cls == "nonfinite":
        return nonfinite_style(dark=dark)
    return Style(color=gate_color(v, dark=dark), bold=cls in ("shut", "open"))


# ---------------------------------------------------------------- signed


def signed_color(v: float, scale: float, *, dark: bool = True, surface: bool = False) -> Color:
    """Diverging colour: blue steps for negative, orange for positive, by |v|/scale.

    Exactly zero is the neutral ink (``surface=True``: the background fill, so a
    zero heatmap cell is empty).
    """
    th = _theme(dark)
    if not is_finite(v):
        return _color(th.warn_bg)
    if not is_finite(scale) or scale <= 0:
        scale = 1.0
    if v == 0:
        return _color(th.surface if surface else th.neutral)
    if surface:
        ramp = th.fill_pos if v > 0 else th.fill_neg
    else:
        ramp = th.pos if v > 0 else th.neg
    return _color(_step(ramp, abs(v) / scale))


def signed_style(v: float, scale: float, *, dark: bool = True) -> Style:
    """Text style for a signed value; bold once |v| reaches 90% of ``scale``."""
    if not is_finite(v):
        return nonfinite_style(dark=dark)
    s = scale if (is_finite(scale) and scale > 0) else 1.0
    return Style(color=signed_color(v, s, dark=dark), bold=abs(v) >= 0.9 * s)


# ---------------------------------------------------------------- text


def fmt(v: float | None, *, signed: bool = True, digits: int = 2) -> str:
    """How the UI prints one value: ``+0.93`` / ``-1.20`` for signed quantities,
    ``0.93`` for gates, ``nan`` / ``+inf`` / ``-inf`` spelled out, ``—`` for None.

    ASCII minus keeps numbers copy-pasteable into Python.
    """
    if v is None:
        return "—"
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "+inf" if v > 0 else "-inf"
    if signed:
        # Tiny negatives keep their sign ("-0.00"): in Δc the sign is the story.
        return f"{v:+.{digits}f}"
    return f"{v:.{digits}f}"


def bar(v: float, lo: float, hi: float, width: int) -> str:
    """A bar of exactly ``width`` cells showing ``v`` within [lo, hi].

    Unsigned (lo >= 0 or hi <= 0): grows from the left in eighth-cell steps.
    Signed (lo < 0 < hi): the zero point sits at the cell boundary nearest to
    ``-lo / (hi - lo)`` of the width (the middle when lo = -hi); positive values
    grow right in eighth steps, negative values grow left. Unicode has no
    right-aligned eighth blocks, so the leftward partial cell is quantised to
    ▕ (≈1/8..3/8), ▐ (≈4/8..6/8) or █. Values outside [lo, hi] are clamped;
    nan/±inf are written out ("nan", "+inf") instead of drawn.
    """
    if width <= 0:
        return ""
    if not is_finite(v):
        return fmt(v)[:width].center(width)
    if not (is_finite(lo) and is_finite(hi)) or hi <= lo:
        return " " * width
    v = min(max(v, lo), hi)
    if lo < 0 < hi:
        zero = round(width * (-lo) / (hi - lo))
        left = [" "] * zero
        right = [" "] * (width - zero)
        if v > 0:
            eighths = round(v / hi * (width - zero) * 8)
            full, part = divmod(eighths, 8)
            for k in range(min(full, len(right))):
                right[k] = "█"
            if part and full < len(right):
                right[full] = _LEFT_EIGHTHS[part - 1]
        elif v < 0:
            eighths = round(v / lo * zero * 8)
            full, part = divmod(eighths, 8)
            for k in range(min(full, len(left))):
                left[zero - 1 - k] = "█"
            if part and full < len(left):
                left[zero - 1 - full] = "▕" if part <= 3 else ("▐" if part <= 6 else "█")
        return "".join(left) + "".join(right)
    frac = (v - lo) / (hi - lo)
    eighths = round(frac * width * 8)
    full, part = divmod(eighths, 8)
    out = "█" * full
    if part:
        out += _LEFT_EIGHTHS[part - 1]
    return out.ljust(width)[:width]


def ramp_glyph(v: float, lo: float = 0.0, hi: float = 1.0, ramp: str = RAMP) -> str:
    """Monochrome glyph for ``v`` in [lo, hi]: ramp[0] only at lo, ramp[-1] in the
    top bucket, the glyphs between split (lo, hi) evenly.

    Values strictly above ``lo`` never map to the empty glyph, so "small but not
    zero" stays visible; nan/inf map to "!".
    """
    if not is_finite(v):
        return "!"
    if hi <= lo:
        return ramp[0]
    t = (min(max(v, lo), hi) - lo) / (hi - lo)
    if t <= 0:
        return ramp[0]
    n = len(ramp) - 1
    return ramp[min(1 + int(t * n), n)]


def gate_glyph(v: float) -> str:
    """Monochrome glyph for a gate that keeps the saturation classes of
    :func:`gate_class`: " " shut, "█" open, ░ ▒ ▓ for thirds of the range between."""
    cls = gate_class(v)
    if cls == "nonfinite":
        return "!"
    if cls == "shut":
        return RAMP[0]
    if cls == "open":
        return RAMP[-1]
    t = (v - SHUT) / (OPEN - SHUT)
    return RAMP[1 + min(int(t * 3), 2)]


def signed_glyph(v: float, scale: float) -> str:
    """Monochrome glyph for a signed value: blocks for positive, rules for negative."""
    if not is_finite(v):
        return "!"
    if v >= 0:
        return ramp_glyph(v, 0.0, scale, RAMP)
    return ramp_glyph(-v, 0.0, scale, NEG_RAMP)


def ramps(*, dark: bool = True) -> dict[str, tuple[ColorTriplet, ...]]:
    """Every ramp of a theme by name, faint to strong: what the tests read at each
    colour depth, and what :func:`legend` draws."""
    th = _theme(dark)
    return {
        "gate": (th.gate_shut, *th.gate_mid, th.gate_open),
        "gate_fill": (th.fill_shut, *th.fill_mid, th.fill_open),
        "neg": th.neg, "pos": th.pos, "fill_neg": th.fill_neg, "fill_pos": th.fill_pos,
        "zero": (th.neutral,), "surface": (th.surface,), "warn": (th.warn_fg, th.warn_bg),
    }  # fmt: skip


def legend(*, dark: bool = True, color: bool = True) -> Text:
    """The table's key to its colours, one short line: ``gate shut ██████ open   − ███0███ +``.

    With colour, each ramp as the ink the table uses; without, the glyphs that
    stand before each number (NO_COLOR), so the key says what the screen shows.
    """
    label = Style(dim=True)
    if not color:
        return Text.assemble(
            ("gate shut [", label), (RAMP, Style()), ("] open   − ", label),
            (NEG_RAMP[:0:-1] + "0" + RAMP[1:], Style()), (" +", label),
        )  # fmt: skip
    r = ramps(dark=dark)
    out = Text.assemble(("gate shut ", label))
    for c in r["gate"]:
        out.append("█", Style(color=_color(c)))
    out.append(" open   − ", label)
    for c in reversed(r["neg"]):
        out.append("█", Style(color=_color(c)))
    out.append("0", Style(color=_color(r["zero"][0])))
    for c in r["pos"]:
        out.append("█", Style(color=_color(c)))
    out.append(" +", label)
    return out


@dataclass(frozen=True)
class Palette:
    """The theme flag bundled with the mapping, for callers that pass one object around."""

    dark: bool = True

    def gate(self, v: float) -> Style:
        return gate_style(v, dark=self.dark)

    def signed(self, v: float, scale: float) -> Style:
        return signed_style(v, scale, dark=self.dark)

    def gate_fill(self, v: float) -> Color:
        return gate_color(v, dark=self.dark, surface=True)

    def signed_fill(self, v: float, scale: float) -> Color:
        return signed_color(v, scale, dark=self.dark, surface=True)

    def nonfinite(self) -> Style:
        return nonfinite_style(dark=self.dark)

    @property
    def text(self) -> Style:
        """Plain ink for labels: the neutral grey of this theme."""
        return Style(color=_color(_theme(self.dark).neutral))

    @property
    def surface(self) -> Color:
        return _color(_theme(self.dark).surface)
