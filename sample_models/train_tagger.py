"""Train the seed's LSTMTagger exactly as the PyTorch tutorial does, and save it as tagger.pt.

The architecture, module names, seed, optimiser, epochs and data are the
tutorial's (pytorch.org/tutorials/beginner/nlp/sequence_models_tutorial.html),
so anyone who has read it can open the model in lstm-tui and recognise every
name. Run from the repo root:

    python sample_models/train_tagger.py [--out sample_models/tagger.pt] [--force]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

from lstm_engine import save_checkpoint

TAGS = ["DET", "NN", "V"]  # tag_to_ix = {"DET": 0, "NN": 1, "V": 2}
TRAINING_DATA = [
    ("The dog ate the apple".split(), ["DET", "NN", "V", "DET", "NN"]),
    ("Everybody read that book".split(), ["NN", "V", "DET", "NN"]),
]
EMBEDDING_DIM = 6
HIDDEN_DIM = 6
DESCRIPTION = (
    "The LSTMTagger from the PyTorch sequence-models tutorial (the seed article's demo): "
    "Embedding(9, 6) → LSTM(6, 6) → Linear(6, 3) → log_softmax, trained for 300 epochs of SGD "
    "(lr 0.1) on two sentences to tag each word DET, NN or V. It predicts DET NN V DET NN for "
    "'The dog ate the apple' and NN V DET NN for 'Everybody read that book'. The vocabulary is "
    "case-sensitive ('The' and 'the' are different words) and has only those nine words."
)


class LSTMTagger(nn.Module):
    def __init__(self, embedding_dim, hidden_dim, vocab_size, tagset_size):
        super().__init__()
        self.hidden_dim = hidden_dim
        self.word_embeddings = nn.Embedding(vocab_size, embedding_dim)
        # The LSTM takes word embeddings as inputs, and outputs hidden states
        # with dimensionality hidden_dim.
        self.lstm = nn.LSTM(embedding_dim, hidden_dim)
        # The linear layer that maps from hidden state space to tag space
        self.hidden2tag = nn.Linear(hidden_dim, tagset_size)

    def forward(self, sentence):
        embeds = self.word_embeddings(sentence)
        lstm_out, _ = self.lstm(embeds.view(len(sentence), 1, -1))
        tag_space = self.hidden2tag(lstm_out.view(len(sentence), -1))
        tag_scores = F.log_softmax(tag_space, dim=1)
        return tag_scores


def prepare_sequence(seq, to_ix):
    idxs = [to_ix[w] for w in seq]
    return torch.tensor(idxs, dtype=torch.long)


def train() -> tuple[LSTMTagger, dict[str, int]]:
    """The tutorial's recipe, step for step (the untrained forward included, as it draws no randoms)."""
    torch.manual_seed(1)
    word_to_ix: dict[str, int] = {}
    for sent, _ in TRAINING_DATA:
        for word in sent:
            if word not in word_to_ix:
                word_to_ix[word] = len(word_to_ix)
    tag_to_ix = {t: k for k, t in enumerate(TAGS)}
    model = LSTMTagger(EMBEDDING_DIM, HIDDEN_DIM, len(word_to_ix), len(tag_to_ix))
    loss_function = nn.NLLLoss()
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    for _epoch in range(300):
        for sentence, tags in TRAINING_DATA:
            model.zero_grad()
            sentence_in = prepare_sequence(sentence, word_to_ix)
            targets = prepare_sequence(tags, tag_to_ix)
            tag_scores = model(sentence_in)
            loss = loss_function(tag_scores, targets)
            loss.backward()
            optimizer.step()
    return model, word_to_ix


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).with_name("tagger.pt")))
    parser.add_argument("--force", action="store_true", help="replace an existing file")
    args = parser.parse_args(argv)
    model, word_to_ix = train()
    model.eval()
    with torch.no_grad():
        for sentence, tags in TRAINING_DATA:
            scores = model(prepare_sequence(sentence, word_to_ix))
            predicted = [TAGS[k] for k in scores.argmax(dim=1).tolist()]
            if predicted != tags:
                sys.stderr.write(f"training did not reproduce the tutorial: {sentence} → {predicted}\n")
                return 1
    save_checkpoint(
        model,
        args.out,
        vocab=list(word_to_ix),
        labels=TAGS,
        examples=[" ".join(s) for s, _ in TRAINING_DATA],
        tokenizer="words",
        unk=None,
        output="log_softmax",
        name="tagger",
        description=DESCRIPTION,
        overwrite=args.force,
    )
    sys.stdout.write(f"wrote {args.out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
