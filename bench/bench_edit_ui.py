"""How fast an edit lands in the debugger: an edit at the middle of a 5,000-step, H=1024 trace.

Goal (issue 12): the edit lands in the UI in under 300 ms.

    /work/main/.venv/bin/python bench/bench_edit_ui.py          # 1 layer, 160×50, 7 edits
    /work/main/.venv/bin/python bench/bench_edit_ui.py --layers 2 --bidirectional --size 120x36

What is timed, each from the user's keypress (the pilot's `press("a")`: ablate the
selected unit from the step in view, the middle) to the end of the first frame that
shows it, painted and rendered to ANSI in memory (bench_ui.Frames); the key is
posted to the app as the terminal driver posts it:

* the preview: the edit's worker makes the engine's preview (`until` =
  whatif.PREVIEW_STEPS past the edit) and hands it over; the screen shows it
  marked as a preview. This is "the edit lands";
* the full branch: the worker goes on to re-run every step the edit reaches
  (T/2 of them), compares it with its parent and measures the table; it
  replaces the preview at the same step;
* a step (→) pressed while the full branch is being made: the screen stays live.

Then `U` goes back to the parent (also timed) and the next edit starts; N edits,
medians, spread (min, p95, max). The first edit also hashes the parent for the
branch's lineage (cached afterwards): it is printed on its own too.

For reference, in the same run: the engine's preview and full branch on their own
(no UI), and torch.nn.LSTM's forward over the same steps of an LSTM of the same size
(what re-running costs anywhere), as ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from textual import events  # noqa: E402

from bench_ui import Frames, pct  # noqa: E402
from lstm_engine import Ablate, LSTMSpec, record  # noqa: E402
from lstm_tui.app import LstmTuiApp  # noqa: E402
from lstm_tui.source import Source  # noqa: E402
from lstm_tui.whatif import compare, make_branch, preview_until  # noqa: E402


def build_source(T: int, H: int, layers: int, bidirectional: bool) -> tuple[Source, float]:
    rng = np.random.default_rng(0)
    spec = LSTMSpec.random(64, H, layers, bidirectional=bidirectional, seed=0, dtype=np.float32)
    x = rng.standard_normal((T, 64)).astype(np.float32)
    logits = rng.standard_normal((T, 12)).astype(np.float32)
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    t0 = time.perf_counter()
    trace = record(spec, x, tokens=tuple(f"w{k % 97}" for k in range(T)),
                   labels=tuple(f"L{k}" for k in range(12)), output=log_probs)  # fmt: skip
    return Source(trace=trace, name="bench", origin="live", output_kind="log_prob"), \
        time.perf_counter() - t0  # fmt: skip


def torch_seconds(steps: int, H: int, layers: int, bidirectional: bool) -> float:
    """torch.nn.LSTM (float32, CPU) over `steps` steps of an LSTM of the same size: best of 3."""
    import torch

    torch.manual_seed(0)
    lstm = torch.nn.LSTM(64, H, layers, bidirectional=bidirectional)
    x = torch.randn(steps, 1, 64)
    best = float("inf")
    with torch.no_grad():
        for _ in range(3):
            t0 = time.perf_counter()
            lstm(x)
            best = min(best, time.perf_counter() - t0)
    return best


def report(name: str, ms: list[float]) -> None:
    print(f"  {name:<36} n={len(ms):<3} median {statistics.median(ms):7.1f} ms   "
          f"p95 {pct(ms, 95):7.1f} ms   min {min(ms):7.1f}   max {max(ms):7.1f} ms")  # fmt: skip


async def edits(source: Source, size, n: int) -> dict[str, list[float]]:
    app = LstmTuiApp(source)
    frames = Frames(app, size)
    out: dict[str, list[float]] = {"preview": [], "full": [], "step": [], "undo": []}
    mid = source.trace.T // 2
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        screen = app.screen

        async def until(shown, t0: float) -> float:
            """ms from t0 to the first frame painted after `shown()` held."""
            deadline = time.perf_counter() + 600
            while not shown():
                if time.perf_counter() > deadline:
                    raise TimeoutError("the edit never reached the screen")
                await asyncio.sleep(0.0005)
            return (await frames.wait_after(time.perf_counter(), pilot) - t0) * 1000

        for _ in range(n):
            screen._goto(mid)
            screen.unit = 3
            await pilot.pause()
            depth = screen.history.depth
            t0 = time.perf_counter()
            # posted, not pilot.press: press returns only once the screen is idle, i.e. after
            # the full branch (its worker keeps posting to it)
            app.post_message(events.Key("a", None))
            out["preview"].append(await until(
                lambda: screen.source.trace.preview_until is not None, t0))
            assert screen.t == mid
            if screen.source.trace.preview_until is not None:  # the full branch is being made
                t1 = time.perf_counter()
                app.post_message(events.Key("right", None))
                out["step"].append((await frames.wait_after(t1, pilot) - t1) * 1000)
            else:
                print(f"  (edit {len(out['full']) + 1}: the full branch landed before the "
                      "preview's frame was timed)")  # fmt: skip
                screen._goto(mid + 1)
            out["full"].append(await until(
                lambda: screen.history.depth == depth + 1
                and screen.source.trace.preview_until is None, t0))
            assert screen.t == mid + 1 and screen.unit == 3, "the cursor moved"
            await pilot.pause()
            t2 = time.perf_counter()
            app.post_message(events.Key("U", None))
            out["undo"].append(await until(lambda: screen.source is source, t2))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--T", type=int, default=5000)
    parser.add_argument("--H", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--bidirectional", action="store_true")
    parser.add_argument("--n", type=int, default=7, help="edits (each followed by an undo)")
    parser.add_argument("--size", default="160x50")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))

    source, rec = build_source(args.T, args.H, args.layers, args.bidirectional)
    tr = source.trace
    mid = tr.T // 2
    edit = Ablate(unit=3, from_t=mid)
    print(f"trace: {tr.num_layers} layer(s) × {tr.num_directions} direction(s), T={tr.T}, "
          f"H={tr.hidden_size}, float32; recorded in {rec:.1f} s")  # fmt: skip
    print(f"edit: ablate 3 from {mid + 1} (the middle, key a); "
          f"terminal {size[0]}×{size[1]}, headless")  # fmt: skip

    got = asyncio.run(edits(source, size, args.n))  # first: its first edit hashes the parent
    until = preview_until(edit, tr.T)
    t0 = time.perf_counter()
    make_branch(source, edit, until=until)
    preview_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    new = make_branch(source, edit)
    branch_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    compare(source, new, "branch")
    diff_s = time.perf_counter() - t0
    rerun = tr.T - mid
    torch_s = torch_seconds(rerun, tr.hidden_size, tr.num_layers, tr.num_directions == 2)
    torch_p = torch_seconds(until - mid, tr.hidden_size, tr.num_layers, tr.num_directions == 2)
    print("the engine alone (what the edit's worker runs):")
    print(f"  preview (re-runs {until - mid} steps):      {preview_s * 1000:8.0f} ms   "
          f"torch.nn.LSTM on {until - mid} steps {torch_p * 1000:.0f} ms")  # fmt: skip
    print(f"  full branch (re-runs {rerun} steps): {branch_s * 1000:8.0f} ms   torch.nn.LSTM on "
          f"{rerun} steps {torch_s * 1000:.0f} ms: ratio {branch_s / torch_s:.1f}×")  # fmt: skip
    print(f"  TraceDiff against the parent:       {diff_s * 1000:8.0f} ms")

    print(f"in the debugger, {args.n} edits, each from the keypress to the first frame showing it:")
    report("preview lands (goal < 300 ms)", got["preview"])
    report("full branch replaces it", got["full"])
    if got["step"]:
        report("→ while the full branch is made", got["step"])
    report("undo (back to the parent)", got["undo"])
    print(f"  first edit (hashes the parent):      preview {got['preview'][0]:.0f} ms, "
          f"full {got['full'][0]:.0f} ms")  # fmt: skip
    full = statistics.median(got["full"]) / 1000
    print(f"  full branch in the UI / torch.nn.LSTM on {rerun} steps: {full / torch_s:.1f}×")


if __name__ == "__main__":
    main()
