"""Round 22's healthy false alarms from subclassed models (practitioners' PyTorch-style code):

* a subclassed model holding its layers in lists with ``Dropout`` and built with ``model.build(shape)``:
  Keras marks it built with only the dropouts' seed states made, and it was read as "nothing can learn";
* a warm-up schedule that starts at 0 (``CosineDecay(initial_learning_rate=0.0, warmup_target=...)``): the
  probes trained at its starting rate, 0, and read every layer as AE301 "weights that never move";
* a ``call()`` returning ``(reconstruction, code)``: the reconstruction could not be read.
"""

from __future__ import annotations

import keras
import pytest

import ae_magic
from ae_magic import keras_compat as kc

LISTS = """\
import numpy as np
import keras
from keras import layers
rng = np.random.default_rng(5)
x_train = rng.standard_normal((600, 4)) @ rng.standard_normal((4, 24))
x_train = ((x_train - x_train.mean(0)) / x_train.std(0)).astype("float32")


class Stacked(keras.Model):
    def __init__(self, n_inputs, **kwargs):
        super().__init__(**kwargs)
        self.enc = [layers.Dense(32, activation="relu"), layers.Dropout(0.1)]
        self.code = layers.Dense(6)
        self.dec = [layers.Dense(32, activation="relu"), layers.Dropout(0.1)]
        self.out = layers.Dense(n_inputs)

    def call(self, x, training=False):
        for layer in self.enc:
            x = layer(x, training=training)
        x = self.code(x)
        for layer in self.dec:
            x = layer(x, training=training)
        return self.out(x)


model = Stacked(24)
model.build((None, 24))
model.compile(optimizer="adam", loss="mse")
"""

TUPLE = """\
import numpy as np
import keras
import tensorflow as tf
from keras import layers, ops
rng = np.random.default_rng(1)
x_train = rng.standard_normal((600, 3)) @ rng.standard_normal((3, 20))
x_train = ((x_train - x_train.mean(0)) / x_train.std(0)).astype("float32")


class AE(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.enc = layers.Dense(4)
        self.hid = layers.Dense(32, activation="relu")
        self.dec = layers.Dense(20)

    def call(self, x):
        code = self.enc(x)
        return self.dec(self.hid(code)), code

    def train_step(self, data):
        x = data[0] if isinstance(data, tuple) else data
        with tf.GradientTape() as tape:
            recon, code = self(x, training=True)
            loss = ops.mean(ops.square(x - recon)) + 1e-4 * ops.mean(ops.abs(code))
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return {{"loss": loss}}


model = AE()
model.build((None, 20))
schedule = keras.optimizers.schedules.CosineDecay(
    initial_learning_rate=0.0, warmup_target={peak}, warmup_steps=50, decay_steps=2000, alpha=0.05)
model.compile(optimizer=keras.optimizers.Adam(learning_rate=schedule))
"""


def test_a_built_subclassed_model_with_dropout_lists_is_trained() -> None:
    report = ae_magic.check(LISTS, namespace={}, data="x_train")
    assert report.get("AE301") is None, report.text()
    assert "training" not in (report.coverage or {}).get("skipped", {}), report.text()
    assert report.traces["training"]["baselines"]["final"] < report.traces["training"]["baselines"]["start"]


def test_a_warm_up_schedule_is_read_at_its_peak() -> None:
    warm = keras.optimizers.schedules.CosineDecay(0.0, 2000, warmup_target=3e-3, warmup_steps=150)
    assert kc.optimizer_lr(keras.optimizers.Adam(learning_rate=warm)) == pytest.approx(3e-3, rel=0.05)
    decay = keras.optimizers.schedules.ExponentialDecay(1e-3, 100, 0.5)
    assert kc.optimizer_lr(keras.optimizers.Adam(learning_rate=decay)) == pytest.approx(1e-3)
    assert kc.optimizer_lr(keras.optimizers.Adam(learning_rate=2e-4)) == pytest.approx(2e-4)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the cell imports tensorflow")
def test_a_call_returning_reconstruction_and_code_is_read_and_a_warm_up_trains() -> None:
    report = ae_magic.check(TUPLE.format(peak=3e-3), namespace={}, data="x_train")
    assert report.get("AE301") is None, report.text()
    tr = report.traces["training"]
    assert tr["lr"] == pytest.approx(3e-3, rel=0.05)
    assert tr["baselines"]["final"] < 0.5 * tr["baselines"]["mean"], report.text()
    assert not [w for w in report.findings if w.severity in ("warning", "error")], report.text()


# The same model without its own train_step, compiled with a loss on output 0 only (no tensorflow import).
_HEAD, _REST = TUPLE.split("    def train_step")[0], TUPLE.split("model = AE()")[1]
TWO_OUTPUTS = (_HEAD.replace("import tensorflow as tf\n", "") + "\nmodel = AE()" + _REST.split("schedule =")[0]
               + 'model.compile(optimizer="adam", loss=["mse", None])\n')


def test_a_subclassed_model_with_a_loss_on_one_of_two_outputs_is_probed_as_fit_trains_it() -> None:
    """fit(x, x) trains output 0; the probes used to skip it and claim fit fails the same way."""
    ns: dict = {}
    exec(TWO_OUTPUTS, ns)
    before = [v.numpy().copy() for v in ns["model"].variables]
    report = ae_magic.check(model=ns["model"], namespace=ns, data="x_train")
    assert not (report.coverage or {}).get("skipped"), report.text()
    tr = report.traces["training"]
    assert tr["baselines"]["final"] < 0.5 * tr["baselines"]["mean"], report.text()
    assert any("trains output 0 alone" in n for n in report.notes)
    assert all((a == b.numpy()).all() for a, b in zip(before, ns["model"].variables, strict=True))
