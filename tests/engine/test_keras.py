"""Keras LSTMs (.keras, legacy .h5 models, .weights.h5), held to a numpy reference of Keras's math.

The fixture files are written here with h5py in the layouts Keras writes
(Keras 3's saving_lib groups `layers/<snake_case class>[_k]/.../vars/<k>`;
the legacy h5 format's `layer_names` / `weight_names` attributes), so no
TensorFlow or Keras is needed. The reference below is Keras's LSTM written
out independently: z = x @ kernel + h @ recurrent_kernel + bias, gate blocks
i, f, c, o. Keras 2's hard_sigmoid is clip(0.2x + 0.5, 0, 1), Keras 3's
clip(x/6 + 0.5, 0, 1); a reader that used sigmoid for either would be off
by far more than 1e-5.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

h5py = pytest.importorskip("h5py", reason="the keras extra (h5py) is not installed")

from lstm_engine import InputError, LoadError, load  # noqa: E402

TOL = 1e-5
ACTS = {
    "tanh": np.tanh,
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "hard_sigmoid_k2": lambda z: np.clip(0.2 * z + 0.5, 0, 1),
    "hard_sigmoid_k3": lambda z: np.clip(z / 6 + 0.5, 0, 1),
}


def keras_lstm(x, kernel, rec, bias, act="tanh", rec_act="sigmoid", backwards=False):
    """Keras's LSTM on x (T, in): every step's h and c (T, H), by sequence position."""
    a, ra = ACTS[act], ACTS[rec_act]
    H = rec.shape[0]
    h = np.zeros(H, np.float64)
    c = np.zeros(H, np.float64)
    hs, cs = np.zeros((len(x), H)), np.zeros((len(x), H))
    order = range(len(x) - 1, -1, -1) if backwards else range(len(x))
    for t in order:
        z = x[t] @ kernel + h @ rec + (bias if bias is not None else 0)
        i, f, g, o = ra(z[:H]), ra(z[H : 2 * H]), a(z[2 * H : 3 * H]), ra(z[3 * H :])
        c = f * c + i * g
        h = o * a(c)
        hs[t], cs[t] = h, c
    return hs, cs


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _lstm_weights(rng, n_in, H, *, unit_forget_bias=True):
    kernel = rng.uniform(-0.7, 0.7, (n_in, 4 * H)).astype(np.float32)
    rec = rng.uniform(-0.7, 0.7, (H, 4 * H)).astype(np.float32)
    bias = rng.uniform(-0.3, 0.3, 4 * H).astype(np.float32)
    if unit_forget_bias:
        bias[H : 2 * H] += 1.0  # what unit_forget_bias puts in before training moves it
    return [kernel, rec, bias]


class Net:
    """Embedding(V, E) → LSTM(H1) → Bidirectional(LSTM(H2)) → Dense(n, softmax), as Keras holds it."""

    def __init__(self, rec_act="sigmoid", seed=0, V=9, E=3, H1=4, H2=3, n=5):
        rng = np.random.default_rng(seed)
        self.rec_act, self.dense_act = rec_act, "softmax"
        self.emb = rng.normal(size=(V, E)).astype(np.float32)
        self.lstm = _lstm_weights(rng, E, H1)
        self.fw = _lstm_weights(rng, H1, H2)
        self.bw = _lstm_weights(rng, H1, H2)
        self.dense = [rng.normal(size=(2 * H2, n)).astype(np.float32),
                      rng.normal(size=n).astype(np.float32)]  # fmt: skip

    def reference(self, ids, version):
        ra = {"hard_sigmoid": f"hard_sigmoid_k{version}"}.get(self.rec_act, self.rec_act)
        x = self.emb[ids].astype(np.float64)
        h1, c1 = keras_lstm(x, *self.lstm, rec_act=ra)
        hf, cf = keras_lstm(h1, *self.fw, rec_act=ra)
        hb, cb = keras_lstm(h1, *self.bw, rec_act=ra, backwards=True)
        logits = np.concatenate([hf, hb], 1) @ self.dense[0] + self.dense[1]
        return (h1, c1), (hf, cf, hb, cb), (_softmax(logits), logits)

    def layer_configs(self):
        lstm_cfg = {"units": 4, "activation": "tanh", "recurrent_activation": self.rec_act,
                    "use_bias": True, "unit_forget_bias": True, "return_sequences": True}  # fmt: skip
        inner = dict(lstm_cfg, units=3, name="inner")
        return [
            {"class_name": "InputLayer", "config": {"name": "input", "batch_shape": [None, None]}},
            {"class_name": "Embedding", "config": {"name": "embedding", "input_dim": 9,
                                                   "output_dim": 3}},
            {"class_name": "LSTM", "config": dict(lstm_cfg, name="lstm")},
            {"class_name": "Dropout", "config": {"name": "dropout", "rate": 0.2}},
            {"class_name": "Bidirectional", "config": {
                "name": "bidirectional", "merge_mode": "concat",
                "layer": {"class_name": "LSTM", "config": inner},
                "backward_layer": {"class_name": "LSTM",
                                   "config": dict(inner, go_backwards=True)}}},
            {"class_name": "Dense", "config": {"name": "dense", "units": 5,
                                               "activation": self.dense_act}},
        ]  # fmt: skip

    def config(self):
        return {"class_name": "Sequential", "config": {"name": "seq", "layers": self.layer_configs()}}

    # --- Keras 3's saving_lib layout
    def write_keras3_h5(self, f):
        def put(path, arrays):
            g = f.require_group(path).require_group("vars")
            for k, a in enumerate(arrays):
                g[str(k)] = a

        put("layers/embedding", [self.emb])
        put("layers/lstm", [])  # the LSTM layer's own (empty) vars, its weights are its cell's
        put("layers/lstm/cell", self.lstm)
        put("layers/dropout", [])
        put("layers/bidirectional/forward_layer/cell", self.fw)
        put("layers/bidirectional/backward_layer/cell", self.bw)
        put("layers/dense", self.dense)
        f.require_group("optimizer").require_group("vars")
        f.require_group("vars")

    def save_keras(self, path):
        buf = io.BytesIO()
        with h5py.File(buf, "w") as f:
            self.write_keras3_h5(f)
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
            zf.writestr("config.json", json.dumps(self.config()))
            zf.writestr("model.weights.h5", buf.getvalue())
        return path

    def save_keras3_weights(self, path):
        with h5py.File(path, "w") as f:
            self.write_keras3_h5(f)
        return path

    # --- the legacy h5 layout (Keras 2's model.save("m.h5") and save_weights("w.h5"))
    def write_legacy(self, g):
        layers = {
            "embedding": [("embedding/embeddings:0", self.emb)],
            "lstm": [(f"lstm/lstm_cell/{n}:0", a)
                     for n, a in zip(("kernel", "recurrent_kernel", "bias"), self.lstm)],
            "dropout": [],
            "bidirectional": [
                (f"bidirectional/{side}_inner/lstm_cell/{n}:0", a)
                for side, ws in (("forward", self.fw), ("backward", self.bw))
                for n, a in zip(("kernel", "recurrent_kernel", "bias"), ws)
            ],
            "dense": [("dense/kernel:0", self.dense[0]), ("dense/bias:0", self.dense[1])],
        }  # fmt: skip
        g.attrs["layer_names"] = np.array([k.encode() for k in layers])
        g.attrs["backend"] = b"tensorflow"
        g.attrs["keras_version"] = b"2.13.1"
        for name, weights in layers.items():
            lg = g.create_group(name)
            lg.attrs["weight_names"] = np.array([w.encode() for w, _ in weights])
            for w, a in weights:
                lg[w] = a

    def save_legacy_model(self, path, version="2.13.1"):
        with h5py.File(path, "w") as f:
            f.attrs["keras_version"] = version.encode()
            f.attrs["backend"] = b"tensorflow"
            f.attrs["model_config"] = json.dumps(self.config()).encode()
            self.write_legacy(f.create_group("model_weights"))
        return path

    def save_legacy_weights(self, path):
        with h5py.File(path, "w") as f:
            self.write_legacy(f)
        return path


def assert_matches(model, net, ids, version, *, softmax=True):
    """Every step's h and c of both LSTMs, and the output panel: the Dense's softmax, or (from a
    weights-only file, which does not say what follows the Dense) its logits."""
    (h1, c1), (hf, cf, hb, cb), (probs, logits) = net.reference(ids, version)
    out = probs if softmax else logits
    text = " ".join(map(str, ids))
    tr = model.trace(text)
    np.testing.assert_allclose(tr.h[0, 0], h1, atol=TOL, rtol=0)
    np.testing.assert_allclose(tr.c[0, 0], c1, atol=TOL, rtol=0)
    bi = load(model.path, lstm="bidirectional").trace(text)
    np.testing.assert_allclose(bi.h[0, 0], hf, atol=TOL, rtol=0)
    np.testing.assert_allclose(bi.c[0, 0], cf, atol=TOL, rtol=0)
    np.testing.assert_allclose(bi.h[0, 1], hb, atol=TOL, rtol=0)
    np.testing.assert_allclose(bi.c[0, 1], cb, atol=TOL, rtol=0)
    np.testing.assert_allclose(bi.output, out, atol=TOL, rtol=0)
    return bi


IDS = [3, 1, 4, 1, 5, 8, 2]


@pytest.mark.parametrize("rec_act", ["sigmoid", "hard_sigmoid"])
def test_keras3_archive(tmp_path, rec_act):
    net = Net(rec_act, seed=1)
    m = load(net.save_keras(tmp_path / "m.keras"))
    assert m.format == "keras" and m.lstm_names == ("lstm", "bidirectional")
    assert [n for n, _ in m.layers()] == ["embedding", "lstm", "bidirectional", "dense", "output"]
    assert not m.warnings
    assert_matches(m, net, IDS, version=3)
    assert m.parameter_count == sum(a.size for a in [net.emb, *net.lstm, *net.fw, *net.bw,
                                                     *net.dense])  # fmt: skip


@pytest.mark.parametrize("rec_act", ["sigmoid", "hard_sigmoid"])
def test_legacy_h5_model_keras2(tmp_path, rec_act):
    net = Net(rec_act, seed=2)
    m = load(net.save_legacy_model(tmp_path / "m.h5"))
    assert m.lstm_names == ("lstm", "bidirectional")
    assert_matches(m, net, IDS, version=2)


def test_hard_sigmoid_follows_the_files_keras_version(tmp_path):
    net = Net("hard_sigmoid", seed=3)
    k2 = load(net.save_legacy_model(tmp_path / "k2.h5")).trace("1 2 3 4")
    k3 = load(net.save_legacy_model(tmp_path / "k3.h5", version="3.15.1")).trace("1 2 3 4")
    (h2, _), _, _ = net.reference([1, 2, 3, 4], 2)
    (h3, _), _, _ = net.reference([1, 2, 3, 4], 3)
    (hs, _), _, _ = Net("sigmoid", seed=3).reference([1, 2, 3, 4], 2)
    np.testing.assert_allclose(k2.h[0, 0], h2, atol=TOL, rtol=0)
    np.testing.assert_allclose(k3.h[0, 0], h3, atol=TOL, rtol=0)
    assert np.abs(h2 - h3).max() > 1e-3  # the two hard sigmoids really differ here
    assert np.abs(h2 - hs).max() > 1e-2  # and sigmoid is a third function


def test_legacy_weights_only_file(tmp_path):
    net = Net(seed=4)
    m = load(net.save_legacy_weights(tmp_path / "w.h5"))
    assert any("weights-only file" in w for w in m.warnings)
    bi = assert_matches(m, net, IDS, version=2, softmax=False)
    assert any("weights-only file" in w for w in bi.meta["warnings"])
    assert bi.meta["output_kind"] == "logit"


def test_a_sigmoid_dense_is_independent_probabilities(tmp_path):
    net = Net(seed=8)
    net.dense_act = "sigmoid"
    tr = load(net.save_keras(tmp_path / "s.keras"), lstm="bidirectional").trace("1 2 3")
    _, _, (_, logits) = net.reference([1, 2, 3], 3)
    np.testing.assert_allclose(tr.output, 1 / (1 + np.exp(-logits)), atol=TOL, rtol=0)
    assert tr.meta["output_kind"] == "sigmoid"


def test_time_distributed_dense_is_the_head(tmp_path):
    net = Net(seed=9)
    cfg = net.config()
    dense = cfg["config"]["layers"].pop()
    cfg["config"]["layers"].append({"class_name": "TimeDistributed", "config": {
        "name": "time_distributed", "layer": dense}})  # fmt: skip
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        net.write_keras3_h5(f)
        f.move("layers/dense", "layers/time_distributed/layer")  # where Keras 3 keeps it
    with zipfile.ZipFile(tmp_path / "td.keras", "w") as zf:
        zf.writestr("config.json", json.dumps(cfg))
        zf.writestr("model.weights.h5", buf.getvalue())
    m = load(tmp_path / "td.keras")
    assert [n for n, _ in m.layers()][-2:] == ["time_distributed", "output"]
    assert_matches(m, net, IDS, version=3)


def test_keras3_weights_only_file(tmp_path):
    net = Net(seed=5)
    m = load(net.save_keras3_weights(tmp_path / "m.weights.h5"))
    assert m.lstm_names == ("lstm", "bidirectional")
    assert_matches(m, net, IDS, version=3, softmax=False)


def test_token_ids_out_of_range_and_unknown_layers_are_refused(tmp_path):
    net = Net(seed=6)
    m = load(net.save_keras(tmp_path / "m.keras"))
    with pytest.raises(InputError):
        m.trace("1 99")
    cfg = net.config()
    cfg["config"]["layers"].insert(3, {"class_name": "Conv1D", "config": {"name": "conv"}})
    path = tmp_path / "conv.keras"
    with zipfile.ZipFile(net.save_keras(tmp_path / "tmp.keras")) as src, \
            zipfile.ZipFile(path, "w") as zf:  # fmt: skip
        zf.writestr("config.json", json.dumps(cfg))
        zf.writestr("model.weights.h5", src.read("model.weights.h5"))
    with pytest.raises(LoadError, match=r"layer 'conv' \(Conv1D\): lstm-tui reads Embedding, "
                       r"LSTM, Bidirectional\(LSTM\), Dropout and one Dense"):  # fmt: skip
        load(path)


def test_against_keras_itself_when_installed(tmp_path, monkeypatch):
    """Keras 3 on the torch backend writes the file and computes the reference."""
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras", reason="keras is not installed")
    if keras.backend.backend() != "torch":
        pytest.skip("keras was imported with another backend")
    layers = [keras.layers.Embedding(9, 3),
              keras.layers.LSTM(4, recurrent_activation="hard_sigmoid", return_sequences=True),
              keras.layers.Bidirectional(keras.layers.LSTM(3, return_sequences=True)),
              keras.layers.Dense(5, activation="softmax")]  # fmt: skip
    model = keras.Sequential([keras.Input((None,), dtype="int32"), *layers])
    rng = np.random.default_rng(7)
    model.set_weights([rng.uniform(-1.5, 1.5, w.shape).astype(np.float32)
                       for w in model.get_weights()])  # fmt: skip
    first = keras.Sequential([keras.Input((None,), dtype="int32"), *layers[:2]])
    path = tmp_path / "real.keras"
    model.save(path)
    x = np.array([IDS], np.int32)
    expected = keras.ops.convert_to_numpy(model(x))[0]
    h1 = keras.ops.convert_to_numpy(first(x))[0]
    text = " ".join(map(str, IDS))
    np.testing.assert_allclose(load(path).trace(text).h[0, 0], h1, atol=TOL, rtol=0)
    tr = load(path, lstm="bidirectional").trace(text)
    np.testing.assert_allclose(tr.output, expected, atol=TOL, rtol=0)
    assert np.ptp(expected) > 0.1  # weights large enough that a wrong gate would show
    # the legacy h5 format Keras 3 still writes, and its weights-only file
    model.save(tmp_path / "real.h5")
    tr = load(tmp_path / "real.h5", lstm="bidirectional").trace(text)
    np.testing.assert_allclose(tr.output, expected, atol=TOL, rtol=0)
    model.save_weights(tmp_path / "real.weights.h5")
    m = load(tmp_path / "real.weights.h5")  # no config: default activations, and it says so
    assert any("weights-only file" in w for w in m.warnings)
    sig = keras.Sequential([keras.Input((None,), dtype="int32"), keras.layers.Embedding(9, 3),
                            keras.layers.LSTM(4, return_sequences=True)])  # fmt: skip
    sig.set_weights(first.get_weights())
    np.testing.assert_allclose(m.trace(text).h[0, 0], keras.ops.convert_to_numpy(sig(x))[0],
                               atol=TOL, rtol=0)  # fmt: skip
    # a tagger's TimeDistributed(Dense) head
    td = keras.Sequential([keras.Input((None,), dtype="int32"), keras.layers.Embedding(9, 3),
                           keras.layers.LSTM(4, return_sequences=True),
                           keras.layers.TimeDistributed(keras.layers.Dense(3, "softmax"))])  # fmt: skip
    td.set_weights([rng.uniform(-1.5, 1.5, w.shape).astype(np.float32)
                    for w in td.get_weights()])  # fmt: skip
    td.save(tmp_path / "td.keras")
    np.testing.assert_allclose(load(tmp_path / "td.keras").trace(text).output,
                               keras.ops.convert_to_numpy(td(x))[0], atol=TOL, rtol=0)  # fmt: skip
