"""Several reconstruction heads, each trained by its own loss (``probes/heads.py``).

Round 48's ay09: a mixed-type tabular autoencoder, numeric columns through a tanh head with MSE and a
categorical column through a softmax head with categorical cross-entropy, compiled with a loss on each
output and trained as ``fit(x, [x_num, x_cat])``. The probes skipped it ("a loss on more than one of
them"); they now train the heads together, joined into one reconstruction, with fit's summed loss.
"""

from __future__ import annotations

import ae_magic

TABLE = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(9)
n, n_num, n_cat = 1200, 6, 4
cat = rng.integers(0, n_cat, n)
drive = rng.normal(size=(n, 2))
raw = rng.normal(size=(n_cat, n_num))[cat] + drive @ rng.normal(size=(2, n_num)) + 0.1 * rng.normal(size=(n, n_num))
lo, hi = raw.min(0), raw.max(0)
x_num = (2 * (raw - lo) / (hi - lo) - 1).astype("float32")
x_cat = np.eye(n_cat, dtype="float32")[cat]
x_train = np.hstack([x_num, x_cat])

inp = keras.Input(shape=(n_num + n_cat,))
h = layers.Dense(32, activation="relu")(inp)
code = layers.Dense(3, name="code")(h)
h = layers.Dense(32, activation="relu")(code)
num_head = layers.Dense(n_num, activation="tanh", name="num_head")(h)
cat_head = layers.Dense(n_cat, activation="softmax", name="cat_head")(h)
model = keras.Model(inp, HEADS)
model.compile(optimizer=OPTIMIZER, loss=LOSS, loss_weights=WEIGHTS)
FIT
"""


def _cell(heads="[num_head, cat_head]", optimizer='keras.optimizers.Adam(3e-3)', loss='["mse", "categorical_crossentropy"]',
          weights="[1.0, 0.2]", fit="model.fit(x_train, [x_num, x_cat], epochs=1, batch_size=32, verbose=0)") -> str:
    return (TABLE.replace("HEADS", heads).replace("OPTIMIZER", optimizer).replace("LOSS", loss)
            .replace("WEIGHTS", weights).replace("FIT", fit))


def _loud(report):
    return [f for f in report.findings if f.severity in ("warning", "error")]


def test_heads_trained_from_the_fit_calls_targets_are_probed_together_and_silent():
    report = ae_magic.check(_cell(), namespace={}, data="x_train", seed=0)
    assert report.internal_errors == [] and not report.coverage.get("skipped"), report.text()
    assert _loud(report) == [], report.text()
    assert report.traces["training"]["loss_name"] == "mse + 0.2 * categorical_crossentropy"
    note = next(n for n in report.notes if "a loss on each of 2 outputs" in n)
    assert "the targets the cell's fit passes" in note


def test_heads_without_a_fit_call_are_read_as_the_targets_blocks_in_order():
    report = ae_magic.check(_cell(fit=""), namespace={}, data="x_train", seed=0)
    assert report.internal_errors == [] and not report.coverage.get("skipped"), report.text()
    assert _loud(report) == [], report.text()
    assert any("the heads in order" in n for n in report.notes), report.notes


def test_a_dict_loss_and_a_dict_of_targets_are_matched_by_name():
    report = ae_magic.check(_cell(heads='{"cat_head": cat_head, "num_head": num_head}',
                                  loss='{"num_head": "mse", "cat_head": "categorical_crossentropy"}',
                                  weights='{"num_head": 1.0, "cat_head": 0.2}',
                                  fit='model.fit(x_train, {"num_head": x_num, "cat_head": x_cat}, epochs=1, verbose=0)'),
                            namespace={}, data="x_train", seed=0)
    assert report.internal_errors == [] and not report.coverage.get("skipped"), report.text()
    assert _loud(report) == [], report.text()


def test_a_fault_of_the_joined_heads_is_found():
    # SGD at 1e-5: nothing moves over the probe run, on either head.
    report = ae_magic.check(_cell(optimizer="keras.optimizers.SGD(learning_rate=1e-5)"), namespace={}, data="x_train", seed=0)
    assert report.internal_errors == [] and not report.coverage.get("skipped"), report.text()
    assert {f.code for f in _loud(report)} & {"AE402", "AE405"}, report.text()


def test_heads_that_are_not_the_targets_blocks_are_skipped_with_the_reason():
    # The categorical head first, but the table's categorical columns are last, and no fit call says otherwise.
    report = ae_magic.check(_cell(heads="[cat_head, num_head]", loss='["categorical_crossentropy", "mse"]', weights="[0.2, 1.0]",
                                  fit=""), namespace={}, data="x_train", seed=0)
    assert report.internal_errors == []
    reason = report.coverage["skipped"].get("training", "")
    assert "not what the head's loss" in reason, report.coverage
    assert "no problems found" not in report.text().lower()


def test_a_head_trained_on_logits_is_skipped_with_the_reason():
    report = ae_magic.check(_cell(loss='["mse", keras.losses.CategoricalCrossentropy(from_logits=True)]'),
                            namespace={}, data="x_train", seed=0)
    assert report.internal_errors == []
    assert "from_logits" in report.coverage["skipped"].get("training", ""), report.coverage


def test_each_heads_range_is_judged_on_its_own_block():
    # Softmax first: the whole target spans [-1, 1], which no softmax reaches, but the softmax's block is one-hot.
    report = ae_magic.check(_cell(heads="[cat_head, num_head]", loss='["categorical_crossentropy", "mse"]', weights="[0.2, 1.0]",
                                  fit="model.fit(x_train, [x_cat, x_num], epochs=1, batch_size=32, verbose=0)"),
                            namespace={}, data="x_train", seed=0)
    assert report.internal_errors == [] and not report.coverage.get("skipped"), report.text()
    assert _loud(report) == [], report.text()


def test_a_head_whose_block_lies_outside_its_range_is_ae203_at_that_head():
    src = _cell().replace('activation="tanh", name="num_head"', 'activation="sigmoid", name="num_head"')
    report = ae_magic.check(src, namespace={}, data="x_train", seed=0)
    f = next((f for f in _loud(report) if f.code == "AE203"), None)
    assert f is not None and f.evidence["head"] == "num_head", report.text()
    assert "num_head = layers.Dense" in (f.source_line or "")


def test_one_loss_for_several_outputs_trains_every_head_as_fit_does():
    # Keras 3's compile applies a single loss to each output and sums them: both heads are trained.
    report = ae_magic.check(_cell(loss='"mse"', weights="None"), namespace={}, data="x_train", seed=0)
    assert report.internal_errors == [] and not report.coverage.get("skipped"), report.text()
    assert _loud(report) == [], report.text()
    assert report.traces["training"]["loss_name"] == "mse + mse"


def test_one_loss_for_several_outputs_still_judges_each_heads_range():
    src = _cell(loss='"mse"', weights="None").replace('activation="tanh", name="num_head"', 'activation="sigmoid", name="num_head"')
    report = ae_magic.check(src, namespace={}, data="x_train", seed=0)
    f = next((f for f in _loud(report) if f.code == "AE203"), None)
    assert f is not None and f.evidence["head"] == "num_head", report.text()
