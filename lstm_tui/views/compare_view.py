"""CompareView: the panel group shown twice — two TraceViews side by side, or one at a time.

The screen mounts two TraceViews in it (the trace in view, and the second
input or model it is compared with), each bound to the same cursor, so the
same step, layer, direction and unit are on both. Which of them fit is
`layout.compare_sides`, a pure function of the width: side by side from 161
columns (two views of 80 and a blank column between them, so that the first's table
never runs into the second's), else the `side` the user picked (`|`), whose
own panels show the difference from the other.
"""

from __future__ import annotations

from textual.containers import Horizontal
from textual.reactive import var

from ..layout import compare_sides
from .trace_view import TraceView


class CompareView(Horizontal):
    """Holds one TraceView, or two being compared."""

    paired: var[bool] = var(False, init=False)
    """Is there a second trace (a comparison)?"""
    side: var[int] = var(0, init=False)
    """Below the side-by-side width, which trace is shown: 0 the first, 1 the second."""

    def views(self) -> list[TraceView]:
        return list(self.query_children(TraceView))

    def shown(self) -> list[TraceView]:
        """The trace views on screen, left to right."""
        return [v for v in self.views() if v.display]

    def both_fit(self) -> bool:
        return all(compare_sides(self.size.width, True, self.side))

    def _arrange(self) -> None:
        views = self.views()
        if len(views) < 2 or self.size.width == 0:
            return
        shows = compare_sides(self.size.width, self.paired, self.side)
        for view, show in zip(views, shows):
            if view.display != show:  # an unchanged display must not cost a layout pass
                view.display = show
        self.set_class(all(shows), "-side-by-side")  # the gap between them (tcss)

    def on_resize(self) -> None:
        self._arrange()

    def watch_paired(self) -> None:
        self._arrange()

    def watch_side(self) -> None:
        self._arrange()
