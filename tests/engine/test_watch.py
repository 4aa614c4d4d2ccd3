"""Watch expressions (core/watch.py) against masks computed by hand from the trace's own arrays.

The expected masks never go through the registry or Trace.series: c_prev is
built here from c and c0 in each direction's reading order, probabilities
from the log-softmax output, so a watch that read the wrong step, layer,
direction or unit fails. Hostile text is refused with no code run: eval,
exec and every compile but ast.parse's are made to fail while compiling.
"""

from __future__ import annotations

import ast
import builtins
import time
from pathlib import Path

import numpy as np
import pytest

from lstm_engine import (
    InputError, LSTMSpec, Session, Watch, WatchError, compile_watch, next_hit, open_and_trace,
    record,
)  # fmt: skip

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bi():
    """2 layers, bidirectional, H=6, T=12, float64: every reading order and layer."""
    spec = LSTMSpec.random(3, 6, 2, bidirectional=True, seed=3, dtype=np.float64)
    x = np.random.default_rng(4).standard_normal((12, 3)) * 2
    return record(spec, x)


@pytest.fixture(scope="module")
def france():
    return open_and_trace(ROOT / "sample_models" / "france.pt").trace


def _c_prev(tr, layer, d):
    """c_{t-1} in the direction's own reading order, by hand."""
    c, c0 = tr.c[layer, d], tr.c0[layer, d]
    if tr.reads_reversed(d):
        return np.concatenate([c[1:], c0[None]])
    return np.concatenate([c0[None], c[:-1]])


def _where(text, tr, layer=0, direction=0, **kw):
    return list(compile_watch(text, tr, layer, direction, **kw).where())


# --- evaluation against hand computations
def test_the_issue_examples_on_france(france):
    tr = france
    f, c = tr.f[0, 0], tr.c[0, 0]
    delta = c - _c_prev(tr, 0, 0)
    p = np.exp(tr.output.astype(np.float64))  # france.pt's output is log_softmax
    top = p.argmax(axis=1)
    labels = np.array(tr.labels)
    T = tr.T
    assert tr.meta["output_kind"] == "log_prob"
    assert _where("f[3] < 0.1", tr) == list(np.flatnonzero(f[:, 3] < 0.1))
    assert _where("f[3] < 0.99", tr) == list(np.flatnonzero(f[:, 3] < 0.99))
    assert _where("abs(delta[2]) > 0.5", tr) == list(np.flatnonzero(np.abs(delta[:, 2]) > 0.5))
    k = tr.tokens.index("France")
    assert _where('token == "France"', tr) == [k]
    changed = [k for k in range(1, T) if top[k] != top[k - 1]]
    assert _where("pred != pred_prev", tr) == changed and changed
    assert _where("any(isnan(c))", tr) == []
    assert _where("not any(isnan(c))", tr) == list(range(T))
    biggest = np.abs(delta).max(axis=1)
    for cut in (2, 0.1):  # none over 2 on this sample; a few over 0.1 (the country, the ending)
        want = np.flatnonzero((biggest > cut) & (np.arange(1, T + 1) > 10))
        assert _where(f"max(abs(delta)) > {cut} and t > 10", tr) == list(want)
    assert want.size and want.size < T // 2
    french = list(labels).index("French")
    assert _where('p["French"] > 0.5', tr) == list(np.flatnonzero(p[:, french] > 0.5))
    assert _where(f"p[{french}] > 0.5", tr) == _where('p["French"] > 0.5', tr)
    assert _where("prob > 0.9", tr) == list(np.flatnonzero(p.max(axis=1) > 0.9))
    assert _where('pred == "French"', tr) == list(np.flatnonzero(top == french))
    either = [k for k, w in enumerate(tr.tokens) if w in ("France", "fluent")]
    assert _where('token in ("France", "fluent")', tr) == either
    assert _where('token not in ("France",)', tr) == [n for n in range(T) if n != k]


def test_values_at_and_names(france):
    tr = france
    k = tr.tokens.index("France")
    text = 'abs(delta[2]) > 0.5 and token != "and" and p["French"] > 0.5'
    w = compile_watch(text, tr)
    assert w.names == ("delta", "token", 'p["French"]') and w.text == text
    delta2 = tr.c[0, 0, k, 2] - tr.c[0, 0, k - 1, 2]
    got = w.values_at(k)
    assert list(got) == ["abs(delta[2])", "token", 'p["French"]']
    assert got["abs(delta[2])"] == pytest.approx(abs(delta2), abs=1e-6)
    assert got["token"] == "France"
    french = tr.labels.index("French")
    assert got['p["French"]'] == pytest.approx(np.exp(float(tr.output[k, french])), rel=1e-12)
    assert w.value_at(k) is bool(w.mask[k]) and isinstance(w.value_at(k), bool)
    v = compile_watch("argmax(c)", tr)
    assert not v.is_condition and v.kind == "num"
    assert v.value_at(7) == int(np.argmax(tr.c[0, 0, 7]))
    assert v.values_at(7) == {"argmax(c)": v.value_at(7)}
    assert compile_watch("token", tr).value_at(k) == "France"
    assert compile_watch("t * 2", tr).value_at(4) == 10
    prev = compile_watch("pred_prev", tr)
    assert prev.value_at(0) is None and prev.value_at(1) == compile_watch("pred", tr).value_at(0)
    with pytest.raises(IndexError):
        w.value_at(tr.T)


def test_both_reading_orders_and_scoping(bi):
    tr = bi
    T = tr.T
    assert tr.reads_reversed(1) and not tr.reads_reversed(0)
    for layer in (0, 1):
        for d in (0, 1):
            delta = tr.c[layer, d] - _c_prev(tr, layer, d)
            want = list(np.flatnonzero(delta[:, 2] > 0))
            assert 0 < len(want) < T
            assert _where("delta[2] > 0", tr, layer, d) == want
            scope = f"L{layer + 1}.{'rev' if d else 'fwd'}"
            # the prefix wins over the caller's layer and direction, whatever they are
            assert _where(f"{scope}.delta[2] > 0", tr, 1 - layer, 1 - d) == want
            kept = tr.f[layer, d] * _c_prev(tr, layer, d)
            assert _where("kept[5] < 0", tr, layer, d) == list(np.flatnonzero(kept[:, 5] < 0))
    # a layer alone keeps the caller's direction; a direction alone keeps the caller's layer
    o = tr.o
    assert _where("L2.o[0] > 0.5", tr, 0, 1) == list(np.flatnonzero(o[1, 1, :, 0] > 0.5))
    assert _where("rev.o[0] > 0.5", tr, 1, 0) == list(np.flatnonzero(o[1, 1, :, 0] > 0.5))
    assert _where("L1.rev.o[0] > 0.9 or L2.fwd.i[1] < 0.2", tr) == list(
        np.flatnonzero((o[0, 1, :, 0] > 0.9) | (tr.i[1, 0, :, 1] < 0.2)))  # fmt: skip


def test_slices_aggregates_and_arithmetic(bi):
    tr = bi
    f, c, h, i, g = (getattr(tr, n)[0, 0] for n in "fchig")
    cases = {
        "mean(f[0:4]) > 0.5": f[:, 0:4].mean(axis=1) > 0.5,
        "sum(c[1:6:2]) > 0": c[:, 1:6:2].sum(axis=1) > 0,
        "min(h) < -0.3": h.min(axis=1) < -0.3,
        "count(f < 0.5) >= 3": (f < 0.5).sum(axis=1) >= 3,
        "all(abs(h) < 0.9)": (np.abs(h) < 0.9).all(axis=1),
        "argmax(c[2:]) == 4": c[:, 2:].argmax(axis=1) + 2 == 4,
        "argmax(c) == 4": c.argmax(axis=1) == 4,
        "f[-1] > 0.5": f[:, -1] > 0.5,
        "written[0] > 0.1": i[:, 0] * g[:, 0] > 0.1,
        "c[0] - c_prev[0] > 0.1": c[:, 0] - _c_prev(tr, 0, 0)[:, 0] > 0.1,
        "c[0] ** 2 + h[1] / 2 > 0.2": c[:, 0] ** 2 + h[:, 1] / 2 > 0.2,
        "-c[0] >= 0.1 or not c[1] < 0": (-c[:, 0] >= 0.1) | ~(c[:, 1] < 0),
        "0.2 < f[0] < 0.8": (0.2 < f[:, 0]) & (f[:, 0] < 0.8),
        "any(f > i)": (f > i).any(axis=1),
        "max(f[0], i[0]) > 0.6": np.maximum(f[:, 0], i[:, 0]) > 0.6,
        "any(max(f, i) > 0.9)": np.maximum(f, i).max(axis=1) > 0.9,
        "t % 3 == 0": np.arange(1, tr.T + 1) % 3 == 0,
        "count(isnan(c) or isinf(c)) == 0": np.ones(tr.T, bool),
        "any(f - t / 10 > 0)": (f - (np.arange(1, tr.T + 1) / 10)[:, None] > 0).any(axis=1),
        "2 ** 3 == 8": np.ones(tr.T, bool),
        "mean(f < 0.5) > 0.4": (f < 0.5).mean(axis=1) > 0.4,
        "f[0] in (1, 2) or t in (2, 5)": np.isin(np.arange(1, tr.T + 1), (2, 5)),
        "1 > 2": np.zeros(tr.T, bool),
    }
    for text, want in cases.items():
        assert _where(text, tr) == list(np.flatnonzero(want)), text
    assert 0 < int(np.count_nonzero(cases["mean(f[0:4]) > 0.5"])) < tr.T


def test_nan_and_inf_are_found(bi):
    """A trace with a non-finite cell state: isnan/isinf find it, comparisons with NaN are false."""
    import dataclasses

    c = np.array(bi.c)
    c[0, 0, 3, 2] = np.nan
    c[0, 0, 7, 0] = np.inf
    tr = dataclasses.replace(bi, c=c)
    assert _where("any(isnan(c))", tr) == [3]
    assert _where("any(isinf(c))", tr) == [7]
    assert _where("isnan(c[2])", tr) == [3]
    assert _where("c[2] > -1000", tr) == [k for k in range(tr.T) if k != 3]
    assert compile_watch("c[2]", tr).value_at(3) != compile_watch("c[2]", tr).value_at(3)  # NaN


def test_mask_is_cached_read_only_and_agrees_with_session(bi):
    w = compile_watch("f[0] > 0.5", bi)
    assert isinstance(w, Watch) and w.mask is w.mask
    with pytest.raises(ValueError):
        w.mask[0] = True
    assert list(Session(bi).where("f[0] > 0.5")) == list(w.where())
    scoped = Session(bi).where("L2.c[1] > 0", layer=0, direction=1)
    assert list(scoped) == _where("c[1] > 0", bi, 1, 1)


# --- Session.where and run_until
def test_run_until_forward_backward_and_both_ends(bi):
    T = bi.T
    s = Session(bi)
    ends = f"t == 1 or t == {T}"
    assert list(s.where(ends)) == [0, T - 1]
    assert s.run_until(ends) and s.t == T - 1  # from 0: the current step is not a hit
    assert not s.run_until(ends) and s.t == T - 1  # nothing later: stays
    assert s.run_until(ends, reverse=True) and s.t == 0  # reaches position 0
    assert not s.run_until(ends, reverse=True) and s.t == 0
    s.goto(5)
    assert not s.run_until("t > 100") and s.t == 5
    assert not s.run_until("t > 100", reverse=True) and s.t == 5
    mid = "t == 4 or t == 9"
    s.goto(0)
    assert s.run_until(mid) and s.t == 3
    assert s.run_until(mid) and s.t == 8
    assert s.run_until(mid, reverse=True) and s.t == 3
    s.goto(8)
    assert s.run_until(mid, reverse=True) and s.t == 3  # the previous hit, not the current one
    s.goto(T - 1)
    assert s.run_until(mid, reverse=True) and s.t == 8


def test_next_hit_never_returns_the_position_itself():
    mask = np.array([True, False, True, True, False, True])
    assert [next_hit(mask, p) for p in range(-1, 6)] == [0, 2, 2, 3, 5, 5, None]
    assert [next_hit(mask, p, reverse=True) for p in range(0, 7)] == [None, 0, 0, 2, 3, 3, 5]
    none = np.zeros(4, bool)
    assert next_hit(none, 0) is None and next_hit(none, 3, reverse=True) is None


def test_count_and_next_on_a_watch(bi):
    w = compile_watch("c[0] > 0", bi)
    hits = list(np.flatnonzero(bi.c[0, 0, :, 0] > 0))
    assert w.count == len(hits) and 0 < len(hits) < bi.T
    assert w.next(hits[0]) == hits[1] and w.next(hits[1], reverse=True) == hits[0]
    assert w.next(hits[-1]) is None and w.next(hits[0], reverse=True) is None


def test_run_until_takes_layer_direction_and_still_a_predicate(bi):
    want = _where("c[0] > 0", bi, 1, 1)
    s = Session(bi)
    s.goto(want[0])
    assert s.run_until("c[0] > 0", layer=1, direction=1) and s.t == want[1]
    s.goto(0)
    assert s.run_until(lambda v: v.t == 6) and s.t == 6
    assert s.run_until(lambda v: v.value("c", 1, 1)[0] > 0, reverse=True)
    assert s.t == max(k for k in want if k < 6)
    with pytest.raises(WatchError):
        s.run_until("c[0] >")


# --- errors: the message, the column, the caret
def _error(text, tr, **kw) -> WatchError:
    with pytest.raises(WatchError) as info:
        compile_watch(text, tr, **kw).mask
    e = info.value
    assert isinstance(e, InputError) and "\n" not in str(e)
    return e


@pytest.mark.parametrize("text, column, words", [
    ("foo > 1", 0, ["unknown name 'foo'", "quantities", "delta", "token", "functions", "L1..L2"]),
    ("f[3] < 0.1 and fo > 1", 15, ["unknown name 'fo'", "did you mean"]),
    ("f[3] < 0.1 and delt[0] > 1", 15, ["unknown name 'delt'", "did you mean delta"]),
    ("f[99] > 0", 2, ["unit 99 does not exist", "units 0..5"]),
    ("f[-7] > 0", 2, ["unit -7 does not exist", "units 0..5"]),
    ("f[0:99] > 0", 4, ["slice bound 99", "0..5"]),
    ("f[3:3] > 0", 2, ["selects no units"]),
    ("f[::0] > 0", 4, ["slice step cannot be 0"]),
    ("f[t] > 0", 2, ["a unit must be a whole number"]),
    ("f[1.5] > 0", 2, ["a unit must be a whole number"]),
    ("f < 0.1", 0, ["one condition per unit (6 units)", "any(...)", "count(...)", "index a unit"]),
    ("c", 0, ["6 values per step", "index a unit", "max(...)"]),
    ("f[3]", 0, ["is a number, not a condition", "compare it"]),
    ("f[3] and t > 1", 0, ["and needs a condition", "f[3] is a number"]),
    ("not c[0]", 4, ["not needs a condition"]),
    ("any(f)", 4, ["any() takes a per-unit condition", "any(f < 0.1)"]),
    ("max(f[0]) > 1", 4, ["max() reduces over units", "per-unit value"]),
    ("abs(f[0] > 1)", 4, ["abs() takes numbers"]),
    ("abs(f, 1) > 0", 0, ["abs() takes one argument"]),
    ("abs(x=f) > 0", 6, ["no keyword arguments"]),
    ("f[0] + (t > 1) > 0", 8, ["+ needs numbers", "t > 1 is a condition"]),
    ("token == 3", 0, ["compares like with like"]),
    ("f[0] < f", 0, []),
    ("f[0:2] + f[0:3] > 0", 0, ["2 units", "3"]),
    ("t in (1, 'a')", 9, ["must be numbers"]),
    ("t in t", 5, ["takes a tuple"]),
    ("t == (1, 2)", 5, ["tuple is only allowed after 'in'"]),
    ("t is 1", 1, ["'is' is not allowed"]),
    ("L3.c[0] > 0", 0, ["layer L3 does not exist", "layers L1..L2"]),
    ("L0.c[0] > 0", 0, ["layer L0 does not exist"]),
    ("L1 > 0", 0, ["L1 is a layer or direction scope", "L1.c[3]"]),
    ("L1.rev > 0", 0, ["L1.rev is a scope"]),
    ("L1.rev.fwd.c[0] > 0", 0, ["not a scope"]),
    ("L1.t > 0", 0, ["after a layer or direction comes a quantity"]),
    ("f.real > 0", 0, ["attribute access is only layer and direction scoping", "f is not a scope"]),
    ("max > 0", 0, ["max is a function"]),
    ("None", 0, ["None is not a value"]),
    ("f[3] <", 6, ["syntax error"]),
    ("(f[3] < 1", 0, ["syntax error", "never closed"]),
    ("", 0, ["empty"]),
    ("   ", 0, ["empty"]),
    ("token < 'a'", 0, ["< compares numbers", "token is text"]),
    ("~t > 0", 0, ["~ is not allowed"]),
    ("t @ t > 0", 0, ["operator MatMult is not allowed"]),
])  # fmt: skip
def test_error_kinds_with_their_column(bi, text, column, words):
    tr = bi if text != "token == 3" and "token" not in text else _with_tokens(bi)
    e = _error(text, tr)
    assert e.column == column, (e.column, str(e))
    for w in words:
        assert w in str(e), (w, str(e))
    line, caret = e.caret_lines()
    assert line == text
    assert caret.index("^") == column and set(caret) <= {" ", "^", "~"}
    assert f"(at column {column + 1})" in str(e) or not text


def _with_tokens(tr):
    import dataclasses

    return dataclasses.replace(tr, tokens=tuple(f"w{k}" for k in range(tr.T)))


def test_errors_about_what_the_trace_lacks(bi, france):
    e = _error("p > 0.5", france)
    assert e.column == 0 and "cannot be compared" in str(e)
    assert "is a function" in str(_error("max", france))
    assert "no tokens" in str(_error('token == "a"', bi))
    assert "no model output" in str(_error("pred == 1", bi))
    assert "no model output" in str(_error('p["French"] > 0', bi))
    e = _error('p["Klingon"] > 0.5', france)
    assert e.column == 2 and "unknown label 'Klingon'" in str(e) and "'French'" in str(e)
    assert "output class 8 does not exist" in str(_error("p[8] > 0.5", france))
    assert "pred is text and 1 is a number" in str(_error("pred > 1", france))
    spec = LSTMSpec.random(3, 4, 1, seed=1)
    one = record(spec, np.ones((5, 3), np.float32))
    e = _error("rev.c[0] > 0", one)
    assert "no reverse direction" in str(e) and e.column == 0
    assert "layer L1 only" in str(_error("L2.c[0] > 0", one))
    assert "direction 1 does not exist" in str(_error("c[0] > 0", one, direction=1))


def test_caret_lines_stay_aligned_with_wide_and_control_characters(bi):
    e = _error("'日本' + c[0] > 0", bi)
    line, caret = e.caret_lines()
    assert line == "'日本' + c[0] > 0" and e.column == 0
    e = _error("t > 0 and\t日本 > 0", bi)
    line, caret = e.caret_lines()
    assert line == "t > 0 and 日本 > 0" and e.column == 10
    assert caret.index("^") == 10 and caret == " " * 10 + "^" + "~" * 3  # 日本: four cells
    e = _error("t > 0 and \x1b[31m", bi)
    line, _ = e.caret_lines()
    assert "\x1b" not in line and line.isprintable()


def test_a_unicode_name_before_the_problem_counts_characters_not_bytes(bi):
    e = _error('f[0] > 0 or "éé" == "x" and foo > 1', bi)
    assert e.column == 28  # ast counts UTF-8 bytes (30); the caret counts characters


# --- hostile text: refused or bounded, and no code runs
HOSTILE = [
    "__import__('os').system('touch /tmp/pwned')",
    "().__class__",
    "().__class__.__bases__[0].__subclasses__()",
    "f.__class__",
    "L1.__dict__",
    "__builtins__",
    "open('/etc/passwd')",
    "eval('1')",
    "exec('1')",
    "getattr(f, 'x')",
    "globals()",
    "(lambda: 1)()",
    "[x for x in (1, 2)]",
    "{x for x in (1,)}",
    "{1: 2}",
    "(x for x in (1,))",
    "(y := 1)",
    "f'{t}'",
    "t if t else 0",
    "max(*f)",
    "f[3].real",
    "abs(f).__class__",
    "9**9**9",
    "2**10**10 > 1",
    "t ** 100000 > 1",
    "10**100000",
    "1" * 400,
    "f[0:10**100] > 0",
    "f[10**100] > 0",
    "-" * 500 + "1 > 0",
    "not " * 300 + "t > 0",
    "(" * 300 + "t" + ")" * 300,
    "[" * 300 + "]" * 300,
    "t + " * 200 + "1 > 0",
    "max(" * 100 + "f" + ")" * 100,
    "x" * 5000,
    "t > 0\x00",
    "'a' * 10**9 == 'b'",
    "token * 10**9 == 'b'",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_expressions_are_refused_fast_with_no_code_run(bi, text, monkeypatch, tmp_path):
    tr = _with_tokens(bi)
    real_compile = builtins.compile

    def only_ast(source, filename, mode, flags=0, *a, **kw):
        assert flags & ast.PyCF_ONLY_AST, "user text compiled to code"
        return real_compile(source, filename, mode, flags, *a, **kw)

    def never(*a, **kw):
        raise AssertionError("eval/exec called")

    monkeypatch.setattr(builtins, "compile", only_ast)
    monkeypatch.setattr(builtins, "eval", never)
    monkeypatch.setattr(builtins, "exec", never)
    start = time.perf_counter()
    with pytest.raises(WatchError) as info:
        compile_watch(text, tr).mask
    assert time.perf_counter() - start < 0.5
    msg = str(info.value)
    assert "\n" not in msg and len(msg) < 1000
    assert 0 <= info.value.column <= len(text)
    assert not Path("/tmp/pwned").exists()


@pytest.mark.parametrize("text, words", [
    ("__import__('os')", ["double underscores", "__import__"]),
    ("().__class__", ["double underscores", ".__class__"]),
    ("f.x.y > 0", ["attribute access is only layer and direction scoping"]),
    ("(lambda: 1)() > 0", ["lambda is not allowed"]),
    ("[x for x in (1,)]", ["a comprehension is not allowed"]),
    ("open('x') > 0", ["unknown function 'open'", "max, min"]),
    ("9**9**9", ["exponent 9**9 is too large"]),
    ("1" * 400, ["too large"]),
    ("-" * 500 + "1", ["too large", "nested"]),
    ("t + " * 200 + "1 > 0", ["too large"]),
    ("max(" + ", ".join(["t"] * 200) + ") > 0", ["too large", "parts"]),
    ("x" * 5000, ["5000 characters", "limit is 1000"]),
    ("f[10**100] > 0", ["a unit must be a whole number"]),
    ("t > 0\x00", ["null bytes"]),
])  # fmt: skip
def test_hostile_refusals_say_what_is_refused(bi, text, words):
    e = _error(text, bi)
    for w in words:
        assert w in str(e), (w, str(e))


def test_parentheses_do_not_count_as_nesting(bi):
    text = "(" * 150 + "t" + ")" * 150 + " > 0"
    assert list(compile_watch(text, bi).where()) == list(range(bi.T))


def test_a_large_but_allowed_power_is_a_float_not_a_hang(bi):
    w = compile_watch("10 ** 400 > t", bi)
    assert w.mask.all()  # inf, computed as a float in no time
    assert compile_watch("2 ** -3", bi).value_at(0) == 0.125


def test_compiling_is_cheap_and_computes_nothing(bi, monkeypatch):
    import dataclasses

    bi = dataclasses.replace(bi)  # a trace no other test has read, so nothing is cached for it
    calls = []
    real = type(bi).series
    monkeypatch.setattr(type(bi), "series", lambda self, *a: calls.append(a) or real(self, *a))
    w = compile_watch("max(abs(kept)) > 2 and t > 10", bi)
    assert calls == []
    w.mask
    assert calls == [("kept", 0, 0)]


def test_reductions_are_shared_per_trace_but_never_across_layers_or_directions(bi):
    """max(abs(delta)) is kept with the trace's arrays after its first watch; each layer and
    direction has its own, and a later watch at another scope gets its own numbers."""
    for _ in range(2):  # the second round reads what the first kept
        for layer in (0, 1):
            for d in (0, 1):
                delta = bi.c[layer, d] - _c_prev(bi, layer, d)
                biggest = np.abs(delta).max(axis=1)
                cut = float(np.median(biggest))
                w = compile_watch(f"max(abs(delta)) > {cut}", bi, layer, d)
                assert list(w.where()) == list(np.flatnonzero(biggest > cut))
                assert w.values_at(3)["max(abs(delta))"] == pytest.approx(biggest[3], abs=1e-12)
                assert compile_watch("max(abs(delta)) == max(max(delta), -min(delta))", bi, layer,
                                     d).mask.all()  # fmt: skip


def test_max_abs_keeps_nan(bi):
    import dataclasses

    c = np.array(bi.c)
    c[0, 0, 2, 1] = np.nan
    c[0, 0, 4, 0] = -50.0
    tr = dataclasses.replace(bi, c=c)
    w = compile_watch("max(abs(c))", tr)
    assert np.isnan(w.value_at(2)) and w.value_at(4) == 50.0
    assert list(compile_watch("max(abs(c)) > 10", tr).where()) == [4]


def test_watches_from_several_threads_agree(france):
    """The UI evaluates in worker threads; the arrays they share are built once, consistently."""
    import dataclasses
    from concurrent.futures import ThreadPoolExecutor

    tr = dataclasses.replace(france)  # nothing cached for it yet
    texts = ["max(abs(delta)) > 0.5", "pred != pred_prev", 'p["French"] > 0.5', "any(kept < 0)"] * 8
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda text: list(compile_watch(text, tr).where()), texts))
    for text, hits in zip(texts, got):
        assert hits == list(compile_watch(text, france).where()), text


def test_max_abs_over_many_blocks(bi, monkeypatch):
    """max(abs(x)) runs block by block; with blocks of 2 rows every boundary is crossed."""
    import dataclasses

    from lstm_engine.core import watch as watch_module

    monkeypatch.setattr(watch_module, "_BLOCK_BYTES", 2 * bi.hidden_size * bi.c.itemsize)
    tr = dataclasses.replace(bi)
    for layer, d in ((0, 0), (1, 1)):
        delta = tr.c[layer, d] - _c_prev(tr, layer, d)
        got = [compile_watch("max(abs(delta))", tr, layer, d).value_at(k) for k in range(tr.T)]
        assert got == list(np.abs(delta).max(axis=1))


def test_output_kind_is_part_of_what_is_shared(france):
    """The same reduction read with another output kind is computed again, not reused."""
    import dataclasses

    tr = dataclasses.replace(france)
    lp = np.asarray(tr.output, dtype=np.float64)
    f = tr.f[0, 0].astype(np.float64)
    top = np.exp(lp).max(axis=1)
    # a step where some forget gates are above the top probability and some below it
    k = next(k for k in range(tr.T) if 0 < np.count_nonzero(f[k] > top[k]) < tr.hidden_size)
    count = "count(f > prob)"
    assert compile_watch(count, tr, output_kind="log_prob").value_at(k) == np.count_nonzero(
        f[k] > top[k])  # fmt: skip
    # the same trace, its log-probabilities read as probabilities: all below every gate
    assert compile_watch(count, tr, output_kind="prob").value_at(k) == tr.hidden_size
    assert compile_watch("prob", tr, output_kind="prob").value_at(k) == lp[k].max()
    assert compile_watch("prob", tr, output_kind="log_prob").value_at(k) == pytest.approx(top[k])
    assert compile_watch("prob", tr, output_kind="logit").value_at(k) == pytest.approx(
        top[k])  # softmax of log-probabilities gives them back


def test_what_a_trace_keeps_goes_with_it(bi):
    """The arrays watches share are held for a trace only while the trace itself lives."""
    import dataclasses
    import gc
    import weakref

    from lstm_engine.core import watch as watch_module

    tr = dataclasses.replace(bi)
    w = compile_watch("max(abs(delta)) > 0", tr)
    w.mask
    assert tr in watch_module._SERIES
    ref = weakref.ref(tr)
    del tr, w
    gc.collect()
    assert ref() is None
