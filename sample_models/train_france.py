"""Train france.pt: the seed's long-range example, "I grew up in France … I speak fluent ___".

The article's point is that the cell state is a conveyor belt: the country
is written into c once, the forget gate stays near 1 while unrelated clauses
go by, and the language is read out many steps later. This script builds that
situation and then finds the units that actually do it.

Data (generated): "I grew up in <country>" (or "I was born in", "I was raised
in"), then 0–30 tokens of unrelated clauses ("and my brother bought a red car
every day ..."), then "and I speak fluent". The label is the country's
language. The loss is only on the last token ("fluent"), so nothing but the
cell state can carry the country there. Filler words are replaced by <unk>
now and then so that words the model never saw do not derail it.

    embedding Embedding(V, 16) → lstm LSTM(16, 16) → head Linear(16, 8 languages) → log_softmax

The forget-gate bias starts at +5 (Jozefowicz et al. 2015 argue for a positive
start; a large one makes the remembering units plain to see): trained from
there, the units that carry the country keep f ≈ 0.99 through the filler.

Evaluation: accuracy on held-out sentences whose filler is 35–60 tokens,
longer than anything seen in training. Then, over those sentences, every
unit's cell state in the filler span: how well it separates the countries,
and its mean forget gate there. The best units go into the description.

    python sample_models/train_france.py [--force] [--from-state]
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Timer, log, parse_args, seed_everything  # noqa: E402

SEED = 1
EMB, HIDDEN = 16, 16
TRAIN_SPAN = (0, 30)
TEST_SPAN = (35, 60)
STEPS, BATCH, LR, WEIGHT_DECAY = 3000, 64, 3e-3, 0.01
FORGET_BIAS = 5.0  # initial forget-gate bias: units start out remembering
UNK = "<unk>"
UNK_RATE = 0.03

COUNTRIES = {
    "France": "French",
    "Spain": "Spanish",
    "Germany": "German",
    "Italy": "Italian",
    "Japan": "Japanese",
    "Russia": "Russian",
    "Greece": "Greek",
    "Poland": "Polish",
}
OPENINGS = (("I", "grew", "up", "in"), ("I", "was", "born", "in"), ("I", "was", "raised", "in"))
SUBJECTS = ("my brother", "my sister", "the teacher", "our neighbour", "my friend", "the dog",
            "we", "they", "she", "he", "my father", "the children")
VERBS = ("likes", "bought", "painted", "found", "cooked", "visited", "watched", "sold",
         "cleaned", "forgot", "carried", "loved")
OBJECTS = ("a red car", "the old house", "some bread", "the garden", "a small boat",
           "the big market", "many books", "the football match", "a green bicycle",
           "the river", "our kitchen", "a long letter")
ADVERBIALS = ("every day", "last summer", "on sunday", "in the morning", "at night",
              "with a smile", "very slowly", "after school")
WEATHER = ("the weather was cold", "it rained a lot", "the sun was warm", "the winters were long")
CONNECTIVES = ("and", "then", "but")
ENDING = ("and", "I", "speak", "fluent")


def clause(rng: random.Random) -> list[str]:
    if rng.random() < 0.15:
        words = rng.choice(WEATHER)
    else:
        words = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}"
        if rng.random() < 0.5:
            words += " " + rng.choice(ADVERBIALS)
    return [rng.choice(CONNECTIVES)] + words.split()


def filler(rng: random.Random, lo: int, hi: int) -> list[str]:
    """Whole clauses, between lo and hi tokens in total (retrying until it fits)."""
    while True:
        target = rng.randint(lo, hi)
        span: list[str] = []
        while True:
            c = clause(rng)
            if len(span) + len(c) > target:
                break
            span += c
        if lo <= len(span) <= hi:
            return span


def sentence(rng: random.Random, span: tuple[int, int], country: str | None = None):
    """(tokens, language, (first, last) filler token indices)."""
    country = country or rng.choice(list(COUNTRIES))
    head = list(rng.choice(OPENINGS)) + [country]
    fill = filler(rng, *span)
    toks = head + fill + list(ENDING)
    return toks, COUNTRIES[country], (len(head), len(head) + len(fill))


class Fluent(nn.Module):
    def __init__(self, vocab_size: int, n_labels: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, EMB)
        self.lstm = nn.LSTM(EMB, HIDDEN)
        self.head = nn.Linear(HIDDEN, n_labels)

    def forward(self, x):  # x (T, B) -> log-probs (T, B, n_labels)
        out, _ = self.lstm(self.embedding(x))
        return F.log_softmax(self.head(out), dim=-1)


def build_vocab() -> list[str]:
    words = set()
    for group in (OPENINGS, [ENDING]):
        for ws in group:
            words.update(ws)
    for group in (SUBJECTS, VERBS, OBJECTS, ADVERBIALS, WEATHER, CONNECTIVES):
        for phrase in group:
            words.update(phrase.split())
    words.update(COUNTRIES)
    return sorted(words) + [UNK]


def main() -> None:
    args = parse_args("france", __doc__)
    seed_everything(SEED)
    timer = Timer()
    rng = random.Random(SEED)
    vocab = build_vocab()
    labels = sorted(set(COUNTRIES.values()))
    index = {w: k for k, w in enumerate(vocab)}
    lab_index = {w: k for k, w in enumerate(labels)}
    filler_words = set(vocab) - set(COUNTRIES) - set(ENDING) - {w for o in OPENINGS for w in o} - {UNK}

    def batch(n, span, drop=0.0):
        sents = [sentence(rng, span) for _ in range(n)]
        T = max(len(s[0]) for s in sents)
        x = torch.zeros(T, n, dtype=torch.long)
        for b, (toks, _, (a, z)) in enumerate(sents):
            ids = [index[w] for w in toks]
            for k in range(a, z):
                if drop and toks[k] in filler_words and rng.random() < drop:
                    ids[k] = index[UNK]
            x[: len(ids), b] = torch.tensor(ids)
        last = torch.tensor([len(s[0]) - 1 for s in sents])
        y = torch.tensor([lab_index[s[1]] for s in sents])
        return x, last, y, sents

    model = Fluent(len(vocab), len(labels))
    if args.from_state:
        model.load_state_dict(torch.load(args.state, weights_only=True))
        log(f"loaded trained state from {args.state}")
    else:
        with torch.no_grad():
            model.lstm.bias_ih_l0[HIDDEN : 2 * HIDDEN] += FORGET_BIAS
        opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
        for step in range(STEPS):
            x, last, y, _ = batch(BATCH, TRAIN_SPAN, UNK_RATE)
            logp = model(x)[last, torch.arange(BATCH)]  # the prediction after "fluent"
            loss = F.nll_loss(logp, y)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            if step % 250 == 0 or step == STEPS - 1:
                acc = (logp.argmax(-1) == y).float().mean().item()
                log(f"step {step:5d}  loss {loss.item():.4f}  batch acc {acc:.3f}  [{timer}]")
        torch.save(model.state_dict(), args.state)
        log(f"training done in {timer}; state saved to {args.state}")
    train_time = str(timer)

    # (b) evaluate on fresh sentences, in-range and longer than training.
    rng.seed(SEED + 1000)
    model.eval()
    results = {}
    for name, span in (("train-range 0-30", TRAIN_SPAN), ("held-out 35-60", TEST_SPAN),
                       ("held-out 61-100", (61, 100))):
        x, last, y, _ = batch(2000, span)
        with torch.no_grad():
            pred = model(x)[last, torch.arange(len(y))].argmax(-1)
        results[name] = (pred == y).float().mean().item()
        log(f"accuracy {name}: {results[name]:.4f} (2000 sentences)")
    test_acc = results["held-out 35-60"]

    # The units that carry the country: trace held-out long sentences with the engine.
    from lstm_engine import trace_lstm

    # The same filler after every country, so that only the country differs.
    rng.seed(SEED + 2000)
    names = list(COUNTRIES)
    n_fill = 30
    c_mean = np.zeros((n_fill, len(names), HIDDEN))  # mean c over the filler
    c_start = np.zeros_like(c_mean)  # c just after reading the country
    c_end = np.zeros_like(c_mean)  # c at the last filler word
    f_span, i_span = [], []
    for n in range(n_fill):
        opening, fill = list(rng.choice(OPENINGS)), filler(rng, *TEST_SPAN)
        a, z = len(opening) + 1, len(opening) + 1 + len(fill)
        for k, country in enumerate(names):
            toks = opening + [country] + fill + list(ENDING)
            with torch.no_grad():
                emb = model.embedding(torch.tensor([index[w] for w in toks]))
            tr = trace_lstm(model.lstm, emb)
            c = tr.series("c", 0, 0)
            c_mean[n, k], c_start[n, k], c_end[n, k] = c[a:z].mean(0), c[a - 1], c[z - 1]
            f_span.append(tr.series("f", 0, 0)[a:z].mean(0))
            i_span.append(tr.series("i", 0, 0)[a:z].mean(0))
    f_mean = np.stack(f_span).mean(0)
    i_mean = np.stack(i_span).mean(0)
    sep = c_mean.mean(0).var(0) / (c_mean.var(0).mean(0) + 1e-9)  # between / within countries

    def margin(k):
        """Per unit: by how much country k's c beats every other country's, in the worst filler."""
        me, rest = c_mean[:, k], np.delete(c_mean, k, axis=1)
        up, down = (me - rest.max(1)).min(0), (rest.min(1) - me).min(0)
        return np.maximum(up, down), np.where(up >= down, 1, -1)

    def row(u):
        return ", ".join(f"{c} {c_start[:, k, u].mean():+.2f}/{c_mean[:, k, u].mean():+.2f}/"
                         f"{c_end[:, k, u].mean():+.2f}" for k, c in enumerate(names))

    log(f"all units, mean f over the filler: {np.array2string(f_mean, precision=3)}")
    log(f"all units, mean i over the filler: {np.array2string(i_mean, precision=3)}")
    log(f"{n_fill} held-out fillers of {TEST_SPAN[0]}-{TEST_SPAN[1]} tokens, each after every country; "
        "c after the country / mean over the filler / at the last filler word:")
    for u in np.argsort(-sep)[:4]:
        log(f"  unit {u:2d}: separation {sep[u]:6.1f}, mean f {f_mean[u]:.3f}, mean i {i_mean[u]:.3f}; {row(u)}")
    log("the unit that singles out each country (its c above/below all others in every filler, worst margin):")
    own = {}
    for k, country in enumerate(names):
        m, side = margin(k)
        u = int(np.argmax(m))
        own[country] = (u, float(m[u]), int(side[u]))
        log(f"  {country:8s} unit {u:2d} {'highest' if side[u] > 0 else 'lowest '} margin {m[u]:+.2f}, "
            f"mean f {f_mean[u]:.3f}")
    u, fr_margin, fr_side = own["France"]
    log(f"France unit {u}: {row(u)}")
    others = c_mean[:, 1:, u].mean(0)

    top = [int(v) for v in np.argsort(-sep)[:3]]
    description = (
        "The seed's long-range example: \"I grew up in France ... I speak fluent ___\". Sentences name a "
        "country, then 0-30 tokens of unrelated clauses in training, then 'and I speak fluent'; the output "
        "after 'fluent' is the language (loss only there). Accuracy on held-out spans of 35-60 tokens: "
        f"{test_acc:.1%}. The country rides the cell state: unit {u} is the France unit. With the same "
        f"clauses after each country, its c over the filler is {'higher' if fr_side > 0 else 'lower'} for "
        f"France than for any other country in every one of {n_fill} held-out fillers (by at least "
        f"{fr_margin:.2f}; mean {c_mean[:, 0, u].mean():+.2f} for France, {others.min():+.2f} to "
        f"{others.max():+.2f} for the others), and its forget gate averages {f_mean[u]:.3f} over the filler. "
        "Units " + ", ".join(str(v) for v in top)
        + " separate all eight countries best (mean forget gate "
        + ", ".join(f"{f_mean[v]:.3f}" for v in top)
        + "). Step to 'fluent' and watch them hold while the clauses go by."
    )
    log(description)

    rng.seed(SEED + 3000)
    examples = [
        "I grew up in France and my brother bought a red car every day and the weather was cold "
        "then we visited the old house after school but my friend cooked some bread in the morning "
        "and I speak fluent",
    ]
    for country in ("Japan", "Spain", "Germany"):
        toks, _, _ = sentence(rng, (40, 50), country)
        examples.append(" ".join(toks))
    for ex in examples:
        with torch.no_grad():
            lp = model(torch.tensor([[index[w]] for w in ex.split()]))[-1, 0]
        log(f"example ({len(ex.split())} tokens) -> {labels[int(lp.argmax())]} "
            f"p={lp.exp().max().item():.3f}: {ex[:60]}...")

    from lstm_engine import save_checkpoint

    save_checkpoint(
        model, args.out, vocab=vocab, labels=labels, unk=UNK, tokenizer="words",
        examples=examples, output="log_softmax", embedding="embedding", lstms=["lstm"],
        head="head", description=description, name="france", focus={"unit": u},
        overwrite=args.force,
    )
    log(f"saved {args.out} ({os.path.getsize(args.out)} bytes); training {train_time}, total {timer}")


if __name__ == "__main__":
    main()
