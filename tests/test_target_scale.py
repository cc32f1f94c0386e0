"""AE201 for a raw target behind a model that standardises its own input (round 18's housing table)."""

from __future__ import annotations

import ae_magic

CELL = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(1)
n = 600
sqft = rng.normal(1800, 500, n).clip(400)
age = rng.uniform(0, 80, n)
income = rng.normal(65000, 18000, n).clip(15000) + 8 * sqft
price = 150 * sqft + 2.0 * income - 1200 * age + rng.normal(0, 20000, n)
x = np.column_stack([sqft, age, income, price, rng.normal(size=n)]).astype("float32")

normalizer = layers.Normalization(axis=-1)
normalizer.adapt(x)
inputs = keras.Input(shape=(5,))
h = layers.Dense(16, activation="relu")(normalizer(inputs))
code = layers.Dense(2, activation="relu")(h)
h = layers.Dense(16, activation="relu")(code)
outputs = layers.Dense(5)(h)
OUTPUT
model = keras.Model(inputs, outputs)
model.compile(optimizer="adam", loss="mse")
"""


def _check(output: str = "", **kw: object) -> ae_magic.Report:
    return ae_magic.check(CELL.replace("OUTPUT", output), namespace={}, data="x", seed=0, train=False, **kw)


def test_a_raw_target_behind_an_input_normalization_is_named_at_the_output_layer() -> None:
    report = _check()
    f = report.get("AE201")
    assert f is not None and f.title == "The target is not normalised", report.text()
    assert f.line == 19 and f.source_line.startswith("outputs = layers.Dense(5)"), (f.line, f.source_line)
    assert f.evidence["input_scaled_by"] and f.evidence["target_abs_max"] > 1e5
    assert "normalizer(x)" in f.fix


def test_an_output_brought_back_to_raw_units_is_silent() -> None:
    undo = ("denorm = layers.Normalization(axis=-1, invert=True)\n"
            "denorm.adapt(x)\n"
            "outputs = denorm(outputs)")
    report = _check(undo)
    assert "AE201" not in report.codes, report.text()


def test_a_standardised_target_is_silent_and_raw_data_gets_the_data_finding_once() -> None:
    report = ae_magic.check(CELL.replace("OUTPUT", "").replace("normalizer.adapt(x)",
                                                               "x = (x - x.mean(0)) / x.std(0)\nnormalizer.adapt(x)"),
                            namespace={}, data="x", seed=0, train=False)
    assert "AE201" not in report.codes, report.text()
    # Without the Normalization layer the input itself is raw: one AE201, on the data.
    raw = CELL.replace("OUTPUT", "").replace("layers.Dense(16, activation=\"relu\")(normalizer(inputs))",
                                             "layers.Dense(16, activation=\"relu\")(inputs)")
    report = ae_magic.check(raw, namespace={}, data="x", seed=0, train=False)
    titles = [f.title for f in report.findings if f.code == "AE201"]
    assert titles and "The target is not normalised" not in titles, report.text()


def test_a_raw_clean_target_for_standardised_noisy_inputs_is_named() -> None:
    cell = CELL.replace("OUTPUT", "").replace("h = layers.Dense(16, activation=\"relu\")(normalizer(inputs))",
                                              "h = layers.Dense(16, activation=\"relu\")(inputs)")
    cell += "x_noisy = (x - x.mean(0)) / x.std(0) + 0.1 * rng.normal(size=x.shape).astype('float32')\n"
    report = ae_magic.check(cell, namespace={}, data="x_noisy", target="x", seed=0, train=False)
    f = report.get("AE201")
    assert f is not None and f.title == "The target is not normalised", report.text()
    assert "x = (x - x.mean(axis=0))" in f.fix
