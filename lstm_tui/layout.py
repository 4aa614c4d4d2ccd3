"""The debugger's layout as a pure function of the space it has.

Every size the layout depends on is here, once: the smallest terminal, the
widths at which the cell view moves beside the table and grows to the full
diagram, the rows the history and heatmap need, and how many footer keys fit.
`plan` turns (width, height, what is shown) into a plain `Layout` of
decisions that the TraceView applies; it imports no Textual, so it is tested
as plain Python (tests/tui/test_layout.py).

The shapes, by the width a trace view has:

* ≥ 184 columns: table | large cell diagram (gates named in their boxes);
* 160–183: table | full cell diagram;
* 120–159: table | compact cell diagram;
* 80–119: the table over a row of [compact cell | output].

The rows are shared between the body (table and cell view: what their content
needs) and the plots below it (history and heatmap: the rest). From 120×34 the
plots are always shown; below that, when they get PLOT_ROWS; otherwise `p`
shows one of them in place of the cell view. Below 80×24 a message replaces
the screen.

Watches: once there are any, the watch panel takes a row per watch (up to
WATCH_LIST_ROWS, then it scrolls) and its title between the body and the
plots, as long as the plots still fit below it. Where they would not (80×24,
a tall table on 100×30), the watch panel is not squeezed in: it becomes one
more thing `p` shows in the lower area (WATCHES, after the heatmap), with
the table shrunk to its rows above it, as for the history.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from rich.cells import cell_len

from .renderables.cell_diagram import COMPACT_WIDTH, FULL_WIDTH, LARGE_WIDTH

#: The smallest terminal the debugger draws in; below it, a message says so.
MIN_WIDTH, MIN_HEIGHT = 80, 24
#: Rows the screen keeps for itself around a trace view: the header and the footer.
SCREEN_ROWS = 2
#: Rows of the sequence strip (its title rule and three lines).
STRIP_ROWS = 4
#: Rows of the unit table besides one per unit: its title rule and header line.
TABLE_CHROME_ROWS = 2

#: From this width the cell view sits beside the table; below it, under it.
BESIDE_FROM = 120
#: From this width the side column is wide enough (67: CELL_WIDTHS) for the full
#: 65-column cell diagram beside a whole table (13 columns, two decimals: 93).
FULL_CELL_FROM = 160
#: From this width the side column (80: CELL_WIDTHS) holds the large 78-column diagram
#: beside a whole table with room for unit names (104).
LARGE_CELL_FROM = 184
#: From BESIDE_FROM columns and this many terminal rows, the plots are always shown.
PLOTS_ALWAYS_FROM = 34
#: From this many terminal rows, the plots get BIG_PLOT_ROWS at least.
BIG_PLOTS_FROM = 50

#: Rows the history and heatmap need to be worth showing (title rule included).
PLOT_ROWS = 10
#: Rows the plots get at least on a tall terminal.
BIG_PLOT_ROWS = 16
#: Fewest rows the body is given, whatever the plots want.
MIN_BODY_ROWS = 3
#: The cell view's height before it has been measured (about the compact diagram's).
CELL_ROWS_GUESS = 10

#: What `p` cycles through when the plots do not fit beside the cell view.
PANELS = ("cell", "history", "heatmap")
#: What `p` also shows once there are watches, when they do not fit beside the plots.
WATCHES = "watches"
#: Rows of the watch panel besides one per watch: its title rule.
WATCH_CHROME_ROWS = 1
#: Most watches the panel lists at once where it shares the screen with the plots.
WATCH_LIST_ROWS = 6
#: The arrangements of table and cell view, narrowest first (CSS classes `-<name>`).
ARRANGEMENTS = ("stacked", "beside", "wide", "large")

#: Columns the cell view's padding takes around the diagram.
CELL_PADDING = 2
#: Columns of the cell view in each arrangement: the diagram it draws there and its padding.
CELL_WIDTHS = {
    "stacked": COMPACT_WIDTH + CELL_PADDING, "beside": COMPACT_WIDTH + CELL_PADDING,
    "wide": FULL_WIDTH + CELL_PADDING, "large": LARGE_WIDTH + CELL_PADDING,
}  # fmt: skip

#: Footer cells the command-palette key takes on the right (its 11 and a gap).
PALETTE_CELLS = 12


def too_small(width: int, height: int) -> bool:
    """Is the terminal too small to draw the debugger in?"""
    return width < MIN_WIDTH or height < MIN_HEIGHT


def too_small_message(width: int, height: int) -> str:
    """What a too-small terminal shows instead of the debugger, in as few lines as it has.

    The long form takes four lines of up to 56 cells; below that, one short line
    (at 20×5 the terminal has three rows between the header and the footer).
    """
    need = f"{MIN_WIDTH}×{MIN_HEIGHT}"
    if width >= 60 and height >= 8:
        return (f"This terminal is {width}×{height}; lstm-tui needs at least {need}.\n"
                "Enlarge the window, or press q to quit.")  # fmt: skip
    return f"{width}×{height}: too small, {need} needed. q quits."


def arrangement(width: int) -> str:
    """How the table and the cell view share `width` columns: one of ARRANGEMENTS."""
    if width >= LARGE_CELL_FROM:
        return "large"
    if width >= FULL_CELL_FROM:
        return "wide"
    return "beside" if width >= BESIDE_FROM else "stacked"


@dataclass(frozen=True)
class Layout:
    """What a trace view shows, and how many rows each part gets.

    `bottom_rows` is None where the plots' row is hidden. Plain ints, strings
    and bools, so two layouts compare by value.
    """

    arrangement: str
    plots_fit: bool
    """Do the history and heatmap fit below the table and cell view (no `p` needed)?"""
    body_rows: int
    bottom_rows: int | None
    show_side: bool
    show_history: bool
    show_heatmap: bool
    watch_rows: int | None = None
    """Rows of the watch panel, None where it is hidden."""

    @property
    def cell_width(self) -> int:
        """Columns of the cell view: the compact, full or large diagram and its padding."""
        return CELL_WIDTHS[self.arrangement]

    @property
    def side_width(self) -> int | None:
        """Columns of the side column (cell view over output) beside the table; None where
        it is under the table and takes the whole width (cell view | output)."""
        return None if self.arrangement == "stacked" else self.cell_width

    @property
    def show_bottom(self) -> bool:
        return self.bottom_rows is not None

    @property
    def show_watches(self) -> bool:
        return self.watch_rows is not None


def watch_rows(watches: int) -> int:
    """Rows the watch panel asks for with `watches` watches (0: it is not shown)."""
    return WATCH_CHROME_ROWS + min(watches, WATCH_LIST_ROWS) if watches > 0 else 0


def plan(width: int, height: int, *, units: int, side_rows: int | None = None,
         panel: str = "cell", watches: int = 0) -> Layout:  # fmt: skip
    """The layout of a trace view `width` × `height` (the terminal less header and footer).

    `units` is the table's row count (the hidden size), `side_rows` the height
    the cell view and output panel last took on screen (None or 0 when not
    measured or not shown), `panel` what `p` has chosen (one of PANELS, or
    WATCHES; WATCHES without watches is "cell"), `watches` how many watches
    the watch panel lists (0: no watch panel).

    The body gets what its content needs (a 16-unit table leaves no blank
    rows), the plots the rest; when that is fewer than PLOT_ROWS, `panel`
    decides whether the cell view or one of the plots is shown. The watch
    panel goes between them when the plots still fit with it, else `panel`
    shows it (WATCHES).
    """
    if panel not in (*PANELS, WATCHES):
        raise ValueError(f"panel must be one of {(*PANELS, WATCHES)}, not {panel!r}")
    want = watch_rows(watches)
    if not want:
        return _plan(width, height, units, side_rows, "cell" if panel == WATCHES else panel)
    inline = _plan(width, height, units, side_rows, "cell" if panel == WATCHES else panel,
                   reserve=want)  # fmt: skip
    if inline.plots_fit:
        return replace(inline, watch_rows=want)
    if panel != WATCHES:  # `p` has the watches now, so the plots are one of its panels too
        return _plan(width, height, units, side_rows, panel, may_fit=False)
    rest = height - STRIP_ROWS
    body = max(min(units + TABLE_CHROME_ROWS, rest - max(want, PLOT_ROWS)), MIN_BODY_ROWS)
    return Layout(arrangement(width), False, body, None, False, False, False, rest - body)


def _plan(width: int, height: int, units: int, side_rows: int | None, panel: str,
          may_fit: bool = True, reserve: int = 0) -> Layout:  # fmt: skip
    """The rows of body and plots, `reserve` rows kept for the watch panel (`may_fit`: may
    the plots fit at all?)."""
    terminal_rows = height + SCREEN_ROWS
    rest = height - STRIP_ROWS - reserve
    shape = arrangement(width)
    side_h = side_rows or 0
    if side_h == 0 and panel == "cell":
        side_h = CELL_ROWS_GUESS
    table_need = units + TABLE_CHROME_ROWS
    body_need = table_need + side_h if shape == "stacked" else max(table_need, side_h)
    roomy = width >= BESIDE_FROM and terminal_rows >= PLOTS_ALWAYS_FROM
    min_plots = BIG_PLOT_ROWS if terminal_rows >= BIG_PLOTS_FROM else PLOT_ROWS
    fit = may_fit and (roomy or rest - body_need >= PLOT_ROWS)
    if fit:
        body = max(min(body_need, rest - min_plots), MIN_BODY_ROWS)
        return Layout(shape, True, body, rest - body, True, True, True)
    if panel == "cell":  # the table shrinks to its rows; what is left stays below the cell view
        return Layout(shape, False, min(rest, body_need), None, True, False, False)
    body = max(min(table_need, rest - PLOT_ROWS), MIN_BODY_ROWS)
    return Layout(shape, False, body, rest - body, False, panel == "history", panel == "heatmap")


def footer_fit(entries: list[tuple[str, str]], width: int) -> int:
    """How many footer entries (key, description), in priority order, fit whole in `width`.

    A compact footer entry takes "key description" and a space; the command
    palette key keeps PALETTE_CELLS on the right. The footer keeps its order:
    nothing after the first entry that does not fit.
    """
    room = width - PALETTE_CELLS
    for n, (key, description) in enumerate(entries):
        cells = cell_len(key) + 1 + cell_len(description) + 1
        if cells > room:
            return n
        room -= cells
    return len(entries)


#: Blank columns between two traces shown side by side: without one the first's table,
#: which may use its whole width, would run into the second's.
SIDE_BY_SIDE_RULE = 1
#: From this width two traces being compared are shown side by side, each at least MIN_WIDTH.
SIDE_BY_SIDE_FROM = 2 * MIN_WIDTH + SIDE_BY_SIDE_RULE


def compare_sides(width: int, paired: bool, side: int) -> tuple[bool, bool]:
    """Which of two trace views (the first, the second) a comparison shows in `width` columns.

    Side by side from SIDE_BY_SIDE_FROM, where each still gets a whole trace
    view; below that one side at a time (`side`: 0 the first, 1 the second),
    with the difference on that side's own panels, rather than two views too
    narrow for a table. Without a second trace, the first alone.
    """
    if not paired:
        return True, False
    if width >= SIDE_BY_SIDE_FROM:
        return True, True
    return side == 0, side == 1
