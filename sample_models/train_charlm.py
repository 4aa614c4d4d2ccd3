"""Train charlm.pt: a character-level language model of Python source.

Karpathy's "Visualizing and Understanding Recurrent Networks" found single
LSTM units that track whether the model is inside a string, or how deep it is
in brackets. This sample reproduces that on text every machine running this
project already has: the Python standard library's own source (the `*.py`
files next to `os.py` of the interpreter that runs this script). Every 10th
file (sorted by name) is held out for evaluation and for the unit search.

    embedding Embedding(V, 32) → lstm LSTM(32, 256) → head Linear(256, V) → log_softmax

Training: truncated BPTT over 64 parallel streams of 128 characters, hidden
state carried between chunks, Adam with cosine decay, one CPU thread (1800
steps: 8 minutes on an idle core, 14 on a shared one). Afterwards the script
measures held-out bits per character and correlates every unit's cell state
c, and tanh(c), with features of the text computed by Python's own tokenizer
(inside a one-line string, inside a triple-quoted string, inside a comment,
bracket depth, indentation, column), and writes the best units into the
checkpoint's description.

    python sample_models/train_charlm.py [--force] [--from-state]
"""

from __future__ import annotations

import io
import math
import os
import sys
import tokenize
from collections import Counter
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Timer, log, parse_args, seed_everything  # noqa: E402

SEED = 7
EMB, HIDDEN = 32, 256
BATCH, BPTT = 64, 128
ITERS = 1800
LR, LR_MIN = 3e-3, 1e-4
MIN_COUNT = 20  # rarer characters become <unk>
UNK = "<unk>"
ANALYSIS_CHARS = 40_000


class CharLM(nn.Module):
    def __init__(self, vocab_size: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, EMB)
        self.lstm = nn.LSTM(EMB, HIDDEN)
        self.head = nn.Linear(HIDDEN, vocab_size)

    def forward(self, x, state=None):  # x (T, B) -> log-probs (T, B, V)
        out, state = self.lstm(self.embedding(x), state)
        return F.log_softmax(self.head(out), dim=-1), state


def stdlib_files() -> tuple[list[Path], list[Path]]:
    """(train, held-out) source files of the running interpreter's stdlib."""
    root = Path(os.__file__).parent
    files = sorted(p for p in root.glob("*.py") if not p.name.startswith("_sysconfigdata"))
    held = [p for k, p in enumerate(files) if k % 10 == 5]
    train = [p for k, p in enumerate(files) if k % 10 != 5]
    return train, held


def read(p: Path) -> str:
    return p.read_text(encoding="utf-8", errors="replace")


def text_features(src: str) -> dict[str, np.ndarray]:
    """Per character, what is true *after reading it*, from Python's tokenizer.

    in_string: inside a string literal (opening quote read, closing not yet),
    split into in_short_string (one-line quotes) and in_docstring (triple quotes);
    in_comment: inside a # comment; depth: open ( [ { minus closed ones;
    indent: leading spaces of the current line / 4; col: column in the line.
    """
    n = len(src)
    line_starts = [0]
    for k, ch in enumerate(src):
        if ch == "\n":
            line_starts.append(k + 1)

    def off(rc):
        return line_starts[rc[0] - 1] + rc[1]

    in_string = np.zeros(n)
    in_short = np.zeros(n)
    in_triple = np.zeros(n)
    in_comment = np.zeros(n)
    ddepth = np.zeros(n + 1)
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(src).readline))
    except tokenize.TokenError:  # a snippet cut inside a bracket: keep what was read
        tokens = []
        gen = tokenize.generate_tokens(io.StringIO(src).readline)
        try:
            for tok in gen:
                tokens.append(tok)
        except tokenize.TokenError:
            pass
    for tok in tokens:
        if tok.start[0] > len(line_starts):
            break
        a, b = off(tok.start), off(tok.end)
        if tok.type == tokenize.STRING:
            in_string[a : b - 1] = 1
            quotes = tok.string.lstrip("rbufRBUF")[:3]
            (in_triple if quotes in ('"""', "'''") else in_short)[a : b - 1] = 1
        elif tok.type == tokenize.COMMENT:
            in_comment[a:b] = 1
        elif tok.type == tokenize.OP and tok.string in "([{":
            ddepth[a] += 1
        elif tok.type == tokenize.OP and tok.string in ")]}":
            ddepth[a] -= 1
    depth = np.cumsum(ddepth[:n])
    col = np.zeros(n)
    indent = np.zeros(n)
    for s, e in zip(line_starts, line_starts[1:] + [n]):
        line = src[s:e]
        lead = len(line) - len(line.lstrip(" "))
        col[s:e] = np.arange(e - s)
        # while the leading spaces are being read, the indentation so far
        indent[s:e] = np.minimum(np.arange(e - s) + 1, lead) / 4
    return {"in_string": in_string, "in_short_string": in_short, "in_docstring": in_triple,
            "in_comment": in_comment, "depth": depth,
            "indent": indent, "col": col}


def snippet(src: str, marker: str, length: int) -> str:
    """From the first `marker` line, about `length` chars, ending at a line end."""
    a = src.index(marker) + 1 if marker.startswith("\n") else src.index(marker)
    b = src.index("\n", a + length)
    return src[a:b + 1]


def main() -> None:
    args = parse_args("charlm", __doc__)
    seed_everything(SEED)
    timer = Timer()

    train_files, held_files = stdlib_files()
    train_text = "\n".join(read(p) for p in train_files)
    held_texts = [read(p) for p in held_files]
    held_text = "\n".join(held_texts)
    counts = Counter(train_text)
    vocab = sorted(ch for ch, n in counts.items() if n >= MIN_COUNT) + [UNK]
    index = {ch: k for k, ch in enumerate(vocab)}
    unk = index[UNK]

    def encode(s: str) -> torch.Tensor:
        return torch.tensor([index.get(ch, unk) for ch in s], dtype=torch.long)

    log(f"stdlib: {Path(os.__file__).parent}  train files {len(train_files)} "
        f"({len(train_text)} chars), held-out files {len(held_files)} ({len(held_text)} chars), "
        f"vocab {len(vocab)}")

    model = CharLM(len(vocab))
    if args.from_state:
        model.load_state_dict(torch.load(args.state, weights_only=True))
        log(f"loaded trained state from {args.state}")
    else:
        data = encode(train_text)
        per = len(data) // BATCH
        streams = data[: per * BATCH].view(BATCH, per).t().contiguous()  # (per, B)
        opt = torch.optim.Adam(model.parameters(), lr=LR)
        state = None
        pos = 0
        model.train()
        for it in range(ITERS):
            lr = LR_MIN + 0.5 * (LR - LR_MIN) * (1 + math.cos(math.pi * it / ITERS))
            for g in opt.param_groups:
                g["lr"] = lr
            if pos + BPTT + 1 > per:
                pos, state = 0, None
            x = streams[pos : pos + BPTT]
            y = streams[pos + 1 : pos + BPTT + 1]
            pos += BPTT
            if state is not None:
                state = tuple(s.detach() for s in state)
            logp, state = model(x, state)
            loss = F.nll_loss(logp.reshape(-1, len(vocab)), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            if it % 100 == 0 or it == ITERS - 1:
                log(f"iter {it:5d}  lr {lr:.5f}  train bpc {loss.item() / math.log(2):.3f}  [{timer}]")
        torch.save(model.state_dict(), args.state)
        log(f"training done in {timer}; state saved to {args.state}")
    train_time = str(timer)

    # (b) evaluate: held-out bits per char, stateful over 64 streams.
    model.eval()
    with torch.no_grad():
        data = encode(held_text)
        per = len(data) // BATCH
        streams = data[: per * BATCH].view(BATCH, per).t().contiguous()
        logp, _ = model(streams[:-1])
        nll = -logp.gather(-1, streams[1:].unsqueeze(-1)).squeeze(-1)
        bpc = nll.mean().item() / math.log(2)
        acc = (logp.argmax(-1) == streams[1:]).float().mean().item()
    log(f"held-out: {bpc:.3f} bits/char, next-char accuracy {acc:.3f} over {nll.numel()} chars")

    # Unit search with the engine itself: c for every char of held-out files.
    from lstm_engine import trace_lstm

    feats: dict[str, list] = {}
    pieces = []
    total = 0
    for src in held_texts:
        if total >= ANALYSIS_CHARS:
            break
        for k, v in text_features(src).items():
            feats.setdefault(k, []).append(v)
        pieces.append(src)
        total += len(src)
    text = "".join(pieces)
    F_ = {k: np.concatenate(v) for k, v in feats.items()}
    with torch.no_grad():
        x = model.embedding(encode(text))
    tr = trace_lstm(model.lstm, x)
    # c itself, and tanh(c) (what the output gate exposes), which hides c's rare large excursions
    views = {"c": tr.series("c", 0, 0).astype(np.float64), "tanh c": tr.series("tanh_c", 0, 0).astype(np.float64)}
    best = {}
    for name, v in F_.items():
        vz = (v - v.mean()) / (v.std() + 1e-9)
        found = []
        for what, a in views.items():
            az = (a - a.mean(0)) / (a.std(0) + 1e-9)
            r = az.T @ vz / len(vz)
            found += [(abs(r[u]), int(u), float(r[u]), what) for u in np.argsort(-np.abs(r))[:3]]
        found.sort(reverse=True)
        best[name] = [(u, r, what) for _, u, r, what in found[:4]]
        log(f"feature {name:15s} best units (unit, r, of): "
            + ", ".join(f"{u}: {r:+.3f} ({what})" for u, r, what in best[name]))
    log(f"unit search over {len(text)} held-out chars of {len(pieces)} files")

    # Examples: real held-out code, several hundred chars, and one long one.
    by_name = {p.name: s for p, s in zip(held_files, held_texts)}
    examples = [
        snippet(by_name["bisect.py"], "\ndef ", 400),
        snippet(by_name["_weakrefset.py"], "\nclass ", 600),
        snippet(by_name["dataclasses.py"], "\ndef _repr_fn", 2400),
    ]
    for ex in examples:
        with torch.no_grad():
            lp, _ = model(encode(ex).unsqueeze(1))
            ids = encode(ex)
            ex_bpc = -lp[:-1, 0].gather(-1, ids[1:, None]).mean().item() / math.log(2)
            ex_acc = (lp[:-1, 0].argmax(-1) == ids[1:]).float().mean().item()
        log(f"example {len(ex)} chars {ex.splitlines()[0][:40]!r}: bpc {ex_bpc:.3f}, acc {ex_acc:.3f}")

    # the units the debugger names (the strongest correlations; docstrings are too weak)
    UNIT_NAMES = {"in_comment": "comment", "depth": "bracket depth", "col": "column",
                  "indent": "indent", "in_short_string": "string"}  # fmt: skip

    def unit_words(name, what):
        u, r, of = best[name][0]
        return f"unit {u} ({what}, r={r:+.2f} for {of})"

    description = (
        "Character-level language model of Python source, trained on the Python "
        f"{sys.version_info.major}.{sys.version_info.minor} standard library (every 10th file held out); "
        f"held-out {bpc:.2f} bits/char, next-char accuracy {acc:.0%}. The output at each step is the "
        "distribution over the next character. Units whose cell state c tracks the code: "
        + "; ".join([
            unit_words("in_short_string", "inside a one-line string literal"),
            unit_words("in_docstring", "inside a triple-quoted string"),
            unit_words("in_comment", "inside a comment"),
            unit_words("depth", "bracket depth"),
            unit_words("indent", "indentation"),
            unit_words("col", "column in the line"),
        ])
        + " (Pearson r with the feature over held-out text). See sample_models/README.md."
    )
    log(description)

    # (c) save
    from lstm_engine import save_checkpoint

    save_checkpoint(
        model, args.out, vocab=vocab, labels=vocab, unk=UNK, tokenizer="chars",
        examples=examples, output="log_softmax", embedding="embedding", lstms=["lstm"],
        head="head", description=description, name="charlm", overwrite=args.force,
        units={best[k][0][0]: name for k, name in UNIT_NAMES.items()},
    )
    log(f"saved {args.out} ({os.path.getsize(args.out)} bytes); training {train_time}, total {timer}")


if __name__ == "__main__":
    main()
