"""How fast the debugger paints and steps on a big trace: 2 layers, bidirectional, H=1024, T=5000.

Goals (issue 4): time to first paint ≤ 0.5 s; step latency median ≤ 30 ms, p95 ≤ 60 ms.
Issue 16: the same at T=50,000 and T=100,000 (H=1024), and first paint ≤ 1 s for
a 100,000-step trace: the UI's cost must not grow with T.

    /work/venv/bin/python bench/bench_ui.py                 # 160×50, 200 steps
    /work/venv/bin/python bench/bench_ui.py --size 120x36 --steps 300
    # the scaling in T: one layer, one direction, synthetic traces (recording 100,000
    # steps at H=1024 takes minutes and is bench_engine's business), also opened from a file
    /work/venv/bin/python bench/bench_ui.py --T 5000,50000,100000 --layers 1 --directions 1 \
        --synthetic --file --steps 100
    # under a second busy process, with numpy's BLAS and torch at one thread
    /work/venv/bin/python bench/bench_ui.py --busy 1 --threads 1

Method (honest about what is and is not timed):
* The trace is recorded first (LSTMSpec.random + record, float32) and is not
  part of any UI figure; its recording time is printed separately.
* The app runs headless under Textual's own test harness (App.run_test), at the
  given terminal size. App._display — where Textual hands each finished frame to
  the terminal driver — is wrapped to timestamp every frame and to render it to
  ANSI text in memory as App._display does for a real terminal (the update's
  render_segments on a true-colour console), so the cost of turning the frame
  into terminal output is included; only the write to a real tty is not.
  (Until this round the bench printed each frame through Console.print, which
  splits and crops every line again and cost about 1.5 ms a step more than
  what Textual does.)
* First paint: from just before the app starts to the first frame that shows
  the debugger screen (trace already in memory). Also printed: the loading
  screen's first frame when the source comes from a worker (a loader that
  sleeps 1 s stands in for torch + model loading), which is what a user sees
  first when a model file loads. Python + Textual import time is not included
  there; a third figure runs a fresh interpreter (python -c) and times from its
  first line to the loading screen's first frame, imports included.
* Step latency: for each step, the time from posting the key event to the app
  (what Textual's terminal driver does when a key arrives; it then goes through
  Textual's key dispatch and the screen's bindings) to the end of the first
  frame painted after it. This includes Textual's frame pacing (the screen's
  update timer), so it is what a user holding the key would feel. The cursor
  walks forward through steps 1..N, then the same number of steps backward
  (rewinding hits the per-step cache); a sorted table (|Δc|, re-sorted at each
  step) is timed separately, as is the reverse direction of layer 2. A unit
  change (down then up, 40 each) redraws the history and heatmap too; it is
  timed once the workers have measured the trace's statistics.
* --synthetic: gates drawn at random and c, h by the cell's own recurrence
  (c = f·c_prev + i·g, h = o·tanh c), so every number on screen is what an
  LSTM could have computed, without minutes of recording; the weights in the
  spec did not make them. The UI reads the same arrays either way.
* --file: the trace is saved (Trace.save) and opened the way `lstm-tui run.npz`
  opens it (lstm_tui.opening.open_path in the app's loading worker); the
  figure is from the app's start to the debugger's first frame, the load
  included.
* --busy N runs N processes spinning on a core during every figure (a second
  user of a 2-core machine); --threads N sets numpy's BLAS threads
  (OPENBLAS_NUM_THREADS, before numpy loads) and torch's (if torch is loaded).
  The load average is printed before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
if "--threads" in sys.argv[:-1]:  # BLAS reads it once, when numpy loads
    os.environ["OPENBLAS_NUM_THREADS"] = sys.argv[sys.argv.index("--threads") + 1]

_t_import = time.perf_counter()
import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from textual import events  # noqa: E402

from lstm_engine import LSTMSpec, Trace, record  # noqa: E402
from lstm_tui.app import LstmTuiApp  # noqa: E402
from lstm_tui.opening import open_path  # noqa: E402
from lstm_tui.screens.debugger import DebuggerScreen  # noqa: E402
from lstm_tui.source import Source  # noqa: E402
from lstm_tui.stepdata import measure  # noqa: E402

IMPORT_S = time.perf_counter() - _t_import


def build_source(T: int, H: int, seed: int = 0, layers: int = 2, directions: int = 2,
                 synthetic: bool = False) -> tuple[Source, float]:  # fmt: skip
    rng = np.random.default_rng(seed)
    spec = LSTMSpec.random(64, H, layers, bidirectional=directions == 2, seed=seed,
                           dtype=np.float32)  # fmt: skip
    x = rng.standard_normal((T, 64)).astype(np.float32)
    logits = rng.standard_normal((T, 12)).astype(np.float32)
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    tokens = tuple(f"w{k % 97}" for k in range(T))
    labels = tuple(f"L{k}" for k in range(12))
    t0 = time.perf_counter()
    if synthetic:
        trace = synthetic_trace(spec, x, rng, tokens=tokens, labels=labels, output=log_probs)
    else:
        trace = record(spec, x, tokens=tokens, labels=labels, output=log_probs)
    elapsed = time.perf_counter() - t0
    return Source(trace=trace, name="bench", origin="live", output_kind="log_prob"), elapsed


def synthetic_trace(spec: LSTMSpec, x: np.ndarray, rng, **kw) -> Trace:
    """Gates at random, c and h by the cell's recurrence (see the module docstring)."""
    L, D, T, H = spec.num_layers, spec.num_directions, x.shape[0], spec.hidden_size
    shape = (L, D, T, H)

    def gate() -> np.ndarray:
        z = rng.standard_normal(shape, dtype=np.float32)
        return 1 / (1 + np.exp(-2 * z))

    i, f, o = gate(), gate(), gate()
    g = np.tanh(rng.standard_normal(shape, dtype=np.float32))
    written = i * g
    c = np.empty(shape, np.float32)
    c_prev = np.zeros((L, D, H), np.float32)
    for t in range(T):  # reading order does not matter for a bench: one recurrence for all
        c_prev = f[:, :, t] * c_prev + written[:, :, t]
        c[:, :, t] = c_prev
    h = o * np.tanh(c)
    zeros = np.zeros((L, D, H), np.float32)
    return Trace(x=x, h0=zeros, c0=zeros, i=i, f=f, g=g, o=o, c=c, h=h, spec=spec, **kw)


class Frames:
    """Timestamps every frame Textual finishes, after rendering it to ANSI in memory."""

    def __init__(self, app: LstmTuiApp, size: tuple[int, int]):
        self.stamps: list[tuple[float, str]] = []
        self.output = ""
        """The last frame's terminal output."""
        self.console = Console(
            file=io.StringIO(), force_terminal=True, color_system="truecolor",
            width=size[0], height=size[1], legacy_windows=False,
        )  # fmt: skip
        original = app._display

        def display(screen, renderable):
            original(screen, renderable)
            if renderable is not None:
                # what App._display writes to a terminal that is not headless: a screen
                # update's own escape sequences (each Strip remembers its own), else Rich's
                render_segments = getattr(renderable, "render_segments", None)
                if render_segments is not None:
                    self.output = render_segments(self.console)
                else:
                    self.output = self.console._render_buffer(self.console.render(renderable))
            self.stamps.append((time.perf_counter(), type(screen).__name__))

        app._display = display

    async def wait_after(self, t0: float, pilot, screen: str = "DebuggerScreen") -> float:
        deadline = time.perf_counter() + 30
        while time.perf_counter() < deadline:
            for stamp, name in self.stamps:
                if stamp > t0 and name == screen:
                    return stamp
            await asyncio.sleep(0.0005)
        raise TimeoutError(f"no {screen} frame within 30 s")


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


async def first_paint(source: Source, size) -> tuple[float, float, float]:
    app = LstmTuiApp(source)
    frames = Frames(app, size)
    c0 = time.process_time()
    t0 = time.perf_counter()
    async with app.run_test(size=size) as pilot:
        t_debugger = await frames.wait_after(t0, pilot)
        cpu = time.process_time() - c0
    def slow_loader() -> Source:
        time.sleep(1.0)  # stands in for importing torch and loading a model
        return source

    app2 = LstmTuiApp(loader=slow_loader, what="bench")
    frames2 = Frames(app2, size)
    t1 = time.perf_counter()
    async with app2.run_test(size=size) as pilot:
        t_loading = await frames2.wait_after(t1, pilot, "LoadingScreen")
        await app2.workers.wait_for_complete()
        await frames2.wait_after(t1, pilot)
    return t_debugger - t0, t_loading - t1, cpu


async def step_latencies(source: Source, size, steps: int, setup: tuple[str, ...],
                         keys: tuple[str, str] = ("right", "left"), moves: str = "t",
                         settle: bool = False) -> tuple[list[float], list[float]]:  # fmt: skip
    """Wall-clock ms from each key to its frame, and the process's CPU ms over the same span
    (all threads; on a shared machine the CPU time is what the neighbours disturb least).
    `keys`: forward and back, `steps` times each; `moves`: the screen's variable they move.
    `settle`: wait for the workers (a long trace's statistics) before the first key."""
    app = LstmTuiApp(source)
    frames = Frames(app, size)
    out, cpu = [], []
    async with app.run_test(size=size) as pilot:
        await pilot.press(*setup)
        await pilot.pause()
        if settle:
            await app.workers.wait_for_complete()
            await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DebuggerScreen)
        for key in [keys[0]] * steps + [keys[1]] * steps:
            before = getattr(screen, moves)
            c0 = time.process_time()
            t0 = time.perf_counter()
            # What the terminal driver does when a key arrives.
            app.post_message(events.Key(key, None))
            done = await frames.wait_after(t0, pilot)
            cpu.append((time.process_time() - c0) * 1000)
            assert getattr(screen, moves) != before, f"{key} did not move {moves}"
            out.append((done - t0) * 1000)
            await pilot.pause()  # let the next key start from a settled screen
    return out, cpu


async def open_file(path: Path, size) -> float:
    """From the app's start to the debugger's first frame, the trace read from `path`."""
    app = LstmTuiApp(loader=lambda: open_path(str(path)), what=path.name)
    frames = Frames(app, size)
    t0 = time.perf_counter()
    async with app.run_test(size=size) as pilot:
        stamp = await frames.wait_after(t0, pilot)
    return stamp - t0


COLD = """
import time
t0 = time.perf_counter()
import asyncio
from lstm_tui.app import LstmTuiApp

def loader():
    time.sleep(0.5)
    raise SystemExit("never used")

async def main():
    app = LstmTuiApp(loader=loader, what="model.pt")
    seen = []
    original = app._display
    def display(screen, renderable):
        original(screen, renderable)
        if type(screen).__name__ == "LoadingScreen" and not seen:
            seen.append(time.perf_counter())
    app._display = display
    async with app.run_test(size=(120, 36)) as pilot:
        while not seen:
            await asyncio.sleep(0.001)
        app.workers.cancel_all()
    print(f"{(seen[0] - t0) * 1000:.0f}")

asyncio.run(main())
"""


def cold_start_ms() -> float:
    """A fresh interpreter: importing lstm_tui.app, starting the app, first loading frame."""
    import subprocess

    out = subprocess.run([sys.executable, "-c", COLD], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1], timeout=120)  # fmt: skip
    return float(out.stdout.strip().splitlines()[-1])


def report(name: str, timed: tuple[list[float], list[float]]) -> None:
    ms, cpu = timed
    print(f"  {name:<34} n={len(ms):<4} median {statistics.median(ms):6.1f} ms   "
          f"p95 {pct(ms, 95):6.1f} ms   max {max(ms):6.1f} ms   "
          f"(cpu median {statistics.median(cpu):5.1f} ms, p95 {pct(cpu, 95):5.1f})")  # fmt: skip


def load() -> str:
    return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg())


def thread_settings() -> str:
    blas = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    torch = sys.modules.get("torch")
    return f"OPENBLAS_NUM_THREADS={blas}" + (f", torch {torch.get_num_threads()} threads" if torch else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--T", default="5000", help="steps, or several: 5000,50000,100000")
    parser.add_argument("--H", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--directions", type=int, default=2, choices=(1, 2))
    parser.add_argument("--synthetic", action="store_true", help="synthetic traces, not recorded")
    parser.add_argument("--file", action="store_true", help="also open each trace from a file")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--size", default="160x50")
    parser.add_argument("--busy", type=int, default=0, help="busy processes beside the bench")
    parser.add_argument("--threads", type=int, help="BLAS and torch threads (default: theirs)")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    if args.threads and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(args.threads)
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        print(f"{os.cpu_count()} cores, {args.busy} busy processes beside, {thread_settings()}, "
              f"{load()}")  # fmt: skip
        print(f"terminal {size[0]}×{size[1]}, headless Textual, frames rendered to ANSI in memory")
        print(f"  import numpy + textual + lstm_tui.app:  {IMPORT_S * 1000:6.0f} ms")
        for T in (int(v) for v in args.T.split(",")):
            run_one(T, args, size)
        print("goals: median ≤ 30 ms, p95 ≤ 60 ms; first paint ≤ 500 ms (T=5000), "
              "≤ 1 s (a 100,000-step trace)")  # fmt: skip
        print(load())
    finally:
        for proc in busy:
            proc.kill()


def run_one(T: int, args, size) -> None:
    source, rec = build_source(T, args.H, layers=args.layers, directions=args.directions,
                               synthetic=args.synthetic)  # fmt: skip
    tr = source.trace
    how = "made synthetically" if args.synthetic else "recorded"
    print(f"trace: {tr.num_layers} layers × {tr.num_directions} directions, T={tr.T}, "
          f"H={tr.hidden_size}, float32; {how} in {rec:.1f} s (not part of the UI figures)")  # fmt: skip

    c0 = time.process_time()
    t0 = time.perf_counter()
    measure(tr)
    print(f"  statistics (extents) measured:     {(time.perf_counter() - t0) * 1000:6.0f} ms   "
          f"(cpu {(time.process_time() - c0) * 1000:.0f} ms; in the loading worker, or before "
          "debug() opens the screen; a trace file has them saved)")  # fmt: skip
    fp, loading, cpu = asyncio.run(first_paint(source, size))
    print(f"  first paint of the debugger:       {fp * 1000:6.0f} ms   (trace in memory; "
          f"cpu {cpu * 1000:.0f} ms)")
    print(f"  first paint of the loading screen: {loading * 1000:6.0f} ms   (what shows while a model loads)")
    if args.file:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "bench.npz"
            t0 = time.perf_counter()
            tr.save(path)
            saved = time.perf_counter() - t0
            opened = [asyncio.run(open_file(path, size)) for _ in range(3)]
            print(f"  open a trace file → debugger:      {statistics.median(opened) * 1000:6.0f} ms   "
                  f"(median of 3, {path.stat().st_size / 2**20:.0f} MiB file saved in {saved:.1f} s)")  # fmt: skip
    cold = sorted(cold_start_ms() for _ in range(3))[1]
    print(f"  fresh interpreter → loading screen: {cold:5.0f} ms   (median of 3; imports Textual and"
          " lstm_tui.app, not numpy/torch, which load in the worker)")

    report("step →/← (unit order)", asyncio.run(step_latencies(source, size, args.steps, ())))
    report("step →/← (sorted by |Δc|)", asyncio.run(step_latencies(source, size, args.steps, ("s",))))
    last = ("right_square_bracket",) * (tr.num_layers - 1) + (("d",) if tr.num_directions == 2 else ())
    report(f"step →/← (layer {tr.num_layers}, {'reverse' if tr.num_directions == 2 else 'forward'})",
           asyncio.run(step_latencies(source, size, args.steps, last)))  # fmt: skip
    report("unit ↓/↑ (history, heatmap redrawn)",
           asyncio.run(step_latencies(source, size, min(args.steps, 40), (), ("down", "up"),
                                      "unit", settle=True)))  # fmt: skip
    print(f"  {load()}")


if __name__ == "__main__":
    main()
