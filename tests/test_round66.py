"""Rounds 66 and 67 (session 37): fresh cells written blind; the fixes each miss asked for.

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
