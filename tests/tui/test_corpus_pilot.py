"""The debugger's corpus keys, driven as a user drives them: the span, select, θ, match, export.

The selection tests run on a planted trace (its cell state written by hand, as
tests/engine/test_select.py plants it), so the units the screen marks are known
without asking the engine: units 3, 7 and 9 switch on over steps 11–15 (positions
10–14) and are off at step 10; unit 5 is on at step 10 too, unit 8 only until step 13.
Everything asserted is read off the screen (the strip's and the table's text, the
notes, the dialogs' options) or off the files written.
"""

from __future__ import annotations

import csv
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from textual.widgets import Input, OptionList

from lstm_engine import Trace
from lstm_tui.source import Source

from tui_helpers import RecordingApp, widget_text

SIZE = (120, 36)
ON, OFF = 1.0, 0.05  # tanh(1.0) = 0.76 ≥ 0.3; tanh(0.05) = 0.05 < 0.3
TOKENS = tuple(f"w{k}" for k in range(30))


def planted_trace(second_place: bool = True) -> Trace:
    """c (30 steps × 12 units) with the pattern above; with `second_place`, units 3 and 7
    switch on again over steps 21–24 (unit 1 with them for three steps only)."""
    c = np.full((30, 12), OFF)
    c[10:15, [3, 7]] = ON
    c[9:15, 5] = ON
    c[10:13, 8] = ON
    c[10:16, 9] = ON
    if second_place:
        c[20:24, [3, 7]] = ON
        c[20:23, 1] = ON
    z = np.zeros((1, 1, 30, 12))
    return Trace(x=np.zeros((30, 1)), h0=np.zeros((1, 1, 12)), c0=np.zeros((1, 1, 12)),
                 i=z + 0.5, f=z + 0.5, g=z, o=z + 0.5, c=c[None, None], h=np.tanh(c)[None, None],
                 tokens=TOKENS)  # fmt: skip


def planted(second_place: bool = True) -> Source:
    return Source(trace=planted_trace(second_place), name="planted", origin="live")


async def goto(pilot, step: int) -> None:
    await pilot.press("g")
    await pilot.pause()
    pilot.app.screen.query_one(Input).value = str(step)
    await pilot.press("enter")
    await pilot.pause()


def marked_units(screen) -> set[int]:
    """The units the table shows with ◆ right after their number (every row is on screen)."""
    table = screen.query_one("#table")
    found = (re.match(r"[▶ ]\s*(\d+)◆", line) for line in widget_text(table).splitlines()[2:])
    return {int(m.group(1)) for m in found if m}


def span_tokens(screen) -> list[str]:
    """The tokens the strip draws with the span's ▏ before them."""
    line = widget_text(screen.query_one("#strip")).splitlines()[1]
    return [word[1:] for word in line.split() if word.startswith("▏")]


async def select_planted(pilot) -> None:
    """Steps 11–15 selected with shift+→ from step 11."""
    await goto(pilot, 11)
    await pilot.press(*["shift+right"] * 4)
    await pilot.pause()


async def test_shift_arrows_select_the_planted_units_and_esc_drops_them():
    app = RecordingApp(planted())
    async with app.run_test(size=SIZE) as pilot:
        await select_planted(pilot)
        screen = app.screen
        assert span_tokens(screen) == ["w10", "w11", "w12", "w13", "w14"]
        assert marked_units(screen) == {3, 7, 9}
        title = widget_text(screen.query_one("#table")).splitlines()[0]
        assert "◆ 3 on over steps 11–15: 3 7 9 · tanh c ≥ 0.3" in title
        assert screen.unit == 3  # the first selected unit is the one in the cell view
        await pilot.press("shift+right")  # steps 11–16: 3 and 7 are off at 16, 9 is not
        await pilot.pause()
        assert marked_units(screen) == {9}
        await pilot.press("shift+left")
        await pilot.press("shift+left")  # shrinks from the head: steps 11–14, unit 8 still off
        await pilot.pause()
        assert span_tokens(screen) == ["w10", "w11", "w12", "w13"] and marked_units(screen) == {3, 7, 9}
        await pilot.press("shift+left", "shift+left")  # steps 11–12: unit 8 is on there
        await pilot.pause()
        assert marked_units(screen) == {3, 7, 8, 9}
        await pilot.press("escape")
        await pilot.pause()
        assert span_tokens(screen) == [] and marked_units(screen) == set()
        assert "on over" not in widget_text(screen.query_one("#table")).splitlines()[0]


async def test_v_changes_the_quantity_the_span_selects_on():
    """v changes the quantity the selection is made on: h = tanh c here, so tanh h ≥ 0.3
    needs h ≥ 0.31, which tanh(1.0) = 0.76 passes: the same units, the quantity named."""
    app = RecordingApp(planted())
    async with app.run_test(size=SIZE) as pilot:
        await select_planted(pilot)
        await pilot.press("v")  # c → h
        await pilot.pause()
        title = widget_text(app.screen.query_one("#table")).splitlines()[0]
        assert "tanh h ≥ 0.3" in title and marked_units(app.screen) == {3, 7, 9}


async def test_theta_asks_and_reselects():
    app = RecordingApp(planted())
    async with app.run_test(size=SIZE) as pilot:
        await select_planted(pilot)
        await pilot.press("t")
        await pilot.pause()
        field = app.screen.query_one(Input)
        assert field.value == "0.3"
        field.value = "1.5"
        await pilot.press("enter")
        await pilot.pause()
        assert "between 0 and 1" in widget_text(app.screen.query_one("#error"))
        field.value = "0.77"  # above tanh(1.0) = 0.7616: nothing is on
        await pilot.press("enter")
        await pilot.pause()
        assert marked_units(app.screen) == set()
        assert any("No unit is on: tanh c ≥ 0.77" in n.message for n in app.notes)
        assert "none on over steps 11–15 · tanh c ≥ 0.77" in widget_text(
            app.screen.query_one("#table")).splitlines()[0]  # fmt: skip
        await pilot.press("t")
        await pilot.pause()
        app.screen.query_one(Input).value = "0.76"
        await pilot.press("enter")
        await pilot.pause()
        assert marked_units(app.screen) == {3, 7, 9}


async def test_a_mouse_drag_over_the_strip_selects_a_span():
    app = RecordingApp(planted())
    async with app.run_test(size=SIZE) as pilot:
        await goto(pilot, 11)
        strip = app.screen.query_one("#strip")
        line = widget_text(strip).splitlines()[1]
        x_of = {w: line.index(f" {w} ") + 1 for w in ("w10", "w14")}
        await pilot.mouse_down(strip, offset=(x_of["w10"], 1))
        await pilot.hover(strip, offset=(x_of["w14"], 1))
        await pilot.mouse_up(strip, offset=(x_of["w14"], 1))
        await pilot.pause()
        assert span_tokens(app.screen) == ["w10", "w11", "w12", "w13", "w14"]
        assert marked_units(app.screen) == {3, 7, 9}
        assert app.screen.t == 14  # the cursor ends where the drag did


async def test_match_lists_the_other_place_first_and_enter_jumps_there():
    app = RecordingApp(planted())
    async with app.run_test(size=SIZE) as pilot:
        await select_planted(pilot)
        await pilot.press("M")
        await app.workers.wait_for_complete()
        await pilot.pause()
        options = app.screen.query_one(OptionList)
        lines = [str(options.get_option_at_index(k).prompt) for k in range(options.option_count)]
        # steps 21–24: 2 of the 3 selected units on (3, 7), no other unit on over it;
        # steps 11–16: unit 9 alone (3 and 7 are off at step 16); the selection itself is not listed
        assert lines[0].startswith("  1. steps 21–24") and "2 of 3 selected on, 0 others" in lines[0]
        assert "⟦w20 w21 w22 w23⟧ w24" in lines[0]
        assert lines[1].startswith("  2. steps 11–16") and "1 of 3 selected on" in lines[1]
        assert not any("steps 11–15 " in line for line in lines)
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert screen.t == 20
        strip = widget_text(screen.query_one("#strip")).splitlines()[1]
        assert [w[1:] for w in strip.split() if w.startswith("≈")] == ["w20", "w21", "w22", "w23"]
        assert marked_units(screen) == {3, 7, 9}  # the selection's units stay marked
        assert "match 1 here: steps 21–24" in widget_text(screen.query_one("#table")).splitlines()[0]


async def test_match_says_when_there_is_no_other_place():
    """Unit 2 is on over steps 5–7 only: nothing else to list."""
    lone = np.full((12, 4), OFF)
    lone[4:7, 2] = ON
    trace = Trace(x=np.zeros((12, 1)), h0=np.zeros((1, 1, 4)), c0=np.zeros((1, 1, 4)),
                  i=np.full((1, 1, 12, 4), 0.5), f=np.full((1, 1, 12, 4), 0.5),
                  g=np.zeros((1, 1, 12, 4)), o=np.full((1, 1, 12, 4), 0.5), c=lone[None, None],
                  h=np.tanh(lone)[None, None], tokens=TOKENS[:12])  # fmt: skip
    app = RecordingApp(Source(trace=trace, name="lone", origin="live"))
    async with app.run_test(size=SIZE) as pilot:
        await goto(pilot, 5)
        await pilot.press("shift+right", "shift+right", "M")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert marked_units(app.screen) == {2}
        assert any(n.message.startswith("No other place where unit 2 switches on (tanh c ≥ 0.3")
                   for n in app.notes)  # fmt: skip
        assert not app.screen.query(OptionList)


async def test_match_without_a_span_says_how_to_select():
    app = RecordingApp(planted())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("M")
        await pilot.pause()
        assert any("Select a token span first" in n.message for n in app.notes)


async def test_screenshot_export_writes_an_svg_where_the_user_says_and_never_overwrites(
        tmp_path, monkeypatch):  # fmt: skip
    monkeypatch.chdir(tmp_path)
    app = RecordingApp(planted())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+e")
        await pilot.pause()
        dialog = app.screen
        options = dialog.query_one(OptionList)
        labels = [str(options.get_option_at_index(k).prompt) for k in range(options.option_count)]
        svg = next(k for k, label in enumerate(labels) if "SVG" in label)
        options.highlighted = svg
        await pilot.pause()
        offered = dialog.query_one("#path", Input).value
        assert offered.endswith(".svg") and "/" not in offered
        await pilot.press("enter")  # the choice: on to the path
        await pilot.press("enter")  # the path as offered: the current folder
        await pilot.pause()
        await pilot.pause()
        written = tmp_path / offered
        assert written.is_file()
        assert ET.parse(written).getroot().tag.endswith("svg")
        assert "w10" in written.read_text()  # the debugger's screen, not the dialog's
        assert any(f"Screenshot saved to {written}" in n.message for n in app.notes)
        # the same name again: the dialog refuses it, the file stays as it was
        before = written.read_bytes()
        await pilot.press("ctrl+e")
        await pilot.pause()
        app.screen.query_one(OptionList).highlighted = svg
        app.screen.query_one("#path", Input).value = offered
        app.screen.query_one("#path", Input).focus()
        await pilot.press("enter")
        await pilot.pause()
        assert "exists: it is never replaced" in widget_text(app.screen.query_one("#error"))
        # a folder the user types gets the offered name inside it
        (tmp_path / "shots").mkdir()
        app.screen.query_one("#path", Input).value = "shots"
        await pilot.press("enter")
        await pilot.pause()
        await pilot.pause()
        assert [p.suffix for p in (tmp_path / "shots").iterdir()] == [".svg"]
        assert written.read_bytes() == before


# --- inputs: without a corpus, the model's examples
async def test_x_X_and_the_input_list_walk_the_models_examples():
    from lstm_engine import load
    from lstm_tui.opening import open_path
    from tui_helpers import SAMPLES

    path = SAMPLES / "charlm.pt"
    if not path.exists():
        pytest.skip("sample_models/charlm.pt is not built")
    examples = load(path).examples
    app = RecordingApp(open_path(str(path)))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert "".join(screen.source.trace.tokens) == examples[0]
        await pilot.press("x")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.source.example == 2 and "".join(screen.source.trace.tokens) == examples[1]
        await pilot.press("X", "X")  # back past the first: wraps to the last
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.source.example == 3 and "".join(screen.source.trace.tokens) == examples[2]
        await pilot.press("i")
        await pilot.pause()
        options = app.screen.query_one(OptionList)
        lines = [str(options.get_option_at_index(k).prompt) for k in range(options.option_count)]
        assert len(lines) == 3 and lines[2].startswith("▶ 3") and lines[0].startswith("  1")
        assert f"{len(examples[2])} steps" in lines[2]
        assert options.highlighted == 2
        await pilot.press("up", "up", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen is screen and screen.source.example == 1


# --- export to CSV
async def _export(pilot, pick: str, path: str | None = None) -> None:
    """ctrl+e, the option whose label starts with `pick`, Enter, the path (or the offered)."""
    await pilot.press("ctrl+e")
    await pilot.pause()
    options = pilot.app.screen.query_one(OptionList)
    labels = [str(options.get_option_at_index(k).prompt) for k in range(options.option_count)]
    options.highlighted = next(k for k, label in enumerate(labels) if label.startswith(pick))
    await pilot.pause()
    await pilot.press("enter")
    if path is not None:
        pilot.app.screen.query_one("#path", Input).value = path
    await pilot.press("enter")
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def test_export_writes_the_table_at_t_and_a_quantity_whose_numbers_are_the_traces(
        tmp_path, monkeypatch):  # fmt: skip
    from tui_helpers import synthetic_source

    monkeypatch.chdir(tmp_path)
    src = synthetic_source(T=9, hidden=5, layers=2, seed=3, name="exported")
    tr = src.trace
    app = RecordingApp(src)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("right", "right", "right", "right_square_bracket")  # step 4, layer 2
        await _export(pilot, "The unit table at step 4")
        table = tmp_path / "exported_L2_step4.csv"
        assert any(f"Exported to {table}" in n.message for n in app.notes)
        rows = list(csv.DictReader(table.open()))
        assert [int(r["unit"]) for r in rows] == list(range(5)) and {r["step"] for r in rows} == {"4"}
        for name in ("f", "c", "h", "kept", "delta_c"):
            got = np.array([float(r[name]) for r in rows], dtype=tr.c.dtype)
            np.testing.assert_array_equal(got, tr.window(name, 1, 0, 3, 4)[0])
        await _export(pilot, "c_t over the whole sequence", path="c.csv")
        rows = list(csv.reader((tmp_path / "c.csv").open()))
        assert rows[0] == ["step", "token", *(f"u{u}" for u in range(5))]
        assert [r[1] for r in rows[1:]] == list(tr.tokens)
        got = np.array([[float(v) for v in r[2:]] for r in rows[1:]], dtype=tr.c.dtype)
        np.testing.assert_array_equal(got, tr.c[1, 0])
        # the same name again is refused in the dialog; the file is left as it was
        before = (tmp_path / "c.csv").read_bytes()
        await _export(pilot, "c_t over the whole sequence", path="c.csv")
        assert "exists: it is never replaced" in widget_text(app.screen.query_one("#error"))
        assert (tmp_path / "c.csv").read_bytes() == before


async def test_textuals_screenshot_action_writes_to_the_current_folder(tmp_path, monkeypatch):
    """app.screenshot (Textual's action) goes through the same exclusive writer: the current
    folder, not ~/Downloads (here pointed at a folder that does not exist)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "no-home"))
    app = RecordingApp(planted())
    async with app.run_test(size=SIZE) as pilot:
        await app.run_action("app.screenshot")
        await pilot.pause()
        shots = list(tmp_path.glob("*.svg"))
        assert len(shots) == 1 and ET.parse(shots[0]).getroot().tag.endswith("svg")
        assert any(f"Screenshot saved to {shots[0]}" in n.message for n in app.notes)
        await app.run_action("app.screenshot('mine.svg')")
        await app.run_action("app.screenshot('mine.svg')")  # again: refused, not replaced
        await pilot.pause()
        assert (tmp_path / "mine.svg").is_file()
        assert any(n.message.startswith("Screenshot not saved:") and "already exists" in n.message
                   for n in app.notes)  # fmt: skip
