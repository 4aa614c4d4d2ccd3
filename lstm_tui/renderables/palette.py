"""The one mapping from an LSTM value to how it looks on screen.

Every panel (unit table, cell diagram, heatmap, history) colours numbers through
this module, so that "0.98 forget gate" looks the same everywhere and a reader
learns the encoding once:

* gates (f, i, o in [0, 1]) use a sequential ramp from a cold slate (shut) to a
  warm amber (open); the *saturated* ends (``v <= SHUT`` or ``v >= OPEN``) jump
  to a separate bold hue (blue for shut, bright green for wide open), because
  saturation is the thing the seed article asks you to notice ("the forget gate
  holds France" means f ≈ 1 for many steps);
* signed quantities (c, h, g, kept, written, Δc, ...) use a diverging map:
  blue for negative, red/orange for positive, intensity by ``|v| / scale``;
* non-finite values (nan, ±inf) never blend into the ramp: they get a loud
  warning style and are spelled out ("nan", "+inf").

Colour is not the only channel: :func:`bar` draws eighth-block bars and the
glyph ramps (:data:`RAMP`, :data:`NEG_RAMP`) carry magnitude when the console
has no colour (``NO_COLOR=1``, ``color_system=None``).

Themes: every function takes ``dark`` (True for dark terminal backgrounds).
Light backgrounds get darker, more saturated ink so that pale colours do not
vanish on white. A :class:`Palette` bundles the flag for callers that prefer an
object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.color import Color
from rich.color_triplet import ColorTriplet
from rich.style import Style

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
    "blend",
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


def blend(a: ColorTriplet, b: ColorTriplet, t: float) -> ColorTriplet:
    """Linear blend a→b; t is clamped to [0, 1]."""
    t = 0.0 if t < 0 else 1.0 if t > 1 else t
    return ColorTriplet(
        int(a.red + (b.red - a.red) * t + 0.5),
        int(a.green + (b.green - a.green) * t + 0.5),
        int(a.blue + (b.blue - a.blue) * t + 0.5),
    )


@dataclass(frozen=True)
class _Theme:
    # gate ramp (text ink): from just-above-shut to just-below-open
    gate_lo: ColorTriplet
    gate_mid: ColorTriplet
    gate_hi: ColorTriplet
    gate_shut: ColorTriplet
    gate_open: ColorTriplet
    # diverging (text ink)
    neutral: ColorTriplet
    neg: ColorTriplet
    pos: ColorTriplet
    # what a "zero" surface fill blends from (≈ terminal background)
    surface: ColorTriplet
    # non-finite warning
    warn_fg: ColorTriplet
    warn_bg: ColorTriplet


_DARK = _Theme(
    gate_lo=_rgb("#6b7a99"),
    gate_mid=_rgb("#b8a77a"),
    gate_hi=_rgb("#ffb347"),
    gate_shut=_rgb("#5fafff"),
    gate_open=_rgb("#87ff5f"),
    neutral=_rgb("#8a8a8a"),
    neg=_rgb("#4da6ff"),
    pos=_rgb("#ff6b4a"),
    surface=_rgb("#1e1e1e"),
    warn_fg=_rgb("#000000"),
    warn_bg=_rgb("#ff00ff"),
)

_LIGHT = _Theme(
    gate_lo=_rgb("#7a869e"),
    gate_mid=_rgb("#8a6d1f"),
    gate_hi=_rgb("#b35c00"),
    gate_shut=_rgb("#0050c8"),
    gate_open=_rgb("#1a8a00"),
    neutral=_rgb("#707070"),
    neg=_rgb("#0047b3"),
    pos=_rgb("#c42b00"),
    surface=_rgb("#f5f5f5"),
    warn_fg=_rgb("#ffffff"),
    warn_bg=_rgb("#c000c0"),
)


def _theme(dark: bool) -> _Theme:
    return _DARK if dark else _LIGHT


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
    """Colour of a gate value. ``surface=True`` gives a fill (background) colour
    that starts from the terminal background, for heatmap cells."""
    th = _theme(dark)
    cls = gate_class(v)
    if cls == "nonfinite":
        return _color(th.warn_bg)
    if surface:
        # A fill must read as "more = brighter/stronger" from the background,
        # with the saturated ends still on their own hues.
        if cls == "shut":
            return _color(blend(th.surface, th.gate_shut, 0.45))
        if cls == "open":
            return _color(th.gate_open)
        t = (v - SHUT) / (OPEN - SHUT)
        if t < 0.5:
            return _color(blend(blend(th.surface, th.gate_lo, 0.6), th.gate_mid, t * 2))
        return _color(blend(th.gate_mid, th.gate_hi, (t - 0.5) * 2))
    if cls == "shut":
        return _color(th.gate_shut)
    if cls == "open":
        return _color(th.gate_open)
    t = (v - SHUT) / (OPEN - SHUT)
    if t < 0.5:
        return _color(blend(th.gate_lo, th.gate_mid, t * 2))
    return _color(blend(th.gate_mid, th.gate_hi, (t - 0.5) * 2))


def gate_style(v: float, *, dark: bool = True) -> Style:
    """Text style for a gate value in [0, 1].

    Saturated gates are bold on their own hue (shut: blue, open: green) so they
    stand apart from the mid-range amber ramp at a glance; nan/inf get the
    warning style.
    """
    cls = gate_class(v)
    if cls == "nonfinite":
        return nonfinite_style(dark=dark)
    return Style(color=gate_color(v, dark=dark), bold=cls in ("shut", "open"))


# ---------------------------------------------------------------- signed


def signed_color(v: float, scale: float, *, dark: bool = True, surface: bool = False) -> Color:
    """Diverging colour: blue for negative, red for positive, intensity |v|/scale.

    ``surface=True`` blends from the background (a heatmap fill) instead of from
    the neutral text grey.
    """
    th = _theme(dark)
    if not is_finite(v):
        return _color(th.warn_bg)
    base = th.surface if surface else th.neutral
    if not is_finite(scale) or scale <= 0:
        scale = 1.0
    t = min(abs(v) / scale, 1.0)
    if surface:
        # perceptually, small values should still be faintly visible on the fill
        t = math.sqrt(t)
    hue = th.pos if v > 0 else th.neg
    if v == 0:
        return _color(base)
    return _color(blend(base, hue, t))


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
