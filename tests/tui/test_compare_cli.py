"""`lstm-tui MODEL --compare TEXT_B` / `--compare-model MODEL_B`: what is opened, and one line
and exit 2 for a comparison that cannot be made (checked before the debugger needs a terminal)."""

from __future__ import annotations

import pytest

from lstm_tui import cli
from lstm_tui.opening import open_comparison, open_path

from tui_helpers import SAMPLES

FRANCE = SAMPLES / "france.pt"
pytestmark = pytest.mark.skipif(not FRANCE.exists(), reason="sample_models/france.pt is not built")


def run(capsys, *argv) -> tuple[int, str]:
    status = cli.main([str(a) for a in argv])
    return status, capsys.readouterr().err


def test_a_second_input_the_model_refuses_is_one_line_and_exit_2(capsys):
    status, err = run(capsys, FRANCE, "--compare", "   ")
    assert status == 2 and err.count("\n") == 1 and "empty text" in err
    tagger = SAMPLES / "tagger.pt"
    if tagger.exists():  # a vocabulary without an unknown token
        status, err = run(capsys, tagger, "--compare", "the Atlantis")
        assert status == 2 and err.count("\n") == 1 and "'Atlantis'" in err


def test_a_recorded_trace_has_no_model_to_run_a_second_input(capsys, tmp_path):
    path = open_path(str(FRANCE)).trace.save(tmp_path / "f.npz")
    status, err = run(capsys, path, "--compare", "I grew up in Spain")
    assert status == 2 and "--compare needs a second input" in err and "read-only" in err


def test_compare_and_compare_model_are_one_or_the_other(capsys):
    status, err = run(capsys, FRANCE, "--compare", "x", "--compare-model", FRANCE)
    assert status == 2 and "not allowed with" in err


def test_a_good_comparison_still_needs_a_terminal(capsys):
    status, err = run(capsys, FRANCE, "--compare", "I grew up in Spain and I speak fluent")
    assert status == 2 and "needs a terminal" in err


def test_a_model_against_itself_does_not_diverge_and_two_shapes_cannot_be_compared(tmp_path):
    src = open_path(str(FRANCE))
    same = open_comparison(src, model=str(FRANCE))
    assert same.kind == "model" and same.first is None and not same.changed_steps()
    assert same.b.trace.tokens == src.trace.tokens  # the same input: the first example
    tagger = SAMPLES / "tagger.pt"
    if tagger.exists():
        from lstm_engine import InputError

        with pytest.raises(InputError, match="same LSTM shape"):
            open_comparison(open_path(str(tagger)), model=str(FRANCE))
