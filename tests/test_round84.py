"""Round 84 (session 45): fresh cells written blind (custom steps and several heads; conv image models;
tabular, sparse and categorical data); the fixes its misses asked for.

* ia04 (an encoder/decoder wrapper whose ``train_step`` takes ``tape.gradient(loss,
  self.encoder.trainable_weights)`` and applies it to those only): AE301 said the whole decoder never moved and
  named the decoder's first layer. The step's gradient lists named sub-models' weights and leaves the stuck one
  out: AE301 at that gradient call.
* ib01 (the Keras blog's conv autoencoder with ``padding="same"`` on the decoder's last Conv2D(16), where the blog
  has "valid": 28x28 in, 32x32 out): AE105 named the first UpSampling2D, where the sizes depart from the mirrored
  encoder. The one convolution whose padding alone makes the output the input's size is named, with that fix.
* ic04 (AutoRec: a 128-unit sigmoid hidden layer over 300 items, a masked MSE, trained three epochs by the cell):
  AE106 warned of a saturating bottleneck although the units were measured unsaturated and the model far beat
  the mean in its own loss. A shallow model's one hidden layer of 64 units or more counts as wide, and a model the cell's fit trained is
  judged on where its loss ends against the mean's.
* ic06 (an entity-embedding autoencoder: integer ids shifted by a weightless offset layer into one Embedding
  table): AE201 said the ids 0-58 were not normalised. The first layer with weights is the Embedding, behind a
  layer without weights: the ids are indices.
"""

from __future__ import annotations

import keras
import pytest

import ae_magic


def _line(src: str, text: str) -> int:
    return next(i for i, line in enumerate(src.splitlines(), 1) if text in line)


def _loud(report: ae_magic.Report, code: str | None = None) -> list[ae_magic.Finding]:
    return [f for f in report.findings if (code is None or f.code == code) and f.severity in ("warning", "error")]


WRAPPER = """\
import numpy as np
import tensorflow as tf
import keras
from keras import layers

rng = np.random.default_rng(0)
x_train = rng.random((512, 32)).astype("float32")

enc_in = keras.Input(shape=(32,))
z = layers.Dense(8, name="z")(layers.Dense(32, activation="relu")(enc_in))
encoder = keras.Model(enc_in, z, name="encoder")
dec_in = keras.Input(shape=(8,))
out = layers.Dense(32, activation="sigmoid")(layers.Dense(32, activation="relu")(dec_in))
decoder = keras.Model(dec_in, out, name="decoder")


class AE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder

    def call(self, inputs):
        return self.decoder(self.encoder(inputs))

    def train_step(self, data):
        with tf.GradientTape() as tape:
            reconstruction = self.decoder(self.encoder(data))
            loss = tf.reduce_mean(tf.square(data - reconstruction))
        grads = tape.gradient(loss, VARS)
        self.optimizer.apply_gradients(zip(grads, VARS))
        return {"loss": loss}


ae = AE(encoder, decoder)
ae.compile(optimizer=keras.optimizers.Adam())
ae.fit(x_train, epochs=1, batch_size=64, verbose=0)
"""


def _tensorflow() -> None:
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the cell's train_step is written with tf.GradientTape")


def test_a_train_step_that_differentiates_the_encoder_only_is_ae301_at_its_gradient_call():
    _tensorflow()
    src = WRAPPER.replace("VARS", "self.encoder.trainable_weights")
    report = ae_magic.check(src, namespace={}, data="x_train")
    assert not report.internal_errors, report.internal_errors
    cause = report.get("AE301")
    assert cause is not None, report.text()
    assert cause.line == _line(src, "tape.gradient("), (cause.line, cause.source_line)
    assert cause.evidence["gradient_for"] == ["encoder"], cause.evidence
    assert "self.trainable_weights" in cause.fix


def test_the_same_step_over_every_weight_moves_them_all():
    _tensorflow()
    src = WRAPPER.replace("VARS", "self.trainable_weights")
    report = ae_magic.check(src, namespace={}, data="x_train")
    assert report.get("AE301") is None and not _loud(report), report.text()


AUTOREC = """\
import numpy as np
import keras
from keras import layers, ops

rng = np.random.default_rng(11)
n_users, n_items, rank = 600, 300, 6
scores = 3.4 + rng.normal(0, 0.4, n_items) + 0.8 * (rng.normal(size=(n_users, rank)) @ rng.normal(size=(rank, n_items))) / np.sqrt(rank)
stars = np.clip(np.rint(scores), 1, 5)
R = np.where(rng.random((n_users, n_items)) < 0.12, stars, 0).astype("float32")


def masked_mse(y_true, y_pred):
    mask = ops.cast(ops.not_equal(y_true, 0.0), "float32")
    return ops.sum(ops.square(y_true - y_pred) * mask, axis=-1) / ops.maximum(ops.sum(mask, axis=-1), 1.0)


x_in = keras.Input(shape=(n_items,))
z = layers.Dense(UNITS, activation="sigmoid", kernel_regularizer=keras.regularizers.l2(1e-5))(x_in)
r_hat = layers.Dense(n_items, kernel_regularizer=keras.regularizers.l2(1e-5))(z)
autorec = keras.Model(x_in, r_hat)
autorec.compile(optimizer=keras.optimizers.Adam(2e-3), loss=masked_mse)
autorec.fit(R, R, epochs=3, batch_size=64, verbose=0)
"""


def test_a_trained_autorec_with_a_wide_sigmoid_layer_is_silent():
    report = ae_magic.check(AUTOREC.replace("UNITS", "128"), namespace={}, data="R")
    assert not report.internal_errors, report.internal_errors
    assert not _loud(report), report.text()
    note = report.get("AE106")
    assert note is not None and note.severity == "info", report.text()
    assert "Measured, it does no harm here" in note.message


def test_a_model_the_cell_trained_is_judged_on_where_its_loss_ends_against_the_mean():
    from types import SimpleNamespace

    from ae_magic.checks.gradients import _beats_mean_in_loss_units

    def ctx(curve, mean):
        return SimpleNamespace(traces={"training": {"val_curve": {"loss": curve},
                                                    "baselines": {"loss_units": {"mean": mean}}}})

    # ic04: settled after the cell's fit, far below the mean's loss in its own (masked) units.
    assert _beats_mean_in_loss_units(ctx([0.71, 0.68, 0.66], 9.76)) == (True, 0.71, 0.66, 9.76)
    assert not _beats_mean_in_loss_units(ctx([0.71, 0.9, 1.2], 9.76))[0]  # getting worse
    assert not _beats_mean_in_loss_units(ctx([0.71, 0.7], 1.0))[0]  # not half the mean's loss
    assert not _beats_mean_in_loss_units(ctx([0.7], 9.76))[0]  # no curve


def test_a_narrow_sigmoid_code_keeps_its_warning():
    # The seeds' fault: a few sigmoid units, each of which stops carrying signal once it saturates.
    report = ae_magic.check(AUTOREC.replace("UNITS", "8"), namespace={}, data="R", train=False)
    note = report.get("AE106")
    assert note is not None and note.severity == "warning", report.text()


EMBEDDING_IDS = """\
import numpy as np
import keras
from keras import layers, ops

rng = np.random.default_rng(5)
cards = [12, 7, 20, 5, 15]
segment = rng.integers(0, 8, size=1000)
cat_ids = np.zeros((1000, 5), dtype="int32")
for j, card in enumerate(cards):
    prefs = rng.dirichlet(np.full(card, 0.15), size=8)
    for s in range(8):
        rows = segment == s
        cat_ids[rows, j] = rng.choice(card, size=rows.sum(), p=prefs[s])


class ColumnOffsets(layers.Layer):
    def __init__(self, cards, **kwargs):
        super().__init__(**kwargs)
        self.cards = list(cards)
        self.offsets = np.concatenate([[0], np.cumsum(cards)[:-1]]).astype("int32")

    def call(self, ids):
        return ids + ops.convert_to_tensor(self.offsets)

    def get_config(self):
        return {**super().get_config(), "cards": self.cards}


ids_in = keras.Input(shape=(5,), dtype="int32")
emb = layers.Embedding(input_dim=sum(cards), output_dim=8)(ColumnOffsets(cards)(ids_in))
h = layers.Dense(32, activation="relu")(layers.Flatten()(emb))
code = layers.Dense(4)(h)
logits = layers.Reshape((5, 20))(layers.Dense(5 * 20)(layers.Dense(32, activation="relu")(code)))
cat_ae = keras.Model(ids_in, layers.Softmax(axis=-1)(logits))
cat_ae.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
"""


def test_ids_shifted_by_a_weightless_layer_into_an_embedding_are_indices_not_unscaled_data():
    report = ae_magic.check(EMBEDDING_IDS, namespace={}, data="cat_ids", train=False)
    assert not report.internal_errors, report.internal_errors
    assert report.get("AE201") is None, report.text()


def test_the_same_ids_fed_to_a_dense_layer_are_unscaled():
    src = EMBEDDING_IDS.replace("layers.Embedding(input_dim=sum(cards), output_dim=8)(ColumnOffsets(cards)(ids_in))",
                                "layers.Reshape((5, 8))(layers.Dense(40)(ops.cast(ColumnOffsets(cards)(ids_in), 'float32')))")
    assert src != EMBEDDING_IDS
    report = ae_magic.check(src, namespace={}, data="cat_ids", train=False)
    assert report.get("AE201") is not None, report.text()


BLOG_CONV = """\
import numpy as np
import keras
from keras import layers

x_train = np.random.default_rng(0).random((64, 28, 28, 1)).astype("float32")
input_img = keras.Input(shape=(28, 28, 1))
x = layers.Conv2D(16, (3, 3), activation="relu", padding="same")(input_img)
x = layers.MaxPooling2D((2, 2), padding="same")(x)
x = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(x)
x = layers.MaxPooling2D((2, 2), padding="same")(x)
x = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(x)
encoded = layers.MaxPooling2D((2, 2), padding="same")(x)
x = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(encoded)
x = layers.UpSampling2D((2, 2))(x)
x = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(x)
x = layers.UpSampling2D((2, 2))(x)
x = layers.Conv2D(16, (3, 3), activation="relu", padding=LAST)(x)
x = layers.UpSampling2D((2, 2))(x)
decoded = layers.Conv2D(1, (3, 3), activation="sigmoid", padding="same")(x)
autoencoder = keras.Model(input_img, decoded)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
"""


def test_a_decoder_conv_whose_padding_alone_makes_the_input_size_is_named_for_ae105():
    src = BLOG_CONV.replace("LAST", '"same"')
    report = ae_magic.check(src, namespace={}, data="x_train", train=False)
    cause = report.get("AE105")
    assert cause is not None, report.text()
    assert cause.line == _line(BLOG_CONV, "padding=LAST"), (cause.line, cause.source_line)
    assert "Conv2D(16" in cause.source_line and 'padding="valid"' in cause.fix, (cause.source_line, cause.fix)


def test_the_blogs_own_valid_padding_has_no_shape_finding():
    report = ae_magic.check(BLOG_CONV.replace("LAST", '"valid"'), namespace={}, data="x_train", train=False)
    assert report.get("AE105") is None, report.text()
