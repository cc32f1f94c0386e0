"""Probes: measure a *copy* of the user's model while it runs.

One :class:`ProbeSession` per (model, data) holds a clone of the model (its
architecture and weights), a fresh optimizer of the same class and config, a
single compiled train step and the data split. Every probe starts from a
snapshot of the clone's initial state and restores it afterwards, so

* the gradient probe (a few steps with the learning rate set to 0),
* the learning-rate range test (exponentially growing learning rate),
* the training probe (a short run),
* the confirmation run behind AE406, and
* every re-run with another learning rate (``rerun``)

all share one traced ``tf.function``: the learning rate lives in the
optimizer's variable and the batch axis is left open in the input signature,
so nothing is re-traced after the first step.

The user's model, its optimizer and its compiled state are only ever read
(``get_weights``, ``get_config``); nothing here assigns to them. The
thresholds used by the judges live in :mod:`ae_magic.checks.gradients` and
:mod:`ae_magic.checks.training`; the sizes of the probes live here.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from . import keras_compat as kc

keras = kc.keras

# -- probe sizes ---------------------------------------------------------
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
# Used when the model is not compiled (FAULTS.md AE109).
FALLBACK_LR = 1e-3
# Output of a sigmoid outside [SIGMOID_SAT, 1 - SIGMOID_SAT] (|z| > 4.6) or a
# tanh beyond +-TANH_SAT (|z| > 2.3) has a derivative below 4% of its peak:
# the flat region. DeepDiagnosis uses |pre-activation| > 5 for sigmoid.
SIGMOID_SAT = 0.01
TANH_SAT = 0.98
# A unit counts as saturated when it is flat for at least this share of the
# samples ("most samples", FAULTS.md AE305).
SAT_SAMPLE_SHARE = 0.5

SIGMOID_LIKE = {"sigmoid", "hard_sigmoid"}
TANH_LIKE = {"tanh", "hard_tanh"}


from .errors import ProbeError  # noqa: E402  (re-exported: the probes raise it)


# Keras internals (global seed state, the Layer.__call__ hook) live in
# keras_compat; re-exported here because the probes read as one story.
seeded = kc.seeded
record_outputs = kc.record_outputs


# -- layers ----------------------------------------------------------------
def leaf_layers(model: Any) -> list[Any]:
    """The model's layers with nested models expanded (InputLayers dropped)."""
    out: list[Any] = []
    seen: set[int] = set()

    def walk(m: Any) -> None:
        for layer in getattr(m, "layers", []):
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            if isinstance(layer, keras.Model):
                walk(layer)
            elif type(layer).__name__ != "InputLayer":
                out.append(layer)

    walk(model)
    return out


def layers_by_name(model: Any) -> dict[str, Any]:
    """Leaf layers of ``model`` keyed by name."""
    return {layer.name: layer for layer in leaf_layers(model)}


def activation_stats(layer: Any, out: np.ndarray) -> tuple[float | None, float | None]:
    """``(dead_share, saturated_share)`` of one layer's output batch.

    A unit is a feature of a Dense layer or a channel of a conv/recurrent
    one (last axis). A ReLU unit is dead when it is zero for every sample
    (and every position): counting per unit, not per activation, is the
    lesson of DeepDiagnosis' false alarms (PRIOR-ART.md). A sigmoid/tanh unit
    is saturated when it sits in its flat region for at least
    ``SAT_SAMPLE_SHARE`` of the samples and positions.
    """
    act = kc.activation_name(layer)
    if act is None or out.ndim < 2 or out.shape[-1] == 0:
        return None, None
    flat = out.reshape(-1, out.shape[-1]).astype(np.float64)
    if act in kc.RELU_LIKE:
        dead = np.all(flat <= 0.0, axis=0)
        return float(dead.mean()), None
    if act in SIGMOID_LIKE:
        flat_region = (flat < SIGMOID_SAT) | (flat > 1.0 - SIGMOID_SAT)
    elif act in TANH_LIKE:
        flat_region = np.abs(flat) > TANH_SAT
    else:
        return None, None
    return None, float((flat_region.mean(axis=0) >= SAT_SAMPLE_SHARE).mean())


# -- cloning -------------------------------------------------------------
clone_model = kc.clone_model


def _fresh_loss(model: Any) -> tuple[Callable[[Any, Any], Any], str]:
    loss = kc.compiled_loss(model)
    if isinstance(loss, (list, tuple, dict)):
        raise ProbeError("the probes support one reconstruction output with one loss; this model has several.")
    if isinstance(loss, str):
        fn = keras.losses.get(loss)
        return fn, loss
    if isinstance(loss, keras.losses.Loss):
        try:
            return type(loss).from_config(loss.get_config()), type(loss).__name__
        except Exception:
            return loss, type(loss).__name__
    if callable(loss):
        return loss, getattr(loss, "__name__", "loss")
    raise ProbeError(f"can't use the compiled loss {loss!r}.")


def _fresh_optimizer(model: Any, lr_override: float | None) -> tuple[Any, float]:
    """A new optimizer of the user's class and config, learning rate as a float."""
    opt = getattr(model, "optimizer", None)
    lr = kc.optimizer_lr(opt) if opt is not None else None
    if opt is None:
        cls, cfg = keras.optimizers.Adam, {"learning_rate": FALLBACK_LR}
        lr = FALLBACK_LR
    else:
        cls, cfg = type(opt), dict(opt.get_config())
        if lr is None:  # a schedule: start where it starts
            with contextlib.suppress(Exception):
                lr = float(keras.ops.convert_to_numpy(opt.learning_rate))
        lr = FALLBACK_LR if lr is None else lr
    if lr_override is not None:
        lr = float(lr_override)
    cfg["learning_rate"] = float(lr)
    # Loss-scale wrappers and similar keep the inner optimizer in the config.
    try:
        fresh = cls.from_config(cfg)
    except Exception:
        fresh = keras.optimizers.Adam(learning_rate=float(lr))
    return fresh, float(lr)


# -- the session -----------------------------------------------------------
class ProbeSession:
    """A copy of the model, its compiled step and the data split.

    ``model`` is only read. With ``owned=True`` (a model ae_magic built
    itself, e.g. a latent-size rebuild) it is used directly; ``compile_from``
    then names the model whose loss/optimizer to copy.
    """

    def __init__(
        self,
        model: Any,
        data: np.ndarray,
        target: np.ndarray | None = None,
        *,
        seed: int = 0,
        lr: float | None = None,
        owned: bool = False,
        compile_from: Any = None,
        notes: list[str] | None = None,
    ) -> None:
        import tensorflow as tf

        self.tf = tf
        self.notes: list[str] = notes if notes is not None else []
        self.seed = int(seed)
        self.source_model = model
        src = compile_from if compile_from is not None else model
        if len(kc.keras.tree.flatten(getattr(model, "inputs", None) or [0])) > 1:
            raise ProbeError("the probes support models with one input; this model has several.")
        x = np.asarray(data)
        y = x if target is None else np.asarray(target)
        if x.ndim < 2 or len(x) < 4:
            raise ProbeError(f"the probes need at least 4 samples with a batch axis; the data has shape {x.shape}.")
        if len(y) != len(x):
            raise ProbeError(f"data has {len(x)} samples but the target has {len(y)}.")
        self.x_all, self.y_all = x, y
        self.same_target = target is None or target is data
        with seeded(self.seed):
            sample = _as_input(x[:2])
            if owned:
                self.model, self.in_place = model, False
            else:
                self.model, self.in_place = clone_model(model, sample)
            if self.in_place:
                self.notes.append(
                    f"Model '{model.name}' could not be copied (subclassed without get_config); the probes ran "
                    "on it directly and restored every variable afterwards."
                )
            if not kc.is_compiled(src):
                self.notes.append("The model is not compiled: the probes used MSE and Adam(learning_rate=1e-3).")
                self.loss_fn, self.loss_name = keras.losses.get("mse"), "mse"
                self.optimizer, self.configured_lr = keras.optimizers.Adam(learning_rate=FALLBACK_LR), FALLBACK_LR
                if lr is not None:
                    self.configured_lr = float(lr)
            else:
                self.loss_fn, self.loss_name = _fresh_loss(src)
                self.optimizer, self.configured_lr = _fresh_optimizer(src, lr)
            self.lr = self.configured_lr
            # A loss "from_logits" means the model outputs logits: compare
            # sigmoid/softmax of them with the target (MSE, spread, images).
            family = kc.canonical_loss(src) if kc.is_compiled(src) else "mse"
            self.logits = None
            if kc.loss_config(src).get("from_logits"):
                self.logits = "softmax" if family in ("cce", "scce") else "sigmoid"
            # Build the model (subclassed copies) and the optimizer outside
            # the tf.function so their variables exist before tracing.
            if not getattr(self.model, "built", True):
                self.model(sample)
            self.train_vars = list(self.model.trainable_variables)
            self.optimizer.build(self.train_vars)
            self._set_lr(self.lr)
        self._layers = leaf_layers(self.model)
        self._order_layers(sample)
        self._group_vars()
        self.user_snapshot = self.snapshot() if self.in_place else None
        self.initial = self.snapshot()
        self._step = self._make_step()
        self.split: dict[str, Any] = {}

    # -- state --------------------------------------------------------------
    def snapshot(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Values of every model and optimizer variable."""
        return (
            [np.array(v.numpy(), copy=True) for v in self.model.variables],
            [np.array(v.numpy(), copy=True) for v in self.optimizer.variables],
        )

    def restore(self, snap: tuple[list[np.ndarray], list[np.ndarray]]) -> None:
        """Put a snapshot back (model and optimizer variables)."""
        model_vals, opt_vals = snap
        for v, val in zip(self.model.variables, model_vals, strict=True):
            v.assign(val)
        for v, val in zip(self.optimizer.variables, opt_vals, strict=True):
            v.assign(val)

    def reset(self) -> None:
        """Back to the user's weights and a fresh optimizer state."""
        self.restore(self.initial)

    def release(self) -> None:
        """Restore the user's model when the probes had to run on it in place."""
        if self.in_place and self.user_snapshot is not None:
            self.restore(self.user_snapshot)

    def _set_lr(self, lr: float) -> None:
        # Keras 3 keeps a float learning rate in a variable: assigning it does
        # not re-trace the compiled step.
        self.optimizer.learning_rate = float(lr)

    # -- structure ----------------------------------------------------------
    def _order_layers(self, sample: np.ndarray) -> None:
        """Forward order of the leaf layers, from one recorded eager call."""
        wanted = {id(layer): layer for layer in self._layers}
        with record_outputs(wanted) as seen:
            outputs = self.model(sample, training=False)
        called = [wanted[i] for i in seen]
        rest = [layer for layer in self._layers if id(layer) not in seen]
        self.layers = called + rest
        self.output_layers: set[str] = set()
        out_flat = [np.asarray(o) for o in keras.tree.flatten(outputs)]
        # The layers that produce the model's output (and the width-preserving
        # layers right before it) are judged apart: a sigmoid output that
        # saturates toward 0/1 targets is doing its job.
        for layer in reversed(called):
            outs = seen[id(layer)]
            val = np.asarray(outs[-1]) if not isinstance(outs[-1], (list, tuple)) else None
            if val is not None and any(val.shape == o.shape and np.array_equal(val, o) for o in out_flat):
                self.output_layers.add(layer.name)
            else:
                break
        self.widths: dict[str, int] = {}
        self.units: dict[str, int] = {}
        for layer in called:
            out = seen[id(layer)][0]
            shape = getattr(out, "shape", None)
            if shape is not None and len(shape) >= 2:
                self.widths[layer.name] = int(np.prod([int(d) for d in shape[1:]]))
                self.units[layer.name] = int(shape[-1])

    def _group_vars(self) -> None:
        owner: dict[int, int] = {}
        for li, layer in enumerate(self.layers):
            for v in layer.trainable_variables:
                owner.setdefault(id(v), li)
        self.var_layer = [owner.get(id(v), -1) for v in self.train_vars]

    # -- the compiled step --------------------------------------------------
    def _make_step(self) -> Any:
        """One compiled function that runs ``k`` train steps in a graph loop.

        ``run(xs, ys, lrs)`` takes ``k`` stacked batches and ``k`` learning
        rates (the lr is assigned to the optimizer's variable before each
        step, so the gradient probe (lr 0), the range test (growing lr), the
        training probe and every re-run share this one trace) and returns
        the ``k`` losses and the ``k x n_vars`` gradient norms (-1: None).
        Looping inside the graph saves the per-step Python dispatch that
        ``fit`` pays (like ``steps_per_execution``).
        """
        tf = self.tf
        model, loss_fn, opt, tvars = self.model, self.loss_fn, self.optimizer, self.train_vars
        lr_var = _lr_variable(opt)
        xs_spec = tf.TensorSpec((None, None, *self.x_all.shape[1:]), _tf_dtype(self.x_all))
        ys_spec = tf.TensorSpec((None, None, *self.y_all.shape[1:]), _tf_dtype(self.y_all))
        lr_spec = tf.TensorSpec((None,), tf.float32)
        nvar = len(tvars)

        def one(x: Any, y: Any) -> tuple[Any, Any]:
            with tf.GradientTape() as tape:
                pred = model(x, training=True)
                loss = tf.reduce_mean(tf.cast(loss_fn(y, pred), tf.float32))
                extra = model.losses
                if extra:
                    loss = loss + tf.add_n([tf.cast(t, tf.float32) for t in extra])
            grads = tape.gradient(loss, tvars)
            pairs = [(g, v) for g, v in zip(grads, tvars, strict=True) if g is not None]
            if pairs:
                opt.apply_gradients(pairs)
            norms = [
                tf.constant(-1.0, tf.float32) if g is None else tf.norm(tf.cast(_dense(tf, g), tf.float32))
                for g in grads
            ]
            return loss, tf.stack(norms) if norms else tf.zeros((0,), tf.float32)

        def run(xs: Any, ys: Any, lrs: Any) -> tuple[Any, Any]:
            k = tf.shape(xs)[0]
            losses = tf.TensorArray(tf.float32, size=k)
            norms = tf.TensorArray(tf.float32, size=k, element_shape=(nvar,))
            for i in tf.range(k):
                lr_var.assign(tf.cast(lrs[i], lr_var.dtype))
                loss, nv = one(xs[i], ys[i])
                losses = losses.write(i, loss)
                norms = norms.write(i, nv)
            return losses.stack(), norms.stack()

        self._forward = tf.function(
            lambda x: model(x, training=False),
            input_signature=[tf.TensorSpec((None, *self.x_all.shape[1:]), _tf_dtype(self.x_all))],
        )
        return tf.function(run, input_signature=[xs_spec, ys_spec, lr_spec])

    @property
    def tracing_count(self) -> int:
        """How often the compiled step was traced (1 after any number of probes)."""
        return int(self._step.experimental_get_tracing_count())

    def _run(self, xs: Any, ys: Any, lr: float | list[float]) -> tuple[np.ndarray, np.ndarray]:
        k = int(xs.shape[0])
        lrs = np.full(k, lr, dtype=np.float32) if not isinstance(lr, list) else np.asarray(lr, dtype=np.float32)
        losses, norms = self._step(xs, ys, self.tf.constant(lrs))
        return np.asarray(losses, dtype=np.float64), np.asarray(norms, dtype=np.float64).reshape(k, -1)

    # -- data ---------------------------------------------------------------
    def prepare(self, *, subset: int | None, batch_size: int | None, seed: int | None = None) -> dict[str, Any]:
        """Choose the subset, the validation slice and the fixed samples."""
        seed = self.seed if seed is None else int(seed)
        subset = int(subset) if subset else DEFAULT_SUBSET
        bs = int(batch_size) if batch_size else DEFAULT_BATCH
        key = (subset, bs, seed)
        if self.split.get("key") == key:
            return self.split
        rng = np.random.default_rng(seed)
        n = len(self.x_all)
        idx = np.sort(rng.choice(n, size=subset, replace=False)) if n > subset else np.arange(n)
        idx = rng.permutation(idx)
        n_val = max(MIN_VAL, round(len(idx) * VAL_SHARE))
        if len(idx) - n_val < 2:
            n_val = max(1, len(idx) // 4)
        val, tr = idx[:n_val], idx[n_val:]
        x_tr, x_val = _as_input(self.x_all[tr]), _as_input(self.x_all[val])
        if self.same_target:
            y_tr, y_val = x_tr, x_val
        else:
            y_tr, y_val = _as_input(self.y_all[tr]), _as_input(self.y_all[val])
        tf = self.tf
        self.split = {
            "key": key,
            "seed": seed,
            "batch_size": min(bs, len(tr)),
            "subset": len(idx),
            "x_tr": x_tr,
            "y_tr": y_tr,
            "x_val": x_val,
            "y_val": y_val,
            "tx": tf.constant(x_tr),
            "ty": None if self.same_target else tf.constant(y_tr),
            "recon": list(range(min(RECON_SAMPLES, n_val))),
        }
        return self.split

    def _epoch_blocks(self, epoch: int) -> list[tuple[Any, Any]]:
        """The epoch's batches as stacked blocks: ``(nb, bs, ...)`` and the remainder ``(1, r, ...)``."""
        s = self.split
        tf = self.tf
        rng = np.random.default_rng([s["seed"], epoch])
        n = len(s["x_tr"])
        perm = tf.constant(rng.permutation(n))
        xp = tf.gather(s["tx"], perm)
        yp = xp if s["ty"] is None else tf.gather(s["ty"], perm)
        bs = s["batch_size"]
        nb = n // bs
        blocks = []
        if nb:
            blocks.append((tf.reshape(xp[: nb * bs], (nb, bs, *xp.shape[1:])), tf.reshape(yp[: nb * bs], (nb, bs, *yp.shape[1:]))))
        if n - nb * bs:
            blocks.append((xp[None, nb * bs :], yp[None, nb * bs :]))
        return blocks

    def _segments(self, epoch: int, bounds: Callable[[int], bool] | None = None) -> Iterator[tuple[Any, Any]]:
        """The epoch's steps in stacked segments, cut after every step where ``bounds(step_in_epoch)``."""
        start = 0
        for xs, ys in self._epoch_blocks(epoch):
            k = int(xs.shape[0])
            a = 0
            for i in range(k):
                if bounds is not None and bounds(start + i + 1) and i + 1 < k:
                    yield xs[a : i + 1], ys[a : i + 1]
                    a = i + 1
            yield xs[a:], ys[a:]
            start += k

    def _first_steps(self, n: int) -> Iterator[tuple[Any, Any]]:
        """Stacked segments covering the first ``n`` steps of the probe's batch order."""
        done, epoch = 0, 0
        while done < n:
            for xs, ys in self._epoch_blocks(epoch):
                k = min(int(xs.shape[0]), n - done)
                if k <= 0:
                    return
                yield xs[:k], ys[:k]
                done += k
            epoch += 1

    def predict(self, x: np.ndarray, chunk: int = 512) -> np.ndarray:
        """Compiled inference on the copy (traced once, any batch size)."""
        outs = [np.asarray(self._forward(x[i : i + chunk])) for i in range(0, len(x), chunk)]
        return np.concatenate(outs, axis=0)

    def as_recon(self, pred: np.ndarray) -> np.ndarray:
        """Model output as a reconstruction (applies sigmoid/softmax to logits)."""
        if self.logits == "sigmoid":
            with np.errstate(over="ignore"):
                return (1.0 / (1.0 + np.exp(-pred.astype(np.float64)))).astype(np.float32)
        if self.logits == "softmax":
            z = pred.astype(np.float64) - pred.max(axis=-1, keepdims=True)
            e = np.exp(z)
            return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)
        return pred

    def loss_value(self, y: np.ndarray, pred: np.ndarray) -> float:
        """The training loss (without regularisation) of a prediction."""
        return float(np.mean(np.asarray(self.loss_fn(y, pred), dtype=np.float64)))

    def layer_activations(self, x: np.ndarray) -> dict[str, tuple[float | None, float | None]]:
        """Dead/saturated shares per layer from one eager forward pass."""
        wanted = {id(layer): layer for layer in self.layers}
        with record_outputs(wanted) as seen:
            self.model(x, training=False)
        stats: dict[str, tuple[float | None, float | None]] = {}
        for layer in self.layers:
            outs = seen.get(id(layer))
            if not outs or isinstance(outs[0], (list, tuple, dict)):
                continue
            try:
                arr = np.asarray(outs[0])
            except Exception:
                continue
            stats[layer.name] = activation_stats(layer, arr)
        return stats

    # -- probes -------------------------------------------------------------
    def gradient_probe(self, *, batches: int = GRAD_BATCHES, progress: Any = None) -> dict[str, Any]:
        """Per-layer gradient norms at the initial weights, and activation stats.

        Runs the compiled step with the learning rate at 0 (so the weights do
        not move) and puts every variable back afterwards.
        """
        s = self.split
        nvar = len(self.train_vars)
        norms = np.zeros((0, nvar))
        losses: list[float] = []
        with seeded(self.seed):
            self.reset()
            try:
                rows = []
                for xs, ys in self._first_steps(batches):
                    ls, nv = self._run(xs, ys, 0.0)
                    rows.append(nv)
                    for loss in ls:
                        losses.append(float(loss))
                        _emit(progress, "gradients", len(losses), batches, losses[-1])
                norms = np.concatenate(rows, axis=0).reshape(-1, nvar) if rows else norms
            finally:
                self.reset()
                self._set_lr(self.lr)
            act = self.layer_activations(s["x_tr"][:ACT_SAMPLES])
        layers = []
        for li, layer in enumerate(self.layers):
            vidx = [i for i, owner in enumerate(self.var_layer) if owner == li]
            dead, sat = act.get(layer.name, (None, None))
            if not vidx and dead is None and sat is None:
                continue
            col = norms[:, vidx] if vidx else np.zeros((len(norms), 0))
            none = [i for k, i in enumerate(vidx) if np.all(col[:, k] < 0)]
            finite = bool(np.all(np.isfinite(col)))
            per_var = np.where(col < 0, 0.0, col)
            zero = [i for k, i in enumerate(vidx) if i not in none and np.all(per_var[:, k] == 0.0)]
            # RMS over the batches of each variable's norm, then the layer's
            # L2 norm over its variables.
            var_norm = np.sqrt(np.mean(per_var**2, axis=0)) if len(per_var) else np.zeros(len(vidx))
            gnorm = float(np.sqrt(np.sum(var_norm**2))) if finite else float("nan")
            wnorm = float(np.sqrt(sum(float(np.sum(np.square(self.initial_var(i)))) for i in vidx)))
            layers.append(
                {
                    "layer": layer.name,
                    "class": type(layer).__name__,
                    "activation": kc.activation_name(layer),
                    "grad_norm": gnorm,
                    "n_vars": len(vidx),
                    "none_vars": len(none),
                    "zero_vars": len(zero),
                    "dead_share": dead,
                    "saturated_share": sat,
                    "weight_norm": wnorm,
                    "finite": finite,
                    "is_output": layer.name in self.output_layers,
                    "width": self.widths.get(layer.name),
                    "units": self.units.get(layer.name),
                }
            )
        return {"layers": layers, "batches": len(norms), "loss": losses}

    def initial_var(self, i: int) -> np.ndarray:
        """Initial value of trainable variable ``i``."""
        v = self.train_vars[i]
        for var, val in zip(self.model.variables, self.initial[0], strict=True):
            if var is v:
                return val
        return np.asarray(v.numpy())

    def run_steps(self, lrs: list[float] | float, n: int) -> list[float]:
        """From the initial state, ``n`` steps at the given learning rate(s).

        Uses the first batches of the probe run's order; restores the initial
        state afterwards. Returns the loss of each step.
        """
        losses: list[float] = []
        with seeded(self.seed):
            self.reset()
            try:
                for xs, ys in self._first_steps(n):
                    k = int(xs.shape[0])
                    lr = lrs[len(losses) : len(losses) + k] if isinstance(lrs, list) else lrs
                    ls, _ = self._run(xs, ys, lr)
                    losses.extend(float(v) for v in ls)
            finally:
                self.reset()
                self._set_lr(self.lr)
        return losses

    def range_test(self, *, steps: int = RANGE_STEPS, progress: Any = None) -> dict[str, Any]:
        """Exponentially growing learning rate; suggests the rate that learns fastest.

        All steps run in one compiled call; the curve is cut where the
        smoothed loss blows up (non-finite or RANGE_STOP_FACTOR x its best).
        """
        lrs = [float(v) for v in np.geomspace(RANGE_LR_MIN, RANGE_LR_MAX, steps)]
        raw = self.run_steps(lrs, steps)
        losses: list[float] = []
        smooth: list[float] = []
        for k, val in enumerate(raw):
            losses.append(val)
            _emit(progress, "lr_range", k + 1, steps, val, lr=lrs[k])
            if not math.isfinite(val):
                break
            prev = smooth[-1] if smooth else val
            smooth.append(RANGE_SMOOTHING * prev + (1 - RANGE_SMOOTHING) * val)
            if smooth[-1] > RANGE_STOP_FACTOR * min(smooth):
                break
        return {
            "lrs": lrs[: len(losses)],
            "losses": losses,
            "smoothed": smooth,
            "suggested": suggest_lr(lrs[: len(smooth)], smooth),
            "configured": self.configured_lr,
        }

    def train(
        self,
        *,
        epochs: int | None = None,
        steps: int | None = None,
        lr: float | None = None,
        progress: Any = None,
    ) -> dict[str, Any]:
        """The short probe run; returns the ``traces["training"]`` dict."""
        s = self.split
        spe = math.ceil(len(s["x_tr"]) / s["batch_size"])
        if steps:
            total = int(steps)
            epochs = math.ceil(total / spe)
        else:
            epochs = int(epochs) if epochs else max(DEFAULT_EPOCHS, math.ceil(MIN_STEPS / spe))
            total = epochs * spe
        lr = self.lr if lr is None else float(lr)
        every = max(1, total // GRAD_SAMPLES)
        val_every = max(1, spe // VAL_POINTS_PER_EPOCH)
        curve_steps: list[int] = [0]
        curve: list[float] = []
        curve_mse: list[float] = []
        val_mse: list[float] = []
        recon_idx = s["recon"]
        x_rec, y_val = s["x_val"][recon_idx], s["y_val"]
        loss_t: list[float] = []
        epoch_loss: list[float] = []
        val_loss: list[float] = []
        with seeded(self.seed):
            self.reset()
            self._set_lr(lr)
            try:
                pred0 = self.predict(s["x_val"])
                before = self.as_recon(pred0[recon_idx])
                val0 = self.loss_value(y_val, pred0)
                mse0 = _mse(y_val, self.as_recon(pred0))
                curve.append(val0)
                curve_mse.append(mse0)
                step = 0
                diverged = False
                all_norms: list[np.ndarray] = []

                def cut(k: int, base: int) -> bool:
                    done = base + k
                    return done % val_every == 0 or (progress is not None and done % PROGRESS_EVERY == 0)

                for ep in range(epochs):
                    start = step
                    base = step
                    for xs, ys in self._segments(ep, lambda k, base=base: cut(k, base)):
                        k = min(int(xs.shape[0]), total - step)
                        if k <= 0:
                            break
                        ls, nv = self._run(xs[:k], ys[:k], lr)
                        loss_t.extend(float(v) for v in ls)
                        all_norms.append(nv)
                        step += k
                        if step % val_every == 0 and step < total:
                            pv = self.predict(s["x_val"])
                            curve_steps.append(step)
                            curve.append(self.loss_value(y_val, pv))
                            curve_mse.append(_mse(y_val, self.as_recon(pv)))
                        if progress is not None:
                            _emit(progress, "training", step, total, loss_t[-1], epoch=ep, lr=lr)
                    ep_losses = np.array(loss_t[start:step], dtype=np.float64)
                    epoch_loss.append(float(np.mean(ep_losses)) if len(ep_losses) else float("nan"))
                    if not np.all(np.isfinite(ep_losses)):
                        diverged = True
                        val_loss.append(float("nan"))
                        break
                    pred = self.predict(s["x_val"])
                    val_loss.append(self.loss_value(y_val, pred))
                    val_mse.append(_mse(y_val, self.as_recon(pred)))
                    if curve_steps[-1] != step:
                        curve_steps.append(step)
                        curve.append(val_loss[-1])
                        curve_mse.append(val_mse[-1])
                norms_all = np.concatenate(all_norms, axis=0) if all_norms else np.zeros((0, len(self.train_vars)))
                grad_steps = list(range(0, len(norms_all), every))
                grad_rows = [norms_all[i] for i in grad_steps]
                pred = self.as_recon(self.predict(s["x_val"]))
                after = pred[recon_idx]
                act_after = self.layer_activations(s["x_tr"][:ACT_SAMPLES])
            finally:
                self._set_lr(self.lr)
                if self.in_place:
                    self.reset()
        losses = [float(v) for v in loss_t]
        gn = np.array(grad_rows, dtype=np.float64).reshape(len(grad_rows), -1)
        grad_norms: dict[str, list[float]] = {}
        for li, layer in enumerate(self.layers):
            vidx = [i for i, owner in enumerate(self.var_layer) if owner == li]
            if vidx:
                col = np.where(gn[:, vidx] < 0, 0.0, gn[:, vidx])
                grad_norms[layer.name] = [float(v) for v in np.sqrt(np.sum(col**2, axis=1))]
        y_flat = y_val.reshape(len(y_val), -1).astype(np.float64)
        p_flat = pred.reshape(len(pred), -1).astype(np.float64)
        finite_pred = bool(np.all(np.isfinite(p_flat)))
        return {
            "lr": float(lr),
            "configured_lr": self.configured_lr,
            "loss_name": self.loss_name,
            "epochs": len(epoch_loss),
            "steps_per_epoch": spe,
            "batch_size": s["batch_size"],
            "subset": s["subset"],
            "n_train": len(s["x_tr"]),
            "n_val": len(s["x_val"]),
            "loss": losses,
            "epoch_loss": epoch_loss,
            "val_loss": val_loss,
            "val_loss_before": val0,
            "has_batchnorm": any("BatchNormalization" in type(layer).__name__ for layer in self.layers),
            "val_mse": val_mse,
            "val_curve": {"steps": curve_steps[: len(curve)], "loss": curve, "mse": curve_mse},
            "diverged": diverged,
            "grad_steps": grad_steps,
            "grad_norms": grad_norms,
            "recon": {
                "shape": list(x_rec.shape[1:]),
                "target_shape": list(y_val.shape[1:]),
                "indices": [int(i) for i in recon_idx],
                "inputs": x_rec.reshape(len(x_rec), -1).tolist(),
                "targets": y_val[recon_idx].reshape(len(recon_idx), -1).tolist(),
                "before": before.reshape(len(before), -1).tolist(),
                "after": after.reshape(len(after), -1).tolist(),
            },
            "baselines": {**baselines(s, self.same_target, self.code_width()), "final": _mse(y_val, pred), "start": mse0},
            "output_spread": _spread(p_flat) if finite_pred else float("nan"),
            "input_spread": _spread(y_flat),
            "activations_after": [
                {
                    "layer": name,
                    "dead_share": d,
                    "saturated_share": sat,
                    "is_output": name in self.output_layers,
                    "units": self.units.get(name),
                }
                for name, (d, sat) in act_after.items()
                if d is not None or sat is not None
            ],
        }

    def code_width(self) -> int | None:
        """Width of the narrowest inner layer output (the code), if any."""
        inner = [w for name, w in self.widths.items() if name not in self.output_layers]
        return min(inner) if inner else None


# -- helpers -------------------------------------------------------------
def suggest_lr(lrs: list[float], smooth: list[float]) -> float | None:
    """The range test's suggestion: a tenth of the rate at the smoothed minimum.

    fastai's ``lr_find`` "lr_min" rule: the minimum itself already sits at the
    edge of instability, a tenth of it learns fast and stays stable.
    """
    if len(smooth) < 5:
        return None
    arr = np.asarray(smooth, dtype=np.float64)
    k = int(np.nanargmin(arr))
    if k == 0 or not np.isfinite(arr[k]) or arr[k] >= arr[0]:
        return None
    return float(lrs[k] / 10.0)


def baselines(split: dict[str, Any], same_target: bool, width: int | None) -> dict[str, Any]:
    """MSE on the validation slice of the per-feature mean and of a PCA code.

    PCA with the bottleneck's width is the optimum of a linear autoencoder
    (Baldi & Hornik 1989). Its top components come from a randomized SVD
    (Halko et al. 2011: numpy QR + numpy SVD of a small projected matrix) on
    at most PCA_MAX_ROWS training rows: a full SVD of 1024x784 takes
    seconds on two busy cores, this takes a few hundredths. Only for plain
    reconstruction (target == input).
    """
    y_tr = split["y_tr"].reshape(len(split["y_tr"]), -1).astype(np.float64)
    y_val = split["y_val"].reshape(len(split["y_val"]), -1).astype(np.float64)
    mean = y_tr.mean(axis=0)
    out: dict[str, Any] = {
        "mean": float(np.mean((y_val - mean) ** 2)),
        # An all-zero output: the trivial solution for mostly-zero data.
        "zero": float(np.mean(y_val**2)),
        "pca": None,
        "pca_width": None,
    }
    d = y_tr.shape[1]
    if not same_target or width is None or width >= d or not np.all(np.isfinite(y_tr)):
        return out
    rows = PCA_MAX_ROWS if d <= 4096 else PCA_MAX_ROWS // 2
    fit = y_tr[:rows] - mean
    if width >= min(fit.shape):
        return out
    try:
        comp = _top_components(fit, width, seed=int(split["seed"]))
    except np.linalg.LinAlgError:
        return out
    rec = (y_val - mean) @ comp.T @ comp + mean
    out["pca"] = float(np.mean((y_val - rec) ** 2))
    out["pca_width"] = int(width)
    return out


def _top_components(a: np.ndarray, k: int, *, seed: int, oversample: int = 10, power: int = 2) -> np.ndarray:
    """Top-``k`` right singular vectors of ``a`` by randomized SVD (rows of the result)."""
    rng = np.random.default_rng(seed)
    p = min(k + oversample, min(a.shape))
    q, _ = np.linalg.qr(a @ rng.standard_normal((a.shape[1], p)))
    for _ in range(power):
        q, _ = np.linalg.qr(a.T @ q)
        q, _ = np.linalg.qr(a @ q)
    _, _, vt = np.linalg.svd(q.T @ a, full_matrices=False)
    return vt[:k]


# Rows of the training slice the PCA baseline is fitted on (halved for inputs
# wider than 4096 features): numpy's SVD of 1024x784 takes ~0.1 s here.
PCA_MAX_ROWS = 1024


def _spread(a: np.ndarray) -> float:
    """Mean over features of the standard deviation across samples."""
    return float(np.mean(np.std(a, axis=0))) if len(a) > 1 else 0.0


def _mse(y: np.ndarray, p: np.ndarray) -> float:
    with np.errstate(all="ignore"):
        return float(np.mean((y.astype(np.float64) - p.astype(np.float64)) ** 2))


def _as_input(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if np.issubdtype(a.dtype, np.floating) or a.dtype == bool:
        return a.astype(np.float32)
    return a


def _tf_dtype(a: np.ndarray) -> Any:
    import tensorflow as tf

    return tf.float32 if (np.issubdtype(a.dtype, np.floating) or a.dtype == bool) else tf.as_dtype(a.dtype)


def _lr_variable(opt: Any) -> Any:
    """The optimizer's learning-rate variable (Keras 3 returns the Variable
    itself from ``learning_rate`` when it was built with a float)."""
    lr = opt.learning_rate
    if not hasattr(lr, "assign"):
        raise ProbeError("the optimizer's learning rate is not a variable; the probes can't control it.")
    return lr


def _dense(tf: Any, g: Any) -> Any:
    return tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g


def _emit(progress: Any, phase: str, step: int, total: int, loss: float, **extra: Any) -> None:
    if progress is None:
        return
    progress({"phase": phase, "step": int(step), "total": int(total), "loss": float(loss), **extra})


# -- the session a context shares between its probe checks ----------------
def session_for(ctx: Any) -> ProbeSession:
    """The context's probe session, created on first use and then reused.

    Reused by ``rerun`` for another learning rate, epoch count or seed, so the
    compiled step is traced once per model.
    """
    sess = getattr(ctx, "_probe_session", None)
    if sess is None or not _session_fits(sess, ctx):
        sess = ProbeSession(
            ctx.model,
            ctx.data,
            None if ctx.target is None or ctx.target is ctx.data else ctx.target,
            seed=ctx.options.seed,
            owned=bool(getattr(ctx, "_owned_model", False)),
        )
        ctx._probe_session = sess
    for note in sess.notes:
        if note not in ctx.notes:
            ctx.notes.append(note)
    return sess


def _session_fits(sess: ProbeSession, ctx: Any) -> bool:
    if sess.source_model is not ctx.model or sess.x_all is not ctx.data:
        return False
    same = ctx.target is None or ctx.target is ctx.data
    return sess.same_target if same else (not sess.same_target and sess.y_all is ctx.target)


def prepared_session(ctx: Any) -> ProbeSession:
    """``session_for`` with the data split of ``ctx.options`` ready."""
    sess = session_for(ctx)
    o = ctx.options
    sess.seed = int(o.seed)
    sess.lr = float(o.lr) if o.lr is not None else sess.configured_lr
    sess._set_lr(sess.lr)
    sess.prepare(subset=o.subset, batch_size=o.batch_size, seed=o.seed)
    return sess
