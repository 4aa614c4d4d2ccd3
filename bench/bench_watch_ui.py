"""How fast `c` (continue to a watch) lands in the debugger: 2 layers, bi, H=1024, T=5000.

Goal (issue 11): the expression evaluation under 5 ms, and `c` landing within the
budget of one step (p50 ≤ 30 ms), the step time measured in the same run beside it.

    /work/main/.venv/bin/python bench/bench_watch_ui.py               # 160×50, 100 stops
    /work/main/.venv/bin/python bench/bench_watch_ui.py --size 120x36 --stops 200

Method: the trace and the harness are bench_ui.py's (headless Textual, every frame
rendered to ANSI in memory; a key is posted as the terminal driver posts it, and
timed to the end of the first frame painted after it). Two watches are set on the
screen (a cheap one, `t % 20 == 0`, and one that reads every unit,
`max(abs(delta)) > θ and f[3] < 0.99`, θ the 95th percentile so it stops about
every 20 steps), so the watch panel is on screen and redrawn at every stop.
* expression evaluation: compile_watch + the mask, each watch, fresh each time
  (no cache), median of 20; the UI then keeps the compiled watch;
* first `c`: the masks are computed then (a new watch), timed once;
* `c` / `C`: forward through N stops, then back through N;
* step →/← with the same watch panel on screen, for the budget.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from textual import events  # noqa: E402

from bench_ui import Frames, build_source, pct, report  # noqa: E402
from lstm_engine import compile_watch  # noqa: E402
from lstm_tui.app import LstmTuiApp  # noqa: E402
from lstm_tui.screens.debugger import DebuggerScreen  # noqa: E402


def watches_for(trace) -> tuple[str, str]:
    top = np.abs(trace.series("delta_c", 0, 0)).max(axis=1)
    theta = float(np.percentile(top, 95))
    return "t % 20 == 0", f"max(abs(delta)) > {theta:.4g} and f[3] < 0.99"


def evaluation_ms(trace, text: str, n: int = 20) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        compile_watch(text, trace, 0, 0).mask
        out.append((time.perf_counter() - t0) * 1000)
    return out


async def press_timed(app, frames, pilot, screen, key: str) -> tuple[float, float]:
    """(wall ms from the key to the frame that shows its move, CPU ms of this process)."""
    before = screen.t
    c0 = time.process_time()
    t0 = time.perf_counter()
    app.post_message(events.Key(key, None))
    done = await frames.wait_after(t0, pilot)
    assert screen.t != before, f"{key} did not move the cursor"
    return (done - t0) * 1000, (time.process_time() - c0) * 1000


async def run(source, size, stops: int, texts) -> dict[str, list[tuple[float, float]]]:
    app = LstmTuiApp(source)
    frames = Frames(app, size)
    got: dict[str, list[float]] = {"first": [], "c": [], "C": [], "step": []}
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DebuggerScreen)
        screen.watches = tuple((t, True) for t in texts)
        await pilot.pause()
        await pilot.pause()
        got["first"].append(await press_timed(app, frames, pilot, screen, "c"))
        await pilot.pause()
        for key in ["c"] * stops + ["C"] * stops:
            got[key].append(await press_timed(app, frames, pilot, screen, key))
            await pilot.pause()
        await pilot.press("home")
        await pilot.pause()
        for key in ["right"] * stops + ["left"] * stops:
            got["step"].append(await press_timed(app, frames, pilot, screen, key))
            await pilot.pause()
    return got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--T", type=int, default=5000)
    parser.add_argument("--H", type=int, default=1024)
    parser.add_argument("--stops", type=int, default=100)
    parser.add_argument("--size", default="160x50")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))

    source, rec = build_source(args.T, args.H)
    tr = source.trace
    print(f"trace: {tr.num_layers} layers × {tr.num_directions} directions, T={tr.T}, "
          f"H={tr.hidden_size}, float32; recorded in {rec:.1f} s (not part of the UI figures)")  # fmt: skip
    print(f"terminal {size[0]}×{size[1]}, headless Textual, frames rendered to ANSI in memory")
    texts = watches_for(tr)
    for text in texts:
        ms = evaluation_ms(tr, text)
        print(f"  evaluate {text!r:<44} median {statistics.median(ms):6.2f} ms   "
              f"min {min(ms):6.2f}   max {max(ms):6.2f}   (goal ≤ 5 ms)")  # fmt: skip
    got = asyncio.run(run(source, size, args.stops, texts))
    got = {k: tuple(zip(*v)) for k, v in got.items()}  # (wall ms, CPU ms) per kind
    print(f"  first c (masks computed then)      {got['first'][0][0]:6.1f} ms")
    report("c (continue, cached masks)", got["c"])
    report("C (reverse-continue)", got["C"])
    report("step →/← (watch panel shown)", got["step"])
    ratio = statistics.median(got["c"][0]) / statistics.median(got["step"][0])
    print(f"  c / step, medians: {ratio:.2f}×   goal: c median ≤ 30 ms, as a step "
          f"(p95 c {pct(got['c'][0], 95):.1f} ms)")  # fmt: skip


if __name__ == "__main__":
    main()
