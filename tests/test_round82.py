"""Round 82 (session 44): fresh cells written blind (denoising and anomaly models fed through tf.data; VAEs and
sequence models from issue threads; beginners' notebooks); the fixes its misses asked for.

* ga04 (a dense denoiser fed ``tf.data.Dataset.zip((noisy_ds, clean_ds))`` with only ``noisy_ds`` shuffled): every
  input met another sample's target, and nothing was found: ``--data``/``--target`` name the arrays, which are
  paired, so the probes learned. The zip of datasets shuffled apart is AE405, named at the shuffle
  (``checks/pipeline_pairs.py``).
* gb07 (a subclassed GRU seq2seq whose ``call`` feeds the decoder ``decoder_inputs = inputs`` beside the code's
  state): a path around the code in a ``call`` has no graph to show it. The trained copy's code is ablated; a
  reconstruction that survives it, with the source handing the input to a later layer, is AE103 at that line
  (``probes/ablation.py``, ``checks/code_ablation.py``).
* ga02 (a fraud autoencoder whose cell adapts ``normalizer`` and builds the model with a fresh, never adapted
  ``layers.Normalization()``): AE201 said the adapted scaler was "never applied" (it is applied, by calling it) and
  AE405 said the rows of the target (the input standardised) did not belong to the input's. The model's unadapted
  Normalization is named, and rows are also compared with each column standardised.
* gc05 (the Keras blog's simplest autoencoder on 8x8 images without ``Flatten``): AE104 at the code layer said
  nothing of why the 16-unit code held 128 values; it now says Dense acts per row, named at the input.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import ae_magic
from ae_magic.checks.pipeline_pairs import broken_zip


def _line(src: str, text: str) -> int:
    return next(i for i, line in enumerate(src.splitlines(), 1) if text in line)


def _loud(report: ae_magic.Report, code: str | None = None) -> list[ae_magic.Finding]:
    return [f for f in report.findings if (code is None or f.code == code) and f.severity in ("warning", "error")]


PIPELINE = """\
import numpy as np
import tensorflow as tf
import keras
from keras import layers

rng = np.random.default_rng(0)
x_train = rng.random((512, 32)).astype("float32")
x_train_noisy = np.clip(x_train + 0.2 * rng.normal(size=x_train.shape), 0.0, 1.0).astype("float32")

NOISY
CLEAN
train_ds = TRAIN

inp = keras.Input(shape=(32,))
out = layers.Dense(32, activation="sigmoid")(layers.Dense(8, activation="relu")(inp))
dae = keras.Model(inp, out)
dae.compile(optimizer="adam", loss="mse")
dae.fit(train_ds, epochs=1, verbose=0)
"""

BROKEN = {"NOISY": "noisy_ds = tf.data.Dataset.from_tensor_slices(x_train_noisy).shuffle(512)",
          "CLEAN": "clean_ds = tf.data.Dataset.from_tensor_slices(x_train)",
          "TRAIN": "tf.data.Dataset.zip((noisy_ds, clean_ds)).batch(64)"}
HEALTHY = {"NOISY": "noisy_ds = tf.data.Dataset.from_tensor_slices(x_train_noisy)",
           "CLEAN": "clean_ds = tf.data.Dataset.from_tensor_slices(x_train)",
           "TRAIN": "tf.data.Dataset.zip((noisy_ds, clean_ds)).shuffle(512).batch(64)"}
SAME_SEED = {"NOISY": "noisy_ds = tf.data.Dataset.from_tensor_slices(x_train_noisy).shuffle(512, seed=7)",
             "CLEAN": "clean_ds = tf.data.Dataset.from_tensor_slices(x_train).shuffle(512, seed=7)",
             "TRAIN": "tf.data.Dataset.zip((noisy_ds, clean_ds)).batch(64)"}
TWO_SEEDS = {**SAME_SEED, "CLEAN": "clean_ds = tf.data.Dataset.from_tensor_slices(x_train).shuffle(512)"}


def _cell(parts: dict[str, str]) -> str:
    src = PIPELINE
    for k, v in parts.items():
        src = src.replace(k, v)
    return src


class _Src:
    def __init__(self, source: str) -> None:
        self.source, self.model_name = source, "dae"


@pytest.mark.parametrize("parts,broken", [(BROKEN, True), (TWO_SEEDS, True), (HEALTHY, False), (SAME_SEED, False)])
def test_a_zip_of_datasets_shuffled_apart_is_read_from_the_source(parts: dict[str, str], broken: bool) -> None:
    found = broken_zip(_Src(_cell(parts)))  # the source alone: no dataset is built or iterated
    assert (found is not None) == broken, found
    if broken:
        assert found["shuffle"] == _line(_cell(parts), ".shuffle(512")
        assert found["sides"] == ["noisy_ds", "clean_ds"]


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="tf.data needs TensorFlow installed")
def test_a_denoiser_fed_a_zip_shuffled_apart_gets_ae405_at_the_shuffle() -> None:
    src = _cell(BROKEN)
    report = ae_magic.check(src, namespace={}, data="x_train_noisy", target="x_train", train=False)
    hit = _loud(report, "AE405")
    assert hit, report.text()
    assert hit[0].line == _line(src, "noisy_ds = ")
    assert "Dataset.zip((noisy_ds, clean_ds)).shuffle(" in hit[0].fix
    assert hit[0].evidence["cell_fit_losses"]


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="tf.data needs TensorFlow installed")
def test_a_denoiser_fed_a_zip_shuffled_together_stays_silent() -> None:
    report = ae_magic.check(_cell(HEALTHY), namespace={}, data="x_train_noisy", target="x_train", train=False)
    assert not _loud(report, "AE405"), report.text()


SEQ2SEQ = """\
import numpy as np
import keras
from keras import layers, ops

rng = np.random.default_rng(2024)
steps = rng.normal(0, 1, size=(400, 20, 3)) * rng.uniform(0.2, 1.0, size=(400, 1, 3))
trajectories = np.cumsum(steps, axis=1)
trajectories = ((trajectories - trajectories.mean()) / trajectories.std()).astype("float32")


class Seq2SeqAutoencoder(keras.Model):
    def __init__(self, n_dims, latent_units=4, **kwargs):
        super().__init__(**kwargs)
        self.encoder = layers.GRU(latent_units)
        self.repeat = layers.RepeatVector(20)
        self.bridge = layers.Dense(32, activation="tanh")
        self.decoder = layers.GRU(32, return_sequences=True)
        self.head = layers.Dense(n_dims)

    def call(self, inputs):
        context = self.encoder(inputs)
        init_state = self.bridge(context)
        DECODER_INPUTS
        h = self.decoder(decoder_inputs, initial_state=init_state)
        return self.head(h)


s2s = Seq2SeqAutoencoder(3)
s2s.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse")
s2s(trajectories[:2])
"""


def test_a_decoder_fed_the_input_beside_the_code_is_ae103_at_that_line() -> None:
    src = SEQ2SEQ.replace("DECODER_INPUTS", "decoder_inputs = inputs")
    report = ae_magic.check(src, namespace={}, data="trajectories")
    hit = _loud(report, "AE103")
    assert hit, [(f.code, f.severity, f.message[:120]) for f in report.findings]
    assert hit[0].line == _line(src, "decoder_inputs = inputs")
    ab = hit[0].evidence
    assert ab["ablated_mse"] < 0.5 * ab["mean_mse"]


def test_a_decoder_fed_the_repeated_code_is_not_a_bypass() -> None:
    src = SEQ2SEQ.replace("DECODER_INPUTS", "decoder_inputs = self.repeat(context)")
    report = ae_magic.check(src, namespace={}, data="trajectories")
    assert not _loud(report, "AE103"), [(f.code, f.message[:160]) for f in _loud(report)]
    ab = (report.traces.get("training") or {}).get("code_ablation")
    assert ab is not None and ab["ablated_mse"] > 0.5 * ab["mean_mse"], ab


FRAUD = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(7)
n = 800
time_col = np.sort(rng.uniform(0, 172792, n))
v = rng.normal(size=(n, 12)) * np.linspace(1.9, 0.3, 12)
amount = rng.lognormal(mean=3.5, sigma=1.2, size=n)
X_train = np.column_stack([time_col, v, amount]).astype("float32")

normalizer = layers.Normalization(axis=-1)
normalizer.adapt(X_train)
X_train_scaled = np.asarray(normalizer(X_train))

inp = keras.Input(shape=(14,), name="transaction")
h = MODEL_NORM(inp)
h = layers.Dense(8, activation="relu")(h)
out = layers.Dense(14)(h)
fraud_ae = keras.Model(inp, out)
fraud_ae.compile(optimizer="adam", loss="mse")
"""


def test_a_fresh_normalization_in_the_model_beside_an_adapted_one_is_named() -> None:
    src = FRAUD.replace("MODEL_NORM", "layers.Normalization(axis=-1)")
    report = ae_magic.check(src, namespace={}, data="X_train", target="X_train_scaled")
    scale = _loud(report, "AE201")
    assert scale, report.text()
    assert scale[0].line == _line(src, "h = layers.Normalization(")
    assert scale[0].evidence.get("unadapted_normalization") and scale[0].evidence.get("adapted_elsewhere") == "normalizer"
    assert "normalizer(" in scale[0].fix
    # The arrays are paired (the target is the input standardised): no finding says otherwise.
    assert not any("do not belong" in f.message for f in report.findings), report.text()


def test_the_adapted_normalization_in_the_model_is_silent_on_scale() -> None:
    src = FRAUD.replace("MODEL_NORM", "normalizer")
    report = ae_magic.check(src, namespace={}, data="X_train", target="X_train_scaled", train=False)
    assert not _loud(report, "AE201"), report.text()


def test_rows_of_a_raw_table_pair_with_their_standardised_rows() -> None:
    from ae_magic.checks.pairing import _measure

    rng = np.random.default_rng(0)
    raw = np.column_stack([np.sort(rng.uniform(0, 1e5, 300)), rng.normal(size=(300, 10)), rng.lognormal(3, 1, 300)])
    scaled = (raw - raw.mean(0)) / raw.std(0)
    assert _measure(raw, scaled)["paired"]
    assert not _measure(raw, scaled[rng.permutation(300)])["paired"]


DIGITS = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
images = rng.random((300, 8, 8)).astype("float32")

input_img = keras.Input(shape=(8, 8))
FLAT
encoded = layers.Dense(16, activation="relu")(h)
decoded = layers.Dense(OUT, activation="sigmoid")(encoded)
OUT_SHAPE
autoencoder = keras.Model(input_img, decoded)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
"""


def test_a_dense_code_on_unflattened_images_is_named_at_the_input() -> None:
    src = DIGITS.replace("FLAT", "").replace("(h)", "(input_img)").replace("OUT_SHAPE", "").replace("OUT", "8")
    report = ae_magic.check(src, namespace={}, data="images", train=False)
    wide = _loud(report, "AE104")
    assert wide, report.text()
    assert wide[0].line == _line(src, "input_img = keras.Input(")
    assert wide[0].evidence["dense_per_row"] == {"rows": 8, "units": 16}
    assert "Flatten()" in wide[0].fix


def test_a_dense_code_on_flattened_images_compresses() -> None:
    src = (DIGITS.replace("FLAT", "h = layers.Flatten()(input_img)").replace("OUT_SHAPE", "decoded = layers.Reshape((8, 8))(decoded)")
           .replace("OUT", "64"))
    report = ae_magic.check(src, namespace={}, data="images", train=False)
    assert not _loud(report, "AE104"), report.text()
