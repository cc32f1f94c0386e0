"""Round 89 (session 47): fresh cells written blind (GitHub issues on porting to Keras 3, image autoencoders,
textbook autoencoders); what their misses and mislocations asked for.

* na07 (keras-team/keras#6405): ``encoder.trainable = False``, compile, fit; then ``encoder.trainable = True`` and
  a second fit without compiling. Keras fixes the trained weights at compile time, so the encoder never moved;
  the probes train a fresh copy with every layer trainable, and the report was silent. AE301 at the unfreezing
  line, read from the biases the cell's fits left at exactly zero (``checks/recompile.py``).
* na09 (the keras blog's denoiser, fitted ``fit(x_noisy, x_noisy)``), checked as ``--data x_noisy --target x``:
  the probes trained the pair they were given and learned, so nothing was said of the model the cell trains. AE104
  at fit's target (``fit_target.check_fit_skips_pair``); round 69's da03 covered only a check without --target.
* nb10 (a Dense code followed by BatchNormalization, fitted at ``batch_size=1``): every layer before the norm got an
  exactly zero gradient (one sample minus its own mean), and AE301 named the first conv with the advice for dead
  units. The norm is named, at its line, with the batch size (``gradient_cut.batch_of_one_norm``).
* nc01 (Geron's sparse autoencoder with the KL regulariser's weight 5.0, 100x the book's): AE404 named the code
  layer and advised ReLU codes: a range-test rate clause, later unconfirmed and dropped, had kept the blame off the
  penalty. Once the rate is out, the penalty is blamed, at the line that made the regulariser, with its weight a
  hundredth as large.
"""

from __future__ import annotations

import ae_magic


def _line(src: str, text: str) -> int:
    return next(i for i, line in enumerate(src.splitlines(), 1) if text in line)


def _loud(report: ae_magic.Report, code: str | None = None) -> list[ae_magic.Finding]:
    return [f for f in report.findings if (code is None or f.code == code) and f.severity in ("warning", "error")]


UNFROZEN = """\
import numpy as np
import keras
from keras import layers

np.random.seed(11)
keras.utils.set_random_seed(11)

# absorbance spectra: each sample is a mix of 6 Gaussian peaks on a 60-point grid
n_samples, n_points, n_peaks = 1500, 60, 6
grid = np.linspace(0.0, 1.0, n_points)
centres = np.linspace(0.1, 0.9, n_peaks)
peaks = np.exp(-((grid[None, :] - centres[:, None]) ** 2) / (2 * 0.04**2))
weights = np.random.uniform(0.0, 1.0, size=(n_samples, n_peaks))
x = weights @ peaks + 0.02 * np.random.normal(size=(n_samples, n_points))
x = (x - x.min()) / (x.max() - x.min())
x = x.astype("float32")

encoder = keras.Sequential(
    [keras.Input(shape=(n_points,)), layers.Dense(32, activation="relu"), layers.Dense(8, activation="relu")],
    name="encoder",
)
decoder = keras.Sequential(
    [keras.Input(shape=(8,)), layers.Dense(32, activation="relu"), layers.Dense(n_points, activation="sigmoid")],
    name="decoder",
)
inputs = keras.Input(shape=(n_points,))
autoencoder = keras.Model(inputs, decoder(encoder(inputs)), name="spectra_ae")

# warm-up: keep the encoder fixed for a few epochs while the decoder catches up
encoder.trainable = False
autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
autoencoder.fit(x, x, epochs=2, batch_size=64, verbose=0)

# then train the whole model end to end
encoder.trainable = True
history = autoencoder.fit(x, x, epochs=3, batch_size=64, verbose=0)
"""


def test_unfrozen_after_compile_and_fitted_again_is_ae301_at_the_unfreezing() -> None:
    report = ae_magic.check(UNFROZEN, namespace={}, data="x", train=False)
    found = _loud(report, "AE301")
    assert found and found[0].line == _line(UNFROZEN, "encoder.trainable = True"), [(f.code, f.line) for f in report.findings]
    assert found[0].evidence["owner"] == "encoder" and "compile" in (found[0].fix or "")


def test_compiled_again_after_unfreezing_is_silent() -> None:
    src = UNFROZEN.replace("encoder.trainable = True\n",
                           'encoder.trainable = True\nautoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")\n')
    assert src != UNFROZEN
    report = ae_magic.check(src, namespace={}, data="x", train=False)
    assert not _loud(report, "AE301"), [(f.code, f.line) for f in report.findings]


NOISY_ONTO_ITSELF = """\
import numpy as np
import keras
from keras import layers

np.random.seed(5)
keras.utils.set_random_seed(5)

# 16x16 images with one filled square, disc or cross at a random place
n_images, size = 1500, 16
yy, xx = np.mgrid[0:size, 0:size]
x = np.zeros((n_images, size, size, 1), dtype="float32")
for i in range(n_images):
    cy, cx = np.random.randint(4, size - 4, size=2)
    r = np.random.randint(2, 4)
    kind = i % 3
    if kind == 0:
        mask = (np.abs(yy - cy) <= r) & (np.abs(xx - cx) <= r)
    elif kind == 1:
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2
    else:
        mask = ((yy == cy) & (np.abs(xx - cx) <= r)) | ((xx == cx) & (np.abs(yy - cy) <= r))
    x[i, mask, 0] = 1.0

# corrupt with gaussian noise
x_noisy = np.clip(x + 0.4 * np.random.normal(size=x.shape), 0.0, 1.0).astype("float32")

inputs = keras.Input(shape=(size, size, 1))
h = layers.Conv2D(32, 3, padding="same", activation="relu")(inputs)
h = layers.MaxPooling2D(2)(h)
h = layers.Conv2D(32, 3, padding="same", activation="relu")(h)
h = layers.UpSampling2D(2)(h)
h = layers.Conv2D(32, 3, padding="same", activation="relu")(h)
outputs = layers.Conv2D(1, 3, padding="same", activation="sigmoid")(h)
denoiser = keras.Model(inputs, outputs, name="denoiser")

denoiser.compile(optimizer="adam", loss="binary_crossentropy")
history = denoiser.fit(
    x_noisy,
    x_noisy,
    epochs=2,
    batch_size=64,
    shuffle=True,
    validation_split=0.1,
    verbose=0,
)
"""


def test_a_denoiser_fitted_onto_its_noisy_input_is_named_at_the_target() -> None:
    report = ae_magic.check(NOISY_ONTO_ITSELF, namespace={}, data="x_noisy", target="x", train=False)
    found = _loud(report, "AE104")
    lines = NOISY_ONTO_ITSELF.splitlines()
    target_line = next(i for i, t in enumerate(lines, 1) if t.strip() == "x_noisy," and lines[i - 2].strip() == "x_noisy,")
    assert found and found[0].line == target_line, [(f.code, f.line) for f in report.findings]
    assert "denoiser.fit(x_noisy, x" in (found[0].fix or "")


def test_the_same_denoiser_fitted_on_the_pair_is_silent() -> None:
    lines = NOISY_ONTO_ITSELF.splitlines()
    k = next(i for i, t in enumerate(lines) if t.strip() == "x_noisy," and lines[i - 1].strip() == "x_noisy,")
    lines[k] = "    x,"
    src = "\n".join(lines) + "\n"
    report = ae_magic.check(src, namespace={}, data="x_noisy", target="x", train=False)
    assert not _loud(report, "AE104"), [(f.code, f.line) for f in report.findings]


def test_a_fit_on_the_clean_array_alone_is_named_too() -> None:
    lines = NOISY_ONTO_ITSELF.splitlines()
    k = next(i for i, t in enumerate(lines) if t.strip() == "x_noisy," and lines[i + 1].strip() == "x_noisy,")
    lines[k], lines[k + 1] = "    x,", "    x,"
    report = ae_magic.check("\n".join(lines) + "\n", namespace={}, data="x_noisy", target="x", train=False)
    found = _loud(report, "AE104")
    assert found and "never fed" in found[0].message


SPARSE_KL = """\
import numpy as np
import keras
from keras import layers, ops
from sklearn.datasets import load_digits

np.random.seed(42)
keras.utils.set_random_seed(42)

digits = load_digits()
x = (digits.data / 16.0).astype("float32")   # 1797 x 64, pixels in [0, 1]


class KLDivergenceRegularizer(keras.regularizers.Regularizer):
    def __init__(self, weight, target=0.1):
        self.weight = weight
        self.target = target

    def __call__(self, inputs):
        mean_activities = ops.mean(inputs, axis=0)
        return self.weight * (
            keras.losses.kl_divergence(self.target, mean_activities)
            + keras.losses.kl_divergence(1.0 - self.target, 1.0 - mean_activities))


kld_reg = KLDivergenceRegularizer(weight=5.0, target=0.005)

sparse_kl_encoder = keras.Sequential([
    keras.Input(shape=(64,)),
    layers.Dense(48, activation="selu"),
    layers.Dense(32, activation="sigmoid", activity_regularizer=kld_reg),
])
sparse_kl_decoder = keras.Sequential([
    keras.Input(shape=(32,)),
    layers.Dense(48, activation="selu"),
    layers.Dense(64, activation="sigmoid"),
])
sparse_kl_ae = keras.Sequential([sparse_kl_encoder, sparse_kl_decoder])
sparse_kl_ae.compile(loss="mse", optimizer="nadam")
history = sparse_kl_ae.fit(x, x, epochs=20, batch_size=64, verbose=0)
"""


def test_a_sparsity_weight_that_collapses_the_code_is_named_where_the_regularizer_is_made() -> None:
    report = ae_magic.check(SPARSE_KL, namespace={}, data="x")
    found = _loud(report, "AE404")
    at = _line(SPARSE_KL, "kld_reg = KLDivergenceRegularizer(weight=5.0")
    assert found and found[0].line == at, [(f.code, f.line) for f in report.findings]
    assert "weight=0.05" in (found[0].fix or "")


def test_the_books_sparsity_weight_is_silent() -> None:
    src = SPARSE_KL.replace("weight=5.0, target=0.005", "weight=0.05, target=0.1")
    report = ae_magic.check(src, namespace={}, data="x")
    assert not [f for f in _loud(report) if f.code in ("AE404", "AE405", "AE402")], [(f.code, f.line) for f in report.findings]


BATCH_OF_ONE = """\
import numpy as np
import keras
from keras import layers

# Small dataset of 48x48 RGB tiles: radial colour gradients with a bright ring
np.random.seed(10)
n, s = 400, 48
yy, xx = np.mgrid[0:s, 0:s] / (s - 1)
tiles = []
for _ in range(n):
    cx, cy = np.random.uniform(0.25, 0.75, size=2)
    r = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2)
    inner, outer = np.random.rand(3), np.random.rand(3)
    img = inner + (outer - inner) * np.clip(r / 0.7, 0, 1)[..., None]
    ring = np.exp(-((r - np.random.uniform(0.1, 0.3)) ** 2) / 0.002)
    img = np.clip(img + 0.6 * ring[..., None], 0, 1)
    tiles.append(img)
x = np.array(tiles, dtype="float32")

latent_dim = 32

encoder = keras.Sequential([
    keras.Input(shape=(s, s, 3)),
    layers.Conv2D(16, 3, strides=2, padding="same", activation="relu"),   # 24x24
    layers.Conv2D(32, 3, strides=2, padding="same", activation="relu"),   # 12x12
    layers.Flatten(),
    layers.Dense(latent_dim),
    layers.BatchNormalization(),
    layers.Activation("relu"),
], name="encoder")

decoder = keras.Sequential([
    keras.Input(shape=(latent_dim,)),
    layers.Dense(12 * 12 * 32, activation="relu"),
    layers.Reshape((12, 12, 32)),
    layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu"),  # 24x24
    layers.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu"),  # 48x48
    layers.Conv2D(3, 3, padding="same", activation="sigmoid"),
], name="decoder")

autoencoder = keras.Sequential([encoder, decoder], name="autoencoder")
autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")

history = autoencoder.fit(x, x, epochs=1, batch_size=1, shuffle=True, verbose=0)
"""


def test_batchnorm_on_the_code_at_batch_size_one_is_named_at_the_norm() -> None:
    report = ae_magic.check(BATCH_OF_ONE, namespace={}, data="x")
    found = _loud(report, "AE301")
    assert found and found[0].line == _line(BATCH_OF_ONE, "layers.BatchNormalization()"), [(f.code, f.line) for f in report.findings]
    assert found[0].evidence.get("batch_of_one_norm") and "batch_size=32" in (found[0].fix or "")


def test_the_same_model_at_batch_size_sixteen_is_silent() -> None:
    src = BATCH_OF_ONE.replace("batch_size=1,", "batch_size=16,")
    assert src != BATCH_OF_ONE
    report = ae_magic.check(src, namespace={}, data="x")
    assert not _loud(report, "AE301"), [(f.code, f.line) for f in report.findings]
