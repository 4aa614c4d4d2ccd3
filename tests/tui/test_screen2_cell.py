"""Issue 14, the cell complete: h_t-1 in the table and on the diagram, h_t's two destinations,
a compact diagram that names its wires, peephole weights uncut, one precision per table
column, ⏎ for a newline token, and the diagram's colours on the sequence's scale.

Each test reads what is drawn: the renderable as text (and its segments' styles), or the
widgets of a running app as the compositor draws them.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from rich.console import Console

from lstm_engine import CellWeights, LSTMSpec, record
from lstm_tui.renderables.cell_diagram import (
    COMPACT_WIDTH,
    FULL_WIDTH,
    LARGE_WIDTH,
    CellDiagram,
    CellValues,
)
from lstm_tui.renderables.palette import fmt, signed_style
from lstm_tui.source import Source
from lstm_tui.stepdata import scales
from lstm_tui.widgets.cell_view import cell_values
from lstm_tui.widgets.unit_table import column_digits
from lstm_tui.widgets.unit_table import fmt as table_fmt
from tui_helpers import RecordingApp, synthetic_source, table_rows, widget_text

WIDTHS = (COMPACT_WIDTH, FULL_WIDTH, LARGE_WIDTH)


def _values(**over) -> CellValues:
    c_prev, f, i, g, o = 1.7342, 0.9931, 0.4127, -0.6283, 0.8114
    kept, written = f * c_prev, i * g
    c = kept + written
    kw = dict(unit=7, c_prev=c_prev, f=f, i=i, g=g, o=o, kept=kept, written=written, c=c,
              tanh_c=math.tanh(c), h_cell=o * math.tanh(c), h=o * math.tanh(c),
              x_label="fluent", h_prev=-0.4211)  # fmt: skip
    kw.update(over)
    return CellValues(**kw)


def _lines(renderable, width: int) -> list[str]:
    con = Console(width=width, color_system=None, record=True, file=open("/dev/null", "w"))
    con.print(renderable)
    return con.export_text().rstrip("\n").split("\n")


def _segments(renderable, width: int):
    con = Console(width=width, color_system="truecolor", file=open("/dev/null", "w"))
    return list(con.render(renderable, con.options.update_width(width)))


@pytest.mark.parametrize("width", WIDTHS)
def test_h_prev_is_on_the_bus_and_h_t_goes_two_ways(width):
    v = _values()
    lines = _lines(CellDiagram(v), width)
    assert max(len(ln.rstrip()) for ln in lines) <= width
    text = "\n".join(lines)
    # h_t-1 with its value where the gates read it (the bus, or "gates read" in compact)
    bus = [k for k, ln in enumerate(lines) if "┻" in ln or "gates read" in ln]
    assert bus, text
    near = "\n".join(lines[max(bus[0] - 1, 0) : bus[0] + 1])
    assert "h_t-1" in near and fmt(v.h_prev) in near, near
    # both destinations of h_t, each behind its own arrow
    assert re.search(r"[┳┣]▶ output", text) and "┗▶ next step" in text, text
    # the arrows fork off h_t's row, below it or on it
    out_row = next(k for k, ln in enumerate(lines) if "▶ output" in ln)
    h_row = next(k for k, ln in enumerate(lines) if fmt(v.h) in ln and "h_t" in ln)
    assert 0 <= out_row - h_row <= 1
    assert next(k for k, ln in enumerate(lines) if "▶ next step" in ln) == out_row + 1


def test_the_layer_above_is_h_ts_destination_below_the_top_layer():
    src = synthetic_source(layers=2, hidden=4, T=3)
    assert cell_values(src, 0, 0, 1, 0).h_to == "layer 2"
    assert cell_values(src, 1, 0, 1, 0).h_to == "output"
    text = "\n".join(_lines(CellDiagram(cell_values(src, 0, 0, 1, 0)), FULL_WIDTH))
    assert "▶ layer 2" in text and "▶ next step" in text


def test_a_projected_cell_has_no_per_unit_h_prev_and_says_what_h_t_is():
    src = synthetic_source(hidden=4, proj=2, T=3)
    v = cell_values(src, 0, 0, 1, 0)
    assert v.h_prev is None and v.projected
    for width in WIDTHS:
        text = "\n".join(_lines(CellDiagram(v), width))
        assert "W_hr·h_cell" in text and "h_t-1" in text and "▶ next step" in text


def test_cell_values_read_h_prev_from_the_engine_in_both_directions():
    src = synthetic_source(bidirectional=True, hidden=4, T=5)
    tr = src.trace
    for d in (0, 1):
        for t in range(tr.T):
            v = cell_values(src, 0, d, t, 2)
            assert v.h_prev == pytest.approx(float(tr.value("h_prev", 0, d, t)[2]), abs=1e-12)
    # the reverse direction's first step read (the last position) read the initial state
    assert cell_values(src, 0, 1, tr.T - 1, 2).h_prev == pytest.approx(float(tr.h0[0, 1, 2]))
    assert cell_values(src, 0, 1, 0, 2).h_prev == pytest.approx(float(tr.h[0, 1, 1, 2]))


def test_the_compact_diagram_names_gates_and_wires_as_the_wide_one_does():
    v = _values()
    compact = "\n".join(_lines(CellDiagram(v), COMPACT_WIDTH))
    wide = "\n".join(_lines(CellDiagram(v), FULL_WIDTH))
    for name in ("c_t-1", "kept", "c_t", "written", "σ f", "σ i", "tanh g", "σ o", "h_t",
                 "h_t-1", "x_t", '"fluent"'):  # fmt: skip
        assert name in compact and name in wide, name
    assert "i·g" not in compact  # the wire is "written", as in the wide diagram
    # each gate's value follows its name
    for gate in ("f", "i", "o"):
        assert f"σ {gate} {fmt(getattr(v, gate), signed=False)}" in compact
    assert f"written {fmt(v.written)}" in compact and f"tanh g {fmt(v.g)}" in compact


def test_the_large_diagram_names_each_gate_in_its_box():
    text = "\n".join(_lines(CellDiagram(_values()), LARGE_WIDTH))
    row = next(ln for ln in text.split("\n") if "forget" in ln)
    assert [row.index(w) for w in ("forget", "input", "candidate", "output")] == sorted(
        row.index(w) for w in ("forget", "input", "candidate", "output"))
    assert "forget" not in "\n".join(_lines(CellDiagram(_values()), LARGE_WIDTH - 1))


@pytest.mark.parametrize("weights", [(1.1, 1.3, -1.5), (-12.345, 0.5, 3.0)])
def test_peephole_weights_are_listed_whole_at_one_precision(weights):
    p_i, p_f, p_o = weights
    for width in (FULL_WIDTH, LARGE_WIDTH):
        lines = _lines(CellDiagram(_values(peephole=weights)), width)
        row = next(ln for ln in lines if "peephole weights" in ln)
        assert f"p_f {fmt(p_f)}" in row and f"p_i {fmt(p_i)}" in row and f"p_o {fmt(p_o)}" in row
        numbers = re.findall(r"[+-]\d+\.(\d+)", row)
        assert len(numbers) == 3 and {len(d) for d in numbers} == {2}, row
        # no cut weight ("p+1.1") anywhere
        assert not re.search(r"p[+-]\d", "\n".join(lines))


def test_the_diagram_colours_each_wire_on_the_tables_sequence_scale():
    src = synthetic_source(hidden=4, T=6, seed=3)
    sc = scales(src.trace, 0, 0)
    v = cell_values(src, 0, 0, 2, 1)
    by_text = {s.text: s.style for s in _segments(CellDiagram(v, scales=sc), FULL_WIDTH)}
    for q, value in (("c", v.c), ("c_prev", v.c_prev), ("kept", v.kept), ("h", v.h),
                     ("h_prev", v.h_prev), ("written", v.written)):  # fmt: skip
        assert by_text[fmt(value)].color == signed_style(value, sc[q]).color, q
    # a scale of the sequence, not of this step: the same numbers under a larger scale
    # are fainter, where a per-step scale would have drawn them at full strength
    v = _values()
    big = {"c": 10.0, "c_prev": 10.0, "kept": 10.0, "h": 4.0, "h_prev": 4.0}
    by_text = {s.text: s.style for s in _segments(CellDiagram(v, scales=big), FULL_WIDTH)}
    for q, value in (("c", v.c), ("h", v.h), ("h_prev", v.h_prev)):
        assert by_text[fmt(value)].color == signed_style(value, big[q]).color, q
        assert by_text[fmt(value)].color != signed_style(value, max(1.0, abs(value))).color, q


async def test_the_cell_view_uses_the_sequence_scales():
    src = synthetic_source(hidden=4, T=6, seed=3)
    app = RecordingApp(src)
    async with app.run_test(size=(120, 36)):
        diagram = app.screen.query_one("#cell").render()
        assert diagram.scales == scales(src.trace, 0, 0)


async def test_the_table_shows_h_prev_for_every_unit():
    src = synthetic_source(hidden=6, T=5, seed=1)
    app = RecordingApp(src)
    async with app.run_test(size=(120, 36)) as pilot:
        for _ in range(3):
            await pilot.press("right")
        await pilot.pause()
        table = app.screen.query_one("#table")
        header = widget_text(table).splitlines()[1]
        assert header.split()[1] == "h_t-1"  # first, what the step read
        want = src.trace.value("h_prev", 0, 0, app.screen.t)
        rows = table_rows(table, h_prev=True)
        assert len(rows) == 6
        for unit, numbers in rows:
            assert numbers[0] == pytest.approx(float(want[unit]), abs=0.0051)
        # and the diagram's bus carries the selected unit's
        assert fmt(float(want[app.screen.unit])) in widget_text(app.screen.query_one("#cell"))


def _growing_trace():
    """Units whose i and f are pinned open and g fixed: c grows by g each step, to ±1500."""
    w = LSTMSpec.random(3, 4, seed=1).weights[0][0]
    b = np.zeros_like(np.asarray(w.b_ih))
    b[0:4] = b[4:8] = b[12:16] = 30.0  # i, f, o of every unit open
    b[8:12] = (30.0, 0.5, -0.3, 30.0)  # g = tanh: 1, 0.46, -0.29, 1
    cell = CellWeights(w.W_ih * 0, w.W_hh * 0, b, np.zeros_like(b), None, None, None, None)
    return record(LSTMSpec(weights=((cell,),)), np.ones((1500, 3)))


async def test_each_table_column_keeps_one_precision_when_squeezed():
    """At 80 columns c of ±1500 does not fit at two decimals: its columns lose one, all of
    their numbers alike (no -434.1 over -434.12 over +1499.0)."""
    app = RecordingApp(Source(trace=_growing_trace(), name="grow", origin="live"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("end")
        await pilot.pause()
        lines = widget_text(app.screen.query_one("#table")).splitlines()
        rows = [ln.replace("▶", " ").split()[1:] for ln in lines[2:6]]
        assert all(len(r) == len(rows[0]) for r in rows)
        decimals = [{len(r[k].split(".")[1]) if "." in r[k] else 0 for r in rows}
                    for k in range(len(rows[0]))]  # fmt: skip
        assert all(len(d) == 1 for d in decimals), rows
        assert {0, 1} & set().union(*decimals)  # some column was squeezed
        assert 2 in set().union(*decimals)  # and the others were not


def test_table_fmt_prints_a_columns_precision():
    assert table_fmt(-43.318, 6, False, 1) == " -43.3"
    assert table_fmt(149.0, 6, False, 1) == "+149.0"
    assert table_fmt(0.5, 5, True, 1) == "  0.5"
    assert table_fmt(float("inf"), 5, False, 1) == " +inf"
    assert table_fmt(1e6, 5, False, 2) == "+1e6".rjust(5)  # never "+inf" for a finite value
    assert column_digits(6, 6) == 2 and column_digits(7, 6) == 1 and column_digits(7, 5) == 0


async def test_a_newline_token_shows_as_return_in_the_cell_view():
    spec = LSTMSpec.random(2, 3, seed=0)
    trace = record(spec, np.ones((3, 2)), tokens=("a", "\n", "b"))
    app = RecordingApp(Source(trace=trace, name="nl", origin="live"))
    for size in ((80, 24), (120, 36), (200, 60)):
        async with app.run_test(size=size) as pilot:
            await pilot.press("right")
            await pilot.pause()
            assert '"⏎"' in widget_text(app.screen.query_one("#cell")), size
        app = RecordingApp(Source(trace=trace, name="nl", origin="live"))
