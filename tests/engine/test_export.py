"""CSV and JSON export (lstm_engine/export.py): read back, every number is the trace's, bit for bit.

The CSV is read with Python's csv module and float(), the JSON with json; the expected values
come from the trace's own arrays (and Trace.value for the derived columns), so a wrong
column, step, unit, rounding or quoting fails.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest

from lstm_engine import (
    InputError, LSTMSpec, QUANTITIES, TargetExistsError, WriteError, load, record, record_corpus,
)  # fmt: skip
from lstm_engine import export
from lstm_engine.export import export_csv, export_json, read_json_arrays, unit_table

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def charlm_trace():
    """float32, a character model: tokens with newlines, quotes, commas and spaces."""
    model = load(ROOT / "sample_models" / "charlm.pt")
    return model.trace('x = "a, b"\n  y = \'q\'  # done')


@pytest.fixture(scope="module")
def bi64():
    spec = LSTMSpec.random(3, 5, 2, bidirectional=True, proj_size=3, seed=2, dtype=np.float64)
    return record(spec, np.random.default_rng(1).standard_normal((7, 3)))


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def test_a_quantity_over_the_trace_round_trips(charlm_trace, tmp_path):
    tr = charlm_trace
    for name in ("c", "delta_c", "h"):
        path = export_csv(tr, tmp_path / f"{name}.csv", quantity=name)
        header, rows = read_csv(path)
        assert header[:2] == ["step", "token"] and header[2:] == [f"u{u}" for u in range(256)]
        assert [int(r[0]) for r in rows] == list(range(1, tr.T + 1))
        assert tuple(r[1] for r in rows) == tr.tokens
        got = np.array([[float(v) for v in r[2:]] for r in rows], dtype=np.float32)
        assert np.array_equal(got, tr.series(name, 0, 0)), name
    assert "\n" in tr.tokens and '"' in tr.tokens and "," in tr.tokens


def test_float64_round_trips_and_the_layer_and_direction_are_the_ones_asked(bi64, tmp_path):
    path = export_csv(bi64, tmp_path / "h.csv", quantity="h", layer=1, direction=1)
    header, rows = read_csv(path)
    assert header == ["step", "token", "u0", "u1", "u2"]  # h has proj_size columns
    assert [r[1] for r in rows] == [""] * 7  # a numeric input has no tokens
    got = np.array([[float(v) for v in r[2:]] for r in rows])
    assert np.array_equal(got, bi64.h[1, 1])
    kept = export_csv(bi64, tmp_path / "kept.csv", quantity="kept", layer=0, direction=1)
    got = np.array([[float(v) for v in r[2:]] for r in read_csv(kept)[1]])
    assert np.array_equal(got, bi64.kept[0, 1])


def test_the_unit_table_at_a_step(bi64, tmp_path):
    t = 4
    path = export_csv(bi64, tmp_path / "table.csv", t=t, layer=1, direction=0)
    header, rows = read_csv(path)
    assert header == ["step", "unit", *QUANTITIES]
    assert len(rows) == 5 and all(r[0] == "5" for r in rows)  # step 5 on screen is position 4
    assert [int(r[1]) for r in rows] == list(range(5))
    for r in rows:
        u = int(r[1])
        for col, name in enumerate(QUANTITIES, 2):
            want = bi64.value(name, 1, 0, t)
            if u < len(want):
                assert float(r[col]) == want[u], (name, u)
            else:
                assert r[col] == "" and name == "h"  # h is 3 wide: no value past unit 2


def test_unit_names_get_a_column(tmp_path):
    france = load(ROOT / "sample_models" / "france.pt").trace("I grew up in France")
    header, rows = read_csv(export_csv(france, tmp_path / "t.csv", t=0))
    assert header[:3] == ["step", "unit", "name"]
    assert rows[1][2] == "France"


def test_a_corpus_says_which_input_and_step(tmp_path):
    model = load(ROOT / "sample_models" / "charlm.pt")
    texts = ["ab = 1", "cd"]
    corpus = record_corpus(model, texts)
    header, rows = read_csv(export_csv(corpus, tmp_path / "dc.csv", quantity="delta_c"))
    assert header[:3] == ["input", "step", "token"]
    assert [(r[0], r[1]) for r in rows] == [("1", str(s)) for s in range(1, 7)] + [("2", "1"), ("2", "2")]
    got = np.array([[float(v) for v in r[3:]] for r in rows], dtype=np.float32)
    # delta_c at input 2's first step reads the initial state, as that input alone does
    assert np.array_equal(got[6:], model.trace("cd").delta_c[0, 0])
    header, rows = unit_table(corpus, 7)
    assert header[:3] == ["input", "step", "unit"] and rows[0][:2] == [2, 2]


def test_json_round_trips(bi64, tmp_path):
    path = export_json(bi64, tmp_path / "t.json")
    doc = json.loads(Path(path).read_text())
    assert doc["format"] == "lstm-tui-trace-json" and doc["steps"] == 7 and doc["out_size"] == 3
    arrays = read_json_arrays(path)
    for name in ("x", "h0", "c0", "i", "f", "g", "o", "c", "h"):
        assert arrays[name].dtype == np.float64
        assert np.array_equal(arrays[name], getattr(bi64, name)), name
    assert "output" not in arrays


def test_json_float32_tokens_output_and_non_finite(charlm_trace, tmp_path):
    tr = charlm_trace
    path = export_json(tr, tmp_path / "c.json")
    arrays = read_json_arrays(path)
    for name in ("c", "h", "i", "output"):
        assert arrays[name].dtype == getattr(tr, name).dtype
        assert np.array_equal(arrays[name], getattr(tr, name)), name
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    assert tuple(doc["tokens"]) == tr.tokens and doc["labels"] == list(tr.labels)
    spec = LSTMSpec.random(2, 3, 1, seed=0, dtype=np.float64)
    x = np.zeros((4, 2))
    x[2, 0] = np.nan
    bad = record(spec, x)
    arrays = read_json_arrays(export_json(bad, tmp_path / "nan.json"))
    assert np.isnan(arrays["x"][2, 0]) and np.isnan(arrays["c"][0, 0, 3]).all()
    assert np.array_equal(arrays["c"][0, 0, :2], bad.c[0, 0, :2])


def test_json_refuses_a_large_trace(charlm_trace, tmp_path, monkeypatch):
    monkeypatch.setattr(export, "JSON_MAX_NUMBERS", 1000)
    with pytest.raises(InputError, match="at most 1,000.*npz, csv or lstmvis"):
        export_json(charlm_trace, tmp_path / "big.json")
    assert not (tmp_path / "big.json").exists()


def test_exports_never_overwrite_or_follow_a_symlink(bi64, tmp_path):
    path = export_csv(bi64, tmp_path / "a.csv", quantity="c")
    before = Path(path).read_bytes()
    with pytest.raises(TargetExistsError, match="already exists"):
        export_csv(bi64, path, quantity="h")
    assert Path(path).read_bytes() == before
    export_csv(bi64, path, quantity="h", overwrite=True)
    assert Path(path).read_bytes() != before
    target = tmp_path / "elsewhere.txt"
    target.write_text("mine")
    os.symlink(target, tmp_path / "link.json")
    with pytest.raises(WriteError):
        export_json(bi64, tmp_path / "link.json", overwrite=True)
    assert target.read_text() == "mine"


def test_bad_requests_are_one_line(bi64, tmp_path):
    with pytest.raises(InputError, match="either the unit table"):
        export_csv(bi64, tmp_path / "x.csv")
    with pytest.raises(InputError, match="either the unit table"):
        export_csv(bi64, tmp_path / "x.csv", t=1, quantity="c")
    with pytest.raises(InputError, match="unknown quantity"):
        export_csv(bi64, tmp_path / "x.csv", quantity="zz")
    with pytest.raises(InputError, match="step 8 is outside"):
        export_csv(bi64, tmp_path / "x.csv", t=7)
    with pytest.raises(InputError, match="layer 3 does not exist"):
        export_csv(bi64, tmp_path / "x.csv", quantity="c", layer=2)
