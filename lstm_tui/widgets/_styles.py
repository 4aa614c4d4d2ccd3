"""Component styles looked up once per restyle, not once per frame.

Textual forgets a widget's component styles at every refresh, so a panel
that asks for a dozen of them while drawing pays for a dozen walks up the DOM
at every step. A widget's styles change only when Textual restyles it (a
theme, a pseudo-class, NO_COLOR), which it announces with the public
`notify_style_update`, as Textual's own DataTable and OptionList clear their
caches there; `CachedStyles` keeps them until then.
"""

from __future__ import annotations

from rich.style import Style


class CachedStyles:
    """Mixin for a Widget: `component_style` and `base_style`, kept until the next restyle."""

    def _style_memo(self) -> dict:
        key = (self.app.theme, self.app.no_color)  # a restyle notifies; this is belt and braces
        memo = self.__dict__.get("_cached_styles")
        if memo is None or memo[0] != key:
            memo = self.__dict__["_cached_styles"] = (key, {})
        return memo[1]

    def component_style(self, name: str) -> Style:
        """`get_component_rich_style(name)`, remembered."""
        memo = self._style_memo()
        got = memo.get(name)
        if got is None:
            got = memo[name] = self.get_component_rich_style(name)
        return got

    def base_style(self) -> Style:
        """The widget's own `rich_style` (its colours over its ancestors'), remembered."""
        memo = self._style_memo()
        got = memo.get(None)
        if got is None:
            got = memo[None] = self.rich_style
        return got

    def notify_style_update(self) -> None:
        self.__dict__.pop("_cached_styles", None)
        super().notify_style_update()
