"""The sequence strip's window at a step costs O(log T), not a pass over every token (issue 16).

The window is defined by a greedy growth from the cursor (right, then left, one token at a
time while it fits); `visible_range` finds the same window by bisection over running sums
that `CellWidths` keeps per strip width. These tests check both halves: the same window as
the greedy definition, and how many widths a step reads.
"""

from __future__ import annotations

import numpy as np
import pytest

from lstm_tui.widgets.sequence_strip import CellWidths, MARK, visible_range, window


def greedy(widths: list[int], t: int, width: int) -> tuple[int, int]:
    """The window as the strip has always defined it: one token at a time, right then left."""
    a = b = t
    used = widths[t]
    while True:
        grew = False
        if b + 1 < len(widths) and used + widths[b + 1] <= width:
            b += 1
            used += widths[b]
            grew = True
        if a - 1 >= 0 and used + widths[a - 1] <= width:
            a -= 1
            used += widths[a]
            grew = True
        if not grew:
            return a, b + 1


@pytest.mark.parametrize("seed", range(6))
def test_bisection_finds_the_greedy_window(seed):
    rng = np.random.default_rng(seed)
    for _ in range(300):
        n = int(rng.integers(1, 60))
        widths = rng.integers(1, 17, n).tolist()
        if seed % 2:  # runs of one width, where ties between the two sides are common
            widths = [widths[0]] * n
        t = int(rng.integers(0, n))
        width = int(rng.integers(1, 90))
        assert visible_range(widths, t, width) == greedy(widths, t, width), (widths, t, width)


def test_a_token_wider_than_the_window_is_the_window():
    assert visible_range([3, 50, 3], 1, 30) == greedy([3, 50, 3], 1, 30) == (1, 2)


def test_window_matches_the_greedy_definition_on_drawn_widths():
    rng = np.random.default_rng(7)
    widths = CellWidths(rng.integers(3, 17, 500).tolist())
    for width in (8, 13, 40, 120, 200):
        budget = max(width - 2 * MARK, 1)
        drawn = [min(w, budget) for w in widths]
        for t in (0, 1, 17, 250, 498, 499):
            a, b, got = window(widths, t, width)
            assert (a, b) == greedy(drawn, t, budget)
            assert [got[k] for k in range(a, b)] == drawn[a:b]


class Counted(list):
    """A list that counts the items read from it (indexing, slicing, iteration)."""

    reads = 0

    def __getitem__(self, k):
        got = super().__getitem__(k)
        Counted.reads += len(got) if isinstance(k, slice) else 1
        return got

    def __iter__(self):
        for k in range(len(self)):
            yield self[k]


class CountedWidths(CellWidths):
    """CellWidths that count what a step reads of them, their drawn widths and running sums."""

    def __getitem__(self, k):
        got = super().__getitem__(k)
        Counted.reads += len(got) if isinstance(k, slice) else 1
        return got

    def __iter__(self):
        for k in range(len(self)):
            yield self[k]

    def drawn(self, budget):
        drawn, cum = super().drawn(budget)
        return Counted(drawn), Counted(cum)


def test_a_step_reads_a_few_widths_of_a_100000_token_sequence():
    rng = np.random.default_rng(0)
    T = 100_000
    widths = CountedWidths(rng.integers(3, 17, T).tolist())
    window(widths, 0, 160)  # the running sums for this width, made once
    for t in (0, 1, 5_000, 49_999, 50_000, 99_998, 99_999):
        Counted.reads = 0
        a, b, _ = window(widths, t, 160)
        assert a <= t < b
        # two bisections over 100,001 sums: about 2·17 reads each, never a pass over the tokens
        assert Counted.reads <= 4 * 18, (t, Counted.reads)
