"""How fast the analysis panel (`E`) opens on the char model over a 10,000-step input.

Goal (issue 13): the panel opens in under 0.5 s, numbers and plots drawn. Measured beside
it in the same run: recording the trace (the engine, charlm.pt over the same text) and
torch.nn.LSTM's own forward over it, so the times can be read as ratios.

    /work/main/.venv/bin/python bench/bench_analysis_ui.py            # 120×36, 5 openings
    /work/main/.venv/bin/python bench/bench_analysis_ui.py --steps 10000 --runs 7

Method: bench_ui.py's harness (headless Textual, every frame rendered to ANSI in memory);
`E` is posted as the terminal driver posts it and timed to the end of the first
AnalysisScreen frame painted after its worker has filled the panel in (its `ready`),
so the time includes the whole-trace statistics (unit_stats, output_contribution),
the rankings, the scatter plots and the attribution. Each opening is a fresh screen
(no cache carries over). The provenance bar (`P`) is timed the same way, to the first
DebuggerScreen frame after the key.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

from textual import events  # noqa: E402

from bench_ui import Frames, pct  # noqa: E402
from lstm_engine import load  # noqa: E402
from lstm_tui.app import LstmTuiApp  # noqa: E402
from lstm_tui.screens.analysis import AnalysisScreen  # noqa: E402
from lstm_tui.source import Source  # noqa: E402


def long_text(model, steps: int) -> str:
    """The model's examples repeated to `steps` characters (held-out Python source)."""
    text = "\n".join(e for e in model.examples if isinstance(e, str))
    return (text * (steps // len(text) + 1))[:steps]


def torch_forward_ms(model, text: str) -> float:
    import torch

    ids = torch.tensor(model._prepare(text)[1])
    sd = torch.load(ROOT / "sample_models" / "charlm.pt", weights_only=True)["state_dict"]
    emb = torch.nn.Embedding.from_pretrained(sd["embedding.weight"])
    lstm = torch.nn.LSTM(sd["embedding.weight"].shape[1], sd["lstm.weight_hh_l0"].shape[1])
    lstm.load_state_dict({k[5:]: v for k, v in sd.items() if k.startswith("lstm.")})
    with torch.no_grad():
        t0 = time.perf_counter()
        lstm(emb(ids)[:, None])
        return (time.perf_counter() - t0) * 1000


async def open_times(source, size, runs: int) -> tuple[list[float], list[float]]:
    app = LstmTuiApp(source)
    frames = Frames(app, size)
    opened, bar = [], []
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        for _ in range(runs):
            t0 = time.perf_counter()
            app.post_message(events.Key("E", "E"))
            deadline = t0 + 30
            while True:
                await asyncio.sleep(0.0005)
                screen = app.screen
                if isinstance(screen, AnalysisScreen) and screen.ready:
                    break
                if time.perf_counter() > deadline:
                    raise TimeoutError("the analysis panel did not fill in within 30 s")
            ready_at = time.perf_counter()
            done = await frames.wait_after(ready_at, pilot, "AnalysisScreen")
            opened.append((done - t0) * 1000)
            await pilot.press("escape")
            await pilot.pause()
        for _ in range(runs):
            await pilot.press("right")
            await pilot.pause()
            t0 = time.perf_counter()
            app.post_message(events.Key("P", "P"))
            bar.append((await frames.wait_after(t0, pilot) - t0) * 1000)
            await pilot.press("P")
            await pilot.pause()
    return opened, bar


def report(name: str, ms: list[float]) -> None:
    print(f"{name:34s} median {statistics.median(ms):8.1f} ms   p10 {pct(ms, 10):8.1f}   "
          f"p90 {pct(ms, 90):8.1f}   (n={len(ms)})")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--size", default="120x36")
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    model = load(str(ROOT / "sample_models" / "charlm.pt"))
    text = long_text(model, args.steps)
    t0 = time.perf_counter()
    trace = model.trace(text)
    record_ms = (time.perf_counter() - t0) * 1000
    torch_ms = statistics.median(torch_forward_ms(model, text) for _ in range(3))
    source = Source(trace=trace, name="charlm", origin="model", model=model, text=text,
                    output_kind=model.output_kind, format=model.format)  # fmt: skip
    opened, bar = asyncio.run(open_times(source, size, args.runs))
    print(f"charlm.pt, T={trace.T}, H={trace.hidden_size}, terminal {size[0]}×{size[1]}")
    print(f"{'record the trace (engine)':34s} {record_ms:8.1f} ms")
    print(f"{'torch.nn.LSTM forward':34s} {torch_ms:8.1f} ms")
    report("analysis panel open (E)", opened)
    report("provenance bar on (P)", bar)
    med = statistics.median(opened)
    print(f"analysis panel / record: {med / record_ms:.2f}×; / torch forward: {med / torch_ms:.1f}×; "
          f"goal < 500 ms: {'met' if max(opened) < 500 else 'NOT met'} (worst {max(opened):.0f} ms)")


if __name__ == "__main__":
    main()
