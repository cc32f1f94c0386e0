"""A hand-written asymmetric loss called prediction-first (PyTorch's order): AE108 at its line."""

from __future__ import annotations

import pytest

import ae_magic
from ae_magic.checks.loss_args import swapped_loss_call


@pytest.mark.parametrize("src,expected", [
    ("x_hat = self.decoder(z)\nr = keras.losses.binary_crossentropy(x_hat, x)\n", (2, "binary_crossentropy", "x_hat")),
    ("out = self(data)\nloss = keras.losses.BinaryCrossentropy()(out, data)\n", (2, "BinaryCrossentropy", "out")),
    ("reconstruction = decoder(z)\nkl = keras.losses.kl_divergence(reconstruction, x)\n", (2, "kl_divergence", "reconstruction")),
])
def test_prediction_first_is_found(src: str, expected: tuple) -> None:
    assert swapped_loss_call(src) == expected


@pytest.mark.parametrize("src", [
    "x_hat = self.decoder(z)\nr = keras.losses.binary_crossentropy(x, x_hat)\n",  # Keras' order
    "x_hat = self.decoder(z)\nr = keras.losses.mean_squared_error(x_hat, x)\n",  # symmetric
    "x_hat = self.decoder(z)\nr = keras.losses.binary_crossentropy(y_pred=x_hat, y_true=x)\n",  # by keyword
    "r = keras.losses.binary_crossentropy(data, reconstruction)\n",
])
def test_target_first_symmetric_or_keyword_is_silent(src: str) -> None:
    assert swapped_loss_call(src) is None


VAE = """\
import numpy as np
import keras
from keras import layers, ops
rng = np.random.default_rng(0)
x_train = (rng.random((256, 64)) > 0.7).astype("float32")


class VAE(keras.Model):
    def __init__(self):
        super().__init__()
        self.enc = layers.Dense(32, activation="relu")
        self.mu = layers.Dense(4)
        self.logvar = layers.Dense(4)
        self.decoder = layers.Dense(64{act})

    def call(self, x):
        h = self.enc(x)
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + ops.exp(0.5 * logvar) * keras.random.normal(ops.shape(mu))
        x_hat = self.decoder(z)
        recon = 64 * keras.losses.binary_crossentropy({args})
        kl = -0.5 * ops.sum(1 + logvar - ops.square(mu) - ops.exp(logvar), axis=-1)
        self.add_loss(ops.mean(recon + kl))
        return x_hat


model = VAE()
model(x_train[:2])
model.compile(optimizer="adam")
"""


def test_the_check_names_the_line_in_a_vae_call() -> None:
    report = ae_magic.check(VAE.format(args="x_hat, x", act=', activation="sigmoid"'), namespace={}, data="x_train", train=False)
    f = report.get("AE108")
    assert f is not None and f.title == "Loss arguments in the wrong order", report.text()
    assert f.line == 21 and "binary_crossentropy(x_hat, x)" in f.source_line
    # "Try the fix" puts the target first on that line.
    assert f.edit is not None and f.edit["replacement"].strip() == "recon = 64 * keras.losses.binary_crossentropy(x, x_hat)"
    healthy = ae_magic.check(VAE.format(args="x, x_hat", act=', activation="sigmoid"'), namespace={}, data="x_train", train=False)
    assert healthy.get("AE108") is None, healthy.text()


@pytest.mark.parametrize("act,args,fires", [
    ("", "x, x_hat", True),  # a linear output under BCE on probabilities: clipped, no gradient outside (0, 1)
    (', activation="sigmoid"', "x, x_hat", False),
    ("", "x, x_hat, from_logits=True", False),
])
def test_a_handwritten_bce_on_a_linear_output(act: str, args: str, fires: bool) -> None:
    report = ae_magic.check(VAE.format(args=args, act=act), namespace={}, data="x_train", train=False)
    f = next((f for f in report.findings if f.code == "AE108" and f.evidence.get("loss") == "binary_crossentropy (in the cell)"),
             None)
    assert (f is not None) == fires, report.text()
    if fires:
        assert f.line == 21 and f.evidence["output_activation"] == "linear"


PASS_THROUGH = """\
import numpy as np
import keras
from keras import layers, ops
x_train = (np.random.default_rng(0).random((256, 32)) > 0.6).astype("float32")


class VAELoss(layers.Layer):
    def call(self, inputs):
        x, x_decoded = inputs
        self.add_loss(ops.mean(ops.sum(keras.losses.binary_crossentropy(
            ops.expand_dims(x, -1), ops.expand_dims(x_decoded, -1)), axis=-1)))
        return x_decoded


x_in = keras.Input(shape=(32,))
out = layers.Dense(32, activation="sigmoid")(layers.Dense(8, activation="relu")(x_in))
out = VAELoss()([x_in, out])
model = keras.Model(x_in, out)
model.compile(optimizer="adam")
"""


def test_a_loss_layer_passing_a_sigmoid_output_on_is_silent() -> None:
    """Round 19's healthy VAE: the graph's last node is the loss layer, which has no activation of its own."""
    report = ae_magic.check(PASS_THROUGH, namespace={}, data="x_train", train=False)
    assert report.get("AE108") is None, report.text()


COMPILED = """\
import numpy as np
import keras
from keras import layers, ops
x_train = (np.random.default_rng(0).random((256, 32)) > 0.6).astype("float32")
inp = keras.Input(shape=(32,))
h = layers.Dense(8, activation="relu")(inp)
out = layers.Dense(32{act})(h)
model = keras.Model(inp, out)


def bernoulli_nll(y_true, y_pred):
    return ops.sum(ops.binary_crossentropy(y_true, y_pred{logits}), axis=-1)


def unrelated(a, b):
    return keras.losses.binary_crossentropy(a, b)


model.compile(optimizer="adam", loss=bernoulli_nll)
"""


@pytest.mark.parametrize("act,logits,fires", [
    ("", "", True),  # round 50's bd08: a Bernoulli decoder's logits under BCE on probabilities, in a compiled function
    (', activation="sigmoid"', "", False),
    ("", ", from_logits=True", False),
])
def test_a_compiled_loss_function_taking_bce_on_a_linear_output(act: str, logits: str, fires: bool) -> None:
    report = ae_magic.check(COMPILED.format(act=act, logits=logits), namespace={}, data="x_train", train=False)
    f = next((f for f in report.findings if f.code == "AE108"), None)
    assert (f is not None) == fires, report.text()
    if fires:
        assert f.line == 12 and "ops.binary_crossentropy" in f.source_line  # inside the compiled function, not `unrelated`


def test_a_compiled_mse_is_not_read_for_a_bce_elsewhere_in_the_cell() -> None:
    src = COMPILED.format(act="", logits="").replace("loss=bernoulli_nll", 'loss="mse"')
    report = ae_magic.check(src, namespace={}, data="x_train", train=False)
    assert report.get("AE108") is None, report.text()
