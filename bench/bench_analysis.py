"""What the analyses cost on the char model over a 10,000-step input, against recording it.

Goal (issue 13): `stats` (every unit's saturation, variance, |Δc| and half-life) in at most
2× the time to record the trace. Each row, in the same run and interleaved round by round
so that the shared machine's load falls on all of them alike:
  - record: Model.trace on the 10,000 characters (what `stats` has to do first anyway);
  - torch.nn.LSTM: the same LSTM's forward over the same input (torch, float32, one thread);
  - stats: unit_stats on the recorded trace (a fresh trace each time: no cached arrays);
  - provenance 1: one unit at the last step; provenance all: every unit at the last step;
  - saliency torch / engine: d logit / d x_s and d c_s at the last step, by torch autograd
    over torch.nn.LSTM stepped one position at a time, and by the engine's numpy BPTT.
Medians over the rounds with the spread as [min .. max], CPU time beside wall-clock,
and each row's ratio to record and to torch.nn.LSTM's forward.

    /work/main/.venv/bin/python bench/bench_analysis.py [--repeat 5] [--steps 10000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--repeat", type=int, default=5, help="timed rounds (5)")
parser.add_argument("--steps", type=int, default=10_000, help="characters of input (10,000)")
parser.add_argument("--threads", type=int, default=1, help="numpy and torch threads (1)")
args = parser.parse_args()
os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from lstm_engine import (  # noqa: E402
    Trace, load, provenance, saliency, unit_stats,
)

ROOT = os.path.join(os.path.dirname(__file__), "..")


def main() -> None:
    import torch

    torch.set_num_threads(args.threads)
    model = load(os.path.join(ROOT, "sample_models", "charlm.pt"))
    text = "".join(e for e in model.examples if isinstance(e, str))
    text = (text * (args.steps // len(text) + 1))[: args.steps]
    trace = model.trace(text)
    spec = model.spec
    lstm = torch.nn.LSTM(spec.input_size, spec.hidden_size, spec.num_layers,
                         bidirectional=spec.bidirectional)  # fmt: skip
    with torch.no_grad():
        for layer, dirs in enumerate(spec.weights):
            w = dirs[0]
            for name, a in (("weight_ih", w.W_ih), ("weight_hh", w.W_hh), ("bias_ih", w.b_ih),
                            ("bias_hh", w.b_hh)):  # fmt: skip
                getattr(lstm, f"{name}_l{layer}").copy_(torch.tensor(a))
    x = torch.tensor(trace.x[:, None])
    print(f"charlm: {spec.summary()}, T = {trace.T}, {trace.c.dtype}; {args.repeat} rounds, "
          f"{args.threads} thread(s)")

    def fresh():  # the same arrays in a Trace nothing has read (no cached derived arrays)
        return Trace(**{k: getattr(trace, k) for k in trace.__dataclass_fields__})

    T = trace.T - 1
    unit = spec.hidden_size // 2
    rows = {
        "record": lambda: model.trace(text),
        "torch.nn.LSTM forward": lambda: lstm(x),
        "stats (unit_stats)": lambda: unit_stats(fresh()),
        "provenance, 1 unit": lambda: provenance(trace, 0, 0, T, unit),
        "provenance, all units": lambda: provenance(trace, 0, 0, T),
        "saliency, torch autograd": lambda: saliency(model, trace, T, method="torch"),
        "saliency, engine BPTT": lambda: saliency(model, trace, T, method="engine"),
    }
    times = {k: ([], []) for k in rows}
    for _ in range(args.repeat):
        for name, fn in rows.items():
            t0, c0 = time.perf_counter(), time.process_time()
            with torch.no_grad() if name == "torch.nn.LSTM forward" else _nothing():
                fn()
            times[name][0].append(time.perf_counter() - t0)
            times[name][1].append(time.process_time() - c0)
    med = {k: float(np.median(w)) for k, (w, _) in times.items()}
    cpu = {k: float(np.median(c)) for k, (_, c) in times.items()}
    print(f"{'':26} {'median':>10} {'[min .. max]':>22} {'cpu':>9} {'×record':>8} {'×torch':>8}"
          f" {'cpu×rec':>8}")  # fmt: skip
    for name, (walls, _) in times.items():
        print(f"{name:26} {med[name] * 1e3:8.1f}ms [{min(walls) * 1e3:8.1f} .. "
              f"{max(walls) * 1e3:8.1f}] {cpu[name] * 1e3:7.1f}ms "
              f"{med[name] / med['record']:8.3f} {med[name] / med['torch.nn.LSTM forward']:8.2f} "
              f"{cpu[name] / cpu['record']:8.3f}")  # fmt: skip
    ratio = med["stats (unit_stats)"] / med["record"]
    print(f"stats / record = {ratio:.3f} (goal ≤ 2): {'met' if ratio <= 2 else 'NOT met'}")


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


if __name__ == "__main__":
    main()
