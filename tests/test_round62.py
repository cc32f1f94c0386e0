"""Round 62 (fresh cells, written blind): the two misses at first contact.

- cm06: a conditional VAE whose input is the image with its one-hot label appended and whose target is the
  image; the decoder reads ``Concatenate()([z, cvae_inputs])`` (the whole input) instead of ``[z, label]``. The
  target is a block of the input, so copying the input around the code gives it: AE103 at the concatenation
  (it was excused as an image-to-image set-up), with ``label`` as the fix, and the unused ``label`` (AE102)
  shown as its consequence.
- cm07: a healthy Sequential that ends ``Conv2D(1, activation="sigmoid")`` and then
  ``Lambda(lambda t: ops.squeeze(t, axis=-1))`` got AE108 "linear output under binary cross-entropy": a Lambda
  that only reshapes no longer hides the activation before it.
"""

from __future__ import annotations

import numpy as np
from keras import ops

import ae_magic
from ae_magic.checks.wiring import _other_target
from ae_magic.context import Context


def _line(src: str, text: str) -> int:
    return next(i for i, line in enumerate(src.splitlines(), start=1) if text in line)


def _loud(report: ae_magic.Report) -> list:
    return [f for f in report.findings if f.severity in ("warning", "error")]


CVAE = """\
import numpy as np
import keras
from keras import layers, ops

rng = np.random.default_rng(0)
x_train = rng.random((256, 64)).astype("float32")
y_onehot = keras.utils.to_categorical(rng.integers(0, 5, 256), 5)
cond_train = np.concatenate([x_train, y_onehot], axis=1).astype("float32")


class Sampling(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        epsilon = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


cvae_inputs = keras.Input(shape=(64 + 5,), name="image_and_label")
label = layers.Lambda(lambda t: t[:, 64:], name="label")(cvae_inputs)
h = layers.Dense(32, activation="relu", name="enc")(cvae_inputs)
z_mean = layers.Dense(2, name="z_mean")(h)
z_log_var = layers.Dense(2, name="z_log_var")(h)
z = Sampling(name="z")([z_mean, z_log_var])
decoder_in = layers.Concatenate(name="z_and_label")([z, DECODER_SIDE])
h = layers.Dense(32, activation="relu", name="dec")(decoder_in)
reconstruction = layers.Dense(64, activation="sigmoid", name="reconstruction")(h)
cvae = keras.Model(cvae_inputs, reconstruction, name="cvae")
cvae.compile(optimizer="adam", loss="binary_crossentropy")
"""


def test_a_conditional_vae_whose_decoder_reads_the_whole_input_is_ae103_at_the_concatenation():
    src = CVAE.replace("DECODER_SIDE", "cvae_inputs")
    report = ae_magic.check(src, namespace={}, data="cond_train", target="x_train", train=False)
    f = report.get("AE103")
    assert f is not None, report.text()
    assert f.line == _line(src, "decoder_in = layers.Concatenate"), report.text()
    assert f.evidence["meant"] == "label"
    assert "Concatenate(name=\"z_and_label\")([z, label])" in (f.fix or "")
    unused = report.get("AE102")
    assert unused is not None and unused.caused_by == "AE103", report.text()
    assert report.findings[0].code == "AE103", report.text()


def test_the_same_conditional_vae_fed_its_label_is_silent():
    src = CVAE.replace("DECODER_SIDE", "label")
    report = ae_magic.check(src, namespace={}, data="cond_train", target="x_train", train=False)
    assert not _loud(report), report.text()


def test_a_target_that_is_a_block_of_the_input_is_not_another_target():
    rng = np.random.default_rng(0)
    image = rng.random((70, 12)).astype("float32")
    label = np.eye(3, dtype="float32")[rng.integers(0, 3, 70)]
    for data in (np.concatenate([image, label], axis=1), np.concatenate([label, image], axis=1)):
        assert not _other_target(Context(source="", namespace={}, data=data, target=image))
    noisy = np.clip(image + rng.normal(0, 0.2, image.shape), 0, 1).astype("float32")
    assert _other_target(Context(source="", namespace={}, data=np.concatenate([noisy, label], axis=1), target=image))
    assert _other_target(Context(source="", namespace={}, data=noisy, target=image))


SQUEEZED = """\
import numpy as np
import keras
from keras import layers, ops

x_train = np.random.default_rng(0).random((128, 16, 16)).astype("float32")
autoencoder = keras.Sequential([
    keras.Input(shape=(16, 16)),
    layers.Lambda(lambda t: ops.expand_dims(t, axis=-1), name="add_channel"),
    layers.Conv2D(8, 3, padding="same", strides=2, activation="relu", name="enc"),
    layers.Conv2DTranspose(8, 3, padding="same", strides=2, activation="relu", name="dec"),
    layers.Conv2D(1, 3, padding="same", activation=LAST, name="out"),
    layers.Lambda(lambda t: ops.squeeze(t, axis=-1), name="drop_channel"),
])
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
"""


def test_a_squeezing_lambda_after_a_sigmoid_output_is_not_a_linear_output():
    report = ae_magic.check(SQUEEZED.replace("LAST", '"sigmoid"'), namespace={}, data="x_train", train=False)
    assert report.get("AE108") is None, report.text()


def test_a_squeezing_lambda_after_a_linear_output_is_still_ae108_under_binary_cross_entropy():
    src = SQUEEZED.replace("LAST", "None")
    report = ae_magic.check(src, namespace={}, data="x_train", train=False)
    f = report.get("AE108")
    assert f is not None, report.text()
    assert f.line == _line(src, 'name="out"'), report.text()


def test_a_lambda_that_scales_still_hides_the_activation_before_it():
    src = SQUEEZED.replace("LAST", '"sigmoid"').replace("ops.squeeze(t, axis=-1)", "ops.squeeze(t, axis=-1) * 2.0")
    report = ae_magic.check(src, namespace={}, data="x_train", train=False)
    assert report.get("AE108") is not None, report.text()


# -- round 63 ----------------------------------------------------------------------------------------------------

UNSCALED = """\
import numpy as np
import keras
from keras import layers

x_train_raw = np.random.default_rng(0).integers(0, 256, size=(256, 8, 8)).astype("uint8")
x_train = x_train_raw.astype("float32")
x_train = x_train.reshape(-1, 64)
inp = keras.Input(shape=(64,))
h = layers.Dense(16, activation="relu", name="enc")(inp)
out = layers.Dense(64, activation="sigmoid", name="dec")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="mse")
"""


def test_unscaled_pixels_reshaped_on_a_line_of_their_own_are_named_where_they_were_made():
    # cn02: the missing / 255 goes on the astype line; the reshape after it keeps the values.
    report = ae_magic.check(UNSCALED, namespace={}, data="x_train", train=False)
    scale, out_of_range = report.get("AE201"), report.get("AE203")
    assert scale is not None and out_of_range is not None, report.text()
    assert scale.line == _line(UNSCALED, 'x_train = x_train_raw.astype("float32")'), report.text()
    # The target is the unscaled input itself: scaling it fixes both, so AE201 explains AE203.
    assert out_of_range.caused_by == "AE201" and report.findings[0].code == "AE201", report.text()


def test_a_rescaling_line_after_the_reshape_is_still_the_line_named():
    src = UNSCALED.replace('x_train = x_train.reshape(-1, 64)\n',
                           'x_train = x_train.reshape(-1, 64)\nx_train = x_train * 300.0\n')
    report = ae_magic.check(src, namespace={}, data="x_train", train=False)
    assert report.get("AE201").line == _line(src, "x_train = x_train * 300.0"), report.text()


SKIPPED_CODE = """\
import numpy as np
import keras
from keras import layers

token_ids = np.random.default_rng(1).integers(1, 40, size=(256, 12)).astype("int32")
inp = keras.Input(shape=(12,), dtype="int32")
embedded = layers.Embedding(40, 32, name="emb")(inp)
state = layers.LSTM(48, name="enc")(embedded)
z = layers.Dense(8, activation="relu", name="code")(state)
repeated = layers.RepeatVector(12, name="repeat")(z)
x = layers.LSTM(48, return_sequences=True, name="dec")(embedded)
out = layers.Dense(40, activation="softmax", name="vocab")(x)
text_ae = keras.Model(inp, out)
text_ae.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
"""


def test_a_decoder_that_reads_the_embedded_tokens_instead_of_the_repeated_code_is_named_at_the_decoder():
    # co04: the code path state -> z -> repeated dangles; the decoder LSTM reads `embedded`.
    report = ae_magic.check(SKIPPED_CODE, namespace={}, data="token_ids", train=False)
    f = report.get("AE103")
    assert f is not None, report.text()
    assert f.line == _line(SKIPPED_CODE, 'name="dec")(embedded)'), report.text()
    assert f.evidence["meant"] == "repeated" and f.evidence["code_variable"] == "z"
    assert 'name="dec")(repeated)' in (f.fix or "")
    dangling = [g for g in report.findings if g.code == "AE102"]
    assert dangling and all(g.caused_by == "AE103" for g in dangling), report.text()
    assert report.findings[0].code == "AE103", report.text()


def test_the_same_text_autoencoder_through_its_code_is_silent():
    src = SKIPPED_CODE.replace('name="dec")(embedded)', 'name="dec")(repeated)')
    report = ae_magic.check(src, namespace={}, data="token_ids", train=False)
    assert not _loud(report), report.text()


def test_shape_only_reads_the_lambda_and_a_numpy_function_is_not_shape_only():
    from types import SimpleNamespace

    from ae_magic.checks.locate import shape_only
    from ae_magic.graph import GNode

    def node(fn):
        return GNode(id=1, name="lam", cls="Lambda", parents=[0], shape=[None, 4], width=4, activation=None,
                     is_input=False, line=None, variable=None, layer=SimpleNamespace(function=fn))

    tf = SimpleNamespace(numpy_function=None)  # only the function's bytecode is read

    def clean(a):
        return np.log1p(a)

    assert shape_only(node(lambda t: ops.squeeze(t, axis=-1)))
    assert shape_only(node(lambda t: t[:, :4]))
    # tf.numpy_function runs any Python code on the values: it does not only move them around.
    assert not shape_only(node(lambda t: tf.numpy_function(clean, [t], "float32")))
    assert not shape_only(node(lambda t: ops.squeeze(t, axis=-1) * 2.0))
