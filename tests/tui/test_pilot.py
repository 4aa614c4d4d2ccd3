"""Pilot tests: drive the debugger with keys, then check its state AND what it shows.

Every number read off the screen is compared with the engine's own value for
the same (layer, direction, t, unit), so a drawing bug that shows the wrong
step or unit fails here even if the cursor state is right.
"""

from __future__ import annotations

import asyncio
from functools import partial

import numpy as np
import pytest

from lstm_engine import QUANTITIES
from lstm_tui.app import LstmTuiApp, run
from lstm_tui.opening import open_path
from lstm_tui.screens.debugger import DebuggerScreen
from lstm_tui.screens.dialogs import EditInputDialog, GoToStepDialog
from lstm_tui.screens.help import HelpScreen
from lstm_tui.screens.status import ErrorScreen
from lstm_tui.stepdata import step_values
from lstm_tui.widgets.cell_view import cell_values

from tui_helpers import synthetic_source, table_rows, widget_text

SIZE = (120, 36)


def assert_table_matches(screen: DebuggerScreen) -> None:
    """Every visible row shows the engine's 12 values for its unit, to the 2 decimals shown."""
    tr = screen.source.trace
    expect = step_values(tr, screen.lstm_layer, screen.direction, screen.t)
    rows = table_rows(screen.query_one("#table"))
    assert rows, "the table shows no rows"
    for unit, shown in rows:
        want = [float(expect[q][unit]) for q in QUANTITIES]
        np.testing.assert_allclose(shown, want, atol=0.0051, err_msg=f"unit {unit}")


async def test_stepping_updates_state_and_every_panel():
    src = synthetic_source(T=6)
    app = LstmTuiApp(src)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, DebuggerScreen)
        assert screen.t == 0
        assert "t = 1 / 6" in widget_text(screen.query_one("#header"))
        await pilot.press("right", "right", "l")
        assert screen.t == 3 and screen.session.t == 3
        assert "t = 4 / 6" in widget_text(screen.query_one("#header"))
        assert_table_matches(screen)
        out = widget_text(screen.query_one("#output"))
        p = np.exp(src.trace.output[3])
        assert f"output at t = 4" in out
        assert f"{src.trace.labels[int(np.argmax(p))]}" in out.split("▶")[1].split()[0]
        assert f"{p.max():.2f}" in out


async def test_rewinding_and_clamping_at_both_ends():
    src = synthetic_source(T=5)
    app = LstmTuiApp(src)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.press("left", "h")
        assert screen.t == 0  # clamped at the start
        await pilot.press("end")
        assert screen.t == 4
        await pilot.press("right", "right")
        assert screen.t == 4  # clamped at the end
        assert "t = 5 / 5" in widget_text(screen.query_one("#header"))
        assert_table_matches(screen)
        await pilot.press("left", "h")
        assert screen.t == 2
        assert_table_matches(screen)
        await pilot.press("home")
        assert screen.t == 0
        assert_table_matches(screen)


async def test_unit_selection_drives_cell_view_and_history():
    src = synthetic_source(hidden=8)
    app = LstmTuiApp(src)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.press("up")
        assert screen.unit == 0  # clamped
        await pilot.press("down", "down", "right")
        assert screen.unit == 2
        cell = screen.query_one("#cell")
        assert cell.unit == 2 and cell.t == 1
        assert "unit 2" in str(cell.border_title)
        want = cell_values(src, 0, 0, 1, 2)
        assert want.c == pytest.approx(float(src.trace.c[0, 0, 1, 2]))
        assert want.kept == pytest.approx(float(src.trace.f[0, 0, 1, 2] * src.trace.c[0, 0, 0, 2]))
        assert f"{want.c:+.2f}" in widget_text(cell)
        assert screen.query_one("#history").unit == 2
        selected = [line for line in widget_text(screen.query_one("#table")).splitlines() if "▶" in line]
        assert len(selected) == 1 and selected[0].split()[1] == "2"


async def test_layer_and_direction_switching():
    src = synthetic_source(layers=2, bidirectional=True, hidden=6, T=7, seed=3)
    app = LstmTuiApp(src)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.press("right", "right", "right_square_bracket")
        assert screen.lstm_layer == 1
        assert "layer 2/2" in widget_text(screen.query_one("#header"))
        assert_table_matches(screen)
        await pilot.press("d")
        assert screen.direction == 1
        assert "← reverse" in widget_text(screen.query_one("#header"))
        assert "right to left" in str(screen.query_one("#strip").border_title)
        assert_table_matches(screen)
        # The reverse direction's c_{t-1} is the state at t+1.
        cols = screen.columns
        np.testing.assert_allclose(cols.values["c_prev"], src.trace.c[1, 1, screen.t + 1])
        await pilot.press("right_square_bracket")
        assert screen.lstm_layer == 0  # wraps around
        await pilot.press("left_square_bracket", "d")
        assert (screen.lstm_layer, screen.direction) == (1, 0)
        assert_table_matches(screen)


async def test_single_layer_unidirectional_explains_instead_of_moving():
    app = LstmTuiApp(synthetic_source())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("d", "right_square_bracket")
        screen = app.screen
        assert (screen.lstm_layer, screen.direction) == (0, 0)
        messages = [n.message for n in app._notifications]
        assert any("unidirectional" in m for m in messages)
        assert any("single layer" in m for m in messages)


async def test_sort_cycles_and_orders_rows_by_the_column():
    src = synthetic_source(hidden=10, T=6, seed=5)
    app = LstmTuiApp(src)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.press("right", "right")
        assert [u for u, _ in table_rows(screen.query_one("#table"))] == list(range(10))
        await pilot.press("s")
        assert screen.sort == "delta_c"
        dc = np.abs(src.trace.value("delta_c", 0, 0, 2))
        shown = [u for u, _ in table_rows(screen.query_one("#table"))]
        assert shown == list(np.argsort(-dc, kind="stable"))
        assert "Δc↓" in widget_text(screen.query_one("#table")).splitlines()[1]
        assert_table_matches(screen)
        # the selected unit keeps its identity across a re-sort, and ↓ walks the sorted order
        assert screen.unit == 0
        await pilot.press("down")
        assert screen.unit == shown[shown.index(0) + 1]
        await pilot.press("s")
        assert screen.sort == "f"
        f = src.trace.f[0, 0, 2]
        assert [u for u, _ in table_rows(screen.query_one("#table"))] == list(
            np.argsort(-f, kind="stable")
        )
        await pilot.press("S", "S")
        assert screen.sort == "unit"


async def test_heatmap_quantity_cycles():
    app = LstmTuiApp(synthetic_source())
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        heat = screen.query_one("#heatmap")
        assert heat.quantity == "c"
        await pilot.press("v", "v")
        assert screen.heat == "f" and heat.quantity == "f"
        assert "heatmap · f" in str(heat.border_title)


async def test_goto_dialog_validates_and_jumps():
    app = LstmTuiApp(synthetic_source(T=9))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("g")
        assert isinstance(app.screen, GoToStepDialog)
        app.screen.query_one("#step").value = "42"
        await pilot.press("enter")
        assert isinstance(app.screen, GoToStepDialog)
        assert "between 1 and 9" in widget_text(app.screen.query_one("#error"))
        app.screen.query_one("#step").value = "7"
        await pilot.press("enter")
        assert isinstance(app.screen, DebuggerScreen)
        assert app.screen.t == 6
        assert "t = 7 / 9" in widget_text(app.screen.query_one("#header"))


async def test_help_screen_lists_every_key():
    app = LstmTuiApp(synthetic_source())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = "\n".join(widget_text(w) for w in app.screen.query("Static"))
        for key in ("→/l", "←/h", "Home", "End", "g", "↑", "↓", "[", "]", "d", "s", "v", "e", "q"):
            assert key in text, key
        await pilot.press("escape")
        assert isinstance(app.screen, DebuggerScreen)


async def test_command_palette_offers_the_debugger_actions():
    app = LstmTuiApp(synthetic_source())
    async with app.run_test(size=SIZE) as pilot:
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert any(t.startswith("Step forward") for t in titles)
        assert any(t.startswith("Cycle the unit table") for t in titles)
        step = next(c for c in app.get_system_commands(app.screen) if c.title.startswith("Step"))
        await step.callback()
        await pilot.pause()
        assert app.screen.t == 1


async def test_edit_and_rerun_on_the_tagger(tagger_path):
    source = open_path(str(tagger_path), text="The dog ate the apple")
    app = LstmTuiApp(source)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("right", "right", "right", "right")
        await pilot.press("e")
        dialog = app.screen
        assert isinstance(dialog, EditInputDialog)
        assert dialog.query_one("#text").value == "The dog ate the apple"
        # an unknown word is refused in the dialog, which stays open
        dialog.query_one("#text").value = "The zebra ate"
        await pilot.press("enter")
        assert app.screen is dialog
        assert "zebra" in widget_text(dialog.query_one("#error"))
        dialog.query_one("#text").value = "Everybody read that book"
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DebuggerScreen)
        tr = screen.source.trace
        assert tr.tokens == ("Everybody", "read", "that", "book")
        assert screen.t == 3  # clamped from 4 into the shorter sentence
        assert "t = 4 / 4" in widget_text(screen.query_one("#header"))
        fresh = source.model.trace("Everybody read that book")
        np.testing.assert_allclose(tr.c, fresh.c)
        assert_table_matches(screen)
        assert "book" in widget_text(screen.query_one("#strip"))
        # the original trace is untouched (an edit is a new branch)
        assert source.trace.tokens == ("The", "dog", "ate", "the", "apple")


async def test_edit_is_explained_for_a_trace_file(tmp_path, tagger_path):
    trace_file = tmp_path / "run.npz"
    open_path(str(tagger_path)).trace.save(trace_file)
    app = LstmTuiApp(loader=partial(open_path, str(trace_file)), what="run.npz")
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DebuggerScreen)
        assert screen.source.origin == "trace"
        assert "read-only" in widget_text(screen.query_one("#header"))
        await pilot.press("right", "e")
        assert isinstance(app.screen, DebuggerScreen)  # no dialog
        assert any("read-only" in n.message for n in app._notifications)
        assert_table_matches(screen)
        assert "NN" in widget_text(screen.query_one("#strip"))


async def test_bad_file_shows_an_error_and_quits_non_zero(tmp_path):
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"this is not a model")
    app = LstmTuiApp(loader=partial(open_path, str(bad)), what="broken.pt")
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, ErrorScreen)
        message = widget_text(app.screen.query_one("#error-message"))
        assert "broken.pt" in message
        assert "Traceback" not in message
        await pilot.press("q")
    assert app.exit_status == 2
    assert app.return_code == 2


def test_run_repeats_the_error_on_stderr_after_quitting(tmp_path, monkeypatch, capsys):
    """The error screen vanishes with the app, so run() leaves the reason in the scrollback."""
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"this is not a model")

    async def user_reads_the_error_and_quits(app):
        async with app.run_test(size=SIZE) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert isinstance(app.screen, ErrorScreen)
            await pilot.press("q")

    monkeypatch.setattr(LstmTuiApp, "run", lambda app: asyncio.run(user_reads_the_error_and_quits(app)))
    assert run(str(bad)) == 2
    err = capsys.readouterr().err
    assert err.startswith("lstm-tui: error: ") and "broken.pt" in err
    assert err.count("\n") == 1 and "Traceback" not in err


async def test_missing_file_error(tmp_path):
    app = LstmTuiApp(loader=partial(open_path, str(tmp_path / "nope.pt")), what="nope.pt")
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "no such file" in " ".join(widget_text(app.screen.query_one("#error-message")).split())


async def test_refused_pickle_names_the_trust_flag(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "whole.pt"
    torch.save(torch.nn.LSTM(3, 4), path)
    app = LstmTuiApp(loader=partial(open_path, str(path)), what="whole.pt")
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, ErrorScreen)
        assert "--trust" in widget_text(app.screen.query_one("#error-message"))


async def test_too_small_terminal_says_so():
    app = LstmTuiApp(synthetic_source())
    async with app.run_test(size=(70, 20)) as pilot:
        screen = app.screen
        assert screen.query_one("#too-small").display
        assert not screen.query_one("#main").display
        message = " ".join(widget_text(screen.query_one("#too-small")).split())
        assert "This terminal is 70×20" in message and "at least 80×24" in message
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert screen.query_one("#main").display
        assert not screen.query_one("#too-small").display


async def test_large_hidden_size_scrolls_to_the_selected_unit():
    src = synthetic_source(hidden=300, T=4, seed=2)
    app = LstmTuiApp(src)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.press("pagedown", "pagedown", "down")
        table = screen.query_one("#table")
        unit = screen.unit
        assert unit > table.size.height
        shown = [u for u, _ in table_rows(table)]
        assert unit in shown
        assert_table_matches(screen)


async def test_history_and_heatmap_show_the_unit_in_view_after_switching():
    """The cached sparklines and heatmap follow layer, direction and unit changes."""
    src = synthetic_source(layers=2, bidirectional=True, hidden=6, T=9, seed=11)
    app = LstmTuiApp(src)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = app.screen
        history = screen.query_one("#history")
        await pilot.press("right", "right", "right")
        before = widget_text(history)
        await pilot.press("right_square_bracket", "d", "down")
        text = widget_text(history)
        assert text != before
        tr = src.trace
        lines = {line.split()[0]: line.split()[-1] for line in text.splitlines()[2:] if line.strip()}
        assert float(lines["c_t"]) == pytest.approx(float(tr.c[1, 1, 3, 1]), abs=0.006)
        assert float(lines["f"]) == pytest.approx(float(tr.f[1, 1, 3, 1]), abs=0.006)
        assert "t=4" in text.splitlines()[1]
        heat = widget_text(screen.query_one("#heatmap"))
        assert "t=4" in heat.splitlines()[1]
        assert "1▶" in heat.replace(" ", "")


async def test_loading_state_shows_until_the_worker_is_done():
    import threading

    from lstm_tui.screens.status import LoadingScreen

    release = threading.Event()
    src = synthetic_source()

    def loader():
        release.wait(10)
        return src

    app = LstmTuiApp(loader=loader, what="model.pt")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, LoadingScreen)
        assert "Loading model.pt" in widget_text(app.screen.query_one("#loading-label"))
        release.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, DebuggerScreen)
        assert app.screen.source is src
