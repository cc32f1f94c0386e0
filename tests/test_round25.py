"""Round 25: output heads that split the input with their losses swapped, a train_step that unpacks
``x, y = data``, hand-written losses judged in their own units, and one that is not lowest at the target.
Each fault is named at its line; the healthy set-ups stay silent."""

from __future__ import annotations

import pytest

import ae_magic

HEADS = """\
import numpy as np
import keras
from keras import layers
rng = np.random.default_rng(0)
k = rng.integers(0, 5, 800)
x_num = (rng.normal(size=(800, 6)) + k[:, None]).astype("float32")
x = np.concatenate([x_num, np.eye(5, dtype="float32")[k]], axis=1)
inp = keras.Input(shape=(11,))
h = layers.Dense(16, activation="relu")(inp)
h = layers.Dense(4, activation="relu")(h)
h = layers.Dense(16, activation="relu")(h)
numeric_out = layers.Dense(6, name="numeric_out")(h)
service_out = layers.Dense(5, activation="softmax", name="service_out")(h)
model = keras.Model(inp, [numeric_out, service_out])
model.compile(optimizer="adam", loss={loss})
"""


def test_swapped_losses_on_heads_that_split_the_input_are_named_with_the_order_to_use() -> None:
    report = ae_magic.check(HEADS.format(loss='["categorical_crossentropy", "mse"]'), namespace={}, data="x", train=False)
    assert not [f for f in report.findings if f.code == "AE105"], report.text()
    (f,) = [f for f in report.findings if f.code == "AE108"]
    assert f.severity == "error" and f.line == 12 and f.evidence["swapped_with"] == "service_out"
    assert "loss=['mse', 'categorical_crossentropy']" in f.fix


@pytest.mark.parametrize("loss", ['["mse", "categorical_crossentropy"]',
                                  '{"numeric_out": "mse", "service_out": "categorical_crossentropy"}'])
def test_heads_with_their_own_losses_are_silent(loss: str) -> None:
    report = ae_magic.check(HEADS.format(loss=loss), namespace={}, data="x", train=False)
    assert not [f for f in report.findings if f.code in ("AE105", "AE108")], report.text()


UNPACKING_STEP = """\
import numpy as np
import keras
from keras import layers, ops
keras.utils.set_random_seed(0)
x = np.random.default_rng(0).random((400, 16)).astype("float32")


class Contractive(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.encoder = layers.Dense(6, activation="sigmoid")
        self.decoder = layers.Dense(16, activation="sigmoid")

    def call(self, inputs):
        return self.decoder(self.encoder(inputs))

    def train_step(self, data):
        x_in, y = data
        with {tape} as tape:
            h = self.encoder(x_in)
            loss = ops.mean(ops.square(y - self.decoder(h))) + 1e-4 * ops.mean(ops.square(h * (1 - h)))
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        return {{"loss": loss}}


cae = Contractive()
cae.compile(optimizer=keras.optimizers.Adam(1e-2))
_ = cae(x[:2])
"""


def test_a_train_step_that_unpacks_x_and_y_is_given_the_pair_fit_gives_it() -> None:
    # fit(x, x) hands the step (x, x); the probes used to hand it x alone, and the unpacking raised:
    # "model.fit fails the same way" was false.
    tf = pytest.importorskip("tensorflow")
    assert tf is not None
    cell = UNPACKING_STEP.format(tape="tf.GradientTape()").replace("import numpy", "import tensorflow as tf\nimport numpy")
    report = ae_magic.check(cell, namespace={}, data="x", epochs=2)
    assert "training" in report.coverage["ran"], report.coverage
    assert not [f for f in report.findings if f.severity in ("warning", "error")], report.text()


def test_the_step_unpacking_is_read_from_its_source() -> None:
    from ae_magic.probes.updates import step_unpacks_target

    class Pair:
        def train_step(self, data):
            x, y = data
            return x, y

    class Indexed:
        def train_step(self, batch):
            return batch[1]

    class Alone:
        def train_step(self, data):
            if isinstance(data, tuple):
                data = data[0]
            return data

    class Stateless:  # JAX: train_step(self, state, data), the state unpacked, the batch not
        def train_step(self, state, data):
            trainable, non_trainable, optimizer_vars, metrics = state
            del trainable, non_trainable, optimizer_vars, metrics
            return data

    assert step_unpacks_target(Pair) and step_unpacks_target(Indexed) and not step_unpacks_target(Alone)
    assert not step_unpacks_target(Stateless)


MIXED_LOSS = """\
import numpy as np
import keras
from keras import layers, ops
rng = np.random.default_rng(1)
k = rng.integers(0, 4, 1500)
num = rng.normal(size=(1500, 4)) + k[:, None]
num = (num - num.mean(0)) / num.std(0)
x = np.hstack([num, np.eye(4)[k]]).astype("float32")


def mixed_loss(y_true, y_pred):
    num_loss = ops.mean(ops.square(y_true[:, :4] - y_pred[:, :4]), axis=-1)
    return num_loss + keras.losses.categorical_crossentropy(y_true[:, 4:], y_pred[:, 4:], from_logits=True)


def similarity_loss(y_true, y_pred):
    y_true = y_true - ops.mean(y_true, axis=-1, keepdims=True)
    y_pred = y_pred - ops.mean(y_pred, axis=-1, keepdims=True)
    return ops.sum(y_true * y_pred, axis=-1) / (ops.norm(y_true, axis=-1) * ops.norm(y_pred, axis=-1) + 1e-6)


inputs = keras.Input(shape=(8,))
h = layers.Dense(16, activation="relu")(inputs)
h = layers.Dense(3, activation="relu")(h)
h = layers.Dense(16, activation="relu")(h)
outputs = layers.Dense(8)(h)   # numbers and the category's logits
model = keras.Model(inputs, outputs)
model.compile(optimizer="adam", loss={loss})
"""


def test_a_loss_that_reads_part_of_the_output_as_logits_is_judged_in_its_own_units() -> None:
    # The output's one-hot block is logits: its MSE against the one-hot target grows as the model learns,
    # and AE405 on that MSE was a false alarm.
    report = ae_magic.check(MIXED_LOSS.format(loss="mixed_loss"), namespace={}, data="x")
    assert "training" in report.coverage["ran"], report.coverage
    assert not [f for f in report.findings if f.severity in ("warning", "error")], report.text()


def test_a_similarity_returned_as_a_loss_is_named_at_its_return() -> None:
    report = ae_magic.check(MIXED_LOSS.format(loss="similarity_loss"), namespace={}, data="x")
    (f,) = [f for f in report.findings if f.title == "The loss is not lowest at a perfect reconstruction"]
    assert f.code == "AE108" and f.line == 19 and f.evidence["loss_of_target"] > f.evidence["loss_of_mean"]


ADADELTA = """\
import numpy as np
import keras
from keras import layers
# The blog's autoencoder.compile(optimizer='adadelta') relied on the old default learning_rate=1.0.
rng = np.random.default_rng(0)
x = (rng.random((600, 64)) < 0.2).astype("float32")
inp = keras.Input((64,))
out = layers.Dense(64, activation="sigmoid")(layers.Dense(16, activation="relu")(inp))
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adadelta", loss="binary_crossentropy")
"""


def test_the_optimizer_is_located_at_its_code_not_at_a_comment_that_quotes_it() -> None:
    from ae_magic.checks.optimizer_source import optimizer_line

    ctx = ae_magic.Session.from_cell(ADADELTA, namespace={}, data="x")._base
    assert optimizer_line(ctx) == (10, 'autoencoder.compile(optimizer="adadelta", loss="binary_crossentropy")')


def test_a_cell_s_classes_have_their_source_for_inspect_and_autograph() -> None:
    import inspect

    ns: dict = {}
    ae_magic.check(UNPACKING_STEP.format(tape="keras.ops.nn"), namespace=ns, data="x", train=False)
    assert "x_in, y = data" in inspect.getsource(ns["Contractive"].train_step)


PIXELS = """\
import numpy as np
import keras
from keras import layers
rng = np.random.default_rng(0)
yy, xx = np.mgrid[:16, :16]
c = rng.uniform(4, 12, size=(500, 2, 1, 1))
imgs = (np.exp(-((xx - c[:, 0]) ** 2 + (yy - c[:, 1]) ** 2) / 10.0) * 255).astype("uint8")
x = imgs.astype("float32") / 255.0
x = (x{again}).reshape(-1, 256)
x_gray = x.reshape(-1, 16, 16)[:, ::2, ::2].reshape(-1, 64)
model = keras.Sequential([keras.Input(({width},)), layers.Dense(32, activation="relu"), layers.Dropout({rate}),
                          layers.Dense(16, activation="relu"), layers.Dropout({rate}), layers.Dense(256, activation="sigmoid")])
model.compile(optimizer="adam", loss="binary_crossentropy")
"""


def _pixels(again: str = "", rate: str = "0.1", width: int = 256, data: str = "x", **kw) -> ae_magic.Report:
    return ae_magic.check(PIXELS.format(again=again, rate=rate, width=width), namespace={}, data=data, **kw)


def test_pixels_divided_by_255_twice_are_named() -> None:
    report = _pixels(again=" / 255.0", train=False)
    (f,) = [f for f in report.findings if f.code == "AE201"]
    assert f.title == "The data is scaled twice" and f.line == 9 and abs(f.evidence["times_255"] - 1.0) < 0.01
    assert not [f for f in _pixels(train=False).findings if f.code == "AE201"]


def test_dropout_given_a_keep_probability_is_named_at_its_line() -> None:
    # TF1's keep_prob=0.9 passed to Dropout: 90% dropped. The model still learns something in the short
    # run (no other symptom), so the rate itself is the finding.
    report = _pixels(rate="0.9", epochs=2)
    (f,) = [f for f in report.findings if f.code == "AE405"]
    assert f.evidence["heavy_dropout"]["rate"] == 0.9 and f.line == 11 and "Dropout(0.1)" in f.fix
    assert not [f for f in _pixels(rate="0.2", epochs=2).findings if "heavy_dropout" in f.evidence]


def test_an_output_shaped_like_its_separate_target_is_no_shape_mismatch() -> None:
    # Super-resolution: 8x8 in, 16x16 out, trained against the 16x16 images.
    report = _pixels(width=64, data="x_gray", target="x", train=False)
    assert not [f for f in report.findings if f.code == "AE105"], report.text()
    report = _pixels(width=64, data="x_gray", train=False)
    assert [f for f in report.findings if f.code == "AE105"]


UNET = """\
import numpy as np
import keras
from keras import layers
rng = np.random.default_rng(0)
x = rng.random((200, 16, 16, 1)).astype("float32")
x_masked = x * (rng.random(x.shape) > 0.2)
inputs = keras.Input((16, 16, 1))
c1 = layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
p1 = layers.MaxPooling2D()(c1)
c2 = layers.Conv2D(2, 3, padding="same", activation="relu")(p1)
u1 = layers.Conv2DTranspose(8, 2, strides=2, padding="same")(c2)
u1 = layers.concatenate([u1, c1])
outputs = layers.Conv2D(1, 3, padding="same", activation="sigmoid")(u1)
model = keras.Model(inputs, outputs)
model.compile(optimizer="adam", loss="mae")
"""


def test_a_unet_skip_is_no_bypass_when_the_target_is_not_the_input() -> None:
    # Inpainting: copying the masked input around the code does not give the clean target.
    inpainting = ae_magic.check(UNET, namespace={}, data="x_masked", target="x", train=False)
    assert "AE103" not in inpainting.codes, inpainting.text()
    copying = ae_magic.check(UNET, namespace={}, data="x", train=False)
    assert "AE103" in copying.codes
