"""france.pt's France unit is causal, not only correlated: ablating it takes "French" away.

The sample README makes two claims about the unit the checkpoint's `focus`
names, and both are checked here on sentences generated in the test (fresh
fillers, from seeds the training script does not use):

- causal: zeroing the unit's c and h from "France" to the end (a branch of
  the engine's trace, `Ablate(unit, from_t)`), then running the model's head
  on the branch (`Model.downstream`), turns the prediction away from French
  on at least 90% of fillers, while ablating most other single units leaves
  it French;
- correlational: with the same clauses after every country, the unit's c over
  the filler is higher (or lower, as the description says) for France than for
  any other country.

The engine's ablated prediction is checked once against torch itself: the real
nn.LSTM run one step at a time, with a forward hook that zeroes the unit in
its output and state from "France" on.
"""

from __future__ import annotations

import random
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from lstm_engine import Ablate, branch, load

SAMPLES = Path(__file__).resolve().parents[2] / "sample_models"
README = (SAMPLES / "README.md").read_text(encoding="utf-8")
sys.path.insert(0, str(SAMPLES))

import train_france  # noqa: E402

N_FILLERS = 40


@pytest.fixture(scope="module")
def france():
    return load(SAMPLES / "france.pt")


@pytest.fixture(scope="module")
def unit(france) -> int:
    m = re.search(r"unit (\d+) is the France unit", france.description)
    assert m, "the description names the France unit"
    u = int(m.group(1))
    assert france.focus == {"unit": u}, "the debugger opens on the France unit"
    assert f"**Unit {u} is the France unit" in README, "README and checkpoint name the same unit"
    return u


def france_sentences(n: int, seed: int) -> list[tuple[list[str], int]]:
    """(tokens, position of "France") for n fresh held-out fillers of 35-60 tokens."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        toks, lang, (a, _) = train_france.sentence(rng, train_france.TEST_SPAN, "France")
        assert lang == "French" and toks[a - 1] == "France"
        out.append((toks, a - 1))
    return out


def ablated_output(model, toks: list[str], unit: int, pos: int) -> np.ndarray:
    """The model's output (T, n_labels) with `unit` ablated from `pos` on, through the engine."""
    tr = model.trace(" ".join(toks))
    b = branch(tr, [Ablate(unit=unit, from_t=pos)])
    return model.downstream(model.lstm_name, b.h[-1, 0])


@pytest.fixture(scope="module")
def ablation_table(france):
    """kept[u, n]: the answer after 'fluent' is still French with unit u ablated, on filler n."""
    fr = france.labels.index("French")
    sents = france_sentences(N_FILLERS, seed=90210)
    H = france.spec.hidden_size
    kept = np.zeros((H, len(sents)), bool)
    for n, (toks, pos) in enumerate(sents):
        tr = france.trace(" ".join(toks))
        assert int(np.argmax(tr.output[-1])) == fr, "unablated, every one of them is French"
        for u in range(H):
            b = branch(tr, [Ablate(unit=u, from_t=pos)])
            out = france.downstream(france.lstm_name, b.h[-1, 0])
            kept[u, n] = int(np.argmax(out[-1])) == fr
    return kept


def test_ablating_the_france_unit_takes_french_away(ablation_table, unit):
    assert 1 - ablation_table[unit].mean() >= 0.9


def test_ablating_most_other_units_leaves_it_french(ablation_table, unit):
    others = np.delete(ablation_table.mean(1), unit)
    assert (others >= 0.9).sum() > 0.75 * len(others), others
    assert ablation_table[unit].mean() < others.min(), "the France unit matters most"


def test_the_france_unit_c_singles_out_france(france, unit):
    """Correlational: the same clauses after every country; France's c over them is the extreme."""
    m = re.search(rf"unit {unit} is the France unit. With the same clauses after each country, "
                  r"its c over the filler is (higher|lower) for France", france.description)
    assert m, "the description says which way the France unit points"
    side = 1 if m.group(1) == "higher" else -1
    rng = random.Random(31337)
    forget = []
    for _ in range(8):
        opening, fill = list(rng.choice(train_france.OPENINGS)), train_france.filler(rng, 40, 55)
        a, z = len(opening) + 1, len(opening) + 1 + len(fill)
        c_mean = {}
        for country, lang in train_france.COUNTRIES.items():
            tr = france.trace(" ".join(opening + [country] + fill + list(train_france.ENDING)))
            assert tr.labels[int(np.argmax(tr.output[-1]))] == lang, "every country still works"
            c_mean[country] = side * tr.series("c", 0, 0)[a:z, unit].mean()
            forget.append(tr.series("f", 0, 0)[a:z, unit].mean())
        france_c = c_mean.pop("France")
        assert france_c > max(c_mean.values()), (france_c, c_mean)
    assert np.mean(forget) > 0.95  # the forget gate holds it through the filler


def test_the_engine_ablation_is_what_torch_computes(france, unit):
    """The real nn.LSTM, one step at a time, a forward hook zeroing the unit from "France" on."""
    torch = pytest.importorskip("torch")

    model = train_france.Fluent(len(france.vocab), len(france.labels))
    model.load_state_dict(torch.load(SAMPLES / "france.pt", weights_only=True)["state_dict"])
    model.eval()
    toks, pos = france_sentences(1, seed=4321)[0]
    ids = torch.tensor([france.vocab.index(w) for w in toks])
    step = {"t": 0}

    def ablate(module, inputs, output):
        out, (h, c) = output
        if step["t"] >= pos:
            out, h, c = out.clone(), h.clone(), c.clone()
            out[..., unit] = 0
            h[..., unit] = 0
            c[..., unit] = 0
        return out, (h, c)

    hook = model.lstm.register_forward_hook(ablate)
    try:
        with torch.no_grad():
            x = model.embedding(ids)[:, None]  # (T, 1, E)
            state, outs = None, []
            for t in range(len(toks)):
                step["t"] = t
                out, state = model.lstm(x[t : t + 1], state)
                outs.append(out)
            want = torch.log_softmax(model.head(torch.cat(outs)[:, 0]), -1).numpy()
    finally:
        hook.remove()
    got = ablated_output(france, toks, unit, pos)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    assert france.labels[int(np.argmax(got[-1]))] != "French"
