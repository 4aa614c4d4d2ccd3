"""The step's cheaper drawing shows what the slower one showed: the unit table's one-call
number format and remembered cell styles, the per-unit caches (invalidated on a layer,
direction or trace change), and the history reading only the window it draws."""

from __future__ import annotations

import numpy as np
import pytest

from lstm_tui.widgets.unit_table import fast_fmt, fmt, fmt_specs

VALUES = [0.0, -0.0, 1.0, 0.5, 0.004999, 0.005, 0.995, 0.9999999, 1.0000001, -1e-9, 1e-9,
          12.3456, -12.345, 99.995, -99.999, 123.456, 1e6, -1e6, 1e12, -3.5e-7, 7.25,
          float("nan"), float("inf"), float("-inf")]  # fmt: skip


@pytest.mark.parametrize("gate", [True, False])
@pytest.mark.parametrize("digits", [0, 1, 2])
@pytest.mark.parametrize("width", [3, 4, 5, 6, 7, 9])
def test_fast_fmt_prints_what_fmt_prints(gate, digits, width):
    rng = np.random.default_rng(width * 10 + digits)
    values = VALUES + (rng.standard_normal(200) * 10.0 ** rng.integers(-3, 4, 200)).tolist()
    values += np.float32(rng.random(50)).astype(np.float64).tolist()  # float32 gates, widened
    specs = fmt_specs(width, gate, digits)
    for v in values:
        assert fast_fmt(v, width, gate, digits, specs) == fmt(v, width, gate, digits), v
