"""Round 47: classes found by fresh cells (session 28).

* A standalone encoder whose code the autoencoder never passes through (au07: the decoder's first layer reads
  ``h1`` instead of ``code``): AE103 at the decoder's line (``wiring.check_encoder_off_path``). The autoencoder is
  narrower than its input and ``code`` feeds a model, so neither AE104 nor AE102 said anything.
* A model the cell had already trained, jolted by the probes' fresh optimizer (as08): not AE401.
"""

from __future__ import annotations

import ae_magic


def _line(src: str, text: str) -> int:
    return next(i for i, line in enumerate(src.splitlines(), start=1) if text in line)


FEATURES = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(21)
x_train = np.tanh(rng.normal(size=(800, 4)) @ rng.normal(size=(4, 60)) / 2).astype("float32")

inp = keras.Input(shape=(60,))
h1 = layers.Dense(32, activation="relu")(inp)
code = layers.Dense(8, activation="relu", name="code")(h1)
h2 = layers.Dense(32, activation="relu")(READS)
out = layers.Dense(60)(h2)

autoencoder = keras.Model(inp, out)
NAME = keras.Model(inp, code)
autoencoder.compile(optimizer="adam", loss="mse")
"""


def test_an_encoder_whose_code_the_autoencoder_skips_is_ae103_at_the_decoders_line():
    src = FEATURES.replace("READS", "h1").replace("NAME", "encoder")
    report = ae_magic.check(src, namespace={}, data="x_train", train=False)
    f = next(f for f in report.findings if f.code == "AE103")
    assert f.line == _line(src, "h2 = layers.Dense")
    assert f.evidence["code_variable"] == "code" and f.evidence["encoder"] == "encoder"
    assert "(code)" in f.fix


def test_a_decoder_that_reads_the_input_leaves_the_whole_encoder_out():
    """Round 59's cg06: the decoder copied from the tutorial starts from `(inputs)`, so the autoencoder is a
    32-wide MLP beside an encoder that fit never trains (its 2-D latent plot shows nothing)."""
    src = FEATURES.replace("READS", "inp").replace("NAME", "encoder")
    report = ae_magic.check(src, namespace={}, data="x_train", train=False)
    f = next((f for f in report.findings if f.code == "AE103"), None)
    assert f is not None, report.text()
    assert f.line == _line(src, "h2 = layers.Dense") and "(code)" in f.fix
    assert "the encoder's 2 layers" in f.message and f.evidence["reads"] == "inp"


def test_the_encoder_on_the_autoencoders_path_is_silent():
    src = FEATURES.replace("READS", "code").replace("NAME", "encoder")
    report = ae_magic.check(src, namespace={}, data="x_train", train=False)
    assert "AE103" not in report.codes


def test_a_head_that_shows_the_code_is_not_read_as_the_code():
    src = FEATURES.replace("READS", "code").replace("NAME", "encoder_view")
    src = src.replace("encoder_view = keras.Model(inp, code)",
                      "code_visualization = layers.Dense(2, name='vis')(code)\nencoder_view = keras.Model(inp, code_visualization)")
    report = ae_magic.check(src, namespace={}, data="x_train", train=False)
    assert "AE103" not in report.codes


def test_a_plot_head_off_the_code_is_not_read_as_the_code():
    src = FEATURES.replace("READS", "code").replace("NAME", "encoder")
    src = src.replace("encoder = keras.Model(inp, code)", "z_2d = layers.Dense(2)(code)\nencoder = keras.Model(inp, z_2d)")
    report = ae_magic.check(src, namespace={}, data="x_train", train=False)
    assert "AE103" not in report.codes


def test_a_side_model_that_is_not_an_encoder_is_not_read_as_the_code():
    src = FEATURES.replace("READS", "h1").replace("NAME", "probe_head")
    report = ae_magic.check(src, namespace={}, data="x_train", train=False)
    assert "AE103" not in report.codes


def _jolt_trace(start: float, mean: float) -> dict:
    # as08's shape (round 47): the training loss jumps 46x at step 1 and falls back; the held-out loss never
    # spikes and ends below its start.
    train = [start, 46 * start, 6 * start, 11 * start, 4 * start] + [2.0 * start * 0.97**i for i in range(40)]
    val = [start * v for v in (1.0, 4.0, 2.0, 1.6, 1.3, 1.1, 0.9, 0.8, 0.7, 0.6)]
    return {"loss": train, "val_curve": {"steps": list(range(0, 45, 5)), "loss": val}, "val_loss_before": start,
            "diverged": False, "lr": 1e-3, "steps_per_epoch": 45, "epochs": 1,
            "baselines": {"loss_units": {"mean": mean}}}


def test_a_fresh_optimizers_jolt_of_a_model_the_cell_trained_is_not_ae401():
    from ae_magic.checks.loss_curve import diverged
    from ae_magic.context import Context

    ctx = Context(source="", namespace={})
    assert diverged(ctx, _jolt_trace(0.0045, 0.077), None) == []
    # The same curve from a model that starts untrained (at the mean's loss) is a divergence.
    assert [f.code for f in diverged(ctx, _jolt_trace(0.07, 0.077), None)] == ["AE401"]


def _cu07_trace(end_share: float, start: float = 0.0037, mean: float = 0.102) -> dict:
    # Round 66's cu07: a masked LSTM autoencoder the cell fit for 4 epochs; the probes' fresh Adam(2e-3) sends
    # the held-out loss 19x up at step 10 and it falls back, ending at end_share of its start.
    val = [start * v for v in (1.0, 19.0, 11.4, 5.8, 3.9, 3.3, 2.3, 1.6, 1.4, 1.2, 1.3, 1.06, 0.98, 0.98, 0.91)]
    val.append(start * end_share)
    train = [0.004, 0.30, 0.044, 0.047, 0.097, 0.06, 0.10] + [0.06 * 0.97**i for i in range(120)]
    return {"loss": train, "val_curve": {"steps": list(range(0, 160, 10)), "loss": val}, "val_loss_before": start,
            "diverged": False, "lr": 2e-3, "steps_per_epoch": 43, "epochs": 3,
            "baselines": {"loss_units": {"mean": mean}}}


def test_a_held_out_jolt_of_a_trained_model_that_ends_below_its_start_is_not_ae401():
    from ae_magic.checks.loss_curve import diverged
    from ae_magic.context import Context

    ctx = Context(source="", namespace={})
    assert diverged(ctx, _cu07_trace(0.95), None) == []
    # The same jolt that does not come back below where the trained model began is a divergence,
    assert [f.code for f in diverged(ctx, _cu07_trace(1.5), None)] == ["AE401"]
    # and so is the same curve from a model that starts untrained (at the mean's loss).
    assert [f.code for f in diverged(ctx, _cu07_trace(0.95, start=0.09), None)] == ["AE401"]
