"""Round 24: what the fresh round's cells found, each named at its line; healthy set-ups stay silent."""

from __future__ import annotations

import ae_magic

CONSTANT = """\
import numpy as np
import keras
from keras import layers
rng = np.random.default_rng(0)
yy, xx = np.mgrid[:12, :12]
c = rng.uniform(3, 9, size=(200, 2, 1, 1))
imgs = (np.exp(-((xx - c[:, 0]) ** 2 + (yy - c[:, 1]) ** 2) / 8.0) * 255).astype("uint8")
x = (imgs {op} 255).reshape(-1, 144).astype("float32")
inp = keras.Input((144,))
h = layers.Dense(32, activation="relu")(inp)
h = layers.Dense(8, activation="relu")(h)
h = layers.Dense(32, activation="relu")(h)
out = layers.Dense(144, activation="sigmoid")(h)
model = keras.Model(inp, out)
model.compile("adam", "binary_crossentropy")
"""


def test_constant_data_is_the_root_and_the_dead_units_it_causes_are_shown_under_it() -> None:
    # ``// 255`` on pixels that never reach 255: all zeros. Every ReLU is then dead and every
    # gradient zero, which used to read as two root causes pointing at the initialiser.
    report = ae_magic.check(CONSTANT.format(op="//"), namespace={}, data="x", epochs=1)
    (root,) = [f for f in report.findings if f.caused_by is None and f.severity != "info"]
    assert root.code == "AE205" and root.severity == "error" and root.line == 8
    consequences = {f.code for f in report.findings if f.caused_by == "AE205"}
    assert consequences & {"AE301", "AE304"}, report.text()


def test_the_same_pixels_divided_are_silent() -> None:
    report = ae_magic.check(CONSTANT.format(op="/"), namespace={}, data="x", train=False)
    assert not [f for f in report.findings if f.code == "AE205"], report.text()


SIZED = """\
import numpy as np
import keras
from keras import layers
x = np.random.default_rng(0).random((64, 20)).astype("float32")
shape = x.shape
inp = keras.Input((20,))
{line}
model = keras.Model(inp, layers.Dense(20)(code))
"""


def _cell_error(line: str) -> ae_magic.Finding:
    report = ae_magic.check(SIZED.format(line=line), namespace={}, data="x", train=False)
    (f,) = [f for f in report.findings if f.code == "AE100"]
    assert f.line == 7 and f.source_line == line
    return f


def test_a_numpy_integer_size_is_named_with_its_fix() -> None:
    # PyImageSearch's ConvAutoencoder: ``Dense(np.prod(volumeSize[1:]))``, fine under Keras 2.
    f = _cell_error("code = layers.Dense(np.prod(shape[1:]) // 4)(inp)")
    assert f.title == "A layer size is not a Python int" and "NumPy integer" in f.message
    assert "int(np.prod(shape[1:]))" in f.fix


def test_a_float_size_from_true_division_is_named() -> None:
    f = _cell_error("code = layers.Dense(shape[1] / 2)(inp)")
    assert f.title == "A layer size is not a Python int" and "float" in f.message and "shape[1] // 2" in f.fix


def test_a_zero_size_keeps_the_plain_cell_error() -> None:
    f = _cell_error("code = layers.Dense(0)(inp)")
    assert f.title == "The cell raised an exception"


KL_LAYER_VAE = """\
import numpy as np
import keras
from keras import layers, ops
rng = np.random.default_rng(0)
x = (rng.random((400, 12, 12)) < 0.3).astype("float32")


class Sampling(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1)

    def call(self, inputs):
        mean, log_var = inputs
        return keras.random.normal(ops.shape(log_var), seed=self.seed_generator) * ops.exp(log_var / 2) + mean


class KLDivergenceLayer(layers.Layer):
    def call(self, inputs):
        codings_mean, codings_log_var = inputs
        latent_loss = {sign}0.5 * ops.sum(
            1 + codings_log_var - ops.exp(codings_log_var) - ops.square(codings_mean), axis=-1)
        self.add_loss(ops.mean(latent_loss) / 144.0)
        return inputs


inputs = layers.Input(shape=[12, 12])
z = layers.Flatten()(inputs)
z = layers.Dense(64, activation="selu")(z)
codings_mean = layers.Dense(4)(z)
codings_log_var = layers.Dense(4)(z)
codings_mean, codings_log_var = KLDivergenceLayer()([codings_mean, codings_log_var])
codings = Sampling()([codings_mean, codings_log_var])
h = layers.Dense(64, activation="selu")(codings)
h = layers.Dense(144, activation="sigmoid")(h)
outputs = layers.Reshape([12, 12])(h)
vae = keras.Model(inputs=[inputs], outputs=[outputs])
vae.compile(loss="binary_crossentropy", optimizer="rmsprop")
"""


def test_a_kl_layer_added_without_its_minus_is_named_at_its_line() -> None:
    # Géron's KLDivergenceLayer beside the sampling layer, and ``outputs=[...]``: a list of one output,
    # which fit unwraps (the probes used to stack it and skip, saying fit fails the same way).
    ns: dict = {}
    report = ae_magic.check(KL_LAYER_VAE.format(sign=""), namespace=ns, data="x", epochs=3)
    assert "training" in report.coverage["ran"], report.coverage
    # AE401 where the run diverged far enough (TensorFlow), the first other training symptom elsewhere.
    (f,) = [f for f in report.findings if "negative_kl" in f.evidence]
    assert f.code in ("AE401", "AE404", "AE405") and f.severity == "error"
    assert f.line == 21 and "sign" in f.message and "KLDivergenceLayer" in f.message
    assert f.evidence["negative_kl"]["value"] < f.evidence["negative_kl"]["before"] < 0


def test_the_same_kl_layer_with_its_minus_trains_silently() -> None:
    report = ae_magic.check(KL_LAYER_VAE.format(sign="-"), namespace={}, data="x", epochs=3)
    assert "training" in report.coverage["ran"], report.coverage
    assert not [f for f in report.findings if f.code == "AE401" or "negative_kl" in f.evidence], report.text()


OFFSET = """\
import numpy as np
import keras
from keras import layers
rng = np.random.default_rng(0)
level = 1000 + 60 * np.sin(np.arange(900) / 20) + rng.normal(size=900)
scaled = {scaling}
x = np.array([scaled[i:i + 20] for i in range(0, 880, 4)])[..., None].astype("float32")
inp = keras.Input(shape=(20, 1))
h = layers.GRU(8)(inp)
h = layers.RepeatVector(20)(h)
h = layers.GRU(8, return_sequences=True)(h)
{extra}out = layers.TimeDistributed(layers.Dense(1, activation="sigmoid"))(h)
model = keras.Model(inp, out)
model.compile(optimizer="adam", loss="mse")
"""
MISSING_PARENS = "(level - level.min()) / level.max() - level.min()"


def test_data_whose_offset_saturates_the_layers_is_ae201_not_ae111() -> None:
    # Min-max scaling without its parentheses: every window sits near -940 and the samples differ by
    # 0.1, so the GRUs saturate and give one output. The layers do respond to unit-scale inputs.
    report = ae_magic.check(OFFSET.format(scaling=MISSING_PARENS, extra=""), namespace={}, data="x", train=False)
    assert not [f for f in report.findings if f.code == "AE111"], report.text()
    (f,) = [f for f in report.findings if f.code == "AE201"]
    assert f.severity == "error" and f.line == 7 and f.evidence["identical_outputs"]["inputs_compared"] == 8


def test_a_model_that_ignores_any_input_keeps_ae111_at_that_offset() -> None:
    extra = "h = layers.Lambda(lambda t: t * 0.0)(h)\n"
    report = ae_magic.check(OFFSET.format(scaling=MISSING_PARENS, extra=extra), namespace={}, data="x", train=False)
    assert [f for f in report.findings if f.code == "AE111"], report.text()
    ok = ae_magic.check(OFFSET.format(scaling="(level - level.min()) / (level.max() - level.min())", extra=""),
                        namespace={}, data="x", train=False)
    assert not [f for f in ok.findings if f.code in ("AE111", "AE201")], ok.text()
