"""The text form of what-if edits, as `record --edit` and the debugger's edit list write them.

    c[11] = 0 at 6        h[11] = 0.5 at 6       c[:] = 0 at 6        (set c or h at one step)
    f[3] = 1 at 6         f[3] = 1 from 6                             (clamp a gate: then, or on)
    ablate 11             ablate 11 from 6       ablate L2.rev 11     (zero a unit's c and h)
    token 6 = Spain       token 6 = " "          input 6 = 0.5, -1    (replace the input)
    L2.rev.c[3] = 0 at 4                                              (any layer and direction)

Names, layer/direction prefixes and unit numbers are the watch language's
(core/watch.py parses them; this module only splits the sentence around
them), and steps are the screen's, 1..T: "at 6" is position 5, and step 0,
the initial state, cannot be edited. "from 6" runs to the end of the
direction's reading order, as edits.ClampGate and edits.Ablate define it.

`parse_edit` gives the edits.py objects (whose own checks still apply), except
for a token: replacing one needs the model's vocabulary and embedding, which
the core does not have, so it gives a `TokenReplacement` for the model level
to turn into a ReplaceInput. `format_edit` writes any of them back, and
parse_edit(format_edit(e)) == e.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from .edits import Ablate, ClampGate, Edit, ReplaceInput, SetState
from .errors import InputError
from .spec import GATES
from .watch import MAX_TEXT, WatchError, _Compiler, _parse


class EditSyntaxError(WatchError):
    """An edit's text that does not parse or does not fit the trace; `column` says where."""


@dataclass(frozen=True)
class TokenReplacement:
    """"token 6 = Spain": put `token` at position `t`; the model resolves it to a ReplaceInput."""

    t: int
    token: str


_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_STEP = re.compile(r"\s+(at|from)\s+(\S+)\s*$")
_ABLATE = re.compile(r"\s*ablate(?:\s+(?P<scope>L\d+(?:\.\w+)?|fwd|rev))?\s+(?P<unit>\S+)"
                     r"(?:\s+(?P<from>from)\s+(?P<step>\S+))?\s*$")  # fmt: skip
_INPUT = re.compile(r"\s*(?P<kind>token|input)\s+(?P<step>\S+)\s*=(?P<value>.*)$", re.S)
_STATES = ("c", "h")


def parse_edit(text: str, trace, *, layer: int = 0, direction: int = 0) -> Edit | TokenReplacement:
    """The edit `text` describes on `trace` (steps 1..T as on screen); EditSyntaxError otherwise.

    `layer` and `direction` are where an edit without a prefix applies (the
    screen's); `L2.rev.c[3] = 0 at 4` says its own.
    """
    if not isinstance(text, str):
        raise EditSyntaxError(f"an edit is text, got {type(text).__name__}")
    if len(text) > MAX_TEXT:
        raise EditSyntaxError(f"the edit is {len(text)} characters long; the limit is {MAX_TEXT}",
                              text, MAX_TEXT)  # fmt: skip
    if not text.strip():
        raise EditSyntaxError("the edit is empty; for example c[11] = 0 at 6", text, 0)
    parser = _Parser(text, trace, layer, direction)
    edit = parser.parse()
    if not isinstance(edit, TokenReplacement) and trace.spec is not None:
        try:
            edit.check(trace.spec, trace.T)
        except InputError as e:
            raise EditSyntaxError(str(e), text, 0, len(text)) from None
    return edit


class _Parser:
    """Splits one edit's sentence around its parts; the watch compiler reads names and scopes."""

    def __init__(self, text: str, trace, layer: int, direction: int):
        self.text, self.trace = text, trace
        self.layer, self.direction = layer, direction

    def error(self, message: str, start: int, end: int | None = None) -> EditSyntaxError:
        end = start + 1 if end is None else end
        return EditSyntaxError(message, self.text, start, end - start)

    def compiler(self, start: int, end: int) -> tuple[_Compiler, ast.AST]:
        try:
            tree = _parse(self.text, start, end)
            c = _Compiler(self.text, self.trace, self.layer, self.direction, None, start, end)
        except WatchError as e:
            raise EditSyntaxError(e.message, self.text, e.column, e.length) from None
        return c, tree.body

    def watch_part(self, fn, start: int, end: int):
        """fn(compiler, node) on text[start:end] parsed as watch-language, errors as edit errors."""
        lead = len(self.text[start:end]) - len(self.text[start:end].lstrip())
        c, node = self.compiler(start + lead, end)
        try:
            return fn(c, node)
        except WatchError as e:
            raise EditSyntaxError(e.message, self.text, e.column, e.length) from None

    def parse(self):
        text = self.text
        m = _INPUT.match(text)
        if m:
            return self.input(m)
        m = _ABLATE.match(text)
        if m:
            return self.ablate(m)
        if re.match(r"\s*ablate\b", text):
            raise self.error("write ablate UNIT, or ablate UNIT from STEP (ablate 11 from 6)",
                             0, len(text))  # fmt: skip
        eq = _assignment(text)
        if eq is None:
            raise self.error("an edit is c[11] = 0 at 6, f[3] = 1 from 6, ablate 11 or "
                             "token 6 = Spain", 0, len(text))  # fmt: skip
        when = _STEP.search(text, eq + 1)
        if when is None:
            raise self.error("say when: at STEP (one step) or from STEP (to the end), as in "
                             "c[11] = 0 at 6", len(text.rstrip()))  # fmt: skip
        why = f"an edit sets c or h, or clamps a gate ({', '.join(GATES)})"
        name, layer, direction, unit, typed = self.watch_part(
            lambda c, n: c.target(n, (*_STATES, *GATES), why), 0, eq)
        value = self.number(eq + 1, when.start())
        t = self.step(when.group(2), when.start(2))
        kind = when.group(1)
        if name in _STATES:
            if kind == "from":
                raise self.error(f"{typed} is set at one step (at STEP); to keep a unit at 0 from "
                                 "a step on, ablate it: ablate UNIT from STEP", when.start(1),
                                 when.end(1))  # fmt: skip
            return SetState(name=name, t=t, unit=unit, value=value, layer=layer,
                            direction=direction)  # fmt: skip
        return ClampGate(gate=name, t=t, unit=unit, value=value, to_end=kind == "from",
                         layer=layer, direction=direction)  # fmt: skip

    def number(self, start: int, end: int) -> float:
        raw = self.text[start:end]
        lead = len(raw) - len(raw.lstrip())
        s = raw.strip()
        if not s:
            raise self.error("a value is missing after =", start)
        if not re.fullmatch(_NUMBER, s):
            raise self.error(f"the value must be a number, got {s[:20]!r}", start + lead,
                             start + lead + len(s))  # fmt: skip
        v = float(s)
        if not abs(v) < float("inf"):
            raise self.error(f"the value must be a finite number, got {s[:20]}", start + lead,
                             start + lead + len(s))  # fmt: skip
        return v

    def step(self, raw: str, start: int) -> int:
        """A screen step 1..T as a position 0..T-1."""
        T = self.trace.T
        end = start + len(raw)
        if not re.fullmatch(r"\d+", raw):
            raise self.error(f"a step is a whole number 1..{T}, got {raw[:20]!r}", start, end)
        s = int(raw)
        if s == 0:
            raise self.error(f"step 0 is the initial state; edits apply at steps 1..{T}", start,
                             end)  # fmt: skip
        if s > T:
            raise self.error(f"step {s} is outside the trace (steps 1..{T})", start, end)
        return s - 1

    def ablate(self, m: re.Match) -> Ablate:
        layer, direction = self.layer, self.direction
        if m.group("scope"):
            layer, direction = self.watch_part(lambda c, n: c.scope_of(n), *m.span("scope"))
        raw, start = m.group("unit"), m.start("unit")
        H = self.trace.hidden_size
        if not re.fullmatch(r"\d+", raw):
            raise self.error(f"ablate takes a unit number 0..{H - 1}, got {raw[:20]!r}", start,
                             m.end("unit"))  # fmt: skip
        unit = int(raw)
        if unit >= H:
            raise self.error(f"unit {unit} does not exist; the LSTM has units 0..{H - 1}", start,
                             m.end("unit"))  # fmt: skip
        t = None if m.group("from") is None else self.step(m.group("step"), m.start("step"))
        return Ablate(unit=unit, from_t=t, layer=layer, direction=direction)

    def input(self, m: re.Match):
        t = self.step(m.group("step"), m.start("step"))
        start = m.start("value")
        raw = m.group("value")
        lead = len(raw) - len(raw.lstrip())
        s = raw.strip()
        if m.group("kind") == "input":
            parts, pos, x = s.split(","), start + lead, []
            for part in parts:
                x.append(self.number(pos, pos + len(part)))
                pos += len(part) + 1
            return ReplaceInput(t=t, x=tuple(x))
        if self.trace.tokens is None:
            raise self.error("token: this trace has no tokens (its input is numeric); use "
                             "input STEP = v1, v2, ...", m.start("kind"),
                             m.end("kind"))  # fmt: skip
        if not s:
            raise self.error("the new token is missing after =", start + lead)
        if s[0] in "\"'":
            token = self.watch_part(lambda c, n: _string(c, n), start + lead, start + lead + len(s))
        else:
            token = s
        return TokenReplacement(t=t, token=token)


def _string(c: _Compiler, node) -> str:
    if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
        raise c.error("a quoted token must be one string, as in token 6 = \" \"", node)
    if not node.value:
        raise c.error("the new token is empty", node)
    return node.value


def _assignment(text: str) -> int | None:
    """The index of the `=` that is not part of ==, <=, >=, != (outside quotes), or None."""
    quote = None
    for k, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "=" and text[k - 1 : k] not in ("=", "<", ">", "!"):
            if text[k + 1 : k + 2] != "=":
                return k
    return None


def _number(v: float) -> str:
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)


def _prefix(edit, trace, layer: int, direction: int) -> str:
    out = ""
    if edit.layer != layer:
        out += f"L{edit.layer + 1}."
    if edit.direction != direction:
        rev = trace.reads_reversed(edit.direction) if trace is not None else edit.direction == 1
        out += "rev." if rev else "fwd."
    return out


def format_edit(
    edit: Edit | TokenReplacement, trace=None, *, layer: int = 0, direction: int = 0
) -> str:
    """The text form of an edit, as parse_edit reads it back (steps 1..T).

    The layer/direction prefix is written where the edit's differs from
    `layer`/`direction` (the screen's, as parse_edit is told); `trace` names
    a direction fwd or rev by how it reads (else direction 1 is rev).
    """
    if isinstance(edit, TokenReplacement):
        token = edit.token
        plain = token == token.strip() and token and token.isprintable() and token[0] not in "\"'"
        return f"token {edit.t + 1} = {token if plain else _quoted(token)}"
    if isinstance(edit, ReplaceInput):
        return f"input {edit.t + 1} = " + ", ".join(repr(float(v)) for v in edit.x)
    if isinstance(edit, Ablate):
        scope = _prefix(edit, trace, layer, direction).rstrip(".")
        text = f"ablate {scope + ' ' if scope else ''}{edit.unit}"
        return text if edit.from_t is None else f"{text} from {edit.from_t + 1}"
    unit = ":" if edit.unit is None else str(edit.unit)
    value = _number(edit.value) if isinstance(edit.value, float) else repr(edit.value)
    if isinstance(edit, SetState):
        name, when = edit.name, "at"
    elif isinstance(edit, ClampGate):
        name, when = edit.gate, "from" if edit.to_end else "at"
    else:
        raise InputError(f"not an edit: {type(edit).__name__}")
    return f"{_prefix(edit, trace, layer, direction)}{name}[{unit}] = {value} {when} {edit.t + 1}"


def _quoted(token: str) -> str:
    """A Python string literal (which parse_edit reads with the watch parser), escapes included."""
    return repr(token)
