"""Text → tokens → ids: the one way a sentence becomes what an embedding reads.

Used by every model that reads text (a checkpoint's vocabulary, an ONNX
graph's, the word → id dict a user hands `debug()` for a live torch model), so
that splitting, the unknown token and the "not in the vocabulary" refusal are
the same everywhere.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from .core.errors import InputError, SpecError

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


def shown(words: Sequence[str], limit: int = 20) -> str:
    """Words for an error message: quoted, the first `limit` of them."""
    return ", ".join(repr(w) for w in words[:limit]) + (" ..." if len(words) > limit else "")


__all__ = ["TOKENIZERS", "Vocabulary", "shown", "split_text"]
