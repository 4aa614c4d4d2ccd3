"""How much a full trace costs next to torch.nn.LSTM's own forward pass.

torch's forward keeps only h; the engine keeps i, f, g, o, z, c and h for every
layer, direction and step. The goal is a full trace within 1.3x torch's bare
forward on the large configurations. Each configuration runs record() as it
is called by default, which keeps the pre-activations z only while they take
at most 16 MiB (recorder.Z_KEEP_LIMIT); the extra row forces the other
choice, to show what z's memory (4 of the 10·H numbers per step) costs.

    /work/venv/bin/python bench/bench_engine.py            # 1 thread each (default)
    /work/venv/bin/python bench/bench_engine.py --threads 2 --repeat 9

Both sides run with the same number of threads (torch.set_num_threads, and
OPENBLAS_NUM_THREADS for numpy, set before numpy loads). One thread is the
default because this machine's two cores are shared: with two threads, each
library's idle workers spin and steal the core the other one needs, and the
numbers say more about the neighbours than about the code. torch and the
engine are timed alternately, with a pause between runs so that no spinning
thread of one is still running during the other's turn, and the table shows
medians; "ratio" is the median of the per-pair wall-clock ratios and "cpu"
the same for CPU time (process_time), which is much less disturbed by other
processes on the machine (with --threads 1; idle spinning threads inflate it
otherwise).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--threads", type=int, default=1, help="threads for torch and numpy (1)")
parser.add_argument("--repeat", type=int, default=7, help="timed runs per side (7)")
parser.add_argument("--only", choices=("large", "tiny"), help="run a subset")
args = parser.parse_args()
os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)  # before numpy is imported

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from lstm_engine import record  # noqa: E402
from lstm_engine.formats.torch_module import spec_from_module  # noqa: E402

torch.set_num_threads(args.threads)

CONFIGS = [
    # name, input_size, hidden_size, num_layers, bidirectional, T, keep_z
    ("L=2 bi H=256 T=4000", 256, 256, 2, True, 4000, None),
    ("  same, keep_z=True", 256, 256, 2, True, 4000, True),
    ("L=1 H=512 T=2000", 512, 512, 1, False, 2000, None),
    ("  same, keep_z=False", 512, 512, 1, False, 2000, False),
    ("seed tagger LSTM(6,6) T=5", 6, 6, 1, False, 5, None),
]


def trace_bytes(trace) -> int:
    """Bytes the trace's own arrays hold (i, f, g, o share one buffer; derived ones are lazy)."""
    seen, total = set(), 0
    for name in ("x", "h0", "c0", "i", "f", "g", "o", "c", "h", "z", "output"):
        a = getattr(trace, name)
        if a is None:
            continue
        base = a if a.base is None else a.base
        if id(base) not in seen:
            seen.add(id(base))
            total += base.nbytes
    return total


def main() -> None:
    configs = CONFIGS
    if args.only == "large":
        configs = CONFIGS[:4]
    elif args.only == "tiny":
        configs = CONFIGS[4:]
    print(f"torch {torch.__version__}, numpy {np.__version__}, threads {args.threads}, "
          f"repeat {args.repeat}, load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    header = (f"{'config (z kept?)':28} {'torch fwd':>11} {'full trace':>11} {'ratio':>6} {'cpu':>6}  "
              f"{'bytes/step':>11} {'trace MB':>9}  max|Δh|")  # fmt: skip
    print(header)
    print("-" * len(header))
    for name, n_in, hidden, layers, bi, T, keep_z in configs:
        torch.manual_seed(0)
        m = torch.nn.LSTM(n_in, hidden, layers, bidirectional=bi).eval()
        x = torch.randn(T, 1, n_in)
        spec = spec_from_module(m)
        x_np = x.numpy()
        tiny = T * hidden < 10_000
        inner = 200 if tiny else 1  # time many calls per sample when one is microseconds
        pause = 0.0 if tiny else 0.3

        def run_torch():
            with torch.no_grad():
                for _ in range(inner):
                    out, _ = m(x)
            return out

        def run_engine():
            for _ in range(inner):
                tr = record(spec, x_np, keep_z=keep_z)
            return tr

        out, tr = run_torch(), run_engine()  # warm up, and check it is the same computation
        err = float(np.abs(np.concatenate(list(tr.h[-1]), -1) - out[:, 0].numpy()).max())
        t_torch, t_engine, ratios, cpu_ratios = [], [], [], []
        for _ in range(args.repeat):
            (a, a_cpu), (b, b_cpu) = timed(run_torch, inner, pause), timed(run_engine, inner, pause)
            t_torch.append(a)
            t_engine.append(b)
            ratios.append(b / a)
            cpu_ratios.append(b_cpu / a_cpu)
        nbytes = trace_bytes(tr)
        tt, te = float(np.median(t_torch)), float(np.median(t_engine))
        unit, k = ("µs", 1e6) if tiny else ("ms", 1e3)
        name = f"{name} ({'z' if tr.z is not None else 'no z'})"
        print(f"{name:28} {tt * k:8.1f} {unit} {te * k:8.1f} {unit} {np.median(ratios):6.2f} "
              f"{np.median(cpu_ratios):6.2f}  {nbytes / T:11,.0f} {nbytes / 2**20:9.1f}  "
              f"{err:.1e}")  # fmt: skip


def timed(fn, inner: int, pause: float) -> tuple[float, float]:
    """Wall-clock and CPU seconds per call. CPU time is what the code itself costs when
    other processes share the cores; wall time is what a user waits."""
    time.sleep(pause)
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return (time.perf_counter() - w0) / inner, (time.process_time() - c0) / inner


if __name__ == "__main__":
    main()
