"""Every healthy autoencoder of the zoo gets no warning and no error."""

from __future__ import annotations

import pytest
import zoo

import ae_magic
from ae_magic.keras_compat import keras


@pytest.mark.parametrize("name", sorted(zoo.HEALTHY))
def test_healthy_model_is_silent(name: str) -> None:
    report = ae_magic.check(zoo.HEALTHY[name], train=False, **zoo.HEALTHY_CALLS[name])
    loud = [(f.code, f.severity, f.message) for f in report.findings if f.severity in ("error", "warning")]
    assert loud == [], f"{name}: false alarm(s) {loud}"
    assert report.internal_errors == [], report.internal_errors
    assert report.cell_error is None
    assert report.model is not None and report.model["variable"] == "autoencoder"
    assert report.ok


def test_zoo_covers_required_shapes() -> None:
    # The issue names these shapes; the zoo must keep them (and at least ten).
    required = {
        "dense",
        "deep_dense",
        "conv_transpose",
        "conv_upsampling",
        "sequential_input",
        "composed",
        "lstm",
        "denoising",
    }
    assert required <= set(zoo.HEALTHY)
    assert len(zoo.HEALTHY) >= 10
    assert set(zoo.HEALTHY_CALLS) == set(zoo.HEALTHY)


def test_vae_style_sampling_is_silent() -> None:
    # A Lambda that samples around z_mean still depends on the input: no
    # AE111, and z_log_var feeds the sampling layer, so it is not dangling.
    src = (
        "import numpy as np\nimport keras\nfrom keras import layers\n"
        "x = np.random.default_rng(0).random((256, 32)).astype('float32')\n"
        "inp = keras.Input(shape=(32,))\n"
        "h = layers.Dense(16, activation='relu')(inp)\n"
        "z_mean = layers.Dense(4)(h)\n"
        "z_log_var = layers.Dense(4)(h)\n"
        "z = layers.Lambda(lambda a: a[0] + keras.ops.exp(0.5 * a[1]) * keras.random.normal(keras.ops.shape(a[0])))"
        "([z_mean, z_log_var])\n"
        "h = layers.Dense(16, activation='relu')(z)\n"
        "autoencoder = keras.Model(inp, layers.Dense(32, activation='sigmoid')(h))\n"
        "autoencoder.compile(optimizer='adam', loss='binary_crossentropy')\n"
    )
    report = ae_magic.check(src, data="x", train=False)
    assert report.internal_errors == []
    if keras.backend.backend() == "jax":
        # JAX can't draw unseeded random numbers in a traced call: Keras
        # raises on the Lambda line, and that is the finding.
        f = report.get("AE100")
        assert f is not None and "keras.random.normal" in (f.source_line or ""), report.text()
        return
    assert [f.code for f in report.findings if f.severity != "info"] == []


def test_vae_sampling_layer_with_a_seed_generator_is_silent() -> None:
    # The keras.io VAE's Sampling layer: portable to every backend.
    src = (
        "import numpy as np\nimport keras\nfrom keras import layers\n"
        "class Sampling(layers.Layer):\n"
        "    def __init__(self, **kw):\n"
        "        super().__init__(**kw)\n"
        "        self.seed_generator = keras.random.SeedGenerator(1337)\n"
        "    def call(self, inputs):\n"
        "        z_mean, z_log_var = inputs\n"
        "        eps = keras.random.normal(keras.ops.shape(z_mean), seed=self.seed_generator)\n"
        "        return z_mean + keras.ops.exp(0.5 * z_log_var) * eps\n"
        "x = np.random.default_rng(0).random((256, 32)).astype('float32')\n"
        "inp = keras.Input(shape=(32,))\n"
        "h = layers.Dense(16, activation='relu')(inp)\n"
        "z_mean = layers.Dense(4)(h)\n"
        "z_log_var = layers.Dense(4)(h)\n"
        "z = Sampling()([z_mean, z_log_var])\n"
        "h = layers.Dense(16, activation='relu')(z)\n"
        "autoencoder = keras.Model(inp, layers.Dense(32, activation='sigmoid')(h))\n"
        "autoencoder.compile(optimizer='adam', loss='binary_crossentropy')\n"
    )
    report = ae_magic.check(src, data="x", train=False)
    assert [f.code for f in report.findings if f.severity != "info"] == [], report.text()
    assert report.internal_errors == []


def test_check_leaves_the_users_model_and_namespace_alone() -> None:
    import numpy as np

    ns: dict = {}
    report = ae_magic.check(zoo.HEALTHY["dense"], namespace=ns, data="x", train=False)
    assert report.ok
    model = ns["autoencoder"]
    assert report.model["variable"] == "autoencoder"
    before = [w.copy() for w in model.get_weights()]
    x_before = ns["x"].copy()
    ae_magic.check(None, namespace=ns, model="autoencoder", data="x", train=False)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ns["x"], x_before)
