"""Categorical reconstructions: token autoencoders (sparse categorical cross-entropy) and one-hot data.

A text autoencoder reads token ids through an ``Embedding`` and outputs a
softmax over the vocabulary at each step; its target is the ids themselves,
one axis short of the output. That is the right loss for it, so ae_magic
must not call it a shape mismatch (AE105), a loss mismatch (AE108), raw
data (AE201), targets out of range (AE203), mostly zeros (AE205) or a code
wider than its input (AE104), and the padding mask that Keras passes from
the ``Embedding`` is no path around the bottleneck (AE103). The same losses
on a continuous reconstruction stay AE108.
"""

from __future__ import annotations

import ae_magic
from ae_magic import keras_compat as kc

TOKENS = """\
import numpy as np
import keras
from keras import layers

# Sentences of a tiny grammar: a subject, a verb, objects, then padding (id 0).
rng = np.random.default_rng(0)
vocab, seq_len = 24, 10
x = np.zeros((800, seq_len), dtype="int32")
for i in range(800):
    n = rng.integers(4, seq_len + 1)
    x[i, 0] = rng.integers(1, 5)
    x[i, 1] = rng.integers(5, 9)
    x[i, 2:n] = rng.integers(9, vocab, size=n - 2)

inp = keras.Input(shape=(seq_len,))
emb = layers.Embedding(vocab, 16, mask_zero=True)(inp)
code = layers.LSTM(32)(emb)
h = layers.RepeatVector(seq_len)(code)
h = layers.LSTM(32, return_sequences=True)(h)
out = layers.TimeDistributed(layers.Dense(vocab, activation="softmax"))(h)
text_ae = keras.Model(inp, out)
text_ae.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
"""

ONE_HOT = """\
import numpy as np
import keras
from keras import layers

# Eight categorical fields of five levels each, one-hot, two latent factors behind them.
rng = np.random.default_rng(1)
f = rng.integers(0, 5, size=(1500, 2))
levels = (f[:, [0, 1, 0, 1, 0, 1, 0, 1]] + np.arange(8)) % 5
x = np.eye(5, dtype="float32")[levels]

inp = keras.Input(shape=(8, 5))
h = layers.Flatten()(inp)
h = layers.Dense(32, activation="relu")(h)
code = layers.Dense(4, activation="relu")(h)
h = layers.Dense(32, activation="relu")(code)
h = layers.Dense(40)(h)
h = layers.Reshape((8, 5))(h)
out = layers.Softmax()(h)
onehot_ae = keras.Model(inp, out)
onehot_ae.compile(optimizer="adam", loss="categorical_crossentropy")
"""


def _warnings(report: ae_magic.Report) -> list[str]:
    return [f.code for f in report.findings if f.severity != "info"]


def test_a_token_autoencoder_with_sparse_categorical_loss_is_silent_and_probed() -> None:
    report = ae_magic.check(TOKENS, namespace={}, data="x", seed=0)
    assert report.internal_errors == [] and not report.coverage.get("skipped"), report.text()
    assert _warnings(report) == [], report.text()
    t = report.traces["training"]
    # Errors and baselines are measured on the ids as one-hot rows, in the output's shape.
    assert t["recon"]["target_shape"] == [10, 24]
    b = t["baselines"]
    assert b["final"] < b["start"] and b["final"] < b["mean"], b
    assert b["loss_units"]["mean"] is not None


def test_the_padding_mask_is_no_path_around_the_code() -> None:
    ns: dict = {}
    exec(TOKENS, ns)
    inp = ns["text_ae"].layers[2]  # the encoder LSTM
    assert type(inp).__name__ == "LSTM"
    node = inp._inbound_nodes[0]
    assert len(node.input_tensors) == 2  # Keras passes the Embedding's mask as a second input
    assert len(kc.node_input_tensors(inp, 0)) == 1


def test_a_decoder_reading_the_embedding_still_bypasses_the_code() -> None:
    src = TOKENS.replace("h = layers.LSTM(32, return_sequences=True)(h)", "h = layers.LSTM(32, return_sequences=True)(emb)")
    report = ae_magic.check(src, namespace={}, data="x", seed=0, train=False)
    assert "AE103" in report.codes or "AE102" in report.codes, report.text()


def test_one_hot_rows_with_softmax_and_categorical_loss_are_silent() -> None:
    report = ae_magic.check(ONE_HOT, namespace={}, data="x", seed=0)
    assert report.internal_errors == [] and not report.coverage.get("skipped"), report.text()
    assert _warnings(report) == [], report.text()


def test_sparse_categorical_loss_on_a_continuous_reconstruction_is_ae108() -> None:
    src = """\
import numpy as np
import keras
from keras import layers

x = np.random.default_rng(0).random((600, 64)).astype("float32")
ae = keras.Sequential([keras.Input(shape=(64,)), layers.Dense(16, activation="relu"), layers.Dense(64, activation="softmax")])
ae.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
"""
    report = ae_magic.check(src, namespace={}, data="x", seed=0, train=False)
    f = report.get("AE108")
    assert f is not None and f.line == 6, report.text()


def test_categorical_loss_on_pixels_that_are_not_one_hot_is_ae108() -> None:
    src = ONE_HOT.replace('x = np.eye(5, dtype="float32")[levels]', 'x = rng.random((1500, 8, 5)).astype("float32")')
    report = ae_magic.check(src, namespace={}, data="x", seed=0, train=False)
    assert "AE108" in report.codes, report.text()


def test_token_ids_beyond_the_vocabulary_are_named_as_out_of_range() -> None:
    # The output knows 12 classes; the ids go up to 23: the loss can't read them (fit fails too).
    # Round 28: they are class ids all the same (no AE105 / AE108 read off a continuous target), out of range.
    src = TOKENS.replace('layers.Dense(vocab, activation="softmax")', 'layers.Dense(12, activation="softmax")')
    report = ae_magic.check(src, namespace={}, data="x", seed=0, train=False)
    f = next((f for f in report.findings if f.title == "Class ids reach past the output's classes"), None)
    assert f is not None and f.code == "AE203" and f.severity == "error", report.text()
    assert f.evidence["classes"] == 12 and f.evidence["max_id"] >= 12


# Round 16: one-hot characters reconstructed by a sigmoid head under MSE.
ONE_HOT_MSE = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
X = np.eye(27, dtype="float32")[rng.integers(0, 27, (300, 10))]
inp = keras.Input((10, 27))
h = layers.GRU(16)(inp)
h = layers.RepeatVector(10)(h)
h = layers.GRU(16, return_sequences=True)(h)
out = layers.TimeDistributed(layers.Dense(27, activation="sigmoid"))(h)
seq_ae = keras.Model(inp, out)
seq_ae.compile(optimizer="adam", loss="mse")
"""


def test_one_hot_data_under_mse_is_named_as_a_classification() -> None:
    report = ae_magic.check(ONE_HOT_MSE, namespace={}, data="X", train=False)
    f = report.get("AE205")
    assert f is not None and f.title == "One-hot data reconstructed as independent values", report.text()
    assert f.evidence["one_hot_classes"] == 27 and "softmax" in f.fix and "categorical_crossentropy" in f.fix
    # Mostly-zero data that is not one-hot keeps the plain message.
    sparse = ONE_HOT_MSE.replace('X = np.eye(27, dtype="float32")[rng.integers(0, 27, (300, 10))]',
                                 'X = (rng.random((300, 10, 27)) > 0.97).astype("float32")')
    g = ae_magic.check(sparse, namespace={}, data="X", train=False).get("AE205")
    assert g is not None and g.title == "The data is mostly zeros"
