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
from textual.widgets import Footer

from lstm_engine import QUANTITIES
from lstm_tui.app import LstmTuiApp, run
from lstm_tui.opening import open_path
from lstm_tui.screens.debugger import DebuggerScreen
from lstm_tui.screens.dialogs import EditInputDialog, GoToStepDialog
from lstm_tui.screens.help import HelpScreen
from lstm_tui.screens.status import ErrorScreen
from lstm_tui.stepdata import step_values
from lstm_tui.widgets.cell_view import cell_values

from tui_helpers import RecordingApp, synthetic_source, table_rows, widget_text

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
    app = RecordingApp(src)
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
    app = RecordingApp(src)
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
    app = RecordingApp(src)
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
    app = RecordingApp(src)
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
        # The reverse direction's c_{t-1} is the state at t+1, and the labels say so.
        cols = screen.columns
        np.testing.assert_allclose(cols.values["c_prev"], src.trace.c[1, 1, screen.t + 1])
        header = widget_text(screen.query_one("#table")).splitlines()[1]
        assert "c_t+1" in header and "c_t-1" not in header
        cell = widget_text(screen.query_one("#cell"))
        assert "c_t+1" in cell and "h_t+1" in cell and "t-1" not in cell
        await pilot.press("right_square_bracket")
        assert screen.lstm_layer == 1  # the last layer: no silent wrap-around
        assert any("last of 2" in n.message for n in app.notes)
        await pilot.press("left_square_bracket", "d")
        assert (screen.lstm_layer, screen.direction) == (0, 0)
        assert "c_t-1" in widget_text(screen.query_one("#table")).splitlines()[1]
        assert "h_t-1" in widget_text(screen.query_one("#cell"))
        await pilot.press("right_square_bracket")
        assert_table_matches(screen)


async def test_single_layer_unidirectional_explains_instead_of_moving():
    app = RecordingApp(synthetic_source())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("d", "right_square_bracket")
        screen = app.screen
        assert (screen.lstm_layer, screen.direction) == (0, 0)
        messages = [n.message for n in app.notes]
        assert any("unidirectional" in m for m in messages)
        assert any("single layer" in m for m in messages)


async def test_sort_cycles_and_orders_rows_by_the_column():
    src = synthetic_source(hidden=10, T=6, seed=5)
    app = RecordingApp(src)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.press("right", "right")
        assert [u for u, _ in table_rows(screen.query_one("#table"))] == list(range(10))
        await pilot.press("s")
        assert screen.sort == "delta_c"
        dc = np.abs(src.trace.value("delta_c", 0, 0, 2))
        shown = [u for u, _ in table_rows(screen.query_one("#table"))]
        assert shown == list(np.argsort(-dc, kind="stable"))
        # a magnitude sort says so
        assert "|Δc|↓" in widget_text(screen.query_one("#table")).splitlines()[1]
        assert_table_matches(screen)
        # a new ranking selects its top unit, and ↓ walks the sorted order
        assert screen.unit == shown[0]
        await pilot.press("down")
        assert screen.unit == shown[1]
        await pilot.press("s")
        assert screen.sort == "f"
        f = src.trace.f[0, 0, 2]
        assert [u for u, _ in table_rows(screen.query_one("#table"))] == list(
            np.argsort(-f, kind="stable")
        )
        # S reverses the order: the most closed forget gates first
        await pilot.press("S")
        assert not screen.descending
        ascending = list(np.argsort(f, kind="stable"))
        assert [u for u, _ in table_rows(screen.query_one("#table"))] == ascending
        assert screen.unit == ascending[0]
        assert "f↑" in widget_text(screen.query_one("#table")).splitlines()[1]


async def test_heatmap_quantity_cycles():
    app = RecordingApp(synthetic_source())
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        heat = screen.query_one("#heatmap")
        assert heat.quantity == "c"
        await pilot.press("v", "v")
        assert screen.heat == "f" and heat.quantity == "f"
        assert "heatmap · f (the forget gate)" in str(heat.border_title)
        assert not any("Heatmap" in n.message for n in app.notes)  # the title says it, no toast


async def test_goto_dialog_validates_and_jumps():
    app = RecordingApp(synthetic_source(T=9))
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
    app = RecordingApp(synthetic_source())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = "\n".join(widget_text(w) for w in app.screen.query("Static"))
        for key in ("→/l", "←/h", "Home", "End", "g", "↑", "↓", "[", "]", "d", "s", "v", "e", "q"):
            assert key in text, key
        await pilot.press("escape")
        assert isinstance(app.screen, DebuggerScreen)


async def test_command_palette_offers_the_debugger_actions():
    app = RecordingApp(synthetic_source())
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
    app = RecordingApp(source)
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
    app = RecordingApp(loader=partial(open_path, str(trace_file)), what="run.npz")
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DebuggerScreen)
        assert screen.source.origin == "trace"
        assert "read-only" in widget_text(screen.query_one("#header"))
        await pilot.press("right", "e")
        assert isinstance(app.screen, DebuggerScreen)  # no dialog
        assert any("read-only" in n.message for n in app.notes)
        assert_table_matches(screen)
        assert "NN" in widget_text(screen.query_one("#strip"))


async def test_bad_file_shows_an_error_and_quits_non_zero(tmp_path):
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"this is not a model")
    app = RecordingApp(loader=partial(open_path, str(bad)), what="broken.pt")
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
    app = RecordingApp(loader=partial(open_path, str(tmp_path / "nope.pt")), what="nope.pt")
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "no such file" in " ".join(widget_text(app.screen.query_one("#error-message")).split())


async def test_refused_pickle_names_the_trust_flag(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "whole.pt"
    torch.save(torch.nn.LSTM(3, 4), path)
    app = RecordingApp(loader=partial(open_path, str(path)), what="whole.pt")
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, ErrorScreen)
        assert "--trust" in widget_text(app.screen.query_one("#error-message"))


async def test_too_small_terminal_says_so():
    app = RecordingApp(synthetic_source())
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


@pytest.mark.parametrize("size", [(20, 5), (30, 6), (79, 10)])
async def test_a_tiny_terminal_still_shows_the_message(size):
    """At 20×5 the padding of the roomy message left no row for its text: a blank body."""
    app = RecordingApp(synthetic_source())
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        message = " ".join(widget_text(app.screen.query_one("#too-small")).split())
        w, h = size
        assert f"{w}×{h}" in message and "80×24" in message and "q" in message.split()


async def test_large_hidden_size_scrolls_to_the_selected_unit():
    src = synthetic_source(hidden=300, T=4, seed=2)
    app = RecordingApp(src)
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
    app = RecordingApp(src)
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

    app = RecordingApp(loader=loader, what="model.pt")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, LoadingScreen)
        assert "Loading model.pt" in widget_text(app.screen.query_one("#loading-label"))
        release.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, DebuggerScreen)
        assert app.screen.source is src


async def test_sorting_many_units_shows_the_top_of_the_ranking():
    src = synthetic_source(hidden=300, T=4, seed=2)
    app = RecordingApp(src)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.press("pagedown", "pagedown", "pagedown")
        assert screen.unit > 20
        await pilot.press("s")
        dc = np.abs(src.trace.value("delta_c", 0, 0, 0))
        top = [int(u) for u in np.argsort(-dc, kind="stable")]
        shown = [u for u, _ in table_rows(screen.query_one("#table"))]
        assert len(shown) > 5 and shown == top[: len(shown)]
        assert screen.unit == top[0]


async def test_go_to_unit_dialog():
    from lstm_tui.screens.explain_dialogs import FindUnitDialog

    src = synthetic_source(hidden=300, T=4, seed=2)
    app = RecordingApp(src)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("u")
        dialog = app.screen
        assert isinstance(dialog, FindUnitDialog)
        dialog.query_one("#unit").value = "300"
        await pilot.press("enter")
        assert "between 0 and 299" in widget_text(dialog.query_one("#error"))
        dialog.query_one("#unit").value = "211"
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, DebuggerScreen) and screen.unit == 211
        assert 211 in [u for u, _ in table_rows(screen.query_one("#table"))]
        assert "unit 211" in str(screen.query_one("#cell").border_title)


def _big_cell_trace():
    """One unit whose gates are pinned open with g = +1, so its c grows by 1 per step."""
    from lstm_engine import CellWeights, LSTMSpec, record

    w = LSTMSpec.random(3, 4, seed=1).weights[0][0]
    b = np.zeros_like(np.asarray(w.b_ih))
    b[[2, 6, 10, 14]] = 30.0  # unit 2 of the i, f, g, o blocks
    cell = CellWeights(w.W_ih * 0, w.W_hh * 0, b, np.zeros_like(b), None, None, None, None)
    return record(LSTMSpec(weights=((cell,),)), np.ones((24, 3)))


async def test_values_of_ten_and_more_keep_two_decimals():
    """A cell state beyond ±10 still prints with two decimals, at 80 columns too."""
    from lstm_tui.source import Source

    trace = _big_cell_trace()
    c = float(trace.c[0, 0, -1, 2])
    assert c > 20
    for size in ((80, 24), (120, 36)):
        app = RecordingApp(Source(trace=trace, name="big", origin="live"))
        async with app.run_test(size=size) as pilot:
            await pilot.press("end")
            table = app.screen.query_one("#table")
            assert f"{c:+.2f}" in widget_text(table), size
            rows = dict(table_rows(table))
            assert rows[2][8] == pytest.approx(c, abs=0.006)


async def footer_entries(pilot) -> list[str]:
    """The footer's entries as drawn ("→/l Step", ...), left to right, palette key excluded.

    Public API only: the Footer's children as rendered, and `Screen.active_bindings`
    (what the footer is built from). The footer recomposes after a refresh once
    the bindings change, so this waits until it shows what the bindings say,
    rather than hoping one pause was enough; every entry must end inside the
    terminal and before the palette key (none cut off).
    """
    screen = pilot.app.screen
    footer = screen.query_one(Footer)
    want: list[str] = []
    for _, binding, _, _ in screen.active_bindings.values():
        if binding.show and binding.description not in want:
            want.append(binding.description)
    drawn: list[str] = []
    for _ in range(50):
        await pilot.pause()
        keys = [k for k in footer.children if not k.has_class("-command-palette")]
        drawn = [widget_text(k).strip() for k in keys]
        if descriptions(drawn) == want:
            break
    palette = [k for k in footer.children if k.has_class("-command-palette")]
    edge = palette[0].region.x if palette else screen.size.width
    assert all(k.region.right <= edge for k in keys), (drawn, edge)
    return drawn


def descriptions(entries: list[str]) -> list[str]:
    """The descriptions of drawn footer entries ("[ ] Layer" -> "Layer")."""
    keys = DebuggerScreen.KEYS
    known = {f"{b.key_display or b.key} {b.description}": b.description for b in keys}
    return [known.get(e, e) for e in entries]


async def test_footer_lists_only_keys_that_do_something():
    # one layer, one direction, a live source (no edit), at 80 columns: no layer or
    # direction keys; p is there, because the plots do not fit at 80×24
    app = RecordingApp(synthetic_source())
    async with app.run_test(size=(80, 24)) as pilot:
        entries = await footer_entries(pilot)
        assert entries[:6] == ["→/l Step", "←/h Back", "? Help", "q Quit", "s Sort", "g Go to"]
        assert "p Panels" in entries
        assert not {"Layer", "Dir", "Edit", "Example"} & set(descriptions(entries))
        # what does not fit is dropped from the end, whole; it still answers
        assert entries[-1] == "v Heatmap" and "Unit" not in descriptions(entries)
        await pilot.press("u")
        assert type(app.screen).__name__ == "FindUnitDialog"
        await pilot.press("escape")
        # a hidden idle key still explains itself
        await pilot.press("d")
        assert any("unidirectional" in n.message for n in app.notes)
    app = RecordingApp(synthetic_source(layers=2, bidirectional=True))
    async with app.run_test(size=(200, 40)) as pilot:
        entries = await footer_entries(pilot)
        shown = set(descriptions(entries))
        assert {"Step", "Back", "Help", "Quit", "Layer", "Dir", "Heatmap", "Unit"} <= shown
        assert "Panels" not in shown  # at 200×40 the plots fit: p has nothing to do
        assert "[ ] Layer" in entries and "d Dir" in entries


async def test_read_only_trace_hides_edit_from_the_footer(tmp_path, tagger_path):
    trace_file = tmp_path / "run.npz"
    open_path(str(tagger_path)).trace.save(trace_file)
    app = RecordingApp(open_path(str(trace_file)))
    async with app.run_test(size=(200, 40)) as pilot:
        entries = descriptions(await footer_entries(pilot))
        assert {"Step", "Back", "Help", "Quit", "Sort", "Go to"} <= set(entries)
        assert "Edit" not in entries
        await pilot.press("e")  # the key says why instead
        assert isinstance(app.screen, DebuggerScreen)
        assert any("edit" in n.title.lower() for n in app.notes)
    app = RecordingApp(open_path(str(tagger_path)))
    async with app.run_test(size=(200, 40)) as pilot:
        entries = descriptions(await footer_entries(pilot))
        assert entries[:7] == ["Step", "Back", "Help", "Quit", "Sort", "Go to", "Edit"]


async def test_char_model_edit_dialog_is_multi_line():
    from textual.widgets import TextArea

    from tui_helpers import SAMPLES

    path = SAMPLES / "charlm.pt"
    if not path.exists():
        pytest.skip("sample_models/charlm.pt is not built")
    source = open_path(str(path), text='say "hi"\nand go')
    app = RecordingApp(source)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e")
        dialog = app.screen
        assert isinstance(dialog, EditInputDialog)
        area = dialog.query_one("#text")
        assert isinstance(area, TextArea)
        assert area.text == 'say "hi"\nand go' and area.document.line_count == 2
        hint = " ".join(widget_text(w) for w in dialog.query(".dialog-hint"))
        assert "characters" in hint and "words" not in hint
        area.text = "ab\ncd"
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DebuggerScreen)
        assert screen.source.trace.tokens == ("a", "b", "\n", "c", "d")


async def test_small_terminal_p_shows_history_and_heatmap():
    app = RecordingApp(synthetic_source(hidden=40))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert not screen.query_one("#bottom").display
        await pilot.press("p")
        await pilot.pause()
        assert screen.panel == "history"
        assert screen.query_one("#bottom").display and screen.query_one("#history").display
        assert not screen.query_one("#side").display
        assert "over time" in widget_text(screen.query_one("#history"))
        await pilot.press("v")
        await pilot.pause()
        assert screen.panel == "heatmap" and screen.query_one("#heatmap").display
        assert "heatmap · h_t" in str(screen.query_one("#heatmap").border_title)  # its title, no toast
        await pilot.press("p")
        await pilot.pause()
        assert screen.panel == "cell"
        assert screen.query_one("#side").display and not screen.query_one("#bottom").display


async def test_small_model_leaves_no_blank_rows_under_the_table():
    """A 6-unit table takes the rows it needs; the plots get the rest when it is enough."""
    app = RecordingApp(synthetic_source(hidden=6))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert screen.query_one("#table").outer_size.height == 6 + 2
        await pilot.resize_terminal(100, 36)
        await pilot.pause()
        await pilot.pause()
        assert screen.query_one("#table").outer_size.height == 6 + 2
        assert screen.query_one("#bottom").display and screen.query_one("#side").display
        assert screen.query_one("#heatmap").outer_size.height >= 10
    app = RecordingApp(synthetic_source(hidden=16))
    async with app.run_test(size=(200, 60)) as pilot:
        await pilot.pause()
        await pilot.pause()
        heat = widget_text(app.screen.query_one("#heatmap"))
        assert all(f"{u}▶" in heat.replace(" ", "") or f"{u}" in heat for u in range(16))
        assert app.screen.query_one("#heatmap").outer_size.height >= 16 + 3


async def test_keys_typed_while_loading_reach_the_debugger():
    import threading

    from lstm_tui.screens.status import LoadingScreen

    release = threading.Event()
    src = synthetic_source(T=6)

    def loader():
        release.wait(10)
        return src

    app = RecordingApp(loader=loader, what="model.pt")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, LoadingScreen)
        await pilot.press("right", "right", "s")
        release.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DebuggerScreen)
        assert screen.t == 2 and screen.sort == "delta_c"


async def test_x_opens_the_next_example(tagger_path):
    source = open_path(str(tagger_path))
    if getattr(source, "example_count", 0) < 2:
        pytest.skip("needs a sample with two examples")
    app = RecordingApp(source)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("x")
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert screen.source.example == 2
        np.testing.assert_allclose(
            screen.source.trace.c, source.model.trace(source.model.examples[1]).c
        )


async def test_opens_on_the_unit_the_model_points_at():
    from dataclasses import replace

    src = synthetic_source(hidden=20, T=4)
    focused = replace(src, trace=replace(src.trace, meta={**src.trace.meta, "focus": {"unit": 11}}))
    app = RecordingApp(focused)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.screen.unit == 11
        assert "unit 11" in str(app.screen.query_one("#cell").border_title)
    app = RecordingApp(src)
    async with app.run_test(size=SIZE) as pilot:
        assert app.screen.unit == 0


async def test_char_model_edit_dialog_closes_with_escape():
    from tui_helpers import SAMPLES

    path = SAMPLES / "charlm.pt"
    if not path.exists():
        pytest.skip("sample_models/charlm.pt is not built")
    app = RecordingApp(open_path(str(path), text="ab\ncd"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e")
        assert isinstance(app.screen, EditInputDialog)
        await pilot.press("escape")
        assert isinstance(app.screen, DebuggerScreen)
        assert app.screen.source.trace.tokens == ("a", "b", "\n", "c", "d")


async def test_word_model_edit_dialog_shows_line_breaks_as_spaces(tagger_path):
    app = RecordingApp(open_path(str(tagger_path), text="The dog\nate the apple"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e")
        dialog = app.screen
        assert isinstance(dialog, EditInputDialog)
        assert dialog.query_one("#text").value == "The dog ate the apple"
        hint = " ".join(widget_text(w) for w in dialog.query(".dialog-hint"))
        assert "words" in hint and "characters" not in hint


async def test_clicking_the_sorted_header_flips_the_order():
    src = synthetic_source(hidden=8, T=3, seed=4)
    app = RecordingApp(src)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        table = screen.query_one("#table")
        table.post_message(table.SortClicked("f"))
        await pilot.pause()
        assert screen.sort == "f" and screen.descending
        table.post_message(table.SortClicked("f"))
        await pilot.pause()
        assert not screen.descending
        f = src.trace.f[0, 0, 0]
        assert [u for u, _ in table_rows(table)] == list(np.argsort(f, kind="stable"))
