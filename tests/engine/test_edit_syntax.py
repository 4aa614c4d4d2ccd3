"""The text form of edits (core/edit_syntax.py): every form, every error with its column, the
round trip with format_edit, and a parsed edit's branch equal to the hand-built edit's."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lstm_engine import (
    Ablate, ClampGate, EditSyntaxError, InputError, LSTMSpec, ReplaceInput, SetState,
    TokenReplacement, WatchError, branch, format_edit, parse_edit, record,
)  # fmt: skip


@pytest.fixture(scope="module")
def bi():
    """2 layers, bidirectional, H=5, projected to P=3 (h's units are not c's), T=8, with tokens."""
    spec = LSTMSpec.random(3, 5, 2, bidirectional=True, proj_size=3, seed=2, dtype=np.float64)
    x = np.random.default_rng(1).standard_normal((8, 3))
    return dataclasses.replace(record(spec, x), tokens=tuple(f"w{k}" for k in range(8)))


@pytest.fixture(scope="module")
def uni():
    spec = LSTMSpec.random(2, 4, 1, seed=5, dtype=np.float64)
    return record(spec, np.random.default_rng(2).standard_normal((6, 2)))


FORMS = [
    ("c[11] = 0 at 6", SetState(name="c", t=5, unit=11, value=0.0)),
    ("h[11] = 0.5 at 6", SetState(name="h", t=5, unit=11, value=0.5)),
    ("c[:] = 0 at 6", SetState(name="c", t=5, unit=None, value=0.0)),
    ("f[3] = 1 at 6", ClampGate(gate="f", t=5, unit=3, value=1.0)),
    ("f[3] = 1 from 6", ClampGate(gate="f", t=5, unit=3, value=1.0, to_end=True)),
    ("ablate 11", Ablate(unit=11)),
    ("ablate 11 from 6", Ablate(unit=11, from_t=5)),
    ("token 6 = Spain", TokenReplacement(t=5, token="Spain")),
    ("  i[0]=-2.5e-1   at 1 ", ClampGate(gate="i", t=0, unit=0, value=-0.25)),
    ("g[:] = 0.75 from 40", ClampGate(gate="g", t=39, unit=None, value=0.75, to_end=True)),
    ("o[15] = .5 at 40", ClampGate(gate="o", t=39, unit=15, value=0.5)),
    ("token 1 = ' '", TokenReplacement(t=0, token=" ")),
    ('token 2 = "a\\tb"', TokenReplacement(t=1, token="a\tb")),
    ("token 3 = =", TokenReplacement(t=2, token="=")),
]


@pytest.fixture(scope="module")
def wide():
    """france.pt's shape (H=16, T=40, tokens), built here: a retrained sample changes nothing."""
    spec = LSTMSpec.random(4, 16, 1, seed=7, dtype=np.float64)
    trace = record(spec, np.random.default_rng(3).standard_normal((40, 4)))
    return dataclasses.replace(trace, tokens=tuple(f"w{k}" for k in range(40)))


@pytest.mark.parametrize("text, edit", FORMS)
def test_every_form(wide, text, edit):
    got = parse_edit(text, wide)
    assert got == edit
    assert parse_edit(format_edit(got, wide), wide) == got


def test_prefixes_and_the_callers_layer_and_direction(bi):
    assert parse_edit("L2.rev.c[3] = 0 at 4", bi) == SetState(name="c", t=3, unit=3, value=0.0,
                                                             layer=1, direction=1)  # fmt: skip
    scoped = parse_edit("L2.rev.c[3] = 0 at 4", bi)
    assert parse_edit("c[3] = 0 at 4", bi, layer=1, direction=1) == scoped
    # a prefix that names only a layer, or only a direction, keeps the caller's other half
    assert parse_edit("L1.f[0] = 1 from 2", bi, layer=1, direction=1) == ClampGate(
        gate="f", t=1, unit=0, value=1.0, to_end=True, layer=0, direction=1)  # fmt: skip
    assert parse_edit("fwd.h[2] = 1 at 8", bi, layer=1, direction=1) == SetState(
        name="h", t=7, unit=2, value=1.0, layer=1, direction=0)  # fmt: skip
    want = Ablate(unit=4, from_t=2, layer=1, direction=1)
    assert parse_edit("ablate L2.rev 4 from 3", bi) == want
    assert parse_edit("ablate rev 4", bi, layer=1) == Ablate(unit=4, layer=1, direction=1)
    assert parse_edit("input 2 = 0.5, -1, 3e-3", bi) == ReplaceInput(t=1, x=(0.5, -1.0, 0.003))


def test_round_trip_with_format_edit(bi):
    edits = [
        SetState(name="c", t=0, unit=4, value=-1.25, layer=1, direction=1),
        SetState(name="h", t=7, unit=None, value=1e-7, layer=0, direction=1),
        ClampGate(gate="o", t=3, unit=2, value=0.1, to_end=True, layer=1, direction=0),
        ClampGate(gate="g", t=3, unit=None, value=-1.0),
        Ablate(unit=0, layer=1, direction=1),
        Ablate(unit=4, from_t=7, direction=1),
        ReplaceInput(t=4, x=(0.1, -2.0, 1 / 3)),
        TokenReplacement(t=2, token="a b"),
        TokenReplacement(t=2, token="'quoted"),
        TokenReplacement(t=2, token="\x1b[31m"),
        TokenReplacement(t=2, token="it's"),
    ]
    for layer in (0, 1):
        for direction in (0, 1):
            for e in edits:
                text = format_edit(e, bi, layer=layer, direction=direction)
                assert "\n" not in text and "\x1b" not in text
                assert parse_edit(text, bi, layer=layer, direction=direction) == e, text
    assert format_edit(edits[0], bi) == "L2.rev.c[4] = -1.25 at 1"
    assert format_edit(edits[0], bi, layer=1, direction=1) == "c[4] = -1.25 at 1"
    assert format_edit(edits[4], bi) == "ablate L2.rev 0"
    assert format_edit(Ablate(unit=3, from_t=5), bi) == "ablate 3 from 6"
    clamp = ClampGate(gate="f", t=5, unit=3, value=1.0, to_end=True)
    assert format_edit(clamp) == "f[3] = 1 from 6"


def test_a_parsed_edit_branches_exactly_as_the_hand_built_one(bi):
    pairs = [
        ("L2.rev.c[3] = 0 at 4", SetState(name="c", t=3, unit=3, value=0.0, layer=1, direction=1)),
        ("h[:] = 0.5 at 2", SetState(name="h", t=1, unit=None, value=0.5)),
        ("f[1] = 1 from 3", ClampGate(gate="f", t=2, unit=1, value=1.0, to_end=True)),
        ("rev.i[0] = 0 at 5", ClampGate(gate="i", t=4, unit=0, value=0.0, direction=1)),
        ("ablate L1.rev 2 from 6", Ablate(unit=2, from_t=5, direction=1)),
        ("input 1 = 1, 2, 3", ReplaceInput(t=0, x=(1.0, 2.0, 3.0))),
    ]
    for text, hand in pairs:
        a, b = branch(bi, [parse_edit(text, bi)]), branch(bi, [hand])
        assert a.identity == b.identity, text
        for name in ("i", "f", "g", "o", "c", "h"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=text)
        changed = not np.array_equal(a.c, bi.c) or not np.array_equal(a.h, bi.h)
        assert changed, text  # the edit did something


def _error(text, trace, **kw) -> EditSyntaxError:
    with pytest.raises(EditSyntaxError) as info:
        parse_edit(text, trace, **kw)
    e = info.value
    assert isinstance(e, WatchError) and isinstance(e, InputError)
    assert "\n" not in str(e)
    line, caret = e.caret_lines()
    assert line == text and caret.index("^") == e.column
    return e


@pytest.mark.parametrize("text, column, words", [
    ("c[5] = 0 at 2", 2, ["unit 5 does not exist", "c has units 0..4"]),
    ("h[3] = 0 at 2", 2, ["unit 3 does not exist", "h has units 0..2"]),  # projected: P = 3
    ("L2.rev.c[9] = 0 at 2", 9, ["unit 9", "L2.rev.c has units 0..4"]),
    ("c[-1] = 0 at 2", 2, ["unit -1 does not exist"]),
    ("c[1:3] = 0 at 2", 2, ["one unit", "every unit"]),
    ("c = 0 at 2", 0, ["name a unit", "c[:]"]),
    ("c[3] = 0 at 0", 12, ["step 0 is the initial state", "steps 1..8"]),
    ("c[3] = 0 at 9", 12, ["step 9 is outside the trace", "steps 1..8"]),
    ("c[3] = 0 at 2.5", 12, ["a step is a whole number 1..8"]),
    ("c[3] = 0 at -1", 12, ["a step is a whole number"]),
    ("c[3] = 0", 8, ["say when", "at STEP", "from STEP"]),
    ("c[3] = 0 from 2", 9, ["c is set at one step", "ablate"]),
    ("x[3] = 0 at 2", 0, ["x is not a known name", "sets c or h", "clamps a gate"]),
    ("kept[3] = 0 at 2", 0, ["kept cannot be edited", "i, f, g, o"]),
    ("delta[3] = 0 at 2", 0, ["delta cannot be edited"]),
    ("L3.c[0] = 0 at 2", 0, ["layer L3 does not exist", "L1..L2"]),
    ("L1.sideways.c[0] = 0 at 2", 0, ["not a scope"]),
    ("__import__('os')[0] = 0 at 2", 0, ["not a quantity"]),
    ("c[3] = zero at 2", 7, ["the value must be a number", "'zero'"]),
    ("c[3] = nan at 2", 7, ["the value must be a number"]),
    ("c[3] = 1e999 at 2", 7, ["finite"]),
    ("c[3] =  at 2", 6, ["a value is missing"]),
    ("c[3] == 0 at 2", 0, ["an edit is c[11] = 0 at 6"]),
    ("ablate 5", 7, ["unit 5 does not exist", "units 0..4"]),
    ("ablate x", 7, ["ablate takes a unit number 0..4"]),
    ("ablate 1 at 2", 0, ["ablate UNIT from STEP"]),
    ("ablate L4 1", 7, ["layer L4 does not exist"]),
    ("ablate 1 from 0", 14, ["step 0 is the initial state"]),
    ("token 0 = w1", 6, ["step 0 is the initial state"]),
    ("token 3 = ", 10, ["the new token is missing"]),
    ("token 3 = ''", 10, ["the new token is empty"]),
    ("token 3 = 'a' + 'b'", 10, ["one string"]),
    ("input 2 = 1, 2", 0, ["x has 2 numbers but the LSTM takes 3"]),
    ("input 2 = 1, two, 3", 13, ["the value must be a number"]),
    ("", 0, ["empty"]),
    ("blah", 0, ["an edit is"]),
])  # fmt: skip
def test_errors_with_their_column(bi, text, column, words):
    e = _error(text, bi)
    assert e.column == column, (e.column, str(e))
    for w in words:
        assert w in str(e), (w, str(e))


def test_errors_about_what_the_trace_lacks(uni, bi):
    e = _error("token 2 = a", uni)
    assert "no tokens" in str(e) and e.column == 0
    assert "no reverse direction" in str(_error("rev.c[0] = 0 at 1", uni))
    assert "layer L1 only" in str(_error("ablate L2 0", uni))
    # the last step is T (6 here), and the text limits hold as for watches
    assert parse_edit("c[0] = 1 at 6", uni) == SetState(name="c", t=5, unit=0, value=1.0)
    with pytest.raises(EditSyntaxError):
        parse_edit("x" * 2000, bi)
    with pytest.raises(EditSyntaxError):
        parse_edit(None, bi)


def test_a_token_edit_is_left_for_the_model_level(bi):
    r = parse_edit("token 4 = w7", bi)
    assert r == TokenReplacement(t=3, token="w7")
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.t = 1
