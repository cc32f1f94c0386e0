"""A train_step term summed over the batch beside one averaged over it (round 54's bs08).

keras.io's VAE with ``kl = ops.mean(ops.sum(kl, axis=0))``: the KL summed over the batch axis, the
reconstruction averaged, so the KL weighs batch-size times more than the step means. The probe measures
it (the same samples repeated in one batch: a sum grows, a mean does not) and AE407 names the line.
The keras.io step itself stays silent; a reconstruction summed over the batch (the KL made light) is info.
"""

from __future__ import annotations

import pytest

import ae_magic
from ae_magic.checks.batch_sum import _kind, reduction_line
from ae_magic.context import Context
from tests.test_train_step import BACKEND, assert_same, state_of, vae_cell

HEALTHY = vae_cell(BACKEND)
KL_OVER_BATCH = HEALTHY.replace("kl = ops.mean(ops.sum(kl, axis=1))", "kl = ops.mean(ops.sum(kl, axis=0))")
RECON_OVER_BATCH = HEALTHY.replace("rec = ops.mean(ops.sum(", "rec = ops.sum(ops.sum(")


def _loud(report: ae_magic.Report) -> list:
    return [f for f in report.findings if f.severity in ("warning", "error")]


def test_the_cells_differ_from_the_healthy_one():
    assert KL_OVER_BATCH != HEALTHY and RECON_OVER_BATCH != HEALTHY


def test_a_kl_summed_over_the_batch_is_ae407_at_the_line_that_sums_it():
    report = ae_magic.check(KL_OVER_BATCH, namespace={}, data="x")
    assert not report.internal_errors, report.internal_errors
    scaling = report.traces["training"]["batch_scaling"]
    small, big = scaling["terms"]["kl_loss"]
    assert big == pytest.approx(scaling["repeat"] * small, rel=0.05)
    hit = next(f for f in _loud(report) if f.code == "AE407")
    assert hit.source_line.strip() == "kl = ops.mean(ops.sum(kl, axis=0))"
    assert "summed" in hit.message or "sums `kl_loss` over the batch" in hit.message
    assert hit.evidence["summed_over_batch"] == ["kl_loss"]
    assert hit.evidence["averaged_over_batch"] == ["reconstruction_loss"]
    assert "axis=1" in hit.fix


def test_the_keras_io_step_is_silent_and_its_terms_do_not_scale():
    report = ae_magic.check(HEALTHY, namespace={}, data="x")
    assert not report.internal_errors, report.internal_errors
    assert not _loud(report), [(f.code, f.title) for f in _loud(report)]
    assert not any("batch" in f.title for f in report.findings)
    terms = report.traces["training"]["batch_scaling"]["terms"]
    assert {k: _kind(v, 4) for k, v in terms.items()} == {"reconstruction_loss": "mean", "kl_loss": "mean"}


def test_a_reconstruction_summed_over_the_batch_is_only_info():
    report = ae_magic.check(RECON_OVER_BATCH, namespace={}, data="x")
    assert not report.internal_errors, report.internal_errors
    assert not any(f.code == "AE407" for f in _loud(report))
    note = next(f for f in report.findings if f.code == "AE407")
    assert note.severity == "info" and "reconstruction_loss" in note.title


def test_measuring_the_scaling_leaves_the_model_as_it_was():
    ns: dict = {}
    session = ae_magic.Session.from_cell(KL_OVER_BATCH, namespace=ns, data="x")
    before = state_of(ns["vae"])
    report = session.run()
    assert "batch_scaling" in report.traces["training"]
    assert_same(before, state_of(ns["vae"]))


def test_kind_reads_sums_means_and_neither():
    assert _kind([2.0, 8.0], 4) == "sum"
    assert _kind([2.0, 2.1], 4) == "mean"
    assert _kind([2.0, 4.0], 4) is None  # neither: a term that half-scales is not judged
    assert _kind([0.0, 0.0], 4) is None
    assert _kind([1.0, float("nan")], 4) is None
    assert _kind([-1.0, 4.0], 4) is None


TF_STYLE = """\
class VAE(keras.Model):
    def train_step(self, data):
        with tf.GradientTape() as tape:
            z_mean, z_log_var, z = self.encoder(data)
            reconstruction = self.decoder(z)
            rec = tf.reduce_mean(tf.reduce_sum(tf.square(data - reconstruction), axis=1))
            kl = -0.5 * (1 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var))
            kl = tf.reduce_mean(tf.reduce_sum(kl, axis=0))
            total = rec + kl
        self.kl_tracker.update_state(kl)
        return {"loss": total, "recon": rec, "kl_loss": self.kl_tracker.result()}
"""


def test_reduction_line_follows_the_tracker_to_the_sum_over_axis_0():
    ctx = Context(source=TF_STYLE)
    line, text = reduction_line(ctx, "kl_loss")
    assert text.strip() == "kl = tf.reduce_mean(tf.reduce_sum(kl, axis=0))" and line == 8
    line, text = reduction_line(ctx, "recon")
    # No sum over the batch for the reconstruction: the step's last assignment to it.
    assert text.strip().startswith("rec = tf.reduce_mean") and line == 6
