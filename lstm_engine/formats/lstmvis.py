"""An LSTMVis project folder (HendrikStrobelt/LSTMVis) from a trace or a corpus, and its reader.

LSTMVis opens every folder holding an `lstm.yml` under its data directory. What this writes,
checked against LSTMVis's own server code (`lstmdata/data_handler.py`, LSTMDataHandler) and
the `lstm.yml` of its README:

    PROJECT/lstm.yml      name, description, files:, word_sequence:, states:, meta:
    PROJECT/states.h5     one 2-D float dataset [N, units] per layer, direction and quantity:
                          states{L} (c), output{L} (h), input{L}, forget{L}, outgate{L} (the
                          gates i, f, o) and candidate{L} (g); a right-to-left direction adds
                          `_rev` (states1_rev). Row n belongs to word n.
    PROJECT/train.h5      word_ids: the 1-D int32 dataset [N] of word ids
    PROJECT/train.dict    `token id`, one a line, every id of word_ids present
    PROJECT/meta.h5       predicted (int32 [N], ids of labels.dict) and probability
    PROJECT/labels.dict   (float32 [N]): the model's top prediction at each step and its
                          probability, when the trace has a distribution as its output

What LSTMVis needs and how it is met:

- **No sequence boundaries.** A corpus's inputs are concatenated with one separator word
  (SEPARATOR, made unique against the tokens) between two inputs, whose state rows are all
  zero: tanh 0 = 0 is "off" at any θ > 0, so LSTMVis's left padding at an input's first step
  reads "off", as lstm-tui's select does (padding outside the input is off).
- **The client shows tanh of every value** (it never sends the `transform` that lstm.yml
  may name; the server's default is tanh). So c is stored as it is, and LSTMVis shows tanh c,
  as Karpathy coloured cells; h and the gates, which should appear unchanged, are stored as
  atanh of the value clipped to ±(1 − EPS), so that tanh brings back the value itself (to
  within EPS at ±1). The gates are marked `unsigned: true` (they lie in [0, 1]).
- **The dictionary is split on whitespace.** The server reads each line with
  `line.split()`: two fields are `token id`; a line starting with a space (one field after
  the split) is the space token. So the token " " is written as ` id`, and any other token
  holding whitespace, or empty, is written with each whitespace character shown by a visible
  stand-in (`dict_token`: ␣ for a space, ⏎ for a newline, ⇥ for a tab, <U+hhhh> for others,
  ∅ for the empty token); two tokens that would read the same get `#id` appended.

`read_project` reads a folder back the way LSTMVis's server does (the same dict rule), for
tests and for anyone checking an export. h5py is imported only inside the functions that need
it: without it, an InputError says `pip install 'lstm-tui[lstmvis]'`.
"""

from __future__ import annotations

import ctypes
import errno
import os
import secrets
import shutil
import stat
from pathlib import Path

import numpy as np

from ..core.errors import InputError
from ..core.files import TargetExistsError, WriteError, write_file
from ..core.output import output_kind_of, probabilities
from ..select import parts

#: h and the gates are stored as atanh(clip(v, ±(1 − EPS))): tanh of them is v to within EPS.
EPS = 1e-6
#: The word between two inputs of a corpus (made unique against the tokens).
SEPARATOR = "<sep>"
#: (dataset stem, quantity, lstm.yml type, unsigned) in the order lstm.yml lists them.
QUANTITIES = (
    ("states", "c", "state", False),
    ("output", "h", "output", False),
    ("input", "i", "input_gate", True),
    ("forget", "f", "forget_gate", True),
    ("outgate", "o", "output_gate", True),
    ("candidate", "g", "candidate", False),
)
STATES_FILE, WORDS_FILE, DICT_FILE, META_FILE, LABELS_FILE = (
    "states.h5", "train.h5", "train.dict", "meta.h5", "labels.dict",
)  # fmt: skip
#: Steps stored per write: bounds the memory an export takes whatever N is.
_BLOCK = 8192
INSTALL_HINT = "writing an LSTMVis project needs h5py: pip install 'lstm-tui[lstmvis]'"
_VISIBLE = {" ": "␣", "\n": "⏎", "\t": "⇥", "\r": "␍"}


def _h5py():
    try:
        import h5py
    except ImportError:
        raise InputError(INSTALL_HINT) from None
    return h5py


# --- the dictionary, as LSTMVis's server reads it
def dict_token(token: str) -> str:
    """How `token` is written in a .dict so that LSTMVis reads it back as one token: itself
    when it holds no whitespace; " " as itself (LSTMVis's space token); otherwise each
    whitespace character as a visible stand-in, and the empty token as ∅."""
    if token == " ":
        return " "
    if token == "":
        return "∅"
    if not any(ch.isspace() for ch in token):
        return token
    return "".join(_VISIBLE.get(ch, f"<U+{ord(ch):04X}>") if ch.isspace() else ch for ch in token)


def dict_lines(tokens: list[str]) -> list[str]:
    """The .dict lines for tokens by id (token k has id k), each name unique as LSTMVis reads it."""
    seen: set[str] = set()
    lines = []
    for k, token in enumerate(tokens):
        shown = dict_token(token)
        if shown in seen:
            shown = f"{shown}#{k}" if shown != " " else f"␣#{k}"
        seen.add(shown)
        lines.append(f"{shown} {k}")
    return lines


def parse_dict(text: str) -> dict[int, str]:
    """id → token as LSTMVis's LSTMDataHandler reads a .dict (its loop, line for line):
    two whitespace-separated fields are `token id`; a line starting with a space is the
    space token; anything else is skipped."""
    vk: dict[int, str] = {}
    for line in text.splitlines(keepends=True):
        if len(line) > 0:
            if len(line.split()) == 2:
                k, v = line.split()
                vk[int(v)] = k
            elif line[0] == " ":
                vk[int(line.strip())] = " "
    return vk


# --- lstm.yml
def _yaml_str(s: str) -> str:
    """A YAML double-quoted scalar holding exactly `s`: printable characters as they are, the
    rest (controls, bidi marks, line breaks) escaped, so a name from a file stays one value."""
    out = []
    for ch in s:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= o < 0x7F or (o >= 0xA0 and ch.isprintable() and not 0xD800 <= o <= 0xDFFF):
            out.append(ch)
        elif o <= 0xFFFF:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    return '"' + "".join(out) + '"'


def lstm_yml(name: str, description: str, types: list[dict], meta: bool) -> str:
    """The project's lstm.yml, laid out as LSTMVis's README example."""
    lines = [
        f"name: {_yaml_str(name)}",
        f"description: {_yaml_str(description)}",
        "",
        "files:",
        f"  states: {STATES_FILE}",
        f"  train: {WORDS_FILE}",
        f"  words: {DICT_FILE}",
    ]
    if meta:
        lines += [f"  meta: {META_FILE}", f"  labels: {LABELS_FILE}"]
    lines += ["", "word_sequence:", "  file: train", "  path: word_ids", "  dict_file: words", "",
              "states:", "  file: states", "  types:"]  # fmt: skip
    for t in types:
        unsigned = ", unsigned: true" if t["unsigned"] else ""
        fields = f"type: {t['type']}, layer: {t['layer']}, path: {t['path']}{unsigned}"
        lines.append(f"    - {{{fields}}}")
    if meta:
        lines += ["", "meta:", "  predicted:", "    file: meta", "    path: predicted",
                  "    dict: labels", "    vis:", "      type: discrete", "      range: dict",
                  "  probability:", "    file: meta", "    path: probability", "    vis:",
                  "      type: scalar", "      range: [0, 1]"]  # fmt: skip
    return "\n".join(lines) + "\n"


# --- writing
def _rows(starts: np.ndarray, T: int) -> np.ndarray:
    """(T,) the row of each position in the project: one separator row between inputs."""
    k = np.searchsorted(starts, np.arange(T), side="right") - 1
    return np.arange(T) + k


def _stored(values: np.ndarray, quantity: str) -> np.ndarray:
    """What LSTMVis must hold so that tanh of it shows the value (see the module docstring)."""
    if quantity == "c":
        return values
    dt = values.dtype
    lim = dt.type(1 - EPS)
    return np.arctanh(np.clip(values, -lim, lim)).astype(dt)


def export_lstmvis(
    source, folder: str | os.PathLike, *, overwrite: bool = False, name: str | None = None,
    description: str | None = None, exists_hint: str = "pass overwrite=True to replace it",
) -> Path:  # fmt: skip
    """Write an LSTMVis project for a Trace or a Corpus into a new folder; returns it.

    The folder is built under a fresh, unpredictable name beside `folder` and moved into
    place only when complete, never onto an existing name (TargetExistsError); with
    `overwrite`, an existing folder (a real one, never a symlink) gets the project's files
    replaced (each through write_file) and keeps anything else it holds.
    """
    h5py = _h5py()
    whole, starts, windows = parts(source)
    if whole.tokens is None:
        raise InputError("an LSTMVis project shows words: this trace has no tokens (a numeric "
                         "input); export it as npz, csv or json instead")  # fmt: skip
    folder = Path(folder)
    T, K = whole.T, len(starts)
    rows = _rows(starts, T)
    N = T + K - 1
    vocab = list(dict.fromkeys(whole.tokens))
    sep = SEPARATOR
    while K > 1 and sep in vocab:
        sep = "<" + sep + ">"
    if K > 1:
        vocab.append(sep)
    index = {tok: k for k, tok in enumerate(vocab)}
    word_ids = np.full(N, index.get(sep, 0), dtype=np.int32)
    word_ids[rows] = [index[t] for t in whole.tokens]
    kind = output_kind_of(whole)
    has_meta = whole.output is not None and whole.labels is not None and kind in (
        "log_prob", "prob", "logit")  # fmt: skip

    types = []
    for layer in range(whole.num_layers):
        for d in range(whole.num_directions):
            suffix = "_rev" if whole.reads_reversed(d) else ""
            for stem, q, kind_name, unsigned in QUANTITIES:
                types.append({"type": kind_name, "layer": layer + 1, "unsigned": unsigned,
                              "path": f"{stem}{layer + 1}{suffix}", "q": q,
                              "at": (layer, d)})  # fmt: skip

    def write_states(fh):
        with h5py.File(fh, "w") as f:
            for t in types:
                layer, d = t["at"]
                width = whole.out_size if t["q"] == "h" else whole.hidden_size
                # rows never written (the separators) keep the fill value: zero, "off" at any θ > 0
                ds = f.create_dataset(t["path"], shape=(N, width), dtype=whole.c.dtype,
                                      fillvalue=0)  # fmt: skip
                for t0 in range(0, T, _BLOCK):
                    t1 = min(T, t0 + _BLOCK)
                    block = _stored(windows.window(t["q"], layer, d, t0, t1), t["q"])
                    r0, r1 = rows[t0], rows[t1 - 1] + 1
                    if r1 - r0 == t1 - t0:
                        ds[r0:r1] = block
                    else:  # separators inside the block: its rows spread out, zero between
                        spread = np.zeros((r1 - r0, width), dtype=whole.c.dtype)
                        spread[rows[t0:t1] - r0] = block
                        ds[r0:r1] = spread

    def write_words(fh):
        with h5py.File(fh, "w") as f:
            f.create_dataset("word_ids", data=word_ids)

    def write_meta(fh):
        probs = probabilities(whole.output, kind)  # (T, n_labels)
        top = probs.argmax(axis=1)
        predicted = np.full(N, len(whole.labels), dtype=np.int32)  # the separator's own label
        probability = np.zeros(N, dtype=np.float32)
        predicted[rows] = top
        probability[rows] = probs[np.arange(T), top]
        with h5py.File(fh, "w") as f:
            f.create_dataset("predicted", data=predicted)
            f.create_dataset("probability", data=probability)

    label_names = list(whole.labels or ()) + ([sep] if has_meta and K > 1 else [])
    name = name if name is not None else str(whole.meta.get("model") or "lstm-tui trace")
    if description is None:
        description = (f"{whole.meta.get('lstm') or 'LSTM'} of {name}, exported by lstm-tui: "
                       f"{K} input{'s' if K != 1 else ''}, {T} steps")  # fmt: skip
    files = {
        "lstm.yml": lambda fh: fh.write(lstm_yml(name, description, types, has_meta).encode()),
        STATES_FILE: write_states,
        WORDS_FILE: write_words,
        DICT_FILE: lambda fh: fh.write(("\n".join(dict_lines(vocab)) + "\n").encode()),
    }
    if has_meta:
        files[META_FILE] = write_meta
        labels_text = "\n".join(dict_lines(label_names)) + "\n"
        files[LABELS_FILE] = lambda fh: fh.write(labels_text.encode())
    return _write_folder(folder, files, overwrite, exists_hint)


def _write_folder(folder: Path, files: dict, overwrite: bool, hint: str) -> Path:
    """Every file of `files` (name → writer of a binary handle) in `folder`, as a whole."""
    try:
        st = os.lstat(folder)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise WriteError(f"cannot write {folder}: {e.strerror or e}") from None
    if st is not None:
        if not overwrite:
            raise TargetExistsError(f"{folder} already exists; not overwriting it ({hint})")
        if not stat.S_ISDIR(st.st_mode):
            raise WriteError(f"{folder}: is not a folder (a symbolic link or a file); refusing "
                             "to write a project into it")  # fmt: skip
        for name, write in files.items():  # each replaced through write_file, nothing else touched
            write_file(folder / name, write, overwrite=True, exists_hint=hint)
        return folder
    parent = folder.parent
    tmp = parent / f"{folder.name[:32] or 'project'}.lstm-tui-{secrets.token_hex(8)}.partial"
    try:
        os.mkdir(tmp, 0o700)
    except FileNotFoundError:
        raise WriteError(f"cannot write {folder}: {parent}: no such directory") from None
    except OSError as e:
        raise WriteError(f"cannot write {folder}: {e.strerror or e}") from None
    try:
        for name, write in files.items():
            write_file(tmp / name, write)
        os.chmod(tmp, 0o777 & ~_umask())
        _rename_noreplace(tmp, folder, hint)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # our own folder, made above: nothing else in it
        raise
    return folder


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _rename_noreplace(src: Path, dst: Path, hint: str) -> None:
    """rename(2) that fails if `dst` exists (Linux renameat2 RENAME_NOREPLACE); elsewhere a
    check just before the rename (which never replaces a non-empty folder or a file)."""
    raced = TargetExistsError(f"{dst} already exists (it appeared while writing); not "
                              f"overwriting it ({hint})")  # fmt: skip
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        renameat2 = None
    if renameat2 is not None:
        at_fdcwd, noreplace = -100, 1
        if renameat2(at_fdcwd, os.fsencode(src), at_fdcwd, os.fsencode(dst), noreplace) == 0:
            return
        err = ctypes.get_errno()
        if err == errno.EEXIST:
            raise raced
        if err not in (errno.ENOSYS, errno.EINVAL):
            raise WriteError(f"cannot write {dst}: {os.strerror(err)}")
    if os.path.lexists(dst):
        raise raced
    try:
        os.rename(src, dst)
    except OSError as e:
        if e.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
            raise raced from None
        raise WriteError(f"cannot write {dst}: {e.strerror or e}") from None


# --- reading back, as LSTMVis does
def read_project(folder: str | os.PathLike) -> dict:
    """{"words": tokens by row, "word_ids", "states": {path: array}, "meta": {name: array},
    "labels": id → label, "yml": the lstm.yml text}: what LSTMVis's server would read."""
    h5py = _h5py()
    folder = Path(folder)
    vk = parse_dict((folder / DICT_FILE).read_text(encoding="utf-8"))
    with h5py.File(folder / WORDS_FILE, "r") as f:
        word_ids = f["word_ids"][()]
    with h5py.File(folder / STATES_FILE, "r") as f:
        states = {k: f[k][()] for k in f}
    meta, labels = {}, None
    if (folder / META_FILE).exists():
        with h5py.File(folder / META_FILE, "r") as f:
            meta = {k: f[k][()] for k in f}
        labels = parse_dict((folder / LABELS_FILE).read_text(encoding="utf-8"))
    return {"words": [vk[int(i)] for i in word_ids], "word_ids": word_ids, "states": states,
            "meta": meta, "labels": labels,
            "yml": (folder / "lstm.yml").read_text(encoding="utf-8")}  # fmt: skip


def trace_rows(source) -> np.ndarray:
    """The project row of each position of a Trace or Corpus (separators skipped)."""
    whole, starts, _ = parts(source)
    return _rows(starts, whole.T)

