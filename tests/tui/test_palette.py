"""The palette at every colour depth and for the common colour-vision deficiencies.

The ramps are read three ways: as the truecolor RGB the palette returns, as the
ANSI text a 256-colour console writes for a heatmap (tmux's default, TERM=xterm-256color
without COLORTERM), and as the text a 16-colour console writes. A colour "holds" at a
depth when the terminal shows what the legend shows.
"""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from rich.color import EIGHT_BIT_PALETTE, STANDARD_PALETTE, Color, ColorSystem
from rich.console import Console

import lstm_tui.renderables.heatmap as heatmap_module
from lstm_tui.renderables import Heatmap, gate_style, legend, ramps, signed_style

BLUES = {4, 12, 6, 14}  # blue, bright blue, cyan, bright cyan
WARMS = {1, 3, 9, 11}  # red, yellow (rich's is brown-orange), bright red, bright yellow
GREYS = {0, 7, 8, 15}


def _ansi(renderable, system: str) -> str:
    # rich caches a Style's SGR codes for the first colour system it is written in;
    # the heatmap memoises its fill styles, so start each depth from fresh ones
    heatmap_module._colour_table.cache_clear()
    con = Console(color_system=system, force_terminal=True, width=80, file=io.StringIO(),
                  record=True)  # fmt: skip
    con.print(renderable)
    return con.export_text(styles=True)


def _codes(text: str, ground: str) -> list[int]:
    """Colour numbers in SGR sequences: ground '38' (ink) or '48' (fill)."""
    out = []
    for seq in re.findall(r"\x1b\[([0-9;]*)m", text):
        parts = seq.split(";")
        for k, p in enumerate(parts):
            if system_256(parts, k, ground):
                out.append(int(parts[k + 2]))
            elif ground == "38" and p.isdigit() and (30 <= int(p) <= 37 or 90 <= int(p) <= 97):
                out.append(int(p) - 30 if int(p) < 90 else int(p) - 82)
            elif ground == "48" and p.isdigit() and (40 <= int(p) <= 47 or 100 <= int(p) <= 107):
                out.append(int(p) - 40 if int(p) < 100 else int(p) - 92)
    return out


def system_256(parts: list[str], k: int, ground: str) -> bool:
    return parts[k] == ground and k + 2 < len(parts) and parts[k + 1] == "5"


@pytest.mark.parametrize("dark", [True, False])
def test_every_colour_is_an_xterm_256_entry_that_a_256_colour_terminal_keeps(dark):
    for name, ramp in ramps(dark=dark).items():
        for c in ramp:
            number = Color.from_triplet(c).downgrade(ColorSystem.EIGHT_BIT).number
            got = EIGHT_BIT_PALETTE[number]
            if len({c.red, c.green, c.blue}) > 1:  # a hue: the very same entry
                assert got == c, (name, c, got)
            else:  # a grey: rich's grey rounding may pick the neighbouring grey
                assert max(abs(a - b) for a, b in zip(got, c)) <= 10, (name, c, got)


@pytest.mark.parametrize("dark", [True, False])
def test_at_16_colours_blue_stays_blue_orange_stays_warm_and_gates_stay_grey(dark):
    r = ramps(dark=dark)

    def standard(c):
        return Color.from_triplet(c).downgrade(ColorSystem.STANDARD).number

    for c in (*r["neg"], *r["fill_neg"]):
        assert standard(c) in BLUES, c
    for c in (*r["pos"], *r["fill_pos"]):
        assert standard(c) in WARMS, c
    for c in (*r["gate"], *r["gate_fill"], *r["zero"], *r["surface"]):
        assert standard(c) in GREYS, c


@pytest.mark.parametrize("system, palette", [("256", EIGHT_BIT_PALETTE), ("standard", STANDARD_PALETTE)])
@pytest.mark.parametrize("dark", [True, False])
def test_a_heatmap_written_at_256_and_16_colours_shows_its_legend_colours(system, palette, dark):
    """Read the ANSI text of a signed heatmap: every fill is blue for a negative cell,
    warm for a positive one, and the same colours as its own legend line."""
    data = np.linspace(-1, 1, 21)[None, :]
    hm = Heatmap(data, signed=True, vmax=1.0, row_labels=False, legend=True, dark=dark)
    lines = _ansi(hm, system).split("\n")
    cells = _codes(lines[1], "48")
    key = _codes(lines[2], "48")
    assert len(cells) == 21 and set(key) <= set(cells)  # the legend shows the map's colours

    def hue(n):
        c = palette[n]
        return "blue" if c.blue > c.red + 40 else "warm" if c.red > c.blue + 40 else "grey"

    row = _ansi(Heatmap(data, signed=True, vmax=1.0, row_labels=False, legend=False, dark=dark),
                system).split("\n")[1]  # fmt: skip
    # per cell: split the row into its runs of one fill each, in order
    runs = re.findall(r"\x1b\[([0-9;]*)m( +)", row)
    fills = []
    for seq, spaces in runs:
        n = _codes(f"\x1b[{seq}m", "48")
        fills += n * len(spaces) if n else []
    assert len(fills) == 21
    hues = [hue(n) for n in fills]
    assert set(hues[:10]) == {"blue"} and set(hues[11:]) == {"warm"}
    assert hues[10] == "grey"  # zero is the surface
    # magnitude: further from zero never goes back to a fainter step
    for side in (fills[:10][::-1], fills[11:]):
        steps = [side.index(n) for n in side]
        assert steps == sorted(steps)


# Machado, Oliveira & Fernandes (2009), severity 1.0, on linear RGB.
CVD = {
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                   [-0.003882, -0.048116, 1.051998]],
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                     [-0.011820, 0.042940, 0.968881]],
    "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                   [0.004733, 0.691367, 0.303900]],
}  # fmt: skip


def _simulate(c, matrix) -> np.ndarray:
    rgb = np.array([c.red, c.green, c.blue]) / 255.0
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    out = np.clip(np.array(matrix) @ lin, 0, 1)
    return np.where(out <= 0.0031308, out * 12.92, 1.055 * out ** (1 / 2.4) - 0.055) * 255


def _chroma(rgb: np.ndarray) -> float:
    return float(rgb.max() - rgb.min())


@pytest.mark.parametrize("deficiency", [None, *CVD])
@pytest.mark.parametrize("dark", [True, False])
def test_gates_and_signs_stay_apart_with_colour_vision_deficiencies(deficiency, dark):
    """A gate has no hue, a signed value always has one, and − and + differ, also as a
    protanope, deuteranope or tritanope sees them."""
    r = ramps(dark=dark)
    eye = (lambda c: np.array([c.red, c.green, c.blue], float)) if deficiency is None else (
        lambda c: _simulate(c, CVD[deficiency]))  # fmt: skip
    for c in (*r["gate"], *r["gate_fill"]):
        assert _chroma(eye(c)) < 12, c
    for c in (*r["neg"], *r["pos"], *r["fill_neg"], *r["fill_pos"]):
        assert _chroma(eye(c)) > 40, c
    for neg_ramp, pos_ramp in (("neg", "pos"), ("fill_neg", "fill_pos")):
        for a, b in zip(r[neg_ramp], r[pos_ramp]):
            assert np.abs(eye(a) - eye(b)).max() > 60, (a, b)


@pytest.mark.parametrize("dark", [True, False])
def test_stronger_values_are_stronger_colours(dark):
    """Dark backgrounds: more |v|, more chroma (text) or more light (fills); light
    backgrounds: further from the background."""
    r = ramps(dark=dark)
    surface = np.array(r["surface"][0], float)

    def lum(c):
        return 0.2126 * c.red + 0.7152 * c.green + 0.0722 * c.blue

    for name in ("neg", "pos"):
        if dark:
            ch = [_chroma(np.array(c, float)) for c in r[name]]
            assert ch == sorted(ch) and ch[0] < ch[-1]
        else:
            d = [np.abs(np.array(c, float) - surface).sum() for c in r[name]]
            assert d == sorted(d)
    for name in ("fill_neg", "fill_pos", "gate_fill"):
        ls = [lum(c) for c in r[name]][1:]  # the first blue step is darker than a dark surface
        assert ls == sorted(ls, reverse=not dark), name
    steps = [signed_style(v, 1.0, dark=dark).color for v in (0.1, 0.5, 0.9)]
    assert len(set(steps)) == 3
    gates = [gate_style(v, dark=dark).color for v in (0.0, 0.1, 0.4, 0.6, 0.9, 1.0)]
    assert len(set(gates)) == 6


@pytest.mark.parametrize("dark", [True, False])
def test_legend_draws_the_ramps_the_table_uses(dark):
    text = legend(dark=dark)
    assert text.plain.startswith("gate shut ") and text.plain.endswith(" +") and "0" in text.plain
    inks = [span.style.color.triplet for span in text.spans if span.style.color is not None
            and text.plain[span.start:span.end] == "█"]  # fmt: skip
    r = ramps(dark=dark)
    assert inks == [*r["gate"], *reversed(r["neg"]), *r["pos"]]
    assert gate_style(1.0, dark=dark).color.triplet == r["gate"][-1]
    assert signed_style(-1.0, 1.0, dark=dark).color.triplet == r["neg"][-1]
    mono = legend(color=False)
    assert "[ ░▒▓█]" in mono.plain and "≡=-·0░▒▓█" in mono.plain
    assert all(span.style.color is None for span in mono.spans)
