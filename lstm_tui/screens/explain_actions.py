"""The debugger's "why?" keys: the provenance and saliency bars, the analysis panel, unit names.

`ExplainActions` is mixed into DebuggerScreen, which owns the state it adds:
which bar the strip shows (`bar`, a string) and the unit names (`names`,
unit → name), both bound to the TraceView. Names come from the trace's meta
(a checkpoint's `units`, or names saved with a recorded trace) and are
validated as hostile data (lstm_tui.explaining.read_names); `r` names the
selected unit and ctrl+s saves the names with the trace, beside the bookmarks
and watches.

* `P`  toggle the provenance bar: where the selected unit's c at t came from;
* `G`  toggle the saliency bar: how much each input moves the output at t;
* `E`  the analysis panel (rankings, saturation scatter, attribution);
* `I`  the model's own guidance: its description and its named units;
* `r`  name the selected unit (`u` then accepts the name).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from textual.binding import Binding
from textual.reactive import var

from ..explaining import named, read_names, unit_label, with_names
from .analysis import AnalysisScreen
from .explain_dialogs import FindUnitDialog, GuidanceScreen, NameUnitDialog

#: The keys, in footer priority order after the watch keys (all off the footer but E).
KEYS = [
    Binding("E", "analysis", "Analysis", tooltip="Which units matter: rankings, gate saturation, output attribution"),
    Binding("P", "bar('provenance')", "Provenance", show=False, tooltip="Toggle the provenance bar: what each earlier step wrote that the unit's c still holds"),
    Binding("G", "bar('saliency')", "Saliency", show=False, tooltip="Toggle the saliency bar: how much each input moves the output at this step"),
    Binding("I", "guidance", "About", show=False, tooltip="The model's description and its named units"),
    Binding("r", "name_unit", "Name", show=False, tooltip="Name the selected unit (u accepts names; ctrl+s saves them)"),
]  # fmt: skip


class ExplainActions:
    """The provenance bar, the analysis panel and unit names for DebuggerScreen."""

    bar: var[str] = var("", init=False)
    """What the strip's bar shows: "" (predictions), "provenance" or "saliency"."""
    names: var[Mapping[int, str]] = var(MappingProxyType({}), init=False)
    """Unit → name, for the layer in view's units (from the trace, or given with r)."""

    def _init_explaining(self) -> None:
        names, self._names_dropped = read_names(self.source.trace)
        self.set_reactive(type(self).names, names)

    def _say_names_dropped(self) -> None:
        if self._names_dropped:
            n = self._names_dropped
            self.note(f"{n} unit name{'s' if n > 1 else ''} in this file could not be used and "
                      f"{'were' if n > 1 else 'was'} dropped.", title="Unit names",
                      severity="warning", timeout=8)  # fmt: skip

    def _explaining_source(self, source) -> None:
        """A new trace: its own names if it carries any, else keep the user's (same model)."""
        names, self._names_dropped = read_names(source.trace)
        if names or self._names_dropped:
            self.names = names
            self._say_names_dropped()
        else:
            self.names = MappingProxyType({u: n for u, n in self.names.items()
                                           if u < source.trace.hidden_size})  # fmt: skip

    def with_unit_names(self, trace):
        """`trace` with the names in view in its meta (what ctrl+s saves)."""
        return with_names(trace, self.names)

    def action_bar(self, kind: str) -> None:
        if kind == "saliency" and self.source.model is None:
            self.note("Saliency needs the model (a recorded trace carries no head): open the "
                      "model file instead.", timeout=4)  # fmt: skip
            return
        self.bar = "" if self.bar == kind else kind
        if self.bar == "provenance":
            self.note(f"Provenance of {unit_label(self.unit, self.names)}'s c: each step's "
                      "surviving write, ◆ the largest (P: off)", timeout=3)  # fmt: skip
        elif self.bar == "saliency":
            self.note("Saliency: |d logit / d x| of the winning label at each step (G: off)",
                      timeout=3)  # fmt: skip

    def action_analysis(self) -> None:
        def done(unit: int | None) -> None:
            if unit is not None:
                self.unit = unit

        self.app.push_screen(AnalysisScreen(self.source, self.t, self.lstm_layer, self.direction,
                                            self.unit, self.names), done)  # fmt: skip

    def action_guidance(self) -> None:
        tr = self.source.trace
        model = self.source.model
        description = getattr(model, "description", None) or tr.meta.get("description") or ""
        focus = self._focus_unit(self.source) if tr.meta.get("focus") is not None else None
        self.app.push_screen(GuidanceScreen(self.source.name, str(description), self.names, focus))

    def action_goto_unit(self) -> None:
        def done(unit: int | None) -> None:
            if unit is not None:
                self.unit = unit

        self.app.push_screen(FindUnitDialog(self.source.trace.hidden_size, self.unit, self.names),
                             done)  # fmt: skip

    def action_name_unit(self) -> None:
        unit = self.unit

        def done(name: str | None) -> None:
            if name is None:
                return
            self.names = named(self.names, unit, name)
            said = f"Unit {unit} is {name}" if name else f"Unit {unit} has no name now"
            self.note(f"{said} (ctrl+s saves names with the trace)", timeout=3)

        self.app.push_screen(NameUnitDialog(unit, self.names.get(unit, "")), done)
