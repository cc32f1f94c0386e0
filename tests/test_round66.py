"""Rounds 66-68 (session 37): fresh cells written blind; the fixes each miss asked for.

* ct09 (keras.io's convolutional VAE, one stride changed): the last ``Conv2DTranspose`` of the decoder has
  ``strides=2``, so ``decoder(encoder(x))`` makes 56x56 for 28x28 digits. The VAE is subclassed (its own
  ``train_step``), so it has no graph, and fit fails at the loss line of the step: the report said AE100 there.
  AE105 now reads the graph of ``decoder(encoder(x))`` from the model's functional parts
  (``shapes._parts_graph``) and names the layer that resizes once too often; the parts' node history is left
  as it was.
* cu07 (a masked LSTM trained 4 epochs in the cell): the probes' fresh Adam sent the held-out loss 19x up and
  it came back below its start; that was AE401. The unit test is in test_round47.py, beside as08's jolt.
* cv07 (round 67): pixels scaled by ``/ 127.5 - 1.0`` under a sigmoid output and binary cross-entropy. AE203 named
  the output layer (tanh, as for round 57's MSE cell), but BCE needs targets in [0, 1] whatever the output makes:
  under BCE the scaling line is what to change. The code's ReLUs that the cell's unbounded fit killed (AE304) go
  under that AE203.
* Round 68 (cells whose fault sits in a helper or a named constant): cy07, ``INIT = Constant(0.05)`` handed out
  by ``dense_block()`` (AE110 at the constant, ``locate.initializer_line``); cy08, ``standardize()`` computes
  ``train_scaled`` and returns ``train`` (AE201 at the return, ``locate.unscaled_return``); cx05,
  ``LEARNING_RATE = 1e-6`` in a config block (rate findings at the constant, ``optimizer_source._rate_constant``);
  cy04/cx09, ``np.log`` of a column with zeros inside a helper, or before per-window z-scores that leave NaN in
  a few windows only (AE202 at the log, ``nonfinite_source``); cx01, ``load_images()`` casts 0-255 pixels to
  floats and never divides (AE201 at the cast, ``locate.unscaled_cast``).
"""

from __future__ import annotations

import ae_magic

VAE = """\
import numpy as np
import keras
from keras import layers, ops

rng = np.random.default_rng(0)
x_train = rng.random((128, 28, 28, 1)).astype("float32")
latent_dim = 2


class Sampling(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        epsilon = keras.random.normal(shape=ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


encoder_inputs = keras.Input(shape=(28, 28, 1))
x = layers.Conv2D(8, 3, activation="relu", strides=2, padding="same")(encoder_inputs)
x = layers.Conv2D(16, 3, activation="relu", strides=2, padding="same")(x)
x = layers.Flatten()(x)
z_mean = layers.Dense(latent_dim, name="z_mean")(x)
z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
z = Sampling()([z_mean, z_log_var])
encoder = keras.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder")

latent_inputs = keras.Input(shape=(latent_dim,))
x = layers.Dense(7 * 7 * 16, activation="relu")(latent_inputs)
x = layers.Reshape((7, 7, 16))(x)
x = layers.Conv2DTranspose(16, 3, activation="relu", strides=2, padding="same")(x)
x = layers.Conv2DTranspose(8, 3, activation="relu", strides=2, padding="same")(x)
decoder_outputs = layers.Conv2DTranspose(1, 3, activation="sigmoid", STRIDES, padding="same")(x)
decoder = keras.Model(latent_inputs, decoder_outputs, name="decoder")


class VAE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder


vae = VAE(encoder, decoder)
vae.compile(optimizer=keras.optimizers.Adam())
"""


def _line(src: str, text: str) -> int:
    return next(i for i, line in enumerate(src.splitlines(), 1) if text in line)


def test_a_vae_whose_decoder_resizes_once_too_often_is_ae105_at_that_layer() -> None:
    src = VAE.replace("STRIDES", "strides=2")
    ns: dict = {}
    report = ae_magic.check(src, namespace=ns, data="x_train", train=False)
    f = next(f for f in report.findings if f.code == "AE105")
    assert f.line == _line(src, "decoder_outputs = ")
    assert "one upsampling step too many" in f.message and "strides=1" in f.fix
    assert f.evidence["output_shape"] == [56, 56, 1]
    # The cell never calls the parts; calling them on a new symbolic input added a node to each history (and the
    # decoder's to the encoder's readers): they were taken off again.
    assert [len(m._inbound_nodes) for m in (ns["encoder"], ns["decoder"])] == [0, 0]
    assert [len(m._outbound_nodes) for m in (ns["encoder"], ns["decoder"])] == [0, 0]


def test_the_same_vae_with_a_decoder_that_ends_at_the_input_size_has_no_ae105() -> None:
    report = ae_magic.check(VAE.replace("STRIDES", "strides=1"), namespace={}, data="x_train", train=False)
    assert "AE105" not in report.codes


KWARGS = """\
import numpy as np
import keras
from keras import layers

x_train = np.random.default_rng(0).random((256, 64)).astype("float32")
dense_kwargs = dict(activation="relu", kernel_initializer=INIT)

inputs = keras.Input(shape=(64,))
h = layers.Dense(32, **dense_kwargs)(inputs)
code = layers.Dense(8, **dense_kwargs)(h)
h = layers.Dense(32, **dense_kwargs)(code)
outputs = layers.Dense(64, activation="sigmoid")(h)
dae = keras.Model(inputs, outputs)
dae.compile(optimizer="adam", loss="mse")
"""


def test_zero_kernels_set_in_a_spread_dict_are_named_at_the_dict_with_the_constant_output_under_them() -> None:
    src = KWARGS.replace("INIT", '"zeros"')
    report = ae_magic.check(src, namespace={}, data="x_train", train=False)
    f = next(f for f in report.findings if f.code == "AE110")
    assert f.line == _line(src, "dense_kwargs = dict(")
    # Zero kernels make the output the last biases alone: the identical outputs are AE110's, not a root of their own.
    same = next(f for f in report.findings if f.code == "AE111")
    assert same.evidence["zero_kernels"] and same.caused_by == "AE110"


def test_a_spread_dict_with_a_sound_initializer_gets_no_ae110() -> None:
    report = ae_magic.check(KWARGS.replace("INIT", '"he_normal"'), namespace={}, data="x_train", train=False)
    assert "AE110" not in report.codes and "AE111" not in report.codes


def test_an_error_raised_on_mismatched_shapes_goes_under_ae105() -> None:
    from ae_magic.report import Finding, causes_of

    raised = Finding(code="AE100", severity="error", title="The cell raised an exception", message="",
                     evidence={"exception": "ValueError", "message": "Arguments `target` and `output` must have the "
                               "same shape. Received: target.shape=(None, 28, 28, 1), output.shape=(None, 56, 56, 1)"})
    assert causes_of(raised) == ("AE105",)
    other = Finding(code="AE100", severity="error", title="The cell raised an exception", message="",
                    evidence={"exception": "NameError", "message": "name 'x_tain' is not defined"})
    assert causes_of(other) == ()


SYMMETRIC = """\
import numpy as np
import keras
from keras import layers

x_raw = (np.random.default_rng(0).random((256, 64)) * 255).astype("uint8")
x_train = x_raw.astype("float32") SCALING
inputs = keras.Input(shape=(64,))
code = layers.Dense(16, activation="relu")(inputs)
outputs = layers.Dense(64, activation="sigmoid")(code)
autoencoder = keras.Model(inputs, outputs)
autoencoder.compile(optimizer="adam", loss=LOSS)
"""


def test_pixels_scaled_into_minus_one_one_under_bce_are_named_at_the_scaling() -> None:
    src = SYMMETRIC.replace("SCALING", "/ 127.5 - 1.0").replace("LOSS", '"binary_crossentropy"')
    f = ae_magic.check(src, namespace={}, data="x_train", train=False).get("AE203")
    assert f is not None and f.line == _line(src, "/ 127.5 - 1.0") and f.evidence.get("bce_needs_unit_range")
    assert "/ 255.0" in f.fix and "127.5" not in f.fix
    # Under MSE a tanh output reproduces [-1, 1]: the output layer stays what to change (round 57's bz06).
    mse = SYMMETRIC.replace("SCALING", "/ 127.5 - 1.0").replace("LOSS", '"mse"')
    g = ae_magic.check(mse, namespace={}, data="x_train", train=False).get("AE203")
    assert g is not None and g.line == _line(mse, "outputs = layers.Dense") and "tanh" in g.fix
    # Scaled into [0, 1]: nothing to say.
    fine = SYMMETRIC.replace("SCALING", "/ 255.0").replace("LOSS", '"binary_crossentropy"')
    assert ae_magic.check(fine, namespace={}, data="x_train", train=False).get("AE203") is None


def test_units_the_cells_unbounded_bce_fit_killed_go_under_the_target_range() -> None:
    from ae_magic.report import Finding, causes_of

    dead = Finding(code="AE304", severity="warning", title="Dead ReLU units", message="",
                   evidence={"dead_share": {"code": 0.9}, "cell_fit_steps": 96})
    bce = Finding(code="AE203", severity="warning", title="Targets lie outside the output's range", message="",
                  evidence={"loss": "binary_crossentropy", "bce_needs_unit_range": True})
    shape = Finding(code="AE203", severity="warning", title="Targets lie outside the output's range", message="",
                    evidence={"standardised": True})
    assert "AE203" in causes_of(dead, [dead, bce])
    assert "AE203" not in causes_of(dead, [dead, shape])


PASS_THROUGH = """\
import numpy as np
import keras
from keras import layers, ops

x_train = np.random.default_rng(0).random((256, 32)).astype("float32")


class L1Sparsity(layers.Layer):
    def call(self, activations):
        self.add_loss(0.1 * ops.mean(ops.sum(ops.abs(activations), axis=1)))
        return RETURNS


inputs = keras.Input(shape=(32,))
hidden = layers.Dense(16, activation="relu", bias_initializer=keras.initializers.Constant(BIAS))(inputs)
encoded = L1Sparsity()(hidden)
outputs = layers.Dense(32, activation="sigmoid")(encoded)
sparse_ae = keras.Model(inputs, outputs)
sparse_ae.compile(optimizer="adam", loss="binary_crossentropy")
"""


def test_a_pass_through_penalty_layer_after_dead_relus_is_not_blamed_for_the_constant_output() -> None:
    # Round 67's cw09: the code's ReLUs were dead (the cell's fit under an L1 add_loss at 0.1), so every output was
    # the same; AE111 blamed the custom layer ("may replace its input"), which hands on what it gets.
    src = PASS_THROUGH.replace("RETURNS", "activations").replace("BIAS", "-50.0")
    report = ae_magic.check(src, namespace={}, data="x_train")
    assert "AE111" not in report.codes, report.text()
    dead = report.get("AE304")
    assert dead is not None and dead.line == _line(src, "hidden = layers.Dense"), report.text()
    # A custom layer that does replace its input with a constant is still AE111 at that layer,
    src = PASS_THROUGH.replace("RETURNS", "ops.zeros_like(activations)").replace("BIAS", "0.0")
    same = ae_magic.check(src, namespace={}, data="x_train", train=False).get("AE111")
    assert same is not None and same.line == _line(src, "encoded = L1Sparsity")
    # and with live ReLUs the pass-through layer gets nothing.
    src = PASS_THROUGH.replace("RETURNS", "activations").replace("BIAS", "0.0")
    assert "AE111" not in ae_magic.check(src, namespace={}, data="x_train", train=False).codes


def test_a_constant_initializer_named_once_and_handed_out_by_a_helper_is_named_where_it_is_set() -> None:
    src = """\
import numpy as np
import keras
from keras import layers

x = np.random.default_rng(0).random((256, 20)).astype("float32")
INIT = keras.initializers.Constant(0.05)


def dense_block(units, activation="relu"):
    return layers.Dense(units, activation=activation, kernel_initializer=INIT)


inputs = keras.Input(shape=(20,))
h = dense_block(8)(inputs)
outputs = dense_block(20, activation="sigmoid")(h)
ae = keras.Model(inputs, outputs)
ae.compile(optimizer="adam", loss="mse")
"""
    f = ae_magic.check(src, namespace={}, data="x", train=False).get("AE110")
    assert f is not None and f.line == _line(src, "INIT = keras"), f
    healthy = src.replace("keras.initializers.Constant(0.05)", '"he_normal"')
    assert ae_magic.check(healthy, namespace={}, data="x", train=False).get("AE110") is None


STANDARDIZE = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
sensor = rng.normal(500.0, 120.0, size=(600, 12))


def standardize(train, test):
    mu = train.mean(axis=0)
    sigma = train.std(axis=0)
    train_scaled = (train - mu) / sigma
    test_scaled = (test - mu) / sigma
    return RETURN, test_scaled


X_train, X_test = standardize(sensor[:400], sensor[400:])
inputs = keras.Input(shape=(12,))
h = layers.Dense(4, activation="tanh")(inputs)
outputs = layers.Dense(12)(h)
ae = keras.Model(inputs, outputs)
ae.compile(optimizer="adam", loss="mse")
"""


def test_a_helper_that_returns_its_argument_instead_of_the_scaled_copy_is_named_at_its_return() -> None:
    src = STANDARDIZE.replace("RETURN", "train")
    f = ae_magic.check(src, namespace={}, data="X_train", train=False).get("AE201")
    assert f is not None and f.line == _line(src, "return train,"), f
    assert f.evidence["unscaled_return"] == {"returns": "train", "scaled": "train_scaled"}
    assert f.fix.startswith("return train_scaled, test_scaled")
    healthy = STANDARDIZE.replace("RETURN", "train_scaled")
    assert ae_magic.check(healthy, namespace={}, data="X_train", train=False).get("AE201") is None


def test_a_learning_rate_set_in_a_config_constant_is_named_there() -> None:
    from ae_magic.checks.optimizer_source import optimizer_line
    from ae_magic.context import Context

    src = ("import keras\nLEARNING_RATE = 1e-6\nEPOCHS = 5\n\n"
           "optimizer = keras.optimizers.Adam(learning_rate=LEARNING_RATE)\n")
    assert optimizer_line(Context(source=src)) == (2, "LEARNING_RATE = 1e-6")
    # A positional rate reads the same; a rate written on the optimizer's own line stays there.
    assert optimizer_line(Context(source=src.replace("learning_rate=LEARNING_RATE", "LEARNING_RATE")))[0] == 2
    assert optimizer_line(Context(source=src.replace("LEARNING_RATE)", "1e-6)")))[0] == 5
    # A name bound twice, or to something that is not a number, is not followed.
    twice = src.replace("EPOCHS = 5", "LEARNING_RATE = 2e-6")
    assert optimizer_line(Context(source=twice))[0] == 5


LOGGED = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
amount = np.round(rng.lognormal(3.0, 1.2, size=600), 2)
amount[rng.random(600) < 0.03] = 0.0
other = rng.normal(size=(600, 6))


def engineer(block, amount_col):
    log_amount = LOG(amount_col)
    return np.column_stack([block, log_amount])


features = engineer(other, amount)
x_train = ((features - features.mean(axis=0)) / features.std(axis=0)).astype("float32")
inputs = keras.Input(shape=(7,))
h = layers.Dense(3, activation="relu")(inputs)
outputs = layers.Dense(7)(h)
ae = keras.Model(inputs, outputs)
ae.compile(optimizer="adam", loss="mse")
"""


def test_a_log_of_zeros_inside_a_helper_is_named_at_the_log() -> None:
    src = LOGGED.replace("LOG", "np.log")
    f = ae_magic.check(src, namespace={}, data="x_train", train=False).get("AE202")
    assert f is not None and f.line == _line(src, "log_amount = np.log"), f
    healthy = LOGGED.replace("LOG", "np.log1p")
    assert ae_magic.check(healthy, namespace={}, data="x_train", train=False).get("AE202") is None


WINDOWS = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
amplitude = np.abs(2.0 + np.sin(np.arange(64 * 200) / 5.0) + 0.1 * rng.normal(size=64 * 200))
amplitude[rng.random(64 * 200) < 0.001] = 0.0
log_amp = LOG(amplitude)
windows = np.stack([log_amp[i:i + 64] for i in range(0, len(log_amp) - 63, 32)])
windows = (windows - windows.mean(axis=1, keepdims=True)) / windows.std(axis=1, keepdims=True)
x_train = windows[..., None].astype("float32")
inputs = keras.Input(shape=(64, 1))
h = layers.Conv1D(4, 5, padding="same", activation="relu")(inputs)
outputs = layers.Conv1D(1, 5, padding="same")(h)
ae = keras.Model(inputs, outputs)
ae.compile(optimizer="adam", loss="mse")
"""


def test_a_log_of_dropouts_that_leaves_nan_in_a_few_windows_is_named_at_the_log() -> None:
    src = WINDOWS.replace("LOG", "np.log")
    f = ae_magic.check(src, namespace={}, data="x_train", train=False).get("AE202")
    assert f is not None and f.line == _line(src, "log_amp = np.log"), f
    # NaN that the data brings (gaps in the raw readings) stays at the line that made the array.
    gaps = WINDOWS.replace("LOG(amplitude)", "amplitude").replace("amplitude[rng.random(64 * 200) < 0.001] = 0.0",
                                                                 "amplitude[rng.random(64 * 200) < 0.001] = np.nan")
    g = ae_magic.check(gaps, namespace={}, data="x_train", train=False).get("AE202")
    assert g is not None and g.line == _line(gaps, "x_train = windows"), g


def test_a_helper_that_casts_pixels_to_floats_and_never_scales_them_is_named_at_the_cast() -> None:
    src = """\
import numpy as np
import keras
from keras import layers

raw = (np.random.default_rng(0).random((256, 8, 8)) * 255).astype("uint8")


def load_images(images):
    imgs = images.astype("float32")
    return imgs.reshape(len(imgs), 64)


x_train = load_images(raw)
inputs = keras.Input(shape=(64,))
h = layers.Dense(16, activation="relu")(inputs)
outputs = layers.Dense(64, activation="sigmoid")(h)
ae = keras.Model(inputs, outputs)
ae.compile(optimizer="adam", loss="mse")
"""
    f = ae_magic.check(src, namespace={}, data="x_train", train=False).get("AE201")
    assert f is not None and f.line == _line(src, 'imgs = images.astype("float32")'), f
    assert f.fix.startswith('imgs = images.astype("float32") / 255.0')
    healthy = src.replace('images.astype("float32")', 'images.astype("float32") / 255.0')
    assert ae_magic.check(healthy, namespace={}, data="x_train", train=False).get("AE201") is None
