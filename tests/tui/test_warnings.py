"""A model that opens with warnings shows them where nobody can miss them (issue 8).

The review's case: Embedding → LSTM → LayerNorm → Linear as a bare
state_dict, where the pipeline runs without the LayerNorm, so the output
panel is not the model's own output. The warning is in the header at every
size the layout supports (whatever `p` shows), on the output panel itself,
in a notification on open and at the top of the help screen.
"""

from __future__ import annotations

import pytest

from lstm_tui.opening import open_path
from lstm_tui.screens.help import HelpScreen

from tui_helpers import NORM_TEXT, RecordingApp, layernorm_state_dict, synthetic_source, widget_text

OWN = "NOT the model's own output"


@pytest.fixture
def norm_source(tmp_path):
    return open_path(str(layernorm_state_dict(tmp_path)), text=NORM_TEXT)


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (120, 36), (160, 48), (200, 60)])
async def test_the_warning_is_in_the_header_and_on_the_output_panel(norm_source, size):
    (warning,) = norm_source.warnings
    assert OWN in warning
    app = RecordingApp(norm_source)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        screen = app.screen
        assert "⚠ 1 warning (?)" in widget_text(screen.query_one("#header"))
        panel = " ".join(widget_text(screen.query_one("#output")).split())
        assert panel.startswith("─output ⚠ warning") or "output ⚠ warning" in panel
        assert " ".join(warning.split()) in panel  # the whole sentence, on the panel
        assert [n.title for n in app.notes] == ["This model opened with a warning"]
        assert " ".join(app.notes[0].message.split()) == warning
        for _ in range(3):  # whatever p shows in a small terminal, the header still says so
            await pilot.press("p")
            await pilot.pause()
            assert "⚠ 1 warning (?)" in widget_text(screen.query_one("#header"))
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        top = " ".join(strip.text for strip in app.screen._compositor.render_strips())
        top = " ".join(top.split())
        assert "This model opened with warnings" in top and "⚠ 2 parameters (norm.weight" in top


async def test_a_model_without_warnings_shows_none():
    app = RecordingApp(synthetic_source())
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        assert "warning" not in widget_text(app.screen.query_one("#header"))
        assert "⚠" not in widget_text(app.screen.query_one("#output"))
        assert app.notes == []
