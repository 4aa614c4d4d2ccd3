"""Trace.extent: the finite range of a quantity, from a scan in blocks or from the file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lstm_engine import LoadError, LSTMSpec, Trace, record
from lstm_engine.core import trace as trace_module
from lstm_engine.core.quantities import VALUE_NAMES


def _trace(T=37, **opts):
    opts = dict(dict(num_layers=2, bidirectional=True, seed=5, dtype=np.float64), **opts)
    spec = LSTMSpec.random(3, 6, **opts)
    return record(spec, np.random.default_rng(1).standard_normal((T, 3)) * 3)


@pytest.mark.parametrize("name", VALUE_NAMES)
def test_extent_is_the_finite_min_and_max_of_the_whole_series(name):
    tr = _trace()
    for layer in range(2):
        for d in range(2):
            full = tr.series(name, layer, d)
            assert tr.extent(name, layer, d) == (full.min(), full.max())


def test_extent_scans_in_blocks_and_skips_nan_and_inf(monkeypatch):
    monkeypatch.setattr(trace_module, "_EXTENT_BLOCK", 12)  # 2 steps of 6 units a block
    spec = LSTMSpec.random(2, 6, seed=2, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((9, 2))
    x[6, 0] = np.nan  # from step 6 on the cell is NaN; before it, finite
    tr = record(spec, x)
    c = tr.series("c", 0, 0)
    finite = c[np.isfinite(c)]
    assert not np.isfinite(c).all() and finite.size
    assert tr.extent("c", 0, 0) == (finite.min(), finite.max())
    assert tr.extent("delta", 0, 0) == tr.extent("delta_c", 0, 0)  # aliases resolve


def test_extent_with_no_finite_value_is_nan():
    spec = LSTMSpec.random(2, 3, seed=2, dtype=np.float64)
    tr = record(spec, np.full((3, 2), np.nan))
    lo, hi = tr.extent("c", 0, 0)
    assert np.isnan(lo) and np.isnan(hi)


def test_extent_refuses_unknown_names_and_places():
    tr = _trace()
    with pytest.raises(KeyError):
        tr.extent("nope", 0, 0)
    with pytest.raises(IndexError):
        tr.extent("c", 2, 0)


def test_a_saved_trace_answers_from_the_extents_in_its_file(tmp_path, monkeypatch):
    tr = _trace()
    back = Trace.load(tr.save(tmp_path / "t.npz"))

    def no_scan(*args, **kwargs):
        raise AssertionError("scanned the steps")

    monkeypatch.setattr(trace_module, "_extents", no_scan)
    for name in VALUE_NAMES:
        assert back.extent(name, 1, 1) == tr.extent(name, 1, 1)


def _with_extents(tmp_path, tr, extents=None, names=None):
    """The file of `tr` with its extents member or their names replaced."""
    import lstm_engine.core.store as store

    members = []
    for name, value in trace_module.trace_members(tr):
        if name == "extents" and extents is not None:
            value = extents
        if name == "meta" and names is not None:
            meta = json.loads(str(value))
            meta["extents"] = names
            value = np.array(json.dumps(meta))
        members.append((name, value))
    path = tmp_path / "bad.npz"
    with open(path, "w+b") as fh:
        store.write_archive(fh, members)
    return path


@pytest.mark.parametrize("damage", ["lo above hi", "inf", "shape", "dtype", "unknown name",
                                    "twice", "names not a list"])
def test_extents_in_a_file_are_checked(tmp_path, damage):
    tr = _trace()
    names, good = tr._all_extents()
    bad, bad_names = good.copy(), None
    if damage == "lo above hi":
        bad[0, 0, 0] = (1.0, -1.0)
    elif damage == "inf":
        bad[3, 1, 0, 1] = np.inf
    elif damage == "shape":
        bad = bad[:, :1]
    elif damage == "dtype":
        bad = bad.astype(np.float32)
    elif damage == "unknown name":
        bad_names = ["zzz", *names[1:]]
    elif damage == "twice":
        bad_names = [names[0], *names[:-1]]
    else:
        bad_names = "c"
    with pytest.raises(LoadError, match="extents"):
        Trace.load(_with_extents(tmp_path, tr, bad, bad_names))


def test_extent_holds_no_more_than_a_block_however_long_the_trace(monkeypatch):
    """Every block's quantities are freed as the scan moves on (they once lived in a reference
    cycle of evaluate_many's until a garbage collection: the whole series, over a long trace)."""
    import gc
    import tracemalloc

    spec = LSTMSpec.random(2, 64, seed=3, dtype=np.float64)
    tr = record(spec, np.random.default_rng(0).standard_normal((4000, 2)))  # 2 MB per quantity
    monkeypatch.setattr(trace_module, "_EXTENT_BLOCK", 1 << 12)  # 64 steps a block: 32 KB
    gc.disable()
    tracemalloc.start()
    try:
        for name in ("kept", "tanh_c", "h_prev", "delta_c"):
            tr.extent(name, 0, 0)
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
        gc.enable()
    assert held < 1_000_000, f"{held} bytes still held after the scans"  # 12 MB before the fix
