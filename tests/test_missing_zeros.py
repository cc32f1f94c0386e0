"""AE205: zeros standing for missing entries (a rating matrix) trained on with a loss that counts them.

Round 48's ay10: an item-based AutoRec on a 94%-empty 1-5 star matrix, 0 for "not rated", trained with plain
MSE. Its whole-matrix MSE looked fine while on the rated entries it ended 4.1x worse than the per-item mean;
it got no AE205 (94% zeros is under the mostly-zeros bar of 95%, and that finding is about another trap).
"""

from __future__ import annotations

import ae_magic

RATINGS = """\
import numpy as np
import keras
from keras import layers, ops

rng = np.random.default_rng(10)
n_items, n_users = 600, 200
taste = rng.normal(size=(n_items, 5)) @ rng.normal(size=(5, n_users)) / np.sqrt(5)
stars = np.clip(np.rint(3.2 + 1.2 * taste), 1, 5).astype("float32")
seen = rng.random((n_items, n_users)) < 0.08
x_train = np.where(seen, stars, 0).astype("float32")


def masked_mse(y_true, y_pred):
    observed = ops.cast(ops.not_equal(y_true, 0), y_pred.dtype)
    return ops.sum(observed * ops.square(y_true - y_pred), axis=-1) / ops.maximum(ops.sum(observed, axis=-1), 1.0)


model = keras.Sequential([keras.Input(shape=(n_users,)), layers.Dense(64, activation="relu"),
                          layers.Dense(16, activation="relu"), layers.Dense(64, activation="relu"), layers.Dense(n_users)])
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=LOSS)
"""


def _loud(report):
    return [f for f in report.findings if f.severity in ("warning", "error")]


def test_a_rating_matrix_under_plain_mse_is_ae205_at_the_loss():
    src = RATINGS.replace("LOSS", '"mse"')
    report = ae_magic.check(src, namespace={}, data="x_train", train=False)
    f = next((f for f in _loud(report) if f.code == "AE205"), None)
    assert f is not None and "missing entries" in f.title, report.text()
    assert f.source_line.startswith("model.compile(") and f.evidence["gap_in_stds"] >= 2.5
    assert "masked_mse" in f.fix and "..." not in f.fix


def test_the_same_matrix_under_a_masked_loss_has_no_ae205():
    report = ae_magic.check(RATINGS.replace("LOSS", "masked_mse"), namespace={}, data="x_train", train=False)
    assert not any(f.code == "AE205" for f in report.findings), report.text()


def test_counts_scaled_images_and_binary_data_with_many_zeros_are_not_missing_entries():
    from types import SimpleNamespace

    import numpy as np

    from ae_magic.checks.missing_zeros import zeros_as_missing

    ns: dict = {}
    exec(RATINGS.replace("LOSS", '"mse"'), ns)
    rng = np.random.default_rng(0)
    counts = rng.poisson(0.4, size=(300, 200)).astype("float32")  # a bag of words: mostly 0, then 1s and 2s
    pixels = ((rng.random((300, 200)) < 0.3) * rng.random((300, 200))).astype("float32")  # background 0, the rest from ~0 up
    binary = (rng.random((300, 200)) < 0.2).astype("float32")
    # Shapes of intensity 0.6-1 on a 0 background (round 48's aw07): continuous levels, an image, not a scale.
    shapes = ((rng.random((300, 200)) < 0.13) * rng.uniform(0.6, 1.0, size=(300, 200))).astype("float32")
    for data in (counts, pixels, binary, shapes):
        ctx = SimpleNamespace(model=ns["model"], data=data, target=None, data_name="x")
        assert zeros_as_missing(ctx, data, float((data == 0).mean())) is None
