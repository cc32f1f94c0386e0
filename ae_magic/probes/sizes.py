"""The sizes of the probes, and the thresholds of their measurements.

The thresholds the judges apply to the measurements live in
:mod:`ae_magic.checks.gradients` and :mod:`ae_magic.checks.training`.
"""

from __future__ import annotations

# Chosen so the default check() of a dense 784-128-32-128-784 autoencoder on
# 2,000 samples spends about two seconds in the probes on two CPU cores (see
# benchmarks/bench_probe.py and docs/probes.md).
DEFAULT_EPOCHS = 3
# ...but at least this many steps, so small data sets (a few hundred
# samples: a handful of steps per epoch) still get a run long enough to leave
# the "predict the mean image" phase and to settle BatchNorm's moving
# statistics (1 - 0.99**120 = 70% of the way).
MIN_STEPS = 120
# Samples the probes train on at most (a random subset of larger data).
DEFAULT_SUBSET = 2048
# Keras' own default batch size, so the probe sees the same noise as fit().
DEFAULT_BATCH = 32
# Share of the subset held out for the validation loss and the baselines.
VAL_SHARE = 0.1
MIN_VAL = 16
# Batches the gradient probe averages over (AUTOTRAINER reads one batch; a
# few make the norms less noisy at no real cost).
GRAD_BATCHES = 4
# Samples of the forward pass that measures activations (dead/saturated
# units): enough that "zero for every sample" is a strong statement.
ACT_SAMPLES = 256
# Fixed samples whose reconstructions are kept before/after the probe run.
RECON_SAMPLES = 8
# Per-layer gradient norms are sampled at about this many steps of the run.
GRAD_SAMPLES = 40
# Validation-loss evaluations per epoch (no minibatch noise: AE403 reads
# this curve, not the noisy per-step loss).
VAL_POINTS_PER_EPOCH = 4
# Steps between progress callbacks (each needs the loss on the host).
PROGRESS_EVERY = 4
# Learning-rate range test: exponentially from RANGE_LR_MIN to RANGE_LR_MAX
# over RANGE_STEPS steps (Smith 2017, "Cyclical learning rates"; fastai's
# lr_find uses 100 steps over 1e-7..10, we need fewer decades and steps).
RANGE_STEPS = 48
RANGE_LR_MIN = 1e-5
RANGE_LR_MAX = 1.0
# Stop the range test once the smoothed loss exceeds this multiple of its
# best value (fastai stops at 4x).
RANGE_STOP_FACTOR = 4.0
# Exponential smoothing of the range test's loss (fastai: 0.98 over 100
# steps; fewer steps need less smoothing).
RANGE_SMOOTHING = 0.7
# Steps the AE406 confirmation compares the configured and the suggested
# learning rate over (the first steps of the probe run, same batches).
CONFIRM_STEPS = 40
# Used when the model is not compiled (docs/faults.md AE109).
FALLBACK_LR = 1e-3
# Output of a sigmoid outside [SIGMOID_SAT, 1 - SIGMOID_SAT] (|z| > 4.6) or a
# tanh beyond +-TANH_SAT (|z| > 2.3) has a derivative below 4% of its peak:
# the flat region. DeepDiagnosis uses |pre-activation| > 5 for sigmoid.
SIGMOID_SAT = 0.01
TANH_SAT = 0.98
# A unit counts as saturated when it is flat for at least this share of the
# samples ("most samples", docs/faults.md AE305).
SAT_SAMPLE_SHARE = 0.5
# Rows of the training slice the PCA baseline is fitted on (halved for inputs
# wider than 4096 features): numpy's SVD of 1024x784 takes ~0.1 s here.
PCA_MAX_ROWS = 1024

SIGMOID_LIKE = {"sigmoid", "hard_sigmoid"}
TANH_LIKE = {"tanh", "hard_tanh"}
