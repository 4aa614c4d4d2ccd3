"""Every parameter is accounted for: one the pipeline does not explain is refused or warned about.

The review's case: Embedding → LSTM → LayerNorm → Linear, saved as a bare
state_dict, opened as embedding → lstm → head with the LayerNorm ignored and
the output panel off by up to 3.35, silently. The models here are built the
way real code builds them (nn.Module subclasses, torch.save(model.state_dict())).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from lstm_engine import EngineError, LoadError, Trace, load, save_checkpoint

ROOT = Path(__file__).resolve().parents[2]
IDS = [4, 0, 8, 3, 1, 1]
TEXT = " ".join(map(str, IDS))


class NormTagger(nn.Module):
    """The seed's tagger with a LayerNorm between the LSTM and the head."""

    def __init__(self):
        super().__init__()
        self.word_embeddings = nn.Embedding(9, 6)
        self.lstm = nn.LSTM(6, 6)
        self.norm = nn.LayerNorm(6)
        self.hidden2tag = nn.Linear(6, 3)
        with torch.no_grad():  # a trained LayerNorm is not the identity
            self.norm.weight.uniform_(0.5, 3.0)
            self.norm.bias.uniform_(-1.0, 1.0)

    def forward(self, sentence):
        lstm_out, _ = self.lstm(self.word_embeddings(sentence).view(len(sentence), 1, -1))
        return F.log_softmax(self.hidden2tag(self.norm(lstm_out.view(len(sentence), -1))), dim=1)


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.word_embeddings = nn.Embedding(9, 6)
        self.lstm = nn.LSTM(6, 6)
        self.hidden2tag = nn.Linear(6, 3)

    def forward(self, sentence):
        lstm_out, _ = self.lstm(self.word_embeddings(sentence).view(len(sentence), 1, -1))
        return F.log_softmax(self.hidden2tag(lstm_out.view(len(sentence), -1)), dim=1)


class TwoHeads(nn.Module):
    """LSTM → Linear → ReLU → Linear: the second Linear is not a head the shapes can place."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 6)
        self.hidden = nn.Linear(6, 10)
        self.out = nn.Linear(10, 2)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.out(torch.relu(self.hidden(y)))


@pytest.fixture
def norm_tagger():
    torch.manual_seed(0)
    return NormTagger().eval()


def _state_dict_file(tmp_path, net, name="sd.pt"):
    torch.save(net.state_dict(), tmp_path / name)
    return tmp_path / name


def test_a_layernorm_the_pipeline_skips_is_a_visible_warning(tmp_path, norm_tagger):
    m = load(_state_dict_file(tmp_path, norm_tagger))
    assert len(m.warnings) == 1
    (w,) = m.warnings
    assert "norm.weight" in w and "norm.bias" in w and "NOT the model's own output" in w
    assert "2 parameters" in w
    tr = m.trace(TEXT)
    assert list(tr.meta["warnings"]) == [w]
    assert m.info()["warnings"] == [w]
    # the warning is not idle talk: what the panel shows really is not the model's output
    with torch.no_grad():
        real = norm_tagger(torch.tensor(IDS)).exp().numpy()
    shown = np.exp(tr.output - tr.output.max(1, keepdims=True))
    shown /= shown.sum(1, keepdims=True)
    assert np.abs(shown - real).max() > 0.05


def test_the_warning_travels_with_a_recorded_trace(tmp_path, norm_tagger):
    tr = load(_state_dict_file(tmp_path, norm_tagger)).trace(TEXT)
    back = Trace.load(tr.save(tmp_path / "t.npz"))
    assert list(back.meta["warnings"]) == list(tr.meta["warnings"])


def test_a_state_dict_the_pipeline_explains_has_no_warning(tmp_path):
    torch.manual_seed(0)
    m = load(_state_dict_file(tmp_path, Tagger().eval()))
    assert m.warnings == () and "warnings" not in m.trace(TEXT).meta


def test_a_second_linear_after_the_head_is_named(tmp_path):
    torch.manual_seed(0)
    m = load(_state_dict_file(tmp_path, TwoHeads().eval()))
    assert m.head.name == "hidden"
    (w,) = m.warnings
    assert "out.weight" in w and "out.bias" in w and "hidden" not in w.split("(")[1].split(")")[0]


def test_an_lstm_traced_alone_says_the_rest_is_unused(tmp_path):
    class TwoUnrelated(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.LSTM(3, 4)
            self.other = nn.LSTM(7, 2)

    torch.manual_seed(0)
    m = load(_state_dict_file(tmp_path, TwoUnrelated()), lstm="other")
    (w,) = m.warnings
    assert "enc.weight_ih_l0" in w and "not used by this trace" in w
    assert m.head is None and m.trace(np.ones((4, 7))).output is None


def test_save_checkpoint_refuses_a_module_it_would_run_without_its_layernorm(tmp_path, norm_tagger):
    with pytest.raises(EngineError, match=r"norm\.weight, norm\.bias.*not explained"):
        save_checkpoint(norm_tagger, tmp_path / "n.pt", examples=[TEXT])
    assert not (tmp_path / "n.pt").exists()


def test_a_checkpoint_with_a_key_no_part_reads_is_refused(tmp_path):
    torch.manual_seed(0)
    path = save_checkpoint(Tagger().eval(), tmp_path / "t.pt", examples=[TEXT])
    ckpt = torch.load(path, weights_only=True)
    assert load(path).warnings == ()
    ckpt["state_dict"]["norm.weight"] = torch.ones(6)
    torch.save(ckpt, tmp_path / "extra.pt")
    with pytest.raises(LoadError, match=r"extra\.pt: 1 parameter \(norm\.weight\) not explained"):
        load(tmp_path / "extra.pt")


def test_info_and_record_print_the_warning(tmp_path, norm_tagger):
    sd = _state_dict_file(tmp_path, norm_tagger)
    code = "import sys; from lstm_tui.cli import main; sys.exit(main(sys.argv[1:]))"
    info = subprocess.run([sys.executable, "-c", code, "info", str(sd)], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)  # fmt: skip
    assert info.returncode == 0, info.stderr
    warning = [line for line in info.stdout.splitlines() if line.startswith("warning")]
    assert warning and "norm.weight" in info.stdout and "NOT the model's" in info.stdout
    out = tmp_path / "t.npz"
    rec = subprocess.run([sys.executable, "-c", code, "record", str(sd), "--text", TEXT, "-o", str(out)],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)  # fmt: skip
    assert rec.returncode == 0, rec.stderr
    assert "warning: 2 parameters (norm.weight, norm.bias)" in rec.stdout
    again = subprocess.run([sys.executable, "-c", code, "info", str(out)], capture_output=True,
                           text=True, cwd=ROOT, timeout=120)  # fmt: skip
    assert "norm.weight" in again.stdout, again.stdout + again.stderr


def test_the_ui_source_carries_the_warning_for_models_and_recorded_traces(tmp_path, norm_tagger):
    from lstm_tui.opening import open_path

    sd = _state_dict_file(tmp_path, norm_tagger)
    live = open_path(str(sd), text=TEXT)
    assert len(live.warnings) == 1 and "norm.weight" in live.warnings[0]  # model's and trace's, once
    recorded = open_path(str(live.trace.save(tmp_path / "t.npz")))
    assert recorded.model is None and recorded.warnings == live.warnings
    torch.manual_seed(0)
    assert open_path(str(_state_dict_file(tmp_path, Tagger().eval(), "ok.pt")), text=TEXT).warnings == ()
