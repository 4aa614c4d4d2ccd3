"""A 100,000-step corpus in the debugger: first paint, stepping to the next input, and `M`.

Goals (issue 15): the corpus file opens to its first paint in under 1 s, a match in under 0.5 s.

    /work/main/.venv/bin/python bench/bench_corpus_ui.py                  # 1,000 inputs × 100 steps, H=256
    /work/main/.venv/bin/python bench/bench_corpus_ui.py --inputs 200 --steps 500 --repeat 5

Method: the corpus is recorded first (a seeded random LSTM, float32, one-word tokens,
lstm_engine.record per input, Corpus.from_traces, saved as a trace file: not timed as UI).
Then, R times each, with the harness of bench_ui.py (headless Textual, every frame rendered
to ANSI in memory, a key timed from being posted to the end of the first frame after it):
* open: `open_path(corpus.npz)` (the front door: the file mapped, the corpus read), then the
  app's first frame of the debugger on input 1;
* `x`: the next input (a view of the corpus's rows) to its first frame;
* `M`: a span of 3 steps selected with shift+→, then `M` to the frame that shows the match
  list (the whole corpus thresholded, then ranked), and `M` again at the same θ (the
  on-mask kept: only the ranking).
Prints medians with their spread (min–max). Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from textual import events  # noqa: E402

from bench_ui import Frames  # noqa: E402
from lstm_engine import Corpus, LSTMSpec, record  # noqa: E402
from lstm_tui.app import LstmTuiApp  # noqa: E402
from lstm_tui.opening import open_path  # noqa: E402


def build_corpus(path: Path, inputs: int, steps: int, hidden: int) -> float:
    """Record the corpus into `path`; the seconds it took."""
    t0 = time.perf_counter()
    spec = LSTMSpec.random(16, hidden, 1, seed=0, dtype=np.float32)
    rng = np.random.default_rng(0)
    words = [f"w{k}" for k in range(50)]
    traces = []
    for _ in range(inputs):
        x = (rng.standard_normal((steps, 16)) * 10).astype(np.float32)  # c well away from 0
        tokens = tuple(words[j] for j in rng.integers(0, len(words), steps))
        traces.append(record(spec, x, tokens=tokens))
    Corpus.from_traces(traces).save(path)
    return time.perf_counter() - t0


async def press(app, frames: Frames, pilot, key: str, screen: str = "DebuggerScreen") -> float:
    """Post `key` as the terminal driver does; ms to the first frame of `screen` after it."""
    t0 = time.perf_counter()
    app.post_message(events.Key(key, None))
    return (await frames.wait_after(t0, pilot, screen) - t0) * 1000


async def one_run(path: Path, size: tuple[int, int]) -> dict[str, float]:
    t0 = time.perf_counter()
    source = open_path(str(path))
    opened = time.perf_counter()
    app = LstmTuiApp(source)
    frames = Frames(app, size)
    out = {"open_path": (opened - t0) * 1000}
    async with app.run_test(size=size) as pilot:
        out["first paint"] = (await frames.wait_after(opened, pilot) - t0) * 1000
        out["x (next input)"] = await press(app, frames, pilot, "x")
        for _ in range(3):
            await press(app, frames, pilot, "shift+right")
        out["M (first)"] = await press(app, frames, pilot, "M", "MatchDialog")
        await pilot.press("escape")
        await pilot.pause()
        out["M (again, mask kept)"] = await press(app, frames, pilot, "M", "MatchDialog")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--size", default="120x36")
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "corpus.npz"
        took = build_corpus(path, args.inputs, args.steps, args.hidden)
        N = args.inputs * args.steps
        print(f"corpus: {args.inputs} inputs × {args.steps} steps = {N:,} steps, H={args.hidden}, "
              f"float32, {path.stat().st_size / 2**20:.0f} MiB on disk (recorded in {took:.1f} s)")
        runs = [asyncio.run(one_run(path, size)) for _ in range(args.repeat)]
    for name in runs[0]:
        ms = [r[name] for r in runs]
        print(f"{name:22s} median {statistics.median(ms):8.1f} ms   (min {min(ms):.1f}, "
              f"max {max(ms):.1f}, n={len(ms)})")
    print("goals: first paint < 1000 ms, a match < 500 ms")


if __name__ == "__main__":
    main()
