"""SVG snapshots of what-if: a branch with its difference from the parent, and two inputs compared.

Built from the committed france sample (skipped without it); the edit's worker is awaited and
the notifications cleared before the picture, so nothing depends on timing.
"""

from __future__ import annotations

import pytest

from lstm_tui.app import LstmTuiApp
from lstm_tui.opening import open_comparison, open_path

from tui_helpers import SAMPLES

FRANCE = SAMPLES / "france.pt"


@pytest.fixture
def france():
    if not FRANCE.exists():
        pytest.skip("sample_models/france.pt is not built")
    return open_path(str(FRANCE))


async def _settled(pilot) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    pilot.app.clear_notifications()
    await pilot.pause()


def test_an_ablation_with_its_difference_from_the_parent(snap_compare, france):
    async def run_before(pilot) -> None:
        await pilot.press(*["right"] * 4, "a")
        await _settled(pilot)
        await pilot.press("D", *["right"] * 3)
        await _settled(pilot)

    assert snap_compare(LstmTuiApp(france), run_before=run_before, terminal_size=(120, 36))


def test_two_inputs_side_by_side(snap_compare, france):
    cmp = open_comparison(france, text=france.text.replace("France", "Spain", 1))

    async def run_before(pilot) -> None:
        await pilot.press(*["right"] * 4, "D")
        await _settled(pilot)

    assert snap_compare(LstmTuiApp(france, compare=cmp), run_before=run_before,
                        terminal_size=(170, 45))  # fmt: skip


def test_two_inputs_one_side_at_a_time_at_80_columns(snap_compare, france):
    cmp = open_comparison(france, text=france.text.replace("France", "Spain", 1))

    async def run_before(pilot) -> None:
        await pilot.press(*["right"] * 4, "vertical_line")
        await _settled(pilot)

    assert snap_compare(LstmTuiApp(france, compare=cmp), run_before=run_before,
                        terminal_size=(80, 24))  # fmt: skip
