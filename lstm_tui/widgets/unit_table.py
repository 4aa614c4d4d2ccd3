"""UnitTable: one row per unit, the twelve pointwise quantities of the step in view.

A DataTable rebuilt at every step is too slow for a thousand units, so this
is a Line-API ScrollView: it keeps the step's columns (computed once by the
screen) and formats only the rows that are on screen. The header line stays
put while the rows scroll under it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ..renderables.palette import fmt as palette_fmt
from ..renderables.palette import (
    gate_glyph,
    gate_style,
    is_finite,
    signed_glyph,
    signed_style,
)
from ..stepdata import TABLE_COLUMNS as COLUMNS
from ..stepdata import NOT_PER_UNIT_WHEN_PROJECTED, UNIT_COLUMNS, StepColumns, column_label, is_gate

#: Fewest cells of the unit column ("▶" or a space, then the number; "unit↓" over it).
UNIT_W = 5
#: Most cells a unit's name takes in the unit column (names are cut with …).
NAME_W = 10
#: Which columns are gates, in column order (looked up once: rows are drawn at every step).
_GATES = tuple(is_gate(q) for q in COLUMNS)
#: A difference of two gates is signed: every column then draws as a signed one.
_SIGNED = (False,) * len(COLUMNS)


_BOLD = Style(bold=True)
#: Cell styles remembered per column (UnitTable._style_memos).
STYLE_MEMO = 8192
#: The glyph after a marked unit's number (UnitTable.marked), in the space before its name.
MARKED = "◆"


@lru_cache(maxsize=16384)
def _gate(v: float, dark: bool, under: Style) -> Style:
    style = under + gate_style(v, dark=dark)
    return style + _BOLD if under.bold else style  # the selected row stays bold


@lru_cache(maxsize=16384)
def _signed(v: float, scale: float, dark: bool, under: Style) -> Style:
    style = under + signed_style(v, scale, dark=dark)
    return style + _BOLD if under.bold else style


def cell_style(v: float, gate: bool, scale: float, dark: bool, under: Style) -> Style:
    """`under` plus the palette's style for v, memoised on v rounded to 1/1000 of its scale.

    Styles are built for every cell at every step; colours closer than that
    are indistinguishable, and the saturation thresholds (0.02 / 0.98) stay exact.
    """
    if v != v or v in (float("inf"), float("-inf")):
        return under + gate_style(v, dark=dark)
    if gate:
        return _gate(round(v, 3), dark, under)
    return _signed(round(v / scale, 3) * scale, scale, dark, under)


def blank_as(style: Style, under: Style) -> bool:
    """Does a space drawn in `style` look like one drawn in `under`? Only a background and
    the line-like attributes show on a blank; colour, bold and italic do not."""
    def shown(st: Style) -> tuple:
        return (st.bgcolor, st.reverse, st.underline, st.underline2, st.strike, st.overline)

    return shown(style) == shown(under) and not any(shown(under)[1:])


def fmt(v: float, width: int, gate: bool, digits: int = 2) -> str:
    """v in at most `width` characters, with `digits` decimals (the column's precision).

    The palette's `fmt` spells the value; a column gives all its numbers one
    precision (`column_digits`), so ``-13.0`` never stands over ``-12.30``. A value
    wider than its column at that precision (only when the column was measured for
    another trace) drops decimals, then prints as a bare exponent. Non-finite values
    are spelled as the palette spells them ("nan", "+inf"); a finite value never
    prints as infinity.
    """
    if not is_finite(v):
        return palette_fmt(v).rjust(width)
    if gate and 0.0 <= v <= 1.0:
        return palette_fmt(v, signed=False, digits=digits).rjust(width)
    mantissa, exponent = f"{v:+.0e}".split("e")
    short = f"{mantissa}e{int(exponent)}"  # +1e6: what is left when no decimal fits
    for d in range(digits, -1, -1):
        text = palette_fmt(v, digits=d)
        if len(text) <= width:
            return text.rjust(width)
    return short.rjust(width)


def fmt_specs(width: int, gate: bool, digits: int) -> tuple[str, str]:
    """`format` specs that print what `fmt` prints for the common values of one column, in one
    call: (a gate's value in [0, 1], any other finite value at the column's precision). A
    text longer than `width` is not what `fmt` prints: `fast_fmt` then asks `fmt`."""
    return (f">{width}.{digits}f" if gate else "", f">+{width}.{digits}f")


def fast_fmt(v: float, width: int, gate: bool, digits: int, specs: tuple[str, str]) -> str:
    """`fmt(v, width, gate, digits)`, with `specs` (`fmt_specs`) for the values that need no
    choice: a row of the table formats a dozen numbers at every step."""
    if v - v == 0:  # finite (nan and ±inf give nan)
        if gate and 0.0 <= v <= 1.0:
            text = format(v, specs[0])
        else:
            text = format(v, specs[1])
        if len(text) <= width:
            return text
    return fmt(v, width, gate, digits)


def column_digits(need: int, width: int) -> int:
    """The decimals one column prints: 2 where its widest number (`need` characters at two
    decimals, over the whole sequence) fits `width`, else 1, else none ("+12")."""
    if width >= need:
        return 2
    return 1 if width >= need - 1 else 0


def fmt_steps(v: float, width: int) -> str:
    """A half-life in steps: ∞ for a unit that never forgets, else as many decimals as fit."""
    if v != v:
        return "nan".rjust(width)
    if v == float("inf"):
        return "∞".rjust(width)
    for text in (f"{v:.1f}", f"{v:.0f}"):
        if len(text) <= width:
            return text.rjust(width)
    return f"{v:.0e}".rjust(width)


#: Columns dropped where they would cost the step's quantities a decimal, first first.
OPTIONAL = (*UNIT_COLUMNS, "h_prev")


def _shown(widths: list[int]) -> int:
    """How many columns are shown (a width of 0 is a hidden column)."""
    return sum(1 for w in widths if w)


class UnitTable(ScrollView, can_focus=False):
    """The unit table: rows in the screen's sort order, the selected unit marked."""

    DEFAULT_CSS = """
    UnitTable { scrollbar-size-vertical: 1; scrollbar-size-horizontal: 0; }
    """
    COMPONENT_CLASSES = {"unit-table--header", "unit-table--sorted", "unit-table--cursor",
                         "unit-table--marked"}

    columns: reactive[StepColumns | None] = reactive(None, always_update=True)
    """The step in view: values of every column and the display order (set by the screen)."""
    unit: reactive[int] = reactive(0)
    """The selected unit (its index in the LSTM, not its row)."""
    names: reactive[Mapping[int, str]] = reactive(dict)
    """Unit → name, shown after the unit's number (the unit column widens to fit them)."""
    marked: reactive[frozenset[int]] = reactive(frozenset)
    """Units to mark (LSTMVis's select: the units on over the selected span): MARKED after the
    unit's number, in the unit-table--marked style, so the mark shows without colour too."""

    @dataclass
    class UnitClicked(Message):
        unit: int

    @dataclass
    class SortClicked(Message):
        column: str

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._cache: LRUCache[tuple, Strip] = LRUCache(256)
        self._style_key: tuple | None = None
        self._styles: dict[str, Style] = {}
        self._widths: tuple[int, ...] = (7,) * len(COLUMNS)
        self._digits: tuple[int, ...] = (2,) * len(COLUMNS)
        self._unit_w = UNIT_W
        self._num_w = UNIT_W  # the unit column without names: wide enough for the largest unit
        self._name_w = 0
        self._glyphs = False  # NO_COLOR and room for a glyph before each number
        self._row_key: tuple | None = None
        self._layout_key: tuple | None = None
        self._memos: dict[tuple, dict[float, tuple[Style, bool]]] = {}
        self._row_shared: tuple = ()
        self._frame_width = 0
        """The table's width while a frame is drawn (render_lines), else 0."""

    def _row_styles(self) -> dict[str, Style]:
        """The few styles every row combines, looked up once per theme, not once per cell."""
        key = (self.app.theme, self.app.no_color)
        if key != self._style_key:
            base = self.rich_style
            cursor = base + self.get_component_rich_style("unit-table--cursor")
            head = base + self.get_component_rich_style("unit-table--header")
            sorted_ = head + self.get_component_rich_style("unit-table--sorted")
            marked = self.get_component_rich_style("unit-table--marked")
            self._styles = {"base": base, "cursor": cursor, "head": head, "sorted": sorted_,
                            "marked": marked}  # fmt: skip
            self._style_key = key
        return self._styles

    def _number_needs(self) -> list[int]:
        """Characters each column's numbers need at two decimals (0: a column not shown,
        h_t-1 of a projected LSTM, which has no per-unit value)."""
        cols = self.columns
        hidden = NOT_PER_UNIT_WHEN_PROJECTED if cols is not None and cols.projected else ()
        return [0 if q in hidden else (cols.widths or {}).get(q, 5) if cols is not None else 5
                for q in COLUMNS]  # fmt: skip

    def _needs(self) -> list[int]:
        """Characters each column's numbers (or its label) need, two decimals each."""
        return [max(n, len(self._label(q)), 3) if n else 0
                for q, n in zip(COLUMNS, self._number_needs())]  # fmt: skip

    def column_widths(self) -> tuple[int, ...]:
        """Each column's width (a gap, then the number), from what its values need.

        Every number gets two decimals whenever the columns fit the table: gate
        columns need 4 characters, signed ones 5 until |x| ≥ 10. The columns that
        are not one of the step's twelve quantities (OPTIONAL: the retention t½,
        then h_t-1, which the cell view shows for the selected unit) are dropped,
        in that order, where they would cost those numbers a decimal, unless the
        table is sorted by them. If the rest still does not fit (a huge c at 80
        columns), the widest columns give up a character and their numbers lose a
        decimal, one precision per column; spare room widens every column by one.
        """
        need = self._needs()
        cols = self.columns
        overflows = cols is not None and cols.H + 1 > self.size.height
        room = self.size.width - self._unit_w - (1 if overflows else 0)  # the scrollbar
        sorted_by = cols.sort if cols is not None else None
        optional = [COLUMNS.index(q) for q in OPTIONAL if q != sorted_by]
        # without colour a glyph stands between two spaces before each number
        # (``0.68 ▓ 0.91 ≡ -0.83``); where that would cost the quantities decimals, none
        step = [0 if k in optional else w for k, w in enumerate(need)]
        self._glyphs = self.app.no_color and sum(step) + 3 * _shown(step) <= room
        gap = 3 if self._glyphs else 1
        for k in [None, *optional]:
            if k is not None:
                need[k] = 0
            if sum(need) + gap * _shown(need) <= room:
                break
        return self._squeeze(need, room, gap)

    @staticmethod
    def _squeeze(need: list[int], room: int, gap: int) -> tuple[int, ...]:
        text = list(need)
        n = _shown(text)
        while sum(text) + gap * n > room and max(text) > 4:
            k = text.index(max(text))
            text[k] -= 1
        if sum(text) + (gap + 1) * n <= room:
            text = [w + 1 if w else 0 for w in text]
        return tuple(w + gap if w else 0 for w in text)

    def _label(self, q: str) -> str:
        cols = self.columns
        if cols is None:
            return column_label(q)
        return column_label(q, cols.reverse, cols.projected)

    def _set_virtual_size(self) -> None:
        """Lay the columns out for what they depend on, which a step does not change (the
        widths are the sequence's, measured per layer and direction)."""
        cols = self.columns
        key = (cols.H, cols.sort, cols.projected, cols.reverse, cols.widths, self.names,
               self.marked, self.size, self.app.no_color)  # fmt: skip
        if key == self._layout_key:
            return
        self._layout_key = key
        # names take only the room the step's numbers leave at two decimals (3 cells at least)
        need = self._needs()[: len(COLUMNS) - len(UNIT_COLUMNS)]
        self._num_w = max(UNIT_W, len(str(self.columns.H - 1)) + 1)
        spare = self.size.width - self._num_w - 1 - sum(need) - _shown(need) - 1
        longest = max((cell_len(n) for n in self.names.values()), default=0)
        self._name_w = min(longest, NAME_W, spare)
        if self._name_w < 3:
            self._name_w = 0
        # the space after the number holds a mark (◆) and then the name; without names it is
        # there only while units are marked
        after = self._name_w + 1 if self._name_w else (1 if self.marked else 0)
        self._unit_w = self._num_w + after
        self._widths = self.column_widths()
        gap = 3 if self._glyphs else 1
        self._digits = tuple(column_digits(n, w - gap)
                             for n, w in zip(self._number_needs(), self._widths))  # fmt: skip
        self.virtual_size = Size(self._unit_w + sum(self._widths), self.columns.H + 1)

    def watch_marked(self) -> None:
        self._cache.clear()
        if self.columns is not None:
            self._set_virtual_size()  # the first marks make room after the numbers
        self.refresh()

    def watch_names(self) -> None:
        self._cache.clear()
        if self.columns is not None:
            self._set_virtual_size()
        self.refresh()

    def watch_columns(self, columns: StepColumns | None) -> None:
        self._cache.clear()
        if columns is not None:
            self._set_virtual_size()
            # a ranking is read from its top: stepping re-ranks, so a sorted table
            # keeps its scroll position instead of chasing the selected unit
            if columns.sort == "unit":
                self._keep_visible()
        self.refresh()

    def scroll_to_top(self) -> None:
        self.scroll_to(y=0, animate=False, immediate=True)

    def watch_unit(self) -> None:
        self._cache.clear()
        self._keep_visible()
        self.refresh()

    def on_resize(self) -> None:
        self._cache.clear()
        if self.columns is not None:
            self._set_virtual_size()
            self._keep_visible()

    def _keep_visible(self) -> None:
        cols = self.columns
        if cols is None or self.size.height < 2:
            return
        row = cols.row_of(self.unit)
        rows = self.size.height - 1
        top = round(self.scroll_offset.y)
        if row < top:
            self.scroll_to(y=row, animate=False, immediate=True)
        elif row >= top + rows:
            self.scroll_to(y=row - rows + 1, animate=False, immediate=True)

    # --- drawing
    def render_line(self, y: int) -> Strip:
        cols = self.columns
        base = self._row_styles()["base"]
        width = self._frame_width or self.size.width
        if cols is None:
            return Strip([Segment(" " * width, base)], width)
        scroll_x, scroll_y = self.scroll_offset
        row = None if y == 0 else y - 1 + round(scroll_y)
        cw = self._widths
        key = (row, cw, self.unit if row is not None else (cols.sort, cols.descending),
               self.app.theme)  # fmt: skip
        strip = self._cache.get(key)
        if strip is None:
            strip = (self._header(cols, cw, base) if row is None
                     else self._row(cols, row, cw, base, width))  # fmt: skip
            self._cache[key] = strip
        x = round(scroll_x)
        if x == 0 and strip.cell_length == width:  # a row is drawn as wide as the table
            return strip
        return strip.crop_extend(x, x + width, base)

    def render_lines(self, crop: Region) -> list[Strip]:
        # the width is a walk up the DOM: looked up once a frame, not once a line
        self._frame_width = self.size.width
        try:
            return super().render_lines(crop)
        finally:
            self._frame_width = 0

    def _header(self, cols: StepColumns, cw: tuple[int, ...], base: Style) -> Strip:
        head, sorted_style = self._row_styles()["head"], self._row_styles()["sorted"]
        arrow = "↓" if cols.descending else "↑"
        label = "unit" + (arrow if cols.sort == "unit" else " ")
        segs = [Segment(label.rjust(self._num_w).ljust(self._unit_w), sorted_style if cols.sort == "unit" else head)]
        for q, w in zip(COLUMNS, cw):
            if not w:  # a per-unit column with no room
                continue
            text = self._label(q)
            if q == cols.sort:
                # signed columns sort by size: say so (|g|↓) when it fits; the arrow
                # always shows, over the gap before the column if the label fills it
                magnitude = f"|{text}|{arrow}"
                text = magnitude if not is_gate(q) and len(magnitude) <= w - 1 else text + arrow
                segs.append(Segment(text[-w:].rjust(w), sorted_style))
                continue
            segs.append(Segment(text[:w - 1].rjust(w), head))
        return Strip(segs)

    def _row_context(self, cols: StepColumns, cw: tuple[int, ...], width: int) -> tuple:
        """What every row of this frame shares, looked up once a frame rather than once a
        row or a cell: the shown columns with their scales, kinds and number formats, the
        step's values as one (columns, H) array (a row is then one `tolist`), and each
        column's style memo for the other rows and the selected one (`_style_memos`)."""
        key = (cols, cw, self._digits, self._glyphs, self._style_key, width)  # theme, NO_COLOR
        if self._row_key is not None and all(a is b or a == b for a, b in
                                                 zip(key, self._row_key)):  # fmt: skip
            return self._row_shared
        kinds = _SIGNED if cols.difference else _GATES
        shown = [(q, w, gate, digits) for q, w, gate, digits
                 in zip(COLUMNS, cw, kinds, self._digits) if w]  # fmt: skip
        mono = self.app.no_color and self._glyphs
        cells = []
        for q, w, gate, digits in shown:
            glyph_w = 3 if mono else 1
            specs = fmt_specs(w - glyph_w, gate, digits)
            cells.append((q, w - glyph_w, gate, digits, cols.scales[q], q in UNIT_COLUMNS, specs))
        values = np.array([cols.values[q] for q, *_ in shown], dtype=np.float64)
        memos = (self._style_memos(False, cells), self._style_memos(True, cells))
        self._row_shared = (cells, values, mono, self.app.current_theme.dark, memos)
        self._row_key = key
        return self._row_shared

    def _style_memos(self, selected: bool,
                     cells: list[tuple]) -> list[dict[float, tuple[Style, bool]]]:
        """Per shown column, the cell styles met so far by rounded value (`cell_style`'s own
        rounding), each with `blank_as` for the gap before it, for the selected row or the
        others, in this theme: a dict lookup per cell where `cell_style` hashes a Style.
        Bounded (STYLE_MEMO entries a column)."""
        theme = (self.app.theme, self.app.no_color, selected)
        memos = self._memos
        if len(memos) > 4 * len(COLUMNS) * 2:  # scales of other layers, directions, traces
            memos.clear()
        return [memos.setdefault((*theme, gate, scale), {})
                for _q, _w, gate, _d, scale, *_ in cells]  # fmt: skip

    def _row(self, cols: StepColumns, row: int, cw: tuple[int, ...], base: Style,
             width: int) -> Strip:  # fmt: skip
        if row >= cols.H:
            return Strip([Segment(" " * (self._unit_w + sum(cw)), base)])
        unit = int(cols.order[row])
        selected = unit == self.unit
        styles = self._row_styles()
        under = styles["cursor" if selected else "base"]
        name = self.names.get(unit, "") if self._name_w else ""
        if cell_len(name) > self._name_w:
            name = name[: self._name_w - 1] + "…"
        number = ("▶" if selected else " ") + f"{unit:>{self._num_w - 1}}"
        # a mark stands in the space after the number, before the name
        mark = unit in self.marked
        gap = Segment(MARKED, under + styles["marked"]) if mark else Segment(" ", under)
        segs = [Segment(number, under)]
        length = len(number)  # cells so far (the numbers are ASCII; a name may not be)
        if self._unit_w > len(number):
            tail = name + " " * (self._unit_w - cell_len(number) - 1 - cell_len(name))
            segs += [gap, Segment(tail, under)]
            length += cell_len(gap.text) + cell_len(tail)
        cells, values, mono, dark, memos = self._row_context(cols, cw, width)
        memos = memos[selected]
        space = Segment(" ", under)
        for (q, width, gate, digits, scale, steps, specs), memo, v in zip(
                cells, memos, values[:, unit].tolist()):  # fmt: skip
            # cell_style depends on v only through this rounding (nan never hits: nan != nan)
            key = round(v, 3) if gate else round(v / scale, 3)
            got = memo.get(key)
            if got is None:
                style = cell_style(v, gate, scale, dark, under)
                got = (style, blank_as(style, under))
                if len(memo) < STYLE_MEMO:
                    memo[key] = got
            style, gap_in_cell = got
            text = fmt_steps(v, width) if steps else fast_fmt(v, width, gate, digits, specs)
            # Without colour, the gap before each number carries a glyph for its size.
            if mono:
                glyph = " " + (gate_glyph(v) if gate else signed_glyph(v, scale)) + " "
                segs.append(Segment(glyph, under))
                length += cell_len(glyph)
            elif gap_in_cell:  # one segment fewer a cell for Textual to carry to the terminal
                text = " " + text
            else:
                segs.append(space)
                length += 1
            segs.append(Segment(text, style))
            length += len(text)
        # padded here as render_line's crop_extend would pad it, with its length known
        if length < width:
            segs.append(Segment(" " * (width - length), base))
            length = width
        return Strip(segs, length)

    # --- messages up
    def on_click(self, event: events.Click) -> None:
        cols = self.columns
        offset = event.get_content_offset(self)
        if cols is None or offset is None:
            return
        x = offset.x + round(self.scroll_offset.x)
        if offset.y == 0:
            if x < self._unit_w:
                self.post_message(self.SortClicked("unit"))
            else:
                edge = self._unit_w
                for q, w in zip(COLUMNS, self._widths):
                    if edge <= x < edge + w:
                        self.post_message(self.SortClicked(q))
                        break
                    edge += w
            return
        row = offset.y - 1 + round(self.scroll_offset.y)
        if 0 <= row < cols.H:
            self.post_message(self.UnitClicked(int(cols.order[row])))
