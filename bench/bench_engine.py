"""How much a full trace costs next to torch.nn.LSTM's own forward pass, and how much memory.

torch's forward keeps only h; the engine keeps i, f, g, o, c, h (and z while it takes at most
16 MiB, recorder.Z_KEEP_LIMIT) for every layer, direction and step. The goals (issue 16):
full trace ÷ torch forward ≤ 2.0 at L1 H64 T10000, ≤ 1.2 at H256 (one layer, and two
bidirectional layers), ≤ 1.0 at H1024, and the seed tagger through `trace_lstm` ≤ 1.5.

    .venv/bin/python bench/bench_engine.py                 # the goals, the paths, the curves
    .venv/bin/python bench/bench_engine.py --quick         # the goals only, fewer pairs
    .venv/bin/python bench/bench_engine.py --memory        # peak anonymous memory (minutes)

One thread on each side (torch.set_num_threads, and OMP/OPENBLAS/MKL_NUM_THREADS set before
numpy loads): this machine's two cores are shared, and with two threads each library's idle
workers spin on the core the other one needs. torch and the engine run in interleaved pairs,
so a change in the machine's load hits both sides of a pair alike; "ratio" is the median of
the per-pair ratios of CPU time (process_time, much less disturbed by other processes than
wall time, which is shown beside it), with the 25th–75th percentile spread. The load average
is printed before and after.

Columns per path: "auto" is record() as a user gets it (torch's fused kernel for the
recurrence where torch computes the cell and is imported: recorder.fused), "numpy" the numpy
cell every step (what ONNX, Keras and trace files get, and what branch() re-runs with).

--memory runs each recording in a fresh process and samples its RssAnon + RssShmem (memory
of its own: not the trace file's pages; a large in-memory recording is a sealed memfd, which
Linux counts as shared) every 5 ms; it reports the peak above the process just before
record(), for the trace in memory and streamed to a file (core/store.TraceFile).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--repeat", type=int, default=7, help="interleaved pairs per config (7)")
parser.add_argument("--quick", action="store_true", help="the goal configs only, 3 pairs")
parser.add_argument("--memory", action="store_true", help="peak RssAnon of long recordings")
parser.add_argument("--memory-child", nargs=4, metavar=("L", "BI", "T", "WHERE"),
                    help=argparse.SUPPRESS)  # fmt: skip
args = parser.parse_args()
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"  # before numpy is imported

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import lstm_engine  # noqa: E402
from lstm_engine import record  # noqa: E402
from lstm_engine.core import recorder  # noqa: E402
from lstm_engine.formats.torch_module import spec_from_module  # noqa: E402

torch.set_num_threads(1)

GOALS = [
    # name, input_size, hidden_size, num_layers, bidirectional, T, goal
    ("L1 H64 T10000", 64, 64, 1, False, 10000, 2.0),
    ("L1 H256 T4000", 256, 256, 1, False, 4000, 1.2),
    ("L2 bi H256 T4000", 256, 256, 2, True, 4000, 1.2),
    ("L1 H1024 T5000", 1024, 1024, 1, False, 5000, 1.0),
]
TAGGER_GOAL = 1.5


def trace_bytes(trace) -> int:
    """Bytes the trace's own arrays hold (i, f, g, o share one buffer; derived ones are lazy)."""
    seen, total = set(), 0
    for name in ("x", "h0", "c0", "i", "f", "g", "o", "c", "h", "z", "output"):
        a = getattr(trace, name)
        if a is None:
            continue
        base = a
        while isinstance(base.base, np.ndarray):
            base = base.base
        if id(base) not in seen:
            seen.add(id(base))
            total += base.nbytes
    return total


def cpu_wall(fn, inner: int = 1) -> tuple[float, float]:
    c0, w0 = time.process_time(), time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.process_time() - c0) / inner, (time.perf_counter() - w0) / inner


def numpy_cell():
    """A context in which record() takes the numpy cell for every spec."""

    class _Plain:
        def __enter__(self):
            self.old, recorder.FUSED_MIN_T = recorder.FUSED_MIN_T, 10**12

        def __exit__(self, *exc):
            recorder.FUSED_MIN_T = self.old

    return _Plain()


def pairs(run_torch, run_engine, repeat: int, inner: int = 1) -> dict:
    """Interleaved (torch, engine) pairs: medians, per-pair ratios and their spread."""
    run_torch(), run_engine()  # warm up both
    tt, te, ratios, wall_ratios = [], [], [], []
    for _ in range(repeat):
        (a, aw), (b, bw) = cpu_wall(run_torch, inner), cpu_wall(run_engine, inner)
        tt.append(a), te.append(b), ratios.append(b / a), wall_ratios.append(bw / aw)
    q1, q3 = np.percentile(ratios, [25, 75])
    return dict(torch=float(np.median(tt)), engine=float(np.median(te)),
                ratio=float(np.median(ratios)), spread=(float(q1), float(q3)),
                wall=float(np.median(wall_ratios)))  # fmt: skip


def lstm_case(n_in, hidden, layers, bi, T):
    torch.manual_seed(0)
    m = torch.nn.LSTM(n_in, hidden, layers, bidirectional=bi).eval()
    x = torch.randn(T, 1, n_in)
    spec, x_np = spec_from_module(m), x.numpy()

    def run_torch():
        with torch.no_grad():
            return m(x)[0]

    return m, x, spec, x_np, run_torch


def fmt_time(s: float) -> str:
    return f"{s * 1e3:8.1f} ms" if s >= 1e-3 else f"{s * 1e6:8.1f} µs"


def goals(repeat: int, plain: bool) -> None:
    head = (f"{'config':22} {'path':6} {'torch fwd':>11} {'full trace':>11} {'ratio':>6} "
            f"{'(25–75%)':>12} {'wall':>5} {'goal':>5}  {'bytes/step':>10}  max|Δh|")  # fmt: skip
    print(head)
    print("-" * len(head))
    for name, n_in, hidden, layers, bi, T, goal in GOALS:
        m, x, spec, x_np, run_torch = lstm_case(n_in, hidden, layers, bi, T)
        paths = [("auto", None)] + ([("numpy", numpy_cell)] if plain else [])
        for path, ctx in paths:
            def run_engine(ctx=ctx):
                if ctx is None:
                    return record(spec, x_np)
                with ctx():
                    return record(spec, x_np)

            r = pairs(run_torch, run_engine, repeat if hidden < 1024 else max(3, repeat // 2))
            tr = run_engine()
            err = float(np.abs(np.concatenate(list(tr.h[-1]), -1) - run_torch()[:, 0].numpy()).max())
            ok = "ok" if r["ratio"] <= goal else "MISS"
            print(f"{name:22} {path:6} {fmt_time(r['torch'])} {fmt_time(r['engine'])} "
                  f"{r['ratio']:6.2f} {r['spread'][0]:5.2f}–{r['spread'][1]:<5.2f} {r['wall']:5.2f} "
                  f"{goal:5.1f} {ok:4} {trace_bytes(tr) / T:10,.0f}  {err:.1e}", flush=True)  # fmt: skip
            del tr
    # the seed tagger, LSTM(6, 6) over five words, through trace_lstm as a user calls it
    torch.manual_seed(0)
    m, x = torch.nn.LSTM(6, 6).eval(), torch.randn(5, 1, 6)

    def run_torch_tagger():
        with torch.no_grad():
            return m(x)

    r = pairs(run_torch_tagger, lambda: lstm_engine.trace_lstm(m, x), repeat, inner=200)
    ok = "ok" if r["ratio"] <= TAGGER_GOAL else "MISS"
    print(f"{'tagger H6 T5 trace_lstm':22} {'auto':6} {fmt_time(r['torch'])} {fmt_time(r['engine'])} "
          f"{r['ratio']:6.2f} {r['spread'][0]:5.2f}–{r['spread'][1]:<5.2f} {r['wall']:5.2f} "
          f"{TAGGER_GOAL:5.1f} {ok:4}", flush=True)  # fmt: skip


def curves(repeat: int) -> None:
    print("\nscaling (record() as called, one layer, input = hidden): CPU ms and ratio to torch")
    for label, cases in (
        ("time against T at H=256", [(256, T) for T in (500, 1000, 2000, 4000, 8000)]),
        ("time against H at T=2000", [(H, 2000) for H in (32, 64, 128, 256, 512, 1024)]),
    ):
        print(f"  {label}")
        for hidden, T in cases:
            m, x, spec, x_np, run_torch = lstm_case(hidden, hidden, 1, False, T)
            r = pairs(run_torch, lambda: record(spec, x_np), max(3, repeat // 2))
            print(f"    H={hidden:<5} T={T:<6} torch {fmt_time(r['torch'])}  engine "
                  f"{fmt_time(r['engine'])}  ratio {r['ratio']:5.2f}  "
                  f"{r['engine'] / T * 1e6:7.2f} µs/step", flush=True)  # fmt: skip


# --- memory ---------------------------------------------------------------------------------
def rss_anon() -> int:
    """Anonymous memory, and shared memory that is not a file's (a recording's sealed memfd
    buffers, recorder._SharedBuffer, are RssShmem): what the process holds of RAM, not the
    trace file's pages, which the kernel can drop and read again."""
    total = 0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("RssAnon:", "RssShmem:")):
                total += int(line.split()[1]) * 1024
    return total


def memory_child(layers: int, bi: bool, T: int, where: str) -> None:
    """One recording of H=1024 float32 in this fresh process; prints its RssAnon figures."""
    from lstm_engine import LSTMSpec

    spec = LSTMSpec.random(1024, 1024, layers, bidirectional=bi, seed=0, dtype=np.float32)
    x = np.random.default_rng(0).standard_normal((T, 1024), dtype=np.float32)
    before, peak, done = rss_anon(), [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_anon())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        if where == "file":
            from lstm_engine.core.store import TraceFile

            with TraceFile(os.path.join(tmp, "t.npz")) as out:
                tr = record(spec, x, buffers=out)
                seconds = time.perf_counter() - t0
                after = rss_anon()
                nbytes = trace_bytes(tr)
                del tr
        else:
            tr = record(spec, x)
            seconds = time.perf_counter() - t0
            after, nbytes = rss_anon(), trace_bytes(tr)
        done.set()
        sampler.join()
    fused = recorder.fused(spec, T) if hasattr(recorder, "fused") else False
    print(f"{before} {max(peak[0], after)} {after} {nbytes} {seconds:.1f} {fused}")


def memory() -> None:
    print("\npeak memory of its own (RssAnon + RssShmem) of a recording, above the process "
          "before it; H=1024 float32, a fresh process each")
    print(f"  {'config':22} {'where':7} {'trace':>9} {'peak above':>11} {'bytes/step':>11} "
          f"{'time':>7}  torch path")  # fmt: skip
    for layers, bi, T in ((1, False, 100_000), (2, True, 20_000)):
        for where in ("memory", "file"):
            out = subprocess.run(
                [sys.executable, __file__, "--memory-child", str(layers), str(int(bi)), str(T),
                 where], capture_output=True, text=True,
            )  # fmt: skip
            if out.returncode != 0:
                print(f"  L{layers}{' bi' if bi else ''} T{T} {where}: failed: "
                      f"{out.stderr.strip().splitlines()[-1:]}")  # fmt: skip
                continue
            before, peak, after, nbytes, seconds, fused = out.stdout.split()
            above = int(peak) - int(before)
            name = f"L{layers}{' bi' if bi else ''} H1024 T{T}"
            print(f"  {name:22} {where:7} {int(nbytes) / 2**30:7.2f} GiB {above / 2**30:7.2f} GiB "
                  f"{above / int(T):11,.0f} {float(seconds):6.1f}s  {fused}", flush=True)  # fmt: skip


def main() -> None:
    if args.memory_child:
        layers, bi, T, where = args.memory_child
        memory_child(int(layers), bool(int(bi)), int(T), where)
        return
    load = os.getloadavg()
    print(f"torch {torch.__version__}, numpy {np.__version__}, one thread each, "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (2 cores, shared)")  # fmt: skip
    if args.memory:
        memory()
    else:
        goals(3 if args.quick else args.repeat, plain=not args.quick)
        if not args.quick:
            curves(args.repeat)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
