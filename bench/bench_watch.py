"""What a watch expression costs: `find` on the char model, and the mask behind `c` at UI sizes.

Goal (issue 11): the expression's evaluation under 5 ms, against about 0.2 s for a
per-step Python predicate on a 3,000-step, 2-layer bidirectional H=256 trace. Each
row times, in the same run:
  - compile: compile_watch alone (the UI does it on every keystroke);
  - cold: compile + mask on a trace no watch has read (derived arrays such as Δc built);
  - warm: compile + mask of an expression new to the trace once its arrays (Δc) exist;
  - again: the same once another watch computed it (per-step reductions such as
    max(abs(delta)) are kept with the trace's arrays: a watch re-typed, or `c` again);
  - predicate: Session.run_until with the same condition as a Python lambda over
    StepView, which scans every step (the condition never holds, so both sides
    do the whole sequence).
Medians over the runs, with the spread as [min .. max].

    /work/main/.venv/bin/python bench/bench_watch.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--repeat", type=int, default=15, help="timed runs per measurement (15)")
parser.add_argument("--threads", type=int, default=1, help="numpy threads (1)")
args = parser.parse_args()
os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from lstm_engine import Session, Trace, compile_watch, load  # noqa: E402
from lstm_engine.core import watch as watch_module  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..")


def timed(fn, repeat: int, setup=None) -> tuple[float, float, float, float]:
    """(median, min, max) wall-clock seconds of fn() over `repeat` runs, and the median CPU
    time (process_time: much less disturbed by other processes on a shared machine).
    `setup()`, untimed, runs before each."""
    walls, cpus = [], []
    for _ in range(repeat):
        arg = setup() if setup is not None else None
        t0, c0 = time.perf_counter(), time.process_time()
        fn() if setup is None else fn(arg)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return float(np.median(walls)), min(walls), max(walls), float(np.median(cpus))


def ms(stat) -> str:
    med, lo, hi, cpu = stat
    return f"{med * 1e3:8.2f} ms [{lo * 1e3:.2f} .. {hi * 1e3:.2f}]  cpu {cpu * 1e3:7.2f} ms"


def synthetic(L: int, D: int, T: int, H: int, seed: int = 0) -> Trace:
    """A trace with random gates and states of the given size (float32): the mask reads
    only the arrays, so there is no need to run a 1024-unit LSTM for 5000 steps first."""
    rng = np.random.default_rng(seed)
    gates = 1 / (1 + np.exp(-rng.standard_normal((4, L, D, T, H), dtype=np.float32)))
    c = np.cumsum(rng.standard_normal((L, D, T, H), dtype=np.float32) * 0.3, axis=2)
    return Trace(
        x=rng.standard_normal((T, 8), dtype=np.float32),
        h0=np.zeros((L, D, H), np.float32), c0=np.zeros((L, D, H), np.float32),
        i=gates[0], f=gates[1], g=gates[2] * 2 - 1, o=gates[3], c=c, h=gates[3] * np.tanh(c),
    )  # fmt: skip


def row(name: str, trace, expr: str, predicate, layer: int = 0, direction: int = 0) -> None:
    never = expr.replace("> 2", "> 1e9")  # the same work, no hit: both sides scan everything

    def fresh():  # the same arrays in a Trace no watch has read
        return Trace(**{k: getattr(trace, k) for k in trace.__dataclass_fields__})

    def mask(tr):
        return compile_watch(never, tr, layer, direction).mask

    cold = timed(mask, min(args.repeat, 5), setup=fresh)
    compile_only = timed(lambda: compile_watch(never, trace, layer, direction), args.repeat)
    mask(trace)  # the trace's arrays now exist
    kept = watch_module._SERIES[trace]

    def forget_reductions():  # as if no watch had asked for this reduction yet
        for key in [k for k in kept if k[0] == "reduce"]:
            del kept[key]
        return trace

    warm = timed(mask, args.repeat, setup=forget_reductions)
    again = timed(lambda: mask(trace), args.repeat)
    s = Session(trace)

    def scan():
        s.goto(0)
        assert not s.run_until(predicate)

    slow = timed(scan, max(3, args.repeat // 5))
    print(f"{name}\n  expression {never}")
    print(f"  compile    {ms(compile_only)}")
    print(f"  cold mask  {ms(cold)}")
    print(f"  warm mask  {ms(warm)}   goal < 5 ms: {'yes' if warm[0] < 5e-3 else 'NO'}")
    print(f"  again      {ms(again)}")
    print(f"  predicate  {ms(slow)}   = {slow[0] / warm[0]:,.0f}x the warm mask "
          f"(cpu {slow[3] / max(warm[3], 1e-9):,.0f}x)")


def main() -> None:
    print(f"numpy {np.__version__}, threads {args.threads}, repeat {args.repeat}")

    def never(v, L=0, D=0):  # max(abs(delta)) > 1e9 and t > 10, one StepView at a time
        return v.t + 1 > 10 and np.abs(v.value("delta_c", L, D)).max() > 1e9

    # 1. find on a 10,000-step input of the char model
    model = load(os.path.join(ROOT, "sample_models", "charlm.pt"))
    text = "".join(str(e) for e in model.examples)
    text = (text * (10_000 // len(text) + 1))[:10_000]
    t0 = time.perf_counter()
    char = model.trace(text)
    print(f"\ncharlm.pt, {char.T} characters (traced in {time.perf_counter() - t0:.1f} s), H=256")
    row("charlm T=10000 H=256", char, "max(abs(delta)) > 2 and t > 10", never)
    find_exprs = ['token == "("', "c[164] > 0 and f[164] < 0.1",
                  'count(abs(delta) > 1) > 5 or p["e"] > 0.9']  # fmt: skip
    for expr in find_exprs:
        compile_watch(expr, char).mask  # Δc exists; the reductions are dropped before each run
        kept = watch_module._SERIES[char]

        def forget_reductions():
            for key in [k for k in kept if k[0] == "reduce"]:
                del kept[key]

        st = timed(lambda _: compile_watch(expr, char).where(), args.repeat,
                   setup=forget_reductions)  # fmt: skip
        hits = compile_watch(expr, char).where().size
        print(f"  find {expr!r}: {ms(st)}, {hits} steps")

    # 2. the mask at UI sizes
    for name, (L, D, T, H) in (("L=2 bi H=256 T=3000", (2, 2, 3000, 256)),
                               ("L=1 H=1024 T=5000", (1, 1, 5000, 1024))):  # fmt: skip
        tr = synthetic(L, D, T, H)
        print()
        row(name, tr, "max(abs(delta)) > 2 and t > 10", never)
        if L == 2:
            row(f"{name}, scoped L2.rev", tr, "max(abs(L2.rev.delta)) > 2 and t > 10",
                lambda v: never(v, 1, 1))  # fmt: skip
    kept = watch_module.SERIES_CACHE_BYTES / 2**20
    print(f"\n(derived arrays are kept up to {kept:.0f} MiB per trace)")


if __name__ == "__main__":
    main()
