"""The sequence strip and output panel: escaped text, no overflow, examples, <unk>, both directions.

Also debug(vocab=...) on the seed article's LSTMTagger, which the README promises.
"""

from __future__ import annotations

from dataclasses import replace

from functools import partial

import numpy as np
import pytest
from rich.cells import cell_len
from rich.style import Style

from lstm_engine import InputError, LSTMSpec, load, record
from lstm_tui.app import LstmTuiApp
from lstm_tui.opening import from_live, open_path
from lstm_tui.screens.debugger import DebuggerScreen
from lstm_tui.source import Source, output_uses_future
from lstm_tui.text import display
from lstm_tui.widgets.output_panel import render_output
from lstm_tui.widgets.sequence_strip import (
    StripStyles, cell_widths, predictions, render_strip, strip_title, token_labels, unk_positions,
    window,
)  # fmt: skip

from tui_helpers import SAMPLES, synthetic_source, widget_text

STYLES = StripStyles(*(Style() for _ in range(6)))


def _sample(name: str):
    path = SAMPLES / f"{name}.pt"
    if not path.exists():
        pytest.skip(f"sample_models/{name}.pt is not built")
    return path


def _strip(source: Source, t: int, width: int, direction: int = 0) -> list[str]:
    tokens, preds = token_labels(source), predictions(source)
    text = render_strip(tokens, preds, t, direction, width, STYLES, cell_widths(tokens, preds),
                        all_preds=source.output_uses_future, unk=unk_positions(source))  # fmt: skip
    return text.plain.split("\n")


def _text_source(tokens, labels=("a", "b"), **meta) -> Source:
    T = len(tokens)
    spec = LSTMSpec.random(3, 4, seed=0)
    rng = np.random.default_rng(0)
    out = rng.standard_normal((T, len(labels)))
    trace = record(spec, rng.standard_normal((T, 3)), tokens=tuple(tokens), labels=tuple(labels),
                   output=out, meta=meta)  # fmt: skip
    return Source(trace=trace, name="s", origin="live", output_kind="logit")


# --- display
def test_display_makes_every_character_visible_in_one_cell_row():
    assert display("\n") == "⏎" and display("\t") == "⇥" and display(" ") == "␣"
    assert display("\x00") == "\\x00" and display("\x1b") == "\\x1b" and display("\u2028") == "\\u2028"
    assert display("") == "∅" and display("NN") == "NN" and display("New York") == "New␣York"
    assert all("\n" not in display(chr(c)) and display(chr(c)).isprintable() for c in range(0x300))


# --- charlm: "\n" and " " as labels and tokens
def test_charlm_newline_prediction_stays_on_one_row_in_strip_and_output():
    src = open_path(str(_sample("charlm")))
    tr = src.trace
    labels = tr.labels
    best = tr.output.argmax(axis=1)
    t = int(next(k for k in range(tr.T) if labels[best[k]] == "\n"))
    rows = _strip(src, t, 120)
    assert len(rows) == 3 and "⏎" in rows[1] and "⏎" in rows[0]
    assert all(cell_len(r) <= 120 for r in rows)
    panel = render_output(src, t, 5, 50, Style(), Style()).plain.split("\n")
    assert len(panel) == 6 and panel[1].startswith("▶ ⏎")
    space = next(k for k in range(tr.T) if tr.tokens[k] == " ")
    assert token_labels(src)[space] == "␣"


# --- overflow
@pytest.mark.parametrize("width", [8, 13, 20, 37, 80, 120, 200])
def test_strip_rows_never_exceed_the_width(width):
    rng = np.random.default_rng(width)
    words = ["a", "supercalifragilisticexpialidocious" * 2, "日本語のトークン", "x" * 15, "dog", "\n"]
    tokens = [words[k] for k in rng.integers(0, len(words), 320)]
    src = _text_source(tokens, labels=("DET", "a-very-long-label-name", "\t"))
    toks, preds = token_labels(src), predictions(src)
    widths = cell_widths(toks, preds)
    for t in list(range(0, 320, 7)) + [319]:
        for direction in (0, 1):
            rows = render_strip(toks, preds, t, direction, width, STYLES, widths).plain.split("\n")
            assert len(rows) == 3
            assert all(cell_len(r) <= width for r in rows), (t, [cell_len(r) for r in rows])
            a, b, _ = window(widths, t, width)
            assert a <= t < b


async def test_tagger_with_306_tokens_keeps_the_strip_on_three_rows():
    path = _sample("tagger")
    text = " ".join(["The dog ate the apple", "Everybody read that book"] * 34)
    app = LstmTuiApp(loader=partial(open_path, str(path), text=text), what="tagger")
    async with app.run_test(size=(120, 36)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DebuggerScreen)
        screen._goto(149)
        await pilot.pause()
        strip = screen.query_one("#strip")
        lines = widget_text(strip).split("\n")
        assert "tokens" in lines[0] and "of 306" in lines[0]
        assert lines[1].startswith("‹") and lines[1].endswith("›")
        assert lines[2].split() and lines[3].split()  # predictions and probabilities stay
        assert all(cell_len(line) <= strip.outer_size.width for line in lines)


# --- numeric input
def test_numeric_strip_shows_each_steps_input_value():
    src = open_path(str(_sample("peephole")))
    x = src.trace.x[:, 0]
    labels = token_labels(src)
    cue = int(np.argmax(x))
    assert x[cue] == 1.0 and labels[cue] == f"{cue + 1}:1.00" and labels[0] == f"1:{x[0]:.2f}"
    rows = _strip(src, cue, 120)
    assert f"{cue + 1}:1.00" in rows[0]


def test_multi_feature_numeric_strip_shows_a_norm_or_the_hot_feature():
    spec = LSTMSpec.random(3, 4, seed=0)
    onehot = np.eye(3)[[2, 0, 1, 1]]
    src = Source(trace=record(spec, onehot), name="s", origin="live")
    assert token_labels(src) == ["1:#2", "2:#0", "3:#1", "4:#1"]
    x = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 0.5]])
    src = Source(trace=record(spec, x), name="s", origin="live")
    assert token_labels(src) == ["1:5.00", "2:0.50"]


# --- examples
def test_open_path_example_n_and_switching_examples():
    path = _sample("charlm")
    model = load(path)
    src = open_path(str(path), example=3)
    assert src.example == 3 and "".join(src.trace.tokens) == model.examples[2]
    assert src.example_count == 3 and src.next_example() == 1 and src.example_reason is None
    two = src.with_example(2)
    assert two.example == 2 and "".join(two.trace.tokens) == model.examples[1]
    assert "".join(src.trace.tokens) == model.examples[2]  # the old source is unchanged
    assert open_path(str(path)).example == 1
    with pytest.raises(InputError, match="no example 99: charlm has 3 examples"):
        open_path(str(path), example=99)
    with pytest.raises(InputError, match="only one of"):
        open_path(str(path), example=1, text="x")
    edited = two.retrace("abc")
    assert edited.example is None and edited.next_example() == 1


def test_numeric_examples_open_too():
    path = _sample("peephole")
    model = load(path)
    if len(model.examples) < 2:
        pytest.skip("peephole has one example")
    src = open_path(str(path), example=len(model.examples))
    np.testing.assert_allclose(src.trace.x, np.asarray(model.examples[-1], dtype=src.trace.x.dtype))


# --- <unk>
def test_unknown_words_are_recorded_and_marked():
    src = open_path(str(_sample("france")), text="I grew up in Narnia")
    tr = src.trace
    assert tr.tokens[4] == "Narnia" and tr.meta["unk_positions"] == [4] and tr.meta["unk"] == "<unk>"
    assert token_labels(src)[4] == "Narnia→<unk>" and token_labels(src)[3] == "in"
    rows = _strip(src, 4, 120)
    assert "Narnia→<unk>" in rows[0]
    toks = token_labels(src)
    title = strip_title(tr.T, 0, 0, 120, cell_widths(toks, predictions(src)), True, None,
                        n_unk=1, unk="<unk>")  # fmt: skip
    assert "1 read as <unk>" in title
    known = open_path(str(_sample("france")), text="I grew up in France")
    assert "unk_positions" not in known.trace.meta


# --- both directions
def test_bidirectional_output_shows_every_prediction_from_the_first_step():
    bi = synthetic_source(bidirectional=True, T=6)
    uni = synthetic_source(T=6)
    assert bi.output_uses_future and not uni.output_uses_future
    assert len(_strip(bi, 0, 120)[1].split()) == 6
    assert len(_strip(uni, 0, 120)[1].split()) == 1
    assert len(_strip(bi, 5, 120, direction=1)[1].split()) == 6

    class Stack:  # a uni LSTM feeding a bidirectional one: the engine says the output reads ahead
        output_uses_future = True

    stacked = replace(uni, model=Stack())
    assert output_uses_future(uni.trace, Stack()) and stacked.output_uses_future
    assert len(_strip(stacked, 0, 120)[1].split()) == 6  # the strip follows the engine's answer


async def test_bitagger_strip_says_outputs_use_both_directions():
    app = LstmTuiApp(loader=partial(open_path, str(_sample("bitagger"))), what="bitagger")
    async with app.run_test(size=(120, 36)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        lines = widget_text(app.screen.query_one("#strip")).split("\n")
        assert "outputs use both directions" in lines[0]
        assert len(lines[2].split()) == app.screen.source.trace.T


# --- debug(model, text, vocab=...) on the seed article's class
torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional


class LSTMTagger(nn.Module):  # verbatim from the seed article (PyTorch's tutorial)
    def __init__(self, embedding_dim, hidden_dim, vocab_size, tagset_size):
        super(LSTMTagger, self).__init__()
        self.hidden_dim = hidden_dim
        self.word_embeddings = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim)
        self.hidden2tag = nn.Linear(hidden_dim, tagset_size)

    def forward(self, sentence):
        embeds = self.word_embeddings(sentence)
        lstm_out, _ = self.lstm(embeds.view(len(sentence), 1, -1))
        tag_space = self.hidden2tag(lstm_out.view(len(sentence), -1))
        tag_scores = F.log_softmax(tag_space, dim=1)
        return tag_scores


def _seed_model():
    training_data = [
        ("The dog ate the apple".split(), ["DET", "NN", "V", "DET", "NN"]),
        ("Everybody read that book".split(), ["NN", "V", "DET", "NN"]),
    ]
    word_to_ix = {}
    for sent, _ in training_data:
        for word in sent:
            if word not in word_to_ix:
                word_to_ix[word] = len(word_to_ix)
    tag_to_ix = {"DET": 0, "NN": 1, "V": 2}
    torch.manual_seed(1)
    return LSTMTagger(6, 6, len(word_to_ix), len(tag_to_ix)), word_to_ix, tag_to_ix


def test_debug_takes_text_and_the_seeds_word_to_ix():
    model, word_to_ix, tag_to_ix = _seed_model()
    src = from_live(model, "The dog ate the apple", vocab=word_to_ix, labels=tag_to_ix)
    ids = torch.tensor([word_to_ix[w] for w in "The dog ate the apple".split()])
    with torch.no_grad():
        want = model(ids).numpy()
    np.testing.assert_allclose(src.trace.output, want, atol=1e-6)
    assert src.trace.tokens == ("The", "dog", "ate", "the", "apple")
    assert src.trace.labels == ("DET", "NN", "V") and src.output_kind == "log_prob"
    as_list = from_live(model, "that book", vocab=list(word_to_ix), labels=["DET", "NN", "V"])
    assert as_list.trace.tokens == ("that", "book")
    with pytest.raises(InputError, match=r"not in the vocabulary.*'Narnia', 'cat'"):
        from_live(model, "The Narnia cat ate", vocab=word_to_ix)
    with pytest.raises(InputError, match="needs vocab="):
        from_live(model, "The dog")
    unk = from_live(model, "The Narnia dog", vocab=word_to_ix, unk="the")
    assert unk.trace.meta["unk_positions"] == [1] and token_labels(unk)[1] == "Narnia→the"


async def test_debug_with_vocab_opens_the_ui():
    model, word_to_ix, tag_to_ix = _seed_model()
    loader = partial(from_live, model, "The dog ate the apple", vocab=word_to_ix, labels=tag_to_ix)
    app = LstmTuiApp(loader=loader, what="LSTMTagger")
    async with app.run_test(size=(120, 36)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, DebuggerScreen)
        strip = widget_text(app.screen.query_one("#strip"))
        assert "apple" in strip and "dog" in strip
