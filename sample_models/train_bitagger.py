"""Train bitagger.pt: a 2-layer bidirectional LSTM tagger for words only the right context can tag.

In "I saw her duck under the table" and "I saw her duck swim in the lake"
everything up to "duck" is the same, yet "her" and "duck" get different tags
(PRON VERB vs DET NOUN). A left-to-right LSTM has to tag "duck" before it has
seen what decides it; the backward direction has already read the rest of
the sentence. This sample makes that the task, from a small generated grammar
whose ambiguous words are decided by what follows them:

    "the school trains the new students"  trains = VERB
    "the school trains leave early"       trains = NOUN   (next word is a verb)
    "I saw her duck under the table"      her = PRON, duck = VERB
    "I saw her duck swim in the lake"     her = DET,  duck = NOUN
    "the old man the boats"               old = NOUN, man = VERB
    "the old man rows the boat"           old = ADJ,  man = NOUN

plus plain sentences. Tags: DET NOUN VERB ADJ ADV PRON PREP.

    embedding Embedding(V, 16) → lstm LSTM(16, 24, num_layers=2, bidirectional=True)
      → head Linear(48, 7) → log_softmax

The script also trains a unidirectional 1-layer LSTM with about as many
parameters on the same data, and reports both on held-out sentences (all
tokens, and the ambiguous words alone).

    python sample_models/train_bitagger.py [--force] [--from-state]
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Timer, log, parse_args, seed_everything  # noqa: E402

SEED = 11
EMB, HIDDEN, LAYERS = 16, 24, 2
UNI_HIDDEN = 66  # a 1-layer left-to-right LSTM with about the bidirectional model's parameter count
STEPS, BATCH, LR = 1500, 32, 1e-2
N_TRAIN, N_TEST = 4000, 1000
UNK = "<unk>"
TAGS = ("DET", "NOUN", "VERB", "ADJ", "ADV", "PRON", "PREP")

MODIFIERS = ("school", "city", "farm", "river", "village", "garden", "army", "night")
AMBIG_3SG_PL = ("trains", "watches", "plants", "lights", "guards", "cooks", "ducks", "fish")
PLURAL_VERBS = ("leave", "arrive", "sleep", "shine", "grow", "swim", "stay", "wait")
OBJ_NOUNS = ("students", "children", "tourists", "soldiers", "trees", "boats", "horses", "books")
SG_NOUNS = ("boat", "table", "lake", "road", "window", "house", "bridge", "market")
ADJS = ("new", "small", "tired", "happy", "green", "quiet")
ADVS = ("early", "slowly", "quickly", "today", "again", "outside")
PREPS = ("under", "near", "behind", "across", "into")
SUBJ_PRONS = ("I", "we", "they", "you")
PERCEPTION = ("saw", "watched", "heard", "noticed")
AMBIG_BARE = ("duck", "dive", "fall", "jump")  # after "her": verb, or a noun before a verb
BARE_VERBS = ("swim", "sleep", "eat", "sing", "run")
OLD_ADJS = ("old", "young", "brave")
SG_VERBS = ("rows", "sails", "paints", "cleans")


def sentence(rng: random.Random) -> tuple[list[str], list[str], list[int]]:
    """(words, tags, positions of the words whose tag needs the right context)."""
    w: list[tuple[str, str]] = []
    amb: list[int] = []

    def obj_np():
        np_ = [("the", "DET")]
        if rng.random() < 0.5:
            np_.append((rng.choice(ADJS), "ADJ"))
        np_.append((rng.choice(OBJ_NOUNS), "NOUN"))
        return np_

    def tail():
        r = rng.random()
        if r < 0.35:
            return [(rng.choice(ADVS), "ADV")]
        if r < 0.7:
            return [(rng.choice(PREPS), "PREP"), ("the", "DET"), (rng.choice(SG_NOUNS), "NOUN")]
        return []

    kind = rng.choice(("compound", "compound", "her", "old", "plain"))
    if kind == "compound":
        w += [("the", "DET"), (rng.choice(MODIFIERS), "NOUN")]
        amb.append(len(w))
        x = rng.choice(AMBIG_3SG_PL)
        if rng.random() < 0.5:  # "the school trains the new students early"
            w += [(x, "VERB")] + obj_np() + tail()
        else:  # "the school trains leave early"
            w += [(x, "NOUN"), (rng.choice(PLURAL_VERBS), "VERB")] + tail()
    elif kind == "her":
        w += [(rng.choice(SUBJ_PRONS), "PRON"), (rng.choice(PERCEPTION), "VERB")]
        amb += [len(w), len(w) + 1]
        x = rng.choice(AMBIG_BARE)
        if rng.random() < 0.5:  # "I saw her duck under the table"
            w += [("her", "PRON"), (x, "VERB")]
            w += tail() or [(rng.choice(ADVS), "ADV")]
        else:  # "I saw her duck swim in the lake"
            w += [("her", "DET"), (x, "NOUN"), (rng.choice(BARE_VERBS), "VERB")] + tail()
    elif kind == "old":
        w += [("the", "DET")]
        amb += [len(w), len(w) + 1]
        a = rng.choice(OLD_ADJS)
        if rng.random() < 0.5:  # "the old man the boats"
            w += [(a, "NOUN"), ("man", "VERB")] + obj_np() + tail()
        else:  # "the old man rows the boat"
            w += [(a, "ADJ"), ("man", "NOUN"), (rng.choice(SG_VERBS), "VERB"),
                  ("the", "DET"), (rng.choice(SG_NOUNS), "NOUN")] + tail()
    else:  # plain: "they watched the happy children near the bridge"
        w += [(rng.choice(SUBJ_PRONS), "PRON"), (rng.choice(PERCEPTION), "VERB")] + obj_np() + tail()
    return [a for a, _ in w], [b for _, b in w], amb


def dataset(rng: random.Random, n: int, exclude: set[str] = frozenset()):
    seen, out = set(exclude), []
    while len(out) < n:
        words, tags, amb = sentence(rng)
        key = " ".join(words)
        if key in seen:
            continue
        seen.add(key)
        out.append((words, tags, amb))
    return out


class Tagger(nn.Module):
    def __init__(self, vocab_size: int, hidden: int, layers: int, bidirectional: bool):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, EMB)
        self.lstm = nn.LSTM(EMB, hidden, num_layers=layers, bidirectional=bidirectional)
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), len(TAGS))

    def forward(self, x, lengths=None):  # x (T, B) -> log-probs (T, B, tags)
        e = self.embedding(x)
        if lengths is not None:
            e = pack_padded_sequence(e, lengths, enforce_sorted=False)
        out, _ = self.lstm(e)
        if lengths is not None:
            out, _ = pad_packed_sequence(out)
        return F.log_softmax(self.head(out), dim=-1)


def tensors(batch, index, rng=None, drop=0.0):
    T = max(len(s[0]) for s in batch)
    x = torch.zeros(T, len(batch), dtype=torch.long)
    y = torch.full((T, len(batch)), -100, dtype=torch.long)
    for b, (words, tags, _) in enumerate(batch):
        ids = [index[w] if not (drop and rng.random() < drop) else index[UNK] for w in words]
        x[: len(words), b] = torch.tensor(ids)
        y[: len(words), b] = torch.tensor([TAGS.index(t) for t in tags])
    return x, y, torch.tensor([len(s[0]) for s in batch])


def evaluate(model, data, index) -> tuple[float, float]:
    """(token accuracy, accuracy on the ambiguous words)."""
    x, y, lengths = tensors(data, index)
    with torch.no_grad():
        pred = model(x, lengths).argmax(-1)
    mask = y != -100
    tok = ((pred == y) & mask).sum().item() / mask.sum().item()
    hit = tot = 0
    for b, (_, _, amb) in enumerate(data):
        for k in amb:
            hit += int(pred[k, b] == y[k, b])
            tot += 1
    return tok, hit / tot


def train(model, data, index, rng, timer, tag):
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    for step in range(STEPS):
        batch = rng.sample(data, BATCH)
        x, y, lengths = tensors(batch, index, rng, drop=0.02)
        logp = model(x, lengths)
        loss = F.nll_loss(logp.reshape(-1, len(TAGS)), y.reshape(-1), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 300 == 0 or step == STEPS - 1:
            log(f"  [{tag}] step {step:5d}  loss {loss.item():.4f}  [{timer}]")


def main() -> None:
    args = parse_args("bitagger", __doc__)
    seed_everything(SEED)
    timer = Timer()
    rng = random.Random(SEED)
    words = set()
    for group in (MODIFIERS, AMBIG_3SG_PL, PLURAL_VERBS, OBJ_NOUNS, SG_NOUNS, ADJS, ADVS, PREPS,
                  SUBJ_PRONS, PERCEPTION, AMBIG_BARE, BARE_VERBS, OLD_ADJS, SG_VERBS):
        words.update(group)
    words.update(("the", "her", "man"))
    vocab = sorted(words) + [UNK]
    index = {w: k for k, w in enumerate(vocab)}
    train_data = dataset(rng, N_TRAIN)
    test_data = dataset(rng, N_TEST, exclude={" ".join(s[0]) for s in train_data})

    model = Tagger(len(vocab), HIDDEN, LAYERS, True)
    n_bi = sum(p.numel() for p in model.parameters())
    uni = Tagger(len(vocab), UNI_HIDDEN, 1, False)
    n_uni = sum(p.numel() for p in uni.parameters())
    if args.from_state:
        model.load_state_dict(torch.load(args.state, weights_only=True))
        log(f"loaded trained state from {args.state} (the unidirectional baseline is not retrained)")
        uni = None
    else:
        log(f"bidirectional 2-layer: {n_bi} parameters")
        train(model, train_data, index, rng, timer, "bi")
        torch.save(model.state_dict(), args.state)
        log(f"unidirectional 1-layer H={UNI_HIDDEN}: {n_uni} parameters")
        train(uni, train_data, index, rng, timer, "uni")
    train_time = str(timer)

    model.eval()
    tok, amb = evaluate(model, test_data, index)
    log(f"held-out ({N_TEST} sentences): bidirectional 2-layer token accuracy {tok:.4f}, "
        f"ambiguous words {amb:.4f}")
    base = ""
    if uni is not None:
        uni.eval()
        utok, uamb = evaluate(uni, test_data, index)
        log(f"held-out: unidirectional 1-layer token accuracy {utok:.4f}, ambiguous words {uamb:.4f}")
        base = (f" A left-to-right 1-layer LSTM of about the same size ({n_uni} parameters) trained "
                f"the same way gets {utok:.1%} and {uamb:.1%}: it must tag the ambiguous word before "
                f"reading what decides it.")

    examples = [
        "I saw her duck under the table",
        "I saw her duck swim near the lake",
        "the school trains the new students early",
        "the school trains leave early",
        "the old man the boats",
        "the old man rows the boat",
    ]
    for ex in examples:
        ids = torch.tensor([[index.get(w, index[UNK])] for w in ex.split()])
        with torch.no_grad():
            tags = [TAGS[k] for k in model(ids)[:, 0].argmax(-1).tolist()]
        log(f"  {ex!r}: {' '.join(tags)}")

    description = (
        "A 2-layer bidirectional LSTM tagger (24 units per direction) on a generated grammar whose "
        "ambiguous words need the right-hand context: 'I saw her duck under the table' (her PRON, duck "
        "VERB) vs 'I saw her duck swim' (her DET, duck NOUN); 'the school trains the students' vs 'the "
        "school trains leave'; 'the old man the boats' vs 'the old man rows the boat'. Tags: "
        + " ".join(TAGS)
        + f". Held-out sentences: token accuracy {tok:.1%}, ambiguous words {amb:.1%} ({n_bi} parameters)."
        + base
        + " Switch to the reverse direction at the ambiguous word to see what it knows."
    )
    log(description)

    from lstm_engine import save_checkpoint

    save_checkpoint(
        model, args.out, vocab=vocab, labels=list(TAGS), unk=UNK, tokenizer="words",
        examples=examples, output="log_softmax", embedding="embedding", lstms=["lstm"],
        head="head", description=description, name="bitagger", overwrite=args.force,
    )
    log(f"saved {args.out} ({os.path.getsize(args.out)} bytes); training {train_time}, total {timer}")


if __name__ == "__main__":
    main()
