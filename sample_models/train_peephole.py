"""Train peephole.pt: an LSTM with peephole connections on a timing task.

Gers & Schmidhuber (2000) added peepholes, connections from the cell state
c to the gates, because a gate that can see c can act when a counter stored
in c reaches a threshold; without them the gates see only h = o·tanh(c),
which is hidden while the output gate is shut. Their test was timing; this is
a one-shot version of their timing tasks (Gers, Schraudolph & Schmidhuber
2002), "spike exactly DELAY steps after the cue, once":

    input  x_t = 1 at a single cue (at a random step in 0..19), 0 otherwise (1 feature)
    target "spike" at cue+DELAY only, "quiet" before it and at every step after it

    lstm PeepholeLSTM(1, HIDDEN) → head Linear(HIDDEN, 2) → log_softmax over ("quiet", "spike")

The network has no clock: it must count the steps since the cue in its own
cell state, fire at the count, and then stay quiet for good. With two units
a plain LSTM cannot keep one output gate open as a visible clock without
costing it the output, which is where peepholes pay: over seeds 0-5 the
peephole cell gets 52% of held-out sequences exactly right on average, the
same cell without them 24% (README). Settings that did not separate the two
cells, measured the same way, are not used: Gers' periodic "generate timed
spikes" with 4 units (17% vs 23%) and this task with a 40-step delay and 4
units (61% vs 65%).

The cell is hand-written in torch (autograd) with exactly the engine's
equations (lstm_engine/cell.py):

    i = σ(W_ii x + b_ii + W_hi h + b_hi + p_i ⊙ c_{t-1})
    f = σ(W_if x + b_if + W_hf h + b_hf + p_f ⊙ c_{t-1})
    g = tanh(W_ig x + b_ig + W_hg h + b_hg)
    c = f ⊙ c_{t-1} + i ⊙ g
    o = σ(W_io x + b_io + W_ho h + b_ho + p_o ⊙ c)
    h = o ⊙ tanh(c)

and saved with its peephole weights, so opening it needs no torch module:
the engine's peephole cell computes it. The script trains the same cell with
the peepholes fixed at zero (an ordinary LSTM) under the same budget and
seeds, and prints both scores: a sequence counts as right only if the spike
comes at exactly the right step and nothing fires anywhere else. It trains
on T_TRAIN-step sequences and is also scored on T_LONG-step ones (a long
quiet tail after the spike). The peephole run with the best held-out score
is saved (ties go to the lower seed).

    python sample_models/train_peephole.py [--force] [--from-state]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Timer, log, parse_args, seed_everything  # noqa: E402

HIDDEN = 2
DELAY = 20
MAX_CUE = 20  # cues at steps 0..19
T_TRAIN = 60
T_LONG = 200
STEPS, BATCH, LR = 2500, 32, 1e-2
LR_DROP = 0.7  # the last 30% of the batches run at LR / 10
COMPARE_SEEDS = (0, 1, 2, 3, 4, 5)
LABELS = ("quiet", "spike")


class PeepholeLSTM(nn.Module):
    """One layer, one direction, torch-named weights plus the three peephole diagonals."""

    def __init__(self, input_size: int, hidden_size: int, peephole: bool = True):
        super().__init__()
        H = hidden_size
        k = 1 / np.sqrt(H)
        u = lambda *s: nn.Parameter(torch.empty(*s).uniform_(-k, k))  # noqa: E731
        self.weight_ih_l0 = u(4 * H, input_size)
        self.weight_hh_l0 = u(4 * H, H)
        self.bias_ih_l0 = u(4 * H)
        self.bias_hh_l0 = u(4 * H)
        self.peephole = peephole
        p = (lambda: u(H)) if peephole else (lambda: nn.Parameter(torch.zeros(H), requires_grad=False))
        self.peephole_i_l0, self.peephole_f_l0, self.peephole_o_l0 = p(), p(), p()
        self.hidden_size = H

    def forward(self, x, keep=False):
        """x (T, B, in) -> h (T, B, H); with keep, also every gate and c as (T, B, H)."""
        T, B, _ = x.shape
        H = self.hidden_size
        h = x.new_zeros(B, H)
        c = x.new_zeros(B, H)
        zx = x @ self.weight_ih_l0.T + self.bias_ih_l0 + self.bias_hh_l0  # (T, B, 4H)
        hs, rec = [], {k: [] for k in "ifgoc"}
        for t in range(T):
            z = zx[t] + h @ self.weight_hh_l0.T
            zi, zf, zg, zo = z.split(H, dim=1)
            i = torch.sigmoid(zi + self.peephole_i_l0 * c)
            f = torch.sigmoid(zf + self.peephole_f_l0 * c)
            g = torch.tanh(zg)
            c = f * c + i * g
            o = torch.sigmoid(zo + self.peephole_o_l0 * c)
            h = o * torch.tanh(c)
            hs.append(h)
            if keep:
                for k, v in zip("ifgoc", (i, f, g, o, c)):
                    rec[k].append(v)
        out = torch.stack(hs)
        return (out, {k: torch.stack(v) for k, v in rec.items()}) if keep else out


class DelayedSpike(nn.Module):
    def __init__(self, peephole: bool = True):
        super().__init__()
        self.lstm = PeepholeLSTM(1, HIDDEN, peephole)
        self.head = nn.Linear(HIDDEN, 2)

    def forward(self, x):  # x (T, B, 1) -> log-probs (T, B, 2)
        return F.log_softmax(self.head(self.lstm(x)), dim=-1)


def spike_times(cue: int, T: int) -> list[int]:
    """The one step that should say "spike" (none if the sequence ends first)."""
    return [cue + DELAY] if cue + DELAY < T else []


def make_batch(rng: np.random.Generator, n: int, T: int):
    """One cue per sequence at a random step in 0..MAX_CUE-1; one spike DELAY steps after it."""
    x = np.zeros((T, n, 1), np.float32)
    y = np.zeros((T, n), np.int64)
    for b in range(n):
        cue = int(rng.integers(0, MAX_CUE))
        x[cue, b, 0] = 1.0
        y[spike_times(cue, T), b] = 1
    return torch.from_numpy(x), torch.from_numpy(y)


def sequence_accuracy(model, x, y) -> tuple[float, float]:
    """(fraction of sequences exactly right, fraction whose most spike-like step is the right one)."""
    with torch.no_grad():
        logp = model(x)
    pred = logp.argmax(-1)
    seq = (pred == y).all(0).float().mean().item()
    peak = (logp[..., 1].argmax(0) == y.argmax(0)).float().mean().item()
    return seq, peak


def train(peephole: bool, seed: int, timer: Timer, verbose: bool) -> DelayedSpike:
    seed_everything(seed)
    rng = np.random.default_rng(seed)
    model = DelayedSpike(peephole)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=LR)
    drop = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.1 if s >= STEPS * LR_DROP else 1.0)
    weight = torch.tensor([1.0, 10.0])  # one spike per sequence: weigh it up
    for step in range(STEPS):
        x, y = make_batch(rng, BATCH, T_TRAIN)
        logp = model(x)
        loss = F.nll_loss(logp.reshape(-1, 2), y.reshape(-1), weight=weight)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        drop.step()
        if verbose and (step % 500 == 0 or step == STEPS - 1):
            log(f"  step {step:5d}  loss {loss.item():.4f}  [{timer}]")
    return model


def main() -> None:
    args = parse_args("peephole", __doc__)
    timer = Timer()
    test_rng = np.random.default_rng(12345)
    x_test, y_test = make_batch(test_rng, 500, T_TRAIN)
    x_long, y_long = make_batch(test_rng, 200, T_LONG)

    scores = None
    if args.from_state:
        seed_everything(0)
        model = DelayedSpike(True)
        model.load_state_dict(torch.load(args.state, weights_only=True))
        log(f"loaded trained state from {args.state}")
        saved_seed = None
    else:
        scores = {}
        model, saved_seed = None, None
        for peephole in (True, False):
            for seed in COMPARE_SEEDS:
                log(f"training {'with' if peephole else 'without'} peepholes, seed {seed}")
                m = train(peephole, seed, timer, verbose=False)
                s = sequence_accuracy(m, x_test, y_test) + sequence_accuracy(m, x_long, y_long)
                scores[peephole, seed] = s
                log(f"  seed {seed}: exact sequences {s[0]:.3f}, spike peak on time {s[1]:.3f}; "
                    f"{T_LONG}-step sequences {s[2]:.3f} / {s[3]:.3f}  [{timer}]")
                if peephole and (saved_seed is None or s[0] + s[2] > sum(scores[True, saved_seed][::2])):
                    model, saved_seed = m, seed
                    torch.save(m.state_dict(), args.state)
        log(f"summary (held-out {T_TRAIN}-step: exact sequences / peak on time; {T_LONG}-step: same):")
        for peephole in (True, False):
            s = np.array([scores[peephole, sd] for sd in COMPARE_SEEDS])
            log(f"  {'with' if peephole else 'without'} peepholes: per seed "
                + "; ".join(f"{a:.3f}/{b:.3f}, {c:.3f}/{d:.3f}" for a, b, c, d in s)
                + f"; mean exact {s[:, 0].mean():.3f}, long {s[:, 2].mean():.3f}")
        log(f"saving the peephole run of seed {saved_seed}")
    train_time = str(timer)

    seq, peak = sequence_accuracy(model, x_test, y_test)
    seq_l, peak_l = sequence_accuracy(model, x_long, y_long)
    log(f"saved model: held-out {T_TRAIN}-step sequences exactly right {seq:.3f} (peak on time {peak:.3f}); "
        f"{T_LONG}-step sequences {seq_l:.3f} ({peak_l:.3f})")

    examples = []
    for cue, T in ((5, T_TRAIN), (12, T_LONG)):
        ex = np.zeros((T, 1), np.float32)
        ex[cue, 0] = 1.0
        examples.append(ex.tolist())
        with torch.no_grad():
            spikes = torch.nonzero(model(torch.tensor(ex)[:, None]).argmax(-1)[:, 0] == 1).flatten().tolist()
        log(f"example cue at {cue}, {T} steps -> spikes at {spikes} (want {spike_times(cue, T)})")

    from lstm_engine import CellWeights, LSTMSpec, save_checkpoint

    L = model.lstm
    npy = lambda p: p.detach().numpy().copy()  # noqa: E731
    spec = LSTMSpec(weights=((CellWeights(
        W_ih=npy(L.weight_ih_l0), W_hh=npy(L.weight_hh_l0), b_ih=npy(L.bias_ih_l0), b_hh=npy(L.bias_hh_l0),
        p_i=npy(L.peephole_i_l0), p_f=npy(L.peephole_f_l0), p_o=npy(L.peephole_o_l0)),),))
    compare = ""
    if scores is not None:
        w = np.mean([scores[True, s][0] for s in COMPARE_SEEDS])
        wo = np.mean([scores[False, s][0] for s in COMPARE_SEEDS])
        compare = (f" Same cell and budget over seeds {list(COMPARE_SEEDS)}: {w:.0%} of held-out sequences "
                   f"exactly right with peepholes, {wo:.0%} without.")
    description = (
        f"Peephole LSTM (Gers & Schmidhuber 2000) on a timing task: the input is 1 at a single cue; the model "
        f"must output 'spike' exactly {DELAY} steps after it, once, and 'quiet' everywhere else, counting in "
        f"its own cell state. H={HIDDEN}. Held-out {T_TRAIN}-step sequences exactly right: {seq:.1%}; "
        f"{T_LONG}-step sequences (trained on {T_TRAIN}): {seq_l:.1%}.{compare} Watch c count the steps and "
        f"the gates, which see c through their peepholes, fire on time."
    )
    log(description)
    save_checkpoint(
        model, args.out, peephole_lstms={"lstm": spec}, lstms=["lstm"], head="head", embedding=None,
        labels=list(LABELS), tokenizer=None, output="log_softmax", examples=examples,
        description=description, name="peephole", overwrite=args.force,
        units={0: "clock", 1: "spike"},
    )
    log(f"saved {args.out} ({os.path.getsize(args.out)} bytes); training {train_time}, total {timer}")


if __name__ == "__main__":
    main()
