"""A 100,000-token corpus of charlm: recording it, against recording it as one input, and matching.

    python bench/bench_corpus.py [--tokens N] [--repeat R] [--keep DIR]

1. The corpus: lines of this repository's Python source (each line one input, blank lines
   skipped) until they hold N characters (default 100,000). Each measurement runs in a fresh
   process, R times (default 3), interleaved:
   - corpus: `record_corpus(charlm, lines, path=FILE)` (each line from the initial state,
     straight into the trace file), as `lstm-tui record --text-file` does;
   - one input: the same characters run together as one input, `model.trace` then
     `Trace.save` (what `lstm-tui record --text` does);
   - torch: the same LSTM's forward (torch.nn.LSTM, one thread, charlm's weights) over the
     N embedded steps as one sequence: the floor both are compared against.
   Time, peak anonymous memory (RssAnon, sampled every 5 ms, above the process before the
   recording) and peak RSS (VmHWM, file pages included), bytes on disk per step. torch and
   OpenBLAS run with --threads threads everywhere (default 1: the engine's fused path calls
   torch.lstm and the head is a BLAS product, and two threads on a busy two-core machine make
   each short input cost several times more).
2. One match on the recorded corpus, opened from its file (mapped): select_units over a
   span, then match; the first query (which thresholds the whole (N, 256) state) and the
   repeats with the on-mask kept (what the UI does between two queries at one θ). Goal:
   under 0.5 s.

Prints medians with their spread (min–max). Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
CHARLM = ROOT / "sample_models" / "charlm.pt"

_CHILD = textwrap.dedent(r"""
    import json, os, sys, threading, time
    mode, lines_file, out = sys.argv[1], sys.argv[2], sys.argv[3]
    import numpy as np
    import lstm_engine as le

    def status(key):
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024

    lines = json.load(open(lines_file))
    threads = int(sys.argv[5])
    if threads:  # torch's threads for every mode (the engine's fused path runs torch.lstm)
        import torch
        torch.set_num_threads(threads)
    model = le.load(sys.argv[4])
    model.trace(lines[0])  # warm: imports and first-call costs are not the recording's
    if mode == "torch":
        import torch
        if not threads:
            torch.set_num_threads(1)
        x = model.trace("".join(lines)).x
    base = status("RssAnon")
    peak = [base]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], status("RssAnon"))
            time.sleep(0.005)

    threading.Thread(target=sample, daemon=True).start()
    t0 = time.perf_counter()
    if mode == "corpus":
        corpus = le.record_corpus(model, lines, path=out)
        steps = corpus.whole.T
    elif mode == "one":
        tr = model.trace("".join(lines))
        tr.save(out)
        steps = tr.T
    else:
        w = model.spec.weights[0][0]
        H = model.spec.hidden_size
        lstm = torch.nn.LSTM(x.shape[1], H)
        with torch.no_grad():
            for name, a in (("weight_ih_l0", w.W_ih), ("weight_hh_l0", w.W_hh),
                            ("bias_ih_l0", w.b_ih), ("bias_hh_l0", w.b_hh)):
                getattr(lstm, name).copy_(torch.from_numpy(np.asarray(a)))
            t0 = time.perf_counter()
            lstm(torch.from_numpy(np.ascontiguousarray(x))[:, None])
        steps = x.shape[0]
    seconds = time.perf_counter() - t0
    done.set()
    peak[0] = max(peak[0], status("RssAnon"))
    size = os.path.getsize(out) if os.path.exists(out) else 0
    print(json.dumps({"s": seconds, "anon": peak[0] - base, "hwm": status("VmHWM"),
                      "steps": steps, "bytes": size}))
""")

_MATCH_CHILD = textwrap.dedent(r"""
    import json, sys, time
    import numpy as np
    import lstm_engine as le
    t0 = time.perf_counter()
    corpus = le.open_corpus(sys.argv[1])
    opened = time.perf_counter() - t0
    k = len(corpus) // 2
    start, stop = corpus.bounds(k)
    stop = min(stop, start + 6)
    t0 = time.perf_counter()
    sel = le.select_units(corpus, start, stop)
    select_s = time.perf_counter() - t0
    units = list(sel.units) or [0, 1]
    times = []
    t0 = time.perf_counter()
    on = le.unit_on_mask(corpus)
    found = le.match(corpus, units, on=on)
    first = time.perf_counter() - t0
    for _ in range(5):
        t0 = time.perf_counter()
        found = le.match(corpus, units, on=on)
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    le.match(corpus, [11, 14])
    fresh = time.perf_counter() - t0
    print(json.dumps({"open": opened, "select": select_s, "first": first, "again": times,
                      "fresh_11_14": fresh, "units": units, "found": len(found),
                      "inputs": len(corpus), "steps": corpus.whole.T}))
""")


def corpus_lines(tokens: int) -> list[str]:
    """Non-blank lines of the repository's Python source until they hold `tokens` characters
    (the last one cut to fit)."""
    lines, total = [], 0
    for path in sorted((ROOT / "lstm_engine").rglob("*.py")) + sorted((ROOT / "lstm_tui").rglob("*.py")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            line = line[: tokens - total]
            lines.append(line)
            total += len(line)
            if total >= tokens:
                return lines
    raise SystemExit(f"the source holds only {total} characters")


def child(code: str, *args, threads: int = 0) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if threads:  # numpy's BLAS too: a model's head is one matrix product per input
        env.update(OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    out = subprocess.run([PY, "-c", code, *map(str, args)], capture_output=True, text=True,
                         cwd=ROOT, env=env)  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def spread(values, unit="s", scale=1.0, fmt="{:.2f}") -> str:
    v = [x * scale for x in values]
    return f"{fmt.format(statistics.median(v))} {unit} ({fmt.format(min(v))}–{fmt.format(max(v))})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", metavar="DIR", help="write the files here (default: a temp dir)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch and BLAS threads in every process (default 1, as the torch "
                    "baseline; 0: their defaults)")  # fmt: skip
    args = ap.parse_args()
    lines = corpus_lines(args.tokens)
    folder = Path(args.keep or tempfile.mkdtemp(prefix="bench_corpus_"))
    folder.mkdir(parents=True, exist_ok=True)
    lines_file = folder / "lines.json"
    lines_file.write_text(json.dumps(lines))
    print(f"corpus: {len(lines)} inputs (lines of this repository's source), "
          f"{sum(map(len, lines)):,} tokens, charlm (LSTM 32→256, float32); torch threads "
          f"{args.threads or 'default'}; load {os.getloadavg()[0]:.1f}")
    runs: dict[str, list[dict]] = {"corpus": [], "one": [], "torch": []}
    for r in range(args.repeat):
        for mode in runs:
            out = folder / f"{mode}.npz"
            if out.exists():
                out.unlink()
            runs[mode].append(child(_CHILD, mode, lines_file, out, CHARLM, args.threads,
                                    threads=args.threads))  # fmt: skip
    torch_s = statistics.median(r["s"] for r in runs["torch"])
    for mode, what in (("corpus", "corpus, one input a line, into its file"),
                       ("one", "the same tokens as one input, trace + save"),
                       ("torch", "torch.nn.LSTM forward, one sequence, 1 thread")):  # fmt: skip
        rs = runs[mode]
        med = statistics.median(r["s"] for r in rs)
        line = (f"{what:47s} {spread([r['s'] for r in rs])}, ÷ torch {med / torch_s:5.1f}; "
                f"peak anon {spread([r['anon'] for r in rs], 'MB', 1e-6, '{:.0f}')}, "
                f"VmHWM {spread([r['hwm'] for r in rs], 'MB', 1e-6, '{:.0f}')}")  # fmt: skip
        if rs[0]["bytes"]:
            line += f", {rs[0]['bytes'] / rs[0]['steps']:.0f} B/step on disk"
        print(line)
    c, o = (statistics.median(r["s"] for r in runs[m]) for m in ("corpus", "one"))
    ca, oa = (statistics.median(r["anon"] for r in runs[m]) for m in ("corpus", "one"))
    print(f"corpus ÷ one input: time {c / o:.2f}, peak anonymous memory {ca / max(oa, 1):.2f}")
    m = child(_MATCH_CHILD, folder / "corpus.npz", threads=args.threads)
    print(f"match on the corpus file ({m['inputs']} inputs, {m['steps']:,} steps): open "
          f"{m['open'] * 1e3:.0f} ms, select {m['select'] * 1e3:.0f} ms (units {m['units']}), "
          f"first match {m['first'] * 1e3:.0f} ms (thresholding every step), again "
          f"{spread(m['again'], 'ms', 1e3, '{:.0f}')}, match of units 11,14 from nothing "
          f"{m['fresh_11_14'] * 1e3:.0f} ms; {m['found']} matches (goal: under 500 ms)")


if __name__ == "__main__":
    main()
