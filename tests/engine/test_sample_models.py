"""The sample models (france, bitagger, peephole, charlm) do what their READMEs and descriptions say.

Each test opens the committed checkpoint with `lstm_engine.load`, the way
`lstm-tui` does, and checks the documented behaviour on the engine's own
trace: no training happens here. The training scripts are imported only for
their data generators and, for the peephole model, its torch cell.
"""

from __future__ import annotations

import math
import random
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from lstm_engine import load

SAMPLES = Path(__file__).resolve().parents[2] / "sample_models"
README = (SAMPLES / "README.md").read_text(encoding="utf-8")
sys.path.insert(0, str(SAMPLES))

import train_bitagger  # noqa: E402
import train_charlm  # noqa: E402
import train_france  # noqa: E402
import train_peephole  # noqa: E402


def last_label(model, text: str) -> str:
    tr = model.trace(text)
    return tr.labels[int(np.argmax(tr.output[-1]))]


# --- france.pt -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def france():
    return load(SAMPLES / "france.pt")


def held_out_sentences(n: int, span=(35, 60), seed: int = 2024):
    rng = random.Random(seed)
    return [train_france.sentence(rng, span) for _ in range(n)]


def test_france_is_a_small_word_model(france):
    assert france.format == "checkpoint"
    assert france.tokenizer == "words" and france.unk == "<unk>"
    assert set(france.labels) == set(train_france.COUNTRIES.values())
    assert france.spec.num_layers == 1 and not france.spec.bidirectional
    assert 16 <= france.spec.hidden_size <= 32
    assert france.output_kind == "log_prob"


def test_france_examples_predict_their_language(france):
    want = ["French", "Japanese", "Spanish", "German"]
    assert [last_label(france, ex) for ex in france.examples] == want
    assert france.examples[0].split()[4] == "France", "the README walks through the first example"


def test_france_predicts_language_after_spans_longer_than_training(france):
    sents = held_out_sentences(48)
    assert all(train_france.TRAIN_SPAN[1] < z - a for _, _, (a, z) in sents)
    right = sum(last_label(france, " ".join(toks)) == lang for toks, lang, _ in sents)
    assert right / len(sents) >= 0.95


def test_france_unknown_filler_words_do_not_change_the_answer(france):
    text = ("I grew up in Italy and my cousin adopted a purple llama yesterday then the weather was "
            "cold and the children painted the garden at night but we watched the river after school "
            "and I speak fluent")
    assert last_label(france, text) == "Italian"


# The France unit's claims, causal (ablation) and correlational (c per country), are checked on
# fresh fillers in tests/engine/test_france_causal.py.


# --- bitagger.pt -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bitagger():
    return load(SAMPLES / "bitagger.pt")


PAIRS = [
    # (sentence, tags) pairs that agree up to and including the ambiguous word(s)
    (("I saw her duck under the table", "PRON VERB PRON VERB PREP DET NOUN"),
     ("I saw her duck swim near the lake", "PRON VERB DET NOUN VERB PREP DET NOUN")),
    (("the school trains the new students early", "DET NOUN VERB DET ADJ NOUN ADV"),
     ("the school trains leave early", "DET NOUN NOUN VERB ADV")),
    (("the old man the boats", "DET NOUN VERB DET NOUN"),
     ("the old man rows the boat", "DET ADJ NOUN VERB DET NOUN")),
    (("they watched her jump quickly", "PRON VERB PRON VERB ADV"),
     ("they watched her jump sleep today", "PRON VERB DET NOUN VERB ADV")),
]


def tags_of(model, text: str) -> list[str]:
    tr = model.trace(text)
    return [tr.labels[k] for k in np.argmax(tr.output, axis=1)]


def test_bitagger_is_stacked_and_bidirectional(bitagger):
    s = bitagger.spec
    assert s.num_layers == 2 and s.bidirectional
    assert bitagger.labels == train_bitagger.TAGS


@pytest.mark.parametrize("pair", PAIRS, ids=[p[0][0] for p in PAIRS])
def test_bitagger_tags_ambiguous_words_from_the_right_context(bitagger, pair):
    (s1, t1), (s2, t2) = pair
    w1, w2 = s1.split(), s2.split()
    k = next(j for j, (a, b) in enumerate(zip(t1.split(), t2.split())) if a != b)
    # the words up to the first differently-tagged one are the same, so a
    # left-to-right tagger sees the same prefix there and must get one of the two wrong
    assert w1[: k + 1] == w2[: k + 1]
    assert tags_of(bitagger, s1) == t1.split()
    assert tags_of(bitagger, s2) == t2.split()


def test_a_left_to_right_run_cannot_tell_the_pair_apart(bitagger):
    """The forward direction of layer 0 is identical on the shared prefix; only the reverse differs."""
    (s1, _), (s2, _) = PAIRS[0]
    a, b = bitagger.trace(s1), bitagger.trace(s2)
    k = 3  # "duck"
    np.testing.assert_array_equal(a.series("h", 0, 0)[: k + 1], b.series("h", 0, 0)[: k + 1])
    assert np.abs(a.series("h", 0, 1)[k] - b.series("h", 0, 1)[k]).max() > 0.1


def test_bitagger_held_out_accuracy(bitagger):
    rng = random.Random(99)
    data = [train_bitagger.sentence(rng) for _ in range(150)]
    tok = hit = tot = amb_hit = amb_tot = 0
    for words, tags, amb in data:
        pred = tags_of(bitagger, " ".join(words))
        tok += sum(p == t for p, t in zip(pred, tags))
        tot += len(tags)
        amb_hit += sum(pred[k] == tags[k] for k in amb)
        amb_tot += len(amb)
    assert tok / tot >= 0.98
    assert amb_hit / amb_tot >= 0.97


# --- peephole.pt -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def peephole():
    return load(SAMPLES / "peephole.pt")


def cue_at(cue: int, T: int) -> np.ndarray:
    x = np.zeros((T, 1), np.float32)
    x[cue, 0] = 1.0
    return x


def spikes_of(model, x) -> list[int]:
    tr = model.trace(x)
    return np.flatnonzero(np.argmax(tr.output, axis=1) == tr.labels.index("spike")).tolist()


def test_peephole_checkpoint_is_an_engine_peephole_cell(peephole):
    assert peephole.spec.peephole
    assert peephole.input_kind == "numeric" and peephole.labels == ("quiet", "spike")
    assert peephole.spec.hidden_size == train_peephole.HIDDEN
    assert len(peephole.examples) == 2
    assert np.asarray(peephole.examples[1]).shape == (train_peephole.T_LONG, 1)
    # the peepholes are real weights, not zeros: the engine's cell uses them
    w = peephole.spec.weights[0][0]
    assert all(np.abs(p).max() > 0.1 for p in (w.p_i, w.p_f, w.p_o))


@pytest.mark.parametrize("cue,T", [(5, 60), (0, 60), (18, 60), (12, 200), (3, 20)])
def test_peephole_spikes_once_delay_steps_after_the_cue(peephole, cue, T):
    """One spike at cue+DELAY and quiet everywhere else, also far past the training length."""
    assert spikes_of(peephole, cue_at(cue, T)) == train_peephole.spike_times(cue, T)


def test_peephole_documented_failure_for_the_last_cue(peephole):
    # the README's one failure: the count also runs from the start, so with no cue by step 18
    # it fires there; a cue at 19 still gets its own spike 20 steps later
    assert spikes_of(peephole, cue_at(19, 60)) == [18, 39]


def test_peephole_times_held_out_sequences(peephole):
    # sequences the script never trained on (its batches come from seeds 0-5), 200 steps long:
    # right whenever the cue is at 0..18, and the documented failure at 19
    x, y = train_peephole.make_batch(np.random.default_rng(2026), 40, train_peephole.T_LONG)
    cues = x[:, :, 0].numpy().argmax(0)
    assert 0 < (cues == 19).sum() < 10  # the draw has both kinds
    for b, cue in enumerate(cues):
        want = np.flatnonzero(y[:, b].numpy()).tolist()
        assert spikes_of(peephole, x[:, b].numpy()) == (want if cue < 19 else [18] + want)


def test_peephole_engine_matches_the_torch_training_cell(peephole):
    import torch

    ckpt = torch.load(SAMPLES / "peephole.pt", weights_only=True)
    net = train_peephole.DelayedSpike(True)
    net.load_state_dict(ckpt["state_dict"])
    x = cue_at(12, train_peephole.T_LONG)
    with torch.no_grad():
        h, rec = net.lstm(torch.from_numpy(x)[:, None], keep=True)
        out = net(torch.from_numpy(x)[:, None])[:, 0].numpy()
    tr = peephole.trace(x)
    np.testing.assert_allclose(tr.series("h", 0, 0), h[:, 0].numpy(), atol=1e-5)
    for name in "ifgoc":
        np.testing.assert_allclose(tr.series(name, 0, 0), rec[name][:, 0].numpy(), atol=1e-5)
    # log-probabilities reach -20 at confident steps, where float32 keeps ~1e-6 relative precision
    np.testing.assert_allclose(tr.output, out, rtol=1e-5, atol=1e-5)
    # probabilities in float32 to the project's 1e-5 (1e-6 failed by 1.4e-6 on another BLAS)
    np.testing.assert_allclose(np.exp(tr.output), np.exp(out), atol=1e-5)


# --- charlm.pt -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def charlm():
    return load(SAMPLES / "charlm.pt")


@pytest.fixture(scope="module")
def charlm_long(charlm):
    text = max(charlm.examples, key=len)
    return text, charlm.trace(text)


def test_charlm_is_a_char_model_with_many_units(charlm):
    assert charlm.tokenizer == "chars" and charlm.unk == "<unk>"
    assert charlm.spec.hidden_size >= 128
    assert charlm.labels == charlm.vocab
    assert max(len(e) for e in charlm.examples) >= 2000


def test_charlm_predicts_held_out_code_as_documented(charlm, charlm_long):
    text, tr = charlm_long
    ids = charlm.ids(list(text))
    logp = tr.output[np.arange(len(text) - 1), ids[1:]]
    bpc = -logp.mean() / math.log(2)
    acc = float(np.mean(np.argmax(tr.output[:-1], axis=1) == ids[1:]))
    m = re.search(rf"{len(text)} chars\): ([\d.]+) bits/char, next-char accuracy ([\d.]+)%", README)
    assert m, "README documents the long example's bits/char and accuracy"
    assert abs(bpc - float(m.group(1))) < 0.005
    assert abs(100 * acc - float(m.group(2))) < 0.5
    assert bpc < 2.5  # far better than the 6.6 bits of a uniform guess over the vocabulary


def test_the_documented_quote_unit_tracks_string_literals(charlm, charlm_long):
    m = re.search(r"unit (\d+) \(inside a one-line string literal, r=([+-][\d.]+) for (c|tanh c)\)",
                  charlm.description)
    assert m, "the description names the string unit"
    u, r_doc, of = int(m.group(1)), float(m.group(2)), m.group(3)
    assert f"unit {u}" in README
    text, tr = charlm_long
    in_string = train_charlm.text_features(text)["in_short_string"]
    a = tr.series("tanh_c" if of == "tanh c" else "c", 0, 0)[:, u]
    r = np.corrcoef(a, in_string)[0, 1]
    assert np.sign(r) == np.sign(r_doc) and abs(r) > 0.5
