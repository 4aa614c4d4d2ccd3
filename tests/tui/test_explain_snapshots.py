"""SVG snapshots of the "why?" views: the provenance bar, the analysis panel, the saturation plot.

france.pt (its France unit named, at "fluent") and bitagger.pt (two layers, so
six saturation plots). Regenerate with
`pytest tests/tui/test_explain_snapshots.py --snapshot-update` and look at the PNGs.
"""

from __future__ import annotations

import pytest

from lstm_tui.app import LstmTuiApp
from lstm_tui.opening import open_path

from tui_helpers import SAMPLES


def _sample(name: str) -> str:
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"sample_models/{name} is not built")
    return str(path)


async def _analysis_ready(pilot) -> None:
    await pilot.press("E")
    for _ in range(200):
        await pilot.pause(0.02)
        if getattr(pilot.app.screen, "ready", False):
            break
    await pilot.pause()


def test_provenance_bar_at_fluent(snap_compare):
    """france.pt at its last step with P: each step's surviving write under its token."""

    async def setup(pilot):
        await pilot.press("end", "P")
        await pilot.pause()
        pilot.app.clear_notifications()

    assert snap_compare(LstmTuiApp(open_path(_sample("france.pt"))), run_before=setup,
                        terminal_size=(120, 36))  # fmt: skip


def test_analysis_panel(snap_compare):
    """E on france.pt at "fluent": ranked by variance of c, the winner's logit split over units."""

    async def setup(pilot):
        await pilot.press("end")
        await _analysis_ready(pilot)

    assert snap_compare(LstmTuiApp(open_path(_sample("france.pt"))), run_before=setup,
                        terminal_size=(120, 36))  # fmt: skip


def test_saturation_plot(snap_compare):
    """The gate saturation scatter of bitagger.pt: one braille plot per layer and gate."""

    async def setup(pilot):
        await _analysis_ready(pilot)
        pilot.app.screen.query_one("#scatter").scroll_visible(animate=False, top=True)
        await pilot.pause()

    assert snap_compare(LstmTuiApp(open_path(_sample("bitagger.pt"))), run_before=setup,
                        terminal_size=(120, 36))  # fmt: skip
