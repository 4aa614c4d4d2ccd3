"""Train france.pt: the seed's long-range example, "I grew up in France … I speak fluent ___".

The article's point is that the cell state is a conveyor belt: the country
is written into c once, the forget gate stays near 1 while unrelated clauses
go by, and the language is read out many steps later. This script builds that
situation, and makes the article's stronger claim true as well: the model
stores France in one place of the cell, so that wiping that one unit right
after "France" (lstm_engine.Ablate) takes "French" away.

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

Trained plainly, the country ends up spread over several units, and no single
ablation changes the answer (the previous france.pt: every one left French on,
p ≥ 0.77). So each training sentence also runs twice more with one unit
ablated from the country word on (c and h zeroed after every step, the
engine's Ablate): the unit that the country word wrote into most (largest
|c_t − c_t−1| at the country step), where the loss asks the model not to know
the language any more (−log(1 − p(right))), and one other unit at random, where
it must still know it (unit dropout). Nothing names a unit: the model picks
where each country goes, and the evaluation finds it by ablation.

Trained with those terms alone, the France unit also takes a small write from
nearly every filler word (c drifted to −23 by "fluent"), so the country's
write was one of many and not the largest part of what the unit held there.
An L1 penalty on every unit's write |i·g| at every step but the country's
(and a lighter one at the country step, so that a country writes only where
it must) makes the units conveyor belts: written once, then kept.

Evaluation: accuracy on held-out sentences whose filler is 35–60 tokens,
longer than anything seen in training. Then, on held-out fillers traced with
the engine: the causal evidence (every unit ablated from "France" on with
lstm_engine.branch, the head run on the branch: how often the answer stays
French), the provenance one (lstm_engine.provenance at "fluent": which step's
surviving write into the France unit is largest) and the correlational one
(the France unit's c over the filler, per country, with the same clauses after
each country). All three go into the description.

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
STEPS, BATCH, LR, WEIGHT_DECAY = 2000, 64, 3e-3, 0.01
# loss weights: with the unit the country wrote into ablated, do not know the language; with any
# other one unit ablated, still know it (unit dropout)
FORGET_WRITTEN, KEEP_OTHERS = 1.0, 1.0
# L1 weights on what every unit writes (|i·g|, summed over units): at every step but the country's,
# so that a unit writes the country once and keeps it (provenance at "fluent" points at the country
# step), and, more lightly, at the country step, so that a country writes only where it must
WRITE_ELSEWHERE, WRITE_AT_COUNTRY = 1.0, 0.05
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


def run_ablated(model: "Fluent", x: torch.Tensor, pos: torch.Tensor, keep: torch.Tensor):
    """The LSTM's h (T, B, H) with c and h multiplied by keep (B, H) after every step t ≥ pos[b].

    torch.nn.LSTM cannot zero a unit in the middle of a sequence, so this is its
    equations step by step (gates i, f, g, o as torch orders them); a 0 in keep
    is lstm_engine.Ablate(unit, from_t=pos). The c of every step comes back too,
    for the write at the country step, and each step's write i·g, for its penalty.
    """
    lstm, H = model.lstm, model.lstm.hidden_size
    zx = model.embedding(x) @ lstm.weight_ih_l0.T + (lstm.bias_ih_l0 + lstm.bias_hh_l0)
    h = torch.zeros(x.shape[1], H)
    c = torch.zeros(x.shape[1], H)
    hs, cs, ws = [], [], []
    for t in range(x.shape[0]):
        i, f, g, o = (zx[t] + h @ lstm.weight_hh_l0.T).chunk(4, -1)
        ws.append(torch.sigmoid(i) * torch.tanh(g))
        c = torch.sigmoid(f) * c + ws[-1]
        h = torch.sigmoid(o) * torch.tanh(c)
        on = (t >= pos)[:, None]
        c, h = torch.where(on, c * keep, c), torch.where(on, h * keep, h)
        hs.append(h)
        cs.append(c)
    return torch.stack(hs), torch.stack(cs), torch.stack(ws)


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
    opening_words = {w for o in OPENINGS for w in o}
    filler_words = set(vocab) - set(COUNTRIES) - set(ENDING) - opening_words - {UNK}

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
        n, H = BATCH, HIDDEN
        for step in range(STEPS):
            x, last, y, sents = batch(n, TRAIN_SPAN, UNK_RATE)
            pos = torch.tensor([a - 1 for _, _, (a, _) in sents])  # the country word
            with torch.no_grad():  # where the country word wrote most: |c_t - c_t-1| there
                _, c, _ = run_ablated(model, x[: int(pos.max()) + 1], pos, torch.ones(n, H))
                b = torch.arange(n)
                written = (c[pos, b] - c[pos - 1, b]).abs().argmax(-1)
            other = (written + torch.randint(1, H, (n,))) % H
            keep = torch.ones(3 * n, H)
            keep[n + b, written] = 0
            keep[2 * n + b, other] = 0
            hs, _, ws = run_ablated(model, x.repeat(1, 3), pos.repeat(3), keep)
            steps = torch.arange(x.shape[0])[:, None]
            elsewhere = (steps <= last) & (steps != pos)  # (T, n): the sentence, but the country
            writes = ws[:, :n].abs().sum(-1)  # (T, n): summed over units
            spill = (writes * elsewhere).sum() / elsewhere.sum()
            at_country = writes[pos, b].mean()
            logp = F.log_softmax(model.head(hs[last.repeat(3), torch.arange(3 * n)]), -1)
            p_written = logp[n : 2 * n].gather(1, y[:, None]).exp().squeeze(1)
            forget = -torch.log1p(-p_written.clamp(max=1 - 1e-6)).mean()
            loss = F.nll_loss(logp[:n], y) + (
                FORGET_WRITTEN * forget + KEEP_OTHERS * F.nll_loss(logp[2 * n :], y)
                + WRITE_ELSEWHERE * spill + WRITE_AT_COUNTRY * at_country)  # fmt: skip
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            if step % 250 == 0 or step == STEPS - 1:
                acc = (logp[:n].argmax(-1) == y).float().mean().item()
                log(f"step {step:5d}  loss {loss.item():.4f}  batch acc {acc:.3f}  p(right) with "
                    f"the written unit ablated {p_written.mean().item():.3f}  Σ|i·g| off the "
                    f"country {spill.item():.3f}, at it {at_country.item():.3f}  [{timer}]")
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
    log(f"{n_fill} held-out fillers of {TEST_SPAN[0]}-{TEST_SPAN[1]} tokens, each after every "
        "country; c after the country / mean over the filler / at the last filler word:")
    for u in np.argsort(-sep)[:4]:
        log(f"  unit {u:2d}: separation {sep[u]:6.1f}, mean f {f_mean[u]:.3f}, "
            f"mean i {i_mean[u]:.3f}; {row(u)}")
    log("the unit that singles out each country (its c above/below all others in every filler, "
        "worst margin):")
    for k, country in enumerate(names):
        m, side = margin(k)
        u = int(np.argmax(m))
        log(f"  {country:8s} unit {u:2d} {'highest' if side[u] > 0 else 'lowest '} "
            f"margin {m[u]:+.2f}, mean f {f_mean[u]:.3f}")

    # Causal evidence, with the engine: ablate each unit from the country word on (a branch of
    # the trace) and run the head on the branch's h. Fresh held-out fillers, France in front.
    from lstm_engine import Ablate, branch

    def head_on(h: np.ndarray) -> np.ndarray:
        """The model's log-probabilities at the last step, from an LSTM output h (T, H)."""
        with torch.no_grad():
            return F.log_softmax(model.head(torch.from_numpy(np.array(h[-1]))), -1).numpy()

    def ablations(toks: list[str], pos: int) -> np.ndarray:
        """(H, n_labels) log-probabilities after 'fluent' with each unit ablated from pos on."""
        with torch.no_grad():
            emb = model.embedding(torch.tensor([index[w] for w in toks]))
        tr = trace_lstm(model.lstm, emb)
        return np.stack([head_on(branch(tr, [Ablate(unit=v, from_t=pos)]).h[0, 0])
                         for v in range(HIDDEN)])  # fmt: skip

    fr = lab_index["French"]
    rng.seed(SEED + 4000)
    n_causal = 100
    held_out = [sentence(rng, TEST_SPAN, "France") for _ in range(n_causal)]
    lp = np.stack([ablations(toks, a - 1) for toks, _, (a, _) in held_out])
    kept = (lp.argmax(-1) == fr).mean(0)  # per unit: the answer stays French
    p_fr = np.exp(lp[:, :, fr]).mean(0)
    u = int(np.argmin(kept))
    counts = np.bincount(lp[:, u].argmax(-1), minlength=len(labels))
    went = {labels[k]: int(v) for k, v in enumerate(counts) if v}
    rest = np.delete(kept, u)
    log(f"ablation from 'France' on, {n_causal} held-out fillers of {TEST_SPAN[0]}-{TEST_SPAN[1]} "
        "tokens (engine branch + head): | unit | kept French | mean p(French) |")
    for v in range(HIDDEN):
        log(f"| {v} | {kept[v]:.0%} | {p_fr[v]:.3f} |")
    log(f"France unit {u}: answer away from French on {1 - kept[u]:.0%} ({went}); the other "
        f"{HIDDEN - 1} units keep it French on {rest.min():.0%}-{rest.max():.0%} of the fillers")

    # Provenance evidence, with the engine: at 'fluent', which step wrote what unit u holds
    # (each step's write times the forget gates since; lstm_engine.provenance).
    from lstm_engine import provenance

    def largest_write(toks: list[str]) -> tuple[int, np.ndarray]:
        """The position whose surviving write into unit u at the last step is largest, and all."""
        with torch.no_grad():
            tr = trace_lstm(model.lstm, model.embedding(torch.tensor([index[w] for w in toks])))
        p = provenance(tr, 0, 0, tr.T - 1, u)
        return int(p.positions[p.largest]), np.asarray(p.contributions)

    prov = [largest_write(toks) for toks, _, _ in held_out]
    from_country = np.mean([at == a - 1 for (at, _), (_, _, (a, _)) in zip(prov, held_out)])
    share = np.mean([abs(cs[a - 1]) / np.abs(cs).sum() for (_, cs), (_, _, (a, _)) in
                     zip(prov, held_out)])  # fmt: skip
    runner_up = np.mean([np.abs(np.delete(cs, a - 1)).max() for (_, cs), (_, _, (a, _)) in
                         zip(prov, held_out)])  # fmt: skip
    at_country = np.mean([cs[a - 1] for (_, cs), (_, _, (a, _)) in zip(prov, held_out)])
    log(f"provenance of unit {u} at 'fluent', {n_causal} held-out fillers: the largest "
        f"contribution is the country step's on {from_country:.0%}; its share of sum "
        f"|contribution| {share:.2f}, mean {at_country:+.2f} (the largest other step's "
        f"|contribution| {runner_up:.2f})")

    # Every country's own unit, the same way, on the shared fillers above (first 10).
    rng.seed(SEED + 2000)
    shared = [(list(rng.choice(OPENINGS)), filler(rng, *TEST_SPAN)) for _ in range(n_fill)][:10]
    for k, country in enumerate(names):
        lpk = np.stack([ablations(o + [country] + f + list(ENDING), len(o)) for o, f in shared])
        kk = (lpk.argmax(-1) == lab_index[COUNTRIES[country]]).mean(0)
        log(f"  {country:8s} ablating unit {int(np.argmin(kk)):2d} keeps {kk.min():.0%} right; "
            f"the other units at least {np.delete(kk, np.argmin(kk)).min():.0%}")

    # Correlational evidence for that unit: its c over the filler, France against the others.
    side = 1 if c_mean[:, 0, u].mean() > np.delete(c_mean[:, :, u], 0, 1).mean() else -1
    gap = side * (c_mean[:, 0, u] - (np.delete(c_mean[:, :, u], 0, 1).max(1) if side > 0
                                     else np.delete(c_mean[:, :, u], 0, 1).min(1)))  # fmt: skip
    extreme = int((gap > 0).sum())
    others = c_mean[:, 1:, u].mean(0)
    log(f"France unit {u}: c after the country / mean over the filler / at the last filler word: "
        f"{row(u)}")
    log(f"its c over the filler is {'highest' if side > 0 else 'lowest'} for France in {extreme} "
        f"of {n_fill} fillers (worst margin {gap.min():+.2f}); mean f {f_mean[u]:.3f}")
    log("| country | after country | mean over filler | last filler word |")
    for k in np.argsort(-side * c_mean[:, :, u].mean(0)):
        log(f"| {names[k]} | {c_start[:, k, u].mean():+.2f} | {c_mean[:, k, u].mean():+.2f} | "
            f"{c_end[:, k, u].mean():+.2f} |")

    spread = f"{rest.min():.0%}" if rest.min() == rest.max() else \
        f"{rest.min():.0%} to {rest.max():.0%}"  # fmt: skip
    where = f"in every one of {n_fill}" if extreme == n_fill else f"in {extreme} of {n_fill}"
    description = (
        "The seed's long-range example: \"I grew up in France ... I speak fluent ___\". Sentences "
        "name a country, then 0-30 tokens of unrelated clauses in training, then 'and I speak "
        "fluent'; the output after 'fluent' is the language (loss only there). Accuracy on "
        f"held-out spans of 35-60 tokens: {test_acc:.1%}. The country rides the cell state, in one "
        f"place: unit {u} is the France unit. With the same clauses after each country, its c "
        f"over the filler is {'higher' if side > 0 else 'lower'} for France than for any other "
        f"country {where} held-out fillers (mean {c_mean[:, 0, u].mean():+.2f} for France, "
        f"{others.min():+.2f} to {others.max():+.2f} for the others), and its forget gate averages "
        f"{f_mean[u]:.3f} over the filler. Ablating unit {u} from 'France' on (c and h zeroed, a "
        f"branch) turns the answer away from French on {1 - kept[u]:.0%} of {n_causal} held-out "
        f"fillers; ablating any other single unit leaves it French on {spread} of them. And at "
        f"'fluent', what unit {u} holds was written at 'France': its largest surviving write "
        f"(provenance) is the country step's on {from_country:.0%} of them. It was trained for "
        "that: each training sentence also ran with the unit the country wrote into most ablated "
        "(where it must not know the language) and with another unit ablated (where it must), and "
        "an L1 penalty on every unit's writes away from the country word. Step to 'fluent' and "
        f"watch unit {u} hold while the clauses go by; ablate it at 'France' and French goes."
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
    # What the first example shows on screen, at the France unit, and with it ablated.
    first = examples[0].split()
    with torch.no_grad():
        tr = trace_lstm(model.lstm, model.embedding(torch.tensor([index[w] for w in first])))
    c, f = tr.series("c", 0, 0)[:, u], tr.series("f", 0, 0)[:, u]
    at, mid = first.index("France"), len(first) // 2
    gone = head_on(branch(tr, [Ablate(unit=u, from_t=at)]).h[0, 0])
    log(f"first example, unit {u}: c {c[at]:+.2f} at 'France' (step {at + 1}), {c[mid]:+.2f} at "
        f"step {mid + 1} ('{first[mid]}'), {c[-1]:+.2f} at 'fluent'; mean f over the filler "
        f"{f[at + 1 : len(first) - len(ENDING)].mean():.3f}; ablated from 'France' on: "
        f"{labels[int(gone.argmax())]} p={np.exp(gone.max()):.3f}, "
        f"p(French)={np.exp(gone[fr]):.3f}")
    japan = ["Japan" if w == "France" else w for w in first]
    with torch.no_grad():
        trj = trace_lstm(model.lstm, model.embedding(torch.tensor([index[w] for w in japan])))
    cj = trj.series("c", 0, 0)[:, u]
    p = provenance(tr, 0, 0, tr.T - 1, u)
    top = np.argsort(-np.abs(p.contributions))[:3]
    log(f"first example, provenance of unit {u} at 'fluent' (c {p.c:+.3f}, initial "
        f"{p.initial:+.3f}): largest " + ", ".join(
            f"'{first[int(p.positions[k])]}' (step {int(p.positions[k]) + 1}) "
            f"{p.contributions[k]:+.3f}" for k in top))  # fmt: skip
    log(f"the same sentence with Japan: unit {u}'s c {cj[at]:+.2f} at 'Japan', {cj[-1]:+.2f} at "
        "'fluent'")

    from lstm_engine import save_checkpoint

    save_checkpoint(
        model, args.out, vocab=vocab, labels=labels, unk=UNK, tokenizer="words",
        examples=examples, output="log_softmax", embedding="embedding", lstms=["lstm"],
        head="head", description=description, name="france", focus={"unit": u},
        units={u: "France"}, overwrite=args.force,
    )
    log(f"saved {args.out} ({os.path.getsize(args.out)} bytes); training {train_time}, "
        f"total {timer}")


if __name__ == "__main__":
    main()
