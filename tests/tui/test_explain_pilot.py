"""Pilot tests of the "why?" keys: provenance bar, retention column, analysis panel, unit names.

Each test reads the screen (widget_text) and checks it against the engine's
own numbers (lstm_engine.provenance, half_life, unit_stats, output_attribution),
so a bar or a ranking that drew the wrong thing fails.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from textual.widgets import Input

from lstm_engine import (
    Trace, half_life, load, output_attribution, provenance, saliency, unit_stats,
)
from lstm_tui.explaining import find_unit, read_names, with_names
from lstm_tui.opening import open_path
from lstm_tui.screens.analysis import AnalysisScreen
from lstm_tui.screens.debugger import DebuggerScreen
from lstm_tui.screens.explain_dialogs import GuidanceScreen
from lstm_tui.source import Source

from tui_helpers import SAMPLES, RecordingApp, synthetic_source, widget_text

FRANCE = SAMPLES / "france.pt"


def _france() -> Source:
    if not FRANCE.exists():
        pytest.skip("sample_models/france.pt is not built")
    return open_path(str(FRANCE))


async def _ready(pilot, screen: AnalysisScreen) -> None:
    for _ in range(100):
        await pilot.pause(0.02)
        if screen.ready:
            return
    raise AssertionError("the analysis panel never filled in")


def test_sample_checkpoints_name_their_units():
    """The names sample_models/README.md gives, carried from the checkpoint into the trace."""
    want = {"france.pt": {1: "France"}, "peephole.pt": {0: "clock", 1: "spike"},
            "charlm.pt": {164: "string", 177: "bracket depth", 128: "comment", 214: "column",
                          75: "indent"}}  # fmt: skip
    for name, units in want.items():
        model = load(str(SAMPLES / name))
        assert model.units == units, name
        names, dropped = read_names(model.trace(model.examples[0]))
        assert dict(names) == units and dropped == 0, name
    assert load(str(FRANCE)).focus == {"unit": 1}


async def test_provenance_bar_at_fluent_on_france():
    """At "fluent", P draws the engine's contribution of every step under its token; the
    France step's surviving write is on screen with c and the c₀ term in the title."""
    src = _france()
    tr = src.trace
    country = list(tr.tokens).index("France")
    p = provenance(tr, 0, 0, tr.T - 1, 1)
    async with RecordingApp(src).run_test(size=(400, 30)) as pilot:  # every token in view
        screen = pilot.app.screen
        assert screen.unit == 1
        await pilot.press("end", "P")
        await pilot.pause()
        text = widget_text(screen.query_one("#strip")).splitlines()
        title, tokens, values = text[0], text[1], text[3]
        assert "unit 1 France" in title and f"= {p.c:+.2f}" in title
        assert f"c₀ term {p.initial:+.2f}" in title
        big = int(p.positions[p.largest])
        assert f"most from step {big + 1} {tr.tokens[big]}" in title
        at = tokens.index(" France ") + 1  # the token's cell; its number is under it
        under = values[at - 2 : at + 8]
        assert f"{p.contributions[country]:+.2f}" in under
        shown = [float(v) for v in re.findall(r"[+-]\d+\.\d\d", values)]
        assert len(shown) == tr.T
        np.testing.assert_allclose(shown, p.contributions, atol=0.0051)
        assert "◆" in values and abs(sum(shown) + p.initial - p.c) < 0.006 * tr.T
        await pilot.press("P")
        await pilot.pause()
        assert "◆" not in widget_text(screen.query_one("#strip"))


async def test_provenance_follows_the_unit_and_the_reverse_direction():
    """On a bidirectional trace the bar is for the direction in view, in its reading order."""
    src = synthetic_source(layers=2, bidirectional=True, T=7, hidden=5, seed=3)
    async with RecordingApp(src).run_test(size=(120, 36)) as pilot:
        screen = pilot.app.screen
        await pilot.press("d", "right_square_bracket", "l", "l", "j", "P")
        await pilot.pause()
        p = provenance(src.trace, 1, 1, screen.t, screen.unit)
        values = widget_text(screen.query_one("#strip")).splitlines()[3]
        shown = [float(v) for v in re.findall(r"[+-]\d+\.\d\d", values)]
        # the reverse direction has read positions T-1 down to t: drawn left to right
        np.testing.assert_allclose(shown, p.contributions[::-1], atol=0.0051)


async def test_saliency_bar_is_the_engines_gradient():
    """G: |d logit / d x_s| of the winner at t under every token (torch autograd, in a worker)."""
    src = _france()
    tr = src.trace
    want = saliency(src.model, tr, tr.T - 1).x_norm
    async with RecordingApp(src).run_test(size=(400, 30)) as pilot:
        screen = pilot.app.screen
        await pilot.press("end", "G")
        for _ in range(200):
            await pilot.pause(0.05)
            if "computing" not in widget_text(screen.query_one("#strip")):
                break
        text = widget_text(screen.query_one("#strip")).splitlines()
        assert "saliency · |d logit French / d x| at step 40 (torch)" in text[0]
        shown = [float(v) for v in re.findall(r"[+-]\d+\.\d\d", text[3])]
        np.testing.assert_allclose(shown, want, atol=0.0051)
        assert f"most from step {int(np.argmax(want)) + 1}" in text[0]


async def test_retention_column_sorts():
    src = synthetic_source(T=30, hidden=8, seed=4)
    want = half_life(src.trace, 0, 0)
    async with RecordingApp(src).run_test(size=(200, 40)) as pilot:
        screen = pilot.app.screen
        while screen.sort != "half_life":
            await pilot.press("s")
        await pilot.pause()
        table = widget_text(screen.query_one("#table"))
        assert "t½" in table.splitlines()[1]
        rows = [line.split() for line in table.splitlines()[2:] if line.strip()]
        units = [int(r[0].lstrip("▶")) if r[0] != "▶" else int(r[1]) for r in rows]
        assert units == list(np.argsort(-want, kind="stable"))
        shown = [float(r[-1]) for r in rows]
        np.testing.assert_allclose(shown, np.sort(want)[::-1], atol=0.051)


async def test_analysis_panel_ranks_and_attributes():
    src = _france()
    tr = src.trace
    stats = unit_stats(tr)
    async with RecordingApp(src).run_test(size=(120, 36)) as pilot:
        await pilot.press("end", "E")
        await pilot.pause()
        panel = pilot.app.screen
        assert isinstance(panel, AnalysisScreen)
        await _ready(pilot, panel)
        ranking = widget_text(panel.query_one("#ranking"))
        order = np.argsort(-stats.values["var_c"][0, 0], kind="stable")
        listed = [int(u) for u in re.findall(r"unit\s+(\d+)", ranking)]
        assert listed == list(order[: len(listed)]) and len(listed) == 12
        assert "France" in ranking  # the named unit is named in the ranking
        att = output_attribution(src.model, tr, tr.T - 1)
        text = widget_text(panel.query_one("#attribution"))
        assert f"French (winner), step {tr.T}: logit {att.logit:+.3f}" in text
        numbers = [float(v) for v in re.findall(r"[+-]\d+\.\d{3}", text.split("\n", 1)[1])]
        assert abs(sum(numbers[:-1]) + numbers[-1] - att.logit) < 0.01  # units + rest + bias
        # the picked label, and the ranking by output contribution
        await pilot.press("l", "l")  # French, then German: the winner is not listed twice
        await pilot.pause()
        text = widget_text(panel.query_one("#attribution"))
        assert f"{tr.labels[1]} (picked), step {tr.T}: logit" in text
        scatter = widget_text(panel.query_one("#scatter"))
        assert "L1 i" in scatter and "L1 f" in scatter and "L1 o" in scatter
        # Enter selects the ranked unit in the debugger
        await pilot.press("down", "enter")
        await pilot.pause()
        assert isinstance(pilot.app.screen, DebuggerScreen)
        assert pilot.app.screen.unit == int(order[1])


async def test_name_a_unit_go_to_it_by_name_and_save(tmp_path):
    src = synthetic_source(T=6, hidden=6, seed=1)
    async with RecordingApp(src).run_test(size=(180, 36)) as pilot:
        screen = pilot.app.screen
        await pilot.press("j", "j", "r")
        await pilot.pause()
        pilot.app.screen.query_one(Input).value = "[b]quote[/b]"
        await pilot.press("enter")
        await pilot.pause()
        assert dict(screen.names) == {2: "[b]quote[/b]"}
        assert "▶   2 [b]quote[…" in widget_text(screen.query_one("#table"))  # text, cut with …
        assert "unit 2 [b]quote[/b]" in widget_text(screen.query_one("#cell")).splitlines()[0]
        await pilot.press("home", "u")
        await pilot.pause()
        pilot.app.screen.query_one(Input).value = "[b]qu"
        await pilot.press("enter")
        await pilot.pause()
        assert screen.unit == 2
        await pilot.press("ctrl+s")
        await pilot.pause()
        pilot.app.screen.query_one(Input).value = str(tmp_path / "named.npz")
        await pilot.press("enter")
        for _ in range(100):
            await pilot.pause(0.02)
            if (tmp_path / "named.npz").exists():
                break
    saved = Trace.load(tmp_path / "named.npz")
    assert dict(read_names(saved)[0]) == {2: "[b]quote[/b]"}


def test_names_read_back_are_validated():
    tr = synthetic_source(T=4, hidden=4).trace
    hostile = with_names(tr, {})
    from dataclasses import replace

    hostile = replace(tr, meta={**tr.meta, "units": {"1": "ok", "9": "out of range", "-1": "x",
                                                     "2": 5, "3": "12", "x": "y"}})  # fmt: skip
    names, dropped = read_names(hostile)
    assert dict(names) == {1: "ok"} and dropped == 5
    assert read_names(replace(tr, meta={**tr.meta, "units": ["a"]})) == ({}, 1)
    assert find_unit("3", names, 4) == 3 and find_unit("OK", names, 4) == 1
    assert "no unit is named" in find_unit("nope", names, 4)
    assert "between 0 and 3" in find_unit("4", names, 4)


async def test_guidance_shows_the_description_and_names():
    src = _france()
    async with RecordingApp(src).run_test(size=(120, 36)) as pilot:
        await pilot.press("I")
        await pilot.pause()
        assert isinstance(pilot.app.screen, GuidanceScreen)
        text = widget_text(pilot.app.screen.query_one("#about"))
        assert src.model.description.split()[0] in text
        assert "opened on unit 1" in text and "1  France" in text
