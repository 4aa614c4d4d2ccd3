"""Pilot tests for asking "when?": watches (w, W), continue (c, C), search (/, n, N), the quick
jumps, bookmarks (m, ') and saving them with the trace (ctrl+s).

Every stop is read back from the screen (the header's `t = N / T`) and compared with
Session.where on the same trace: what the UI finds must be what the engine finds.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from textual.widgets import Input, OptionList, Static

from lstm_engine import Session, Trace
from lstm_tui.opening import open_path
from lstm_tui.screens.debugger import DebuggerScreen
from lstm_tui.screens.watch_dialogs import MarksDialog, SaveDialog, SearchDialog, WatchDialog
from lstm_tui.source import Source
from lstm_tui.widgets.status_header import StatusHeader
from lstm_tui.widgets.watch_panel import WatchPanel

from tui_helpers import RecordingApp, synthetic_source, widget_text

SIZE = (120, 36)


def shown_t(screen: DebuggerScreen) -> int:
    """The cursor as the header shows it, as an engine position (the header counts from 1)."""
    header = widget_text(screen.query_one("#header"))
    step = int(header.split("t = ")[1].split(" /")[0])
    return step - 1


async def type_into(pilot, text: str) -> None:
    """Put `text` in the focused dialog's Input (as a paste would) and let it react."""
    pilot.app.screen.query_one(Input).value = text
    await pilot.pause()


async def add_watch(pilot, text: str) -> None:
    await pilot.press("w")
    await pilot.pause()
    assert isinstance(pilot.app.screen, WatchDialog)
    await type_into(pilot, text)
    await pilot.press("enter")
    await pilot.pause()
    assert isinstance(pilot.app.screen, DebuggerScreen), "the watch was refused"


def where(screen: DebuggerScreen, text: str) -> list[int]:
    return Session(screen.source.trace).where(
        text, layer=screen.lstm_layer, direction=screen.direction).tolist()


async def test_w_adds_a_watch_the_panel_shows_its_value_and_count():
    src = synthetic_source(T=30, hidden=6, seed=1)
    app = RecordingApp(src)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert not screen.query_one(WatchPanel).display  # no watches, no panel
        await add_watch(pilot, "f[2] > 0.5")
        assert screen.watches == (("f[2] > 0.5", True),)
        panel = screen.query_one(WatchPanel)
        assert panel.display
        hits = where(screen, "f[2] > 0.5")
        text = widget_text(panel)
        f = float(src.trace.f[0, 0, 0, 2])
        assert f"f[2]={f:.3g}" in text
        assert f"{len(hits)} steps" in text
        assert ("holds" in text) == (0 in hits)
        await pilot.press("right")
        f1 = float(src.trace.f[0, 0, 1, 2])
        assert f"f[2]={f1:.3g}" in widget_text(panel)


async def test_watch_dialog_shows_the_error_with_a_caret_and_refuses_enter():
    app = RecordingApp(synthetic_source(T=10, hidden=6))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("w")
        await pilot.pause()
        await pilot.press("f", "left_square_bracket", "9", "9", "right_square_bracket")
        await pilot.pause()
        dialog = app.screen
        error = widget_text(dialog.query_one("#error"))
        lines = error.splitlines()
        assert lines[0] == "f[99]"
        assert lines[1].index("^") == 2  # under the 99
        assert "0" in lines[2] and "5" in lines[2]  # the unit range 0..5
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, WatchDialog)  # not added
        await type_into(pilot, "f[3]")  # a number, not a condition
        assert "condition" in widget_text(dialog.query_one("#error"))
        await type_into(pilot, "f[3] < 0.5")
        assert widget_text(dialog.query_one("#error")).strip() == ""
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.watches == ()


async def test_markup_in_an_expression_is_shown_literally():
    app = RecordingApp(synthetic_source(T=10, hidden=6))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("w")
        await pilot.pause()
        await type_into(pilot, "[bold]x[/bold]")
        assert "[bold]x[/bold]" in widget_text(app.screen.query_one("#error"))
        await type_into(pilot, 'token == "[bold]cat[/]"')
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert '[bold]cat[/]' in widget_text(screen.query_one(WatchPanel))


async def test_c_and_C_stop_where_session_where_says_and_say_which_watch():
    src = synthetic_source(T=40, hidden=6, seed=2)
    app = RecordingApp(src)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await add_watch(pilot, "f[1] > 0.6")
        await add_watch(pilot, 'token == "mat"')
        hits = sorted(set(where(screen, "f[1] > 0.6")) | set(where(screen, 'token == "mat"')))
        assert 2 < len(hits) < 40, "the fixture should stop a few times"
        seen = []
        for _ in range(len(hits) + 1):
            await pilot.press("c")
            seen.append(shown_t(screen))
        assert seen == [h for h in hits if h > 0] + [hits[-1]]  # the last c stays put
        assert screen.session.t == hits[-1]
        assert "No later step where f[1] > 0.6 or token == \"mat\" holds." in app.notes[-1].message
        header = widget_text(screen.query_one(StatusHeader))
        held = [e for e in ("f[1] > 0.6", 'token == "mat"') if hits[-1] in where(screen, e)]
        assert f"t = {hits[-1] + 1} / 40" in header
        assert "▶ stopped: " + " and ".join(held) in header
        await pilot.press("right")
        assert "stopped" not in widget_text(screen.query_one(StatusHeader))  # moved on
        await pilot.press("left")
        back = []
        for _ in range(len(hits)):
            await pilot.press("C")
            back.append(shown_t(screen))
        assert back == hits[-2::-1] + [hits[0]]
        assert "◀ stopped: " in widget_text(screen.query_one(StatusHeader))  # the last C's stop
        assert "No earlier step" in app.notes[-1].message


async def test_c_from_the_last_step_and_C_from_the_first_reach_both_ends():
    src = synthetic_source(T=12, hidden=6)
    app = RecordingApp(src)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await add_watch(pilot, "t == 1 or t == 12")  # steps 1 and T, on screen
        await pilot.press("c")
        assert shown_t(screen) == 11
        await pilot.press("C")
        assert shown_t(screen) == 0
        await pilot.press("C")
        assert shown_t(screen) == 0 and "No earlier step" in app.notes[-1].message


async def test_a_watch_turned_off_is_not_a_stop_and_delete_removes_it():
    src = synthetic_source(T=30, hidden=6, seed=3)
    app = RecordingApp(src)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await add_watch(pilot, 't == 5')
        await add_watch(pilot, 't == 9')
        await pilot.press("W")
        await pilot.pause()
        panel = screen.query_one(WatchPanel)
        assert panel.has_focus and panel.selected == 0
        await pilot.press("space")  # t == 5 off
        await pilot.pause()
        assert screen.watches == (("t == 5", False), ("t == 9", True))
        assert "off" in widget_text(panel).splitlines()[1]
        await pilot.press("escape", "c")
        assert shown_t(screen) == 8  # step 9; step 5 is off
        await pilot.press("W", "down", "delete")
        await pilot.pause()
        assert screen.watches == (("t == 5", False),)
        await pilot.press("escape", "home", "c")
        assert shown_t(screen) == 0 and "No watch is on" in app.notes[-1].message


async def test_search_marks_the_strip_and_n_N_walk_the_matches(tagger_path):
    app = RecordingApp(open_path(str(tagger_path)))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        tokens = screen.source.trace.tokens
        await pilot.press("slash")
        await pilot.pause()
        assert isinstance(app.screen, SearchDialog)
        await type_into(pilot, "he")
        subs = [k for k, tok in enumerate(tokens) if "he" in tok]
        assert widget_text(app.screen.query_one("#error")).strip().startswith(f"{len(subs)} match")
        await pilot.press("enter")
        await pilot.pause()
        assert shown_t(screen) == [k for k in subs if k > 0][0]
        strip = widget_text(screen.query_one("#strip")).splitlines()[1]
        assert strip.count("›") == len(subs)
        await pilot.press("n")
        later = [k for k in subs if k > shown_t(screen)]
        # n goes on to the next match, or wraps to the first
        assert later or "Wrapped" in app.notes[-1].message
        await pilot.press("home", "N")
        assert shown_t(screen) == subs[-1] and "Wrapped" in app.notes[-1].message
        exact = tokens[1]
        await pilot.press("slash")
        await pilot.pause()
        await type_into(pilot, f'"{exact}"')
        await pilot.press("enter")
        await pilot.pause()
        want = [k for k, tok in enumerate(tokens) if tok == exact]
        assert screen._matches.tolist() == want


async def test_search_refuses_a_numeric_input():
    trace = synthetic_source(T=6).trace
    numeric = Source(trace=dataclasses.replace(trace, tokens=None), name="n", origin="live")
    app = RecordingApp(numeric)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash")
        await pilot.pause()
        assert isinstance(app.screen, DebuggerScreen)
        assert "no tokens" in app.notes[-1].message


@pytest.mark.parametrize(("keys", "expr", "reverse"), [
    (("F",), "f[{u}] < 0.1", False), (("ctrl+f",), "f[{u}] < 0.1", True),
    (("greater_than_sign",), "pred != pred_prev", False),
    (("less_than_sign",), "pred != pred_prev", True),
])  # fmt: skip
async def test_quick_jumps_are_expressions_that_agree_with_session_where(keys, expr, reverse):
    src = synthetic_source(T=40, hidden=6, seed=5)
    app = RecordingApp(src)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        text = expr.format(u=screen.unit)
        hits = where(screen, text)
        start = 20
        screen._goto(start)
        await pilot.pause()
        await pilot.press(*keys)
        want = [h for h in hits if h < start] if reverse else [h for h in hits if h > start]
        if want:
            assert shown_t(screen) == (want[-1] if reverse else want[0])
            assert text in app.notes[-1].message
        else:
            assert shown_t(screen) == start and f"where {text} holds" in app.notes[-1].message


async def test_forget_gate_quick_jump_finds_closing_gates():
    """A unit whose forget gate does close: F visits each step Session.where lists."""
    src = synthetic_source(T=60, hidden=8, seed=16)  # a seed whose forget gates close twice
    tr = src.trace
    unit = int(np.argmin(tr.f[0, 0].min(axis=0)))
    hits = Session(tr).where(f"f[{unit}] < 0.1").tolist()
    assert hits == np.flatnonzero(tr.f[0, 0, :, unit] < 0.1).tolist() and len(hits) == 2
    app = RecordingApp(src)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        screen.unit = unit
        seen = []
        for _ in hits:
            await pilot.press("F")
            seen.append(shown_t(screen))
        assert seen == [h for h in hits if h > 0] + ([hits[-1]] if hits[0] == 0 else [])


async def test_largest_delta_jumps_land_on_the_units_biggest_writes():
    src = synthetic_source(T=40, hidden=6, seed=7)
    tr = src.trace
    app = RecordingApp(src)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        u = screen.unit
        delta = np.abs(tr.series("delta_c", 0, 0)[:, u])
        await pilot.press("quotation_mark")
        assert shown_t(screen) == int(np.argmax(delta))
        expr = app.notes[-1].message.split(": ", 1)[1]
        assert Session(tr).where(expr).tolist() == [int(np.argmax(delta))]
        await pilot.press("home", "right_curly_bracket")
        big = [k for k in np.flatnonzero(delta >= delta.max() / 2 * 0.9).tolist()]
        expr = app.notes[-1].message.split(": ", 1)[1]
        hits = Session(tr).where(expr).tolist()
        assert int(np.argmax(delta)) in hits and set(hits) <= set(big)
        assert shown_t(screen) == [h for h in hits if h > 0][0]
        await pilot.press("end", "left_curly_bracket")
        assert shown_t(screen) == [h for h in hits if h < tr.T - 1][-1]


def _with_nan(src: Source, t: int, unit: int, meta_where) -> Source:
    tr = src.trace
    c = np.array(tr.c)
    c[0, 0, t, unit] = np.nan
    meta = {**{k: v for k, v in tr.meta.items() if k != "first_nonfinite"},
            "first_nonfinite": meta_where}
    return dataclasses.replace(src, trace=dataclasses.replace(tr, c=c, meta=meta))


async def test_first_nonfinite_goes_where_the_recording_says():
    src = synthetic_source(T=20, hidden=6)
    src = _with_nan(src, 13, 4, {"where": "c", "layer": 0, "direction": 0, "t": 13, "unit": 4})
    app = RecordingApp(src)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.press("exclamation_mark")
        assert shown_t(screen) == 13
        expr = app.notes[-1].message.split(": ", 1)[1]
        assert 13 in Session(screen.source.trace).where(expr).tolist()


@pytest.mark.parametrize("junk", [
    {"where": "c", "layer": 0, "direction": 0, "t": 10**9, "unit": 4},
    {"where": "c", "layer": "0", "direction": 0, "t": 13, "unit": 4},
    {"where": "__import__", "layer": 0, "direction": 0, "t": 13, "unit": 4},
    {"where": "c", "layer": 0, "direction": 0, "t": 2, "unit": 4},  # the value there is finite
    ["c", 0, 0, 13, 4],
])  # fmt: skip
async def test_a_damaged_first_nonfinite_record_moves_nothing(junk):
    src = _with_nan(synthetic_source(T=20, hidden=6), 13, 4, junk)
    app = RecordingApp(src)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.press("exclamation_mark")
        assert shown_t(screen) == 0
        assert "damaged" in app.notes[-1].message or "does not match" in app.notes[-1].message


async def test_finite_trace_says_so():
    app = RecordingApp(synthetic_source(T=8))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("exclamation_mark")
        assert "finite" in app.notes[-1].message and shown_t(app.screen) == 0


async def test_marks_toggle_show_in_the_strip_and_the_list_jumps():
    app = RecordingApp(synthetic_source(T=10, hidden=6))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.press("right", "right", "m", "right", "right", "right", "m", "m", "m")
        assert screen.marks == (2, 5)
        assert widget_text(screen.query_one("#strip")).splitlines()[1].count("•") == 2
        await pilot.press("home", "apostrophe")
        await pilot.pause()
        assert isinstance(app.screen, MarksDialog)
        options = app.screen.query_one(OptionList)
        assert options.option_count == 2 and options.highlighted == 0
        await pilot.press("down", "enter")
        await pilot.pause()
        assert shown_t(screen) == 5
        await pilot.press("m")
        assert screen.marks == (2,)


async def save_via_dialog(pilot, path) -> None:
    await pilot.press("ctrl+s")
    await pilot.pause()
    assert isinstance(pilot.app.screen, SaveDialog)
    await type_into(pilot, str(path))
    await pilot.press("enter")
    await pilot.pause()


async def test_save_with_marks_and_watches_round_trips(tmp_path):
    src = synthetic_source(T=12, hidden=6)
    path = tmp_path / "run.npz"
    app = RecordingApp(src)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await add_watch(pilot, "f[0] > 0.5")
        await pilot.press("right", "m", "end", "m")
        await save_via_dialog(pilot, path)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "Saved" in app.notes[-1].message
        assert screen.source.trace.meta.get("marks") is None  # the trace in view is unchanged
    saved = Trace.load(path)
    assert list(saved.meta["marks"]) == [1, 11] and list(saved.meta["watches"]) == ["f[0] > 0.5"]
    np.testing.assert_array_equal(saved.c, src.trace.c)

    app = RecordingApp(open_path(str(path)))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert screen.marks == (1, 11) and screen.watches == (("f[0] > 0.5", True),)
        assert not [n for n in app.notes if "dropped" in n.message]
        await pilot.press("apostrophe")
        await pilot.pause()
        assert app.screen.query_one(OptionList).option_count == 2


async def test_save_refuses_an_existing_file_until_confirmed(tmp_path):
    path = tmp_path / "exists.npz"
    path.write_bytes(b"mine")
    app = RecordingApp(synthetic_source(T=8))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("m")
        await save_via_dialog(pilot, path)
        assert isinstance(app.screen, SaveDialog)
        assert "exists" in widget_text(app.screen.query_one("#error"))
        assert path.read_bytes() == b"mine"
        await pilot.press("enter")  # the same name again: replace it
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
    assert list(Trace.load(path).meta["marks"]) == [0]


async def test_a_trace_file_with_junk_marks_and_watches_keeps_the_good_ones(tmp_path):
    tr = synthetic_source(T=10, hidden=6).trace
    junk = dataclasses.replace(tr, meta={
        **tr.meta,
        "marks": [3, -1, 10, 10**12, "4", True, 2.5, None, 3, 7],
        "watches": ["f[0] < 0.5", "__import__('os').system('x')", "().__class__", 5,
                    "x" * 5000, "f[99] > 0", "f[3]", "[bold]", "f[0] < 0.5"],
    })  # fmt: skip
    path = tmp_path / "junk.npz"
    junk.save(path)
    app = RecordingApp(open_path(str(path)))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert screen.marks == (3, 7)
        assert screen.watches == (("f[0] < 0.5", True),)
        dropped = [n for n in app.notes if "dropped" in n.message]
        assert len(dropped) == 1 and dropped[0].message.startswith("14 ")


async def test_a_trace_file_whose_marks_are_not_a_list(tmp_path):
    tr = synthetic_source(T=10, hidden=6).trace
    path = tmp_path / "odd.npz"
    dataclasses.replace(tr, meta={**tr.meta, "marks": {"a": 1}, "watches": "f[0] < 1"}).save(path)
    app = RecordingApp(open_path(str(path)))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.screen.marks == () and app.screen.watches == ()
        assert [n.message[:2] for n in app.notes if "dropped" in n.message] == ["2 "]


async def test_80x24_adding_a_watch_shows_the_watch_panel_in_the_lower_area(tagger_path):
    app = RecordingApp(open_path(str(tagger_path)))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await add_watch(pilot, "f[0] > 0.5")
        await pilot.pause()
        await pilot.pause()
        assert screen.panel == "watches"
        panel = screen.query_one(WatchPanel)
        assert panel.display and not screen.query_one("#side").display
        assert "f[0] > 0.5" in widget_text(panel)
        await pilot.press("p")  # the cycle goes on to the cell view
        await pilot.pause()
        assert screen.panel == "cell" and screen.query_one("#side").display
        assert not panel.display


async def test_a_rerun_keeps_the_watches_and_the_marks_that_still_fit(tagger_path):
    app = RecordingApp(open_path(str(tagger_path)))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await add_watch(pilot, 'token == "the"')
        await pilot.press("right", "m", "end", "m")
        assert screen.marks == (1, screen.source.trace.T - 1)
        await pilot.press("e")
        await pilot.pause()
        await type_into(pilot, "the dog")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.source.trace.T == 2
        assert screen.marks == (1,) and screen.watches == (('token == "the"', True),)
        assert "1 step" in widget_text(screen.query_one(WatchPanel))


async def test_W_at_80x24_shows_and_selects_the_watch_panel(tagger_path):
    app = RecordingApp(open_path(str(tagger_path)))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await pilot.press("W")
        assert "no watches" in app.notes[-1].message
        await add_watch(pilot, "f[0] > 0.5")
        await pilot.press("p")  # back to the cell view
        await pilot.pause()
        assert screen.panel == "cell"
        await pilot.press("W")
        await pilot.pause()
        await pilot.pause()
        panel = screen.query_one(WatchPanel)
        assert screen.panel == "watches" and panel.display and panel.has_focus
        await pilot.press("escape", "down")
        assert not panel.has_focus and screen.unit == 1  # ↓ is the table's again
