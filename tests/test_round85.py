"""Round 85 (session 46): fresh cells written blind (image, sequence and variational/regularised autoencoders),
and round 84's left-overs; the fixes their misses asked for.

* ia06 (round 84: a contractive encoder, a sigmoid Dense layer whose ``call`` adds ``LAMBDA * ||dh/dx||^2`` with
  ``add_loss``, ``LAMBDA = 100`` where 1e-4..1e-3 is usual): on some draws of the cell's own fit the outputs
  collapsed and AE404 named the code layer, where the weight's line is what a fix changes. A penalty a layer adds
  with ``add_loss`` that is most of the first step's loss is now named at its weight. The healthy twin
  (``LAMBDA = 1e-3``) had an AE106 warning for its sigmoid code, measured unsaturated: the contractive term is
  written on the sigmoid's derivative, as a sparsity target is on its range, and the code layer that adds its own
  penalty counts as such a code.
"""

from __future__ import annotations

import ae_magic


def _line(src: str, text: str) -> int:
    return next(i for i, line in enumerate(src.splitlines(), 1) if text in line)


def _loud(report: ae_magic.Report, code: str | None = None) -> list[ae_magic.Finding]:
    return [f for f in report.findings if (code is None or f.code == code) and f.severity in ("warning", "error")]


CONTRACTIVE = """\
import numpy as np
import keras
from keras import layers, ops

keras.utils.set_random_seed(2)
rng = np.random.default_rng(0)
basis = rng.random((6, 64))
X = np.clip(rng.random((1800, 6)) @ basis / 3.0 + 0.05 * rng.normal(size=(1800, 64)), 0, 1).astype("float32")
X_train, X_val = X[:1600], X[1600:]

LAMBDA = WEIGHT   # weight of the contractive penalty


class ContractiveEncoder(layers.Dense):
    def call(self, inputs):
        h = super().call(inputs)
        dh = h * (1.0 - h)
        w_sq = ops.sum(ops.square(self.kernel), axis=0)
        contractive = ops.mean(ops.sum(ops.square(dh) * w_sq, axis=1))
        self.add_loss(LAMBDA * contractive)
        return h


inputs = keras.Input(shape=(64,))
hidden = ContractiveEncoder(24, activation="sigmoid", name="encoded")(inputs)
outputs = layers.Dense(64, activation="sigmoid")(hidden)
cae = keras.Model(inputs, outputs, name="contractive_ae")
cae.compile(optimizer="adam", loss="mse")
cae.fit(X_train, X_train, validation_data=(X_val, X_val), epochs=3, batch_size=64, verbose=0)
"""


def test_a_contractive_penalty_that_outweighs_the_reconstruction_is_named_at_its_weight() -> None:
    src = CONTRACTIVE.replace("WEIGHT", "100.0")
    report = ae_magic.check(src, namespace={}, data="X_train")
    named = [f for f in _loud(report) if f.code in ("AE404", "AE405")]
    assert named, [(f.code, f.line, f.title) for f in report.findings]
    assert named[0].line == _line(src, "LAMBDA = 100.0"), [(f.code, f.line) for f in named]
    assert "LAMBDA" in (named[0].fix or "")


def test_a_healthy_contractive_autoencoder_with_its_sigmoid_code_stays_silent() -> None:
    report = ae_magic.check(CONTRACTIVE.replace("WEIGHT", "1e-3"), namespace={}, data="X_train")
    assert not _loud(report), [(f.code, f.title) for f in _loud(report)]


TOKENS = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(5)
vocab_size, max_len, n_sent = 24, 12, 1500
starts = rng.integers(1, vocab_size, size=(n_sent, 1))
steps = rng.integers(1, 4, size=(n_sent, 1))
token_ids = (((starts + steps * np.arange(max_len)) % (vocab_size - 1)) + 1).astype("int32")

text_ae = keras.Sequential([
    keras.Input(shape=(max_len,)),
    layers.Embedding(vocab_size, 32),
    layers.LSTM(64),
    layers.RepeatVector(max_len),
    layers.LSTM(64, return_sequences=True),
    layers.TimeDistributed(layers.Dense(vocab_size, activation="softmax")),
])
text_ae.compile(
    optimizer="adam",
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=LOGITS),
    metrics=["accuracy"],
)
"""


def test_a_softmax_output_scored_as_logits_is_named_at_the_loss() -> None:
    """jb07: the token autoencoder's softmax output under ``from_logits=True`` (softmax twice)."""
    src = TOKENS.replace("LOGITS", "True")
    report = ae_magic.check(src, namespace={}, data="token_ids", train=False)
    found = _loud(report, "AE108")
    assert found and found[0].line == _line(src, "from_logits=True"), [(f.code, f.line) for f in report.findings]
    assert "from_logits=False" in (found[0].fix or "")


def test_a_softmax_output_scored_as_probabilities_is_not_ae108() -> None:
    report = ae_magic.check(TOKENS.replace("LOGITS", "False"), namespace={}, data="token_ids", train=False)
    assert not _loud(report), [(f.code, f.title) for f in _loud(report)]


EVENT_LOGS = """\
import numpy as np
import keras
from keras import layers

keras.utils.set_random_seed(8)
rng = np.random.default_rng(8)
n_events, maxlen, n_logs = 16, 12, 1200
logs = []
for _ in range(n_logs):
    length = rng.integers(5, maxlen + 1)
    first, stride = rng.integers(1, n_events), rng.integers(1, 4)
    logs.append([(first + stride * k) % (n_events - 1) + 1 for k in range(length)])

padded = keras.utils.pad_sequences(logs, maxlen=maxlen, padding="post", value=0)

tokens = keras.Input(shape=(maxlen,), dtype="int32")
emb = layers.Embedding(n_events, 24, mask_zero=True)(tokens)
state = layers.Bidirectional(layers.GRU(48))(emb)
dec = layers.GRU(96, return_sequences=True)(layers.RepeatVector(maxlen)(state))
probs = layers.TimeDistributed(layers.Dense(n_events, activation="softmax"))(dec)
log_autoencoder = keras.Model(tokens, probs)
log_autoencoder.compile(optimizer=keras.optimizers.Adam(learning_rate=2e-3), loss="sparse_categorical_crossentropy")
"""


def test_padded_token_ids_are_not_truncated_signals() -> None:
    """jb08: ``pad_sequences`` of integer event ids read by an Embedding: int32 is what they are (no AE205)."""
    report = ae_magic.check(EVENT_LOGS, namespace={}, data="padded")
    assert not _loud(report), [(f.code, f.title) for f in _loud(report)]


def test_padded_float_signals_still_get_ae205() -> None:
    """The fault AE205 is for: float readings padded with pad_sequences' int32 default, fed to a dense model."""
    src = (
        "import numpy as np\nimport keras\nfrom keras import layers\n\n"
        "rng = np.random.default_rng(0)\n"
        "signals = [rng.normal(0, 0.6, size=int(n)) for n in rng.integers(20, 41, size=600)]\n"
        "x = keras.utils.pad_sequences(signals, maxlen=40, padding='post')\n"
        "model = keras.Sequential([keras.Input(shape=(40,)), layers.Dense(8, activation='relu'), layers.Dense(40)])\n"
        "model.compile(optimizer='adam', loss='mse')\n"
    )
    report = ae_magic.check(src, namespace={}, data="x", train=False)
    assert [f.line for f in _loud(report, "AE205")] == [_line(src, "pad_sequences")], [(f.code, f.line) for f in report.findings]
