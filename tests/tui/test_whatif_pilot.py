"""Pilot tests of what-if in the debugger: every edit kind, undo and redo, parent ⇄ branch,
the output panel after an edit, and comparing two inputs.

Each edit made through the screen is checked against the engine making the same branch on
its own (`Opened.branch` on the parent's trace): the screen must show exactly that trace,
at the same step, with the parent left bit for bit as it was.
"""

from __future__ import annotations

import numpy as np
import pytest
from textual.widgets import Input

from lstm_engine import (
    Ablate, ClampGate, Opened, SetState, Trace, parse_edit, probabilities,
)  # fmt: skip
from lstm_tui.opening import open_comparison, open_path
from lstm_tui.screens.edit_dialogs import EditDialog
from lstm_tui.whatif import NOT_RECOMPUTED

from tui_helpers import SAMPLES, RecordingApp, synthetic_source, widget_text

FRANCE = SAMPLES / "france.pt"
SIZE = (120, 36)
ARRAYS = ("x", "i", "f", "g", "o", "c", "h")


@pytest.fixture
def france():
    if not FRANCE.exists():
        pytest.skip("sample_models/france.pt is not built")
    return open_path(str(FRANCE))


def snapshot(trace: Trace) -> dict[str, np.ndarray]:
    return {k: np.array(getattr(trace, k), copy=True) for k in ARRAYS}


def assert_same_arrays(trace: Trace, arrays: dict[str, np.ndarray]) -> None:
    for k in ARRAYS:
        np.testing.assert_array_equal(getattr(trace, k), arrays[k], err_msg=k)


async def settle(app, pilot) -> None:
    """Let the edit's worker finish and its result reach the screen."""
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def goto(pilot, steps: int) -> None:
    for _ in range(steps):
        await pilot.press("right")


async def type_edit(app, pilot, text: str) -> EditDialog:
    await pilot.press("equals_sign")
    await pilot.pause()
    dialog = app.screen
    assert isinstance(dialog, EditDialog)
    dialog.query_one(Input).value = text
    await pilot.pause()
    return dialog


def bar(screen) -> str:
    return widget_text(screen.query_one("#whatif"))


# --- every edit kind, through the dialog
@pytest.mark.parametrize("text", [
    "c[11] = 0 at 5", "h[11] = 0.5 at 5", "c[:] = 0 at 5", "f[3] = 1 at 5", "f[3] = 1 from 5",
    "i[:] = 0 from 5", "ablate 11", "ablate 11 from 5", "token 5 = Spain",
])  # fmt: skip
async def test_each_edit_kind_makes_the_engines_branch_at_the_same_step(france, text):
    parent = france.trace
    before = snapshot(parent)
    app = RecordingApp(france)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await goto(pilot, 4)
        dialog = await type_edit(app, pilot, text)
        assert dialog.edit is not None, widget_text(dialog.query_one("#error"))
        await pilot.press("enter")
        await settle(app, pilot)
        shown = screen.source.trace
        edit = parse_edit(text, parent)
        expected = Opened(trace=parent, model=france.model).branch([edit])
        assert shown is not parent and shown.parent == parent.identity
        assert shown.identity == expected.identity
        assert_same_arrays(shown, snapshot(expected))
        np.testing.assert_array_equal(shown.output, expected.output)
        assert screen.t == 4 and screen.session.trace is shown
        assert_same_arrays(parent, before)  # the parent is bit for bit what it was
        assert screen.history.depth == 1 and screen.history.parent is france
        header = widget_text(screen.query_one("#header"))
        assert "⎇ branch 1" in header
        shown_edit = "token 5 = Spain" if text.startswith("token") else text
        assert f"edits  1 {shown_edit}" in bar(screen)
        if text.startswith("token"):
            assert shown.tokens[4] == "Spain" and parent.tokens[4] == "France"
            assert "Spain" in widget_text(screen.view.query_one("#strip"))


async def test_the_dialog_is_prefilled_from_the_cursor_and_edits_the_layer_and_direction_in_view():
    src = synthetic_source(layers=2, bidirectional=True, hidden=6, T=7, seed=3)
    app = RecordingApp(src)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await goto(pilot, 2)
        await pilot.press("right_square_bracket", "d", "down", "down")
        await pilot.press("equals_sign")
        await pilot.pause()
        dialog = app.screen
        assert dialog.query_one(Input).value == f"c[{screen.unit}] = 0 at 3"
        await pilot.press("enter")
        await settle(app, pilot)
        assert screen.source.trace.edits == (
            SetState(name="c", t=2, unit=screen.unit, value=0.0, layer=1, direction=1),)
        # a prefix names another layer and direction than the one in view
        await type_edit(app, pilot, "L1.fwd.h[2] = 0.25 at 4")
        await pilot.press("enter")
        await settle(app, pilot)
        assert screen.source.trace.edits[-1] == SetState(name="h", t=3, unit=2, value=0.25)
        assert "2 L1.fwd.h[2] = 0.25 at 4" in bar(screen) or "2 h[2] = 0.25 at 4" in bar(screen)


async def test_a_bad_edit_is_shown_with_a_caret_while_typing_and_enter_does_nothing(france):
    app = RecordingApp(france)
    async with app.run_test(size=SIZE) as pilot:
        dialog = await type_edit(app, pilot, "c[99] = 0 at 5")
        error = widget_text(dialog.query_one("#error"))
        assert "99" in error and dialog.edit is None
        caret = widget_text(dialog.query_one("#caret"))
        typed = widget_text(dialog.query_one(Input)).splitlines()[1]
        assert caret.index("^~") == typed.index("99")  # under the unit the engine names
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is dialog  # still open: nothing ran
        dialog.query_one(Input).value = "token 5 = Atlantis"
        await pilot.pause()
        assert "Atlantis" in widget_text(dialog.query_one("#error")) and dialog.edit is None
        dialog.query_one(Input).value = "f[3] = 1 from 5"
        await pilot.pause()
        assert dialog.edit == ClampGate(gate="f", t=4, unit=3, value=1.0, to_end=True)
        assert "→ f[3] = 1 from 5" in widget_text(dialog.query_one("#preview"))
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.history.depth == 0
        await pilot.press("T")  # the token at the cursor, to be typed
        await pilot.pause()
        assert app.screen.query_one(Input).value == "token 1 = "


async def test_quick_keys_ablate_the_selected_unit_from_t_and_over_the_whole_sequence(france):
    app = RecordingApp(france)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        unit = screen.unit
        await goto(pilot, 4)
        await pilot.press("a")
        await settle(app, pilot)
        assert screen.source.trace.edits == (Ablate(unit=unit, from_t=4),)
        await pilot.press("down", "A")
        await settle(app, pilot)
        assert screen.source.trace.edits[-1] == Ablate(unit=unit + 1)
        assert np.all(screen.source.trace.c[0, 0, :, unit + 1] == 0)
        assert np.all(screen.source.trace.c[0, 0, 4:, unit] == 0)
        assert f"1 ablate {unit} from 5 · 2 ablate {unit + 1}" in bar(screen)


# --- undo, redo, parent ⇄ branch
async def test_undo_and_redo_one_edit_at_a_time_return_exactly_to_each_trace(france):
    app = RecordingApp(france)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await goto(pilot, 4)
        await pilot.press("a")
        await settle(app, pilot)
        first = screen.source
        await type_edit(app, pilot, "f[3] = 1 from 7")
        await pilot.press("enter")
        await settle(app, pilot)
        second = screen.source
        assert len(second.trace.edits) == 2
        await pilot.press("U")
        await pilot.pause()
        assert screen.source is first and screen.session.trace is first.trace and screen.t == 4
        assert "undone: f[3] = 1 from 7" in bar(screen)
        await pilot.press("ctrl+z")
        await pilot.pause()
        assert screen.source is france and screen.history.depth == 0
        assert not widget_text(screen.query_one("#header")).count("branch")
        await pilot.press("R")
        await pilot.pause()
        assert screen.source is first
        await pilot.press("ctrl+y")
        await pilot.pause()
        assert screen.source is second
        await pilot.press("R")
        await pilot.pause()
        assert screen.source is second and app.notes[-1].message == "Nothing to redo."
        # a new edit after an undo drops what could have been redone
        await pilot.press("U", "A")
        await settle(app, pilot)
        assert screen.history.depth == 2 and screen.history.undone == ()
        assert screen.source.trace.edits[-1] == Ablate(unit=screen.unit)


async def test_b_switches_between_the_branch_and_its_parent_at_the_same_step(france):
    app = RecordingApp(france)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await goto(pilot, 4)
        await pilot.press("a")
        await settle(app, pilot)
        branch = screen.source
        await goto(pilot, 3)
        await pilot.press("b")
        await pilot.pause()
        assert screen.source is france and screen.t == 7
        assert "parent of branch 1" in widget_text(screen.query_one("#header"))
        await pilot.press("b")
        await pilot.pause()
        assert screen.source is branch and screen.t == 7
        assert "⎇ branch 1" in widget_text(screen.query_one("#header"))


async def test_b_without_a_branch_says_so(france):
    app = RecordingApp(france)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("b")
        await pilot.pause()
        assert app.screen.source is france
        assert "trace as it was opened" in app.notes[-1].message


# --- the branch against its parent
async def test_the_strip_marks_changed_predictions_and_the_table_shows_differences(france):
    app = RecordingApp(france)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await goto(pilot, 4)
        await type_edit(app, pilot, "c[:] = 0 at 5")
        await pilot.press("enter")
        await settle(app, pilot)
        cmp = screen.comparison
        assert cmp.a is france and cmp.b is screen.source and cmp.first.t == 4
        strip = screen.view.query_one("#strip")
        assert "◆ diverges at 5" in str(strip.border_title)
        changed = cmp.changed_steps()
        assert strip.markers == {**dict.fromkeys(changed, "changed"), 4: "diverge"}
        await pilot.press("D")
        await pilot.pause()
        cols = screen.view.columns
        assert cols.difference
        expected = screen.source.trace.c[0, 0, 4] - france.trace.c[0, 0, 4]
        np.testing.assert_allclose(cols.values["c"], expected, atol=0)
        assert "Δ vs parent" in screen.view.query_one("#table").border_title
        await pilot.press("D")
        await pilot.pause()
        np.testing.assert_array_equal(screen.view.columns.values["c"],
                                      screen.source.trace.c[0, 0, 4])  # fmt: skip


async def test_the_help_walk_through_ablating_the_focus_unit_from_france_flips_the_prediction(
        france):  # fmt: skip
    app = RecordingApp(france)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert screen.unit == france.trace.meta["focus"]["unit"]
        await goto(pilot, france.trace.tokens.index("France"))
        await pilot.press("a")
        await settle(app, pilot)
        await pilot.press("end")
        await pilot.pause()
        last = france.trace.T - 1
        assert screen.comparison.pred_changed[last]
        assert "▶ French" not in widget_text(screen.view.query_one("#output"))
        assert screen.view.query_one("#strip").markers[last] == "changed"


# --- the output panel after an edit
async def test_a_checkpoint_branch_shows_its_recomputed_output(france):
    app = RecordingApp(france)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await goto(pilot, 4)
        await type_edit(app, pilot, "token 5 = Spain")
        await pilot.press("enter")
        await settle(app, pilot)
        await pilot.press("end")
        await pilot.pause()
        out = screen.source.trace.output
        assert out is not None and not np.array_equal(out, france.trace.output)
        p = probabilities(out[-1], france.output_kind)
        winner = france.trace.labels[int(np.argmax(p))]
        panel = widget_text(screen.view.query_one("#output"))
        assert f"▶ {winner}" in panel and f"{p.max():.2f}" in panel
        # the same text traced from scratch predicts the same at the last step
        fresh = france.model.trace(france.text.replace("France", "Spain", 1))
        np.testing.assert_allclose(out, fresh.output, atol=1e-5)


async def test_an_onnx_branch_says_its_output_was_not_recomputed(france, tmp_path):
    pytest.importorskip("onnx", reason="the onnx extra is not installed")
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    from lstm_engine.formats.onnx_write import checkpoint_to_onnx

    checkpoint_to_onnx(FRANCE, tmp_path / "france.onnx")
    src = open_path(str(tmp_path / "france.onnx"))
    app = RecordingApp(src)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await goto(pilot, 4)
        await pilot.press("a")
        await settle(app, pilot)
        assert screen.source.trace.output is None
        panel = widget_text(screen.view.query_one("#output"))
        assert NOT_RECOMPUTED in panel and "France" not in panel
        assert NOT_RECOMPUTED in str(screen.view.query_one("#strip").border_title)
        await pilot.press("b")  # the parent still has its own output
        await pilot.pause()
        assert NOT_RECOMPUTED not in widget_text(screen.view.query_one("#output"))


async def test_a_recorded_trace_opened_read_only_still_branches(france, tmp_path):
    path = france.trace.save(tmp_path / "france.npz")
    src = open_path(str(path))
    before = snapshot(src.trace)
    app = RecordingApp(src)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await goto(pilot, 4)
        await pilot.press("a")
        await settle(app, pilot)
        assert screen.history.depth == 1 and screen.source.origin == "trace"
        assert screen.source.trace.edits == (Ablate(unit=screen.unit, from_t=4),)
        assert NOT_RECOMPUTED in widget_text(screen.view.query_one("#output"))
        assert_same_arrays(src.trace, before)
        assert_same_arrays(Trace.load(path), before)  # nothing was written back


# --- comparing two inputs
async def test_b_compares_a_second_input_and_D_shows_its_difference(france):
    app = RecordingApp(france)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.press("B")
        await pilot.pause()
        dialog = app.screen
        dialog.query_one(Input).value = france.text.replace("France", "Spain", 1)
        await pilot.press("enter")
        await settle(app, pilot)
        assert screen.paired and screen.other.trace.tokens[4] == "Spain"
        cmp = screen.comparison
        assert cmp.kind == "input" and cmp.token_changed == (4,) and cmp.first.t == 4
        line = bar(screen)
        assert "diverges at step 5" in line and "first: … grew up in France" in line
        # 120 columns: one side at a time; | shows the other
        views = screen.query_one("#views")
        assert [v.id for v in views.shown()] == ["main"]
        await pilot.press("vertical_line")
        await pilot.pause()
        assert [v.id for v in views.shown()] == ["other"]
        assert "⇄ input 2 of 2 (|)" in widget_text(screen.query_one("#header"))
        await goto(pilot, 4)
        await pilot.press("D")
        await pilot.pause()
        cols = screen.view.columns
        np.testing.assert_allclose(
            cols.values["h"], screen.other.trace.h[0, 0, 4] - france.trace.h[0, 0, 4], atol=0)
        await pilot.press("B")  # ends it
        await pilot.pause()
        assert not screen.paired and screen.comparison is None
        assert [v.id for v in views.shown()] == ["main"]


async def test_a_comparison_opened_from_the_command_line_shows_both_sides_when_wide(france):
    cmp = open_comparison(france, text=france.text.replace("France", "Spain", 1))
    app = RecordingApp(france, compare=cmp)
    async with app.run_test(size=(170, 40)) as pilot:
        screen = app.screen
        await pilot.pause()
        views = screen.query_one("#views")
        assert [v.id for v in views.shown()] == ["main", "other"]
        await goto(pilot, 5)
        assert screen.query_one("#other").t == 5
        strip = widget_text(screen.query_one("#other").query_one("#strip"))
        assert "Spain" in strip
        await pilot.press("a")
        await pilot.pause()
        assert screen.history.depth == 0 and "end the comparison" in app.notes[-1].message


async def test_inputs_of_different_lengths_are_aligned_by_position(france):
    cmp = open_comparison(france, text="I grew up in Spain and I speak fluent")
    app = RecordingApp(france, compare=cmp)
    async with app.run_test(size=(170, 40)) as pilot:
        screen = app.screen
        await pilot.press("end")
        await pilot.pause()
        assert screen.t == france.trace.T - 1 and screen.other_t == cmp.b.trace.T - 1
        assert f"{cmp.b.trace.T} steps against {france.trace.T}" in bar(screen)
        await pilot.press("D")
        await pilot.pause()
        assert np.isnan(screen.view.columns.values["c"]).all()  # no counterpart at this step
