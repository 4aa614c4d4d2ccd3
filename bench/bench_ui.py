"""How fast the debugger paints and steps on a big trace: 2 layers, bidirectional, H=1024, T=5000.

Goals (issue 4): time to first paint ≤ 0.5 s; step latency median ≤ 30 ms, p95 ≤ 60 ms.

    /work/venv/bin/python bench/bench_ui.py                 # 160×50, 200 steps
    /work/venv/bin/python bench/bench_ui.py --size 120x36 --steps 300

Method (honest about what is and is not timed):
* The trace is recorded first (LSTMSpec.random + record, float32) and is not
  part of any UI figure; its recording time is printed separately.
* The app runs headless under Textual's own test harness (App.run_test), at the
  given terminal size. App._display — where Textual hands each finished frame to
  the terminal driver — is wrapped to timestamp every frame and to render it to
  ANSI text in memory (a true-colour console writing to a StringIO), so the
  cost of turning the frame into terminal output is included; only the write
  to a real tty is not.
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
  step) is timed separately, as is the reverse direction of layer 2.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

_t_import = time.perf_counter()
import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from textual import events  # noqa: E402

from lstm_engine import LSTMSpec, record  # noqa: E402
from lstm_tui.app import LstmTuiApp  # noqa: E402
from lstm_tui.screens.debugger import DebuggerScreen  # noqa: E402
from lstm_tui.source import Source  # noqa: E402

IMPORT_S = time.perf_counter() - _t_import


def build_source(T: int, H: int, seed: int = 0) -> tuple[Source, float]:
    rng = np.random.default_rng(seed)
    spec = LSTMSpec.random(64, H, 2, bidirectional=True, seed=seed, dtype=np.float32)
    x = rng.standard_normal((T, 64)).astype(np.float32)
    logits = rng.standard_normal((T, 12)).astype(np.float32)
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    tokens = tuple(f"w{k % 97}" for k in range(T))
    labels = tuple(f"L{k}" for k in range(12))
    t0 = time.perf_counter()
    trace = record(spec, x, tokens=tokens, labels=labels, output=log_probs)
    elapsed = time.perf_counter() - t0
    return Source(trace=trace, name="bench", origin="live", output_kind="log_prob"), elapsed


class Frames:
    """Timestamps every frame Textual finishes, after rendering it to ANSI in memory."""

    def __init__(self, app: LstmTuiApp, size: tuple[int, int]):
        self.stamps: list[tuple[float, str]] = []
        self.console = Console(
            file=io.StringIO(), force_terminal=True, color_system="truecolor",
            width=size[0], height=size[1], legacy_windows=False,
        )  # fmt: skip
        original = app._display

        def display(screen, renderable):
            original(screen, renderable)
            if renderable is not None:
                self.console.file.seek(0)
                self.console.file.truncate()
                self.console.print(renderable, end="")
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


async def first_paint(source: Source, size) -> tuple[float, float]:
    app = LstmTuiApp(source)
    frames = Frames(app, size)
    t0 = time.perf_counter()
    async with app.run_test(size=size) as pilot:
        t_debugger = await frames.wait_after(t0, pilot)
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
    return t_debugger - t0, t_loading - t1


async def step_latencies(source: Source, size, steps: int, setup: tuple[str, ...]) -> list[float]:
    app = LstmTuiApp(source)
    frames = Frames(app, size)
    out = []
    async with app.run_test(size=size) as pilot:
        await pilot.press(*setup)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DebuggerScreen)
        for key in ["right"] * steps + ["left"] * steps:
            before = screen.t
            t0 = time.perf_counter()
            # What the terminal driver does when a key arrives.
            app.post_message(events.Key(key, None))
            done = await frames.wait_after(t0, pilot)
            assert screen.t != before, "the cursor did not move"
            out.append((done - t0) * 1000)
            await pilot.pause()  # let the next key start from a settled screen
    return out


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


def report(name: str, ms: list[float]) -> None:
    print(f"  {name:<34} n={len(ms):<4} median {statistics.median(ms):6.1f} ms   "
          f"p95 {pct(ms, 95):6.1f} ms   max {max(ms):6.1f} ms")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--T", type=int, default=5000)
    parser.add_argument("--H", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--size", default="160x50")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))

    source, rec = build_source(args.T, args.H)
    tr = source.trace
    print(f"trace: {tr.num_layers} layers × {tr.num_directions} directions, T={tr.T}, "
          f"H={tr.hidden_size}, float32; recorded in {rec:.1f} s (not part of the UI figures)")  # fmt: skip
    print(f"terminal {size[0]}×{size[1]}, headless Textual, frames rendered to ANSI in memory")
    print(f"  import numpy + textual + lstm_tui.app:  {IMPORT_S * 1000:6.0f} ms")

    fp, loading = asyncio.run(first_paint(source, size))
    print(f"  first paint of the debugger:       {fp * 1000:6.0f} ms   (goal ≤ 500 ms)")
    print(f"  first paint of the loading screen: {loading * 1000:6.0f} ms   (what shows while a model loads)")
    cold = sorted(cold_start_ms() for _ in range(3))[1]
    print(f"  fresh interpreter → loading screen: {cold:5.0f} ms   (median of 3; imports Textual and"
          " lstm_tui.app, not numpy/torch, which load in the worker)")

    report("step →/← (unit order)", asyncio.run(step_latencies(source, size, args.steps, ())))
    report("step →/← (sorted by |Δc|)", asyncio.run(step_latencies(source, size, args.steps, ("s",))))
    report("step →/← (layer 2, reverse)",
           asyncio.run(step_latencies(source, size, args.steps, ("right_square_bracket", "d"))))  # fmt: skip
    print("goals: median ≤ 30 ms, p95 ≤ 60 ms")


if __name__ == "__main__":
    main()
