"""JAX only: the probes' transposed convolutions take TensorFlow's route to their gradient.

XLA's CPU backend differentiates a transposed convolution's kernel through a
generic loop (40 ms where the strided convolution's kernel gradient takes
1 ms), so a conv autoencoder's probe step took 5x TensorFlow's.
``backends.jax.fast_conv_transpose`` swaps in a custom gradient while the
probes trace their step. These tests hold it to the same numbers as JAX's
own gradient, and to putting Keras back as it was.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

pytestmark = pytest.mark.skipif(keras.backend.backend() != "jax", reason="a JAX backend's own gradient route")

if keras.backend.backend() == "jax":
    import jax
    import jax.numpy as jnp
    from keras.src.backend.jax import nn as keras_nn

    from ae_magic.backends import jax as jax_backend


CASES = [
    # input shape, kernel shape, strides, padding, output_padding, data_format, dilation
    ((4, 8, 8, 5), (3, 3, 7, 5), 2, "same", None, "channels_last", 1),
    ((4, 9, 9, 5), (3, 3, 7, 5), 2, "valid", None, "channels_last", 1),
    ((4, 5, 9, 9), (4, 4, 7, 5), 3, "same", 1, "channels_first", 1),
    ((4, 10, 5), (7, 6, 5), 2, "same", None, "channels_last", 1),
    ((4, 10, 5), (3, 6, 5), 1, "same", None, "channels_last", 2),
    ((2, 4, 4, 4, 3), (3, 3, 3, 2, 3), 2, "same", None, "channels_last", 1),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{len(c[0]) - 2}d-s{c[2]}-{c[3]}-{c[5]}-d{c[6]}" for c in CASES])
def test_output_and_gradients_are_jaxs_own(case):
    shape, kshape, strides, padding, output_padding, data_format, dilation = case
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=shape), jnp.float32)
    k = jnp.asarray(rng.normal(size=kshape), jnp.float32)

    def run() -> tuple:
        def loss(x, k):
            y = keras.ops.conv_transpose(x, k, strides, padding, output_padding, data_format, dilation)
            return jnp.sum(jnp.sin(y)), y

        (_, y), grads = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(x, k)
        return (y, *grads)

    plain = run()
    with jax_backend.fast_conv_transpose():
        assert keras_nn.conv_transpose.__wrapped__ is not None
        fast = jax.jit(run)()
    for a, b, what in zip(plain, fast, ("output", "input gradient", "kernel gradient"), strict=True):
        assert a.shape == b.shape, what
        scale = float(jnp.max(jnp.abs(a)))
        assert float(jnp.max(jnp.abs(a - b))) <= 1e-5 * scale, what


def test_keras_gets_its_own_conv_transpose_back_after_an_error_and_when_nested():
    original = keras_nn.conv_transpose
    with pytest.raises(RuntimeError), jax_backend.fast_conv_transpose():
        with jax_backend.fast_conv_transpose():  # nested: the outer swap stays until the outer exit
            inner = keras_nn.conv_transpose
        assert keras_nn.conv_transpose is inner and inner is not original
        raise RuntimeError("boom")
    assert keras_nn.conv_transpose is original
    with jax_backend.fast_conv_transpose(enabled=False):
        assert keras_nn.conv_transpose is original


def _model() -> keras.Model:
    inp = keras.Input(shape=(8, 8, 2))
    h = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="enc")(inp)
    out = keras.layers.Conv2DTranspose(2, 3, strides=2, padding="same", name="dec")(h)
    return keras.Model(inp, out)


def _train(loss_fn, fast: bool = True) -> tuple[np.ndarray, object, list[np.ndarray]]:
    keras.utils.set_random_seed(1)
    model = _model()
    opt = keras.optimizers.Adam(1e-2)
    x = np.random.default_rng(2).normal(size=(16, 8, 8, 2)).astype("float32")
    step = jax_backend.compile_train_step(model, loss_fn, opt, model.trainable_variables, opt._learning_rate, x, x)
    step._fast = fast
    xs = np.stack([x[:8], x[8:], x[:8]])
    losses, _ = step(xs, xs, np.full(3, 1e-2, np.float32))
    return losses, step, [np.asarray(v.value) for v in model.trainable_variables]


def test_a_probe_step_trains_a_conv_transpose_model_as_the_plain_gradient_does():
    original = keras_nn.conv_transpose
    mse = keras.losses.MeanSquaredError(reduction=None)
    fast_losses, _, fast_weights = _train(mse)
    plain_losses, _, plain_weights = _train(mse, fast=False)
    np.testing.assert_allclose(fast_losses, plain_losses, rtol=1e-5)
    for a, b in zip(fast_weights, plain_weights, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert keras_nn.conv_transpose is original


def test_a_loss_with_a_forward_mode_derivative_is_traced_again_with_jaxs_own_gradient():
    kernel = jnp.ones((3, 3, 2, 2), jnp.float32) * 0.1

    def loss_with_jvp(y, pred):
        # A tangent pushed through a transposed convolution: custom_vjp has no forward-mode rule.
        _, tangent = jax.jvp(lambda p: keras.ops.conv_transpose(p, kernel, 1, "same"), (pred,), (jnp.ones_like(pred),))
        return jnp.mean((y - pred) ** 2, axis=(1, 2, 3)) + 0.0 * jnp.mean(tangent, axis=(1, 2, 3))

    losses, step, _ = _train(loss_with_jvp)
    assert np.all(np.isfinite(losses)) and step._fast is False
