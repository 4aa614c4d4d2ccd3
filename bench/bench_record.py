"""Recording a trace into its file, and `lstm-tui record`, measured (issue 16's store goals).

    python bench/bench_record.py [--quick] [--repeat N] [--keep DIR]

1. Memory: record L1 H1024 T100000 float32, and L2 bidirectional H1024 T20000, straight into
   a trace file (store.TraceFile as record()'s buffers), each in a fresh process; the peak
   anonymous memory (RssAnon, sampled every 5 ms from /proc/self/status) above what the
   process held before recording (goal: at most 1 GB), the time, the same forward through
   torch.nn.LSTM (one thread on both sides) and their ratio, bytes per step on disk.
2. Opening that 100,000-step H1024 file with Trace.load (goal: well under 1 s), and a
   first paint's reads: extent() of every quantity and one step's values.
3. `lstm-tui record` of charlm's example 3 against `python -c "import torch"`, interleaved,
   medians (goal: at most 1.3x), and the time split (import, trace, save) with today's
   uncompressed save and with --compress (what every save was before).
4. `lstm-tui record` of a 100,000-character input of charlm (goal: under 10 s), and the
   size of what it writes, uncompressed and compressed.

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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
LSTM_TUI = str(Path(PY).with_name("lstm-tui"))
CHARLM = ROOT / "sample_models" / "charlm.pt"

#: One recording into a file, in a fresh process; prints one JSON line.
_RECORD_CHILD = textwrap.dedent(r"""
    import json, os, sys, threading, time
    import numpy as np
    L, D, H, T, folder, with_torch = (int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
                                      int(sys.argv[4]), sys.argv[5], sys.argv[6] == "1")
    from lstm_engine import LSTMSpec, Trace, record
    from lstm_engine.core.store import TraceFile

    def rss_anon():
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024

    spec = LSTMSpec.random(64, H, num_layers=L, bidirectional=D == 2, seed=0, dtype=np.float32)
    x = np.random.default_rng(0).standard_normal((T, 64)).astype(np.float32)
    path = os.path.join(folder, f"L{L}D{D}H{H}T{T}.npz")
    if os.path.exists(path):
        os.unlink(path)
    base = rss_anon()
    peak = [base]
    done = threading.Event()

    def sample():
        while not done.wait(0.005):
            peak[0] = max(peak[0], rss_anon())

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    t0 = time.perf_counter()
    with TraceFile(path) as out:
        tr = record(spec, x, buffers=out)
        t1 = time.perf_counter()
        tr = out.commit(tr)
    t2 = time.perf_counter()
    done.set()
    watcher.join()
    peak[0] = max(peak[0], rss_anon())
    del tr
    size = os.path.getsize(path)
    out = {"record_s": t1 - t0, "commit_s": t2 - t1, "total_s": t2 - t0,
           "peak_anon_above_base": peak[0] - base, "base_anon": base, "file_bytes": size,
           "bytes_per_step": size / T, "path": path}
    if with_torch:  # the same forward in torch, after the measurement (its output is anonymous)
        import torch
        torch.set_num_threads(1)
        lstm = torch.nn.LSTM(64, H, num_layers=L, bidirectional=D == 2)
        with torch.no_grad():
            xt = torch.from_numpy(x)[:, None]
            t3 = time.perf_counter()
            lstm(xt)
            out["torch_s"] = time.perf_counter() - t3
    print(json.dumps(out))
""")

_OPEN_CHILD = textwrap.dedent(r"""
    import json, sys, time
    t0 = time.perf_counter()
    from lstm_engine import Trace, VALUE_NAMES
    t1 = time.perf_counter()
    tr = Trace.load(sys.argv[1])
    t2 = time.perf_counter()
    for name in VALUE_NAMES:
        tr.extent(name, 0, 0)
    row = tr.value("c", 0, 0, tr.T // 2), tr.value("kept", 0, 0, tr.T - 1)
    t3 = time.perf_counter()
    print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "first_paint_reads_s": t3 - t2,
                      "T": tr.T}))
""")

#: `lstm-tui record`'s phases, in process: import, trace, save (either form).
_SPLIT_CHILD = textwrap.dedent(r"""
    import json, os, sys, time
    t0 = time.perf_counter()
    import torch
    from lstm_engine import open_and_trace
    t1 = time.perf_counter()
    opened = open_and_trace(sys.argv[1], example=3)
    t2 = time.perf_counter()
    path = sys.argv[2]
    if os.path.exists(path):
        os.unlink(path)
    opened.trace.save(path, compress=sys.argv[3] == "1")
    t3 = time.perf_counter()
    print(json.dumps({"import_s": t1 - t0, "trace_s": t2 - t1, "save_s": t3 - t2,
                      "bytes": os.path.getsize(path), "T": opened.trace.T}))
""")


def _child(code: str, *args) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    res = subprocess.run([PY, "-c", code, *map(str, args)], capture_output=True, text=True,
                         env=env, cwd=ROOT)  # fmt: skip
    if res.returncode:
        raise SystemExit(f"child failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _timed(cmd: list[str]) -> float:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    elapsed = time.perf_counter() - t0
    if res.returncode:
        raise SystemExit(f"{' '.join(cmd[:3])} … failed:\n{res.stderr}")
    return elapsed


def _spread(xs) -> str:
    return f"{statistics.median(xs):.3f} s ({min(xs):.3f}–{max(xs):.3f}, n={len(xs)})"


def _gb(n: float) -> str:
    return f"{n / 2**30:.3f} GiB"


def _load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def bench_memory(folder: Path, quick: bool, configs: list[str], torch: bool) -> str | None:
    print("\n## 1. recording into a file: peak anonymous memory above the process before it")
    sizes = {"L1": (1, 1, 1024, 100_000), "L2bi": (2, 2, 1024, 20_000)}
    big = None
    for key in configs:
        L, D, H, T = sizes[key]
        T = T // 10 if quick else T
        r = _child(_RECORD_CHILD, L, D, H, T, folder, int(torch))
        name = f"L{L}{' bi' if D == 2 else ''} H{H} T{T} float32"
        vs = (f"; torch.nn.LSTM forward {r['torch_s']:.2f} s: ratio "
              f"{r['total_s'] / r['torch_s']:.2f}" if torch else "")  # fmt: skip
        print(f"{name:28} peak RssAnon +{_gb(r['peak_anon_above_base'])} (goal ≤ 1 GB; the "
              f"process held {_gb(r['base_anon'])} before), record {r['record_s']:.2f} s + "
              f"commit (extents, CRCs, directory, fsync) {r['commit_s']:.2f} s{vs}; file "
              f"{_gb(r['file_bytes'])}, {r['bytes_per_step']:,.0f} bytes/step", flush=True)  # fmt: skip
        if L == 1:
            big = r["path"]
    return big


def bench_open(path: str, repeat: int) -> None:
    print(f"\n## 2. opening {Path(path).name} (Trace.load, fresh process each time)")
    runs = [_child(_OPEN_CHILD, path) for _ in range(repeat)]
    print(f"Trace.load              {_spread([r['load_s'] for r in runs])}  (T={runs[0]['T']})")
    print(f"extent() of all 14 quantities + two steps' values  "
          f"{_spread([r['first_paint_reads_s'] for r in runs])}")
    print(f"import lstm_engine      {_spread([r['import_s'] for r in runs])}")


def bench_cli(folder: Path, repeat: int) -> None:
    print(f"\n## 3. lstm-tui record {CHARLM.name} --example 3 (2,405 steps) vs python -c 'import "
          "torch' (interleaved)")
    out = folder / "charlm3.npz"
    rec, imp = [], []
    for _ in range(repeat):
        imp.append(_timed([PY, "-c", "import torch"]))
        rec.append(_timed([LSTM_TUI, "record", str(CHARLM), "--example", "3", "-o", str(out),
                           "--force"]))  # fmt: skip
    print(f"import torch            {_spread(imp)}")
    print(f"lstm-tui record         {_spread(rec)}   ratio {statistics.median(rec) / statistics.median(imp):.2f} (goal ≤ 1.3)")
    for compress in (True, False):
        runs = [_child(_SPLIT_CHILD, CHARLM, folder / f"split{compress}.npz", int(compress))
                for _ in range(repeat)]  # fmt: skip
        what = "before (compressed, as every save was)" if compress else "now (uncompressed)"
        print(f"split, {what:40} import {statistics.median([r['import_s'] for r in runs]):.3f} s, "
              f"trace {statistics.median([r['trace_s'] for r in runs]):.3f} s, save "
              f"{_spread([r['save_s'] for r in runs])}, {runs[0]['bytes'] / runs[0]['T']:,.0f} "
              "bytes/step")  # fmt: skip


def bench_long_text(folder: Path, chars: int, repeat: int) -> None:
    print(f"\n## 4. lstm-tui record {CHARLM.name} on a {chars:,}-character input")
    import os as _os

    src = Path(_os.__file__).parent
    text = ""
    for f in sorted(src.glob("*.py")):
        text += f.read_text(errors="replace")
        if len(text) >= chars:
            break
    text = "".join(ch if ch.isascii() else " " for ch in text[:chars])
    text_file = folder / "long.txt"
    text_file.write_text(text)
    for flag in ([], ["--compress"]):
        out = folder / f"long{''.join(flag)}.npz"
        times = [_timed([LSTM_TUI, "record", str(CHARLM), "--text", text, "-o", str(out),
                         "--force", *flag]) for _ in range(repeat)]  # fmt: skip
        size = out.stat().st_size
        print(f"record {' '.join(flag) or '(uncompressed)':16} {_spread(times)} (goal < 10 s); "
              f"{size / 1e6:.0f} MB, {size / chars:,.0f} bytes/step")
        opens = [_child(_OPEN_CHILD, out)["load_s"] for _ in range(repeat)]
        print(f"  Trace.load            {_spread(opens)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a tenth of the sizes")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--keep", metavar="DIR", help="write the files in this folder")
    ap.add_argument("--only", choices=("memory", "cli", "long"), action="append",
                    help="run only these parts (repeatable; memory includes opening)")
    ap.add_argument("--configs", default="L1,L2bi", help="memory configs: L1, L2bi")
    ap.add_argument("--no-torch", action="store_true", help="skip torch's forward beside them")
    args = ap.parse_args()
    parts = set(args.only or ("memory", "cli", "long"))
    print(f"# bench_record  (load average {_load()}, {os.cpu_count()} cores)", flush=True)
    with tempfile.TemporaryDirectory(dir=args.keep) as tmp:
        folder = Path(tmp)
        if "memory" in parts:
            big = bench_memory(folder, args.quick, args.configs.split(","), not args.no_torch)
            if big:
                bench_open(big, args.repeat)
        if "cli" in parts:
            bench_cli(folder, args.repeat)
        if "long" in parts:
            bench_long_text(folder, 10_000 if args.quick else 100_000, max(1, args.repeat // 2))
    print(f"\n(load average at the end {_load()})")


if __name__ == "__main__":
    main()
