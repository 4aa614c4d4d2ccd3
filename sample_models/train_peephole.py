"""Train peephole.pt: an LSTM with peephole connections on a timing task.

Gers & Schmidhuber (2000) added peepholes, connections from the cell state
c to the gates, because a gate that can see c can act when a counter stored
in c reaches a threshold; without them the gates see only h = o·tanh(c),
which is hidden while the output gate is shut. Their test was timing; this is
their "generate timed spikes" task (Gers, Schraudolph & Schmidhuber 2002):

    input  x_t = 1 at a single cue (at a random step in 0..19), 0 otherwise (1 feature)
    target "spike" every PERIOD steps after the cue (cue+15, cue+30, ...), "quiet" elsewhere

    lstm PeepholeLSTM(1, 4) → head Linear(4, 2) → log_softmax over ("quiet", "spike")

The network has no clock: it must count the steps in its own cell state and
start counting again after each spike, for as long as the sequence lasts.

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
seeds, and prints both scores: a sequence counts as right only if every
spike comes at exactly the right step and nothing fires anywhere else. It
trains on 100-step sequences and is also scored on 300-step ones.

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

SEED = 3
HIDDEN = 4
PERIOD = 15
T_TRAIN = 100
STEPS, BATCH, LR = 1500, 32, 1e-2
COMPARE_SEEDS = (3, 4, 5, 6, 7, 8)
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


class Timer2Spike(nn.Module):
    def __init__(self, peephole: bool = True):
        super().__init__()
        self.lstm = PeepholeLSTM(1, HIDDEN, peephole)
        self.head = nn.Linear(HIDDEN, 2)

    def forward(self, x):  # x (T, B, 1) -> log-probs (T, B, 2)
        return F.log_softmax(self.head(self.lstm(x)), dim=-1)


def make_batch(rng: np.random.Generator, n: int, T: int):
    """One cue per sequence at a random step in 0..19; spikes every PERIOD steps after it."""
    x = np.zeros((T, n, 1), np.float32)
    y = np.zeros((T, n), np.int64)
    for b in range(n):
        t = int(rng.integers(0, 20))
        x[t, b, 0] = 1.0
        y[t + PERIOD :: PERIOD, b] = 1
    return torch.from_numpy(x), torch.from_numpy(y)


def spike_times(cue: int, T: int) -> list[int]:
    return list(range(cue + PERIOD, T, PERIOD))


def sequence_accuracy(model, x, y) -> tuple[float, float]:
    """(fraction of sequences exactly right, fraction of spikes at exactly the right step)."""
    with torch.no_grad():
        pred = model(x).argmax(-1)
    seq = (pred == y).all(0).float().mean().item()
    hits = ((pred == 1) & (y == 1)).sum().item() / max(1, (y == 1).sum().item())
    return seq, hits


def train(peephole: bool, seed: int, timer: Timer, verbose: bool) -> Timer2Spike:
    seed_everything(seed)
    rng = np.random.default_rng(seed)
    model = Timer2Spike(peephole)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=LR)
    weight = torch.tensor([1.0, 10.0])  # spikes are rare
    for step in range(STEPS):
        x, y = make_batch(rng, BATCH, T_TRAIN)
        logp = model(x)
        loss = F.nll_loss(logp.reshape(-1, 2), y.reshape(-1), weight=weight)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if verbose and (step % 250 == 0 or step == STEPS - 1):
            log(f"  step {step:5d}  loss {loss.item():.4f}  [{timer}]")
    return model


def main() -> None:
    args = parse_args("peephole", __doc__)
    timer = Timer()
    test_rng = np.random.default_rng(12345)
    x_test, y_test = make_batch(test_rng, 500, T_TRAIN)
    x_long, y_long = make_batch(test_rng, 200, 300)

    if args.from_state:
        seed_everything(SEED)
        model = Timer2Spike(True)
        model.load_state_dict(torch.load(args.state, weights_only=True))
        log(f"loaded trained state from {args.state}")
        scores = None
    else:
        scores = {}
        model = None
        for peephole in (True, False):
            for seed in COMPARE_SEEDS:
                log(f"training {'with' if peephole else 'without'} peepholes, seed {seed}")
                m = train(peephole, seed, timer, verbose=(seed == SEED))
                scores[peephole, seed] = sequence_accuracy(m, x_test, y_test) + sequence_accuracy(m, x_long, y_long)
                log(f"  seed {seed}: exact sequences {scores[peephole, seed][0]:.3f}, spikes on time "
                    f"{scores[peephole, seed][1]:.3f}; 300-step sequences {scores[peephole, seed][2]:.3f} / "
                    f"{scores[peephole, seed][3]:.3f}  [{timer}]")
                if peephole and seed == SEED:
                    model = m
                    torch.save(m.state_dict(), args.state)
        log("summary (held-out: exact sequences, spikes on time; 300-step: same):")
        for peephole in (True, False):
            s = np.array([scores[peephole, sd] for sd in COMPARE_SEEDS])
            log(f"  {'with' if peephole else 'without'} peepholes: per seed "
                + "; ".join(f"{a:.3f}/{b:.3f}, {c:.3f}/{d:.3f}" for a, b, c, d in s)
                + f"; mean exact {s[:, 0].mean():.3f}, long {s[:, 2].mean():.3f}")
    train_time = str(timer)

    seq, hits = sequence_accuracy(model, x_test, y_test)
    seq_l, hits_l = sequence_accuracy(model, x_long, y_long)
    log(f"saved model: held-out 100-step sequences exactly right {seq:.3f} (spikes on time {hits:.3f}); "
        f"300-step sequences {seq_l:.3f} ({hits_l:.3f})")

    examples = []
    for cue, T in ((5, 80), (12, 300)):
        ex = np.zeros((T, 1), np.float32)
        ex[cue, 0] = 1.0
        examples.append(ex.tolist())
        with torch.no_grad():
            spikes = torch.nonzero(model(torch.tensor(ex)[:, None]).argmax(-1)[:, 0] == 1).flatten().tolist()
        log(f"example cue at {cue}, {T} steps -> spikes at {spikes} (want {spike_times(cue, T)})")

    from lstm_engine import LSTMSpec, CellWeights, save_checkpoint

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
        f"Peephole LSTM (Gers & Schmidhuber 2000) on their timing task 'generate timed spikes': the input "
        f"is 1 at a single cue; the model must output 'spike' every {PERIOD} steps after it (cue+{PERIOD}, "
        f"cue+{2 * PERIOD}, ...) and 'quiet' everywhere else, counting in its own cell state. H={HIDDEN}. "
        f"Held-out 100-step sequences exactly right: {seq:.1%}; 300-step sequences (trained on 100): "
        f"{seq_l:.1%}.{compare} Watch c count the steps and the gates, which see c through their "
        f"peepholes, fire and reset it on time."
    )
    log(description)
    save_checkpoint(
        model, args.out, peephole_lstms={"lstm": spec}, lstms=["lstm"], head="head", embedding=None,
        labels=list(LABELS), tokenizer=None, output="log_softmax", examples=examples,
        description=description, name="peephole", overwrite=args.force,
    )
    log(f"saved {args.out} ({os.path.getsize(args.out)} bytes); training {train_time}, total {timer}")


if __name__ == "__main__":
    main()
