"""How fast an edit lands in the debugger: an edit at the middle of a 5,000-step, H=1024 trace.

Goal (issue 12): the edit lands in the UI in under 300 ms.

    /work/main/.venv/bin/python bench/bench_edit_ui.py          # 1 layer, 160×50, 7 landings
    /work/main/.venv/bin/python bench/bench_edit_ui.py --layers 2 --bidirectional --size 120x36

What is timed, separately (honest about which part is the UI):

* The engine's part, which runs in the edit's worker thread while the screen
  stays responsive: `whatif.make_branch` (the engine re-runs the steps the
  edit reaches, T/2 of them, and the model's output) and `whatif.compare`
  (the engine's TraceDiff of the branch against its parent, every quantity).
  Printed with torch.nn.LSTM running the same steps of an LSTM of the same
  size in the same run, as a ratio: what re-running costs anywhere.
* Landing in the UI: from the moment the worker hands the finished branch to
  the screen (`DebuggerScreen._branched`, what `call_from_thread` runs) to the
  end of the first frame that shows it, painted and rendered to ANSI in
  memory (bench_ui.Frames). The branch is landed, then undone (also timed:
  back to the parent), N times; medians, p95 and max.
* Switching parent ⇄ branch (`b`) and the difference view (`D`), key to frame.
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
from lstm_engine import LSTMSpec, SetState, record  # noqa: E402
from lstm_tui.app import LstmTuiApp  # noqa: E402
from lstm_tui.source import Source  # noqa: E402
from lstm_tui.stepdata import TraceData  # noqa: E402
from lstm_tui.whatif import compare, make_branch  # noqa: E402


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


async def landings(source: Source, new: Source, cmp, data, size,
                   n: int) -> dict[str, list[float]]:  # fmt: skip
    app = LstmTuiApp(source)
    frames = Frames(app, size)
    out: dict[str, list[float]] = {"land": [], "undo": [], "b": [], "D": []}
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        screen = app.screen
        screen._goto(source.trace.T // 2)
        await pilot.pause()

        async def timed(what: str, act) -> None:
            t0 = time.perf_counter()
            act()
            out[what].append((await frames.wait_after(t0, pilot) - t0) * 1000)
            await pilot.pause()

        for _ in range(n):
            await timed("land", lambda: screen._branched(source, new, cmp, data))
            assert screen.source is new and screen.t == source.trace.T // 2
            for key in ("b", "b", "D", "D"):
                await timed(key, lambda k=key: app.post_message(events.Key(k, None)))
            assert screen.source is new
            await timed("undo", lambda: app.post_message(events.Key("U", None)))
            assert screen.source is source
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--T", type=int, default=5000)
    parser.add_argument("--H", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--bidirectional", action="store_true")
    parser.add_argument("--n", type=int, default=7, help="landings (each followed by an undo)")
    parser.add_argument("--size", default="160x50")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))

    source, rec = build_source(args.T, args.H, args.layers, args.bidirectional)
    tr = source.trace
    mid = tr.T // 2
    edit = SetState(name="c", t=mid, unit=3, value=0.0)
    print(f"trace: {tr.num_layers} layer(s) × {tr.num_directions} direction(s), T={tr.T}, "
          f"H={tr.hidden_size}, float32; recorded in {rec:.1f} s")  # fmt: skip
    print(f"edit: c[3] = 0 at {mid + 1} (the middle); terminal {size[0]}×{size[1]}, headless")

    t0 = time.perf_counter()
    new = make_branch(source, edit)
    branch_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    cmp = compare(source, new, "branch")
    diff_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    data = TraceData(new.trace)  # what the worker measures for the screen (whatif_keys._branch)
    data.number_widths(0, 0)
    data.scales(0, 0)
    data_s = time.perf_counter() - t0
    rerun = tr.T - mid
    torch_s = torch_seconds(rerun, tr.hidden_size, tr.num_layers, tr.num_directions == 2)
    print("in the edit's worker (the screen stays live meanwhile):")
    print(f"  branch (re-runs {rerun} steps):      {branch_s * 1000:8.0f} ms   torch.nn.LSTM on "
          f"{rerun} steps {torch_s * 1000:.0f} ms: ratio {branch_s / torch_s:.1f}×")  # fmt: skip
    print(f"  TraceDiff against the parent:       {diff_s * 1000:8.0f} ms")
    print(f"  the table's widths and scales:      {data_s * 1000:8.0f} ms")

    got = asyncio.run(landings(source, new, cmp, data, size, args.n))
    print("on the UI thread, to the first frame that shows it:")
    report("branch lands (goal < 300 ms)", got["land"])
    report("undo (back to the parent)", got["undo"])
    report("b (parent ⇄ branch)", got["b"])
    report("D (values ⇄ differences)", got["D"])


if __name__ == "__main__":
    main()
