"""What a what-if edit costs the engine, next to torch.nn.LSTM's own forward pass.

An edit at the middle of a 5,000-step, H=1024 recording re-runs the steps it can
reach (recorder.branch): half the sequence for a forward LSTM. Three edits are
timed: set c of one unit at t, clamp a gate from t on, ablate a unit from t on;
a preview of the first (`branch(..., until=t + 64)`, what a front end can show
while the whole branch runs); and the comparison the debugger shows after one
(Trace.diff of parent and branch, every registry quantity). They are timed
alternately with torch's forward over the whole sequence and over the steps the
edit re-runs (from t, with the state there as torch's initial state: the same
work torch would do to answer the what-if), so the ratios (medians of the
per-repeat ratios) come from one run on one machine. Medians, with min..max as
the spread.
The time for the edit to land on screen is the UI's benchmark (bench/bench_ui.py).

    .venv/bin/python bench/bench_edit.py                 # 1 thread each (default)
    .venv/bin/python bench/bench_edit.py --repeat 9 --steps 5000 --hidden 1024
"""

from __future__ import annotations

import argparse
import os
import sys
import time

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--threads", type=int, default=1, help="threads for torch and numpy (1)")
parser.add_argument("--repeat", type=int, default=5, help="timed runs per side (5)")
parser.add_argument("--steps", type=int, default=5000, help="sequence length T (5000)")
parser.add_argument("--hidden", type=int, default=1024, help="hidden size H (1024)")
parser.add_argument("--input", type=int, default=256, help="input size (256)")
parser.add_argument("--preview", type=int, default=64, help="steps a preview re-runs (64)")
args = parser.parse_args()
os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)  # before numpy is imported

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from lstm_engine import Ablate, ClampGate, SetState, branch, record  # noqa: E402
from lstm_engine.formats.torch_module import spec_from_module  # noqa: E402

torch.set_num_threads(args.threads)


def timed(fn, pause: float = 0.3) -> float:
    time.sleep(pause)  # no spinning thread of the other side still running
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    T, H, n_in = args.steps, args.hidden, args.input
    t = T // 2
    torch.manual_seed(0)
    m = torch.nn.LSTM(n_in, H).eval()
    x = torch.randn(T, 1, n_in)
    spec = spec_from_module(m)
    parent = record(spec, x.numpy())
    # torch from step t on, from the recording's state at t − 1: what it takes torch to re-run
    h_t = torch.from_numpy(np.array(parent.h[0, 0, t - 1]))[None, None]
    c_t = torch.from_numpy(np.array(parent.c[0, 0, t - 1]))[None, None]

    def torch_whole():
        with torch.no_grad():
            m(x)

    def torch_from_t():
        with torch.no_grad():
            m(x[t:], (h_t, c_t))

    edits = {
        f"set c[0] at {t + 1}": [SetState(name="c", t=t, unit=0, value=0.0)],
        f"clamp f[0] = 1 from {t + 1}": [ClampGate(gate="f", t=t, unit=0, value=1.0, to_end=True)],
        f"ablate 0 from {t + 1}": [Ablate(unit=0, from_t=t)],
    }
    child = branch(parent, edits[f"ablate 0 from {t + 1}"])  # warm up, and check it runs
    assert child.parent == parent.identity
    runs = {name: (lambda e=e: branch(parent, e)) for name, e in edits.items()}
    window = args.preview
    runs[f"preview: set c, {window} steps"] = lambda: branch(
        parent, edits[f"set c[0] at {t + 1}"], until=t + window)
    runs["Trace.diff(parent, branch)"] = lambda: parent.diff(child).first_divergence
    print(f"torch {torch.__version__}, numpy {np.__version__}, threads {args.threads}, "
          f"repeat {args.repeat}, load average {os.getloadavg()[0]:.2f}; "
          f"LSTM({n_in}, {H}) float32, T={T}, edits at step {t + 1} (position {t})")  # fmt: skip
    # interleaved: each repeat times torch (whole, from t) and then every engine run once
    whole, from_t, mine = [], [], {name: [] for name in runs}
    for _ in range(args.repeat):
        whole.append(timed(torch_whole))
        from_t.append(timed(torch_from_t))
        for name, run in runs.items():
            mine[name].append(timed(run))
    whole, from_t = np.array(whole), np.array(from_t)
    header = (f"{'engine':30} {'median':>9} {'min..max':>17} {'÷ torch whole':>14} "
              f"{'÷ torch from t':>15}")  # fmt: skip
    print(header)
    print("-" * len(header))
    for name, times in mine.items():
        times = np.array(times)
        print(f"{name:30} {np.median(times) * 1e3:6.0f} ms {times.min() * 1e3:7.0f}.."
              f"{times.max() * 1e3:.0f} ms {np.median(times / whole):14.2f} "
              f"{np.median(times / from_t):15.2f}")  # fmt: skip
    for name, times in (("torch forward, whole", whole), ("torch forward, from t", from_t)):
        print(f"{name:30} {np.median(times) * 1e3:6.0f} ms {times.min() * 1e3:7.0f}.."
              f"{times.max() * 1e3:.0f} ms")  # fmt: skip
    print(f"load average at the end {os.getloadavg()[0]:.2f}")

if __name__ == "__main__":
    main()
