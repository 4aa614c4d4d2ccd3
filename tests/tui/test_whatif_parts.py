"""The what-if pieces as plain Python: the branch history, the side-by-side rule, the strip's
markers, the bar's wording and the difference data (no app running)."""

from __future__ import annotations

import numpy as np
import pytest
from rich.style import Style

from lstm_engine import Ablate, SetState
from lstm_tui.layout import SIDE_BY_SIDE_FROM, compare_sides
from lstm_tui.stepdata import TraceData
from lstm_tui.whatif import BranchHistory, DifferenceData, compare, describe, make_branch
from lstm_tui.widgets.edit_list import edits_line, step_ranges
from lstm_tui.widgets.sequence_strip import StripStyles, render_strip

from tui_helpers import synthetic_source


def test_history_undo_redo_and_a_new_edit_dropping_the_redo():
    root = synthetic_source(T=6)
    h = BranchHistory(root)
    assert (h.current, h.parent, h.depth, h.undo(), h.redo()) == (root, None, 0, False, False)
    one = make_branch(root, Ablate(unit=1, from_t=2))
    two = make_branch(one, SetState(name="c", t=3, unit=0, value=0.5))
    h.push(one)
    h.push(two)
    assert h.edits_of(two) == (Ablate(unit=1, from_t=2), SetState(name="c", t=3, unit=0, value=0.5))
    assert h.undo() and h.current is one and h.parent is root and h.undone == (two,)
    assert h.undo() and h.current is root and h.undone == (one, two)
    assert h.redo() and h.current is one and h.undone == (two,)
    other = make_branch(one, Ablate(unit=2))
    h.push(other)
    assert h.undone == () and not h.redo() and h.depth == 2


def test_a_branch_leaves_its_parent_and_differs_only_where_the_edit_reaches():
    root = synthetic_source(T=6, hidden=4)
    c = np.array(root.trace.c, copy=True)
    new = make_branch(root, SetState(name="c", t=3, unit=2, value=0.0))
    np.testing.assert_array_equal(root.trace.c, c)
    np.testing.assert_array_equal(new.trace.c[0, 0, :3], c[0, 0, :3])
    assert new.trace.c[0, 0, 3, 2] == 0.0
    cmp = compare(root, new, "branch")
    assert cmp.first.t == 3 and cmp.kind == "branch"
    data = DifferenceData(TraceData(new.trace), root.trace)
    np.testing.assert_array_equal(data.step_values(0, 0, 2)["c"], np.zeros(4))
    d = data.step_values(0, 0, 3)["c"]
    assert d[2] == -c[0, 0, 3, 2] and np.count_nonzero(d) == 1
    w = data.window("c", 0, 0, 0, 6, slice(None))
    assert w.shape == (4, 6) and w[2, 3] == -c[0, 0, 3, 2] and not w[:, :3].any()


def test_a_shorter_base_has_no_counterpart_beyond_its_end():
    long, short = synthetic_source(T=6, seed=1), synthetic_source(T=4, seed=1)
    data = DifferenceData(TraceData(long.trace), short.trace)
    assert np.isnan(data.step_values(0, 0, 5)["f"]).all()
    w = data.window("h", 0, 0, 2, 6, slice(None))
    assert not np.isnan(w[:, :2]).any() and np.isnan(w[:, 2:]).all()


def test_markers_name_the_changed_predictions_and_the_first_divergence():
    root = synthetic_source(T=8, hidden=6, seed=2)
    new = make_branch(root, SetState(name="h", t=2, unit=None, value=3.0))
    # the synthetic trace's output is not the LSTM's: recorded traces without a model keep
    # none for the edited steps, so give the branch a made-up one to compare
    out = np.array(root.trace.output, copy=True)
    out[5] = out[5][::-1]
    from dataclasses import replace

    new = replace(new, trace=replace(new.trace, output=out))
    cmp = compare(root, new, "branch")
    changed = set(cmp.changed_steps())
    assert 5 in changed
    marks = cmp.markers()
    assert marks[2] == "diverge"
    assert all(marks[t] == "changed" for t in changed - {2})


@pytest.mark.parametrize("width,paired,side,want", [
    (120, False, 1, (True, False)), (SIDE_BY_SIDE_FROM, True, 1, (True, True)),
    (SIDE_BY_SIDE_FROM - 1, True, 0, (True, False)), (80, True, 1, (False, True)),
])  # fmt: skip
def test_two_traces_side_by_side_only_where_each_gets_a_whole_view(width, paired, side, want):
    assert compare_sides(width, paired, side) == want


def test_step_ranges_and_the_edit_line_number_steps_from_one():
    assert step_ranges([4, 5, 6, 9]) == "5–7, 10"
    assert step_ranges([0]) == "1" and step_ranges([]) == ""
    line = edits_line(("ablate 3 from 5", "c[1] = 0 at 2"), ("f[0] = 1 at 3",), False)
    assert line.startswith("edits  1 ablate 3 from 5 · 2 c[1] = 0 at 2   undone: f[0] = 1 at 3")
    assert "U undo" in line and "R redo" in line and "b parent" in line
    assert "b branch" in edits_line(("ablate 3",), (), True)
    assert edits_line((), (), False) == "edits  none"


def test_describe_writes_a_replaced_token_as_its_token():
    import lstm_engine
    from lstm_engine import ReplaceInput

    src = synthetic_source(T=4)
    tr = lstm_engine.branch(src.trace, [ReplaceInput(t=1, x=[0.0] * 5)],
                            tokens=("the", "dog", "sat", "on"))  # fmt: skip
    assert describe(tr.edits[-1], tr) == "token 2 = dog"
    anonymous = lstm_engine.branch(src.trace, [ReplaceInput(t=1, x=[0.0] * 5)])
    assert describe(anonymous.edits[-1], anonymous).startswith("input 2 = 0.0")


def test_the_strip_draws_the_what_if_glyphs_beside_their_tokens():
    styles = StripStyles(*(Style() for _ in range(5)))
    preds = [("DET", 0.5), ("NN", 0.25), ("V", 0.75)]
    marks = {0: "changed", 2: "diverge"}
    tokens = render_strip(["aa", "bb", "cc"], preds, 1, False, 60, styles,
                          markers=marks).plain.splitlines()[0]  # fmt: skip
    assert "≠aa" in tokens and "◆cc" in tokens and " bb" in tokens
