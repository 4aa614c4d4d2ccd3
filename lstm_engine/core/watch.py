"""Watch expressions: a small language over one step's state, evaluated over every step at once.

    w = compile_watch("max(abs(delta)) > 2 and t > 10", trace, layer=0, direction=0)
    w.mask            # (T,) bool: where it holds, by engine position
    w.value_at(5)     # its value at position 5; w.values_at(5): what it read there

A watch answers "when does this happen?" for a debugger's continue, a search
and `lstm-tui find`, so it is one vectorised pass over the trace's (T, H)
arrays, never a Python loop over steps.

The text is the user's, so it is parsed with `ast.parse(mode="eval")` and the
tree is walked against a whitelist of node types and names; nothing of it is
ever handed to eval, exec or compile. The walk types every node before any
array is touched (compiling is cheap enough for every keystroke) and refuses,
by name and with the column, anything outside the language: attribute access
other than layer/direction scoping, calls to unknown functions, lambdas,
comprehensions, dunder names, subscripts of anything but a quantity or p,
exponents and literals too large to compute.

The language:
  - per-unit quantities, every name in the quantity registry and its aliases
    (f, i, g, o, c, h, c_prev, h_prev, kept, forgotten, written, delta, ...),
    one value per unit at each step; `f[3]` is one unit, `f[0:8]` a slice;
  - aggregates over units: max, min, mean, sum, abs, any, all, count, argmax,
    isnan, isinf (max/min of two or more arguments is elementwise);
  - per-step values: `t` (the step as on screen, 1..T), `token`, `pred` (the top
    label, or its index without label names), `prob` (its probability),
    `pred_prev` (pred one step earlier; a comparison with it is false at step 1)
    and `p["French"]` (a label's probability, as the output panel computes it);
  - scoping: `L1.rev.o[0]` (layers numbered from 1 as on screen; `fwd`/`rev` the
    direction reading left to right / right to left), else the caller's layer
    and direction;
  - and, or, not, comparisons (chained too), `in (...)`, + - * / // % **.
A condition must reduce to one value per step: `f < 0.1` alone is one value
per unit and an error that says to use any/all/count or to index a unit.
"""

from __future__ import annotations

import ast
import difflib
import re
import threading
import unicodedata
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import InputError
from .output import output_kind_of, probabilities
from .quantities import ALIASES, REGISTRY

#: Bounds on what a user's text can make the compiler do, checked before anything is built.
MAX_TEXT = 1000  # characters
MAX_NODES = 300  # AST nodes
MAX_DEPTH = 32  # AST nesting
MAX_EXPONENT = 1000  # |constant exponent|: 9**9**9 stops here, before any power is taken
MAX_LITERAL = 1e15  # |number literal|

#: name -> what it is, for the help and for "unknown name" errors.
VARIABLES = {
    "t": "the step, as on screen (1..T)",
    "token": "the input token at the step",
    "pred": "the top predicted label (its index when the output has no label names)",
    "prob": "the probability of pred",
    "pred_prev": "pred at the step before (comparisons with it are false at step 1)",
    "p": 'the probability of one label: p["French"] (or p[index])',
}
FUNCTIONS = ("max", "min", "mean", "sum", "abs", "any", "all", "count", "argmax", "isnan", "isinf")
DIRECTIONS = ("fwd", "rev")

#: What each refused node type is called in an error.
_REFUSED = {
    "Lambda": "lambda", "ListComp": "a comprehension", "SetComp": "a comprehension",
    "DictComp": "a comprehension", "GeneratorExp": "a generator expression",
    "IfExp": "a conditional expression (x if c else y)", "NamedExpr": "the := operator",
    "Dict": "a dict", "JoinedStr": "an f-string", "FormattedValue": "an f-string",
    "Starred": "a starred expression", "Await": "await", "Yield": "yield", "YieldFrom": "yield",
    "Tuple": "a tuple", "List": "a list", "Set": "a set", "Slice": "a slice",
}  # fmt: skip
#: The node types the walk accepts (each has a _Compiler._<type> method); everything else is
#: refused by name. Tuple, List and Set are accepted only after `in`, Slice only in f[a:b].
_NODES = frozenset({"Constant", "Name", "Attribute", "Subscript", "BinOp", "UnaryOp", "BoolOp",
                    "Compare", "Call", "Tuple", "List", "Set"})  # fmt: skip
_CMP = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
        ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not"}  # fmt: skip
_CMP_FN = {"==": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal,
           ">": np.greater, ">=": np.greater_equal}  # fmt: skip
_BIN = {ast.Add: ("+", np.add), ast.Sub: ("-", np.subtract), ast.Mult: ("*", np.multiply),
        ast.Div: ("/", np.true_divide), ast.FloorDiv: ("//", np.floor_divide),
        ast.Mod: ("%", np.mod), ast.Pow: ("**", np.power)}  # fmt: skip
_LAYER = re.compile(r"L([0-9]+)")


class WatchError(InputError):
    """A watch expression (or an edit) that cannot be compiled: the message, and where.

    `column` is a 0-based offset into `text` and `length` how many characters
    the problem spans, so a front end draws `caret_lines()` under the input.
    str(e) is one line that names the column (1-based, as editors count).
    """

    def __init__(self, message: str, text: str = "", column: int = 0, length: int = 1):
        self.message = message
        self.text = text
        self.column = max(0, min(column, len(text)))
        self.length = max(1, length)
        super().__init__(f"{message} (at column {self.column + 1})" if text else message)

    def caret_lines(self) -> tuple[str, str]:
        """The expression on one line and a caret line under the problem, aligned in a terminal.

        Control characters and line breaks show as one cell each (so the caret
        stays under its column) and wide characters take two cells of caret.
        """
        shown, caret = [], []
        for k, ch in enumerate(self.text):
            cell = ch if ch.isprintable() else "�" if ch not in "\t\n\r" else " "
            wide = unicodedata.east_asian_width(cell) in "WF"
            shown.append(cell)
            inside = self.column < k < self.column + self.length
            mark = "^" if k == self.column else "~" if inside else " "
            caret.append(mark + ("~" if mark != " " else " ") if wide else mark)
        if self.column >= len(self.text):
            caret.append("^")
        return "".join(shown), "".join(caret).rstrip()


# --- the trace's arrays, shared by every watch over one trace
_SERIES: "weakref.WeakKeyDictionary[Any, OrderedDict]" = weakref.WeakKeyDictionary()
#: bytes of derived arrays (Δc, kept, ...) kept per trace between watches; views cost nothing
SERIES_CACHE_BYTES = 512 * 2**20
_LOCK = threading.RLock()  # re-entrant: building pred reads the cached probabilities


def _cached(trace, key, build: Callable[[], np.ndarray]) -> np.ndarray:
    """One whole-sequence array of `trace`, built once and shared by every watch over it.

    The UI compiles a watch on every keystroke and the mask must cost well
    under a frame, so Δc over 3,000 steps is computed once per trace, not per
    keystroke. Derived arrays are kept up to SERIES_CACHE_BYTES per trace.
    """
    with _LOCK:  # the UI evaluates watches in worker threads too
        cache = _SERIES.get(trace)
        if cache is None:
            cache = _SERIES[trace] = OrderedDict()
        a = cache.get(key)
        if a is not None:
            cache.move_to_end(key)
            return a
        a = np.asarray(build())
        if a.flags.owndata and a.flags.writeable:
            a.setflags(write=False)
        cache[key] = a
        owned = lambda: sum(v.nbytes for v in cache.values() if v.flags.owndata)  # noqa: E731
        while len(cache) > 1 and owned() > SERIES_CACHE_BYTES:
            cache.popitem(last=False)
        return a


class _V:
    """A typed node: what it is (kind, shape) and how to compute it (fn, cached after one call).

    kind: "num", "bool", "str"; or "tuple" (after `in`) and "p" (before [label]).
    shape: "const" (a Python scalar), "step" (T,), "units" (T, width).
    `valid` is a (T,) mask where the value exists (pred_prev has none at step 1), or None.
    """

    __slots__ = ("kind", "shape", "_fn", "_value", "width", "units", "valid", "label", "abs_of")

    def __init__(self, kind, shape, fn=None, *, width=None, units=None, valid=None, value=None,
                 label=None):  # fmt: skip
        self.kind, self.shape, self._fn = kind, shape, fn
        self._value = value
        self.width, self.units, self.valid = width, units, valid
        self.label = label  # a quantity's name as typed (L1.rev.o), for f[3] and its errors
        self.abs_of = None  # for abs(x): x, so that max(abs(x)) needs no |x| array

    def __call__(self):
        """The value; kept unless it is per unit (T × H): its step-sized parent reduces it once."""
        if self._value is not None:
            return self._value
        v = self._fn()
        if self.shape != "units":
            self._value = v
        return v

    def describe(self) -> str:
        if self.kind == "bool":
            what = "a condition"
        elif self.kind == "str":
            what = "text"
        else:
            what = "a number"
        if self.shape == "units":
            return f"{what} per unit ({self.width} units)"
        return what


def _lift(a, shape: str, to: str):
    """A step value (T,) broadcast against units (T, W); constants broadcast as they are."""
    if shape == "step" and to == "units":
        return a[:, None]
    return a


def _wider(*shapes: str) -> str:
    return "units" if "units" in shapes else "step" if "step" in shapes else "const"


def _valid_of(*vs: _V):
    parts = [v.valid for v in vs if v.valid is not None]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return lambda: np.logical_and.reduce([p() for p in parts])


class _Compiler:
    """Types and builds one expression over one trace; every refusal is a WatchError at a column."""

    def __init__(self, text: str, trace, layer: int, direction: int, output_kind: str | None,
                 offset: int = 0, end: int | None = None):  # fmt: skip
        self.text, self.trace = text, trace
        self.offset = offset  # where the parsed text starts in self.text
        self.layer, self.direction = layer, direction
        self._output_kind = output_kind
        self.names: list[tuple[int, str]] = []
        self.terms: list[tuple[int, str, _V]] = []
        src = text[offset:end]
        self._lines = src.split("\n")
        self._starts = [0]
        for line in self._lines[:-1]:
            self._starts.append(self._starts[-1] + len(line) + 1)
        if not 0 <= layer < trace.num_layers:
            raise WatchError(f"layer {layer} does not exist; the trace has layers "
                             f"0..{trace.num_layers - 1}")  # fmt: skip
        if not 0 <= direction < trace.num_directions:
            raise WatchError(f"direction {direction} does not exist; the trace has "
                             f"{trace.num_directions} direction(s)")  # fmt: skip

    # --- positions
    def _char(self, lineno: int, col: int) -> int:
        line = self._lines[lineno - 1]
        chars = len(line.encode()[:col].decode(errors="ignore"))  # ast counts UTF-8 bytes
        return self.offset + self._starts[lineno - 1] + chars

    def span(self, node) -> tuple[int, int]:
        start = self._char(node.lineno, node.col_offset)
        end = self._char(node.end_lineno, node.end_col_offset)
        return start, end

    def error(self, message: str, node=None, *, span: tuple[int, int] | None = None) -> WatchError:
        start, end = span if span is not None else self.span(node) if node is not None else (0, 1)
        return WatchError(message, self.text, start, end - start)

    def source(self, node) -> str:
        start, end = self.span(node)
        return " ".join(self.text[start:end].split())

    # --- the walk
    def build(self, node) -> _V:
        kind = type(node).__name__
        if kind not in _NODES:
            what = _REFUSED.get(kind, kind)
            raise self.error(f"{what} is not allowed in a watch expression", node)
        return getattr(self, "_" + kind)(node)

    def _Constant(self, node) -> _V:
        v = node.value
        if isinstance(v, bool):
            return _V("bool", "const", value=np.bool_(v))
        if isinstance(v, int):
            if abs(v) > MAX_LITERAL:
                raise self.error(f"the number {self.source(node)[:20]} is too large "
                                 f"(at most {MAX_LITERAL:g})", node)  # fmt: skip
            return _V("num", "const", value=np.float64(v) if abs(v) > 2**53 else np.int64(v))
        if isinstance(v, float):
            if not abs(v) <= MAX_LITERAL:
                raise self.error(f"the number {self.source(node)[:20]} is too large "
                                 f"(at most {MAX_LITERAL:g})", node)  # fmt: skip
            return _V("num", "const", value=np.float64(v))
        if isinstance(v, str):
            return _V("str", "const", value=v)
        what = "None" if v is None else "..." if v is Ellipsis else type(v).__name__
        raise self.error(f"{what} is not a value in a watch expression (numbers, strings, "
                         "True and False are)", node)  # fmt: skip

    def _Name(self, node) -> _V:
        return self._name(node, node.id, self.layer, self.direction, scoped=False, prefix="")

    def _name(self, node, name: str, layer: int, direction: int, *, scoped: bool,
              prefix: str) -> _V:  # fmt: skip
        if "__" in name:
            raise self.error(f"names with double underscores are not allowed: {name}", node)
        tr = self.trace
        if name in REGISTRY or name in ALIASES:
            q = REGISTRY[ALIASES.get(name, name)]
            width = tr.out_size if q.width == "out" else tr.hidden_size
            key = (q.name, layer, direction)
            fn = lambda: _cached(tr, key, lambda: tr.series(q.name, layer, direction))  # noqa: E731
            self._use(node, prefix + name)
            return _V("num", "units", fn, width=width, units=np.arange(width), label=prefix + name)
        if scoped:
            raise self.error(f"{prefix}{name}: after a layer or direction comes a quantity "
                             f"({', '.join(self._quantity_names())})", node)  # fmt: skip
        if name in VARIABLES:
            return self._variable(node, name)
        m = _LAYER.fullmatch(name)
        if m or name in DIRECTIONS:
            also = "" if name in DIRECTIONS else " or L1.rev.o[0]"
            raise self.error(f"{name} is a layer or direction scope; follow it with a quantity, "
                             f"as in {name}.c[3]{also}", node)  # fmt: skip
        if name in FUNCTIONS:
            raise self.error(f"{name} is a function; call it, as in {name}(...)", node)
        raise self.error(self._unknown(name), node)

    def _quantity_names(self) -> list[str]:
        return [*REGISTRY, *ALIASES]

    def _unknown(self, name: str) -> str:
        known = [*self._quantity_names(), *VARIABLES, *FUNCTIONS]
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        L = self.trace.num_layers
        scopes = "L1" if L == 1 else f"L1..L{L}"
        if self.trace.num_directions == 2:
            scopes += ", fwd, rev"
        return (f"unknown name {name!r}{hint}; known: quantities "
                f"{', '.join(self._quantity_names())}; {', '.join(VARIABLES)}; "
                f"functions {', '.join(FUNCTIONS)}; scopes {scopes}")  # fmt: skip

    def _use(self, node, name: str) -> None:
        self.names.append((self.span(node)[0], name))

    def _variable(self, node, name: str) -> _V:
        tr, T = self.trace, self.trace.T
        self._use(node, name)
        if name == "t":
            return _V("num", "step", lambda: _cached(tr, "t", lambda: np.arange(1, T + 1)))
        if name == "token":
            if tr.tokens is None:
                raise self.error("token: this trace has no tokens (its input is numeric)", node)
            return _V("str", "step", lambda: _cached(tr, "token", lambda: _strings(tr.tokens)))
        if tr.output is None:
            raise self.error(f"{name}: this trace has no model output (it is the LSTM alone)", node)
        if name == "p":
            return _V("p", "step")
        if name == "prob":
            key = ("prob", output_kind_of(tr, self._output_kind))
            return _V("num", "step", lambda: _cached(tr, key, lambda: self._p().max(axis=1)))
        pred = self._pred
        if name == "pred":
            return _V(self._pred_kind(), "step", pred)
        valid = lambda: _cached(tr, "pred_prev_valid", lambda: np.arange(T) > 0)  # noqa: E731
        shifted = lambda: np.concatenate([pred()[:1], pred()[:-1]])  # noqa: E731
        key = ("pred_prev", output_kind_of(tr, self._output_kind))
        return _V(self._pred_kind(), "step", lambda: _cached(tr, key, shifted),
                  valid=valid)  # fmt: skip

    def _pred_kind(self) -> str:
        return "str" if self.trace.labels is not None else "num"

    def _p(self) -> np.ndarray:
        tr = self.trace
        kind = output_kind_of(tr, self._output_kind)
        return _cached(tr, ("p", kind), lambda: probabilities(tr.output, kind))

    def _pred(self) -> np.ndarray:
        tr = self.trace

        def build():
            top = np.argmax(self._p(), axis=1)
            return _strings(tr.labels)[top] if tr.labels is not None else top

        return _cached(tr, ("pred", output_kind_of(tr, self._output_kind)), build)

    # --- scoping: L1, L1.rev, rev, and a quantity after them
    def _scope(self, node) -> tuple[int | None, int | None, str]:
        """(layer, direction, prefix as typed) for a scope node: L<n>, fwd/rev, L<n>.fwd/rev."""
        if isinstance(node, ast.Name):
            name = node.id
            m = _LAYER.fullmatch(name)
            if m:
                return self._layer(node, m), None, name + "."
            if name in DIRECTIONS:
                return None, self._direction(node, name), name + "."
            if "__" in name:
                raise self.error(f"names with double underscores are not allowed: {name}", node)
            raise self.error(f"attribute access is only layer and direction scoping "
                             f"(as in L1.rev.o[0]); {self.source(node)} is not a scope",
                             node)  # fmt: skip
        if isinstance(node, ast.Attribute):
            layer, direction, prefix = self._scope(node.value)
            if node.attr in DIRECTIONS and layer is not None and direction is None:
                return layer, self._direction(node, node.attr), f"{prefix}{node.attr}."
            raise self.error(f"{self.source(node)} is not a scope; write a layer, then a "
                             "direction, then a quantity: L1.rev.o[0]", node)  # fmt: skip
        raise self.error("attribute access is only layer and direction scoping (as in "
                         f"L1.rev.o[0]); {self.source(node)} cannot have attributes",
                         node)  # fmt: skip

    def _layer(self, node, m) -> int:
        n, L = int(m.group(1)), self.trace.num_layers
        if not 1 <= n <= L:
            have = "layer L1 only" if L == 1 else f"layers L1..L{L}"
            raise self.error(f"layer L{n} does not exist; the LSTM has {have} (numbered from 1)",
                             node)  # fmt: skip
        return n - 1

    def _direction(self, node, name: str) -> int:
        want_reversed = name == "rev"
        for d in range(self.trace.num_directions):
            if self.trace.reads_reversed(d) == want_reversed:
                return d
        have = "right to left" if not want_reversed else "left to right"
        raise self.error(f"{name}: this LSTM has no {'reverse' if want_reversed else 'forward'} "
                         f"direction (it reads {have} only)", node)  # fmt: skip

    def _Attribute(self, node) -> _V:
        if "__" in node.attr:
            raise self.error(f"names with double underscores are not allowed: .{node.attr}", node)
        layer, direction, prefix = self._scope(node.value)
        layer = self.layer if layer is None else layer
        direction = self.direction if direction is None else direction
        if node.attr in DIRECTIONS:
            raise self.error(f"{self.source(node)} is a scope; follow it with a quantity, "
                             f"as in {self.source(node)}.c[3]", node)  # fmt: skip
        return self._name(node, node.attr, layer, direction, scoped=True, prefix=prefix)

    # --- subscripts: a unit, a slice of units, or p[label]
    def _Subscript(self, node) -> _V:
        base = node.value
        if isinstance(base, (ast.Name, ast.Attribute)):
            v = self.build(base)
        else:
            v = None
        if v is not None and v.kind == "p":
            return self._label(node, node.slice)
        if v is None or v.shape != "units" or v.label is None:
            what = self.source(base)
            raise self.error(f"only a quantity (f[3], c[0:8]) or p[\"label\"] can be indexed; "
                             f"{what} cannot", base)  # fmt: skip
        idx = node.slice
        W, label = v.width, v.label
        if isinstance(idx, ast.Slice):
            if idx.step is not None:
                step = self._int(idx.step, label, W, bound=False)
                if step == 0:
                    raise self.error("a slice step cannot be 0", idx.step)
            else:
                step = None
            lo = None if idx.lower is None else self._int(idx.lower, label, W, bound=True)
            hi = None if idx.upper is None else self._int(idx.upper, label, W, bound=True)
            units = np.arange(W)[slice(lo, hi, step)]
            if units.size == 0:
                raise self.error(f"{self.source(node)} selects no units; {label} has units "
                                 f"0..{W - 1}", idx)  # fmt: skip
            sel = slice(lo, hi, step)
            fn = v._fn
            return _V("num", "units", lambda: fn()[:, sel], width=int(units.size), units=units,
                      label=None)  # fmt: skip
        k = self._int(idx, label, W, bound=False)
        if not -W <= k < W:
            raise self.error(f"unit {k} does not exist; {label} has units 0..{W - 1}", idx)
        fn = v._fn
        return _V("num", "step", lambda: fn()[:, k])

    def _int(self, node, label: str, W: int, *, bound: bool) -> int:
        """A unit number or slice bound: a whole-number literal (negative counts from the end)."""
        neg = isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)
        lit = node.operand if neg else node
        if not (isinstance(lit, ast.Constant) and type(lit.value) is int):
            raise self.error(f"a unit must be a whole number, as in {label}[3] or {label}[0:8]; "
                             f"got {self.source(node)}", node)  # fmt: skip
        k = -lit.value if neg else lit.value
        if bound and not -W <= k <= W:
            raise self.error(f"slice bound {self.source(node)[:20]} is outside {label}'s units "
                             f"0..{W - 1}", node)  # fmt: skip
        if not bound and abs(k) > MAX_LITERAL:
            raise self.error(f"unit {self.source(node)[:20]} does not exist; {label} has units "
                             f"0..{W - 1}", node)  # fmt: skip
        return k

    def _label(self, node, idx) -> _V:
        tr = self.trace
        n = tr.output.shape[1]
        labels = tr.labels
        if isinstance(idx, ast.Constant) and isinstance(idx.value, str):
            if labels is None:
                raise self.error(f"this model's output has no label names; use p[index] with "
                                 f"0..{n - 1}", idx)  # fmt: skip
            if idx.value not in labels:
                shown = ", ".join(repr(x) for x in labels[:20])
                shown += " …" if len(labels) > 20 else ""
                raise self.error(f"unknown label {idx.value!r}; the labels are {shown}", idx)
            k = labels.index(idx.value)
        elif isinstance(idx, ast.Constant) and type(idx.value) is int:
            k = idx.value
            if not 0 <= k < n:
                raise self.error(f"output class {k} does not exist; the output has 0..{n - 1}", idx)
        else:
            raise self.error(f'p takes a label or a class number, as in p["French"] or p[0]; '
                             f"got {self.source(idx)}", idx)  # fmt: skip
        self.names[-1] = (self.names[-1][0], self.source(node))
        return _V("num", "step", lambda: self._p()[:, k])

    # --- operators
    def _BinOp(self, node) -> _V:
        sym, fn = _BIN.get(type(node.op), (None, None))
        if sym is None:
            raise self.error(f"the operator {type(node.op).__name__} is not allowed; use "
                             "+ - * / // % **", node)  # fmt: skip
        a, b = self.build(node.left), self.build(node.right)
        for v, side in ((a, node.left), (b, node.right)):
            if v.kind != "num":
                raise self.error(f"{sym} needs numbers on both sides; {self.source(side)} is "
                                 f"{v.describe()}", side)  # fmt: skip
        if sym == "**" and b.shape == "const" and not abs(float(b())) <= MAX_EXPONENT:
            raise self.error(f"the exponent {self.source(node.right)[:20]} is too large "
                             f"(at most {MAX_EXPONENT})", node.right)  # fmt: skip
        shape = self._match(a, b, node)

        def calc():
            x, y = _lift(a(), a.shape, shape), _lift(b(), b.shape, shape)
            return _quiet(fn, _f(x, sym), _f(y, sym))

        return self._out("num", shape, calc, (a, b))

    def _match(self, a: _V, b: _V, node) -> str:
        shape = _wider(a.shape, b.shape)
        if a.shape == b.shape == "units" and a.width != b.width:
            raise self.error(f"{self.source(node)}: one side has {a.width} units and the other "
                             f"{b.width}", node)  # fmt: skip
        return shape

    def _out(self, kind: str, shape: str, calc, parts) -> _V:
        units = next((p for p in parts if p.shape == "units"), None)
        v = _V(kind, shape, calc, width=None if units is None else units.width,
               units=None if units is None else units.units, valid=_valid_of(*parts))  # fmt: skip
        if shape == "const":
            v()
        return v

    def _UnaryOp(self, node) -> _V:
        a = self.build(node.operand)
        if isinstance(node.op, ast.Not):
            self._need_bool(a, node.operand, "not")
            self._term(a, node.operand)
            return self._out("bool", a.shape, lambda: np.logical_not(a()), (a,))
        if isinstance(node.op, (ast.USub, ast.UAdd)):
            if a.kind != "num":
                raise self.error(f"- and + need a number; {self.source(node.operand)} is "
                                 f"{a.describe()}", node.operand)  # fmt: skip
            neg = isinstance(node.op, ast.USub)
            return self._out("num", a.shape, lambda: np.negative(a()) if neg else a(), (a,))
        raise self.error("the operator ~ is not allowed; use not", node)

    def _need_bool(self, v: _V, node, what: str) -> None:
        if v.kind != "bool":
            raise self.error(f"{what} needs a condition (a comparison such as f[3] < 0.1); "
                             f"{self.source(node)} is {v.describe()}", node)  # fmt: skip

    def _BoolOp(self, node) -> _V:
        word = "and" if isinstance(node.op, ast.And) else "or"
        parts = [self.build(n) for n in node.values]
        for v, n in zip(parts, node.values):
            self._need_bool(v, n, word)
            self._term(v, n)
        shape = _wider(*(v.shape for v in parts))
        widths = {v.width for v in parts if v.shape == "units"}
        if len(widths) > 1:
            raise self.error(f"{word} joins conditions over different numbers of units "
                             f"({', '.join(map(str, sorted(widths)))})", node)  # fmt: skip
        reduce = np.logical_and.reduce if word == "and" else np.logical_or.reduce

        def calc():
            vals = [_lift(v(), v.shape, shape) for v in parts]
            if shape == "const":
                return np.bool_(reduce(vals))
            return reduce(np.broadcast_arrays(*vals))

        return self._out("bool", shape, calc, parts)

    def _Compare(self, node) -> _V:
        operands = [node.left, *node.comparators]
        vals = [
            _V("tuple", "const") if k and isinstance(node.ops[k - 1], (ast.In, ast.NotIn))
            and isinstance(n, (ast.Tuple, ast.List, ast.Set)) else self.build(n)
            for k, n in enumerate(operands)
        ]  # fmt: skip
        for v, n in zip(vals, operands):
            if v.kind == "p":
                raise self.error(f"{self.source(n)} cannot be compared", n)
        steps = []
        for k, op in enumerate(node.ops):
            a, b = vals[k], vals[k + 1]
            na, nb = operands[k], operands[k + 1]
            sym = _CMP[type(op)]
            if sym in ("is", "is not"):
                raise self.error(f"'{sym}' is not allowed; use == or !=", node, span=(
                    self.span(na)[1], self.span(nb)[0]))  # fmt: skip
            if sym in ("in", "not in"):
                steps.append(self._membership(a, na, nb, sym))
                continue
            if b.kind == "tuple":
                raise self.error("a tuple is only allowed after 'in'", nb)
            if a.kind != b.kind or a.kind == "tuple":
                raise self.error(f"{sym} compares like with like; {self.source(na)} is "
                                 f"{a.describe()} and {self.source(nb)} is {b.describe()}",
                                 node)  # fmt: skip
            if a.kind in ("str", "bool") and sym not in ("==", "!="):
                raise self.error(f"{sym} compares numbers; {self.source(na)} is {a.describe()} "
                                 "(use == or !=)", node)  # fmt: skip
            shape = self._match(a, b, node)
            fn = _CMP_FN[sym]
            step = self._out("bool", shape, _compare(fn, a, b, shape), (a, b))
            step.valid = None  # false where a side has no value: the comparison has one
            steps.append(step)
        for v, n in zip(vals, operands):
            if v.kind != "tuple":
                self._term(v, n)
        if len(steps) == 1:
            return steps[0]
        shape = _wider(*(s.shape for s in steps))
        widths = {s.width for s in steps if s.shape == "units"}
        if len(widths) > 1:
            raise self.error("a chained comparison over different numbers of units", node)
        return self._out("bool", shape, lambda: np.logical_and.reduce(
            np.broadcast_arrays(*[_lift(s(), s.shape, shape) for s in steps])), steps)  # fmt: skip

    def _membership(self, a: _V, na, nb, sym: str) -> _V:
        if not isinstance(nb, (ast.Tuple, ast.List, ast.Set)):
            raise self.error(f"'{sym}' takes a tuple of values, as in "
                             'token in ("France", "Spain")', nb)  # fmt: skip
        if a.kind not in ("str", "num") or a.shape == "units":
            raise self.error(f"'{sym}' tests one value per step; {self.source(na)} is "
                             f"{a.describe()}", na)  # fmt: skip
        items = []
        for e in nb.elts:
            v = self.build(e)
            if v.shape != "const" or v.kind != a.kind:
                like = "strings" if a.kind == "str" else "numbers"
                raise self.error(f"the values after '{sym}' must be {like} like "
                                 f"{self.source(na)}; {self.source(e)} is not", e)  # fmt: skip
            items.append(v())
        neg = sym == "not in"

        def calc():
            x = a()
            hit = np.isin(x, items) if a.shape == "step" else np.bool_(x in items)
            out = ~hit if neg else hit
            return out & a.valid() if a.valid is not None else out

        return _V("bool", a.shape, calc)

    def _Tuple(self, node) -> _V:
        raise self.error("a tuple is only allowed after 'in', as in "
                         'token in ("France", "Spain")', node)  # fmt: skip

    _List = _Set = _Tuple

    # --- calls
    def _Call(self, node) -> _V:
        f = node.func
        if type(f).__name__ in _REFUSED:
            self.build(f)  # refused by name: "lambda is not allowed"
        if not isinstance(f, ast.Name):
            raise self.error(f"only these functions can be called: {', '.join(FUNCTIONS)}; "
                             f"{self.source(f)} is not one", f)  # fmt: skip
        name = f.id
        if "__" in name:
            raise self.error(f"names with double underscores are not allowed: {name}", f)
        if name not in FUNCTIONS:
            raise self.error(f"unknown function {name!r}; the functions are "
                             f"{', '.join(FUNCTIONS)}", f)  # fmt: skip
        if node.keywords:
            raise self.error(f"{name}() takes no keyword arguments", node.keywords[0].value)
        for a in node.args:
            if isinstance(a, ast.Starred):
                raise self.error("a starred argument is not allowed", a)
        args = [self.build(a) for a in node.args]
        if name in ("max", "min") and len(args) >= 2:
            for v, n in zip(args, node.args):
                if v.kind != "num":
                    raise self.error(f"{name}() of several values takes numbers; {self.source(n)} "
                                     f"is {v.describe()}", n)  # fmt: skip
            shape = _wider(*(v.shape for v in args))
            widths = {v.width for v in args if v.shape == "units"}
            if len(widths) > 1:
                raise self.error(f"{name}() of values with different numbers of units", node)
            ufunc = np.maximum if name == "max" else np.minimum
            return self._out("num", shape, lambda: ufunc.reduce(np.broadcast_arrays(
                *[_lift(v(), v.shape, shape) for v in args])), args)  # fmt: skip
        if len(args) != 1:
            raise self.error(f"{name}() takes one argument, got {len(args)}", node)
        (a,), (na,) = args, node.args
        if a.kind in ("p", "tuple", "str"):
            raise self.error(f"{name}() takes numbers per unit; {self.source(na)} is "
                             f"{'text' if a.kind == 'str' else 'not a value'}", na)  # fmt: skip
        if name in ("abs", "isnan", "isinf"):
            if a.kind != "num":
                raise self.error(f"{name}() takes numbers; {self.source(na)} is {a.describe()}", na)
            ufunc = {"abs": np.abs, "isnan": np.isnan, "isinf": np.isinf}[name]
            v = self._out("num" if name == "abs" else "bool", a.shape, lambda: ufunc(a()), (a,))
            if name == "abs" and a.shape == "units":
                v.abs_of = a
            return v
        if a.shape != "units":
            example = "f < 0.1" if name in ("any", "all", "count") else "abs(delta)"
            raise self.error(f"{name}() reduces over units and takes a per-unit value, as in "
                             f"{name}({example}); {self.source(na)} is {a.describe()} per step",
                             na)  # fmt: skip
        memo = self._memo(node)
        if name in ("any", "all", "count"):
            if a.kind != "bool":
                raise self.error(f"{name}() takes a per-unit condition, as in {name}(f < 0.1) "
                                 f"or {name}(isnan(c)); {self.source(na)} is {a.describe()}",
                                 na)  # fmt: skip
            if name == "count":
                return self._out("num", "step", memo(lambda: np.count_nonzero(a(), axis=1)), (a,))
            red = np.all if name == "all" else np.any
            return self._out("bool", "step", memo(lambda: red(a(), axis=1)), (a,))
        if name == "argmax":
            units = a.units
            return self._out("num", "step", memo(lambda: units[np.argmax(a(), axis=1)]), (a,))
        if name == "max" and a.abs_of is not None:
            x = a.abs_of  # max |x| = max(max x, −min x): two reads of x, and no |x| array written
            return self._out("num", "step", memo(lambda: _max_abs(x())), (a,))
        red = {"max": np.max, "min": np.min, "mean": np.mean, "sum": np.sum}[name]
        return self._out("num", "step", memo(lambda: red(a(), axis=1)), (a,))

    def _memo(self, node):
        """A per-step reduction over units, kept with the trace's arrays: the same max(abs(delta))
        at the same layer and direction is computed once per trace, whichever watch asks."""
        tr = self.trace
        key = ("reduce", ast.dump(node), self.layer, self.direction, self._output_kind)
        return lambda calc: (lambda: _cached(tr, key, calc))

    # --- what an edit names (core/edit_syntax.py): the same names, scopes and unit numbers
    def target(self, node, allowed: tuple[str, ...] = (), why: str = ""):
        """(registry name, layer, direction, unit or None for every unit, name as typed) for
        `c[11]`, `L2.rev.c[3]` or `c[:]`: what an edit's left-hand side names.

        A name outside `allowed` (registry names; empty: any quantity) is refused with `why`.
        """
        if not isinstance(node, ast.Subscript):
            raise self.error(f"name a unit, as in c[11], or every unit, as in c[:]; got "
                             f"{self.source(node)}", node)  # fmt: skip
        base, idx = node.value, node.slice
        if isinstance(base, ast.Name):
            layer, direction, prefix, name = self.layer, self.direction, "", base.id
        elif isinstance(base, ast.Attribute):
            layer, direction, prefix = self._scope(base.value)
            layer = self.layer if layer is None else layer
            direction = self.direction if direction is None else direction
            name = base.attr
        else:
            raise self.error(f"{self.source(base)} is not a quantity", base)
        if "__" in name:
            raise self.error(f"names with double underscores are not allowed: {name}", base)
        known = name in REGISTRY or name in ALIASES
        if allowed and (not known or ALIASES.get(name, name) not in allowed):
            what = "cannot be edited" if known else "is not a known name"
            raise self.error(f"{name} {what}; {why}", base)
        if not known:
            raise self.error(self._unknown(name), base)
        q = REGISTRY[ALIASES.get(name, name)]
        W = self.trace.out_size if q.width == "out" else self.trace.hidden_size
        if isinstance(idx, ast.Slice):
            if idx.lower is not None or idx.upper is not None or idx.step is not None:
                raise self.error(f"an edit names one unit ({name}[3]) or every unit ({name}[:])",
                                 idx)  # fmt: skip
            return q.name, layer, direction, None, prefix + name
        k = self._int(idx, prefix + name, W, bound=False)
        if not 0 <= k < W:
            raise self.error(f"unit {k} does not exist; {prefix + name} has units 0..{W - 1}", idx)
        return q.name, layer, direction, k, prefix + name

    def scope_of(self, node) -> tuple[int, int]:
        """(layer, direction) of a bare scope (L2, L2.rev, rev); the caller's where it is silent."""
        layer, direction, _ = self._scope(node)
        return (self.layer if layer is None else layer,
                self.direction if direction is None else direction)  # fmt: skip

    # --- what a watch shows next to its value: the per-step values it compared
    def _term(self, v: _V, node) -> None:
        if v.shape == "step" and v.kind in ("num", "str", "bool") and not isinstance(
            node, (ast.Compare, ast.BoolOp, ast.UnaryOp)
        ):
            self.terms.append((self.span(node)[0], self.source(node), v))


#: bytes of |x| computed at a time by max(abs(x)), so the block stays in the CPU's cache
_BLOCK_BYTES = 1 << 18


def _max_abs(x: np.ndarray) -> np.ndarray:
    """max over units of |x|, (T, W) → (T,), reading x once and writing no (T, W) array.

    The reduction the quick jumps and the issue's example use; block by block,
    so |x| never leaves the cache (NaN propagates, as np.abs(x).max(axis=1)).
    """
    x = np.asarray(x)
    T, W = x.shape
    rows = max(1, _BLOCK_BYTES // max(1, W * x.itemsize))
    out = np.empty(T, dtype=x.dtype)
    buf = np.empty((min(rows, T), W), dtype=x.dtype)
    for k in range(0, T, rows):
        block = x[k : k + rows]
        np.abs(block, out=buf[: len(block)]).max(axis=1, out=out[k : k + rows])
    return out


def _strings(seq) -> np.ndarray:
    """Strings as an object array: exact (a fixed-width numpy string drops trailing NULs)."""
    out = np.empty(len(seq), dtype=object)
    out[:] = list(seq)
    return out


def _f(a, sym: str):
    """Integer operands of / and ** as floats: an int power never grows without bound."""
    if sym in ("/", "**") and np.asarray(a).dtype.kind in "iub":
        return np.asarray(a, dtype=np.float64)
    return a


def _quiet(fn, a, b):
    with np.errstate(all="ignore"):
        return fn(a, b)


def _compare(fn, a: _V, b: _V, shape: str):
    def calc():
        with np.errstate(invalid="ignore"):
            out = fn(_lift(a(), a.shape, shape), _lift(b(), b.shape, shape))
        valid = _valid_of(a, b)
        if valid is not None:
            out = out & _lift(valid(), "step", shape)
        return out

    return calc


def _parse(text: str, offset: int, end: int | None = None) -> ast.Expression:
    """The tree of text[offset:end] within the size bounds; every failure is a WatchError."""
    src = text[offset:end]
    try:
        tree = ast.parse(src, mode="eval")
    except SyntaxError as e:
        col = offset + _syntax_column(src, e)
        raise WatchError(f"syntax error: {e.msg}", text, col) from None
    except (RecursionError, MemoryError, ValueError) as e:
        what = "null bytes are not allowed" if isinstance(e, ValueError) else "too deeply nested"
        raise WatchError(f"syntax error: {what}", text, offset) from None
    count, stack = 0, [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES or depth > MAX_DEPTH:
            col = offset
            if hasattr(node, "col_offset"):
                line = src.split("\n")[node.lineno - 1]
                col += sum(len(x) + 1 for x in src.split("\n")[: node.lineno - 1])
                col += len(line.encode()[: node.col_offset].decode(errors="ignore"))
            what = (f"more than {MAX_NODES} parts" if count > MAX_NODES
                    else f"nested more than {MAX_DEPTH} deep")  # fmt: skip
            raise WatchError(f"the expression is too large ({what})", text, col)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return tree


def _syntax_column(src: str, e: SyntaxError) -> int:
    if not e.lineno or not e.offset or e.offset < 1:
        return len(src)
    lines = src.split("\n")
    before = sum(len(x) + 1 for x in lines[: e.lineno - 1])
    return min(before + e.offset - 1, len(src))


def _check_text(text) -> int:
    """The offset of the expression in `text` (leading spaces skipped); WatchError if unusable."""
    if not isinstance(text, str):
        raise WatchError(f"a watch expression is text, got {type(text).__name__}")
    if len(text) > MAX_TEXT:
        raise WatchError(f"the expression is {len(text)} characters long; the limit is {MAX_TEXT}",
                         text, MAX_TEXT)  # fmt: skip
    offset = len(text) - len(text.lstrip())
    if offset == len(text):
        raise WatchError("the expression is empty", text, 0)
    return offset


class Watch:
    """A compiled watch expression over one trace: where it holds and what it reads, by position.

    Built by `compile_watch`. Nothing is computed until asked, and then once:
    the mask and every value are whole-sequence arrays, so moving the cursor
    is an index into them.
    """

    def __init__(self, text: str, trace, root: _V, compiler: _Compiler):
        self.text = text
        self.trace = trace
        self._root = root
        self._names = tuple(dict.fromkeys(n for _, n in sorted(compiler.names, key=lambda x: x[0])))
        terms: dict[str, _V] = {}
        for _, label, v in sorted(compiler.terms, key=lambda x: x[0]):
            terms.setdefault(label, v)
        self._terms = terms
        self._mask: np.ndarray | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The quantities and variables the expression reads, as typed (L1.rev.o), in order."""
        return self._names

    @property
    def is_condition(self) -> bool:
        """Does it hold or not at each step (a comparison, any(...)) rather than give a value?"""
        return self._root.kind == "bool"

    @property
    def kind(self) -> str:
        """"bool" for a condition, "num" for a number, "str" for text (token, pred)."""
        return self._root.kind

    @property
    def mask(self) -> np.ndarray:
        """(T,) bool by engine position: where the condition holds. Read-only, computed once.

        A number or a text is not a condition: WatchError saying to compare it.
        """
        if self._mask is None:
            if not self.is_condition:
                lead = len(self.text) - len(self.text.lstrip())
                raise WatchError(f"{' '.join(self.text.split())} is {self._root.describe()}, not a "
                                 "condition; compare it, as in f[3] > 0.5", self.text, lead,
                                 len(self.text.strip()))  # fmt: skip
            v = self._root()
            T = self.trace.T
            m = np.full(T, bool(v)) if self._root.shape == "const" else np.array(v, dtype=bool)
            if self._root.valid is not None:
                m &= self._root.valid()
            m.setflags(write=False)
            self._mask = m
        return self._mask

    def where(self) -> np.ndarray:
        """The positions (0..T-1) where the condition holds."""
        return np.flatnonzero(self.mask)

    @property
    def count(self) -> int:
        """On how many steps the condition holds."""
        return int(np.count_nonzero(self.mask))

    def next(self, pos: int, *, reverse: bool = False) -> int | None:
        """The first position after pos (before it, with reverse) where it holds; None if none."""
        return next_hit(self.mask, pos, reverse=reverse)

    def _at(self, v: _V, pos: int):
        if not 0 <= pos < self.trace.T:
            raise IndexError(f"step {pos} is outside the trace (0..{self.trace.T - 1})")
        if v.valid is not None and not v.valid()[pos]:
            return None
        a = v()
        x = a if v.shape == "const" else a[pos]
        return x.item() if isinstance(x, np.generic) else x

    def value_at(self, pos: int):
        """The expression's value at engine position pos: bool, float, int, str (None: no value)."""
        return self._at(self._root, int(pos))

    def values_at(self, pos: int) -> dict[str, Any]:
        """Each per-step value the expression compares (f[3], max(abs(delta)), token), at pos.

        A condition that is a single call (any(isnan(c))) shows itself; a value shows itself.
        """
        pos = int(pos)
        if not self._terms and not self.is_condition:
            return {" ".join(self.text.split()): self.value_at(pos)}
        return {label: self._at(v, pos) for label, v in self._terms.items()}


def compile_watch(text: str, trace, layer: int = 0, direction: int = 0, *,
                  output_kind: str | None = None) -> Watch:  # fmt: skip
    """The Watch for `text` over `trace`, read at `layer` and `direction` unless it says L2.rev…

    Raises WatchError (an InputError with .column) for anything outside the
    language. Cheap: it parses and types the text and computes nothing, so a
    front end can call it on every keystroke. `output_kind` is how the
    model's output reads when the caller knows better than the trace's meta
    (the UI's Source); by default the rule the output panel uses.
    """
    offset = _check_text(text)
    tree = _parse(text, offset)
    c = _Compiler(text, trace, layer, direction, output_kind, offset)
    root = c.build(tree.body)
    body = tree.body
    if root.kind in ("p", "tuple"):
        raise c.error(f"{c.source(body)} is not a value", body)
    if root.shape == "units":
        W = root.width
        if root.kind == "bool":
            raise c.error(f"{c.source(body)} is one condition per unit ({W} units); reduce it with "
                          "any(...), all(...) or count(...), or index a unit, as in f[3] < 0.1",
                          body)  # fmt: skip
        raise c.error(f"{c.source(body)} is {W} values per step (one per unit); index a unit, as "
                      "in c[3], or reduce it with max(...), min(...), mean(...) or sum(...)",
                      body)  # fmt: skip
    if not isinstance(body, (ast.Compare, ast.BoolOp, ast.UnaryOp)):
        c._term(root, body)
    return Watch(text, trace, root, c)


def next_hit(mask: np.ndarray, pos: int, *, reverse: bool = False) -> int | None:
    """The first position after `pos` where `mask` holds, or the last one before it (`reverse`).

    Never `pos` itself, so a debugger's continue from a hit moves on to the next
    one; None when there is none. Several watches: pass the `|` of their masks.
    """
    mask = np.asarray(mask, dtype=bool)
    pos = int(pos)
    if reverse:
        hits = np.flatnonzero(mask[: max(pos, 0)])
        return int(hits[-1]) if hits.size else None
    start = max(pos + 1, 0)
    hits = np.flatnonzero(mask[start:])
    return start + int(hits[0]) if hits.size else None


def where(text: str, trace, layer: int = 0, direction: int = 0, **kw) -> np.ndarray:
    """The positions (0..T-1) where the condition `text` holds over `trace`."""
    return compile_watch(text, trace, layer, direction, **kw).where()
