"""Text → tokens → ids: the one way a sentence becomes what an embedding reads.

Used by every model that reads text (a checkpoint's vocabulary, an ONNX
graph's, the word → id dict a user hands `debug()` for a live torch model), so
that splitting, the unknown token and the "not in the vocabulary" refusal are
the same everywhere.
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np

from .core.errors import InputError, SpecError
from .core.files import read_bytes, read_json
from .core.limits import TooLargeError, max_items, max_json_bytes

TOKENIZERS = ("words", "chars")


def split_text(text: str, tokenizer: str | None = "words", lowercase: bool = False) -> list[str]:
    """Tokens as the model was trained to read them: whitespace-separated words, or characters
    (spaces and newlines included). Empty text is an InputError: nothing would be fed."""
    if not isinstance(text, str):
        raise InputError(f"text must be a string, got {type(text).__name__}")
    if tokenizer not in (*TOKENIZERS, None):
        raise InputError(f"tokenizer must be 'words' or 'chars', got {tokenizer!r}")
    s = text.lower() if lowercase else text
    tokens = list(s) if tokenizer == "chars" else s.split()
    if not tokens:
        raise InputError("empty text: there is nothing to feed the model")
    return tokens


class Vocabulary:
    """Token → id, as the model was trained: a list of tokens in id order, or a dict token → id.

    `unk` names the token that unknown words are read as; without it an
    unknown word is refused, listing every unknown word of the input.
    """

    def __init__(self, words: Sequence[str] | Mapping[str, int], unk: str | None = None):
        if isinstance(words, Mapping):
            self.index = {str(w): int(k) for w, k in words.items()}
        else:
            self.index = {str(w): k for k, w in enumerate(words)}
        if unk is not None and unk not in self.index:
            raise SpecError(f"the unknown token {unk!r} is not in the vocabulary")
        self.unk = unk

    def __len__(self) -> int:
        return len(self.index)

    def __contains__(self, token: object) -> bool:
        return token in self.index

    def unknown(self, tokens: Sequence[str]) -> list[str]:
        """The distinct tokens not in the vocabulary, in the order they first appear."""
        return [w for w in dict.fromkeys(tokens) if w not in self.index]

    def check(self, tokens: Sequence[str]) -> None:
        """InputError listing the unknown tokens, unless there are none or an unknown token reads them."""
        if self.unk is not None:
            return
        unknown = self.unknown(tokens)
        if unknown:
            raise InputError(f"not in the vocabulary ({len(self)} words, no unknown token): {shown(unknown)}")

    def ids(self, tokens: Sequence[str]) -> np.ndarray:
        """(T,) int64 ids; unknown tokens read as `unk` (refused when there is none)."""
        self.check(tokens)
        unk = self.index.get(self.unk) if self.unk is not None else None
        return np.array([self.index.get(w, unk) for w in tokens], dtype=np.int64)

    def unk_meta(self, tokens: Sequence[str] | None) -> dict:
        """{"unk": token, "unk_positions": [k, ...]} where the model read `unk` instead of the
        user's word, or {} when every token is known: the trace keeps the user's words."""
        if tokens is None or self.unk is None:
            return {}
        where = [k for k, w in enumerate(tokens) if w not in self.index]
        return {"unk": self.unk, "unk_positions": where} if where else {}


# --- --vocab FILE and --labels FILE: names for files that do not carry them
def read_names(path: str | os.PathLike, what: str) -> list[str] | dict[str, int]:
    """The names in a user's file: one a line (a final newline ends the last, a "\\r" before
    each newline is dropped; every other character, spaces included, is part of the name),
    or JSON: a list of names, or {name: id}. Hostile files: the read is bounded
    (LSTM_TUI_MAX_JSON_BYTES), JSON through files.read_json, at most LSTM_TUI_MAX_ITEMS
    names; names are kept as they are (the UI and the CLI show them through display and
    safe_line, control characters made visible)."""
    data = read_bytes(path, what, limit=max_json_bytes(), error=InputError)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: {what} is not UTF-8 ({e.reason} at byte {e.start})") from None
    if text.lstrip()[:1] in ("{", "["):
        obj = read_json(text, f"{path}: {what}", error=InputError)
        if isinstance(obj, list) and all(isinstance(w, str) for w in obj):
            names = obj
        elif isinstance(obj, dict) and all(
            isinstance(k, int) and not isinstance(k, bool) for k in obj.values()
        ):
            names = obj
        else:
            raise InputError(f"{path}: {what} in JSON must be a list of strings or "
                             "{token: id} with whole-number ids")  # fmt: skip
    else:
        names = text.split("\n")
        if names and names[-1] == "":
            names.pop()  # the newline that ends the last line
        names = [n[:-1] if n.endswith("\r") else n for n in names]
    if len(names) > max_items():
        raise TooLargeError(f"{path}: {what} holds {len(names)} names, more than the "
                            f"{max_items()} allowed (raise LSTM_TUI_MAX_ITEMS)")  # fmt: skip
    if not names:
        raise InputError(f"{path}: {what} is empty")
    return names


def vocab_from_file(path: str | os.PathLike) -> tuple[str, ...]:
    """A --vocab FILE as tokens in id order: token k is id k. {token: id} must give every id
    0..N-1 once; a token twice is refused (it would have two ids)."""
    names = read_names(path, "vocabulary")
    if isinstance(names, dict):
        by_id = {}
        for token, k in names.items():
            if k in by_id:
                raise InputError(f"{path}: tokens {shown([by_id[k], token])} both have id {k}")
            by_id[k] = token
        if sorted(by_id) != list(range(len(by_id))):
            missing = sorted(set(range(len(by_id))) - set(by_id))[:5]
            raise InputError(f"{path}: the ids must be 0..{len(by_id) - 1}, each once; "
                             f"missing {missing}")  # fmt: skip
        return tuple(by_id[k] for k in range(len(by_id)))
    seen: dict[str, int] = {}
    for k, token in enumerate(names):
        if token in seen:
            raise InputError(f"{path}: the token {token!r} is on line {seen[token] + 1} and "
                             f"line {k + 1}; a vocabulary has each token once")  # fmt: skip
        seen[token] = k
    return tuple(names)


def labels_from_file(path: str | os.PathLike) -> tuple[str, ...]:
    """A --labels FILE: label k names output column k ({label: k} is read the same way)."""
    names = read_names(path, "labels")
    if isinstance(names, dict):
        order = sorted(names.items(), key=lambda kv: kv[1])
        if [k for _, k in order] != list(range(len(order))):
            raise InputError(f"{path}: label ids must be 0..{len(order) - 1}, each once")
        return tuple(name for name, _ in order)
    return tuple(names)


def apply_names(
    model, *, vocab: str | os.PathLike | None = None, labels: str | os.PathLike | None = None,
    output_kind: str | None = None,
) -> None:  # fmt: skip
    """Give an opened model the user's vocabulary, labels or output kind (the file has none,
    or the guess is wrong), checked against what the model is: a vocabulary only for a
    model that reads token ids, as many words as its embedding has rows where that is known,
    as many labels as its head has outputs where that is known (otherwise the trace checks)."""
    from .model import OUTPUT_KINDS

    if output_kind is not None:
        if output_kind not in OUTPUT_KINDS or output_kind is None:
            kinds = ", ".join(k for k in OUTPUT_KINDS if k)
            raise InputError(f"--output-kind {output_kind!r}: expected one of {kinds}")
        model.output_kind = output_kind
        model.output_kind_guessed = False  # a reader that refines its guess (ONNX) keeps it
    if vocab is not None:
        words = vocab_from_file(vocab)
        takes_ids = model.input_kind == "text" or getattr(model, "takes_token_ids", False)
        if not takes_ids:
            raise InputError(f"--vocab {vocab}: {model.name} reads numeric features, not token "
                             "ids, so a vocabulary has nothing to name")  # fmt: skip
        rows = None
        if getattr(model, "embedding", None) is not None:
            rows = model.embedding.weight.shape[0]
        elif model.vocab is not None and model.ids_as_vocab:
            rows = len(model.vocab)
        if rows is not None and len(words) != rows:
            raise InputError(f"--vocab {vocab}: {len(words)} tokens, but {model.name} reads ids "
                             f"0..{rows - 1} ({rows} tokens)")  # fmt: skip
        model.vocab, model.ids_as_vocab, model.unk = words, False, None
        model._vocab = Vocabulary(words)
        model.input_kind = "text"
        model.tokenizer = "chars" if all(len(w) == 1 for w in words) else "words"
    if labels is not None:
        names = labels_from_file(labels)
        head = getattr(model, "head", None)
        if head is not None and len(names) != head.weight.shape[0]:
            raise InputError(f"--labels {labels}: {len(names)} labels, but {model.name}'s head "
                             f"{head.name!r} has {head.weight.shape[0]} outputs")  # fmt: skip
        model.labels = names


def shown(words: Sequence[str], limit: int = 20) -> str:
    """Words for an error message: quoted, the first `limit` of them."""
    return ", ".join(repr(w) for w in words[:limit]) + (" ..." if len(words) > limit else "")


__all__ = [
    "TOKENIZERS", "Vocabulary", "apply_names", "labels_from_file", "read_names", "shown",
    "split_text", "vocab_from_file",
]  # fmt: skip
