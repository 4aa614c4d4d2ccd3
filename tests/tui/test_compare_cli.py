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
    same = open_comparison(src, model=str(FRANCE), path=str(FRANCE))
    assert same.kind == "model" and same.first is None and not same.changed_steps()
    assert same.b.trace.tokens == src.trace.tokens  # the same input: the first example
    tagger = SAMPLES / "tagger.pt"
    if tagger.exists():
        from lstm_engine import InputError

        with pytest.raises(InputError, match="same LSTM shape"):
            open_comparison(open_path(str(tagger)), model=str(FRANCE), path=str(tagger))


def _engine_test(name: str):
    """A module of tests/engine (its ONNX export helpers), loaded by path: not duplicated here."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "engine" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"engine_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_a_model_against_its_export_and_a_gate_swapped_export(tmp_path):
    pytest.importorskip("onnx", reason="the onnx extra is not installed")
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    from lstm_tui.app import LstmTuiApp
    from tui_helpers import widget_text

    helpers = _engine_test("test_diff")
    pt, exported = helpers._export(tmp_path)
    swapped = tmp_path / "swapped.onnx"
    helpers._swap_gate_blocks(exported, swapped, 1, 2)  # ONNX's o and f blocks
    src = open_path(str(pt))
    for other, expected in ((exported, "no difference beyond 1e-05"),
                            (swapped, "diverges at step 1 (L1 ")):  # fmt: skip
        cmp = open_comparison(src, model=str(other), path=str(pt))
        app = LstmTuiApp(src, compare=cmp)
        async with app.run_test(size=(120, 36)) as pilot:
            await pilot.pause()
            bar = widget_text(app.screen.query_one("#whatif"))
            assert "second model vs first" in bar and expected in bar, bar
            assert "(onnx)" in bar.splitlines()[0]
    assert sorted(q.name for q in cmp.first.gates) == ["f", "o"]
    assert "f, o" in bar or "o, f" in bar
