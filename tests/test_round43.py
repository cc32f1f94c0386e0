"""Round 43: classes found by fresh cells (session 26).

* A structural error that explains a run ending far from a linear code, though below the mean (ae04: a causal
  conv stack whose code saw 7 of 64 steps, AE111, ended at 0.83x the mean's error and 146x PCA's). The cost is
  reported as AE405 under the error, as an unbeaten run already was (``baseline.explained_unbeaten``).
* Preprocessing inside the model by a layer without weights (ac01: ``Lambda(ops.log1p)`` on raw counts): AE201
  judges what the first weighted layer sees, read by calling that layer on the forward copy
  (``preprocess._weightless``). A Lambda that leaves the scale as it is keeps AE201.
* A loss that reads only each sample's direction (ac04: ``loss="cosine_similarity"`` on spectra): AE108 at the
  loss line when half and twice the target score as the target does and the run did not beat the mean
  (``loss_direction.check_loss_scale_blind``). The same loss on unit-norm data with a unit-norm output learns, and
  stays silent.
"""

from __future__ import annotations

import ae_magic


def _loud(report: ae_magic.Report) -> list:
    return [f for f in report.findings if f.severity in ("warning", "error")]


def _line(src: str, text: str) -> int:
    return next(i for i, line in enumerate(src.splitlines(), start=1) if text in line)


NARROW_SEQ = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(11)
n, win, ch = 800, 48, 2
t = np.arange(win)[None, :]
x = np.zeros((n, win, ch), dtype="float32")
for k in range(3):
    f = rng.uniform(0.02, 0.12, (n, 1))
    ph = rng.uniform(0, 2 * np.pi, (n, 1))
    a = rng.uniform(0.3, 1.0, (n, 1))
    x[:, :, 0] += (a * np.sin(2 * np.pi * f * t + ph)).astype("float32")
    x[:, :, 1] += (0.7 * a * np.cos(2 * np.pi * f * t + ph + 0.4)).astype("float32")
x = (x - x.mean(axis=(0, 1))) / x.std(axis=(0, 1))

inputs = keras.Input(shape=(win, ch))
h = layers.Conv1D(32, 1)(inputs)
for d in [1, 2, 4, 8]:
    r = layers.Conv1D(32, kernel_size=2, padding="causal", activation="relu"DILATION)(h)
    h = layers.Add()([h, r])
last = LAST
code = layers.Dense(12)(last)
g = layers.Dense(12 * 32, activation="relu")(code)
g = layers.Reshape((12, 32))(g)
g = layers.UpSampling1D(4)(g)
g = layers.Conv1D(32, 5, padding="same", activation="relu")(g)
outputs = layers.Conv1D(ch, 3, padding="same")(g)
model = keras.Model(inputs, outputs)
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
"""


def test_an_error_that_explains_a_run_far_from_pca_reports_its_cost_as_ae405() -> None:
    src = NARROW_SEQ.replace("DILATION", "").replace("LAST", "h[:, -1, :]")
    report = ae_magic.check(src, namespace={}, data="x", seed=0)
    cause = report.get("AE111")
    assert cause is not None and cause.severity == "error", report.text()
    cost = report.get("AE405")
    assert cost is not None and cost.severity == "warning", report.text()
    assert cost.line == cause.line == _line(src, "last = h[:, -1, :]")
    assert "linear (PCA) code" in cost.message and cost.evidence["confirm"] == {"skipped": "explained by AE111"}


def test_a_sequence_code_that_sees_the_whole_window_is_silent() -> None:
    src = NARROW_SEQ.replace("DILATION", "").replace("LAST", "layers.Flatten()(h)")
    report = ae_magic.check(src, namespace={}, data="x", seed=0)
    assert not _loud(report), report.text()


COUNTS = """\
import numpy as np
import keras
from keras import layers, ops

rng = np.random.default_rng(7)
n, genes = 800, 120
programs = rng.gamma(2.0, 1.0, size=(n, 4))
loadings = rng.gamma(0.6, 1.5, size=(4, genes))
x = rng.poisson(0.5 + 2.0 * programs @ loadings).astype("float32")

inp = keras.Input(shape=(genes,))
h = layers.Lambda(lambda t: TRANSFORM, name="prep")(inp)
h = layers.Dense(64, activation="relu")(h)
code = layers.Dense(12, activation="relu")(h)
h = layers.Dense(64, activation="relu")(code)
out = layers.Dense(genes, activation="exponential")(h)
model = keras.Model(inp, out)
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="poisson")
"""


def test_raw_counts_log_scaled_by_a_lambda_inside_the_model_are_not_ae201() -> None:
    report = ae_magic.check(COUNTS.replace("TRANSFORM", "ops.log1p(t)"), namespace={}, data="x", seed=0,
                            train=False)
    assert report.get("AE201") is None, report.text()


def test_a_lambda_that_leaves_raw_counts_as_they_are_keeps_ae201() -> None:
    src = COUNTS.replace("TRANSFORM", "t * 1.0")
    report = ae_magic.check(src, namespace={}, data="x", seed=0, train=False)
    f = report.get("AE201")
    assert f is not None and f.evidence.get("after_layer") == "prep", report.text()


def test_the_data_check_calls_the_copy_never_the_users_layer() -> None:
    """The weightless layer runs on the forward copy: ``probe`` on an existing model never calls its Lambda."""
    import numpy as np

    ns: dict = {}
    exec(COUNTS.replace("TRANSFORM", "ops.log1p(t)"), ns)
    model, calls = ns["model"], []
    prep = model.get_layer("prep")

    original = prep.call

    def counted(*args, **kwargs):  # this layer object only (a copy is a new Lambda): a call on it shows here
        calls.append(1)
        return original(*args, **kwargs)

    prep.call = counted
    before = [np.array(w, copy=True) for w in model.get_weights()]
    report = ae_magic.probe(model, ns["x"], seed=0, train=False)
    assert report.get("AE201") is None, report.text()
    assert not calls
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


SPECTRA = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(11)
n, ch = 900, 120
wl = np.linspace(0, 1, ch)
def peak(c, w):
    return np.exp(-0.5 * ((wl - c) / w) ** 2)
pure = np.stack([peak(0.2, 0.03) + 0.5 * peak(0.55, 0.05), peak(0.4, 0.04) + 0.7 * peak(0.8, 0.02),
                 0.8 * peak(0.65, 0.06) + 0.3 * peak(0.1, 0.02)])
x = (rng.uniform(0.1, 2.0, size=(n, 3)) @ pure + 0.05 + rng.normal(0, 0.01, size=(n, ch))).astype("float32")
PREP

inp = keras.Input(shape=(ch,))
h = layers.Dense(64, activation="relu")(inp)
h = layers.Dense(8, activation="relu")(h)
h = layers.Dense(64, activation="relu")(h)
out = layers.Dense(ch)(h)
OUT
model = keras.Model(inp, out)
model.compile(optimizer="adam", loss="cosine_similarity")
"""


def test_a_cosine_similarity_loss_on_spectra_of_varying_intensity_is_ae108_at_the_loss() -> None:
    src = SPECTRA.replace("PREP", "").replace("OUT", "")
    report = ae_magic.check(src, namespace={}, data="x", seed=0)
    f = report.get("AE108")
    assert f is not None and f.severity == "error", report.text()
    assert f.line == _line(src, 'loss="cosine_similarity"')
    assert f.evidence["final_mse"] >= f.evidence["mean_baseline"]
    # What it cost is reported beside it, measured (AE405, or the collapse the run showed).
    assert report.get("AE405") is not None or report.get("AE404") is not None, report.text()
    target = f.evidence["loss_of_target"]
    assert all(abs(v - target) < 1e-3 for v in f.evidence["loss_of_scaled_targets"])


def test_a_cosine_similarity_loss_on_unit_norm_data_with_a_unit_norm_output_is_silent() -> None:
    src = (SPECTRA.replace("PREP", "x = x / np.linalg.norm(x, axis=1, keepdims=True)")
           .replace("OUT", "out = layers.UnitNormalization()(out)"))
    report = ae_magic.check(src, namespace={}, data="x", seed=0)
    assert report.get("AE108") is None, report.text()
    assert not _loud(report), report.text()


AUX_HEAD = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(3)
n = 600
labels = rng.integers(0, 3, n)
centres = rng.normal(size=(3, 40))
x_train = (centres[labels] + 0.3 * rng.normal(size=(n, 40))).astype("float32")
TARGETS

inputs = keras.Input(shape=(40,))
h = layers.Dense(32, activation="relu")(inputs)
code = layers.Dense(8, activation="relu")(h)
recon = layers.Dense(40, name="reconstruction")(layers.Dense(32, activation="relu")(code))
cls = layers.Dense(3, activation="softmax", name="label")(code)
model = keras.Model(inputs, OUTPUTS)
model.compile(optimizer="adam", loss=LOSS)
"""


def _aux(targets: str, outputs: str, loss: str) -> str:
    return AUX_HEAD.replace("TARGETS", targets).replace("OUTPUTS", outputs).replace("LOSS", loss)


def test_a_list_of_targets_gives_the_probes_the_reconstructions_target() -> None:
    """Round 43's ab07/ab08: ``--target y_train`` for ``y_train = [x_train, labels]`` skipped every probe."""
    src = _aux("y_train = [x_train, labels]", "[recon, cls]", '["mse", "sparse_categorical_crossentropy"]')
    report = ae_magic.check(src, namespace={}, data="x_train", target="y_train", seed=0)
    assert {"data", "gradients", "training"} <= set(report.coverage["ran"]), report.coverage
    assert not report.internal_errors and not _loud(report), report.text()
    assert any("y_train[0]" in n for n in report.notes), report.notes
    # The other head's loss was not trained by the probes: the summary says the check was not complete.
    assert any("was not measured" in n for n in report.notes), report.notes
    assert "no problems found" not in report.text().lower()


def test_a_dict_of_targets_is_read_by_its_key() -> None:
    src = _aux('targets = {"reconstruction": x_train, "label": labels}',
               '{"reconstruction": recon, "label": cls}',
               '{"reconstruction": "mse", "label": "sparse_categorical_crossentropy"}')
    report = ae_magic.check(src, namespace={}, data="x_train", target="targets", seed=0)
    assert "training" in report.coverage["ran"], report.coverage
    assert any("targets['reconstruction']" in n for n in report.notes), report.notes
    assert not report.internal_errors and not _loud(report), report.text()


def test_two_targets_shaped_like_the_input_still_say_what_did_not_run() -> None:
    src = _aux("y_train = [x_train, x_train[::-1].copy()]", "[recon, layers.Dense(40)(code)]", '["mse", "mse"]')
    report = ae_magic.check(src, namespace={}, data="x_train", target="y_train", seed=0)
    assert {"data", "gradients"} <= set(report.coverage["skipped"]), report.coverage
    assert "no problems found" not in report.text().lower()


LOAD_CURVES = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(21)
n_days, steps = 600, 48
hh = np.arange(steps) / 2.0
profile = 0.35 + 0.55 * np.exp(-0.5 * ((hh - 7.5) / 1.3) ** 2) + 1.10 * np.exp(-0.5 * ((hh - 19.0) / 2.2) ** 2)
load = rng.lognormal(np.log(0.4), 0.5, (n_days, 1)) + rng.lognormal(np.log(1.2), 0.6, (n_days, 1)) * profile[None, :]
load = load * (1 + 0.03 * rng.standard_normal(load.shape))
x = load[..., None].astype("float32")
x = (x - x.mean(axis=AXIS, keepdims=True)) / x.std(axis=AXIS, keepdims=True)
model = keras.Sequential([
    keras.Input(shape=(steps, 1)),
    layers.Conv1D(16, 5, padding="same", activation="relu"),
    layers.MaxPooling1D(2),
    layers.Flatten(),
    layers.Dense(8, activation="relu"),
    layers.Dense(24 * 16, activation="relu"),
    layers.Reshape((24, 16)),
    layers.UpSampling1D(2),
    layers.Conv1D(1, 3, padding="same"),
])
model.compile(optimizer="adam", loss="mse")
"""


def test_windows_scaled_one_by_one_into_the_same_curve_are_ae205_at_the_axis_line() -> None:
    """Round 43's ae06: daily load curves that differ in level and size only, z-scored per day, are one curve."""
    src = LOAD_CURVES.replace("AXIS", "1")
    report = ae_magic.check(src, namespace={}, data="x", seed=0, train=False)
    f = report.get("AE205")
    assert f is not None and f.severity == "warning", report.text()
    assert f.line == _line(src, "x = (x - x.mean(axis=1") and "axis=(0, 1)" in f.fix
    assert f.evidence["spread_across_windows"] < 0.15 * f.evidence["spread_within_window"]
    assert report.get("AE201") is None, report.text()


def test_the_same_curves_scaled_over_every_window_are_silent() -> None:
    report = ae_magic.check(LOAD_CURVES.replace("AXIS", "(0, 1)"), namespace={}, data="x", seed=0, train=False)
    assert not _loud(report), report.text()


SENSORS = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(99)
n = 520
traffic = rng.gamma(3.0, 1.0, n)
temp = 18 + 7 * np.sin(np.linspace(0, 12 * np.pi, n)) + rng.normal(0, 1.5, n)
X_raw = np.column_stack([0.6 * traffic, 45 * traffic, 20 * traffic + 1.5 * temp, temp, 12 * traffic]).astype("float32")
X_raw = np.clip(X_raw + rng.normal(0, 1, X_raw.shape), 0, None).astype("float32")
CODES
x = X_raw / X_raw.max()
model = keras.Sequential([
    keras.Input(shape=(5,)),
    layers.Dense(8, activation="relu"),
    layers.Dense(2, activation="relu"),
    layers.Dense(8, activation="relu"),
    layers.Dense(5, activation="sigmoid"),
])
model.compile(optimizer="adam", loss="binary_crossentropy")
"""


def test_a_missing_value_code_in_a_few_percent_of_a_column_is_named() -> None:
    """Round 44's ai07: 9999 in 4 % and 3 % of two columns is its own 99.9th percentile; the code went unseen."""
    src = SENSORS.replace("CODES", "X_raw[rng.random(n) < 0.04, 2] = 9999.0\nX_raw[rng.random(n) < 0.03, 0] = 9999.0")
    report = ae_magic.check(src, namespace={}, data="x", seed=0, train=False)
    f = report.get("AE201")
    assert f is not None and f.title == "A missing-value code set the data's scale", report.text()
    assert f.line == _line(src, "x = X_raw / X_raw.max()") and f.evidence["code_value"] == 1.0


def test_the_same_table_without_the_code_has_no_missing_value_finding() -> None:
    report = ae_magic.check(SENSORS.replace("CODES", ""), namespace={}, data="x", seed=0, train=False)
    assert not any(f.title == "A missing-value code set the data's scale" for f in report.findings), report.text()


def test_a_model_frozen_after_compile_is_ae301_at_the_freezing_line() -> None:
    """Round 44's ah08: Keras 2's GAN idiom, ``autoencoder.trainable = False`` after ``compile``; Keras 3 reads
    the flag when fit runs, so nothing trains. AE301 had no line."""
    src = SENSORS.replace("CODES", "") + "model.trainable = False\n"
    report = ae_magic.check(src, namespace={}, data="x", seed=0)
    f = report.get("AE301")
    assert f is not None and f.severity == "error", report.text()
    assert f.line == _line(src, "model.trainable = False") and "after compile" in f.message


IN_CALL = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(3)
x = np.tanh(rng.normal(size=(600, 6)) @ rng.normal(size=(6, 24)) / 2.0).astype("float32")


class Autoencoder(keras.Model):
    def __init__(self, n_features, latent_dim=6):
        super().__init__()
        self.n_features = n_features
        self.enc = layers.Dense(latent_dim)
        self.dec1 = layers.Dense(16, activation="relu")
        self.head = None

    def call(self, inputs, training=None):
        h = self.dec1(self.enc(inputs))
        BODY


model = Autoencoder(n_features=24)
model.compile(optimizer="adam", loss="mse", run_eagerly=True)
"""


def test_a_dense_layer_made_inside_call_is_ae301_at_its_line() -> None:
    """Round 44's ag02: ``return layers.Dense(self.n_features)(h)`` in call, hidden by ``run_eagerly=True``."""
    src = IN_CALL.replace("BODY", "return layers.Dense(self.n_features)(h)")
    report = ae_magic.check(src, namespace={}, data="x", seed=0, train=False)
    f = report.get("AE301")
    assert f is not None and f.severity == "error" and f.evidence["layer_class"] == "Dense", report.text()
    assert f.line == _line(src, "return layers.Dense(self.n_features)(h)")


def test_the_probes_do_not_say_fit_fails_for_a_model_fit_runs_eagerly() -> None:
    import keras

    if keras.backend.backend() != "tensorflow":
        import pytest

        pytest.skip("the compiled step that rejects a variable made in call is TensorFlow's tf.function")
    src = IN_CALL.replace("BODY", "return layers.Dense(self.n_features)(h)")
    report = ae_magic.check(src, namespace={}, data="x", seed=0)
    assert report.get("AE301") is not None
    notes = " ".join(report.notes)
    assert "model.fit fails the same way" not in notes and "run_eagerly=True" in notes, report.notes


def test_a_layer_made_once_on_self_and_layers_without_weights_in_call_are_silent() -> None:
    body = ("if self.head is None:\n"
            "            self.head = layers.Dense(self.n_features)\n"
            "        h = layers.Concatenate()([h, layers.Dropout(0.1)(h)])\n"
            "        return self.head(layers.Flatten()(h))")
    report = ae_magic.check(IN_CALL.replace("BODY", body), namespace={}, data="x", seed=0, train=False)
    assert report.get("AE301") is None, report.text()
