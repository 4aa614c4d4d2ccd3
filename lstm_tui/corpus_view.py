"""What the debugger steps through besides steps: its inputs, the token span it selects, exports.

No Textual here (like watching.py and whatif.py), so each piece is tested on
its own:

* `corpus_entries`, `example_entries`: the inputs `x`, `X` and the input list walk
  through, one `InputEntry` each: a corpus's inputs when the trace is one input of
  a corpus (`lstm-tui MODEL --text-file FILE`, `lstm-tui corpus.npz`), else the
  model's example inputs (`lstm-tui info` numbers them 1..N; so does this list).
* `extend_span(span, t, step, T)`: shift+arrows grow a token span from the
  cursor, as a text editor grows a selection; `span_steps` orders its ends.
* `export_name(...)`, `target_path(...)`: the file an export is offered under,
  named after the model and what it holds, and where a typed path puts it;
* `run_corpus`, `CorpusRecording`, `corpus_source`: `lstm-tui MODEL --text-file FILE`,
  a corpus recorded in the app's loading worker (progress, ctrl+c keeps what is
  recorded), and the Source on one of its inputs;
* `Places`, `context_text`, `match_line`: where match looks (the corpus, or the trace)
  and a match as the match list shows it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from rich.cells import cell_len

from .text import display, safe_line

#: How much of an input's text its row in the input list shows, in characters.
PREVIEW = 70


@dataclass(frozen=True)
class InputEntry:
    """One input in the list: its number (1-based, as the header says "input k of N"), what it
    reads (a safe one-line preview) and how many steps it has (None until it is recorded)."""

    number: int
    preview: str
    steps: int | None = None


def example_entries(source) -> list[InputEntry]:
    """The model's example inputs (a trace file or a live model has none): text as it reads,
    a numeric input as its shape."""
    model = source.model
    examples = tuple(getattr(model, "examples", ()) or ()) if model is not None else ()
    entries = []
    for n, example in enumerate(examples, 1):
        if isinstance(example, str):
            preview = safe_line(example, PREVIEW)
        else:
            shape = getattr(example, "shape", None)
            preview = f"numeric input {tuple(shape)}" if shape is not None else "numeric input"
        steps = source.trace.T if source.example == n else None
        entries.append(InputEntry(n, preview, steps))
    return entries


def extend_span(span: tuple[int, int] | None, t: int, step: int, T: int
                ) -> tuple[tuple[int, int], int]:  # fmt: skip
    """(the span, the new cursor) after shift+arrow by `step` from cursor `t`.

    A span is (anchor, head) in sequence positions, head where the cursor is:
    a span whose head is not at the cursor is dropped and a new one is
    anchored at the cursor, so a shift+arrow always grows or shrinks the span
    under the user's eye. The head stays inside 0..T-1.
    """
    if span is None or span[1] != t:
        span = (t, t)
    head = min(max(t + step, 0), T - 1)
    return (span[0], head), head


def span_steps(span: tuple[int, int]) -> tuple[int, int]:
    """The span's first and last positions, in sequence order (inclusive)."""
    return min(span), max(span)


def describe_span(span: tuple[int, int]) -> str:
    """The span as the screen numbers steps: "steps 4–6" (1-based), "step 4"."""
    a, b = span_steps(span)
    return f"step {a + 1}" if a == b else f"steps {a + 1}–{b + 1}"


def file_stem(text: str, limit: int = 40) -> str:
    """`text` as a piece of a file name: letters, digits, - and _ (every other character _)."""
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in text)[:limit]


def export_name(model: str, what: str, suffix: str) -> str:
    """The file name an export is offered under: `tagger_c_L1.csv` (a screenshot is named by
    the time instead, as the palette's is: app.screenshot_name)."""
    return f"{file_stem(model) or 'lstm-tui'}_{file_stem(what, 60)}{suffix}"


def target_path(typed: str, default_name: str) -> Path:
    """Where an export the user pointed at goes: a folder they typed gets the default name
    inside it; anything else is the file itself (~ is expanded)."""
    path = Path(typed.strip() or ".").expanduser()
    return path / default_name if path.is_dir() else path


def context_text(context: tuple | None, width: int = 60) -> str:
    """A match's tokens in context, the match in ⟦ ⟧: `the cat ⟦sat on⟧ the mat`.

    `context` is lstm_engine.span_context's (before, span, after), None without tokens.
    Tokens go through `display` (a character model's space is ␣, its newline ⏎) and are
    joined without spaces when every one is a single character (a character model).
    """
    if context is None:
        return ""
    before, span, after = ([display(t) for t in part] for part in context)
    chars = all(len(t) == 1 for t in (*before, *span, *after))
    sep = "" if chars else " "
    middle = f"⟦{sep.join(span)}⟧"
    room = max(width - cell_len(middle), 0) // 2
    left, right = _fit_tokens(before[::-1], sep, room)[::-1], _fit_tokens(after, sep, room)
    left = ("…" + sep if len(left) < len(before) else "") + sep.join(left)
    right = sep.join(right) + (sep + "…" if len(right) < len(after) else "")
    return sep.join(p for p in (left, middle, right) if p)


def _fit_tokens(tokens: list[str], sep: str, room: int) -> list[str]:
    """The first tokens whose joined width (with an ellipsis) fits `room` cells."""
    out, used = [], 1
    for tok in tokens:
        used += cell_len(tok) + len(sep)
        if used > room:
            break
        out.append(tok)
    return out


def match_line(rank: int, m, n_selected: int, context: str, where: str) -> str:
    """One entry of the match list, two lines: rank, where, how many of the selected units
    are on and how many others; then the context, indented. `where` is "steps 4–6" or
    "input 3, steps 4–6"."""
    others = f"{len(m.extra)} other{'s' if len(m.extra) != 1 else ''}"
    return f"{rank:>3}. {where}: {len(m.on)} of {n_selected} selected on, {others}\n     {context}"


def corpus_entries(corpus) -> list[InputEntry]:
    """A corpus's inputs for the input list: each one's first tokens and its length."""
    lengths = [int(n) for n in corpus.lengths]
    entries = []
    for k, n in enumerate(lengths):
        tokens = corpus.tokens(k)
        if tokens is None:
            preview = f"{n} numeric steps"
        else:  # the text as it reads (a character model's tokens joined without spaces)
            head = tokens[:PREVIEW]
            sep = "" if all(len(t) == 1 for t in head) else " "
            preview = safe_line(sep.join(head), PREVIEW)
        entries.append(InputEntry(k + 1, preview, n))
    return entries


class Places:
    """Where match looks and how its places read: over the corpus when the source is one of
    its inputs (positions are the corpus's rows: `lstm_engine.match`), else over the trace."""

    def __init__(self, source) -> None:
        self.source = source
        self.corpus = source.corpus
        self.data = source.corpus if source.corpus is not None else source.trace
        self._starts = [int(s) for s in self.corpus.starts] if self.corpus is not None else [0]

    def count(self, n: int) -> str:
        """n places, as the match list's title says it: "3 places", "1 place in 12 inputs"."""
        where = f" in {len(self.corpus)} inputs" if self.corpus is not None else ""
        return f"{n} place{'s' if n != 1 else ''}{where}"

    def position(self, local: int) -> int | None:
        """The data's position of the trace in view's position `local` (None: the trace in
        view is not one of the corpus's inputs, an edited text)."""
        if self.corpus is None:
            return local
        k = self.source.input
        return self._starts[k] + local if k is not None else None

    def local(self, position: int) -> tuple[int | None, int]:
        """(the input, 0-based, or None for a single trace; the position inside it)."""
        if self.corpus is None:
            return None, position
        k, offset = self.corpus.locate(position)
        return int(k), int(offset)

    def where(self, m) -> str:
        """A match's place as the screen numbers it: "steps 4–6", "input 3, steps 4–6"."""
        k, start = self.local(m.start)
        steps = describe_span((start, start + m.length - 1))
        return steps if k is None else f"input {k + 1}, {steps}"


def run_corpus(path: str, *, text_file: str, whole: bool = False, trust: bool = False,
               lstm: str | None = None, vocab: str | None = None, labels: str | None = None,
               output_kind: str | None = None) -> int:  # fmt: skip
    """`lstm-tui MODEL --text-file FILE [--whole]`: the debugger on a corpus it records.

    The file is read, the model loaded and every text tokenized here, so a bad file or a
    word the model cannot read is one error line before the screen opens; the recording
    itself runs in the app's loading worker (CorpusRecording), with its progress bar.
    Returns the exit status.
    """
    from lstm_engine import InputError, apply_names, load, read_text_inputs

    from .app import run_loader

    texts = read_text_inputs(text_file, whole=whole)
    model = load(path, trust=trust, lstm=lstm)
    if vocab is not None or labels is not None or output_kind is not None:
        apply_names(model, vocab=vocab, labels=labels, output_kind=output_kind)
    if getattr(model, "input_kind", None) != "text":
        raise InputError(f"{model.name} does not read text: --text-file needs a model that does")
    for k, text in enumerate(texts, 1):
        try:
            model.tokenize(text)
        except InputError as e:
            raise InputError(f"{text_file}, input {k}: {e}") from None
    return run_loader(CorpusRecording(model, texts), f"{Path(text_file).name}")


class CorpusRecording:
    """The loader of `lstm-tui MODEL --text-file FILE`: each text recorded as one input of a
    corpus (lstm_engine.record_corpus) in the app's loading worker, with a progress bar.

    The app sets `progress` (a callback for each input) and the loading screen's ctrl+c
    sets `stop`: the recorder ends after the input it is on, and the debugger opens on
    the inputs recorded so far (a KeyboardInterrupt cannot reach a worker thread, and
    would lose them).
    """

    def __init__(self, model, texts: list[str], name: str | None = None) -> None:
        self.model, self.texts = model, texts
        self.name = name or model.name
        self.stop = threading.Event()
        self.progress = None

    def __call__(self):
        from lstm_engine import record_corpus

        if self.progress is not None:  # the bar from the start: the first input may take long
            self.progress(0, len(self.texts))
        # stopped before the first input, the engine's InputError says so (the error screen)
        corpus = record_corpus(self.model, self.texts, progress=self.progress, stop=self.stop)
        return corpus_source(corpus, model=self.model, name=self.name)


def corpus_source(corpus, *, model=None, name: str = "corpus"):
    """The debugger's Source on a corpus's first input: with the model that recorded it (its
    inputs can be edited and branched), or read-only (a corpus file)."""
    from lstm_engine import output_kind

    from .source import Source

    trace = corpus.trace(0)
    if model is None:
        return Source(trace=trace, name=name, origin="trace", output_kind=output_kind(trace),
                      format="corpus", corpus=corpus, input=0)  # fmt: skip
    return Source(trace=trace, name=name, origin="model", model=model,
                  output_kind=model.output_kind, format=model.format, corpus=corpus, input=0)  # fmt: skip


def stopped_note(corpus) -> str | None:
    """What the debugger says on opening a corpus whose recording was stopped (None: whole)."""
    if getattr(corpus, "complete", True):
        return None
    n, planned = len(corpus), getattr(corpus, "planned", None)
    of = f" of {planned:,}" if planned is not None else ""
    return (f"Recording stopped: {n:,}{of} input{'s' if n != 1 else ''} recorded; "
            "they are all here (i lists them).")
