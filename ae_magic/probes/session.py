"""The run session: a copy of the model, its state, and the probes run on it.

One :class:`ProbeSession` per (model, data) holds a clone of the model, a
fresh optimizer, the compiled step and the data split; every probe starts
from a snapshot of the clone's initial state and restores it afterwards.
"""

from __future__ import annotations

import contextlib
import math
import re
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import backends as backend
from .. import keras_compat as kc
from ..errors import ModelError, ProbeError, describe
from ..fit_calls import fit_batch_size, several_inputs
from .ablation import code_ablation
from .batches import Split, as_input, class_index_count, first_steps, prepare_split, segments
from .heads import JoinedHeads, fit_targets, join_heads
from .latent import (
    added_terms,
    batch_summed_added,
    find_sampling_layer,
    latent_stats,
    per_sample_added,
    sampling_contract,
)
from .reference import baselines, loss_baselines, mse, spread
from .sequence import GATE_SAMPLES, fit_loss, masked_loss, output_mask, sequence_trace
from .sizes import (
    ACT_SAMPLES,
    DEFAULT_BATCH,
    DEFAULT_EPOCHS,
    GRAD_BATCHES,
    GRAD_SAMPLES,
    MIN_STEPS,
    PROGRESS_EVERY,
    RANGE_LR_MAX,
    RANGE_LR_MIN,
    RANGE_SMOOTHING,
    RANGE_STEPS,
    RANGE_STOP_FACTOR,
    VAL_POINTS_PER_EPOCH,
)
from .traces import (
    activation_rows,
    gradient_layers,
    layer_grad_norms,
    layer_order,
    leaf_layers,
    suggest_lr,
    var_owners,
)
from .traces import (
    activations_and_gates as measure_activations,
)
from .training import ADDED_ONLY, TrainStep, fresh_optimizer, fresh_training, set_lr, weighted_loss

keras = kc.keras


def _emit(progress: Any, phase: str, step: int, total: int, loss: float, **extra: Any) -> None:
    # Looked up on the package at call time, so replacing
    # ``ae_magic.probes._emit`` (as the copy-safety tests do) reaches the probes.
    sys.modules[__package__]._emit(progress, phase, step, total, loss, **extra)


class ProbeSession:
    """A copy of the model, its compiled step and the data split.

    ``model`` is only read. With ``owned=True`` (a model ae_magic built
    itself, e.g. a latent-size rebuild) it is used directly; ``compile_from``
    then names the model whose loss/optimizer to copy.
    """

    # k where the output holds k blocks of the target's width side by side and the cell's own loss reads them
    # apart (a Gaussian head's mean and variance): set from checks/shapes.py's finding, read by ``as_recon``.
    recon_blocks: int | None = None

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
        fit_targets: Any = None,
    ) -> None:
        self.backend = backend.current()
        self.notes: list[str] = notes if notes is not None else []
        self.seed = int(seed)
        self.source_model = model
        src = compile_from if compile_from is not None else model
        if len(keras.tree.flatten(getattr(model, "inputs", None) or [0])) > 1:
            raise ProbeError("the probes support models with one input; this model has several.")
        outputs = getattr(model, "outputs", None) if kc.model_kind(model) != "subclassed" else None
        self.heads: JoinedHeads | None = None
        why_not = "its heads can't be read as blocks of the target"
        # Several outputs with one loss among them ([reconstruction, code]): fit trains that output alone.
        trained_output: int | None = None
        struct = getattr(model, "_outputs_struct", None)
        # ``Model(inputs=[x], outputs=[recon])`` (Géron's style) returns a list of one tensor: fit's loss
        # unwraps it, so the probes read that one output as the reconstruction.
        if outputs is not None and (isinstance(outputs, dict) or len(keras.tree.flatten(outputs)) > 1
                                    or isinstance(struct, (dict, list, tuple))):
            trained_output = 0 if len(keras.tree.flatten(outputs)) == 1 else kc.loss_output(src)
            if trained_output is None and kc.compiled_loss(src) is None:
                # Trained on add_loss terms alone (a VAE returning [reconstruction, z_mean, z_log_var]):
                # the reconstruction is the one output of the target's shape.
                want = list(np.shape(target if target is not None else data)[1:])
                fits = [i for i, t in enumerate(keras.tree.flatten(outputs)) if list(t.shape[1:]) == want]
                trained_output = fits[0] if len(fits) == 1 else None
            if trained_output is None and kc.compiled_loss(src) is not None:
                # A loss on each of several heads (numeric and categorical columns): trained together, as fit does.
                joined = join_heads(src, np.asarray(data), target, fit_targets)
                if isinstance(joined, JoinedHeads):
                    self.heads = joined
                    target = joined.target if joined.target is not None else target
                    self.notes.append(joined.note)
                else:
                    why_not = joined[1]
            if trained_output is None and self.heads is None:
                raise ProbeError("the probes support a model with several outputs when one loss trains one of them "
                                 "(e.g. loss=['mse', None]) or its heads are blocks of the target's columns; this one "
                                 "returns a "
                                 f"{'dict' if isinstance(getattr(model, '_outputs_struct', None), dict) else 'list'} "
                                 f"of {len(keras.tree.flatten(outputs))} outputs and is compiled with "
                                 + ("no loss." if kc.compiled_loss(src) is None else
                                    f"a loss on more than one of them, and {why_not}."))
        x = np.asarray(data)
        y = x if target is None else np.asarray(target)
        if x.ndim < 2 or len(x) < 4:
            raise ProbeError(f"the probes need at least 4 samples with a batch axis; the data has shape {x.shape}.")
        if len(y) != len(x):
            raise ProbeError(f"data has {len(x)} samples but the target has {len(y)}.")
        self.x_all, self.y_all = x, y
        self.same_target = target is None or target is data
        with kc.seeded(self.seed):
            sample = as_input(x[:2])
            if owned:
                self.model, self.in_place = model, False
            else:
                self.model, self.in_place = kc.clone_model(model, sample)
            if self.in_place and kc.builds_on_first_call(model):
                raise ProbeError(
                    f"model '{model.name}' is an unbuilt subclassed model that can't be copied (no get_config); "
                    "building it would change your model. Call it once on a batch (or give it get_config) to probe it."
                )
            if self.in_place:
                # Before any forward pass of ours: those advance seed-generator states.
                self.user_snapshot = ([np.array(v.numpy(), copy=True) for v in model.variables], [])
                self.notes.append(
                    f"Model '{model.name}' could not be copied (a subclassed model, or a custom layer its config can't rebuild): "
                    "probed in place, "
                    "restored afterwards. Only here do ae_magic's probes run on your model itself; every variable "
                    "(weights, non-trainable and seed states) was put back byte for byte, and the probes trained "
                    "with their own optimizer, so yours is untouched."
                )
            if getattr(self.model, "_ae_fresh_init", False):
                self.notes.append(
                    f"Model '{model.name}' holds NaN/Inf weights (the cell's own training diverged): the probes "
                    "start from fresh initial weights of the same architecture, as re-running the cell would."
                )
            # The whole copy: the weights of another session's model are set on it (adopt).
            self.full_model = self.model
            if not self.in_place and getattr(src, "run_eagerly", False):
                # fit runs this model eagerly; what only a compiled step rejects is then not fit's failure
                # (backends.call_model says so).
                self.model.__dict__["_ae_fit_eagerly"] = True
            if (trained_output is None and kc.model_kind(model) == "subclassed"
                    and isinstance(getattr(src, "loss", None), (list, tuple)) and kc.loss_output(src) is not None):
                # A call() returning (reconstruction, code) compiled with loss=["mse", None]: fit trains output k.
                k = kc.loss_output(src)
                self.model = picked_output(self.model, k)
                self.notes.append(f"Model '{model.name}' returns several outputs and its loss trains output {k} alone, "
                                  "so the probes train and judge that output, as fit does.")
            if self.heads is not None:
                # The copy's heads joined along the feature axis: one reconstruction, trained with fit's summed loss.
                outs = keras.tree.flatten(self.model.outputs)
                ins = self.model.inputs
                joined_out = keras.layers.Concatenate(axis=-1, name="ae_magic_joined_heads")([outs[i] for i in self.heads.outputs])
                self.model = keras.Model(ins[0] if len(ins) == 1 else ins, joined_out, name=self.model.name)
            if trained_output is not None:
                # The copy's layers, read up to the trained output: the probes train and judge what fit trains.
                out = keras.tree.flatten(self.model.outputs)[trained_output]
                h = kc.history(out)
                ins = self.model.inputs
                self.model = keras.Model(ins[0] if len(ins) == 1 else ins, out, name=self.model.name)
                which = f"output {trained_output}" + (f" ('{h[0].name}')" if h is not None else "")
                others = kc.untrained_outputs(src)
                if others:
                    self.notes.append(
                        f"Model '{model.name}' has losses on {len(others) + 1} outputs: the probes train and judge {which}, the "
                        f"one shaped like the target, with its loss ({kc.loss_name(src)}). "
                        f"fit also trains {', '.join(repr(o) for o in others)} against other targets, which the probes "
                        "do not train: what those losses do to the shared layers was not measured."
                    )
                elif len(keras.tree.flatten(outputs)) > 1:
                    self.notes.append(
                        f"Model '{model.name}' has {len(keras.tree.flatten(outputs))} outputs: "
                        + (f"its loss ({kc.loss_name(src)}) trains only {which}, so the probes train and judge that output, "
                           "as fit does." if kc.compiled_loss(src) is not None else
                           f"the probes judge {which}, the one shaped like the target, and train the add_loss terms on its path.")
                    )
            if self.heads is not None:
                self.loss_fn, self.loss_name, self.logits = self.heads.loss_fn(), self.heads.loss_name, None
                self.optimizer, self.configured_lr = fresh_optimizer(src, lr)
            else:
                self.loss_fn, self.loss_name, self.optimizer, self.configured_lr, self.logits = fresh_training(src, lr, self.notes)
            # Class indices for a sparse categorical loss (a token autoencoder): measured as one-hot rows.
            self.classes = class_index_count(y, kc.safe_output_shape(model)) if kc.canonical_loss(src) == "scce" else None
            self.lr = self.configured_lr
            # Build the model (subclassed copies) and the optimizer before
            # compiling the step so their variables exist before tracing.
            if kc.builds_on_first_call(self.model):
                self.model(sample)
            self.train_vars = list(self.model.trainable_variables)
            if not self.train_vars:
                raise ModelError(f"model '{model.name}' has no trainable weights: training can't change it")
            self.optimizer.build(self.train_vars)
            self._set_lr(self.lr)
        try:
            self.layers, self.output_layers, self.widths, self.units = layer_order(
                self.model, leaf_layers(self.model), sample)
        except ProbeError:
            raise
        except Exception as exc:
            # A forward pass of the copy on a few samples: what raises is the model's own code
            # (a shape fixed to one batch size, a layer that can't take this data).
            raise ModelError(f"the model raises {describe(exc)} when it runs on a batch of {len(sample)} samples; "
                             "model.fit and predict run it on batches the same way") from exc
        # layer_order's forward pass filled model.losses: the training loss has add_loss terms on top.
        try:
            self.adds_losses = bool(list(self.model.losses))
        except Exception:  # a model whose losses can't be listed only loses this evidence
            self.adds_losses = False
        # add_loss terms that weigh batch-size times against the compiled loss (AE407/AE405): vectors with one
        # value per sample (fit sums them) and, below, scalars summed over the batch (rows with shape []). The
        # trace keeps the name "per_sample_added" for both, as reports written before the scalar rows read it.
        self.per_sample_added = per_sample_added(self.model, len(sample)) if self.adds_losses else []
        if self.adds_losses and not self.in_place and len(self.x_all) >= 2:
            # A scalar term summed over the batch weighs batch-size times too; measured on the copy only.
            self.per_sample_added += batch_summed_added(
                self.model, as_input(np.asarray(self.x_all[:8])), {r["layer"] for r in self.per_sample_added})
        if self.loss_name == ADDED_ONLY:
            if not self.adds_losses:
                raise ModelError(
                    f"model '{model.name}' is compiled without a loss and adds none with add_loss: "
                    "there is nothing to train; model.fit fails the same way"
                )
            self.notes.append(
                "The model is compiled without a loss: it trains on its add_loss terms (as fit does), and the "
                "probes judge the reconstruction by its MSE against the target."
            )
        self.var_layer = var_owners(self.layers, self.train_vars)
        if not self.in_place:
            self.user_snapshot = None
        self.initial = self.snapshot()
        if self.in_place:
            # The probes start where the user's model was, seed states included.
            self.initial = (self.user_snapshot[0], self.initial[1])
        # fit's loss applies the mask the output carries (padded steps left out): so do the step and the validation loss.
        self.out_masked = self.loss_name != ADDED_ONLY and output_mask(self.model, self.layers, self.x_all[:8]) is not None
        self.loss_fn = fit_loss(self.loss_fn, self.out_masked)
        # fit scales the trained output's loss by its compile(loss_weights=...): so does the step's gradient
        # (under SGD a weight of 1e-3 is a 1000x smaller rate for the layers only that loss reaches).
        self.loss_weight = None if self.loss_name == ADDED_ONLY else kc.loss_weight(src)
        step_loss = self.loss_fn if self.loss_weight in (None, 1.0) else weighted_loss(self.loss_fn, self.loss_weight)
        self._step_loss = step_loss
        self._step = TrainStep(self.backend, self.model, step_loss, self.optimizer, self.train_vars, self.x_all, self.y_all)
        self._forward = self.backend.compile_forward(self.model, self.x_all)
        # The validation loss in the training step's formula (on TensorFlow a sigmoid/softmax output's logits).
        self._eval = None if self.loss_name == ADDED_ONLY else self.backend.compile_eval(self.model, self.loss_fn, self.x_all, self.y_all)
        self.split: Split = {}
        self._sampling: Any = None  # the VAE sampling layer (False: none), found on the first run
        self._contract: dict[str, Any] | None = None  # how its sample follows z_mean and z_log_var (sampling_contract)

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
            for v, val in zip(self.model.variables, self.user_snapshot[0], strict=True):
                v.assign(val)

    def dispose(self) -> None:
        """Done for good: restore what ``release`` restores, then park the session for reuse or free its graphs.

        A session whose copy has a reuse key is parked (one at a time): the
        next check of the same architecture (a cell that runs again) adopts
        its copy and compiled step instead of tracing new graphs, which
        TensorFlow never frees completely.
        """
        self.release()
        if getattr(self, "reuse_key", None) is not None and not self.in_place:
            old = _PARKED.pop("session", None)
            _PARKED["session"] = self
            if old is not None and old is not self:
                old._free()
            return
        self._free()

    def _free(self) -> None:
        step = getattr(self, "_step", None)
        if step is not None:
            step.dispose()
        self._forward = None
        self._eval = None

    def adopt(self, user_model: Any, data: np.ndarray, target: np.ndarray | None) -> None:
        """Take over for ``user_model`` (same architecture, compile settings, data shapes and seed as this copy's).

        The copy gets the new model's weights; optimizer state, seed states and
        everything else go back to how this session started.
        """
        weights = user_model.get_weights()
        if not kc.all_finite_arrays(weights):
            # NaN/Inf weights (the cell's fit diverged): a fresh copy starts from fresh initial weights instead.
            raise ProbeError("the model's weights are not finite")
        x = np.asarray(data)
        y = x if target is None else np.asarray(target)
        self.restore(self.initial)
        getattr(self, "full_model", self.model).set_weights(weights)
        kc.finalize_states(getattr(self, "full_model", self.model))
        self.initial = self.snapshot()
        self.x_all, self.y_all = x, y
        self.same_target = target is None or target is data
        if getattr(self, "classes", None) is not None and kc.safe_output_shape(user_model) is not None:
            # (A subclassed model has no symbolic output: its head, read once by a forward pass, keeps its classes.)
            self.classes = class_index_count(y, kc.safe_output_shape(user_model))
        self.source_model = user_model
        self.split = {}
        self.lr = self.configured_lr
        self._set_lr(self.lr)

    def _set_lr(self, lr: float) -> None:
        set_lr(self.optimizer, lr)

    def _seeded(self) -> Any:
        """The probes' seed for one run (``kc.seeded``), keeping the compiled functions where that is safe.

        Re-seeding TensorFlow clears its kernel cache, and each compiled
        function is then instantiated again on its next call (0.2-1.3 s a
        probe run). That clearing only matters for stateful random ops
        (``tf.random.normal`` in a layer): their streams restart with it. So
        it is skipped once the traced step (and the other functions traced so
        far) are known to hold none.
        """
        free = getattr(self.backend, "free_of_stateful_random", None)
        # A model's own train_step (OwnStepSession) runs through Keras' train function, which is not ours to inspect.
        step = getattr(self, "_step", None)
        keep = bool(free and step is not None and free([step.compiled, self._eval, self._forward]))
        return kc.seeded(self.seed, keep_compiled=keep)

    def initial_var(self, i: int) -> np.ndarray:
        """Initial value of trainable variable ``i``."""
        v = self.train_vars[i]
        for var, val in zip(self.model.variables, self.initial[0], strict=True):
            if var is v:
                return val
        return kc.to_numpy(v.value)

    # -- the compiled step and the data --------------------------------------
    @property
    def tracing_count(self) -> int:
        """How often the compiled step was traced (1 after any number of probes)."""
        return self._step.tracing_count

    def _run(self, xs: Any, ys: Any, lr: float | list[float]) -> tuple[np.ndarray, np.ndarray]:
        return self._step.run(xs, ys, lr)

    def prepare(self, *, subset: int | None, batch_size: int | None, seed: int | None = None) -> Split:
        """Choose the subset, the validation slice and the fixed samples."""
        seed = self.seed if seed is None else int(seed)
        self.split = prepare_split(
            self.x_all, self.y_all, self.same_target, subset=subset, batch_size=batch_size, seed=seed, current=self.split,
            classes=getattr(self, "classes", None),
        )
        # The output mask fit's loss would apply to the validation slice (masks depend on the input only).
        self.val_mask = output_mask(self.model, self.layers, self.split["x_val"]) if getattr(self, "out_masked", False) else None
        return self.split

    def predict(self, x: np.ndarray, chunk: int = 512) -> np.ndarray:
        """Compiled inference on the copy (traced once, any batch size).

        Layers that sample in inference too (a VAE's sampling layer) draw the
        same noise on every call: their seed states are put back afterwards,
        so the validation curve moves with the weights, not with the noise.
        """
        seeds = [v for v in self.model.non_trainable_variables if "seed_generator" in (getattr(v, "path", "") or "")]
        saved = [np.array(v.numpy(), copy=True) for v in seeds]
        try:
            outs = [self._forward(x[i : i + chunk]) for i in range(0, len(x), chunk)]
        finally:
            for v, val in zip(seeds, saved, strict=True):
                v.assign(val)
        return np.concatenate(outs, axis=0)

    def predict_and_loss(self, x: np.ndarray, y: np.ndarray, chunk: int = 512) -> tuple[np.ndarray, float]:
        """:meth:`predict` and the validation loss of its output in the training step's own formula.

        The loss is computed on the model's output tensor (``backend.compile_eval``),
        so on TensorFlow a sigmoid/softmax output's crossentropy is computed
        from its logits as in ``fit``; a session without one uses :meth:`loss_value`.
        """
        evaluate = getattr(self, "_eval", None)
        # A numpy prediction carries no mask: with one, loss_value applies the validation slice's as fit would.
        if evaluate is None or (getattr(self, "val_mask", None) is not None and x is self.split.get("x_val")):
            pred = self.predict(x, chunk)
            return pred, self.loss_value(y, pred)
        seeds = [v for v in self.model.non_trainable_variables if "seed_generator" in (getattr(v, "path", "") or "")]
        saved = [np.array(v.numpy(), copy=True) for v in seeds]
        outs, total = [], 0.0
        try:
            for i in range(0, len(x), chunk):
                p, loss = evaluate(x[i : i + chunk], y[i : i + chunk])
                outs.append(p)
                total += loss * len(p)
        finally:
            for v, val in zip(seeds, saved, strict=True):
                v.assign(val)
        return np.concatenate(outs, axis=0), total / max(len(x), 1)

    def as_recon(self, pred: np.ndarray) -> np.ndarray:
        """Model output as a reconstruction (applies sigmoid/softmax to logits).

        An output with ``recon_blocks`` values per target feature side by side (a Gaussian head's mean and
        variance, read apart by the cell's own loss; checks/shapes.py names it) is read by its first block, the mean.
        """
        y = getattr(self, "y_all", None)
        k = self.recon_blocks
        if (k and y is not None and getattr(pred, "ndim", 0) == getattr(y, "ndim", -1) >= 2
                and pred.shape[1:-1] == y.shape[1:-1] and pred.shape[-1] == k * y.shape[-1]):
            pred = pred[..., : y.shape[-1]]
        if self.logits == "sigmoid":
            with np.errstate(over="ignore"):
                return (1.0 / (1.0 + np.exp(-pred.astype(np.float64)))).astype(np.float32)
        if self.logits == "softmax":
            z = pred.astype(np.float64) - pred.max(axis=-1, keepdims=True)
            e = np.exp(z)
            return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)
        return pred

    def loss_value(self, y: np.ndarray, pred: np.ndarray) -> float:
        """The training loss (without regularisation) of a prediction.

        For a model whose whole loss comes from ``add_loss`` there is no
        loss of a prediction: the reconstruction's MSE stands in.
        """
        if self.loss_name == ADDED_ONLY:
            return float(np.mean((np.asarray(y, np.float64) - np.asarray(pred, np.float64)) ** 2))
        try:
            mask = getattr(self, "val_mask", None) if y is self.split.get("y_val") else None
            # fit hands the loss the backend's tensors; on torch a hand-written
            # loss doing `y_true - ops.mean(y_true)` raises on NumPy arrays.
            as_tensor = getattr(self.backend, "loss_input", None)
            if mask is None and as_tensor is not None:
                value = self.loss_fn(as_tensor(y), as_tensor(pred))
            else:
                value = self.loss_fn(y, pred) if mask is None else masked_loss(self.loss_fn, y, pred, mask)
        except Exception as exc:
            raise ModelError(f"the compiled loss raises {describe(exc)} on the model's output; model.fit fails the same way") from exc
        return float(np.mean(kc.to_numpy(value).astype(np.float64)))

    def activations_and_gates(
        self, x_act: np.ndarray, x_gate: np.ndarray
    ) -> tuple[dict[str, tuple[float | None, float | None]], dict[str, dict[str, Any]]]:
        """Dead/saturated shares per layer on ``x_act`` and LSTM/GRU gate statistics on ``x_gate`` (``{}``: none)."""
        return measure_activations(self.model, self.layers, x_act, x_gate)

    def _code_facts(self) -> dict[str, Any] | None:
        """The narrowest inner layer's name, width and last-axis size (a model with no graph gets AE104 from it)."""
        widths = getattr(self, "widths", None) or {}
        inner = [(w, name) for name, w in widths.items() if name not in self.output_layers]
        if not inner:
            return None
        w, name = min(inner)
        return {"layer": name, "width": int(w), "units": int((getattr(self, "units", None) or {}).get(name, w))}

    def eager_forward(self) -> Callable[[np.ndarray], Any] | None:
        """An uncompiled forward pass of the copy (so a layer patched meanwhile takes effect), or None."""
        if self.in_place or self.heads is not None:
            return None
        return lambda xb: backend.call_model(self.model, kc.keras.ops.convert_to_tensor(xb), training=False)

    def code_ablation(self, x: np.ndarray, r: np.ndarray) -> dict[str, Any] | None:
        """For a subclassed model (no layer graph shows a path around its code): the reconstruction with the code
        ablated (:mod:`ae_magic.probes.ablation`), else None."""
        forward = self.eager_forward()
        if forward is None or kc.model_kind(getattr(self, "full_model", self.model)) != "subclassed":
            return None
        return code_ablation(self.layers, getattr(self, "widths", None) or {}, self.output_layers, self.code_width(),
                             forward, x, r)

    def code_width(self) -> int | None:
        """Width of the narrowest inner layer output (the code), if any."""
        facts = self._code_facts()
        return facts["width"] if facts else None

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
        measured: Any = None
        with self._seeded():
            self.reset()
            try:
                rows = []
                for xs, ys in first_steps(s, batches):
                    if not rows and self._overlap_safe():
                        (ls, nv), measured = self._step.run_alongside(xs, ys, 0.0, self._while_first_step)
                        if not self._variables_at_initial():
                            # The step or the pass moved a variable the other may have read (a seed
                            # state, a weight under a non-finite update): both again, one after the other.
                            measured = None
                            self.reset()
                            ls, nv = self._run(xs, ys, 0.0)
                    else:
                        ls, nv = self._run(xs, ys, 0.0)
                    rows.append(nv)
                    for loss in ls:
                        losses.append(float(loss))
                        _emit(progress, "gradients", len(losses), batches, losses[-1])
                norms = np.concatenate(rows, axis=0).reshape(-1, nvar) if rows else norms
            finally:
                self.reset()
                self._set_lr(self.lr)
            if measured is None:
                measured = self.activations_and_gates(s["x_tr"][:ACT_SAMPLES], s["x_val"][:GATE_SAMPLES])
            act, gates = measured
        layers = gradient_layers(self.layers, self.var_layer, norms, act, self.initial_var, self.output_layers, self.widths, self.units)
        return {"layers": layers, "batches": len(norms), "loss": losses, **({"gates": gates} if gates else {})}

    def _overlap_safe(self) -> bool:
        """Whether the first gradient step may run beside :meth:`_while_first_step`.

        At lr 0 the step writes the weights back unchanged. A model with
        batch-norm statistics (which every training step moves) runs in turn;
        seed states (dropout, sampling) are checked afterwards
        (:meth:`_variables_at_initial`).
        """
        return self._step.can_overlap() and all(_is_seed_state(v) for v in self.model.non_trainable_variables)

    def _while_first_step(self) -> Any:
        """What runs while the first compiled step does (see :meth:`TrainStep.run_alongside`).

        Traces and instantiates the validation function on one row (the
        output is thrown away: inference reads the weights, writes nothing)
        and measures the activations at the initial weights.
        """
        s = self.split
        if self._eval is not None:
            with contextlib.suppress(Exception):  # a real failure is reported by the validation pass itself
                self._eval(s["x_val"][:1], s["y_val"][:1])
        return self.activations_and_gates(s["x_tr"][:ACT_SAMPLES], s["x_val"][:GATE_SAMPLES])

    def _variables_at_initial(self) -> bool:
        """Whether every model variable (weights, seed states) still holds its initial value, bit for bit."""
        return all(
            np.array_equal(np.asarray(v.numpy()), val, equal_nan=False)
            for v, val in zip(self.model.variables, self.initial[0], strict=True)
        )

    def _state_values(self) -> list[np.ndarray]:
        """Every model variable but the seed states (which advance with each dropout draw), as numpy copies."""
        return [np.array(v.numpy(), copy=True) for v in self.model.variables if not _is_seed_state(v)]

    def run_steps(self, lrs: list[float] | float, n: int) -> list[float]:
        """From the initial state, ``n`` steps at the given learning rate(s).

        Uses the first batches of the probe run's order; restores the initial
        state afterwards. Returns the loss of each step.
        """
        losses: list[float] = []
        with self._seeded():
            self.reset()
            try:
                for xs, ys in first_steps(self.split, n):
                    k = int(xs.shape[0])
                    lr = lrs[len(losses) : len(losses) + k] if isinstance(lrs, list) else lrs
                    ls, _ = self._run(xs, ys, lr)
                    losses.extend(float(v) for v in ls)
            finally:
                self.reset()
                self._set_lr(self.lr)
        return losses

    def train_with_optimizer(self, optimizer: Any, **train_kw: Any) -> dict[str, Any]:
        """A probe run (``train``'s keywords) with ``optimizer`` (unbuilt, the session's class) in place of the copy's.

        Same initial weights, batches and steps; a step compiled for it (one
        more trace). The session's own optimizer, step and update ratios are
        back afterwards, so the run is a comparison only.
        """
        kept_opt, kept_step, kept_initial = self.optimizer, self._step, self.initial
        kept_updates = getattr(self, "updates", None)
        step = None
        try:
            optimizer.build(self.train_vars)
            self.optimizer = optimizer
            self._set_lr(self.lr)
            step = self._step = TrainStep(self.backend, self.model, self._step_loss, optimizer, self.train_vars,
                                          self.x_all, self.y_all)
            self.initial = (kept_initial[0], [np.array(v.numpy(), copy=True) for v in optimizer.variables])
            return self.train(**train_kw)
        finally:
            self.optimizer, self._step, self.initial = kept_opt, kept_step, kept_initial
            if kept_updates is not None:
                self.updates = kept_updates
            if step is not None:
                step.dispose()
            self.reset()
            self._set_lr(self.lr)

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

    def _trace_header(self, lr: float, epochs: int, spe: int) -> dict[str, Any]:
        """The keys every training trace starts with (this session's run and the own-step run)."""
        s = self.split
        return {
            "lr": float(lr),
            "configured_lr": self.configured_lr,
            "loss_name": self.loss_name,
            "loss_weight": getattr(self, "loss_weight", None),
            "epochs": epochs,
            "steps_per_epoch": spe,
            "batch_size": s["batch_size"],
            "subset": s["subset"],
            "n_train": len(s["x_tr"]),
            "n_val": len(s["x_val"]),
            "adds_losses": bool(getattr(self, "adds_losses", False)),
        }

    def train(
        self,
        *,
        epochs: int | None = None,
        steps: int | None = None,
        lr: float | None = None,
        progress: Any = None,
        val_points: int | None = None,
        stop: Callable[[int, float], bool] | None = None,
        until_frozen: bool = False,
    ) -> dict[str, Any]:
        """The short probe run; returns the ``traces["training"]`` dict.

        ``val_points``: evaluate the held-out loss at most about this many
        times (a longer confirmation run keeps the probe run's resolution
        instead of evaluating 4x as often). ``stop(step, held_out_mse)``,
        asked at each evaluation, ends the run early when it returns True
        (the trace then says ``stopped_early``).

        ``until_frozen``: also end the run once it can no longer change (the
        trace then says ``frozen`` too): over two evaluation intervals every
        gradient was exactly zero (or None), the held-out loss and MSE did not
        change by a bit, and the weights and other non-seed state at the last
        two evaluations are equal bit for bit. With zero gradients an
        optimizer's steps only shrink from there (momentum decays), so the
        rest of the run would end on these very weights: a network whose
        units all died keeps its held-out loss for every one of its steps,
        and a confirmation run 4x as long would only repeat it.
        """
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
        if val_points:
            val_every = max(val_every, math.ceil(total / max(1, int(val_points))))
        stopped = frozen = False
        frozen_snap: list[np.ndarray] | None = None
        since_eval = 0  # index into all_norms of the first segment after the last evaluation
        curve_steps: list[int] = [0]
        curve: list[float] = []
        curve_mse: list[float] = []
        val_mse: list[float] = []
        recon_idx = s["recon"]
        x_rec, y_val = s["x_val"][recon_idx], s["y_val"]
        r_val = s["r_val"]  # the targets in the output's shape: what errors and spreads are measured on
        loss_t: list[float] = []
        epoch_loss: list[float] = []
        val_loss: list[float] = []
        with self._seeded():
            self.reset()
            self._set_lr(lr)
            try:
                pred0, val0 = self.predict_and_loss(s["x_val"], y_val)
                before = self.as_recon(pred0[recon_idx])
                latent0 = self.latent_after(s["x_tr"], s["x_val"], y_val)
                # Without a sampling layer, each layer's own add_loss terms (a sparsity KL) are read apart.
                terms0 = (added_terms(self.model, s["x_val"]) or None) if latent0 is None and getattr(self, "adds_losses", False) else None
                if latent0 is not None or terms0 is not None:
                    self.restore(self.initial)  # the measurement's forward passes advanced the seed states
                mse0 = mse(r_val, self.as_recon(pred0))
                curve.append(val0)
                curve_mse.append(mse0)
                step = 0
                last_pred: tuple[int, Any] = (0, pred0)
                diverged = False
                all_norms: list[np.ndarray] = []

                def cut(k: int, base: int) -> bool:
                    done = base + k
                    return done % val_every == 0 or (progress is not None and done % PROGRESS_EVERY == 0)

                for ep in range(epochs):
                    start = step
                    base = step
                    for xs, ys in segments(s, ep, lambda k, base=base: cut(k, base)):
                        k = min(int(xs.shape[0]), total - step)
                        if k <= 0:
                            break
                        ls, nv = self._run(xs[:k], ys[:k], lr)
                        loss_t.extend(float(v) for v in ls)
                        all_norms.append(nv)
                        step += k
                        if step % val_every == 0 and step < total:
                            pv, lv = self.predict_and_loss(s["x_val"], y_val)
                            last_pred = (step, pv)
                            curve_steps.append(step)
                            curve.append(lv)
                            curve_mse.append(mse(r_val, self.as_recon(pv)))
                            stopped = stop is not None and bool(stop(step, curve_mse[-1]))
                            if until_frozen and not stopped:
                                still = (all(bool(np.all(nv_ <= 0.0)) for nv_ in all_norms[since_eval:])
                                         and curve[-1] == curve[-2] and curve_mse[-1] == curve_mse[-2])
                                since_eval = len(all_norms)
                                now = self._state_values() if still else None
                                frozen = now is not None and frozen_snap is not None and all(
                                    np.array_equal(a, b) for a, b in zip(frozen_snap, now, strict=True))
                                frozen_snap = now
                                stopped = frozen
                        if progress is not None:
                            _emit(progress, "training", step, total, loss_t[-1], epoch=ep, lr=lr)
                        if stopped:
                            break
                    ep_losses = np.array(loss_t[start:step], dtype=np.float64)
                    epoch_loss.append(float(np.mean(ep_losses)) if len(ep_losses) else float("nan"))
                    if not np.all(np.isfinite(ep_losses)):
                        diverged = True
                        val_loss.append(float("nan"))
                        break
                    if curve_steps[-1] == step:  # evaluated at this very step already: the same weights
                        val_loss.append(curve[-1])
                        val_mse.append(curve_mse[-1])
                    elif not val_points or stopped or ep == epochs - 1 or step >= total:
                        # (a capped run evaluates on its own cadence, and at its end)
                        pred, lv = self.predict_and_loss(s["x_val"], y_val)
                        last_pred = (step, pred)
                        val_loss.append(lv)
                        val_mse.append(mse(r_val, self.as_recon(pred)))
                    else:
                        continue
                    if curve_steps[-1] != step:
                        curve_steps.append(step)
                        curve.append(val_loss[-1])
                        curve_mse.append(val_mse[-1])
                    if stopped:
                        break
                norms_all = np.concatenate(all_norms, axis=0) if all_norms else np.zeros((0, len(self.train_vars)))
                grad_steps = list(range(0, len(norms_all), every))
                grad_rows = [norms_all[i] for i in grad_steps]
                # The weights of the last evaluation, when it was at the last step: its prediction is this one.
                pred = self.as_recon(last_pred[1] if last_pred[0] == step else self.predict(s["x_val"]))
                after = pred[recon_idx]
                act_after, gates_after = self.activations_and_gates(s["x_tr"][:ACT_SAMPLES], s["x_val"][:GATE_SAMPLES])
                latent = self.latent_after(s["x_tr"], s["x_val"], y_val)
                ablation = self.code_ablation(s["x_val"], r_val)
                if latent is not None and latent0 is not None:
                    latent["kl_total_before"] = latent0["kl_total"]
                    latent["active_dims_before"] = latent0["active_dims"]
                    latent["added_loss_before"] = latent0.get("added_loss")
                    latent["added_by_layer_before"] = latent0.get("added_by_layer")
                terms = added_terms(self.model, s["x_val"]) if terms0 is not None else None
            finally:
                self._set_lr(self.lr)
                if self.in_place:
                    self.reset()
        # Per time step x feature against the targets' own variation, padded steps left out (AE404, AE405).
        per_position = sequence_trace(self.layers, self.output_layers, s, self.as_recon(pred0), pred,
                                      id_padding=bool(getattr(self, "id_padding", False)))
        y_flat = r_val.reshape(len(r_val), -1).astype(np.float64)
        p_flat = pred.reshape(len(pred), -1).astype(np.float64)
        finite_pred = bool(np.all(np.isfinite(p_flat)))
        return {
            **self._trace_header(lr, len(epoch_loss), spe),
            "loss": [float(v) for v in loss_t],
            "epoch_loss": epoch_loss,
            "val_loss": val_loss,
            "val_loss_before": val0,
            "has_batchnorm": any("BatchNormalization" in type(layer).__name__ for layer in self.layers),
            "val_mse": val_mse,
            "val_curve": {"steps": curve_steps[: len(curve)], "loss": curve, "mse": curve_mse},
            "diverged": diverged,
            "stopped_early": stopped,
            "frozen": frozen,
            "grad_steps": grad_steps,
            "grad_norms": layer_grad_norms(self.layers, self.var_layer, grad_rows),
            "recon": {
                "shape": list(x_rec.shape[1:]),
                "target_shape": list(r_val.shape[1:]),
                "indices": [int(i) for i in recon_idx],
                "inputs": x_rec.reshape(len(x_rec), -1).tolist(),
                "targets": r_val[recon_idx].reshape(len(recon_idx), -1).tolist(),
                "before": before.reshape(len(before), -1).tolist(),
                "after": after.reshape(len(after), -1).tolist(),
            },
            "baselines": {**baselines(s, self.same_target, self.code_width()), "final": mse(r_val, pred), "start": mse0,
                          "position_mean": per_position["position_mean"], "loss_units": self.loss_baselines()},
            "per_position": per_position,
            "output_spread": spread(p_flat) if finite_pred else float("nan"),
            "input_spread": spread(y_flat),
            "activations_after": activation_rows(act_after, self.output_layers, self.units),
            "latent": latent,
            "added_terms": {"before": terms0, "after": terms} if terms0 is not None else None,
            "per_sample_added": list(getattr(self, "per_sample_added", [])),
            "code": self._code_facts(),
            "code_ablation": ablation,
            "sampling": self._contract,
            **({"gates": gates_after} if gates_after else {}),
        }

    def loss_baselines(self) -> dict[str, float | None]:
        """The mean and PCA baselines in the units of the validation curve's loss (``loss_value``)."""
        name = str(self.loss_name).lower()
        probabilities = "crossentropy" in name or "kl_divergence" in name
        return loss_baselines(self.split, self.same_target, self.code_width(), self.loss_value, self.logits, probabilities)

    def latent_after(self, x_tr: np.ndarray, x_val: np.ndarray, y_val: np.ndarray) -> dict[str, Any] | None:
        """A VAE's code after the run (KL per dimension, active dimensions, sensitivity to z), or None.

        None for a model without a sampling layer; a measurement that fails
        is left out (it only adds evidence for AE407).
        """
        try:
            if self._sampling is None:
                self._sampling = find_sampling_layer(self.model, self.layers, x_tr) or False
                self._contract = contract_of(self.model, self._sampling, x_tr)
            if self._sampling is False:
                return None
            stats = latent_stats(self.model, self._sampling, x_val, y_val)
            # Its place among the leaf layers names the user's own layer (the copy's names may differ).
            # (ae_magic's own layers, the packed wrapper's Unpack, are not the user's and are not counted.)
            own = [ly for ly in self.layers if not type(ly).__module__.startswith("ae_magic.")]
            stats["layer_index"] = next((i for i, ly in enumerate(own) if ly is self._sampling), None)
            return stats
        except Exception:
            return None


def picked_output(model: Any, k: int) -> Any:
    """A model whose call returns output ``k`` of ``model``'s (a tuple, list or dict's values in order)."""

    class PickedOutput(keras.Model):
        def __init__(self, inner: Any, index: int) -> None:
            super().__init__(name=inner.name)
            self.inner, self.index = inner, index

        def call(self, x: Any, training: bool = False) -> Any:
            out = self.inner(x, training=training)
            items = list(out.values()) if isinstance(out, dict) else out
            return items[self.index]

    return PickedOutput(model, k)


def contract_of(model: Any, layer: Any, x: np.ndarray) -> dict[str, Any] | None:
    """:func:`sampling_contract` of a found sampling layer (None for none, or one that can't be called that way)."""
    if layer is False or layer is None:
        return None
    try:
        return sampling_contract(model, layer, x)
    except Exception:  # evidence only: a layer that takes other inputs is not judged
        return None


# -- the session a context shares between its probe checks ----------------
# At most one disposed session kept for reuse (see ProbeSession.dispose).
_PARKED: dict[str, ProbeSession] = {}


def _is_seed_state(v: Any) -> bool:
    """Whether a variable is a Keras seed generator's state."""
    return "seed_generator" in (getattr(v, "path", "") or "")


def reuse_key(model: Any, data: np.ndarray, target: np.ndarray | None, seed: int) -> str | None:
    """What a parked copy must match to serve ``model``: architecture (layer names aside), compile settings, data shapes, seed.

    None when the model can't be described that way (subclassed, a loss that
    is a Python function, a config that can't be read): such a model always
    gets a fresh copy.
    """
    import json
    import re

    if kc.model_kind(model) == "subclassed" or not kc.is_built(model):
        return None
    try:
        cfg = model.get_config()
        text = json.dumps(cfg, sort_keys=True, default=str)
        # Auto names (dense_12 vs dense_16) differ between runs of one cell: number them by first appearance.
        names = [str(layer.name) for layer in getattr(model, "layers", [])] + [str(model.name)]
        for i, name in enumerate(dict.fromkeys(names)):
            text = re.sub(rf'"{re.escape(name)}"', f'"<L{i}>"', text)
        def described(loss: Any) -> Any:
            # Every output's loss, not only the trained one: the session's notes say which outputs have one.
            if isinstance(loss, dict):
                return {str(k): described(v) for k, v in loss.items()}
            if isinstance(loss, (list, tuple)):
                return [described(v) for v in loss]
            if isinstance(loss, keras.losses.Loss):
                return [type(loss).__name__, loss.get_config()]
            if callable(loss):
                raise TypeError("a loss function has no description")
            return loss

        try:
            loss = described(getattr(model, "loss", None))
        except TypeError:
            return None
        opt = getattr(model, "optimizer", None)
        opt_desc = None if opt is None else [type(opt).__name__, {k: v for k, v in opt.get_config().items() if k != "name"}]
        x = np.asarray(data)
        y = x if target is None else np.asarray(target)
        # The loss weights too: the step scales the trained output's loss by its weight (ProbeSession.loss_weight).
        weights = (getattr(getattr(model, "_compile_config", None), "config", None) or {}).get("loss_weights")
        parts = [text, loss, opt_desc, list(x.shape[1:]), str(x.dtype), list(y.shape[1:]), str(y.dtype), target is None, int(seed),
                 _own_code(model), weights]
        return json.dumps(parts, sort_keys=True, default=str)
    except Exception:
        return None


def _code_digest(obj: Any) -> str:
    """A digest of the bytecode and constants of a function, or of every function a class defines, and of the
    plain values that code reads from outside: module globals, closure cells and class attributes.

    Round 64: a KL-sparsity layer whose ``call`` reads a global ``beta``. The cell run again with ``beta = 3.0``
    instead of ``3e-5`` has the same config and the same bytecode; the parked copy, built from the old class and
    traced with the old value, was probed in its place and the penalty was never seen.
    """
    import hashlib

    fns = [obj] if hasattr(obj, "__code__") else [v for _, v in sorted(vars(obj).items()) if hasattr(v, "__code__")]
    h = hashlib.sha1()

    def add(code: Any, scope: dict[str, Any]) -> None:
        h.update(code.co_code)
        h.update(repr((code.co_names, code.co_varnames)).encode())
        for name in code.co_names:
            if name in scope:
                h.update(f"{name}={_plain(scope[name])}".encode())
        for c in code.co_consts:
            # Nested functions and comprehensions are code objects, whose repr holds an address.
            add(c, scope) if hasattr(c, "co_code") else h.update(repr(c).encode())

    for fn in fns:
        add(fn.__code__, getattr(fn, "__globals__", None) or {})
        for cell in getattr(fn, "__closure__", None) or ():
            with contextlib.suppress(ValueError):  # an empty cell
                h.update(_plain(cell.cell_contents).encode())
    if not hasattr(obj, "__code__"):
        for name, value in sorted(vars(obj).items()):
            if not name.startswith("__") and not callable(value):
                h.update(f"{name}={_plain(value)}".encode())
    return h.hexdigest()


def _plain(value: Any) -> str:
    """A value's text for the digest when it is plain data (numbers, strings, small arrays and tuples of them);
    "" for anything else (modules, classes, functions: their own code is digested where it is used)."""
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes, np.generic)):
        return repr(value)
    if isinstance(value, (tuple, list)) and len(value) <= 64:
        return "(" + ",".join(_plain(v) for v in value) + ")"
    if isinstance(value, np.ndarray) and value.size <= 4096:
        import hashlib

        return f"array{value.shape}{value.dtype}{hashlib.sha1(np.ascontiguousarray(value).tobytes()).hexdigest()}"
    return ""


def _own_code(model: Any) -> list[str]:
    """What the config does not say: the code of the cell's own layer classes, Lambda functions and activations.

    A cell run again with its Sampling layer fixed (``sqrt`` -> ``exp``) has the same config, class name
    and all; a parked copy built from the old class would probe the old code.
    """
    out = []
    for layer in leaf_layers(model):
        for cls in type(layer).__mro__:
            if cls.__module__.startswith("keras"):
                break
            out.append(f"{cls.__qualname__}:{_code_digest(cls)}")
        for attr in ("function", "activation", "recurrent_activation"):
            fn = getattr(layer, attr, None)
            if callable(fn) and hasattr(fn, "__code__") and not str(getattr(fn, "__module__", "")).startswith("keras"):
                out.append(f"{attr}:{_code_digest(fn)}")
    return out


def session_for(ctx: Any) -> ProbeSession:
    """The context's probe session, created on first use and then reused.

    Reused by ``rerun`` for another learning rate, epoch count or seed, so the
    compiled step is traced once per model.
    """
    target = None if ctx.target is None or ctx.target is ctx.data else ctx.target
    sess = getattr(ctx, "probe_session", None)
    if sess is None or not _session_fits(sess, ctx):
        sess = _adopt_parked(ctx)
        if sess is not None:
            ctx.probe_session = sess
    if sess is None or not _session_fits(sess, ctx):
        fed = several_inputs(getattr(ctx, "source", None), getattr(ctx, "model_name", None),
                             getattr(ctx, "namespace", None))
        if fed is not None:
            # A model the cell feeds several arrays (a conditional AE's signal and label): probed through one
            # packed array and a wrapper around a copy (probes/packed.py), where the feed can be read.
            sess = _packed_session(ctx, fed)
            ctx.probe_session = sess
            _copy_notes(sess, ctx)
            return sess
        owned = bool(getattr(ctx, "owned_model", False))
        model, compile_from = ctx.model, None
        # The structure checks' forward copy (same architecture and weights,
        # never trained) saves a second clone; it becomes the probes' own, so
        # later forward passes make a fresh one.
        copy = ctx.cache.pop("forward_model", None) if not owned and hasattr(ctx, "cache") else None
        if copy is not None:
            model, compile_from, owned = copy, ctx.model, True
        from .updates import OwnStepSession, own_step_name

        # A model with its own train_step (or a compute_loss that Keras' step calls) trains through its step,
        # as fit does, not through the compiled loss alone.
        cls = OwnStepSession if own_step_name(ctx.model) else ProbeSession
        sess = cls(
            model,
            ctx.data,
            target,
            seed=ctx.options.seed,
            owned=owned,
            compile_from=compile_from,
            fit_targets=fit_targets(getattr(ctx, "source", None), getattr(ctx, "model_name", None),
                                    getattr(ctx, "namespace", None) or {}),
        )
        sess.user_model = ctx.model
        sess.given_target = target
        # (A joined-heads session's target is its own, joined from the fit call's: never parked for another model.)
        sess.reuse_key = (None if getattr(ctx, "owned_model", False) or sess.heads is not None
                          else reuse_key(ctx.model, ctx.data, target, ctx.options.seed))
        ctx.probe_session = sess
    sess.recon_blocks = _recon_blocks(ctx)
    _copy_notes(sess, ctx)
    return sess


def _copy_notes(sess: ProbeSession, ctx: Any) -> None:
    """The session's notes into the report's, each once, a note's opening "Model '<Keras name>'" naming the
    cell's variable instead (a copy's name, or Keras' own 'functional_3', tells the user nothing)."""
    name = getattr(ctx, "model_name", None)
    for note in sess.notes:
        if name and isinstance(name, str) and name.isidentifier():
            note = re.sub(r"^Model '[^']*'", f"Model `{name}`", note)
        if note not in ctx.notes:
            ctx.notes.append(note)


def _recon_blocks(ctx: Any) -> int | None:
    """k when checks/shapes.py found the output to be k blocks of the input's width that the cell's loss reads
    apart (a distribution head); None otherwise, so the probes never cut an output on shapes alone."""
    cache = getattr(ctx, "cache", None) or {}
    k = cache.get("distribution_head")
    return int(k) if k else None


def _packed_session(ctx: Any, fed: str) -> ProbeSession:
    """The probe session of a model the cell's fit feeds several arrays: a wrapper that takes them packed into
    one array (probes/packed.py) around a copy of the model. ProbeError when the feed can't be packed."""
    from .packed import fed_arrays, pack, wrap
    from .updates import own_step_name

    own = own_step_name(ctx.model)
    why = (f"the cell's fit feeds the model several inputs ({fed}); the probes feed them packed into one array, "
           "which needs each to be a name the cell defines (a numeric array)"
           + ("" if own else ", a model that can be copied and Keras' own train_step"))
    feed = fed_arrays(getattr(ctx, "source", None), getattr(ctx, "model_name", None),
                      getattr(ctx, "namespace", None) or {}, ctx.model)
    if feed is None:
        raise ProbeError(why + ".")
    if own:
        return _packed_own_step(ctx, feed, why)
    arrays, names, y = feed
    target = y if y is not None and not isinstance(y, (list, tuple, dict)) else ctx.target
    if target is None or np.asarray(target).dtype.kind not in "biuf" or len(np.asarray(target)) != len(arrays[0]):
        raise ProbeError(why + ": its target could not be read.")
    try:
        with kc.seeded(ctx.options.seed):
            # The fed arrays build a subclassed model's copy (round 83's ha05: a conditional VAE's `call` unpacks
            # `images, labels`; without a sample it was "could not be copied" and every probe skipped).
            copy, in_place = kc.clone_model(ctx.model, list(arrays))
            if in_place:
                raise ProbeError(why + ": the model could not be copied.")
            wrapper = wrap(copy, arrays)
        sess = ProbeSession(wrapper, pack(arrays), np.asarray(target), seed=ctx.options.seed, owned=True,
                            compile_from=ctx.model, fit_targets=None)
    except ProbeError:
        raise
    except Exception as exc:  # the wrapper can't be built or probed: say so, the model is not at fault
        raise ProbeError(f"{why}: packing them failed ({type(exc).__name__}: {exc}).") from exc
    sess.notes.append(f"The cell's fit feeds the model {len(arrays)} inputs ({', '.join(names)}): the probes joined "
                      "them into one array per sample and trained a copy through a wrapper that cuts it back into "
                      "the inputs, with the model's own compiled loss.")
    return _packed(sess, ctx, target)


def _packed_own_step(ctx: Any, feed: tuple[list[np.ndarray], list[str], Any], why: str) -> ProbeSession:
    """The probe session of a model with its own train_step that the cell's fit feeds several arrays: the step
    itself gets each batch cut back into the inputs, in the structure fit gives it (``([x, c],)``, or
    ``([x, c], y)`` when the fit passes a y). The reconstruction is judged against that y, else ``--data``."""
    from ..fit_calls import argument, fit_calls
    from .packed import input_keys, pack, splitter
    from .updates import OwnStepSession

    arrays, names, y = feed
    calls = fit_calls(getattr(ctx, "source", None), getattr(ctx, "model_name", None))
    passes_y = bool(calls) and argument(calls[0], 1, "y") is not None
    given = ctx.target if ctx.target is not None and ctx.target is not ctx.data else None
    fit_y = y if y is not None and not isinstance(y, (list, tuple, dict)) else None
    target = fit_y if fit_y is not None else given if given is not None else ctx.data
    if target is None or np.asarray(target).dtype.kind not in "biuf" or len(np.asarray(target)) != len(arrays[0]):
        raise ProbeError(why + ": the reconstruction's target could not be read (name it with --data or --target).")
    struct = getattr(ctx.model, "_inputs_struct", None)
    keys = input_keys(ctx.model) if isinstance(struct, dict) else None
    sess = OwnStepSession(ctx.model, pack(arrays), np.asarray(target), seed=ctx.options.seed,
                          unpack=splitter(arrays, keys), pass_target=passes_y)
    sess.notes.append(f"The cell's fit feeds the model {len(arrays)} inputs ({', '.join(names)}): the probes hand its "
                      f"own {sess.own} each batch of them as fit does, and judge the reconstruction against "
                      f"{'the fit' + chr(39) + 's y' if fit_y is not None else '--target' if given is not None else '--data'}.")
    return _packed(sess, ctx, target)


def _packed(sess: ProbeSession, ctx: Any, target: Any) -> ProbeSession:
    """``sess``, marked as the packed session of ``ctx``'s model: never parked for reuse (its data is a packing)."""
    sess.user_model = ctx.model
    sess.given_target = np.asarray(target)
    sess.packed_for = ctx.data
    sess.reuse_key = None
    return sess


def _adopt_parked(ctx: Any) -> ProbeSession | None:
    """The parked session, re-pointed at ``ctx``'s model, when it matches; else None."""
    parked = _PARKED.get("session")
    if parked is None or getattr(ctx, "owned_model", False):
        return None
    target = None if ctx.target is None or ctx.target is ctx.data else ctx.target
    key = reuse_key(ctx.model, ctx.data, target, ctx.options.seed)
    if key is None or key != parked.reuse_key:
        return None
    _PARKED.pop("session", None)
    try:
        parked.adopt(ctx.model, ctx.data, target)
    except Exception:  # the weights don't fit after all: a fresh copy instead
        parked._free()
        return None
    parked.user_model = ctx.model
    return parked


def _session_fits(sess: ProbeSession, ctx: Any) -> bool:
    packed = getattr(sess, "packed_for", None)
    if packed is not None:  # a packed feed (probes/packed.py): its arrays are the cell's, not ctx.data
        return getattr(sess, "user_model", None) is ctx.model and packed is ctx.data
    if getattr(sess, "user_model", sess.source_model) is not ctx.model or sess.x_all is not ctx.data:
        return False
    same = ctx.target is None or ctx.target is ctx.data
    if getattr(sess, "heads", None) is not None:  # its target was joined from the heads' own: match what it was given
        given = getattr(sess, "given_target", None)
        return given is None if same else given is ctx.target
    return sess.same_target if same else (not sess.same_target and sess.y_all is ctx.target)


def prepared_session(ctx: Any) -> ProbeSession:
    """``session_for`` with the data split of ``ctx.options`` ready."""
    sess = session_for(ctx)
    o = ctx.options
    sess.seed = int(o.seed)
    sess.lr = float(o.lr) if o.lr is not None else sess.configured_lr
    sess._set_lr(sess.lr)
    sess.prepare(subset=o.subset, batch_size=probe_batch_size(ctx), seed=o.seed)
    return sess


def probe_batch_size(ctx: Any) -> int | None:
    """The probes' batch size: ``--batch-size`` when given, else the cell's ``fit(batch_size=...)`` when it is below
    the default, else None (the default).

    A learning rate that is stable at 32 samples a step can overshoot at 8 (each step follows a noisier gradient),
    so the probes train at the smaller batch the cell's fit uses. A larger one keeps the default: its steps are
    steadier than the probe's, and the probe's cost stays that of a short fit.
    """
    o = ctx.options
    if o.batch_size is not None:
        return int(o.batch_size)
    given = fit_batch_size(getattr(ctx, "source", None), getattr(ctx, "model_name", None), getattr(ctx, "namespace", None))
    return given if given is not None and given < DEFAULT_BATCH else None
