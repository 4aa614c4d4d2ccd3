"""A Trace is checked where it is made: record(), a hand-built Trace and Trace.load agree.

Each case here used to be accepted and then failed later (a traceback in the
UI, a save that needed pickle, a file Trace.load refused).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from lstm_engine import InputError, LoadError, LSTMSpec, Trace, record

SPEC = LSTMSpec.random(2, 3, seed=1, dtype=np.float64)
X = np.random.default_rng(0).standard_normal((5, 2))


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "base.npz"
    record(SPEC, X, tokens=tuple("abcde")).save(path, compress=True)  # i, f, g, o apart
    return path, dict(np.load(path))


def _variant(tmp_path, data, **changes):
    d = {**data, **changes}
    path = tmp_path / "variant.npz"
    np.savez(path, **{k: v for k, v in d.items() if v is not None})
    return path


@pytest.mark.parametrize("make", [
    lambda c: np.full(c.shape, "a"),
    lambda c: c.astype(complex),
    lambda c: c.astype(np.int64),
    lambda c: c.astype(bool),
    lambda c: c.astype(np.float32),  # the weights are float64
])  # fmt: skip
def test_load_refuses_arrays_that_are_not_the_traces_floats(tmp_path, saved, make):
    path, data = saved
    with pytest.raises(LoadError, match="damaged trace file.*(floating point|dtype)"):
        Trace.load(_variant(tmp_path, data, c=make(data["c"])))


def test_load_refuses_an_empty_trace(tmp_path, saved):
    path, data = saved
    cut = {k: data[k][:, :, :0] for k in ("i", "f", "g", "o", "c", "h", "z")}
    meta = json.loads(str(data["meta"]))
    meta["tokens"] = []
    with pytest.raises(LoadError, match="at least one step"):
        Trace.load(_variant(tmp_path, data, x=data["x"][:0], meta=np.array(json.dumps(meta)), **cut))


@pytest.mark.parametrize("tokens, message", [
    ([1, 2, 3, 4, 5], "tokens must be strings, got int 1"),
    ("abcde", "tokens is a str, not a list of strings"),
])  # fmt: skip
def test_load_refuses_tokens_that_are_not_strings(tmp_path, saved, tokens, message):
    path, data = saved
    meta = json.loads(str(data["meta"]))
    meta["tokens"] = tokens
    with pytest.raises(LoadError, match=message):
        Trace.load(_variant(tmp_path, data, meta=np.array(json.dumps(meta))))


@pytest.mark.parametrize("kwargs, message", [
    (dict(output=np.array([[object()]] * 5, dtype=object)), "output must hold real numbers"),
    (dict(output=np.ones((3, 2))), r"output has shape \(3, 2\), expected \(5, n_out\)"),
    (dict(output=np.ones(5)), r"output has shape \(5,\)"),
    (dict(tokens=("a", "b")), "2 tokens for 5 steps"),
    (dict(tokens=("a", "b", "c", "d", 5)), "tokens must be strings"),
    (dict(output=np.ones((5, 2)), labels=("x", "y", "z")), "3 labels for 2 output columns"),
    (dict(meta={"when": object()}), r"meta\['when'\] is a object; trace meta must be JSON data"),
    (dict(meta={1: "one"}), "non-string key 1"),
])  # fmt: skip
def test_record_refuses_what_a_trace_file_could_not_hold(kwargs, message):
    with pytest.raises(InputError, match=message):
        record(SPEC, X, **kwargs)


def test_meta_is_json_data_and_saves_without_pickle(tmp_path):
    tr = record(SPEC, X, meta={"score": np.float32(1.5), "n": np.int64(3), "bad": float("nan"),
                               "nested": {"xs": (1, np.float64(2.0))}})  # fmt: skip
    assert tr.meta["score"] == 1.5 and type(tr.meta["score"]) is float and tr.meta["bad"] is None
    path = tr.save(tmp_path / "m.npz")
    with np.load(path, allow_pickle=False) as npz:
        text = str(npz["meta"])
    assert "NaN" not in text and json.loads(text)["bad"] is None  # strict JSON: null, not NaN
    back = Trace.load(path)
    assert back.meta["nested"] == {"xs": [1, 2.0]} and back.meta["n"] == 3


def test_a_hand_built_trace_is_validated():
    tr = record(SPEC, X)
    with pytest.raises(InputError, match="x has dtype float32 but c has float64"):
        Trace(x=tr.x.astype(np.float32), h0=tr.h0, c0=tr.c0, i=tr.i, f=tr.f, g=tr.g, o=tr.o,
              c=tr.c, h=tr.h)  # fmt: skip
