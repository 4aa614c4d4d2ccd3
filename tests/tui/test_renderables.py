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
    values = (0.005, 0.2, 0.5, 0.8, 0.995)
    shut, mid_lo, mid, mid_hi, open_ = (gate_style(v, dark=dark) for v in values)
    assert gate_class(0.005) == "shut" and gate_class(0.995) == "open" and gate_class(0.5) == "mid"
    # saturated ends are bold, mid-range values are not
    assert shut.bold and open_.bold
    assert not (mid_lo.bold or mid.bold or mid_hi.bold)
    # and they are on different hues from each other and from the mid ramp
    colours = {_rgb(s) for s in (shut, mid_lo, mid, mid_hi, open_)}
    assert len(colours) == 5


def test_gate_ramp_is_monotone_between_ends():
    # a grey ramp: brighter toward "open" on a dark background, darker on a light one
    greys = [_rgb(gate_style(v)).red for v in (0.01, 0.05, 0.3, 0.5, 0.7, 0.95, 0.99)]
    assert greys == sorted(greys) and greys[0] < greys[-1]
    light = [_rgb(gate_style(v, dark=False)).red for v in (0.01, 0.05, 0.3, 0.5, 0.7, 0.95, 0.99)]
    assert light == sorted(light, reverse=True) and light[0] > light[-1]


@pytest.mark.parametrize("dark", [True, False])
def test_signed_style_hue_follows_sign_and_intensity_follows_magnitude(dark):
    neg = _rgb(signed_style(-0.8, 1.0, dark=dark))
    pos = _rgb(signed_style(0.8, 1.0, dark=dark))
    assert neg.blue > neg.red  # negative is blue
    assert pos.red > pos.blue  # positive is orange
    # larger |v| is a later step of its ramp (test_palette checks the ramps' order)
    small = signed_style(0.1, 1.0, dark=dark).color
    big = signed_style(1.0, 1.0, dark=dark).color
    assert small != big and signed_style(0.0, 1.0, dark=dark).color not in (small, big)
    assert signed_style(1.0, 1.0).bold and not signed_style(0.3, 1.0).bold
    # scale matters: 0.8 of scale 10 is on the faintest step
    assert signed_style(0.8, 10.0, dark=dark).color == small


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


# ---------------------------------------------------------------- cell diagram

from rich.console import Console  # noqa: E402
from rich.segment import Segment  # noqa: E402

from lstm_tui.renderables import CellDiagram, CellValues  # noqa: E402
from lstm_tui.renderables.cell_diagram import COMPACT_WIDTH, FULL_WIDTH, LARGE_WIDTH  # noqa: E402


def _cell(peephole=None, projected=False, **over):
    """A unit holding 'France': forget gate wide open, a little written."""
    c_prev, f, i, g, o = 1.7342, 0.9931, 0.4127, -0.6283, 0.8114
    kept, written = f * c_prev, i * g
    c = kept + written
    tanh_c = math.tanh(c)
    h_cell = o * tanh_c
    kw = dict(
        unit=7, c_prev=c_prev, f=f, i=i, g=g, o=o, kept=kept, written=written, c=c,
        tanh_c=tanh_c, h_cell=h_cell, h=None if projected else h_cell, x_label="fluent",
        peephole=peephole, projected=projected,
    )
    kw.update(over)
    return CellValues(**kw)


def _text(renderable, width, color_system=None):
    con = Console(width=width, color_system=color_system, record=True, file=open("/dev/null", "w"))
    con.print(renderable)
    return con.export_text().rstrip("\n").split("\n")


def _segments(renderable, width, color_system="truecolor"):
    con = Console(width=width, color_system=color_system, file=open("/dev/null", "w"))
    return list(con.render(renderable, con.options.update_width(width)))


def test_cell_diagram_shows_live_values_on_the_right_wires():
    v = _cell()
    lines = _text(CellDiagram(v), FULL_WIDTH)
    assert len(lines) <= 14 and max(len(ln) for ln in lines) <= FULL_WIDTH
    text = "\n".join(lines)
    # the conveyor belt: c_{t-1} ... (×) kept ... (+) ... c_t, in that order on one line
    belt = next(ln for ln in lines if "(+)" in ln)
    order = [belt.index(s) for s in (fmt(v.c_prev), "(×)", fmt(v.kept), "(+)", fmt(v.c))]
    assert order == sorted(order)
    assert fmt(v.c_prev) == "+1.73" and fmt(v.c) == "+1.46"
    # every gate and every intermediate, formatted as the UI formats them
    for s in (fmt(v.f, signed=False), fmt(v.i, signed=False), fmt(v.o, signed=False), fmt(v.g),
              fmt(v.written), fmt(v.tanh_c), fmt(v.h)):
        assert s in text, s
    labels = ("c_t-1", "c_t", "kept", "written", "tanh", "h_t", "h_t-1", '"fluent"', "unit 7")
    for label in labels:
        assert label in text
    # the reverse direction reads its previous state from t+1, and says so
    rev = "\n".join(_text(CellDiagram(_cell(c_prev_label="c_t+1", h_prev_label="h_t+1")), FULL_WIDTH))
    assert "c_t+1" in rev and "h_t+1" in rev and "t-1" not in rev
    # gates labelled in their boxes, the four boxes side by side on one row
    gates_row = next(ln for ln in lines if "σ f" in ln)
    assert [gates_row.index(s) for s in ("σ f", "σ i", "tanh g", "σ o")] == sorted(
        gates_row.index(s) for s in ("σ f", "σ i", "tanh g", "σ o"))
    # the gate value sits in its box: the f value is directly under "σ f"
    f_col = gates_row.index("σ f")
    val_row = lines[lines.index(gates_row) + 1]
    assert val_row[f_col - 2 : f_col + 5].strip() == fmt(v.f, signed=False)
    # no peephole or projection furniture on a plain LSTM
    assert "p_f" not in text and "╎" not in text and "W_hr" not in text and "h_cell" not in text


def test_cell_diagram_peephole_wires_only_when_set():
    plain = "\n".join(_text(CellDiagram(_cell()), FULL_WIDTH))
    peep = "\n".join(_text(CellDiagram(_cell(peephole=(0.0512, -0.2391, 0.3377))), FULL_WIDTH))
    for s in ("p_f", "p_i", "p_o", "╎", "┯"):
        assert s not in plain and s in peep
    # each wire carries the term its gate receives, p·c (c_t-1 for f and i, c_t for o)
    v = _cell(peephole=(0.0512, -0.2391, 0.3377))
    for term in (-0.2391 * v.c_prev, 0.0512 * v.c_prev, 0.3377 * v.c):
        assert fmt(term) in peep, fmt(term)
    for label in ("p_f·c", "p_i·c", "p_o·c"):
        assert label in peep
    # and the weights themselves, dimmer, where they fit
    assert "p_f -0.24" in peep and "p_i +0.05" in peep and "p_o +0.34" in peep
    # the dashed wires enter the f, i and o boxes from the side, not g's
    entry = next(ln for ln in peep.split("\n") if "σ f" in ln)
    assert entry.count("┤") == 3
    assert entry.index("┤") < entry.index("σ f")


def test_cell_diagram_projection_only_when_projected():
    v = _cell(projected=True)
    text = "\n".join(_text(CellDiagram(v), FULL_WIDTH))
    assert "W_hr" in text and "h_cell" in text and fmt(v.h_cell) in text
    assert "(proj)" in text
    plain = "\n".join(_text(CellDiagram(_cell()), FULL_WIDTH))
    assert "W_hr" not in plain and "(proj)" not in plain


def test_cell_diagram_compact_at_small_width():
    v = _cell(peephole=(0.05, -0.24, 0.34))
    lines = _text(CellDiagram(v), COMPACT_WIDTH)
    assert max(len(ln.rstrip()) for ln in lines) <= COMPACT_WIDTH
    assert len(lines) <= 10
    text = "\n".join(lines)
    assert "╭" not in text  # no boxes in the compact form
    for s in (fmt(v.c_prev), fmt(v.kept), fmt(v.c), fmt(v.f, signed=False), fmt(v.i, signed=False),
              fmt(v.g), fmt(v.written), fmt(v.tanh_c), fmt(v.o, signed=False), fmt(v.h),
              f"pf·c {fmt(-0.24 * v.c_prev)}", f"pi·c {fmt(0.05 * v.c_prev)}",
              f"po·c {fmt(0.34 * v.c)}"):
        assert s in text, s
    # between compact and full it stays compact; full needs 60 columns
    assert "╭" not in "\n".join(_text(CellDiagram(v), 59))
    assert "╭" in "\n".join(_text(CellDiagram(v), FULL_WIDTH))


def test_cell_diagram_measure_and_every_segment_styled():
    con = Console(width=100, file=open("/dev/null", "w"))
    m = CellDiagram(_cell()).__rich_measure__(con, con.options)
    assert (m.minimum, m.maximum) == (COMPACT_WIDTH, LARGE_WIDTH)
    for color in (True, False):
        for width in (LARGE_WIDTH, FULL_WIDTH, COMPACT_WIDTH, 20):
            segs = _segments(CellDiagram(_cell(peephole=(0.1, 0.2, 0.3)), color=color), width)
            assert all(s.style is not None for s in segs if s.text != "\n")


def test_cell_diagram_colours_values_with_the_palette():
    v = _cell()
    segs = _segments(CellDiagram(v, c_scale=4.0), FULL_WIDTH)
    by_text = {s.text: s.style for s in segs}
    assert by_text[fmt(v.f, signed=False)] == gate_style(v.f)
    assert by_text[fmt(v.g)] == signed_style(v.g, 1.0)
    assert by_text[fmt(v.c)] == signed_style(v.c, 4.0)
    # colour off: same attributes, no colour
    mono = {s.text: s.style for s in _segments(CellDiagram(v, color=False), FULL_WIDTH)}
    assert mono[fmt(v.f, signed=False)].color is None and mono[fmt(v.f, signed=False)].bold


def test_cell_diagram_nan_is_spelled_out_and_loud():
    v = _cell(c=float("nan"), tanh_c=float("nan"), h_cell=float("nan"), h=float("nan"))
    segs = _segments(CellDiagram(v), FULL_WIDTH)
    nans = [s for s in segs if s.text == "nan"]
    # c_t, tanh c_t and h_t (h_cell is only drawn separately for projected LSTMs)
    assert len(nans) == 3 and all(s.style.bold and s.style.bgcolor is not None for s in nans)


def test_cell_diagram_long_token_is_cut_not_overflowing():
    lines = _text(CellDiagram(_cell(x_label="Donaudampfschifffahrtsgesellschaft")), FULL_WIDTH)
    assert max(len(ln) for ln in lines) <= FULL_WIDTH
    assert any('"Donau' in ln and '…"' in ln for ln in lines)


# ---------------------------------------------------------------- heatmap

import numpy as np  # noqa: E402

from lstm_tui.renderables import Heatmap  # noqa: E402


def _grid(rows=4, cols=10):
    # unit r at step j: a ramp in j, sign alternating by unit
    j = np.arange(cols, dtype=float)
    return np.stack([(1 if r % 2 == 0 else -1) * (j + 1) / cols * (r + 1) for r in range(rows)])


def test_heatmap_dimensions_and_labels():
    data = _grid(4, 10)
    hm = Heatmap(data, row_offset=96, col_offset=40)
    lines = _text(hm, 80)
    assert len(lines) == 1 + 4 + 1  # header, one line per unit, legend
    gutter = len("99") + 1
    for k, ln in enumerate(lines[1:5]):
        assert ln[:2] == str(96 + k)  # absolute unit labels
        assert len(ln.rstrip()) <= gutter + 10 + 1
        assert len(ln[gutter : gutter + 10]) == 10
    assert lines[0][gutter:].startswith("40")  # first step in the header
    assert hm.width == gutter + 10 + 1
    # no labels: the map starts at column 0
    bare = _text(Heatmap(data, row_labels=False, legend=False), 80)
    assert len(bare) == 5 and bare[1][0] != " "


def test_heatmap_cursor_column_marked_in_place():
    data = _grid(3, 20)
    lines = _text(Heatmap(data, col_offset=100, cursor_col=107, legend=False), 80)
    gutter = len("2") + 1
    assert lines[0].index("▼") == gutter + 7
    assert "t=107" in lines[0]
    # truecolor: every row has the cursor rule in that column and nowhere else
    segs = _segments(Heatmap(data, col_offset=100, cursor_col=107, legend=False), 80)
    rows = list(Segment.split_lines(segs))
    for row in rows[1:]:
        text = "".join(s.text for s in row)
        assert text.index("│") == gutter + 7 and text.count("│") == 1
    # wider cells: the marker sits over the middle of the cursor's cell
    wide = _text(Heatmap(data, col_offset=100, cursor_col=102, cell_width=3, legend=False), 80)
    assert wide[0].index("▼") == gutter + 2 * 3 + 1
    # cursor outside the window: no marker
    assert "▼" not in _text(Heatmap(data, col_offset=100, cursor_col=99), 80)[0]
    assert "▼" not in _text(Heatmap(data, col_offset=100, cursor_col=120), 80)[0]
    # cursor at the last column: label moves to the left of the marker, still inside
    last = _text(Heatmap(data, col_offset=100, cursor_col=119, legend=False), 80)[0]
    assert last.index("▼") == gutter + 19 and last.index("t=119") < last.index("▼")


def test_heatmap_selected_row_marked():
    lines = _text(Heatmap(_grid(5, 6), row_offset=10, selected_row=12, legend=False), 40)
    marked = [k for k, ln in enumerate(lines) if "▶" in ln]
    assert marked == [1 + 2]
    assert lines[3].rstrip().endswith("◀") and sum("◀" in ln for ln in lines) == 1
    # a selection outside the window marks nothing
    assert not any("▶" in ln for ln in _text(Heatmap(_grid(5, 6), selected_row=40), 40))


def test_heatmap_monochrome_glyph_ramps_are_ordered():
    gates = np.array([[0.0, 0.1, 0.4, 0.7, 0.999]])
    row = _text(Heatmap(gates, signed=False, legend=False, row_labels=False), 40)[1]
    assert row[:5] == " ░▒▓█"
    signed = np.array([[-1.0, -0.6, -0.1, 0.0, 0.1, 0.6, 1.0]])
    row = _text(Heatmap(signed, vmax=1.0, legend=False, row_labels=False), 40)[1]
    assert row[:7] == "≡=· ░▓█"
    # color=False forces glyphs even on a colour console
    hm = Heatmap(gates, signed=False, color=False, legend=False, row_labels=False)
    forced = _segments(hm, 40)
    assert "".join(s.text for s in forced).split("\n")[1][:5] == " ░▒▓█"


def test_heatmap_colours_follow_the_palette_and_vmax():
    data = np.array([[-2.0, -0.5, 0.0, 0.5, 2.0]])
    segs = _segments(Heatmap(data, legend=False, row_labels=False), 40)
    cells = [s for s in list(Segment.split_lines(segs))[1] if s.text.strip() == ""][:5]
    pal = Palette()
    assert [s.style.bgcolor for s in cells] == [pal.signed_fill(v, 2.0) for v in data[0]]
    # an explicit vmax changes intensity: 0.5 of 0.5 is full colour
    segs = _segments(Heatmap(data, vmax=0.5, legend=False, row_labels=False), 40)
    per_col = [seg.style.bgcolor for seg in list(Segment.split_lines(segs))[1] for _ in seg.text]
    assert per_col[3] == per_col[4] == pal.signed_fill(0.5, 0.5) == pal.signed_fill(2.0, 2.0)
    assert per_col[0] == pal.signed_fill(-0.5, 0.5)


def test_heatmap_nan_cells_and_every_segment_styled():
    data = _grid(3, 8)
    data[1, 4] = np.nan
    lines = _text(Heatmap(data, legend=False), 40)
    assert lines[2][2 + 4] == "!"
    for cs in ("truecolor", None):
        for kw in ({}, {"cursor_col": 3, "selected_row": 1}, {"color": False}):
            segs = _segments(Heatmap(data, **kw), 40, color_system=cs)
            assert all(s.style is not None for s in segs if s.text != "\n")


def test_heatmap_crops_to_width_and_rejects_1d():
    lines = _text(Heatmap(_grid(2, 100)), 30)
    assert max(len(ln) for ln in lines) <= 30
    with pytest.raises(ValueError):
        Heatmap(np.zeros(5))


# ---------------------------------------------------------------- history

from lstm_tui.renderables import UnitHistory, resample  # noqa: E402


def _france(T=40):
    """f holds (≈1) from step 5 to 34 while c keeps what i wrote at step 5."""
    t = np.arange(T)
    f = np.where((t >= 5) & (t < 35), 0.995, 0.3 + 0.2 * np.sin(t))
    i = np.where(t == 5, 0.97, 0.05)
    c = np.where((t >= 5) & (t < 35), 1.3, -0.2)
    return {"f": f, "i": i, "c": c, "h": 0.8 * np.tanh(c)}


def test_history_rows_values_and_gate_scale():
    s = _france()
    lines = _text(UnitHistory(s, 17, labels={"c": "c_t"}), 70)
    assert len(lines) == 1 + 4
    rows = {ln.split()[0]: ln for ln in lines[1:]}
    assert set(rows) == {"f", "i", "c_t", "h"}
    # value at the cursor, printed at the right as the UI prints it
    assert rows["f"].rstrip().endswith(fmt(s["f"][17], signed=False))
    assert rows["c_t"].rstrip().endswith(fmt(s["c"][17]))
    assert all(len(ln) <= 70 for ln in lines)
    # f is held open for 30 steps: a long run of full blocks; i fires once
    assert "█" * 30 in rows["f"]
    assert rows["i"].count("█") >= 1 and rows["i"].count("█") <= 2
    # the time axis: first and last step at the ends
    assert lines[0].split()[0] == "0" and lines[0].rstrip().endswith("39")


def test_history_cursor_marked_in_header_and_every_row():
    s = _france()
    width = 70
    u = UnitHistory(s, 17)
    lw, sw, vw = u.geometry(width)
    cols = u.cursor_columns(width)
    # 40 steps over sw columns: a whole number of columns per step, step 17 owns its own
    cell = sw // 40
    assert cell >= 1 and cols == range(17 * cell, 18 * cell)
    lines = _text(u, width)
    assert lines[0].index("▼") == lw + 1 + cols.start + (len(cols) - 1) // 2
    assert "t=17" in lines[0]
    rows = list(Segment.split_lines(_segments(u, width)))[1:]
    for row in rows:
        highlighted, x = [], 0
        for seg in row:
            for _ in seg.text:
                if seg.style.bgcolor is not None and x > lw:
                    highlighted.append(x - lw - 1)
                x += 1
        assert highlighted == list(cols)
    # without colour the cursor column is reverse video
    mono_rows = list(Segment.split_lines(_segments(UnitHistory(s, 17, color=False), width)))[1:]
    for row in mono_rows:
        rev, x = [], 0
        for seg in row:
            for _ in seg.text:
                if seg.style.reverse:
                    rev.append(x - lw - 1)
                x += 1
        assert rev == list(cols)


def test_history_long_sequence_keeps_extremes_and_places_cursor():
    rng = np.random.default_rng(1)
    T = 5000
    c = rng.normal(size=T) * 0.1
    c[1234], c[4000] = 3.0, -2.5
    f = 1 / (1 + np.exp(-rng.normal(size=T)))
    f[2500] = 0.0
    # resample: the value furthest from each bucket's median keeps single-step spikes
    cols, col_of = resample(c, 60)
    assert cols.shape == (60,) and cols.max() == 3.0 and cols.min() == -2.5
    assert cols[col_of[1234]] == 3.0 and cols[col_of[4000]] == -2.5
    gcols, gcol_of = resample(f, 60)
    assert gcols[gcol_of[2500]] == 0.0

    u = UnitHistory({"c": c, "f": f}, 4000)
    width = 70
    lw, sw, vw = u.geometry(width)
    lines = _text(u, width)
    edges = (np.arange(sw + 1) * T) // sw
    k = int(np.flatnonzero((edges[:-1] <= 4000) & (4000 < edges[1:]))[0])
    assert u.cursor_columns(width) == range(k, k + 1)
    assert lines[0].index("▼") == lw + 1 + k
    c_row = lines[1][lw + 1 : lw + 1 + sw]
    assert c_row[k] == "▁"  # the -2.5 at the cursor is the bottom level
    kk = int(np.flatnonzero((edges[:-1] <= 1234) & (1234 < edges[1:]))[0])
    assert c_row[kk] == "█"
    assert lines[1].rstrip().endswith("-2.50")
    assert lines[0].rstrip().endswith("4999")


def test_history_signed_zero_is_mid_level_and_nan_is_loud():
    s = {"c": np.array([-1.0, 0.0, 1.0, np.nan])}
    u = UnitHistory(s, 3, header=False)
    lw = len("c ±1.00")
    width = lw + 1 + 8 + 1 + u.value_width()
    assert u.geometry(width) == (lw, 8, u.value_width())
    row = _text(u, width)[0]
    assert row.startswith("c ±1.00 ")
    spark = row[lw + 1 : lw + 1 + 8]  # label and space, then 8 columns for 4 steps
    assert spark[0:2] == "▁▁" and spark[2:4] == "▅▅" and spark[4:6] == "██" and spark[6:8] == "!!"
    assert row.rstrip().endswith("nan")
    segs = _segments(UnitHistory(s, 3, header=False), width)
    nan_seg = next(sg for sg in segs if sg.text.strip() == "nan")
    assert nan_seg.style.bold and nan_seg.style.bgcolor is not None


def test_history_height_and_validation_and_styles():
    s = _france()
    lines = _text(UnitHistory(s, 0, height=2), 60)
    assert len(lines) == 1 + 2 * 4
    assert lines[1].split()[0] == "f" and lines[2].startswith(" ")  # label on the top line
    with pytest.raises(ValueError):
        UnitHistory({"f": np.zeros(3), "c": np.zeros(4)}, 0)
    # 1-based step labels for a 1-based header; the cursor index stays 0-based
    one = _text(UnitHistory(s, 16, step_base=1), 60)[0]
    zero = _text(UnitHistory(s, 16), 60)[0]
    assert "t=17" in one and one.split()[0] == "1" and one.rstrip().endswith("40")
    assert "t=16" in zero and one.index("▼") == zero.index("▼")
    # cursor beyond the data: nothing marked, value shown as a dash
    out = _text(UnitHistory(s, 99), 60)
    assert "▼" not in out[0] and out[1].rstrip().endswith("—")
    for cs in ("truecolor", None):
        for kw in ({}, {"color": False}, {"height": 3}):
            segs = _segments(UnitHistory(s, 5, **kw), 60, color_system=cs)
            assert all(sg.style is not None for sg in segs if sg.text != "\n")


def test_heatmap_fast_paths_agree_with_the_palette():
    """The vectorised glyph/colour levels must say what the scalar palette says."""
    rng = np.random.default_rng(3)
    signed = rng.normal(size=(6, 50)) * 1.5
    gates = rng.random(size=(6, 50))
    gates[0, :5] = [0.0, 0.01, 0.02, 0.98, 1.0]
    for data, is_signed in ((signed, True), (gates, False)):
        vmax = 2.0 if is_signed else 1.0
        hm = Heatmap(data, signed=is_signed, vmax=vmax, row_labels=False, legend=False)
        rows = _text(hm, 60)[1:]
        for r, row in enumerate(rows):
            want = [signed_glyph(v, vmax) if is_signed else gate_glyph(v) for v in data[r]]
            assert list(row[:50]) == want
        # colours: exactly the palette's (the quantisation is a multiple of its steps)
        segs = _segments(hm, 60)
        pal = Palette()
        for r, line in enumerate(list(Segment.split_lines(segs))[1:]):
            fills = [seg.style.bgcolor for seg in line for _ in seg.text][:50]
            for v, got in zip(data[r], fills):
                exact = (pal.signed_fill(v, vmax) if is_signed else pal.gate_fill(v)).triplet
                assert got.triplet == exact, (v, got, exact)


@pytest.mark.parametrize(
    "make, width",
    [
        (lambda: CellDiagram(_cell()), FULL_WIDTH),
        (lambda: CellDiagram(_cell(peephole=(0.1, 0.2, 0.3))), COMPACT_WIDTH),
        (lambda: Heatmap(_grid(5, 12)), 40),
        (lambda: UnitHistory(_france(), 3, height=2), 60),
    ],
)
def test_line_count_matches_what_textual_counts(make, width):
    """Textual sizes `height: auto` widgets by counting newlines in the segments;
    a renderable that omits the last one loses its bottom row on screen."""
    con = Console(width=width, color_system="truecolor", file=open("/dev/null", "w"))
    r = make()
    newlines = sum(seg.text.count("\n") for seg in con.render(r, con.options.update_width(width)))
    lines = con.render_lines(r, con.options.update_width(width), pad=False)
    assert newlines == len(lines) and len(lines) > 1


def test_renderables_never_import_textual():
    """The drawing layer is plain Rich: usable (and testable) without Textual."""
    import subprocess
    import sys

    code = "import sys, lstm_tui.renderables; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_cell_diagram_names_saturated_gates_in_words():
    held = "\n".join(_text(CellDiagram(_cell()), FULL_WIDTH))  # f = 0.9931, i = 0.41
    assert "keeps" in held and "forgets" not in held and "writes" not in held
    shut = "\n".join(_text(CellDiagram(_cell(f=0.004, i=0.991)), FULL_WIDTH))
    assert "forgets" in shut and "writes" in shut and "keeps" not in shut
    mid = "\n".join(_text(CellDiagram(_cell(f=0.5, i=0.5)), FULL_WIDTH))
    assert not any(w in mid for w in ("keeps", "forgets", "writes", "blocks"))
    assert "blocks" in "\n".join(_text(CellDiagram(_cell(i=0.0)), FULL_WIDTH))
